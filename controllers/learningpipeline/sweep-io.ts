// I/O of sweep steps: what the trials reported (their termination messages,
// their intermediate metrics in the pod log) and stopping a trial early. The
// decisions are pure (sweep.ts); this reads what they need.
import type { ReconcileContext } from '../../operator/controller.ts';
import { KubeApiError, isConflict, isLogTooLarge, isNotFound } from '../../operator/kube/client.ts';
import { core } from '../../operator/kube/resources.ts';
import type { PodObject } from '../../operator/kube/workloads.ts';
import { parseMetrics } from './gate.ts';
import { EARLY_STOPPED_ANNOTATION } from './jobs.ts';
import type { LearningPipelineRun, LearningPipelineSweep } from './schema.ts';
import { stepTerminationMessage } from './step-message.ts';
import type { Params, TrialObservation } from './sweep.ts';
import type { Report } from './sweep.ts';
import { comparableReports, intermediateReports, logReadTruncated, medianStop } from './sweep.ts';

/**
 * Bounds of one pod-log read: the newest lines, of which at most this many
 * bytes are kept. Not the kubelet's limitBytes: with tailLines it keeps the
 * first bytes, so long lines would cut the newest reports; the client reads
 * the tail and keeps its last bytes instead (memory bounded), and gives up
 * on a tail over LOG_MAX_TRANSFER_BYTES (no reports then, so no stop): a
 * read per running trial per reconcile must stay cheap.
 */
export const LOG_TAIL_LINES = 500;
export const LOG_LIMIT_BYTES = 64 * 1024;
export const LOG_MAX_TRANSFER_BYTES = 2 * 1024 * 1024;
/** Finished trials' reports (their logs no longer change), by Job name; bounded. */
const FINISHED_CACHE_MAX = 2000;
/** Sweeps remembered per warning (refused reads, each reason a log is unusable) so each is told once; bounded. */
const WARNED_SWEEPS_MAX = 2000;
/** How long a sweep whose log read was refused waits before trying again (a grant may have come). */
export const FORBIDDEN_RETRY_MS = 10 * 60_000;

/** The chart value that grants pods/log get (off by default: pod logs may hold secrets). */
export const EARLY_STOPPING_RBAC_VALUE = 'rbac.learningPipelineEarlyStopping';

/** Why early stopping is off for a sweep whose trial logs the operator may not read. */
export function earlyStoppingForbiddenMessage(step: string): string {
  return (
    `step ${step}: early stopping is off for this sweep: the operator may not read trial pod logs ` +
    `(pods/log get is forbidden); a cluster admin grants it with the chart value ${EARLY_STOPPING_RBAC_VALUE}=true (tried again every ${FORBIDDEN_RETRY_MS / 60_000} minutes)`
  );
}

/**
 * Why a trial's log gives early stopping nothing to compare, though it was
 * read: its tail is over LOG_MAX_TRANSFER_BYTES (the read gave up), or the
 * read was cut (more than LOG_TAIL_LINES lines or LOG_LIMIT_BYTES bytes) and
 * its reports have no `"step"`, so their positions are not steps.
 */
export type LogUnusable = 'tooLarge' | 'positionsOnly';

/** One trial early stopping cannot use, and why. */
export interface UnusableTrial {
  index: number;
  job: string;
  why: LogUnusable;
}

/** Each reason early stopping cannot use a trial's log: what is wrong, and what the trial author can change. */
const UNUSABLE_WHY: Record<LogUnusable, string> = {
  tooLarge: `its last ${LOG_TAIL_LINES} log lines are over ${LOG_MAX_TRANSFER_BYTES / (1024 * 1024)} MiB, so the operator does not read them; write fewer or shorter log lines`,
  positionsOnly: `its log is longer than the ${LOG_TAIL_LINES} lines or ${LOG_LIMIT_BYTES / 1024} KiB the operator reads and its ymera-metrics lines have no "step", so their positions are not steps; report "step" in each ymera-metrics line (e.g. ymera-metrics {"step": 3, ...})`,
};
/** Every reason, so a warning memory per (sweep, reason) can hold as many sweeps as one per sweep. */
const UNUSABLE_REASONS = Object.keys(UNUSABLE_WHY) as LogUnusable[];

/**
 * Why early stopping is off for trials of a sweep whose logs it cannot use,
 * and what the trial author can do: each distinct reason once, with the
 * first trial it applies to (by index) and how many others, so the message
 * stays short however many trials there are. Names the trials, never their
 * log content.
 */
