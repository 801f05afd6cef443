import { describe, expect, it } from 'vitest';
import type { Params } from './safety.ts';
import type { Measurement, OptimizationLoopSpecDefaulted } from './schema.ts';
import { MAX_INCONCLUSIVE, MAX_TRIALS_IN_STATUS, step, valuesOnDelete } from './state.ts';
import type { Observed, Status, StepResult } from './state.ts';
import { constraintResults } from './verdict.ts';

const SIZE = 'spec.batching.maxBatchSize';
const DELAY = 'spec.batching.maxDelayMs';

function specOf(over: Partial<OptimizationLoopSpecDefaulted> = {}): OptimizationLoopSpecDefaulted {
  return {
    target: { kind: 'InferenceService', name: 'fraud' },
    parameters: [
      { path: SIZE, min: 1, max: 64, step: 1 },
      { path: DELAY, values: [0, 1, 2, 5, 10, 20] },
    ],
    objective: { query: 'throughput', goal: 'Maximize' },
    constraints: [{ name: 'p95', query: 'p95', operator: 'LessThan', threshold: 100 }],
    minSamples: { query: 'requests', minimum: 100 },
    algorithm: 'HillClimb',
    initialDelay: '1m',
    evaluationWindow: '5m',
    minImprovementPercent: 2,
    maxTrials: 30,
    maxFailedTrials: 3,
    safety: { maxStepPercent: 25, maxChangesPerHour: 60 },
    mode: 'Apply',
    onStop: 'Restore',
    suspend: false,
    ...over,
  };
}

// A service whose throughput and p95 latency are known functions of the batching:
// throughput grows with the batch size and saturates; latency grows with size and delay.
// The optimum under p95 < 100 is found by brute force below.
const throughput = (v: Params) => 1000 * (1 - Math.exp(-v[SIZE]! / 16)) + 20 * Math.min(v[DELAY]!, 5);
const p95 = (v: Params) => 20 + 1.5 * v[SIZE]! + 2 * v[DELAY]!;

/** The world: a target that takes what is applied, and metrics that answer to its values. */
class World {
  target: Params;
  now = new Date('2026-12-07T10:00:00Z');
  status: Status = {};
  results: StepResult[] = [];
  writes: Params[] = [];
  noData = false;
  canary = false;
  /** Field managers that took a tuned field from the loop (the controller reads managedFields). */
  changedBy: string[] = [];
  readonly spec: OptimizationLoopSpecDefaulted;
  constructor(spec: OptimizationLoopSpecDefaulted, start: Params = { [SIZE]: 8, [DELAY]: 0 }) {
    this.spec = spec;
    this.target = { ...start };
  }
  measure(values: Params): Measurement {
    if (this.noData)
      return { objective: Number.NaN, samples: 0, constraints: constraintResults(this.spec, {}) };
    return {
      objective: throughput(values),
      samples: 5000,
      constraints: constraintResults(this.spec, { p95: p95(values) }),
    };
  }
  observed(measurement?: Measurement): Observed {
    return {
      now: this.now,
      target: { ...this.target },
      live: true,
      canary: this.canary,
      seed: 42,
      ...(this.changedBy.length ? { changedBy: this.changedBy } : {}),
      ...(measurement ? { measurement } : {}),
    };
  }
  /** One reconcile: step, measure when asked (the controller's second call), apply, advance the clock. */
  reconcile(): StepResult {
    let r = step(this.spec, this.status, this.observed());
    if (r.measure) r = step(this.spec, this.status, this.observed(this.measure(this.target)));
    if (r.apply) {
      this.writes.push(r.apply);
      this.target = { ...this.target, ...r.apply };
    }
    this.status = r.status;
    this.results.push(r);
    this.now = new Date(this.now.getTime() + (r.requeueAfterMs ?? 60_000));
    return r;
  }
  run(n: number): this {
    for (let i = 0; i < n; i++) this.reconcile();
    return this;
  }
  until(pred: (w: World) => boolean, max = 500): this {
    for (let i = 0; i < max && !pred(this); i++) this.reconcile();
    expect(pred(this), 'condition not reached').toBe(true);
    return this;
  }
  condition(type: string) {
    return this.status.conditions?.find((c) => c.type === type);
  }
}

