import { describe, expect, it } from 'vitest';
import { CHAOS_KILL_ENV, parseKillAfterWrites, writeCounter } from './chaos-hook.ts';

describe('chaos kill hook (test-only)', () => {
  it('is off without the variable', () => {
    expect(parseKillAfterWrites(undefined)).toBeUndefined();
    expect(parseKillAfterWrites('')).toBeUndefined();
  });

  it('reads a positive integer and rejects anything else naming the variable', () => {
    expect(parseKillAfterWrites('7')).toBe(7);
    for (const bad of ['0', '-1', '1.5', 'abc', '3x', '01'])
      expect(() => parseKillAfterWrites(bad)).toThrow(CHAOS_KILL_ENV);
  });

  it('fires exactly at the k-th reconcile write, not counting Lease renewals and Events', () => {
    const due = writeCounter(3);
    const fired = [
      'leases',
      'inferenceservices',
      'events',
      'deployments',
      'leases',
      'inferenceservices/status',
      'services',
    ].map((r) => due(r));
    expect(fired).toEqual([false, false, false, false, false, true, false]);
  });
});
