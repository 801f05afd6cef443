import { describe, expect, it } from 'vitest';
import { backoffSeconds, maxAttempts, nextAttemptAt } from './retry.ts';

describe('retry schedule', () => {
  it('gives one attempt without retry and limit+1 with it', () => {
    expect(maxAttempts({})).toBe(1);
    expect(maxAttempts({ retry: { limit: 3 } })).toBe(4);
  });

  it('waits durationSeconds × factor^n, capped at maxDurationSeconds', () => {
    const step = {
      retry: { limit: 5, backoff: { durationSeconds: 10, factor: 3, maxDurationSeconds: 100 } },
    };
    expect([1, 2, 3, 4, 5].map((n) => backoffSeconds(step, n))).toEqual([10, 30, 90, 100, 100]);
  });

  it('uses the schema defaults (10s, ×2, 600s) when backoff is omitted', () => {
    const step = { retry: { limit: 10 } };
    expect([1, 2, 3, 6, 7, 8].map((n) => backoffSeconds(step, n))).toEqual([10, 20, 40, 320, 600, 600]);
  });

  it('rounds fractional waits up to whole seconds', () => {
    const step = {
      retry: { limit: 2, backoff: { durationSeconds: 1, factor: 1.5, maxDurationSeconds: 60 } },
    };
    expect(backoffSeconds(step, 2)).toBe(2);
  });

  it('dates the next attempt from the failure', () => {
    const at = nextAttemptAt(
      { retry: { limit: 1, backoff: { durationSeconds: 5 } } },
      1,
      new Date('2026-01-01T00:00:00Z'),
    );
    expect(at.toISOString()).toBe('2026-01-01T00:00:05.000Z');
  });
});
