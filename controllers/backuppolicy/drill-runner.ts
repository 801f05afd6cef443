// Runs a BackupPolicy's restore drill, one step per reconcile (drill.ts has
// the decisions):
//   1. due (schedule or ymera.io/drill-now): pick the latest Completed
//      backup, check the scratch namespace may be used (a previous drill's
//      namespace is deleted first and the drill waits until it is gone),
//      record the drill in status, restore into the namespace with the
//      restore engine and compare every object with the manifest;
//   2. wait (requeued) until every restored InferenceService is Ready, or the
//      timeout;
//   3. compare the served model digests, record the result and the RTO, and
//      delete the namespace unless keepNamespace.
// The drill under way lives in status.activeDrill, so an operator restart
// picks it up where it was (a restore cut short is simply run again: it
// overwrites).
import type { Logger } from '../../operator/logger.ts';
import type { KubeClient } from '../../operator/kube/client.ts';
import { KubeApiError } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { kinds } from '../../operator/schema/kinds.ts';
import { getCondition, metaTime } from '../../operator/conditions.ts';
import type { Condition } from '../../operator/conditions.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import { crd as inferenceServiceCrd } from '../inferenceservice/schema.ts';
import { restoreBackup } from '../restore/engine.ts';
import type { Keyring } from './crypto.ts';
import {
  checkRestoredObjects,
  checkServedModels,
  DEFAULT_DRILL_TIMEOUT_MINUTES,
  DRILL_NAMESPACE_LABEL,
  DRILL_NOW_ANNOTATION,
  drillMessage,
  drillNamespaceVerdict,
  drillOwnerLabel,
  drillVerdict,
  planDrill,
} from './drill.ts';
import type { PolicyRef } from './format.ts';
import { untilMs } from './plan.ts';
import type { BackupPolicySpec, BackupPolicyStatus } from './schema.ts';
import { listBackups } from './store.ts';

export type ActiveDrill = NonNullable<BackupPolicyStatus['activeDrill']>;
export type LastDrill = NonNullable<BackupPolicyStatus['lastDrill']>;

/** The drill's part of the policy's status. */
export type DrillState = {
  activeDrill?: ActiveDrill | undefined;
  lastDrill?: LastDrill | undefined;
  lastDrillScheduleTime?: string | undefined;
  drillNowToken?: string | undefined;
  nextDrillTime?: Date | undefined;
};

export type DrillDeps = {
  client: KubeClient;
  store: ObjectStore;
  policy: PolicyRef;
  keyring: Keyring | undefined;
  log: Logger;
  now: () => Date;
  /** Whether a cluster admin allowed this namespace for the policy's namespace. */
  granted: (namespace: string) => boolean;
  /** Persists the drill's state before a long step (the restore), so a crash resumes it. */
  save: (state: DrillState) => Promise<void>;
};

export type DrillPolicy = {
  metadata: KubeObject['metadata'];
  spec: Pick<BackupPolicySpec, 'drill' | 'suspend' | 'timeZone'>;
};

export type DrillStep = {
  state: DrillState;
  /** Look again after this long (a drill waiting for pods or a namespace). */
  requeueAfterMs?: number;
  /** A drill that ended in this reconcile. */
  finished?: LastDrill;
};

/** Status and the Event say at most this much. */
const MAX_MESSAGE = 4096;
const WAIT_MS = 5_000;
const inferenceServices = resourceTypeOf(inferenceServiceCrd);
/**
 * What a drill restores: everything a backup holds except BackupPolicies. A
 * restored policy would take backups and drills of its own from the scratch
 * namespace (and write them into the same bucket).
 */
const DRILL_KINDS: readonly string[] = [
  ...kinds.filter((d) => d.scope === 'Namespaced' && d.kind !== 'BackupPolicy').map((d) => d.kind),
  'ConfigMap',
  'Secret',
];

type InferenceServiceObject = KubeObject & {
  status?: { observedGeneration?: number; conditions?: Condition[]; model?: { sha256?: string } };
};