describe('trial state machine', () => {
  it('measures the baseline, then walks a candidate through Applying → WarmingUp → Measuring → Confirming → Adopted', () => {
    const w = new World(specOf());
    const phases: string[] = [];
    w.until((x) => {
      const p = x.status.trial ? `${x.status.trial.purpose}:${x.status.trial.phase}` : 'none';
      if (phases.at(-1) !== p) phases.push(p);
      return (x.status.trials?.length ?? 0) >= 1;
    });
    expect(phases).toEqual([
      'none',
      'Baseline:Applying',
      'Baseline:WarmingUp',
      'Baseline:Measuring',
      'Candidate:Applying',
      'Candidate:WarmingUp',
      'Candidate:Measuring',
      'Candidate:Confirming',
      'none',
    ]);
    const [first] = w.status.trials!;
    expect(w.status.baseline?.params).toEqual({ [SIZE]: 8, [DELAY]: 0 });
    expect(w.status.baseline?.measurement?.objective).toBeCloseTo(throughput({ [SIZE]: 8, [DELAY]: 0 }));
    expect(first?.verdict).toBe('Adopted');
    expect(first?.reason).toMatch(/confirmed by a second window/);
    expect(w.status.lastKnownGood?.params).toEqual(first?.params);
    expect(w.status.best?.trial).toBe(first?.id);
    expect(w.status.phase).toBe('Running');
    // the first write is the candidate itself: measuring the baseline changes nothing
    expect(w.writes[0]).toEqual(first?.params);
  });

  it('reaches within 10% of the known optimum under the latency constraint within maxTrials (HillClimb and Bayesian)', () => {
    let optimum = 0;
    for (let size = 1; size <= 64; size++) {
      for (const delay of [0, 1, 2, 5, 10, 20]) {
        const v = { [SIZE]: size, [DELAY]: delay };
        if (p95(v) < 100) optimum = Math.max(optimum, throughput(v));
      }
    }
    expect(optimum).toBeCloseTo(throughput({ [SIZE]: 46, [DELAY]: 5 })); // the known optimum
    for (const algorithm of ['HillClimb', 'Bayesian'] as const) {
      const w = new World(specOf({ algorithm, maxTrials: 20, maxFailedTrials: 20 }));
      w.until((x) => x.status.phase === 'Converged', 2000);
      expect(w.status.best?.objective, algorithm).toBeGreaterThanOrEqual(0.9 * optimum);
      expect(p95(w.target), algorithm).toBeLessThan(100); // ends on values that hold the constraint
      expect(w.target).toEqual(w.status.lastKnownGood?.params);
    }
  });

  it('rolls a violating candidate back to the last known good values in the same step and counts a failed trial', () => {
    const w = new World(
      specOf({ safety: { maxStepPercent: 100, maxChangesPerHour: 60 }, algorithm: 'Random' }),
      {
        [SIZE]: 40,
        [DELAY]: 5,
      },
    );
    w.until((x) => (x.status.failedTrials ?? 0) >= 1, 2000);
    const last = w.results.at(-1)!;
    const violated = w.status.trials!.find((t) => t.verdict === 'Violated')!;
    expect(violated.reason).toMatch(/^constraint p95 broken: [0-9.]+ is not < 100$/);
    expect(last.apply).toEqual(w.status.lastKnownGood?.params); // the rollback, written by this very step
    expect(w.target).toEqual(w.status.lastKnownGood?.params);
    expect(w.condition('ConstraintViolated')).toMatchObject({ status: 'True', reason: 'TrialViolated' });
    expect(last.events.map((e) => e.reason)).toContain('TrialViolated');
    // the rollback happened one evaluation window after the violating values went live, not a trial later
    const wentLive = Date.parse(violated.startTime!);
    expect(Date.parse(violated.completionTime!) - wentLive).toBeLessThanOrEqual(
      60_000 + 5 * 60_000 + 2 * 10_000,
    );
  });

  it('stops with a condition after maxFailedTrials and keeps the last known good values', () => {
    // Every candidate breaks the constraint: only the baseline holds.
    const spec = specOf({ maxFailedTrials: 2, algorithm: 'Random' });
    const w = new World(spec);
    w.measure = (values: Params) => ({
      objective: throughput(values),
      samples: 5000,
      constraints: constraintResults(spec, { p95: values[SIZE] === 8 && values[DELAY] === 0 ? 50 : 500 }),
    });
    w.until((x) => x.status.phase === 'Stopped', 1000);
    expect(w.condition('Stopped')).toMatchObject({ status: 'True', reason: 'MaxFailedTrials' });
    expect(w.status.failedTrials).toBe(2);
    expect(w.target).toEqual({ [SIZE]: 8, [DELAY]: 0 });
    const writes = w.writes.length;
    w.run(20);
    expect(w.writes.length).toBe(writes); // no more trials
    expect(w.status.trial).toBeUndefined();
  });

  it('holds on no data: neither adopts nor rolls back, measures again, and abandons after MAX_INCONCLUSIVE windows', () => {
    const w = new World(specOf());
    w.until((x) => x.status.trial?.purpose === 'Candidate' && x.status.trial.phase === 'Measuring');
    const candidate = { ...w.target };
    w.noData = true;
    const before = w.writes.length;
    w.until((x) => (x.status.trial?.inconclusive ?? 0) >= 1);
    expect(w.condition('Holding')).toMatchObject({ status: 'True', reason: 'Inconclusive' });
    expect(w.condition('Holding')?.message).toMatch(
      /^0 samples in the window, fewer than minSamples.minimum \(100\); measuring again$/,
    );
    expect(w.target).toEqual(candidate); // held: the candidate stays
    expect(w.writes.length).toBe(before);
    w.until((x) => x.status.trials?.[0]?.verdict === 'Inconclusive');
    expect(w.status.trials![0]!.reason).toContain(`(${MAX_INCONCLUSIVE} windows in a row)`);
    expect(w.target).toEqual(w.status.lastKnownGood?.params); // returned to the known good values
    expect(w.status.failedTrials ?? 0).toBe(0);
    expect(w.status.lastKnownGood?.measurement).toBeUndefined(); // re-measured under today's load
    w.noData = false;
    w.until((x) => x.status.trial?.purpose === 'Baseline');
  });

  it('rejects a candidate that does not beat the baseline by minImprovementPercent and returns to the baseline', () => {
    const w = new World(specOf({ minImprovementPercent: 50 }));
    w.until((x) => (x.status.trials?.length ?? 0) >= 1);
    expect(w.status.trials![0]).toMatchObject({ verdict: 'Rejected' });
    expect(w.status.trials![0]!.reason).toMatch(/less than the 50% required/);
    expect(w.target).toEqual({ [SIZE]: 8, [DELAY]: 0 });
  });

  it('re-measures a promising candidate and rejects it when the second window does not confirm', () => {
    const w = new World(specOf());
    w.until((x) => x.status.trial?.phase === 'Confirming');
    const measure = w.measure.bind(w);
    w.measure = (values) => ({
      ...measure(values),
      objective: w.status.lastKnownGood!.measurement!.objective!,
    });
    w.until((x) => (x.status.trials?.length ?? 0) >= 1);
    expect(w.status.trials![0]).toMatchObject({ verdict: 'Rejected' });
    expect(w.status.trials![0]!.reason).toMatch(/^not confirmed: /);
  });

  it('keeps a bounded trial list, newest first', () => {
    const w = new World(
      specOf({ algorithm: 'Random', maxTrials: 25, maxFailedTrials: 25, minImprovementPercent: 100 }),
    );
    w.until((x) => x.status.phase === 'Converged', 3000);
    expect(w.status.trialsCompleted).toBe(25);
    expect(w.status.trials).toHaveLength(MAX_TRIALS_IN_STATUS);
    expect(w.status.trials!.map((t) => t.id)).toEqual(Array.from({ length: 20 }, (_, i) => 25 - i));
    expect(w.condition('Converged')).toMatchObject({ status: 'True', reason: 'MaxTrials' });
  });

  it('is a pure function: the same status and observation give the same result', () => {
    const w = new World(specOf({ algorithm: 'Bayesian' }));
    w.until((x) => (x.status.trials?.length ?? 0) >= 3);
    const obs = w.observed();
    expect(step(w.spec, w.status, obs)).toEqual(step(w.spec, w.status, obs));
  });
});

