// Pure: the sweep planner of a LearningPipeline step (issue #19, Katib's
// Experiment semantics). From the trials observed so far (their Jobs are the
// truth: index and hyperparameters are on the Job, so a restart re-derives
// the same state and never proposes a trial twice) decide which trials start
// next, whether the sweep is over, and which trial is best. Proposals come
// from the OptimizationLoop's algorithms (controllers/optimizationloop/
// algorithms.ts), over a space whose dimensions are the sweep's parameters.
import { clip } from '../../operator/text.ts';
import type { Dimension, Observation, Point, Space } from '../optimizationloop/algorithms.ts';
import { centreOf, dimensionValues, pointOf, propose, seedOf } from '../optimizationloop/algorithms.ts';
import type { LearningPipelineRun, LearningPipelineSweep, SweepParameter, trialPhases } from './schema.ts';

export type TrialPhase = (typeof trialPhases)[number];
export type SweepStatus = NonNullable<NonNullable<LearningPipelineRun['steps']>[number]['sweep']>;
export type TrialStatus = NonNullable<SweepStatus['trials']>[number];
/** A hyperparameter value as the trial sees it in YMERA_PARAMS. */
export type ParamValue = number | string;
export type Params = Record<string, ParamValue>;

/** What the cluster says about one trial (its Job, and for a finished one its metrics). */
export interface TrialObservation {
  index: number;
  job: string;
  /** The Job's resourceVersion when observed: stopping it is conditional on it. */
  resourceVersion?: string;
  params: Params;
  state: 'Active' | 'Succeeded' | 'Failed';
  /** Stopped by the median rule (the operator marked its Job before ending it). */
  stoppedEarly?: boolean;
  /** The trial's metrics (termination message), once it succeeded; or why they are unusable. */
  metrics?: Record<string, number>;
  metricsError?: string;
  message?: string;
}

export interface TrialStart {
  index: number;
  params: Params;
}

export interface SweepPlan {
  phase: 'Running' | 'Succeeded' | 'Failed';
  start: TrialStart[];
  /** Jobs of running trials to stop (the sweep failed). */
  stop: string[];
  status: SweepStatus;
  /** Why it failed, or how it ended. */
  message?: string;
  /** Job of the best trial (the step's job once the sweep succeeded). */
  bestJob?: string;
}

/** Trials kept in status once a sweep is over: the best and the latest ones. */
export const FINISHED_TRIALS_KEPT = 20;
const REASON_MAX = 256;

// ---------------------------------------------------------------- space

function dimensionOf(p: SweepParameter): Dimension {
  if (p.double) return { kind: 'real', min: p.double.min, max: p.double.max, logScale: p.double.logScale };
  if (p.int)
    return { kind: 'integer', min: p.int.min, max: p.int.max, step: p.int.step, logScale: p.int.logScale };
  return { kind: 'choice', count: p.categorical?.length ?? 1 };
}

export function sweepSpace(sweep: LearningPipelineSweep): Space {
  return sweep.parameters.map((p) => dimensionValues(dimensionOf(p)));
}

/** The hyperparameters at a point: numbers for double and int, the category's string otherwise. */
export function paramsAt(sweep: LearningPipelineSweep, space: Space, point: Point): Params {
  const out: Params = {};
  sweep.parameters.forEach((p, d) => {
    const v = space[d]![point[d]!]!;
    out[p.name] = p.categorical ? p.categorical[v]! : v;
  });
  return out;
}

/** The point of recorded hyperparameters (nearest grid values; a category by its position). */
export function pointOfParams(sweep: LearningPipelineSweep, space: Space, params: Params): Point {
  const numeric = sweep.parameters.map((p) => {
    const v = params[p.name];
    if (p.categorical) return Math.max(0, p.categorical.indexOf(String(v)));
    return typeof v === 'number' ? v : Number(v);
  });
  return pointOf(space, numeric);
}

/** A number as a plain decimal string (never 1e-7), as env values promise. */
export function plainDecimal(x: number): string {
  const text = String(x);
  if (!/e/i.test(text)) return text;
  return x.toFixed(20).replace(/0+$/, '').replace(/\.$/, '');
}

