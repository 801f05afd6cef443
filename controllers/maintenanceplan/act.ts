// The I/O of Act mode: reads a node, its pods and its maintenance Job,
// performs the step drain.ts decides (cordon with the plan's marker,
// evictions through the Eviction API, forced deletes, the Job (job.ts),
// uncordon) and returns the maintenance's new progress. Writes
// to a node carry its resourceVersion, so a cordon by someone else between our
// read and our write is never taken for ours.
import type { ReconcileContext } from '../../operator/controller.ts';
import { KubeApiError, isConflict, isNotFound } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core, objectPath } from '../../operator/kube/resources.ts';
import type { PodInfo, Step } from './drain.ts';
import { CORDONED_BY_ANNOTATION, nextStep } from './drain.ts';
import type { HistoryEntry, ScheduledEntry } from './planner.ts';
import type { MaintenanceAction } from './schema.ts';
import type { ActionResult } from './metrics.ts';
import { drainResult } from './metrics.ts';
import type { JobObject, JobState, NamespaceChoice } from './job.ts';
import { jobState, maintenanceJob, maintenanceJobName } from './job.ts';

/** What the Job step needs: where Jobs may run and the plan that owns them. */
export type JobContext = {
  namespace: NamespaceChoice;
  owner: { name: string; uid?: string; apiVersion: string; kind: string };
};

type NodeObject = KubeObject & { spec?: { unschedulable?: boolean } };
type PodObject = KubeObject & {
  metadata: { deletionTimestamp?: string; ownerReferences?: { kind: string }[] };
  spec?: { volumes?: { emptyDir?: unknown }[] };
  status?: { phase?: string };
};

export type MaintenanceOutcome = {
  /** The entry, still InProgress; absent when the maintenance finished. */
  entry?: ScheduledEntry;
  finished?: HistoryEntry;
  /** When to look again. */
  retryMs: number;
  /** What happened, for an Event on the node. */
  events: { reason: string; message: string; type: 'Normal' | 'Warning' }[];
  /** Actions taken, by type and result (metrics). */
  actions: ActionResult[];
};

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
/** Steps taken in one reconcile before handing back (cordon → evict is one pass). */
const MAX_STEPS = 4;

function podInfo(p: PodObject): PodInfo {
  return {
    namespace: p.metadata.namespace ?? '',
    name: p.metadata.name,
    ...(p.metadata.uid ? { uid: p.metadata.uid } : {}),
    annotations: p.metadata.annotations ?? {},
    ownerKinds: (p.metadata.ownerReferences ?? []).map((o) => o.kind),
    ...(p.status?.phase ? { phase: p.status.phase } : {}),
    terminating: !!p.metadata.deletionTimestamp,
    emptyDir: (p.spec?.volumes ?? []).some((v) => v.emptyDir !== undefined),
  };
}

/** Evicts each pod; true when every eviction was accepted (or the pod is gone), false on a 429. */
async function evict(ctx: ReconcileContext, pods: readonly PodInfo[], grace?: number): Promise<string[]> {
  const refused: string[] = [];
  for (const p of pods) {
    try {
      await ctx.client.request('POST', objectPath(core.pod, p.name, p.namespace, 'eviction'), {
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: p.name, namespace: p.namespace },
          ...(grace !== undefined ? { deleteOptions: { gracePeriodSeconds: grace } } : {}),
        },
      });
    } catch (e) {
      if (isNotFound(e)) continue;
      // 429: a PodDisruptionBudget does not allow it now; retried with backoff until the timeout
      if (e instanceof KubeApiError && e.status === 429) refused.push(`${p.namespace}/${p.name}`);
      else throw e;
    }
  }
  return refused;
}

