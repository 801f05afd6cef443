import { describe, expect, it } from 'vitest';
import { scoreShadow } from './shadow.ts';

const H = 24 * 3600;
const T0 = 1_800_000_000;
const h = (hours: number) => T0 + hours * 3600;

describe('scoreShadow', () => {
  it('counts a flag followed by its node failing within the horizon as a true positive', () => {
    const s = scoreShadow([{ node: 'a', at: h(30) }], [{ node: 'a', at: h(40) }], H, h(100), T0);
    expect(s).toEqual({
      truePositives: 1,
      falsePositives: 0,
      pending: 0,
      failures: 1,
      caught: 1,
      precision: 1,
      recall: 1,
    });
  });

  it('counts a flag as false once its horizon passed without a failure, and pending before', () => {
    const flags = [
      { node: 'a', at: h(30) },
      { node: 'b', at: h(90) },
    ];
    const s = scoreShadow(flags, [{ node: 'c', at: h(60) }], H, h(100), T0);
    expect(s).toMatchObject({ truePositives: 0, falsePositives: 1, pending: 1, precision: 0 });
    // c failed with no flag before it: a miss
    expect(s).toMatchObject({ failures: 1, caught: 0, recall: 0 });
  });

  it('does not credit a flag for a failure of another node, or one past the horizon', () => {
    const s = scoreShadow(
      [
        { node: 'a', at: h(30) },
        { node: 'b', at: h(30) },
      ],
      [
        { node: 'a', at: h(30 + 25) },
        { node: 'x', at: h(40) },
      ],
      H,
      h(100),
      T0,
    );
    expect(s).toMatchObject({ truePositives: 0, falsePositives: 2, failures: 2, caught: 0 });
  });

  it('leaves out failures before the plan watched a whole horizon, and reports no ratio without data', () => {
    const s = scoreShadow([], [{ node: 'a', at: h(10) }], H, h(20), T0);
    expect(s).toEqual({ truePositives: 0, falsePositives: 0, pending: 0, failures: 0, caught: 0 });
  });
});
