// Pure: the OptimizationLoop's real state machine (controllers/optimizationloop/
// state.ts `step`, with its algorithms, safety validator and verdicts) run
// against simulated services whose objective and constraint are known
// functions of the tuned values, measured with seeded multiplicative noise.
// A simulated reconcile does what controller.ts does: step, measure the window
// step asks for and step again, write what step returns (Apply mode), keep the
// full trial history (the ConfigMap) and pass it back; the clock jumps to the
// requeue. No cluster, no Prometheus: the figures are the loop's decisions.
import { prng } from '../controllers/optimizationloop/algorithms.ts';
import type { Params } from '../controllers/optimizationloop/safety.ts';
import type {
  Algorithm,
  Measurement,
  OptimizationLoopSpecDefaulted,
  TrialRecord,
} from '../controllers/optimizationloop/schema.ts';
import type { Status } from '../controllers/optimizationloop/state.ts';
import { step } from '../controllers/optimizationloop/state.ts';
import { valuesOf } from '../controllers/optimizationloop/algorithms.ts';
import { validateOptimizationLoop } from '../controllers/optimizationloop/validate.ts';
import { constraintResults, holds } from '../controllers/optimizationloop/verdict.ts';

/** A service: the tuned parameters, a start point, and the true objective and constraint. */
export type Service = {
  name: string;
  /** The target kind the parameters belong to (step does not read it; specs stay admissible). */
  kind: 'InferenceService' | 'Deployment';
  description: string;
  parameters: OptimizationLoopSpecDefaulted['parameters'];
  goal: 'Maximize' | 'Minimize';
  start: Params;
  objective: (v: Params) => number;
  constraint: { name: string; operator: 'LessThan' | 'LessThanOrEqual'; threshold: number };
  constraintValue: (v: Params) => number;
};

const SIZE = 'spec.batching.maxBatchSize';
const DELAY = 'spec.batching.maxDelayMs';
const REPLICAS = 'spec.replicas';
const CPU = 'spec.template.spec.containers[0].resources.limits.cpu';

export const SERVICES: readonly Service[] = [
  {
    name: 'batching',
    kind: 'InferenceService',
    description:
      'InferenceService batching: throughput saturates with maxBatchSize, p95 grows with size and delay (p95 < 100 ms)',
    parameters: [
      { path: SIZE, min: 1, max: 64, step: 1 },
      { path: DELAY, values: [0, 1, 2, 5, 10, 20] },
    ],
    goal: 'Maximize',
    start: { [SIZE]: 8, [DELAY]: 0 },
    objective: (v) => 1000 * (1 - Math.exp(-v[SIZE]! / 16)) + 20 * Math.min(v[DELAY]!, 5),
    constraint: { name: 'p95', operator: 'LessThan', threshold: 100 },
    constraintValue: (v) => 20 + 1.5 * v[SIZE]! + 2 * v[DELAY]!,
  },
  {
    name: 'replicas-cpu',
    kind: 'Deployment',
    description:
      'Deployment replicas × CPU limit: p95 falls with capacity, rises with CPU contention (cost ≤ 8 cores)',
    parameters: [
      { path: REPLICAS, min: 1, max: 12, step: 1 },
      { path: CPU, min: 0.25, max: 4, step: 0.25 },
    ],
    goal: 'Minimize',
    start: { [REPLICAS]: 2, [CPU]: 0.5 },
    objective: (v) => 30 + 400 / (v[REPLICAS]! * v[CPU]!) + 6 * v[CPU]! ** 2,
    constraint: { name: 'cost', operator: 'LessThanOrEqual', threshold: 8 },
    constraintValue: (v) => v[REPLICAS]! * v[CPU]!,
  },
];

