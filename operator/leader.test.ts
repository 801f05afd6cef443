import { describe, expect, it } from 'vitest';
import { microTime } from './leader.ts';

describe('microTime', () => {
  it('formats with the six fractional digits metav1.MicroTime requires', () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02T03:04:05.678000Z');
  });
});
