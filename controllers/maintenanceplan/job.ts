// Pure: the maintenance Job of one node (after its drain, before its
// uncordon), where it may run, and what its status says. The Job's name is a
// function of the plan and the maintenance id, so an operator restart finds
// the Job it created instead of starting a second one. The Job runs in a
// namespace a cluster admin allowed (--maintenance-job-namespaces), never in
// the operator's own, which stays at the `restricted` Pod Security level.
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { MANAGED_BY } from '../../operator/ownership.ts';
import type { MaintenanceAction } from './schema.ts';

export type JobSpec = NonNullable<MaintenanceAction['job']>;

/** Job annotations: which plan, node and maintenance the Job belongs to. */
export const JOB_PLAN_ANNOTATION = 'ymera.io/maintenance-plan';
export const JOB_NODE_ANNOTATION = 'ymera.io/maintenance-node';
export const JOB_ID_ANNOTATION = 'ymera.io/maintenance-id';
/** The taint a cordon puts on a node: the Job must tolerate it (nodeName bypasses the scheduler, not this). */
export const UNSCHEDULABLE_TAINT = 'node.kubernetes.io/unschedulable';
/** Finished Jobs are kept a week for their logs, then the Job controller deletes them. */
export const JOB_TTL_SECONDS = 7 * 86_400;
/** The Job is judged by its own deadline; past that plus this slack the plan fails it itself. */
export const JOB_DEADLINE_SLACK_MS = 120_000;

const NAME_MAX = 63;

/**
 * `maint-<node>-<hash>`: a DNS label of at most 63 characters (Job names
 * become pod label values), the hash over the plan and the maintenance id so
 * distinct maintenances of one node get distinct Jobs.
 */
export function maintenanceJobName(plan: string, id: string, node: string): string {
  const hash = createHash('sha256').update(`${plan}\n${id}`).digest('hex').slice(0, 10);
  const room = NAME_MAX - 'maint-'.length - hash.length - 1;
  const part = node
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, room)
    .replace(/^-+|-+$/g, '');
  return part ? `maint-${part}-${hash}` : `maint-${hash}`;
}

export type NamespaceChoice = { namespace: string } | { error: string };

/**
 * Where the Job of a plan runs: job.namespace when the operator allows it,
 * else the first allowed namespace. None allowed: an error saying how to
 * allow one.
 */
export function jobNamespace(job: JobSpec, allowed: readonly string[]): NamespaceChoice {
  if (!allowed.length)
    return {
      error:
        'the operator allows no namespace for maintenance Jobs: start it with --maintenance-job-namespaces (chart value maintenancePlan.jobNamespaces)',
    };
  if (job.namespace === undefined) return { namespace: allowed[0]! };
  if (allowed.includes(job.namespace)) return { namespace: job.namespace };
  return {
    error: `job.namespace ${job.namespace} is not one the operator allows for maintenance Jobs (${allowed.join(', ')}; --maintenance-job-namespaces)`,
  };
}

export type JobInput = {
  plan: { name: string; uid?: string; apiVersion: string; kind: string };
  node: string;
  id: string;
  namespace: string;
  job: JobSpec;
};

/** The Job for one node's maintenance. */
export function maintenanceJob(input: JobInput): KubeObject {
  const { job, node, plan } = input;
  const privileged = job.privileged ?? false;
  const env = [
    ...(job.env ?? []),
    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
  ];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: maintenanceJobName(plan.name, input.id, node),
      namespace: input.namespace,
      labels: { 'app.kubernetes.io/managed-by': MANAGED_BY, 'app.kubernetes.io/part-of': 'ymera' },
      annotations: {
        [JOB_PLAN_ANNOTATION]: plan.name,
        [JOB_NODE_ANNOTATION]: node,
        [JOB_ID_ANNOTATION]: input.id,
      },
      // garbage-collected with the plan; no blockOwnerDeletion (it needs rights on the plan's finalizers)
      ...(plan.uid
        ? {
            ownerReferences: [
              {
                apiVersion: plan.apiVersion,
                kind: plan.kind,
                name: plan.name,
                uid: plan.uid,
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      backoffLimit: job.backoffLimit ?? 0,
      activeDeadlineSeconds: job.timeoutSeconds ?? 1800,
      ttlSecondsAfterFinished: JOB_TTL_SECONDS,
      template: {
        metadata: {
          labels: { 'app.kubernetes.io/managed-by': MANAGED_BY, 'app.kubernetes.io/part-of': 'ymera' },
        },
        spec: {
          nodeName: node,
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          ...(privileged ? { hostPID: true } : {}),
          tolerations: [
            { key: UNSCHEDULABLE_TAINT, operator: 'Exists', effect: 'NoSchedule' },
            ...(job.tolerations ?? []),
          ],
          containers: [
            {
              name: 'maintenance',
              image: job.image,
              ...(job.command ? { command: job.command } : {}),
              ...(job.args ? { args: job.args } : {}),
              env,
              ...(job.resources ? { resources: job.resources } : {}),
              securityContext: privileged ? { privileged: true } : { allowPrivilegeEscalation: false },
            },
          ],
        },
      },
    },
  };
}

export type JobObject = KubeObject & {
  status?: {
    startTime?: string;
    succeeded?: number;
    failed?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
};

/** A maintenance Job as the drain engine sees it. */
export type JobState =
  | { phase: 'Absent' }
  | { phase: 'Foreign'; message: string }
  | { phase: 'Running'; startedAt?: number }
  | { phase: 'Succeeded'; message: string }
  | { phase: 'Failed'; message: string };

/** What a Job's status says; a Job of that name that is not this maintenance's is Foreign. */
export function jobState(job: JobObject | undefined, id: string): JobState {
  if (!job) return { phase: 'Absent' };
  const ref = `Job ${job.metadata.namespace ?? ''}/${job.metadata.name}`;
  if (job.metadata.annotations?.[JOB_ID_ANNOTATION] !== id)
    return { phase: 'Foreign', message: `${ref} exists and is not this maintenance's (${id})` };
  const cond = (type: string) => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
  if (cond('Complete')) return { phase: 'Succeeded', message: `${ref} succeeded` };
  const failed = cond('Failed');
  if (failed)
    return {
      phase: 'Failed',
      message: `${ref} failed: ${failed.reason ?? 'Failed'}${failed.message ? ` (${failed.message})` : ''}`,
    };
  const started = Date.parse(job.status?.startTime ?? job.metadata.creationTimestamp ?? '');
  return Number.isFinite(started) ? { phase: 'Running', startedAt: started } : { phase: 'Running' };
}
