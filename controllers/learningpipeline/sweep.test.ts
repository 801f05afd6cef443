import { describe, expect, it } from 'vitest';
import type { LearningPipelineSweep } from './schema.ts';
import type { TrialObservation } from './sweep.ts';
import {
  finished,
  comparableReports,
  comparisonPoint,
  intermediateReports,
  logReadTruncated,
  medianStop,
  paramEnvValue,
  paramsAt,
  planSweep,
  plainDecimal,
  pointOfParams,
  sweepSpace,
  trialOutcome,
} from './sweep.ts';

const sweep = (over: Partial<LearningPipelineSweep> = {}): LearningPipelineSweep => ({
  parameters: [
    { name: 'learning_rate', double: { min: 0.0001, max: 0.1, logScale: true } },
    { name: 'max_depth', int: { min: 1, max: 10, step: 1, logScale: false } },
    { name: 'kernel', categorical: ['rbf', 'linear'] },
  ],
  objective: { metric: 'accuracy', goal: 'Maximize' },
  algorithm: 'Random',
  maxTrials: 6,
  parallelTrials: 2,
  maxFailedTrials: 1,
  ...over,
});

const ok = (index: number, accuracy: number, params = {}): TrialObservation => ({
  index,
  job: `j-t${index}`,
  params: { learning_rate: 0.01, max_depth: 3, kernel: 'rbf', ...params },
  state: 'Succeeded',
  metrics: { accuracy },
});
const failed = (index: number): TrialObservation => ({
  index,
  job: `j-t${index}`,
  params: { learning_rate: 0.01, max_depth: 3, kernel: 'rbf' },
  state: 'Failed',
  message: 'exit 1',
});
const active = (index: number): TrialObservation => ({
  index,
  job: `j-t${index}`,
  params: { learning_rate: 0.01, max_depth: 3, kernel: 'rbf' },
  state: 'Active',
});