/** `YMERA_PARAM_<NAME>` value of a hyperparameter. */
export function paramEnvValue(v: ParamValue): string {
  return typeof v === 'number' ? plainDecimal(v) : v;
}

/** Status form of hyperparameters (strings, as the trial saw them). */
export function paramsText(params: Params): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, paramEnvValue(v)]));
}

// ---------------------------------------------------------------- trials

/** A trial's outcome: its phase, objective and why (pure; the objective key may be missing). */
export function trialOutcome(
  sweep: LearningPipelineSweep,
  t: TrialObservation,
): { phase: TrialPhase; objective?: number; reason?: string } {
  if (t.state === 'Active') return { phase: 'Running' };
  const metric = sweep.objective.metric;
  const reported = t.metrics && Object.hasOwn(t.metrics, metric) ? t.metrics[metric] : undefined;
  // a trial that succeeded with its objective as it was being stopped keeps its result
  if (t.state === 'Succeeded' && !t.metricsError && reported !== undefined)
    return { phase: 'Succeeded', objective: reported };
  if (t.stoppedEarly)
    return { phase: 'EarlyStopped', reason: 'stopped early: worse than the median (median stopping rule)' };
  if (t.state === 'Failed')
    return { phase: 'Failed', reason: clip(t.message ?? 'the trial failed', REASON_MAX) };
  if (t.metricsError)
    return { phase: 'Failed', reason: clip(`metrics unusable: ${t.metricsError}`, REASON_MAX) };
  return {
    phase: 'Failed',
    reason: `reported no objective ${metric} (write {"${metric}": <number>} to /dev/termination-log)`,
  };
}

/** Higher is better. */
const scoreOf = (sweep: LearningPipelineSweep, objective: number) =>
  sweep.objective.goal === 'Minimize' ? -objective : objective;

/** Seed of a sweep's proposals: spec.seed, else one derived from the run and step. */
export function sweepSeed(sweep: LearningPipelineSweep, runId: string, step: string): number {
  return sweep.seed ?? seedOf(`${runId}/${step}`);
}

/** Directory of a trial's outputs, relative to the run's artifact root. */
export function trialDir(step: string, index: number): string {
  return `trials/${step}-${index}`;
}

/**
 * One planning step of a sweep. Trials start while fewer than
 * parallelTrials run and fewer than maxTrials started; a failed trial more
 * than maxFailedTrials fails the sweep (running trials are stopped); the
 * sweep succeeds once every trial ended (or the algorithm has nothing left to
 * try) and one reported its objective.
 */