/** Whether an InferenceService is Ready for its current generation (kstatus). */
function ready(isvc: InferenceServiceObject): boolean {
  const status = isvc.status;
  if (!status || status.observedGeneration !== isvc.metadata.generation) return false;
  return getCondition(status.conditions, 'Ready')?.status === 'True';
}

/** Advances the policy's drill by one step (see the file comment). */
export async function advanceDrill(deps: DrillDeps, obj: DrillPolicy, state: DrillState): Promise<DrillStep> {
  const drill = obj.spec.drill;
  if (!drill) return { state: {} };
  const now = deps.now();
  const active = state.activeDrill;
  if (!active) return startDrill(deps, obj, drill, state, now);
  return continueDrill(deps, drill, state, active, now);
}

async function startDrill(
  deps: DrillDeps,
  obj: DrillPolicy,
  drill: NonNullable<BackupPolicySpec['drill']>,
  state: DrillState,
  now: Date,
): Promise<DrillStep> {
  const since = new Date(state.lastDrillScheduleTime ?? obj.metadata.creationTimestamp ?? now.toISOString());
  const plan = planDrill({
    schedule: drill.schedule,
    timeZone: obj.spec.timeZone,
    suspend: obj.spec.suspend,
    token: obj.metadata.annotations?.[DRILL_NOW_ANNOTATION],
    handledToken: state.drillNowToken,
    since,
    now,
  });
  const idle: DrillState = { ...state, nextDrillTime: plan.next };
  const run = plan.run;
  if (!run) return { state: idle, ...(plan.next ? { requeueAfterMs: untilMs(plan.next, now) } : {}) };

  const handled: DrillState =
    run.trigger === 'OnDemand'
      ? { ...idle, drillNowToken: run.token }
      : { ...idle, lastDrillScheduleTime: metaTime(run.scheduledAt) };
  const failNow = (message: string): DrillStep => {
    const finished: LastDrill = {
      time: metaTime(now),
      result: 'Failed',
      trigger: run.trigger,
      message: message.slice(0, MAX_MESSAGE),
    };
    return { state: { ...handled, activeDrill: undefined, lastDrill: finished }, finished };
  };

  const namespace = drill.targetNamespace;
  let existing: KubeObject | undefined;
  try {
    existing = await deps.client.get<KubeObject>(core.namespace, namespace);
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 403)
      return failNow(
        `the operator may not manage namespaces, which a drill needs for ${namespace} (Helm value rbac.drills)`,
      );
    throw e;
  }
  const verdict = drillNamespaceVerdict({
    policyNamespace: deps.policy.namespace,
    policyName: deps.policy.name,
    target: namespace,
    granted: deps.granted(namespace),
    existing,
  });
  if (!verdict.ok) {
    // a namespace being deleted (the previous drill's) is waited for, not a failure
    if (verdict.reason === 'NamespaceTerminating') return { state, requeueAfterMs: WAIT_MS };
    return failNow(verdict.message);
  }
  if (existing) {
    // the previous drill's namespace (kept for inspection): replaced, so nothing stale is compared
    await deps.client.delete(core.namespace, namespace); // a missing one counts as deleted
    return { state, requeueAfterMs: WAIT_MS };
  }

  const completed = (await listBackups(deps.store, deps.policy)).filter((b) => b.state === 'Completed');
  const latest = completed[0];
  if (!latest) return failNow('no Completed backup to restore yet');

  const activeDrill: ActiveDrill = {
    backupId: latest.id,
    namespace,
    trigger: run.trigger,
    ...(run.trigger === 'OnDemand' ? { token: run.token } : { scheduledAt: metaTime(run.scheduledAt) }),
    startedAt: metaTime(now),
  };
  // recorded first: a crash during the restore resumes this drill, and the token or
  // scheduled time is not taken again
  const started: DrillState = { ...handled, activeDrill };
  await deps.save(started);
  return restoreInto(deps, drill, started, activeDrill);
}