export function earlyStoppingUnavailableMessage(step: string, trials: readonly UnusableTrial[]): string {
  const byWhy = new Map<LogUnusable, UnusableTrial[]>();
  for (const t of [...trials].sort((a, b) => a.index - b.index)) {
    const group = byWhy.get(t.why);
    if (group) group.push(t);
    else byWhy.set(t.why, [t]);
  }
  const parts = [...byWhy].map(([why, group]) => {
    const first = group[0]!;
    const others = group.length > 1 ? ` (and ${group.length - 1} other trial(s))` : '';
    return `trial ${first.index} (Job ${first.job})${others}: ${UNUSABLE_WHY[why]}`;
  });
  return (
    `step ${step}: early stopping is off for ${parts.join('; and for ')}; ` +
    `${trials.length > 1 ? 'such trials are' : 'such a trial is'} neither stopped nor counted in the median`
  );
}

/** The memory key of a (sweep, reason) warning: a sweep is told of each reason once. */
function unusableKey(sweepKey: string, why: LogUnusable): string {
  return `${sweepKey}\n${why}`;
}

/** A refused pod-log read (RBAC), as opposed to a log that is not there (a fake pod, a node gone). */
export function isLogForbidden(e: unknown): boolean {
  return e instanceof KubeApiError && e.status === 403;
}

/**
 * Sweeps whose log reads were refused, bounded (the oldest forgotten first):
 * `mark` is true only the first time, so the warning is told once per sweep,
 * and `refusedWithin` holds reads back for a while after the latest refusal
 * rather than for good, so a grant made while the sweep runs takes effect.
 */
