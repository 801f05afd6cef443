// The OptimizationLoop's real state machine (controllers/optimizationloop/
// state.ts `step`, its algorithms, safety validator and verdicts) driving a
// live target: a reconcile steps, measures the window step asks for and steps
// again, applies what step returns and keeps the full trial history, as
// controller.ts does. Only the clock is simulated (it jumps to the requeue,
// so initialDelay, evaluationWindow and the change budget cost no wall time)
// and the measurement comes from the target (bench/tune.ts: the load
// generator against the runtime) instead of Prometheus. The pure helpers
// here turn the runtime's /metrics and a load window into what the loop reads.
import type { Params } from '../controllers/optimizationloop/safety.ts';
import type {
  Algorithm,
  Measurement,
  OptimizationLoopSpecDefaulted,
  TrialRecord,
} from '../controllers/optimizationloop/schema.ts';
import type { Status } from '../controllers/optimizationloop/state.ts';
import { step } from '../controllers/optimizationloop/state.ts';
import { validateOptimizationLoop } from '../controllers/optimizationloop/validate.ts';
import { constraintResults } from '../controllers/optimizationloop/verdict.ts';
import { BATCHING_MAX_BATCH_SIZE, BATCHING_MAX_DELAY_MS } from '../runtime/metrics.ts';

export const SIZE = 'spec.batching.maxBatchSize';
export const DELAY = 'spec.batching.maxDelayMs';
/** The constraint's name in the spec and in each measurement. */
export const P95 = 'p95';

export type Batching = { maxBatchSize: number; maxDelayMs: number };

/** The loop's values (InferenceService paths) as the runtime's batching, and back. */
export const batchingOf = (v: Params): Batching => ({ maxBatchSize: v[SIZE]!, maxDelayMs: v[DELAY]! });
export const paramsOf = (b: Batching): Params => ({ [SIZE]: b.maxBatchSize, [DELAY]: b.maxDelayMs });

/** What one load-generator window (bench/load-window.ts) reports that the loop uses. */
export type LoadWindow = { requests: number; errors: number; seconds: number; p95Ms: number };

export type LiveOptions = {
  algorithm: Algorithm;
  seed: number;
  maxTrials: number;
  /** The p95 latency (ms) a trial must stay at or under. */
  p95LimitMs: number;
  /** The search space: maxBatchSize from 1 to this; maxDelayMs from the list. */
  maxBatchSizeMax: number;
  delaysMs: readonly number[];
};

/**
 * The OptimizationLoop spec the bench runs: throughput up, p95 ≤ the limit,
 * at least 100 answered requests per window; the schema's defaults for the
 * noise guard (minImprovementPercent 2, a confirming second measurement) and
 * maxStepPercent (25); the change budget at its maximum, since the simulated
 * clock would only stretch the run's simulated hours.
 */
export function liveSpec(o: LiveOptions): OptimizationLoopSpecDefaulted {
  return {
    target: { kind: 'InferenceService', name: 'bench' },
    parameters: [
      { path: SIZE, min: 1, max: o.maxBatchSizeMax, step: 1 },
      { path: DELAY, values: [...o.delaysMs] },
    ],
    objective: { query: 'throughput', goal: 'Maximize' },
    constraints: [{ name: P95, query: 'p95', operator: 'LessThanOrEqual', threshold: o.p95LimitMs }],
    minSamples: { query: 'requests', minimum: 100 },
    algorithm: o.algorithm,
    seed: o.seed,
    initialDelay: '1m',
    evaluationWindow: '5m',
    minImprovementPercent: 2,
    maxTrials: o.maxTrials,
    maxFailedTrials: 5,
    safety: { maxStepPercent: 25, maxChangesPerHour: 60 },
    mode: 'Apply',
    onStop: 'Restore',
    suspend: false,
  };
}

/**
 * A window as the loop's measurement: the objective is answered requests per
 * second (errors are not throughput), the samples are the answered requests,
 * and the p95 constraint its latency. An empty window has no objective and no
 * p95 (Inconclusive: the loop holds).
 */
export function measurementOf(spec: OptimizationLoopSpecDefaulted, w: LoadWindow, time: Date): Measurement {
  const ok = Math.max(0, w.requests - w.errors);
  const empty = ok === 0 || !(w.seconds > 0);
  return {
    ...(empty ? {} : { objective: ok / w.seconds }),
    samples: ok,
    constraints: constraintResults(spec, { [P95]: empty ? undefined : w.p95Ms }),
    time: time.toISOString(),
  };
}