export function planSweep(input: {
  sweep: LearningPipelineSweep;
  step: string;
  trials: readonly TrialObservation[];
  seed: number;
}): SweepPlan {
  const { sweep, step, seed } = input;
  const maxTrials = sweep.maxTrials ?? 10;
  const parallel = sweep.parallelTrials ?? 1;
  const maxFailed = sweep.maxFailedTrials ?? 3;
  const space = sweepSpace(sweep);
  const trials = [...input.trials].sort((a, b) => a.index - b.index);
  const rows: TrialStatus[] = trials.map((t) => {
    const o = trialOutcome(sweep, t);
    return {
      index: t.index,
      parameters: paramsText(t.params),
      phase: o.phase,
      job: t.job,
      ...(o.objective !== undefined ? { objective: o.objective } : {}),
      ...(o.reason ? { reason: o.reason } : {}),
    };
  });
  const count = (phase: TrialPhase) => rows.filter((r) => r.phase === phase).length;
  let best: TrialStatus | undefined;
  for (const r of rows) {
    if (r.phase !== 'Succeeded' || r.objective === undefined) continue;
    // ties go to the earlier trial, so the choice never flips
    if (!best || scoreOf(sweep, r.objective) > scoreOf(sweep, best.objective!)) best = r;
  }
  const counts = () => ({
    started: rows.length,
    running: count('Running'),
    succeeded: count('Succeeded'),
    failed: count('Failed'),
    earlyStopped: count('EarlyStopped'),
  });
  const status = (): SweepStatus => ({
    trials: rows,
    ...(best
      ? {
          best: {
            index: best.index,
            objective: best.objective!,
            parameters: best.parameters,
            outputDir: trialDir(step, best.index),
          },
        }
      : {}),
    ...counts(),
  });
  const failed = count('Failed');
  const running = rows.filter((r) => r.phase === 'Running');

  if (failed > maxFailed) {
    const last = [...rows].reverse().find((r) => r.phase === 'Failed');
    return {
      phase: 'Failed',
      start: [],
      stop: running.map((r) => r.job!).filter(Boolean),
      status: finished(status()),
      message: clip(
        `${failed} trials failed, more than maxFailedTrials ${maxFailed}; trial ${last?.index}: ${last?.reason ?? 'failed'}`,
        1024,
      ),
    };
  }

  // propose trials to fill the free slots; in-flight points count as tried, so parallel proposals differ
  const start: TrialStart[] = [];
  const history: Observation[] = trials.map((t, i) => {
    const r = rows[i]!;
    return {
      point: pointOfParams(sweep, space, t.params),
      ...(r.objective !== undefined ? { score: scoreOf(sweep, r.objective) } : {}),
      feasible: r.phase !== 'Failed',
    };
  });
  let exhausted = false;
  const free = Math.min(parallel - running.length, maxTrials - rows.length);
  const incumbent = best
    ? pointOfParams(sweep, space, trials.find((t) => t.index === best.index)!.params)
    : centreOf(space);
  const maxStep = space.map((vals) => Math.max(1, vals.length - 1));
  const nextIndex = trials.length > 0 ? trials.at(-1)!.index + 1 : 0;
  for (let k = 0; k < free; k++) {
    const index = nextIndex + k;
    const proposal = propose({
      algorithm: sweep.algorithm ?? 'Random',
      space,
      history,
      incumbent,
      maxStep,
      seed,
      trial: index,
    });
    if (!proposal) {
      exhausted = true;
      break;
    }
    history.push({ point: proposal.point, feasible: true });
    start.push({ index, params: paramsAt(sweep, space, proposal.point) });
  }
  if (start.length > 0 || running.length > 0) {
    const s = status();
    return {
      phase: 'Running',
      start,
      stop: [],
      status: { ...s, started: s.started + start.length, running: s.running + start.length },
    };
  }
  // nothing running and nothing to start: the budget is spent (or the space exhausted)
  const why = exhausted
    ? `the search space is exhausted after ${rows.length} trials`
    : `${rows.length} trials ran`;
  if (!best) {
    return {
      phase: 'Failed',
      start: [],
      stop: [],
      status: finished(status()),
      message: `${why} and none reported the objective ${sweep.objective.metric}`,
    };
  }
  return {
    phase: 'Succeeded',
    start: [],
    stop: [],
    status: finished(status()),
    message: `${why}; best trial ${best.index}: ${sweep.objective.metric} ${best.objective} (${Object.entries(
      best.parameters,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')})`,
    bestJob: best.job!,
  };
}

/** A finished sweep keeps the best trial and the latest ones in status (counts keep the totals). */
export function finished(status: SweepStatus): SweepStatus {
  const trials = status.trials ?? [];
  if (trials.length <= FINISHED_TRIALS_KEPT) return status;
  const latest = trials.slice(-FINISHED_TRIALS_KEPT);
  const best = trials.find((t) => t.index === status.best?.index);
  const kept = best && !latest.includes(best) ? [best, ...latest.slice(1)] : latest;
  return { ...status, trials: kept };
}

// ---------------------------------------------------------------- early stopping

const METRICS_LINE = /^ymera-metrics\s+(\{.*\})\s*$/;

/**
 * One intermediate report: its value, and the step it is keyed by: the
 * report's own `"step"` (a finite number >= 0: epochs may start at 0 or be
 * fractional) when it has one, else its position among the log's reports
 * (1-based; `positional` then says so). Positions and steps are never
 * compared with each other (see medianStop).
 */
export interface Report {
  step: number;
  value: number;
  positional?: true;
}