/** Runs one maintenance as far as it can go now. */
export async function advanceMaintenance(
  ctx: ReconcileContext,
  plan: string,
  actions: readonly MaintenanceAction[],
  start: ScheduledEntry,
  now: Date,
  jobContext?: JobContext,
): Promise<MaintenanceOutcome> {
  let entry: ScheduledEntry = { ...start };
  const events: MaintenanceOutcome['events'] = [];
  const done: ActionResult[] = [];
  const grace = actions.find((a) => a.type === 'Drain')?.drain?.gracePeriodSeconds;
  const jobSpec = actions.find((a) => a.type === 'Job')?.job;
  for (let i = 0; i < MAX_STEPS; i++) {
    const node = await ctx.client.get<NodeObject>(core.node, entry.node);
    const pods = node
      ? (
          await ctx.client.list<PodObject>(core.pod, { fieldSelector: `spec.nodeName=${entry.node}` })
        ).items.map(podInfo)
      : [];
    const state = node
      ? {
          unschedulable: node.spec?.unschedulable === true,
          ...(node.metadata.annotations?.[CORDONED_BY_ANNOTATION]
            ? { cordonedBy: node.metadata.annotations[CORDONED_BY_ANNOTATION] }
            : {}),
        }
      : undefined;
    // the Job's name follows from the maintenance id: after a restart the same Job is found
    const jobRef =
      entry.job ??
      (jobSpec && entry.id && jobContext && 'namespace' in jobContext.namespace
        ? { namespace: jobContext.namespace.namespace, name: maintenanceJobName(plan, entry.id, entry.node) }
        : undefined);
    let job: JobState | undefined;
    if (jobSpec && node && jobRef && entry.id)
      job = jobState(await ctx.client.get<JobObject>(core.job, jobRef.name, jobRef.namespace), entry.id);
    // found after a restart that lost the status write of its creation: record it
    if (jobRef && job && job.phase !== 'Absent' && job.phase !== 'Foreign' && !entry.job)
      entry = { ...entry, progress: 'JobRunning', currentAction: 'Job', job: jobRef };
    const step: Step = nextStep({ plan, entry, actions, node: state, pods, now, ...(job ? { job } : {}) });
    const rv = node?.metadata.resourceVersion;
    done.push(...drainResult(step, entry, actions, job));
    switch (step.kind) {
      case 'cordon':
        await ctx.client.patch(core.node, entry.node, undefined, 'merge', {
          metadata: { resourceVersion: rv, annotations: { [CORDONED_BY_ANNOTATION]: plan } },
          spec: { unschedulable: true },
        });
        entry = { ...entry, progress: 'Cordoned', currentAction: 'Cordon', message: 'cordoned' };
        done.push({ action: 'cordon', result: 'success' });
        events.push({ type: 'Normal', reason: 'Cordoned', message: `MaintenancePlan ${plan}: cordoned` });
        continue;
      case 'evict': {
        const refused = await evict(ctx, step.pods, grace);
        done.push(
          { action: 'evict', result: 'success', count: step.pods.length - refused.length },
          { action: 'evict', result: 'failure', count: refused.length },
        );
        entry = {
          ...entry,
          progress: 'Draining',
          currentAction: 'Drain',
          message: refused.length
            ? `eviction refused (429, a PodDisruptionBudget) for ${refused.slice(0, 5).join(', ')}; retrying`
            : step.message,
        };
        return { entry, retryMs: step.retryMs, events, actions: done };
      }
      case 'force':
        for (const p of step.pods)
          await ctx.client.delete(core.pod, p.name, p.namespace, p.uid ? { uid: p.uid } : {});
        done.push({ action: 'evict', result: 'timeout', count: step.pods.length });
        entry = { ...entry, progress: 'Draining', currentAction: 'Drain', message: step.message };
        events.push({
          type: 'Warning',
          reason: 'DrainForced',
          message: `MaintenancePlan ${plan}: ${step.message}`,
        });
        return { entry, retryMs: 2_000, events, actions: done };
      case 'createJob': {
        if (!jobSpec || !entry.id || !jobContext || !('namespace' in jobContext.namespace)) {
          // only after a configuration change mid-maintenance: the planner starts no Job it cannot place
          const why = jobContext && 'error' in jobContext.namespace ? jobContext.namespace.error : 'no Job';
          entry = { ...entry, message: `drained; waiting to run the maintenance Job: ${why}` };
          return { entry, retryMs: 30_000, events, actions: done };
        }
        const manifest = maintenanceJob({
          plan: jobContext.owner,
          node: entry.node,
          id: entry.id,
          namespace: jobContext.namespace.namespace,
          job: jobSpec,
        });
        try {
          await ctx.client.create(core.job, manifest);
        } catch (e) {
          // created before a restart that lost the status write: the next look reads it
          if (!isConflict(e)) throw e;
        }
        const ref = { namespace: jobContext.namespace.namespace, name: manifest.metadata.name };
        entry = {
          ...entry,
          progress: 'JobRunning',
          currentAction: 'Job',
          job: ref,
          message: `drained; maintenance Job ${ref.namespace}/${ref.name} created`,
        };
        events.push({
          type: 'Normal',
          reason: 'MaintenanceJobCreated',
          message: `MaintenancePlan ${plan}: drained; Job ${ref.namespace}/${ref.name} runs on the node`,
        });
        continue;
      }
      case 'uncordon':
        await ctx.client.patch(core.node, entry.node, undefined, 'merge', {
          metadata: { resourceVersion: rv, annotations: { [CORDONED_BY_ANNOTATION]: null } },
          spec: { unschedulable: null },
        });
        entry = {
          ...entry,
          progress: step.result === 'Succeeded' ? 'Done' : 'Aborted',
          currentAction: 'Uncordon',
          message: `${step.message}; uncordoned`,
        };
        events.push({ type: 'Normal', reason: 'Uncordoned', message: `MaintenancePlan ${plan}: uncordoned` });
        done.push({ action: 'uncordon', result: 'success' });
        continue;
      case 'wait':
        entry = {
          ...entry,
          message:
            entry.job && entry.progress === 'JobRunning'
              ? `${step.message}: ${entry.job.namespace}/${entry.job.name}`
              : step.message,
        };
        return { entry, retryMs: step.retryMs, events, actions: done };
      case 'finish': {
        const message =
          entry.progress === 'Done' || entry.progress === 'Aborted'
            ? (entry.message ?? step.message)
            : step.message;
        if (step.leftCordoned)
          events.push({
            type: 'Warning',
            reason: 'LeftCordoned',
            message: `MaintenancePlan ${plan}: ${message}`,
          });
        events.push({
          type: step.result === 'Succeeded' ? 'Normal' : 'Warning',
          reason: step.result === 'Succeeded' ? 'MaintenanceSucceeded' : 'MaintenanceFailed',
          message: `MaintenancePlan ${plan}: ${message}`,
        });
        return {
          finished: {
            node: entry.node,
            startTime: entry.startTime ?? iso(now),
            completionTime: iso(now),
            result: step.result,
            ...(entry.risk !== undefined ? { risk: entry.risk } : {}),
            message: message.slice(0, 1024),
          },
          retryMs: 0,
          events,
          actions: done,
        };
      }
    }
  }
  return { entry, retryMs: 1_000, events, actions: done };
}