/** The batching the runtime reports on /metrics (runtime/reload.ts keeps the gauges current); undefined without both. */
export function batchingFromMetrics(text: string): Batching | undefined {
  const value = (name: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
    const v = line === undefined ? NaN : Number(line.trim().split(/\s+/).pop());
    return Number.isFinite(v) ? v : undefined;
  };
  const maxBatchSize = value(BATCHING_MAX_BATCH_SIZE);
  const maxDelayMs = value(BATCHING_MAX_DELAY_MS);
  return maxBatchSize === undefined || maxDelayMs === undefined ? undefined : { maxBatchSize, maxDelayMs };
}

/** The live target: set values and wait until they are live; measure a window at the current values. */
export type LiveTarget = {
  set(values: Params): Promise<void>;
  measure(values: Params): Promise<LoadWindow>;
};

export type MeasuredWindow = { params: Params; window: LoadWindow; verdict?: string };

export type LiveRun = {
  /** Why the run ended: the loop's phase (Converged, Stopped), or Budget (wall time or reconciles). */
  end: string;
  trials: number;
  failedTrials: number;
  /** Every judged trial, oldest first. */
  history: TrialRecord[];
  /** Every window measured, in order (baselines, candidates and confirmations). */
  windows: MeasuredWindow[];
  /** Writes of values to the target (changes, rollbacks, the restore). */
  writes: number;
  /** The values the loop keeps (last known good), its measurement of them, and the baseline it started from. */
  kept: Params;
  keptObjective?: number;
  baselineObjective?: number;
  /** Simulated hours the loop's clock advanced (what the same trials would take with the spec's windows). */
  simulatedHours: number;
};

/**
 * Runs the loop from `start` (already on the target) until it converges or
 * stops, `deadline()` says the wall-time budget is spent, or `maxReconciles`
 * pass. `onWindow` sees each measured window (for progress lines).
 */
export async function runLive(
  spec: OptimizationLoopSpecDefaulted,
  start: Params,
  target: LiveTarget,
  opts: { deadline?: () => boolean; onWindow?: (w: MeasuredWindow) => void; maxReconciles?: number } = {},
): Promise<LiveRun> {
  const invalid = validateOptimizationLoop(spec);
  if (invalid.length > 0)
    throw new Error(`the bench's OptimizationLoop spec is invalid: ${JSON.stringify(invalid)}`);
  const t0 = Date.parse('2026-12-07T00:00:00Z');
  let now = t0;
  let values: Params = { ...start };
  let status: Status = {};
  const history: TrialRecord[] = [];
  const windows: MeasuredWindow[] = [];
  let writes = 0;
  let end = 'Budget';
  for (let i = 0; i < (opts.maxReconciles ?? 10_000); i++) {
    if (opts.deadline?.()) break;
    const observed = {
      now: new Date(now),
      target: { ...values },
      live: true, // set() returns once the runtime reports the values
      canary: false,
      seed: spec.seed ?? 0,
      ...(history.length > 0 ? { history } : {}),
    };
    let r = step(spec, status, observed);
    if (r.measure) {
      const window = await target.measure(values);
      const measured: MeasuredWindow = { params: { ...values }, window };
      windows.push(measured);
      r = step(spec, status, { ...observed, measurement: measurementOf(spec, window, r.measure.end) });
      const judged = r.events.flatMap((e) => (e.trial ? [e.trial] : []));
      if (judged[0]) measured.verdict = judged[0].verdict;
      opts.onWindow?.(measured);
    }
    history.push(...r.events.flatMap((e) => (e.trial ? [e.trial] : [])));
    if (r.apply) {
      values = { ...values, ...r.apply };
      await target.set(values);
      writes++;
    }
    status = r.status;
    if (status.phase === 'Converged' || status.phase === 'Stopped') {
      end = status.phase;
      break;
    }
    now += r.requeueAfterMs ?? 60_000;
  }
  const lkg = status.lastKnownGood;
  return {
    end,
    trials: status.trialsCompleted ?? 0,
    failedTrials: status.failedTrials ?? 0,
    history,
    windows,
    writes,
    kept: { ...(lkg?.params ?? start) },
    ...(lkg?.objective !== undefined ? { keptObjective: lkg.objective } : {}),
    ...(status.baseline?.objective !== undefined ? { baselineObjective: status.baseline.objective } : {}),
    simulatedHours: (now - t0) / 3_600_000,
  };
}
