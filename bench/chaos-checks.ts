// Pure checks of the kill chaos (bench/chaos-kill.ts): given the custom
// resources and the children listed after the operator was killed and
// restarted many times, find what a crash at a bad moment would leave behind.
//
// - orphaned: a child whose controller owner is gone, or that its owner's
//   current desired state does not account for (a Job of a run the pipeline no
//   longer knows, a Deployment of a revision the service neither serves nor
//   analyses);
// - duplicate: two children for one identity (two Jobs for one step attempt,
//   two Deployments for one revision, two backups for one request);
// - lost status: a resource without status, without a Ready condition, or
//   whose observedGeneration is not its generation;
// - not converged: neither Ready=True nor a truthful terminal state
//   (Stalled=True, which says the failure is permanent and why).
import { ATTEMPT_LABEL, RUN_LABEL, STEP_LABEL } from '../controllers/learningpipeline/jobs.ts';
import { REVISION_LABEL } from '../controllers/inferenceservice/desired.ts';

export interface ChaosCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface ChaosObject {
  apiVersion?: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    annotations?: Record<string, string>;
    generation?: number;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
    deletionTimestamp?: string;
  };
  status?: {
    observedGeneration?: number;
    conditions?: ChaosCondition[];
    [field: string]: unknown;
  };
}

export interface Finding {
  /** Kind namespace/name of the object the finding is about. */
  object: string;
  detail: string;
}

