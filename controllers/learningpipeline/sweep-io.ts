// I/O of sweep steps: what the trials reported (their termination messages,
// their intermediate metrics in the pod log) and stopping a trial early. The
// decisions are pure (sweep.ts); this reads what they need.
import type { ReconcileContext } from '../../operator/controller.ts';
import { core } from '../../operator/kube/resources.ts';
import type { PodObject } from '../../operator/kube/workloads.ts';
import { parseMetrics } from './gate.ts';
import { EARLY_STOPPED_ANNOTATION } from './jobs.ts';
import type { LearningPipelineRun, LearningPipelineSweep } from './schema.ts';
import { stepTerminationMessage } from './step-message.ts';
import type { Params, TrialObservation } from './sweep.ts';
import { intermediateReports, medianStop } from './sweep.ts';

/** Bounds of one pod-log read: the newest lines, never more than this many bytes. */
export const LOG_TAIL_LINES = 500;
export const LOG_LIMIT_BYTES = 64 * 1024;
/** Finished trials' reports (their logs no longer change), by Job name; bounded. */
const FINISHED_CACHE_MAX = 2000;

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
  const missing: TrialObservation[] = recorded
    .filter((r) => r.phase === 'Running' && !seen.has(r.index) && r.job)
    .map((r) => ({
      index: r.index,
      job: r.job!,
      params: paramsFromStatus(sweep, r.parameters),
      state: 'Active',
    }));
  return { trials: [...trials, ...missing].sort((a, b) => a.index - b.index), missing };
}

/**
 * The median stopping rule over a sweep's trials: reads the log tail of the
 * trials' pods (finished ones once, then from memory), and marks the Jobs of
 * running trials the rule stops (an annotation saying why, and
 * activeDeadlineSeconds 1: the Job controller ends it as failed, the
 * annotation makes it EarlyStopped). A log that cannot be read (no kubelet,
 * kwok's fake pods) gives no reports, so no stop.
 */
export class EarlyStopper {
  readonly #finished = new Map<string, number[]>();

  async apply(
    ctx: ReconcileContext,
    namespace: string,
    sweep: LearningPipelineSweep,
    trials: readonly TrialObservation[],
  ): Promise<{ job: string; index: number; reason: string }[]> {
    const rule = sweep.earlyStopping;
    const running = trials.filter((t) => t.state === 'Active' && !t.stoppedEarly);
    if (!rule || running.length === 0) return [];
    const reports = new Map<number, number[]>();
    for (const t of trials)
      reports.set(t.index, await this.#reports(ctx, namespace, sweep.objective.metric, t));
    const stopped: { job: string; index: number; reason: string }[] = [];
    for (const t of running) {
      const reason = medianStop({
        own: reports.get(t.index) ?? [],
        others: trials.filter((o) => o.index !== t.index).map((o) => reports.get(o.index) ?? []),
        minReports: rule.minReports ?? 3,
        marginPercent: rule.marginPercent ?? 0,
        goal: sweep.objective.goal ?? 'Maximize',
      });
      if (!reason) continue;
      await ctx.client.patch(core.job, t.job, namespace, 'merge', {
        metadata: { annotations: { [EARLY_STOPPED_ANNOTATION]: reason } },
        spec: { activeDeadlineSeconds: 1 },
      });
      stopped.push({ job: t.job, index: t.index, reason });
    }
    return stopped;
  }

  forgetJobs(jobs: Iterable<string>): void {
    for (const j of jobs) this.#finished.delete(j);
  }

  async #reports(
    ctx: ReconcileContext,
    namespace: string,
    metric: string,
    t: TrialObservation,
  ): Promise<number[]> {
    const cached = this.#finished.get(t.job);
    if (cached) return cached;
    const pod = (
      ctx.cachedIn(core.pod, namespace, (p) => p.metadata.labels?.['job-name'] === t.job) as PodObject[]
    )[0];
    if (!pod) return [];
    let log: string;
    try {
      log = await ctx.client.podLog(pod.metadata.name, namespace, {
        tailLines: LOG_TAIL_LINES,
        limitBytes: LOG_LIMIT_BYTES,
      });
    } catch {
      // no log to read (a fake pod, a node gone): no reports, so this trial is never stopped for them
      return [];
    }
    const values = intermediateReports(log, metric);
    if (t.state !== 'Active') {
      if (this.#finished.size >= FINISHED_CACHE_MAX)
        this.#finished.delete(this.#finished.keys().next().value!);
      this.#finished.set(t.job, values);
    }
    return values;
  }
}