/** The intermediate reports of `metric` in a log: lines `ymera-metrics {...}`, in order; other lines are ignored. */
export function intermediateReports(log: string, metric: string): Report[] {
  const out: Report[] = [];
  for (const line of log.split('\n')) {
    const m = METRICS_LINE.exec(line.trim());
    if (!m) continue;
    try {
      const parsed: unknown = JSON.parse(m[1]!);
      if (parsed && typeof parsed === 'object' && Object.hasOwn(parsed, metric)) {
        const fields = parsed as Record<string, unknown>;
        const v = fields[metric];
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        const step = fields['step'];
        out.push(
          typeof step === 'number' && Number.isFinite(step) && step >= 0
            ? { step, value: v }
            : { step: out.length + 1, value: v, positional: true },
        );
      }
    } catch {
      // a torn or foreign line: not a report
    }
  }
  // a log that gives steps is keyed by them: its reports without one have no place among them
  return out.some((r) => !r.positional) ? out.filter((r) => !r.positional) : out;
}

/**
 * Whether a bounded log read (at most `tailLines` lines, `limitBytes` bytes
 * kept) may have lost older lines: it came back with tailLines lines or more,
 * or had limitBytes bytes or more in all. A log of exactly that size counts
 * as cut: it cannot be told apart from a longer one.
 */
export function logReadTruncated(
  read: { lines: number; bytes: number },
  bounds: { tailLines: number; limitBytes: number },
): boolean {
  return read.lines >= bounds.tailLines || read.bytes >= bounds.limitBytes;
}

/**
 * The reports of a log read that can be compared with other trials'. A
 * position is only a step while the read holds the whole log: once older
 * lines fell out of the read, the first report read is not report 1, so
 * positional reports are dropped (explicit steps still count).
 */
export function comparableReports(reports: readonly Report[], truncated: boolean): Report[] {
  return truncated ? reports.filter((r) => !r.positional) : [...reports];
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A report as medianStop takes it: a bare number is keyed by its position (1-based). */
export type StepValue = number | Report;

function keyed(reports: readonly StepValue[]): Report[] {
  return reports.map((r, i) => (typeof r === 'number' ? { step: i + 1, value: r, positional: true } : r));
}

/**
 * Where a trial is compared: its latest step and value. When a step repeats
 * (a trainer reporting several times per epoch), the latest step may be
 * still in progress and is not comparable with the others' final value for
 * it: the trial is then compared at the last step that a later one followed
 * (its last value there). `reported` counts the distinct steps up to it.
 */
export function comparisonPoint(
  reports: readonly Report[],
): { step: number; value: number; positional: boolean; reported: number } | undefined {
  const steps: number[] = [];
  const last = new Map<number, Report>();
  let repeats = false;
  for (const r of reports) {
    if (last.has(r.step)) repeats = true;
    else steps.push(r.step);
    last.set(r.step, r);
  }
  const at = repeats ? steps.length - 2 : steps.length - 1;
  if (at < 0) return undefined;
  const r = last.get(steps[at]!)!;
  return { step: r.step, value: r.value, positional: r.positional === true, reported: at + 1 };
}

/**
 * The median stopping rule (as Katib's median stop): a trial with at least
 * minReports distinct steps reported whose value at its comparison point
 * (comparisonPoint) is worse than the median of the succeeded trials' values
 * at the same step by more than marginPercent of that median is stopped.
 * Only succeeded trials count (running and stopped ones would drag the median
 * with them), and only once at least minTrials of them reported that step,
 * the same kind of step (a position is never matched with a step); a peer
 * reporting it twice counts with its latest. Returns why, or undefined to let it run.
 */
export function medianStop(input: {
  own: readonly StepValue[];
  /** The reports of the sweep's succeeded trials. */
  succeeded: readonly (readonly StepValue[])[];
  minReports: number;
  minTrials: number;
  marginPercent: number;
  goal: 'Maximize' | 'Minimize';
}): string | undefined {
  const point = comparisonPoint(keyed(input.own));
  if (!point || point.reported < input.minReports) return undefined;
  const { step, value: latest } = point;
  const peers: number[] = [];
  for (const o of input.succeeded) {
    const at = keyed(o).findLast((r) => r.step === step && (r.positional === true) === point.positional);
    if (at) peers.push(at.value);
  }
  if (peers.length === 0 || peers.length < input.minTrials) return undefined;
  const m = median(peers);
  const margin = (Math.abs(m) * input.marginPercent) / 100;
  const worse = input.goal === 'Maximize' ? latest < m - margin : latest > m + margin;
  if (!worse) return undefined;
  return `report ${step}: ${latest} is worse than the median ${m} of ${peers.length} succeeded trial(s) by more than ${input.marginPercent}%`;
}