export class OnceSet {
  readonly #refusedAt = new Map<string, number>();
  readonly #warned = new Set<string>();
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  has(key: string): boolean {
    return this.#refusedAt.has(key);
  }
  /** Whether `key` was refused less than `ms` before `now`. */
  refusedWithin(key: string, now: number, ms: number): boolean {
    const at = this.#refusedAt.get(key);
    return at !== undefined && now - at < ms;
  }
  mark(key: string, now = 0): boolean {
    this.#refusedAt.delete(key);
    if (this.#refusedAt.size >= this.#max) {
      const oldest = this.#refusedAt.keys().next().value!;
      this.#refusedAt.delete(oldest);
      this.#warned.delete(oldest);
    }
    this.#refusedAt.set(key, now);
    if (this.#warned.has(key)) return false;
    this.#warned.add(key);
    return true;
  }
}

class LogForbidden extends Error {}

/** What one trial's log read gave: its comparable reports, and why there are none when it is unusable. */
interface LogReports {
  reports: Report[];
  why?: LogUnusable;
}

/** A trial whose pod already ended (its Job is about to say so): too late to stop, its result stands. */
export function trialPodFinished(pod: PodObject | undefined): boolean {
  if (!pod) return false;
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return true;
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.length > 0 && statuses.every((c) => c.state?.terminated !== undefined);
}

/** Recorded (status) hyperparameters back as values: numbers unless categorical. */
function paramsFromStatus(sweep: LearningPipelineSweep, text: Record<string, string>): Params {
  const out: Params = {};
  for (const p of sweep.parameters) {
    const v = text[p.name];
    if (v !== undefined) out[p.name] = p.categorical ? v : Number(v);
  }
  return out;
}

/**
 * The trials of a sweep step of `run`: the observed Jobs, with the metrics of
 * succeeded ones (cached in status once read: a decided objective is not read
 * again), plus trials status records as running whose Job is not seen (the
 * cache lagging a create, or a Job deleted by hand): those are `missing`, to
 * be created again (a no-op when they exist).
 */
export async function observeTrials(
  ctx: ReconcileContext,
  namespace: string,
  sweep: LearningPipelineSweep,
  run: LearningPipelineRun,
  step: string,
  observed: readonly TrialObservation[],
): Promise<{ trials: TrialObservation[]; missing: TrialObservation[] }> {
  const recorded = run.steps?.find((s) => s.name === step)?.sweep?.trials ?? [];
  const metric = sweep.objective.metric;
  const trials: TrialObservation[] = [];
  for (const t of observed) {
    if (t.state !== 'Succeeded') {
      trials.push(t);
      continue;
    }
    const before = recorded.find((r) => r.index === t.index);
    if (before?.phase === 'Succeeded' && before.objective !== undefined) {
      trials.push({ ...t, metrics: { [metric]: before.objective } });
      continue;
    }
    const text = await stepTerminationMessage(ctx, namespace, t.job);
    if (text === undefined) {
      trials.push({
        ...t,
        metricsError: 'no termination message (write the metrics JSON to /dev/termination-log)',
      });
      continue;
    }
    const parsed = parseMetrics(text);
    trials.push('error' in parsed ? { ...t, metricsError: parsed.error } : { ...t, metrics: parsed.metrics });
  }
  const seen = new Set(observed.map((t) => t.index));
  const gone = finishedFromStatus(sweep, recorded, seen);
  const missing: TrialObservation[] = recorded
    .filter((r) => r.phase === 'Running' && !seen.has(r.index) && r.job)
    .map((r) => ({
      index: r.index,
      job: r.job!,
      params: paramsFromStatus(sweep, r.parameters),
      state: 'Active',
    }));
  return { trials: [...trials, ...gone, ...missing].sort((a, b) => a.index - b.index), missing };
}

type RecordedTrial = NonNullable<
  NonNullable<NonNullable<LearningPipelineRun['steps']>[number]['sweep']>['trials']
>[number];

/**
 * Pure: finished trials status records whose Job is gone (deleted by hand,
 * or garbage-collected) as observations, as status decided them: they still
 * count against maxTrials and maxFailedTrials, and their index is never
 * reused, so deleting a Job cannot buy a sweep more trials.
 */
export function finishedFromStatus(
  sweep: LearningPipelineSweep,
  recorded: readonly RecordedTrial[],
  seen: ReadonlySet<number>,
): TrialObservation[] {
  const metric = sweep.objective.metric;
  const out: TrialObservation[] = [];
  for (const r of recorded) {
    if (seen.has(r.index) || r.phase === 'Running') continue;
    const base = { index: r.index, job: r.job ?? '', params: paramsFromStatus(sweep, r.parameters) };
    if (r.phase === 'Succeeded' && r.objective !== undefined)
      out.push({ ...base, state: 'Succeeded', metrics: { [metric]: r.objective } });
    else if (r.phase === 'EarlyStopped') out.push({ ...base, state: 'Failed', stoppedEarly: true });
    else out.push({ ...base, state: 'Failed', message: r.reason ?? 'the trial failed' });
  }
  return out;
}

/**
 * The median stopping rule over a sweep's trials: reads the log tail of the
 * trials' pods (finished ones once, then from memory), and marks the Jobs of
 * running trials the rule stops (an annotation saying why, and
 * activeDeadlineSeconds 1: the Job controller ends it as failed, the
 * annotation makes it EarlyStopped). A log that cannot be read (no kubelet,
 * kwok's fake pods) gives no reports, so no stop. A refused read (403: the
 * chart's rbac.learningPipelineEarlyStopping is off) turns early stopping
 * off for that sweep for FORBIDDEN_RETRY_MS (then it tries again), and
 * `forbidden` says so the first time only.
 */
export class EarlyStopper {
  readonly #finished = new Map<string, LogReports>();
  readonly #forbidden = new OnceSet(WARNED_SWEEPS_MAX);
  /**
   * (sweep, reason) pairs told that some trial's log is unusable for that
   * reason (only `mark` is used: once per sweep and reason, so a later trial
   * unusable for a new reason is told too); as many sweeps as #forbidden.
   */
  readonly #unavailable = new OnceSet(WARNED_SWEEPS_MAX * UNUSABLE_REASONS.length);