describe('sweep space', () => {
  it('maps double (log), int and categorical parameters to grids and back', () => {
    const s = sweep();
    const space = sweepSpace(s);
    expect(space[0]![0]).toBeCloseTo(0.0001);
    expect(space[0]!.at(-1)).toBe(0.1);
    // log scale: the middle of the grid is the geometric mean
    expect(space[0]![50]).toBeCloseTo(Math.sqrt(0.0001 * 0.1), 6);
    expect(space[1]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(space[2]).toEqual([0, 1]);
    const params = paramsAt(s, space, [50, 3, 1]);
    expect(params).toEqual({ learning_rate: space[0]![50], max_depth: 4, kernel: 'linear' });
    expect(pointOfParams(s, space, params)).toEqual([50, 3, 1]);
  });

  it('keeps integers integral on a log scale and on a step lattice', () => {
    const space = sweepSpace(
      sweep({ parameters: [{ name: 'n', int: { min: 1, max: 1000, step: 3, logScale: true } }] }),
    );
    for (const v of space[0]!) {
      expect(Number.isInteger(v)).toBe(true);
      expect((v - 1) % 3).toBe(0);
    }
    expect(space[0]![0]).toBe(1);
  });

  it('bounds a very wide integer range to a grid', () => {
    const space = sweepSpace(sweep({ parameters: [{ name: 'n', int: { min: 0, max: 1e9 } }] }));
    expect(space[0]!.length).toBeLessThanOrEqual(101);
    expect(space[0]![0]).toBe(0);
  });

  it('formats values as plain decimals', () => {
    expect(plainDecimal(1e-7)).toBe('0.0000001');
    expect(plainDecimal(0.0031)).toBe('0.0031');
    expect(paramEnvValue(4)).toBe('4');
    expect(paramEnvValue('rbf')).toBe('rbf');
  });
});

describe('trialOutcome', () => {
  it('reads the objective, and fails a trial that did not report it', () => {
    const s = sweep();
    expect(trialOutcome(s, ok(0, 0.9))).toEqual({ phase: 'Succeeded', objective: 0.9 });
    expect(trialOutcome(s, { ...ok(0, 0.9), metrics: { loss: 1 } })).toMatchObject({
      phase: 'Failed',
      reason: expect.stringContaining('reported no objective accuracy'),
    });
    expect(trialOutcome(s, { ...active(1), state: 'Failed', stoppedEarly: true }).phase).toBe('EarlyStopped');
  });

  it('keeps the result of a trial that succeeded with its objective just as it was stopped early', () => {
    const s = sweep();
    expect(trialOutcome(s, { ...ok(0, 0.9), stoppedEarly: true })).toEqual({
      phase: 'Succeeded',
      objective: 0.9,
    });
    // succeeded without the objective while being stopped: stopped early, not a failure
    expect(trialOutcome(s, { ...ok(0, 0.9), metrics: {}, stoppedEarly: true }).phase).toBe('EarlyStopped');
  });
});

describe('planSweep', () => {
  it('starts parallelTrials distinct trials at first, with indexes 0..', () => {
    const plan = planSweep({ sweep: sweep(), step: 'train', trials: [], seed: 1 });
    expect(plan.phase).toBe('Running');
    expect(plan.start.map((s) => s.index)).toEqual([0, 1]);
    expect(plan.start[0]!.params).not.toEqual(plan.start[1]!.params);
    expect(plan.status).toMatchObject({ started: 2, running: 2 });
  });

  it('is deterministic: the same trials give the same proposals (a restart proposes nothing new)', () => {
    const input = { sweep: sweep(), step: 'train', trials: [ok(0, 0.5), active(1)], seed: 7 };
    expect(planSweep(input).start).toEqual(planSweep(input).start);
    expect(planSweep(input).start.map((s) => s.index)).toEqual([2]);
  });

  it('respects parallelTrials and maxTrials', () => {
    expect(planSweep({ sweep: sweep(), step: 't', trials: [active(0), active(1)], seed: 1 }).start).toEqual(
      [],
    );
    const five = [0, 1, 2, 3].map((i) => ok(i, i / 10));
    const plan = planSweep({ sweep: sweep(), step: 't', trials: [...five, active(4)], seed: 1 });
    expect(plan.start.map((s) => s.index)).toEqual([5]);
    const all = planSweep({ sweep: sweep(), step: 't', trials: [...five, ok(4, 0.1), active(5)], seed: 1 });
    expect(all.start).toEqual([]);
    expect(all.phase).toBe('Running');
  });

  it('succeeds with the best trial once the budget is spent, minimising when asked', () => {
    const trials = [ok(0, 0.5), ok(1, 0.9), failed(2), ok(3, 0.7), ok(4, 0.2), ok(5, 0.9)];
    const max = planSweep({ sweep: sweep(), step: 'train', trials, seed: 1 });
    expect(max.phase).toBe('Succeeded');
    // ties go to the earlier trial
    expect(max.status.best).toMatchObject({ index: 1, objective: 0.9, outputDir: 'trials/train-1' });
    expect(max.bestJob).toBe('j-t1');
    expect(max.status).toMatchObject({ started: 6, succeeded: 5, failed: 1, running: 0, earlyStopped: 0 });
    expect(max.message).toContain('best trial 1: accuracy 0.9');
    const min = planSweep({
      sweep: sweep({ objective: { metric: 'accuracy', goal: 'Minimize' } }),
      step: 'train',
      trials,
      seed: 1,
    });
    expect(min.status.best?.index).toBe(4);
  });

  it('fails when more than maxFailedTrials failed, stopping the running ones', () => {
    const plan = planSweep({ sweep: sweep(), step: 't', trials: [failed(0), failed(1), active(2)], seed: 1 });
    expect(plan.phase).toBe('Failed');
    expect(plan.stop).toEqual(['j-t2']);
    expect(plan.start).toEqual([]);
    expect(plan.message).toMatch(/2 trials failed, more than maxFailedTrials 1; trial 1: exit 1/);
    // exactly maxFailedTrials failed: it goes on
    expect(planSweep({ sweep: sweep(), step: 't', trials: [failed(0)], seed: 1 }).phase).toBe('Running');
  });

  it('fails when no trial reported the objective', () => {
    const s = sweep({ maxTrials: 1, parallelTrials: 1, maxFailedTrials: 1 });
    const plan = planSweep({ sweep: s, step: 't', trials: [failed(0)], seed: 1 });
    expect(plan.phase).toBe('Failed');
    expect(plan.message).toContain('none reported the objective accuracy');
  });

  it('ends when the search space is exhausted', () => {
    const s = sweep({
      parameters: [{ name: 'k', categorical: ['a', 'b'] }],
      maxTrials: 5,
      parallelTrials: 1,
    });
    const plan = planSweep({
      sweep: s,
      step: 't',
      trials: [ok(0, 0.1, { k: 'a' }), ok(1, 0.3, { k: 'b' })].map((t) => ({
        ...t,
        params: { k: t.params.k! },
      })),
      seed: 1,
    });
    expect(plan.phase).toBe('Succeeded');
    expect(plan.message).toContain('exhausted after 2 trials');
    expect(plan.status.best?.parameters).toEqual({ k: 'b' });
  });

  it('finds a good region of a known objective within the budget, for every algorithm', () => {
    // accuracy peaks at learning_rate 0.01, max_depth 6, kernel rbf
    const score = (p: Record<string, number | string>) =>
      1 -
      (Math.log10(Number(p.learning_rate)) + 2) ** 2 / 10 -
      (Number(p.max_depth) - 6) ** 2 / 100 -
      (p.kernel === 'rbf' ? 0 : 0.2);
    for (const algorithm of ['Random', 'HillClimb', 'Bayesian'] as const) {
      const s = sweep({ algorithm, maxTrials: 30, parallelTrials: 3, maxFailedTrials: 3 });
      const trials: TrialObservation[] = [];
      for (let round = 0; round < 40; round++) {
        const plan = planSweep({ sweep: s, step: 't', trials, seed: 3 });
        if (plan.phase !== 'Running') {
          expect(plan.phase).toBe('Succeeded');
          expect(plan.status.best!.objective, algorithm).toBeGreaterThan(0.85);
          break;
        }
        // the running ones finish, the new ones start
        for (const t of trials)
          if (t.state === 'Active')
            Object.assign(t, { state: 'Succeeded', metrics: { accuracy: score(t.params) } });
        for (const st of plan.start)
          trials.push({ index: st.index, job: `j${st.index}`, params: st.params, state: 'Active' });
      }
      expect(trials.length, algorithm).toBe(30);
    }
  });
});

describe('finished', () => {
  it('keeps the best and the latest trials of a long sweep', () => {
    const trials = Array.from({ length: 50 }, (_, i) => ({
      index: i,
      parameters: {},
      phase: 'Succeeded' as const,
      objective: i === 3 ? 10 : 0,
    }));
    const out = finished({
      trials,
      best: { index: 3, objective: 10, parameters: {}, outputDir: 'trials/t-3' },
      started: 50,
      running: 0,
      succeeded: 50,
      failed: 0,
      earlyStopped: 0,
    });
    expect(out.trials).toHaveLength(20);
    expect(out.trials![0]!.index).toBe(3);
    expect(out.trials!.at(-1)!.index).toBe(49);
    expect(out.started).toBe(50);
  });
});

describe('early stopping', () => {
  it('reads ymera-metrics lines in order and ignores the rest', () => {
    const log = [
      'epoch 1',
      'ymera-metrics {"accuracy":0.5,"loss":1}',
      'ymera-metrics {not json}',
      'ymera-metrics {"loss":0.8}',
      '  ymera-metrics {"accuracy":0.6}  ',
      'ymera-metrics {"accuracy":"high"}',
    ].join('\n');
    expect(intermediateReports(log, 'accuracy')).toEqual([
      { step: 1, value: 0.5, positional: true },
      { step: 2, value: 0.6, positional: true },
    ]);
  });

  it('keys a report by its own step (any finite number >= 0), else by its position', () => {
    const log = [
      'ymera-metrics {"accuracy":0.5,"step":100}',
      'ymera-metrics {"accuracy":0.6,"step":0}',
      'ymera-metrics {"accuracy":0.7,"step":2.5}',
      'ymera-metrics {"accuracy":0.8,"step":"4"}',
      'ymera-metrics {"accuracy":0.85,"step":-1}',
      'ymera-metrics {"accuracy":0.9,"step":300}',
    ].join('\n');
    // a log that gives steps is keyed by them: the reports without a valid one are left out
    expect(intermediateReports(log, 'accuracy')).toEqual([
      { step: 100, value: 0.5 },
      { step: 0, value: 0.6 },
      { step: 2.5, value: 0.7 },
      { step: 300, value: 0.9 },
    ]);
    // one without any step is keyed by position
    expect(
      intermediateReports('ymera-metrics {"accuracy":0.1}\nymera-metrics {"accuracy":0.2}', 'accuracy'),
    ).toEqual([
      { step: 1, value: 0.1, positional: true },
      { step: 2, value: 0.2, positional: true },
    ]);
  });

  it('never matches a position with a step: 0-based and fractional epochs are compared at the same epoch', () => {
    const rule = { minReports: 1, minTrials: 1, marginPercent: 0, goal: 'Maximize' as const };
    const epochs = (values: number[], from = 0, by = 1) =>
      values
        .map((v, i) => `ymera-metrics {"accuracy":${v},"epoch":${from + i * by},"step":${from + i * by}}`)
        .join('\n');
    // the others: 0.1 at epoch 0, 0.6 at epoch 1, 0.8 at epoch 2
    const peer = intermediateReports(epochs([0.1, 0.6, 0.8]), 'accuracy');
    // epoch 0 at 0.12 is better than the others' 0.1 there (it was compared with their epoch 1 before)
    expect(
      medianStop({ ...rule, own: intermediateReports(epochs([0.12]), 'accuracy'), succeeded: [peer] }),
    ).toBeUndefined();
    // half epochs: 0.62 at epoch 1.5 has no peer at 1.5, so nothing to compare (was: their epoch 3)
    const halves = intermediateReports(epochs([0.32, 0.52, 0.62], 0.5, 0.5), 'accuracy');
    expect(medianStop({ ...rule, own: halves, succeeded: [peer] })).toBeUndefined();
    // positions are not steps: a positional trial has no peer among trials that give steps
    expect(medianStop({ ...rule, own: [0.01, 0.01], succeeded: [peer] })).toBeUndefined();
    expect(
      medianStop({ ...rule, own: intermediateReports(epochs([0.1, 0.3]), 'accuracy'), succeeded: [peer] }),
    ).toMatch(/^report 1: 0.3 is worse than the median 0.6 of 1/);
  });

  it('a step reported several times is compared only once a later step came, with its last value', () => {
    const rule = { minReports: 1, minTrials: 1, marginPercent: 0, goal: 'Minimize' as const };
    // the others' loss at the end of epoch 1 is 1.0, of epoch 2 0.8
    const peer = [
      { step: 1, value: 1.5 },
      { step: 1, value: 1.0 },
      { step: 2, value: 0.8 },
    ];
    // mid epoch 1 (2.0, 1.6, 1.4): still in progress, not compared with the others' end of epoch 1
    const mid = [2.0, 1.6, 1.4].map((value) => ({ step: 1, value }));
    expect(medianStop({ ...rule, own: mid, succeeded: [peer] })).toBeUndefined();
    // epoch 2 started: epoch 1 is compared with its last value, 1.2 > 1.0
    expect(
      medianStop({
        ...rule,
        own: [...mid, { step: 1, value: 1.2 }, { step: 2, value: 1.3 }],
        succeeded: [peer],
      }),
    ).toMatch(/^report 1: 1.2 is worse than the median 1 of 1/);
    // minReports counts distinct steps up to the compared one
    expect(
      medianStop({ ...rule, minReports: 2, own: [...mid, { step: 2, value: 1.3 }], succeeded: [peer] }),
    ).toBeUndefined();
    expect(comparisonPoint([...mid, { step: 2, value: 1.3 }])).toEqual({
      step: 1,
      value: 1.4,
      positional: false,
      reported: 1,
    });
  });

  it('tells a log read that may have lost older lines', () => {
    const bounds = { tailLines: 500, limitBytes: 65536 };
    expect(logReadTruncated({ lines: 499, bytes: 65535 }, bounds)).toBe(false);
    expect(logReadTruncated({ lines: 500, bytes: 100 }, bounds)).toBe(true);
    expect(logReadTruncated({ lines: 10, bytes: 65536 }, bounds)).toBe(true);
    expect(logReadTruncated({ lines: 10, bytes: 1_000_000 }, bounds)).toBe(true);
  });

  it('drops positional reports of a cut read, keeps explicit steps', () => {
    const reports = intermediateReports(
      ['ymera-metrics {"accuracy":0.1}', 'ymera-metrics {"accuracy":0.2,"step":7}'].join('\n'),
      'accuracy',
    );
    expect(comparableReports(reports, false)).toEqual(reports);
    expect(comparableReports(reports, true)).toEqual([{ step: 7, value: 0.2 }]);
  });

  it('compares explicit steps with gaps (epochs) at the same step, not the same position', () => {
    const rule = { minReports: 2, minTrials: 3, marginPercent: 0, goal: 'Maximize' as const };
    // the peers' logs were read from their start; this trial's read lost its first report (step 100)
    const peers = [
      [100, 200, 300].map((step, i) => ({ step, value: [0.5, 0.6, 0.9][i]! })),
      [100, 200, 300].map((step, i) => ({ step, value: [0.5, 0.7, 0.8][i]! })),
      [100, 200, 300].map((step, i) => ({ step, value: [0.4, 0.65, 0.85][i]! })),
    ];
    const own = [
      { step: 200, value: 0.62 },
      { step: 300, value: 0.84 },
    ];
    // by position (report 2) it would be compared with 0.6/0.7/0.65 and pass; at step 300 the median is 0.85
    expect(medianStop({ ...rule, own, succeeded: peers })).toBe(
      'report 300: 0.84 is worse than the median 0.85 of 3 succeeded trial(s) by more than 0%',
    );
    expect(
      medianStop({
        ...rule,
        own: [
          { step: 200, value: 0.66 },
          { step: 300, value: 0.86 },
        ],
        succeeded: peers,
      }),
    ).toBeUndefined();
    // peers lacking the step do not count, and minTrials applies to those that have it
    const short = [peers[0]!, peers[1]!, peers[2]!.slice(0, 2)];
    expect(medianStop({ ...rule, own, succeeded: short })).toBeUndefined();
    expect(medianStop({ ...rule, minTrials: 2, own, succeeded: short })).toMatch(
      /^report 300: 0.84 is worse than the median 0\.85\d* of 2 succeeded trial\(s\)/,
    );
    // minReports counts this trial's reports, whatever their steps
    expect(medianStop({ ...rule, minReports: 3, own, succeeded: peers })).toBeUndefined();
  });

  it('never stops a trial on the positions of a cut log read', () => {
    // 600 positional reports, of which the read kept the newest 500 lines: position 1 is really report 101
    const cut = Array.from({ length: 500 }, (_, i) => `ymera-metrics {"accuracy":${(101 + i) / 1000}}`).join(
      '\n',
    );
    const read = { lines: 500, bytes: Buffer.byteLength(cut) };
    const bounds = { tailLines: 500, limitBytes: 65536 };
    const own = comparableReports(intermediateReports(cut, 'accuracy'), logReadTruncated(read, bounds));
    expect(own).toEqual([]);
    const peer = Array.from({ length: 500 }, (_, i) => ({
      step: i + 1,
      value: 0.9,
      positional: true as const,
    }));
    const rule = { minReports: 1, minTrials: 3, marginPercent: 0, goal: 'Maximize' as const };
    expect(medianStop({ ...rule, own, succeeded: [peer, peer, peer] })).toBeUndefined();
    // the same reports read whole would be compared (and stopped)
    expect(
      medianStop({ ...rule, own: intermediateReports(cut, 'accuracy'), succeeded: [peer, peer, peer] }),
    ).toMatch(/^report 500: 0.6 is worse than the median 0.9/);
  });

  it('in a mixed log, only the explicit steps count, whole or cut', () => {
    const log = [
      'ymera-metrics {"accuracy":0.3}',
      'ymera-metrics {"accuracy":0.4,"step":2}',
      'ymera-metrics {"accuracy":0.5}',
    ].join('\n');
    const rule = { minReports: 1, minTrials: 1, marginPercent: 0, goal: 'Maximize' as const };
    for (const truncated of [false, true]) {
      const own = comparableReports(intermediateReports(log, 'accuracy'), truncated);
      expect(own).toEqual([{ step: 2, value: 0.4 }]);
      // positions of the others never match a step
      expect(medianStop({ ...rule, own, succeeded: [[0.9, 0.9, 0.9]] })).toBeUndefined();
      expect(medianStop({ ...rule, own, succeeded: [[{ step: 2, value: 0.9 }]] })).toMatch(
        /^report 2: 0.4 is worse than the median 0.9 of 1/,
      );
    }
  });

  it('stops a trial worse than the median of the others at the same report, past the margin', () => {
    const others = [
      [0.5, 0.7, 0.8],
      [0.5, 0.6, 0.7],
      [0.4, 0.5],
    ];
    const rule = {
      minReports: 3,
      minTrials: 1,
      marginPercent: 10,
      goal: 'Maximize' as const,
      succeeded: others,
    };
    // median at report 3 of those that got there: (0.8 + 0.7) / 2 = 0.75; margin 0.075
    expect(medianStop({ ...rule, own: [0.1, 0.2, 0.6] })).toMatch(
      /report 3: 0.6 is worse than the median 0.75/,
    );
    expect(medianStop({ ...rule, own: [0.1, 0.2, 0.7] })).toBeUndefined();
    // too few reports yet
    expect(medianStop({ ...rule, own: [0.1, 0.1] })).toBeUndefined();
    // no other trial got that far
    expect(medianStop({ ...rule, own: [0.1, 0.1, 0.1, 0.1] })).toBeUndefined();
    // minimising: higher is worse
    expect(medianStop({ ...rule, goal: 'Minimize', own: [1, 1, 0.9] })).toMatch(/worse/);
    expect(medianStop({ ...rule, goal: 'Minimize', own: [1, 1, 0.7] })).toBeUndefined();
  });

  it('compares only with succeeded trials, and only once minTrials of them reported that far', () => {
    // parallelTrials 2, margin 0: the worse of the first two running trials is not stopped (no succeeded peer)
    const first = { minReports: 1, minTrials: 3, marginPercent: 0, goal: 'Maximize' as const };
    expect(medianStop({ ...first, own: [0.4], succeeded: [] })).toBeUndefined();
    // two succeeded trials are fewer than minTrials 3
    expect(medianStop({ ...first, own: [0.4], succeeded: [[0.9], [0.8]] })).toBeUndefined();
    // a succeeded trial that never reached the index does not count towards minTrials
    expect(
      medianStop({ ...first, own: [0.4, 0.4], succeeded: [[0.9, 0.9], [0.8, 0.8], [0.7]] }),
    ).toBeUndefined();
    expect(medianStop({ ...first, own: [0.4], succeeded: [[0.9], [0.8], [0.7]] })).toMatch(
      /report 1: 0.4 is worse than the median 0.8 of 3 succeeded trial\(s\)/,
    );
  });
});