export const describeObject = (o: ChaosObject): string =>
  `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

const conditionOf = (o: ChaosObject, type: string) => o.status?.conditions?.find((c) => c.type === type);

const controllerRef = (o: ChaosObject) => o.metadata.ownerReferences?.find((r) => r.controller);

/** Resources whose status is missing, stale (observedGeneration != generation) or without Ready. */
export function lostStatus(resources: readonly ChaosObject[]): Finding[] {
  const out: Finding[] = [];
  for (const r of resources) {
    if (r.metadata.deletionTimestamp) continue;
    const why = !r.status
      ? 'no status'
      : r.status.observedGeneration !== r.metadata.generation
        ? `observedGeneration ${String(r.status.observedGeneration)} != generation ${String(r.metadata.generation)}`
        : !conditionOf(r, 'Ready')
          ? 'no Ready condition'
          : undefined;
    if (why) out.push({ object: describeObject(r), detail: why });
  }
  return out;
}

/**
 * Work a resource was asked for that its status does not show done: a run or
 * backup request (annotation) not acted on yet, a run still going, a backup
 * still in progress. Annotations do not bump the generation, so
 * observedGeneration alone would not tell.
 */
export function pendingWork(r: ChaosObject): string | undefined {
  const annotations = r.metadata.annotations ?? {};
  const status = (r.status ?? {}) as {
    handled?: { runRequest?: string };
    runs?: { id?: string; phase?: string }[];
    backupNowToken?: string;
    lastBackup?: { phase?: string };
  };
  if (r.kind === 'LearningPipeline') {
    const requested = annotations['ymera.io/run'];
    if (requested && status.handled?.runRequest !== requested) return `run request ${requested} not acted on`;
    const going = (status.runs ?? []).find((x) => x.phase === 'Pending' || x.phase === 'Running');
    if (going) return `run ${String(going.id)} ${String(going.phase)}`;
  }
  if (r.kind === 'BackupPolicy') {
    const token = annotations['ymera.io/backup-now'];
    if (token && status.backupNowToken !== token) return `backup request ${token} not acted on`;
    if (status.lastBackup?.phase === 'InProgress') return 'backup in progress';
  }
  return undefined;
}

/**
 * Resources neither Ready=True nor Stalled=True (a permanent failure stated
 * with its reason), or with requested work not done (pendingWork).
 */
export function notConverged(resources: readonly ChaosObject[]): Finding[] {
  const out: Finding[] = [];
  for (const r of resources) {
    if (r.metadata.deletionTimestamp) continue;
    const pending = pendingWork(r);
    if (pending) {
      out.push({ object: describeObject(r), detail: pending });
      continue;
    }
    const ready = conditionOf(r, 'Ready');
    if (ready?.status === 'True' || conditionOf(r, 'Stalled')?.status === 'True') continue;
    out.push({
      object: describeObject(r),
      detail: ready
        ? `Ready=${ready.status} ${ready.reason ?? ''}: ${ready.message ?? ''}`.trim()
        : 'no Ready',
    });
  }
  return out;
}

/**
 * Whether the owner's current desired state accounts for the child: true
 * when it does or when the kind has no finer rule than "owner exists".
 */
export function accountedFor(owner: ChaosObject, child: ChaosObject): boolean {
  const labels = child.metadata.labels ?? {};
  if (owner.kind === 'LearningPipeline' && child.kind === 'Job' && labels[RUN_LABEL]) {
    const runs = (owner.status?.runs ?? []) as { id?: string }[];
    return runs.some((r) => r.id === labels[RUN_LABEL]);
  }
  if (owner.kind === 'InferenceService' && child.kind === 'Deployment' && labels[REVISION_LABEL]) {
    const revisions = (owner.status?.revisions ?? {}) as { stable?: string; canary?: string };
    return labels[REVISION_LABEL] === revisions.stable || labels[REVISION_LABEL] === revisions.canary;
  }
  return true;
}

/**
 * Children (objects carrying our managed-by label) whose controller owner is
 * not among `owners` (gone), that have no controller owner at all, or that
 * their owner's desired state does not account for. Children already being
 * deleted are on their way out and not counted.
 */
export function orphans(owners: readonly ChaosObject[], children: readonly ChaosObject[]): Finding[] {
  const byUid = new Map(owners.filter((o) => o.metadata.uid).map((o) => [o.metadata.uid, o]));
  const out: Finding[] = [];
  for (const child of children) {
    if (child.metadata.deletionTimestamp) continue;
    const ref = controllerRef(child);
    if (!ref) {
      out.push({ object: describeObject(child), detail: 'no controller ownerReference' });
      continue;
    }
    const owner = byUid.get(ref.uid);
    if (!owner || owner.metadata.deletionTimestamp) {
      out.push({
        object: describeObject(child),
        detail: `owner ${ref.kind} ${ref.name} (${ref.uid}) is gone`,
      });
      continue;
    }
    if (!accountedFor(owner, child)) {
      out.push({
        object: describeObject(child),
        detail: `not accounted for by the desired state of ${describeObject(owner)}`,
      });
    }
  }
  return out;
}

/**
 * What a child stands for, per owner: one step attempt of a run (Job), one
 * revision (Deployment), else its kind and name (which the API server keeps
 * unique, so such children never count as duplicates).
 */
export function childIdentity(child: ChaosObject): string {
  const owner = controllerRef(child)?.uid ?? '<none>';
  const l = child.metadata.labels ?? {};
  if (child.kind === 'Job' && l[RUN_LABEL] && l[STEP_LABEL] && l[ATTEMPT_LABEL])
    return `${owner} Job run=${l[RUN_LABEL]} step=${l[STEP_LABEL]} attempt=${l[ATTEMPT_LABEL]}`;
  if (child.kind === 'Deployment' && l[REVISION_LABEL])
    return `${owner} Deployment revision=${l[REVISION_LABEL]}`;
  return `${owner} ${child.kind} ${child.metadata.name}`;
}

/** Every child beyond the first for one identity (childIdentity). */
export function duplicates(children: readonly ChaosObject[]): Finding[] {
  const seen = new Map<string, ChaosObject>();
  const out: Finding[] = [];
  for (const child of children) {
    if (child.metadata.deletionTimestamp) continue;
    const id = childIdentity(child);
    const first = seen.get(id);
    if (first) out.push({ object: describeObject(child), detail: `same ${id} as ${first.metadata.name}` });
    else seen.set(id, child);
  }
  return out;
}

/** A backup in the store, as listBackups reports it. */
export interface StoredBackup {
  id: string;
  state: string;
}

/**
 * Backups of one policy beyond one per request: `requests` on-demand tokens
 * were set (scheduled runs aside); more complete backups than that means a
 * request was backed up twice (e.g. taken again after a crash). Incomplete
 * backups (no manifest: a crash midway) are not orphans: retention deletes
 * them once their grace period (24 h, DEFAULT_INCOMPLETE_GRACE_HOURS) has
 * passed, which keeps a deposed leader still uploading from having its parts
 * deleted under it; they are counted as `incomplete` for the report.
 */
export function backupFindings(
  policy: string,
  requests: number,
  stored: readonly StoredBackup[],
): { duplicates: Finding[]; incomplete: number } {
  const complete = stored.filter((b) => b.state !== 'Incomplete' && b.state !== 'Invalid');
  const extra = Math.max(0, complete.length - requests);
  return {
    duplicates: complete.slice(complete.length - extra).map((b) => ({
      object: `backup ${policy}/${b.id}`,
      detail: `${complete.length} backups for ${requests} requests`,
    })),
    incomplete: stored.filter((b) => b.state === 'Incomplete').length,
  };
}

export interface CheckSummary {
  objectsChecked: number;
  childrenChecked: number;
  lost: Finding[];
  orphaned: Finding[];
  duplicates: Finding[];
  notConverged: Finding[];
}

/** All checks over one listing. */
export function checkAll(
  resources: readonly ChaosObject[],
  children: readonly ChaosObject[],
  extra: { duplicates?: Finding[]; orphans?: Finding[] } = {},
): CheckSummary {
  return {
    objectsChecked: resources.length,
    childrenChecked: children.length,
    lost: lostStatus(resources),
    orphaned: [...orphans(resources, children), ...(extra.orphans ?? [])],
    duplicates: [...duplicates(children), ...(extra.duplicates ?? [])],
    notConverged: notConverged(resources),
  };
}

/** Converged and clean: what the chaos asserts at the end. */
export const clean = (s: CheckSummary): boolean =>
  s.lost.length === 0 && s.orphaned.length === 0 && s.duplicates.length === 0 && s.notConverged.length === 0;
