// Pure: the steps of one node's maintenance (cordon, drain, Job, uncordon) as a
// state machine over what the API server shows now (the node, its pods) and
// the progress kept in status, so an operator restart resumes where it was.
// The controller performs the step this returns (act.ts) and stores the
// progress. The plan marks a node it cordoned with CORDONED_BY_ANNOTATION and
// uncordons only such a node: a node someone else cordoned stays cordoned.
import type { MaintenanceAction } from './schema.ts';
import type { ScheduledEntry } from './planner.ts';
import type { JobState } from './job.ts';
import { JOB_DEADLINE_SLACK_MS } from './job.ts';

/** Node annotation: the name of the MaintenancePlan that cordoned the node. */
export const CORDONED_BY_ANNOTATION = 'ymera.io/cordoned-by-maintenance-plan';
/** Pod annotations (value "true") that block a drain. */
export const DO_NOT_DISRUPT_ANNOTATIONS = ['ymera.io/do-not-disrupt', 'karpenter.sh/do-not-disrupt'];
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

export type PodInfo = {
  namespace: string;
  name: string;
  uid?: string;
  annotations?: Readonly<Record<string, string>>;
  ownerKinds?: readonly string[];
  phase?: string;
  terminating?: boolean;
  emptyDir?: boolean;
};

export type NodeState = { unschedulable: boolean; cordonedBy?: string };

type DrainSpec = NonNullable<MaintenanceAction['drain']>;

export type PodTriage = {
  /** Pods to evict. */
  evict: PodInfo[];
  /** Pods that block the drain, with why. */
  blocking: { pod: PodInfo; reason: string }[];
  /** Pods being deleted (evicted): the drain waits for them. */
  terminating: PodInfo[];
};

/** Which pods of a node a drain evicts, skips (DaemonSet, mirror, finished) or is blocked by. */
export function triagePods(pods: readonly PodInfo[], drain: DrainSpec | undefined): PodTriage {
  const out: PodTriage = { evict: [], blocking: [], terminating: [] };
  for (const pod of pods) {
    const a = pod.annotations ?? {};
    if (pod.ownerKinds?.includes('DaemonSet') || MIRROR_ANNOTATION in a) continue;
    if (pod.phase === 'Succeeded' || pod.phase === 'Failed') continue;
    if (pod.terminating) {
      out.terminating.push(pod);
      continue;
    }
    const dnd = DO_NOT_DISRUPT_ANNOTATIONS.find((k) => a[k] === 'true');
    if (dnd) out.blocking.push({ pod, reason: `annotated ${dnd}: "true"` });
    else if (pod.emptyDir && !drain?.deleteEmptyDirData)
      out.blocking.push({
        pod,
        reason: 'uses an emptyDir volume (set drain.deleteEmptyDirData to evict it)',
      });
    else out.evict.push(pod);
  }
  return out;
}

export type Step =
  /** Mark the node unschedulable with the plan's marker (only when no one else cordoned it). */
  | { kind: 'cordon' }
  /** Evict these pods through the Eviction API; a 429 waits `retryMs`. */
  | { kind: 'evict'; pods: PodInfo[]; retryMs: number; message: string }
  /** Delete these pods past their PDBs (drain.onTimeout Force). */
  | { kind: 'force'; pods: PodInfo[]; message: string }
  /** Create the maintenance Job (the node is drained; job.ts names it from the maintenance id). */
  | { kind: 'createJob' }
  /** Uncordon the node (the plan cordoned it), then finish with `result`. */
  | { kind: 'uncordon'; result: 'Succeeded' | 'Failed'; message: string }
  /** Nothing to do now: check again after `retryMs`. */
  | { kind: 'wait'; retryMs: number; message: string }
  /** The maintenance is over; leftCordoned: the plan keeps the node cordoned on purpose (job.onFailure). */
  | { kind: 'finish'; result: 'Succeeded' | 'Failed'; message: string; leftCordoned?: true };

export type StepInput = {
  plan: string;
  entry: ScheduledEntry;
  actions: readonly MaintenanceAction[];
  /** The node now; undefined when it is gone. */
  node: NodeState | undefined;
  /** The node's pods now (field selector spec.nodeName). */
  pods: readonly PodInfo[];
  /** The maintenance Job now, when spec.actions has a Job. */
  job?: JobState;
  now: Date;
};

/** Wait between looks at a running maintenance Job. */
export const JOB_POLL_MS = 5_000;

/** Wait between eviction rounds: grows with the time spent draining, 2 s to 30 s. */
export function evictionRetryMs(elapsedMs: number): number {
  return Math.min(30_000, Math.max(2_000, Math.round(elapsedMs / 4)));
}