/** The best feasible objective, by brute force over the grid. */
export function optimumOf(service: Service): { value: number; params: Params } {
  const better = (a: number, b: number) => (service.goal === 'Maximize' ? a > b : a < b);
  let best: { value: number; params: Params } | undefined;
  const walk = (d: number, at: Record<string, number>) => {
    if (d === service.parameters.length) {
      const { operator, threshold } = service.constraint;
      if (!holds(service.constraintValue(at), operator, threshold)) return;
      const value = service.objective(at);
      if (!best || better(value, best.value)) best = { value, params: { ...at } };
      return;
    }
    const p = service.parameters[d]!;
    for (const v of valuesOf(p)) walk(d + 1, { ...at, [p.path]: v });
  };
  walk(0, {});
  if (!best) throw new Error(`${service.name}: no feasible point`);
  return best;
}

/** Within `tolerance` (0.1 = 10%) of the optimum, for the service's goal. */
export function near(service: Service, value: number, optimum: number, tolerance = 0.1): boolean {
  return service.goal === 'Maximize'
    ? value >= optimum - tolerance * Math.abs(optimum)
    : value <= optimum + tolerance * Math.abs(optimum);
}

export type RunOptions = {
  algorithm: Algorithm;
  seed: number;
  /** Relative standard deviation of each measured value (0.03 = 3%). */
  noise: number;
  maxTrials: number;
};

export type RunResult = {
  algorithm: Algorithm;
  seed: number;
  /** Judged trials after which the kept (last known good) values were first within 10% of the optimum; null: never. */
  trialsToReach: number | null;
  /** Simulated hours until then (windows, warm-ups, change budget), null: never. */
  hoursToReach: number | null;
  trials: number;
  /** Trials whose values broke the constraint (verdict Violated). */
  violations: number;
  /** Writes that took the target back to the last known good values after a trial (violated, rejected, abandoned). */
  rollbacks: number;
  /** True objective of the values the loop ends on, over the optimum. */
  finalRatio: number;
  /** Why the run ended: the phase (Converged, Stopped) or "Cutoff". */
  end: string;
};

/** The spec a run uses: the schema's defaults but for the algorithm, seed and budget. */
export function specFor(service: Service, o: RunOptions): OptimizationLoopSpecDefaulted {
  return {
    target: { kind: service.kind, name: service.name },
    parameters: service.parameters,
    objective: { query: 'objective', goal: service.goal },
    constraints: [{ ...service.constraint, query: 'constraint' }],
    minSamples: { query: 'requests', minimum: 100 },
    algorithm: o.algorithm,
    seed: o.seed,
    initialDelay: '1m',
    evaluationWindow: '5m',
    minImprovementPercent: 2,
    maxTrials: o.maxTrials,
    // every algorithm gets its whole trial budget; violations are counted, not cut short
    maxFailedTrials: Math.min(o.maxTrials, 100), // the schema's maximum
    safety: { maxStepPercent: 25, maxChangesPerHour: 4 },
    mode: 'Apply',
    onStop: 'Restore',
    suspend: false,
  };
}

