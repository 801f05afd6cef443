import { describe, expect, it } from 'vitest';
import type { Measurement, OptimizationLoopSpec } from './schema.ts';
import { checkMeasurement, constraintResults, improvementPercent, judge, sameLoad } from './verdict.ts';

const spec: Pick<
  OptimizationLoopSpec,
  'objective' | 'constraints' | 'minSamples' | 'load' | 'minImprovementPercent'
> = {
  objective: { query: 'throughput', goal: 'Maximize' },
  constraints: [
    { name: 'p95-latency', query: 'p95', operator: 'LessThan', threshold: 100 },
    { name: 'errors', query: 'errors', operator: 'LessThanOrEqual', threshold: 0.01 },
  ],
  minSamples: { query: 'requests', minimum: 1000 },
  load: { query: 'rps', tolerancePercent: 20 },
  minImprovementPercent: 5,
};

const measured = (
  objective: number | undefined,
  over: Partial<Measurement> & { p95?: number; errors?: number } = {},
): Measurement => {
  const { p95 = 50, errors = 0, ...rest } = over;
  return {
    objective,
    samples: 5000,
    load: 100,
    constraints: constraintResults(spec, { 'p95-latency': p95, errors }),
    ...rest,
  };
};
const baseline = measured(200);

describe('judge', () => {
  it('Promising when the objective beats the baseline by at least minImprovementPercent', () => {
    expect(judge(spec, measured(220), baseline)).toMatchObject({ kind: 'Promising', improvementPercent: 10 });
  });

  it('Rejected when better by less than minImprovementPercent, or worse', () => {
    const slight = judge(spec, measured(204), baseline);
    expect(slight).toMatchObject({ kind: 'Rejected', improvementPercent: 2 });
    expect(slight.reason).toBe('objective 204 vs baseline 200 (+2.0%), less than the 5% required');
    expect(judge(spec, measured(150), baseline).kind).toBe('Rejected');
  });

  it('Minimize: lower is better', () => {
    const minimize = { ...spec, objective: { query: 'cost', goal: 'Minimize' as const } };
    expect(judge(minimize, measured(180), baseline)).toMatchObject({
      kind: 'Promising',
      improvementPercent: 10,
    });
    expect(judge(minimize, measured(220), baseline).kind).toBe('Rejected');
  });

  it('Violated when a constraint with data is broken, naming it, even when the objective improved or has no data', () => {
    expect(judge(spec, measured(400, { p95: 130 }), baseline)).toEqual({
      kind: 'Violated',
      constraint: 'p95-latency',
      reason: 'constraint p95-latency broken: 130 is not < 100',
    });
    expect(judge(spec, measured(undefined, { errors: 0.05 }), baseline)).toMatchObject({
      kind: 'Violated',
      constraint: 'errors',
    });
    expect(judge(spec, measured(200, { errors: 0.01 }), baseline).kind).not.toBe('Violated'); // <= holds at the bound
  });

  it('Inconclusive without data, with NaN, below minSamples, or under a different load', () => {
    const cases: [Measurement, string][] = [
      [measured(undefined), 'no data for the objective (empty or NaN)'],
      [measured(Number.NaN), 'no data for the objective (empty or NaN)'],
      [
        measured(300, { samples: 10, p95: 500 }),
        '10 samples in the window, fewer than minSamples.minimum (1000)',
      ],
      [measured(300, { samples: Number.NaN }), 'no data for the sample count (minSamples.query)'],
      [
        { ...measured(300), constraints: constraintResults(spec, { errors: 0 }) },
        'no data for constraint p95-latency (empty or NaN)',
      ],
      [
        { ...measured(300), constraints: constraintResults(spec, { 'p95-latency': Number.NaN, errors: 0 }) },
        'no data for constraint p95-latency (empty or NaN)',
      ],
      [measured(300, { load: 150 }), "load 150 differs from the baseline's 100 by more than 20%"],
      [measured(300, { load: undefined }), 'no data for the load (load.query)'],
    ];
    for (const [m, reason] of cases)
      expect(judge(spec, m, baseline)).toEqual({ kind: 'Inconclusive', reason });
    expect(judge(spec, measured(300), measured(undefined)).kind).toBe('Inconclusive');
  });

  it('without minSamples, load or constraints only the objective counts', () => {
    const bare = { objective: spec.objective };
    expect(judge(bare, { objective: 210 }, { objective: 200 })).toMatchObject({ kind: 'Promising' }); // default 2%
    expect(checkMeasurement(bare, { objective: 1 })).toBeUndefined();
  });
});

describe('helpers', () => {
  it('improvementPercent around a zero reference', () => {
    expect(improvementPercent(1, 0, 'Maximize')).toBe(100);
    expect(improvementPercent(0, 0, 'Maximize')).toBe(0);
    expect(improvementPercent(-1, 0, 'Maximize')).toBe(-100);
    expect(improvementPercent(-90, -100, 'Maximize')).toBe(10);
  });

  it('sameLoad is relative to the reference', () => {
    expect(sameLoad(120, 100, 20)).toBe(true);
    expect(sameLoad(121, 100, 20)).toBe(false);
    expect(sameLoad(0, 0, 20)).toBe(true);
  });

  it('constraintResults leaves value and met out without data', () => {
    expect(constraintResults(spec, { 'p95-latency': Number.NaN, errors: 0.5 })).toEqual([
      { name: 'p95-latency' },
      { name: 'errors', value: 0.5, met: false },
    ]);
  });
});