/** The next step of one maintenance. */
export function nextStep(input: StepInput): Step {
  const { entry, node, plan } = input;
  const types = new Set(input.actions.map((a) => a.type));
  const drain = input.actions.find((a) => a.type === 'Drain')?.drain;
  const ours = node?.cordonedBy === plan;
  const release = (result: 'Succeeded' | 'Failed', message: string): Step =>
    types.has('Uncordon') || result === 'Failed'
      ? ours && node?.unschedulable
        ? { kind: 'uncordon', result, message }
        : {
            kind: 'finish',
            result,
            message:
              ours || !node?.unschedulable ? message : `${message}; left cordoned: not cordoned by this plan`,
          }
      : { kind: 'finish', result, message };

  if (!node) return { kind: 'finish', result: 'Failed', message: 'the node is gone' };
  if (entry.progress === 'Done') return release('Succeeded', 'drained');
  if (entry.progress === 'Aborted') return release('Failed', 'drain aborted');
  if (!entry.progress) {
    if (types.has('Cordon') && !node.unschedulable) return { kind: 'cordon' };
    // cordoned already (by us before a restart, or by someone else: then it is never uncordoned by the plan)
  }
  const job = input.actions.find((a) => a.type === 'Job')?.job;
  // the Job exists (or existed): the drain is over, and the Job's own pod on the node is not drained
  if (job && (entry.progress === 'JobRunning' || (input.job && input.job.phase !== 'Absent')))
    return jobStep(input, job, release);
  if (!types.has('Drain')) return release('Succeeded', 'no drain in spec.actions');

  const started = Date.parse(entry.startTime ?? '') || input.now.getTime();
  const elapsed = input.now.getTime() - started;
  const timeoutMs = (drain?.timeoutSeconds ?? 600) * 1000;
  const triage = triagePods(input.pods, drain);
  if (!triage.evict.length && !triage.blocking.length && !triage.terminating.length)
    return job ? { kind: 'createJob' } : release('Succeeded', 'drained');
  if (elapsed >= timeoutMs) {
    const left = [...triage.evict, ...triage.blocking.map((b) => b.pod), ...triage.terminating];
    const names = left
      .slice(0, 5)
      .map((p) => `${p.namespace}/${p.name}`)
      .join(', ');
    if (drain?.onTimeout === 'Force' && !triage.blocking.length && triage.evict.length)
      return {
        kind: 'force',
        pods: triage.evict,
        message: `drain timed out after ${drain.timeoutSeconds ?? 600}s: deleting ${names} past their PodDisruptionBudgets (onTimeout Force)`,
      };
    if (drain?.onTimeout !== 'Force' || triage.blocking.length)
      return release(
        'Failed',
        `drain timed out after ${drain?.timeoutSeconds ?? 600}s with pods left: ${names}`,
      );
  }
  if (triage.blocking.length) {
    const b = triage.blocking[0]!;
    return {
      kind: 'wait',
      retryMs: evictionRetryMs(elapsed),
      message: `drain blocked by ${b.pod.namespace}/${b.pod.name}: ${b.reason}${triage.blocking.length > 1 ? ` (and ${triage.blocking.length - 1} more)` : ''}`,
    };
  }
  if (triage.evict.length)
    return {
      kind: 'evict',
      pods: triage.evict,
      retryMs: evictionRetryMs(elapsed),
      message: `evicting ${triage.evict.length} pods`,
    };
  return {
    kind: 'wait',
    retryMs: 2_000,
    message: `waiting for ${triage.terminating.length} evicted pods to terminate`,
  };
}

type Release = (result: 'Succeeded' | 'Failed', message: string) => Step;

/**
 * The Job step: wait while it runs, release the node when it succeeded; on a
 * failure (or a Job that vanished, is not ours, or outlived its deadline)
 * job.onFailure decides: LeaveCordoned keeps the node cordoned for a person
 * to look at, Uncordon releases it. The maintenance is Failed either way.
 */
function jobStep(input: StepInput, job: NonNullable<MaintenanceAction['job']>, release: Release): Step {
  const failed = (message: string): Step =>
    job.onFailure === 'Uncordon'
      ? release('Failed', message)
      : input.node?.unschedulable
        ? {
            kind: 'finish',
            result: 'Failed',
            message: `${message}; node left cordoned (job.onFailure LeaveCordoned): uncordon it once it is repaired`,
            leftCordoned: true,
          }
        : { kind: 'finish', result: 'Failed', message };
  const state: JobState = input.job ?? { phase: 'Absent' };
  switch (state.phase) {
    case 'Absent':
      return failed('the maintenance Job was deleted before it finished');
    case 'Foreign':
    case 'Failed':
      return failed(state.message);
    case 'Succeeded':
      return release('Succeeded', `drained; ${state.message}`);
    case 'Running': {
      const deadline = (state.startedAt ?? input.now.getTime()) + (job.timeoutSeconds ?? 1800) * 1000;
      if (input.now.getTime() > deadline + JOB_DEADLINE_SLACK_MS)
        return failed(
          `the maintenance Job did not finish within job.timeoutSeconds (${job.timeoutSeconds ?? 1800}s)`,
        );
      return { kind: 'wait', retryMs: JOB_POLL_MS, message: 'maintenance Job running' };
    }
  }
}