  async apply(
    ctx: ReconcileContext,
    namespace: string,
    sweep: LearningPipelineSweep,
    trials: readonly TrialObservation[],
    /** The sweep (namespace/pipeline/run/step): early stopping is turned off per sweep. */
    sweepKey: string,
  ): Promise<{
    stopped: { job: string; index: number; reason: string }[];
    forbidden?: boolean;
    /** Trials whose logs early stopping cannot use, for reasons this sweep is not yet told of. */
    unusable?: UnusableTrial[];
  }> {
    const rule = sweep.earlyStopping;
    const running = trials.filter((t) => t.state === 'Active' && !t.stoppedEarly);
    if (!rule || running.length === 0) return { stopped: [] };
    if (this.#forbidden.refusedWithin(sweepKey, Date.now(), FORBIDDEN_RETRY_MS)) return { stopped: [] };
    const reports = new Map<number, Report[]>();
    // the median is of succeeded trials only; logs of failed or stopped ones are not read
    const succeeded = trials.filter((t) => t.state === 'Succeeded' && !t.stoppedEarly);
    const minTrials = rule.minTrials ?? 3;
    if (succeeded.length < minTrials) return { stopped: [] };
    const unusable: UnusableTrial[] = [];
    try {
      for (const t of [...running, ...succeeded])
        reports.set(t.index, await this.#reports(ctx, namespace, sweep.objective.metric, t, unusable));
    } catch (e) {
      if (!(e instanceof LogForbidden)) throw e;
      return { stopped: [], forbidden: this.#forbidden.mark(sweepKey, Date.now()) };
    }
    const stopped: { job: string; index: number; reason: string }[] = [];
    for (const t of running) {
      const reason = medianStop({
        own: reports.get(t.index) ?? [],
        succeeded: succeeded.map((o) => reports.get(o.index) ?? []),
        minReports: rule.minReports ?? 3,
        minTrials,
        marginPercent: rule.marginPercent ?? 0,
        goal: sweep.objective.goal ?? 'Maximize',
      });
      if (!reason || trialPodFinished(this.#pod(ctx, namespace, t.job))) continue;
      try {
        // only the Job as observed: one that finished since (its status changed) is left alone
        await ctx.client.patch(core.job, t.job, namespace, 'merge', {
          metadata: {
            annotations: { [EARLY_STOPPED_ANNOTATION]: reason },
            ...(t.resourceVersion ? { resourceVersion: t.resourceVersion } : {}),
          },
          spec: { activeDeadlineSeconds: 1 },
        });
      } catch (e) {
        if (isConflict(e) || isNotFound(e)) continue; // decided again on the next reconcile
        throw e;
      }
      stopped.push({ job: t.job, index: t.index, reason });
    }
    unusable.sort((a, b) => a.index - b.index);
    // told once per (sweep, reason): a reason this sweep was told of is left out, a new one is told
    const news = new Set(
      UNUSABLE_REASONS.filter(
        (why) => unusable.some((t) => t.why === why) && this.#unavailable.mark(unusableKey(sweepKey, why)),
      ),
    );
    const told = unusable.filter((t) => news.has(t.why));
    return told.length > 0 ? { stopped, unusable: told } : { stopped };
  }

  #pod(ctx: ReconcileContext, namespace: string, job: string): PodObject | undefined {
    return (
      ctx.cachedIn(core.pod, namespace, (p) => p.metadata.labels?.['job-name'] === job) as PodObject[]
    )[0];
  }

  forgetJobs(jobs: Iterable<string>): void {
    for (const j of jobs) this.#finished.delete(j);
  }

  async #reports(
    ctx: ReconcileContext,
    namespace: string,
    metric: string,
    t: TrialObservation,
    /** Trials whose logs are unusable are added here (a finished one from memory too). */
    unusable: UnusableTrial[],
  ): Promise<Report[]> {
    let read = this.#finished.get(t.job);
    if (!read) {
      const pod = this.#pod(ctx, namespace, t.job);
      if (!pod) return [];
      read = await this.#read(ctx, namespace, pod.metadata.name, metric);
      // a finished trial's log will not change, so it is not fetched again on every reconcile
      if (t.state !== 'Active') this.#remember(t.job, read);
    }
    if (read.why) unusable.push({ index: t.index, job: t.job, why: read.why });
    return read.reports;
  }

  async #read(ctx: ReconcileContext, namespace: string, pod: string, metric: string): Promise<LogReports> {
    let read: { text: string; lines: number; bytes: number };
    try {
      read = await ctx.client.podLogTail(pod, namespace, {
        tailLines: LOG_TAIL_LINES,
        keepBytes: LOG_LIMIT_BYTES,
        maxBytes: LOG_MAX_TRANSFER_BYTES,
      });
    } catch (e) {
      if (isLogForbidden(e)) throw new LogForbidden();
      // no log to read (a fake pod, a node gone, a tail too big): no reports, so no stop for them
      return isLogTooLarge(e) ? { reports: [], why: 'tooLarge' } : { reports: [] };
    }
    // a cut read's positions are not steps: only reports with their own step are kept then
    const truncated = logReadTruncated(read, { tailLines: LOG_TAIL_LINES, limitBytes: LOG_LIMIT_BYTES });
    const all = intermediateReports(read.text, metric);
    const reports = comparableReports(all, truncated);
    return all.length > 0 && reports.length === 0 ? { reports, why: 'positionsOnly' } : { reports };
  }

  #remember(job: string, read: LogReports): void {
    if (this.#finished.size >= FINISHED_CACHE_MAX) this.#finished.delete(this.#finished.keys().next().value!);
    this.#finished.set(job, read);
  }
}