/** Standard normal draws from a seeded uniform source (Box–Muller). */
function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** One loop from the service's start point until it converges, stops, or `maxReconciles` pass. */
export function runLoop(service: Service, o: RunOptions, maxReconciles = 20_000): RunResult {
  const spec = specFor(service, o);
  // what the controller would stall on (InvalidSpec) must not be benchmarked
  const invalid = validateOptimizationLoop(spec);
  if (invalid.length > 0) throw new Error(`${service.name}: ${JSON.stringify(invalid)}`);
  const paths = service.parameters.map((p) => p.path);
  const optimum = optimumOf(service).value;
  // the service's noise has its own stream: the algorithm's seed must not shape the measurements
  const normal = gaussian(prng((o.seed * 7919 + 104_729) >>> 0));
  const noisy = (x: number) => x * (1 + o.noise * normal());
  const measure = (v: Params): Measurement => ({
    objective: noisy(service.objective(v)),
    samples: 5000,
    constraints: constraintResults(spec, { [service.constraint.name]: noisy(service.constraintValue(v)) }),
  });

  const t0 = Date.parse('2026-12-07T00:00:00Z');
  let now = t0;
  let target: Params = { ...service.start };
  let status: Status = {};
  const history: TrialRecord[] = [];
  const result: RunResult = {
    algorithm: o.algorithm,
    seed: o.seed,
    trialsToReach: null,
    hoursToReach: null,
    trials: 0,
    violations: 0,
    rollbacks: 0,
    finalRatio: Number.NaN,
    end: 'Cutoff',
  };
  const kept = () => status.lastKnownGood?.params;
  for (let i = 0; i < maxReconciles; i++) {
    const observed = {
      now: new Date(now),
      target: { ...target },
      live: true,
      canary: false,
      seed: o.seed,
      ...(history.length > 0 ? { history } : {}),
    };
    let r = step(spec, status, observed);
    if (r.measure) r = step(spec, status, { ...observed, measurement: measure(target) });
    const judged = r.events.flatMap((e) => (e.trial ? [e.trial] : []));
    history.push(...judged);
    if (r.apply) {
      const lkg = r.status.lastKnownGood?.params;
      const back = lkg && paths.every((p) => r.apply![p] === lkg[p]);
      if (back && judged.some((t) => t.verdict !== 'Adopted')) result.rollbacks++;
      target = { ...target, ...r.apply };
    }
    status = r.status;
    result.trials = status.trialsCompleted ?? 0;
    result.violations += judged.filter((t) => t.verdict === 'Violated').length;
    const lkg = kept();
    if (result.trialsToReach === null && lkg && near(service, service.objective(lkg), optimum)) {
      result.trialsToReach = result.trials;
      result.hoursToReach = (now - t0) / 3_600_000;
    }
    if (status.phase === 'Converged' || status.phase === 'Stopped') {
      result.end = status.phase;
      break;
    }
    now += r.requeueAfterMs ?? 60_000;
  }
  const lkg = kept() ?? service.start;
  result.finalRatio = service.objective(lkg) / optimum;
  return result;
}

export type Summary = {
  service: string;
  algorithm: Algorithm;
  seeds: number;
  /** Share of seeds whose kept values came within 10% of the optimum within maxTrials. */
  reachedShare: number;
  /** Median judged trials to get there, over the seeds that did (null: none did). */
  medianTrialsToReach: number | null;
  medianHoursToReach: number | null;
  /** Per run, on average. */
  meanViolations: number;
  meanRollbacks: number;
  meanTrials: number;
  /** Final objective over the optimum, median over seeds. */
  medianFinalRatio: number;
  /** Against Random in the same run: trials to reach (lower is better) and reach share (higher is better). */
  vsRandom: { trialsToReach: number | null; reachedShare: number | null };
};

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Summaries per algorithm of one service's runs, with Random as the reference. */
export function summarize(service: string, runs: readonly RunResult[]): Summary[] {
  const algorithms = [...new Set(runs.map((r) => r.algorithm))];
  const base = algorithms.map((algorithm) => {
    const mine = runs.filter((r) => r.algorithm === algorithm);
    const reached = mine.filter((r) => r.trialsToReach !== null);
    return {
      service,
      algorithm,
      seeds: mine.length,
      reachedShare: reached.length / Math.max(1, mine.length),
      medianTrialsToReach: median(reached.map((r) => r.trialsToReach!)),
      medianHoursToReach: median(reached.map((r) => r.hoursToReach!)),
      meanViolations: mean(mine.map((r) => r.violations)),
      meanRollbacks: mean(mine.map((r) => r.rollbacks)),
      meanTrials: mean(mine.map((r) => r.trials)),
      medianFinalRatio: median(mine.map((r) => r.finalRatio)) ?? Number.NaN,
    };
  });
  const random = base.find((s) => s.algorithm === 'Random');
  const ratio = (a: number | null, b: number | null | undefined) =>
    a === null || b === null || b === undefined || b === 0 ? null : a / b;
  return base.map((s) => ({
    ...s,
    vsRandom: {
      trialsToReach: ratio(s.medianTrialsToReach, random?.medianTrialsToReach),
      reachedShare: ratio(s.reachedShare, random?.reachedShare),
    },
  }));
}