describe('safety in the loop', () => {
  it('holds a new trial when the change budget is spent, and starts it when the hour has passed', () => {
    const w = new World(specOf({ safety: { maxStepPercent: 25, maxChangesPerHour: 2 } }));
    w.until((x) => x.condition('Holding')?.reason === 'ChangeBudgetExhausted');
    expect(w.status.trial).toBeUndefined();
    expect(w.status.changes).toHaveLength(2);
    const held = w.condition('Holding')!.message;
    expect(held).toMatch(/2 changes in the last hour, the budget is 2 \(maxChangesPerHour\)/);
    w.until((x) => x.status.trial?.purpose === 'Candidate');
    expect(w.status.changes?.length).toBeLessThanOrEqual(2);
  });

  it('starts no trial outside the windows', () => {
    const w = new World(
      specOf({
        safety: {
          maxStepPercent: 25,
          maxChangesPerHour: 60,
          windows: [{ schedule: '0 22 * * *', duration: '1h' }],
        },
      }),
    );
    w.until((x) => x.condition('Holding')?.reason === 'OutsideWindow');
    expect(w.writes).toEqual([]);
    // requeued for when the window opens, not polled
    expect(w.now.toISOString()).toBe('2026-12-07T22:00:00.000Z');
    w.until((x) => x.status.trial?.purpose === 'Candidate');
    expect(w.now.getUTCHours()).toBe(22);
  });

  it('changes nothing while an InferenceService canary runs and measures again after it', () => {
    const w = new World(specOf());
    w.until((x) => x.status.trial?.purpose === 'Candidate' && x.status.trial.phase === 'Measuring');
    w.canary = true;
    const writes = w.writes.length;
    w.run(5);
    expect(w.condition('Holding')).toMatchObject({ status: 'True', reason: 'CanaryInProgress' });
    expect(w.status.trials ?? []).toEqual([]); // nothing judged on disturbed windows
    expect(w.writes.length).toBe(writes);
    w.canary = false;
    w.until((x) => (x.status.trials?.length ?? 0) >= 1);
  });

  it('Apply on an InferenceService writes nothing while its canary runs, then tunes', () => {
    const w = new World(specOf());
    w.canary = true;
    w.run(20);
    expect(w.writes).toEqual([]);
    expect(w.condition('Holding')).toMatchObject({ status: 'True', reason: 'CanaryInProgress' });
    w.canary = false;
    w.until((x) => x.writes.length > 0);
  });

  it('stops instead of fighting when someone else changes the values it wrote', () => {
    const w = new World(specOf());
    w.until((x) => x.status.trial?.purpose === 'Candidate' && x.status.trial.phase === 'Measuring');
    w.target = { [SIZE]: 4, [DELAY]: 0 };
    const r = w.reconcile();
    expect(w.condition('Stopped')).toMatchObject({ status: 'True', reason: 'ChangedExternally' });
    expect(r.apply).toBeUndefined();
    expect(r.events[0]).toMatchObject({ type: 'Warning', reason: 'ChangedExternally' });
    w.run(5);
    expect(w.target).toEqual({ [SIZE]: 4, [DELAY]: 0 });
  });

  it('stops when another manager took a field even with the same value, and restores nothing on delete', () => {
    const w = new World(specOf());
    w.until((x) => x.status.trial?.purpose === 'Candidate' && x.status.trial.phase === 'Measuring');
    const held = { ...w.target };
    w.changedBy = ['kubectl'];
    const r = w.reconcile();
    expect(w.condition('Stopped')).toMatchObject({ status: 'True', reason: 'ChangedExternally' });
    expect(w.condition('Stopped')?.message).toMatch(/^someone else \(kubectl\) changed/);
    expect(r.apply).toBeUndefined();
    w.run(5);
    expect(w.target).toEqual(held);
    expect(valuesOnDelete(w.spec, w.status)).toBeUndefined();
  });

  it('on suspend restores the baseline (onStop Restore) and resumes; onStop Keep leaves the values', () => {
    const w = new World(specOf());
    w.until((x) => (x.status.trials?.length ?? 0) >= 2);
    expect(w.target).not.toEqual({ [SIZE]: 8, [DELAY]: 0 });
    w.spec.suspend = true;
    w.reconcile();
    expect(w.target).toEqual({ [SIZE]: 8, [DELAY]: 0 });
    expect(w.status.phase).toBe('Stopped');
    expect(w.condition('Stopped')).toMatchObject({ reason: 'Suspended' });
    w.spec.suspend = false;
    w.until((x) => x.status.trial?.purpose === 'Baseline');
    expect(w.condition('Stopped')).toMatchObject({ status: 'False' });

    const keep = new World(specOf({ onStop: 'Keep' }));
    keep.until((x) => (x.status.trials?.length ?? 0) >= 2);
    const kept = { ...keep.target };
    keep.spec.suspend = true;
    keep.run(3);
    expect(keep.target).toEqual(kept);
    expect(valuesOnDelete(keep.spec, keep.status)).toBeUndefined();
    expect(valuesOnDelete(w.spec, w.status)).toEqual({ [SIZE]: 8, [DELAY]: 0 });
  });
});