async function restoreInto(
  deps: DrillDeps,
  drill: NonNullable<BackupPolicySpec['drill']>,
  state: DrillState,
  active: ActiveDrill,
): Promise<DrillStep> {
  const result = await restoreBackup(deps.client, deps.store, deps.policy, active.backupId, deps.keyring, {
    targetNamespace: active.namespace,
    createNamespace: true,
    kinds: DRILL_KINDS,
    conflictPolicy: 'Overwrite',
    dryRun: false,
    labels: { [DRILL_NAMESPACE_LABEL]: drillOwnerLabel(deps.policy.namespace, deps.policy.name) },
    // the drill restores objects only: model files stay where they are (it must never
    // write to the locations production reads)
    modelArtifacts: false,
    requireEncryption: deps.keyring !== undefined,
  });
  if (!result.ok) {
    const finished = ended(active, deps.now(), 'Failed', `backup ${active.backupId}: ${result.message}`);
    if (!drill.keepNamespace) await deps.client.delete(core.namespace, active.namespace);
    return { state: { ...state, activeDrill: undefined, lastDrill: finished }, finished };
  }
  const check = checkRestoredObjects(result.objects);
  deps.log.info('drill restored its backup', {
    policy: `${deps.policy.namespace}/${deps.policy.name}`,
    backup: active.backupId,
    namespace: active.namespace,
    objects: check.objectsChecked,
  });
  const restored: ActiveDrill = {
    ...active,
    restoredAt: metaTime(deps.now()),
    objectsChecked: check.objectsChecked,
    mismatches: check.mismatches,
    models: check.models,
  };
  return { state: { ...state, activeDrill: restored }, requeueAfterMs: 1_000 };
}

async function continueDrill(
  deps: DrillDeps,
  drill: NonNullable<BackupPolicySpec['drill']>,
  state: DrillState,
  active: ActiveDrill,
  now: Date,
): Promise<DrillStep> {
  // restore not finished (the operator stopped during it): run it again, it overwrites
  if (!active.restoredAt) return restoreInto(deps, drill, state, active);

  const list = await deps.client.list<InferenceServiceObject>(inferenceServices, {
    namespace: active.namespace,
  });
  const notReady = list.items.filter((i) => !ready(i)).map((i) => i.metadata.name);
  const timeoutMs = (drill.timeoutMinutes ?? DEFAULT_DRILL_TIMEOUT_MINUTES) * 60_000;
  const elapsedMs = now.getTime() - Date.parse(active.startedAt);
  const objects = {
    objectsChecked: active.objectsChecked ?? 0,
    mismatches: active.mismatches ?? [],
    models: active.models ?? [],
  };
  let finished: LastDrill;
  if (notReady.length > 0) {
    if (elapsedMs < timeoutMs) return { state, requeueAfterMs: WAIT_MS };
    const verdict = drillVerdict(objects, {
      mismatches: [
        `${notReady.length} of ${list.items.length} InferenceServices not Ready after ${Math.round(elapsedMs / 60_000)} min: ${notReady.slice(0, 10).join(', ')}`,
      ],
      unverified: [],
    });
    finished = ended(active, now, 'Failed', drillMessage(verdict, active.backupId, undefined), verdict);
  } else {
    const served = new Map(list.items.map((i) => [i.metadata.name, i.status?.model?.sha256]));
    const verdict = drillVerdict(objects, checkServedModels(objects.models, served));
    const rtoSeconds = elapsedMs / 1000;
    finished = ended(
      active,
      now,
      verdict.passed ? 'Passed' : 'Failed',
      drillMessage(verdict, active.backupId, rtoSeconds),
      verdict,
      rtoSeconds,
    );
  }
  if (!drill.keepNamespace) await deps.client.delete(core.namespace, active.namespace);
  return { state: { ...state, activeDrill: undefined, lastDrill: finished }, finished };
}

function ended(
  active: ActiveDrill,
  now: Date,
  result: LastDrill['result'],
  message: string,
  counts?: { objectsChecked: number; modelsChecked: number },
  rtoSeconds?: number,
): LastDrill {
  return {
    time: metaTime(now),
    backupId: active.backupId,
    result,
    trigger: active.trigger,
    ...(rtoSeconds !== undefined ? { rtoSeconds: Math.round(rtoSeconds * 10) / 10 } : {}),
    ...(counts ? { objectsChecked: counts.objectsChecked, modelsChecked: counts.modelsChecked } : {}),
    message: message.slice(0, MAX_MESSAGE),
  };
}
