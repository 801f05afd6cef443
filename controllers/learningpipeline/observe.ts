// Pure: what the step Jobs (and, for detail, their pods) say about attempts.
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { PodObject } from '../../operator/kube/workloads.ts';
import { podFailure } from '../../operator/kube/workloads.ts';
import {
  ATTEMPT_LABEL,
  EARLY_STOPPED_ANNOTATION,
  RUN_LABEL,
  STEP_LABEL,
  TRIAL_LABEL,
  TRIAL_PARAMS_ANNOTATION,
} from './jobs.ts';
import type { AttemptObservation } from './runs.ts';
import type { Params, TrialObservation } from './sweep.ts';

type JobCondition = {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
};
export type JobObject = KubeObject & {
  status?: { conditions?: JobCondition[]; startTime?: string; completionTime?: string };
};

const date = (s: string | undefined) => (s ? new Date(s) : undefined);

/** One attempt per Job that carries our labels; Jobs being deleted are left out. */
export function attemptOf(job: JobObject): (AttemptObservation & { runId: string }) | undefined {
  const labels = job.metadata.labels ?? {};
  const runId = labels[RUN_LABEL];
  const step = labels[STEP_LABEL];
  const attempt = Number(labels[ATTEMPT_LABEL]);
  if (!runId || !step || !Number.isInteger(attempt) || attempt < 1) return undefined;
  const conditions = job.status?.conditions ?? [];
  const on = (type: string) => conditions.find((c) => c.type === type && c.status === 'True');
  const complete = on('Complete');
  const failed = on('Failed') ?? on('FailureTarget');
  const base = {
    runId,
    step,
    attempt,
    job: job.metadata.name,
    ...(job.status?.startTime ? { startedAt: new Date(job.status.startTime) } : {}),
  };
  if (complete) {
    const finishedAt = date(job.status?.completionTime) ?? date(complete.lastTransitionTime);
    return { ...base, state: 'Succeeded', ...(finishedAt ? { finishedAt } : {}) };
  }
  if (failed) {
    const finishedAt = date(failed.lastTransitionTime);
    const message =
      failed.reason === 'DeadlineExceeded' ? 'timed out (timeoutSeconds)' : failed.message || failed.reason;
    return {
      ...base,
      state: 'Failed',
      ...(finishedAt ? { finishedAt } : {}),
      ...(message ? { message } : {}),
    };
  }
  return { ...base, state: 'Active' };
}

/** Attempts by run ID. */
export function attemptsByRun(jobs: readonly JobObject[]): Map<string, AttemptObservation[]> {
  const out = new Map<string, AttemptObservation[]>();
  for (const job of jobs) {
    if (job.metadata.deletionTimestamp) continue;
    const a = attemptOf(job);
    if (!a) continue;
    const { runId, ...attempt } = a;
    out.set(runId, [...(out.get(runId) ?? []), attempt]);
  }
  return out;
}

/** Why a pod of a failed attempt failed, e.g. "container train exited with code 1 (Error)". */
export function podExitMessage(pod: PodObject): string | undefined {
  for (const cs of pod.status?.containerStatuses ?? []) {
    const t = cs.state?.terminated ?? cs.lastState?.terminated;
    if (t && t.exitCode !== undefined && t.exitCode !== 0) {
      return `container ${cs.name} exited with code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}`;
    }
  }
  return undefined;
}

/** Why a pod of a running attempt does not make progress (image pull, unschedulable), if it is stuck. */
export function podStuckMessage(pod: PodObject): string | undefined {
  const f = podFailure(pod);
  return f ? `${f.reason}: ${f.message}` : undefined;
}

/** The hyperparameters recorded on a trial's Job, or undefined when the annotation is not a JSON object. */
function paramsOf(job: JobObject): Params | undefined {
  const text = job.metadata.annotations?.[TRIAL_PARAMS_ANNOTATION];
  if (!text) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    const out: Params = {};
    for (const [k, v] of Object.entries(parsed))
      if (typeof v === 'number' || typeof v === 'string') out[k] = v;
    return out;
  } catch {
    return undefined;
  }
}

/** A sweep trial's Job (labels run, step, trial; its hyperparameters annotated), or undefined. */
export function trialOf(job: JobObject): (TrialObservation & { runId: string; step: string }) | undefined {
  const labels = job.metadata.labels ?? {};
  const runId = labels[RUN_LABEL];
  const step = labels[STEP_LABEL];
  const index = Number(labels[TRIAL_LABEL]);
  const params = paramsOf(job);
  if (
    !runId ||
    !step ||
    labels[TRIAL_LABEL] === undefined ||
    !Number.isInteger(index) ||
    index < 0 ||
    !params
  )
    return undefined;
  const conditions = job.status?.conditions ?? [];
  const on = (type: string) => conditions.find((c) => c.type === type && c.status === 'True');
  const failed = on('Failed') ?? on('FailureTarget');
  const rv = job.metadata.resourceVersion;
  const base = { runId, step, index, job: job.metadata.name, params, ...(rv ? { resourceVersion: rv } : {}) };
  const early = job.metadata.annotations?.[EARLY_STOPPED_ANNOTATION] !== undefined;
  if (on('Complete')) return { ...base, state: 'Succeeded' };
  if (failed) {
    const message =
      failed.reason === 'DeadlineExceeded' && !early
        ? 'timed out (timeoutSeconds)'
        : failed.message || failed.reason;
    return {
      ...base,
      state: 'Failed',
      ...(early ? { stoppedEarly: true } : {}),
      ...(message ? { message } : {}),
    };
  }
  return { ...base, state: 'Active', ...(early ? { stoppedEarly: true } : {}) };
}

/** Trials by run ID and step; Jobs being deleted are left out. */
export function trialsByRun(jobs: readonly JobObject[]): Map<string, Map<string, TrialObservation[]>> {
  const out = new Map<string, Map<string, TrialObservation[]>>();
  for (const job of jobs) {
    if (job.metadata.deletionTimestamp) continue;
    const t = trialOf(job);
    if (!t) continue;
    const { runId, step, ...trial } = t;
    const byStep = out.get(runId) ?? new Map<string, TrialObservation[]>();
    byStep.set(step, [...(byStep.get(step) ?? []), trial]);
    out.set(runId, byStep);
  }
  return out;
}