describe('Recommend mode', () => {
  it('never writes to the target, recommends the next candidate, and measures it once someone applies it', () => {
    const w = new World(specOf({ mode: 'Recommend' }));
    w.until((x) => x.status.trial?.purpose === 'Candidate');
    expect(w.status.recommendation?.params).toEqual(w.status.trial?.params);
    expect(w.status.recommendation?.reason).toMatch(/^trial 1: /);
    w.run(10);
    expect(w.status.trial?.phase).toBe('Applying'); // waits for someone to apply it
    // Git applies the recommendation
    w.target = { ...w.status.recommendation!.params };
    w.until((x) => (x.status.trials?.length ?? 0) >= 1);
    expect(w.status.trials![0]!.verdict).toBe('Adopted');
    // From now on Git applies every recommendation (the next candidate, or a return to the known good values).
    for (let i = 0; i < 400 && (w.status.trialsCompleted ?? 0) < 5; i++) {
      if (w.status.recommendation) w.target = { ...w.status.recommendation.params };
      w.reconcile();
    }
    expect(w.status.trialsCompleted).toBe(5);
    expect(w.writes).toEqual([]);
    expect(w.results.every((r) => r.apply === undefined)).toBe(true);
  });

  it('takes values applied before anything was measured as the new baseline', () => {
    const w = new World(specOf({ mode: 'Recommend' }));
    w.until((x) => x.status.trial?.purpose === 'Baseline' && x.status.trial.phase === 'Measuring');
    w.target = { [SIZE]: 16, [DELAY]: 0 };
    w.until((x) => !!x.status.lastKnownGood?.measurement);
    expect(w.status.baseline?.params).toEqual({ [SIZE]: 16, [DELAY]: 0 });
    expect(w.status.trials ?? []).toEqual([]);
    expect(w.results.flatMap((r) => r.events.map((e) => e.reason))).toContain('TrialAbandoned');
    expect(w.writes).toEqual([]);
  });
});
