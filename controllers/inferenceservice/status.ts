// Pure: the status of an InferenceService from what was observed of its
// revisions and what the rollout decided. Ready becomes True when the stable
// revision has at least minReplicas ready pods and nothing blocks it; once
// Ready, it stays True while no more of them are down than the
// PodDisruptionBudget allows (a restarting pod, a drain), with phase Degraded.
// The kind's own conditions say where the model, the canary and the rollout are.
import type { ReconcileFailure } from '../../operator/failure.ts';
import type { Condition, ConditionInput, ReasonMessage } from '../../operator/conditions.ts';
import { metaTime, Reason, summarize } from '../../operator/conditions.ts';
import type { PodFailure } from '../../operator/kube/workloads.ts';
import { isSchedulingFailure } from '../../operator/kube/workloads.ts';
import type { FieldError } from '../../operator/schema/validation.ts';
import { formatFieldErrors } from '../../operator/schema/validation.ts';
import type { Blocker } from '../shared/skeleton-status.ts';
import type { InferenceServiceObject, ServingSpec } from './desired.ts';
import { PDB_MAX_UNAVAILABLE, scalingOf, serviceUrl, stableServing } from './desired.ts';
import type { CanaryProgress, RevisionHealth, RollbackNotice, RolloutDecision } from './rollout.ts';
import type { InferenceServicePhase } from './schema.ts';

export interface StatusObservation {
  generation: number;
  errors: FieldError[];
  /** Children failed to apply or to be pruned, as classified by operator/failure.ts (the message names each). */
  applyError?: ReconcileFailure;
  /** A rollback decided but not in effect yet (its Deployment or traffic children failed). */
  pendingRollback?: RollbackNotice;
  /** Kafka and other dependency blockers, most important first. */
  blockers: Blocker[];
  /** Extra conditions reported as given (e.g. KafkaReady). */
  extra: Omit<ConditionInput, 'observedGeneration'>[];
  /** Revision of the current spec. */
  desired: string;
  decision?: RolloutDecision;
  /** Health of the live revisions after the decision (by revision). */
  health: Record<string, RevisionHealth>;
  /** Serving spec of the stable revision (for status.model). */
  stableServing?: ServingSpec;
  traffic: { revision: string; percent: number }[];
  /** A note about the analysis (e.g. skipped without Prometheus). */
  analysisNote?: string;
  /**
   * Ready pods the stable revision needs: minReplicas, or during a canary its
   * share of them (the canary takes the rest). Default minReplicas.
   */
  stableTarget?: number;
}

export interface InferenceServiceStatusOut {
  observedGeneration: number;
  conditions: Condition[];
  [field: string]: unknown;
}

type PreviousStatus = {
  conditions?: Condition[];
  lastFailure?: { reason: string; message: string; revision?: string; time: string };
  [field: string]: unknown;
};

function cond(type: string, status: 'True' | 'False' | 'Unknown', rm: ReasonMessage) {
  return { type, status, reason: rm.reason, message: rm.message };
}

export function inferenceServiceStatus(
  obj: InferenceServiceObject,
  obs: StatusObservation,
  previous: PreviousStatus | undefined,
  now: Date,
): InferenceServiceStatusOut {
  // without a decision (invalid spec) the previous status stays as it was; with one it is
  // kept even when children failed, so what was decided (a rollback) is not decided again
  if (obs.errors.length > 0 || !obs.decision) {
    const verdict =
      obs.errors.length > 0
        ? { reason: Reason.InvalidSpec, message: formatFieldErrors(obs.errors) }
        : { reason: Reason.ApplyFailed, message: 'children were not applied' };
    const conditions = summarize(
      {
        generation: obs.generation,
        ready: { status: 'False', ...verdict },
        stalled: verdict,
        extra: obs.extra,
      },
      previous?.conditions,
      now,
    );
    return { ...previous, observedGeneration: obs.generation, conditions, phase: 'Failed' };
  }

  const decision = obs.decision;
  const { stable, canary, lastRolledBack } = decision.revisions;
  const stableRev = stable as string;
  const stableHealth = obs.health[stableRev] ?? { replicas: 0, readyReplicas: 0 };
  const canaryHealth = canary ? (obs.health[canary] ?? { replicas: 0, readyReplicas: 0 }) : undefined;
  const min = canary && obs.stableTarget !== undefined ? obs.stableTarget : scalingOf(obj.spec).min;
  const held = obs.desired === lastRolledBack && stableRev !== obs.desired;

  // lastFailure: a rollback now, a failing stable revision, or what was there before
  let lastFailure = previous?.lastFailure;
  const record = (f: { reason: string; message: string; revision?: string }) => {
    if (lastFailure && lastFailure.reason === f.reason && lastFailure.revision === f.revision) return;
    lastFailure = {
      reason: f.reason,
      message: f.message,
      ...(f.revision ? { revision: f.revision } : {}),
      time: metaTime(now),
    };
  };
  if (decision.action === 'rolledBack' && decision.failure) {
    lastFailure = {
      reason: Reason.RolledBack,
      message: `revision ${decision.failure.revision} was rolled back (${decision.failure.reason}): ${decision.failure.message}`,
      revision: decision.failure.revision,
      time: metaTime(now),
    };
  }
  const stableFailure: PodFailure | undefined = stableHealth.failure;
  if (stableFailure && stableHealth.readyReplicas < min) record({ ...stableFailure, revision: stableRev });

  // ModelLoaded: the stable revision has a ready pod (readiness means the model is loaded)
  const modelLoaded =
    stableHealth.readyReplicas > 0
      ? cond('ModelLoaded', 'True', {
          reason: 'ModelLoaded',
          message: `revision ${stableRev} serves model version ${obs.stableServing?.model.version ?? '?'} on ${stableHealth.readyReplicas} ready pod(s)`,
        })
      : stableFailure
        ? cond('ModelLoaded', 'False', stableFailure)
        : cond('ModelLoaded', 'False', {
            reason: Reason.Progressing,
            message: `waiting for a ready pod of revision ${stableRev}`,
          });

  // CanaryHealthy
  let canaryHealthy;
  if (canary && canaryHealth) {
    if (decision.failure) canaryHealthy = cond('CanaryHealthy', 'False', decision.failure);
    else if (canaryHealth.replicas > 0 && canaryHealth.readyReplicas >= canaryHealth.replicas) {
      const p = decision.progress;
      canaryHealthy = cond('CanaryHealthy', 'True', {
        reason: 'CanaryReady',
        message: `canary revision ${canary} is ready${p?.promoting ? ' and being promoted (scaling up to the full replica count)' : ''}${p?.lastCheckMessage ? `; ${p.passedChecks} check(s) passed, ${p.failedChecks} failed; last: ${p.lastCheckMessage}` : ''}${obs.analysisNote ? `; ${obs.analysisNote}` : ''}`,
      });
    } else {
      canaryHealthy = cond('CanaryHealthy', 'Unknown', {
        reason: Reason.Progressing,
        message: `waiting for the pods of canary revision ${canary} (${canaryHealth.readyReplicas}/${canaryHealth.replicas} ready)`,
      });
    }
  } else if (held && lastFailure) {
    canaryHealthy = cond('CanaryHealthy', 'False', {
      reason: Reason.RolledBack,
      message: lastFailure.message,
    });
  } else {
    canaryHealthy = cond('CanaryHealthy', 'True', { reason: 'NoCanary', message: 'no canary is running' });
  }

  // RolloutComplete
  const stableReady = stableHealth.readyReplicas >= min;
  // a revision that was Ready keeps serving with up to the disruption budget's pods down
  const wasReady =
    previous?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') === true &&
    (previous.revisions as { stable?: string } | undefined)?.stable === stableRev;
  const stableServes =
    stableReady ||
    (wasReady && stableHealth.readyReplicas > 0 && stableHealth.readyReplicas >= min - PDB_MAX_UNAVAILABLE);
  let rolloutComplete;
  if (held && obs.pendingRollback) {
    rolloutComplete = cond('RolloutComplete', 'False', {
      reason: Reason.RolledBack,
      message: `revision ${obs.pendingRollback.revision} is being rolled back to ${stableRev}; until its children are removed it may still serve (see Ready)`,
    });
  } else if (held) {
    rolloutComplete = cond('RolloutComplete', 'False', {
      reason: Reason.RolledBack,
      message: `revision ${obs.desired} was rolled back; revision ${stableRev} keeps serving. Change the spec to roll out again.`,
    });
  } else if (canary) {
    const share = obs.traffic.find((t) => t.revision === canary)?.percent ?? 0;
    rolloutComplete = cond('RolloutComplete', 'False', {
      reason: Reason.Progressing,
      message: `canary revision ${canary} gets ${share}% of traffic; revision ${stableRev} serves the rest`,
    });
  } else if (stableRev === obs.desired && stableReady) {
    rolloutComplete = cond('RolloutComplete', 'True', {
      reason: Reason.Reconciled,
      message: `revision ${stableRev} serves all traffic`,
    });
  } else {
    rolloutComplete = cond('RolloutComplete', 'False', {
      reason: Reason.Progressing,
      message: `waiting for revision ${stableRev} to have ${min} ready pod(s) (${stableHealth.readyReplicas} ready)`,
    });
  }

  // Ready and the kstatus summary
  let ready: { status: 'True' | 'False' | 'Unknown' } & ReasonMessage;
  let stalled: ReasonMessage | null = null;
  let reconciling: ReasonMessage | null = null;
  const blocker = obs.blockers[0];
  if (obs.applyError) {
    // the children are not what the spec asks for: say which and why, before anything else
    const failed = { reason: obs.applyError.reason, message: obs.applyError.message };
    ready = { status: 'False', ...failed };
    if (obs.applyError.transient) reconciling = failed;
    else stalled = failed;
  } else if (stableFailure && !stableServes) {
    ready = { status: 'False', reason: stableFailure.reason, message: stableFailure.message };
    if (isSchedulingFailure(stableFailure)) reconciling = stableFailure;
    else stalled = stableFailure;
  } else if (held) {
    ready = { status: 'False', reason: Reason.RolledBack, message: rolloutComplete.message };
    stalled = { reason: Reason.RolledBack, message: lastFailure?.message ?? rolloutComplete.message };
  } else if (canary && decision.failure && !isSchedulingFailure(decision.failure as PodFailure)) {
    // failing canary without autoRollback: a person has to decide
    ready = { status: 'False', ...decision.failure };
    stalled = decision.failure;
  } else if (blocker) {
    ready = { status: 'False', reason: blocker.reason, message: blocker.message };
    if (blocker.transient) reconciling = blocker;
    else stalled = blocker;
  } else if (!stableServes) {
    const msg = {
      reason: Reason.Progressing,
      message: `revision ${stableRev} has ${stableHealth.readyReplicas} of ${min} ready pod(s)`,
    };
    ready = { status: 'False', ...msg };
    reconciling = msg;
  } else if (!stableReady) {
    const down = min - stableHealth.readyReplicas;
    ready = {
      status: 'True',
      reason: Reason.Reconciled,
      message: `revision ${stableRev} serves with ${stableHealth.readyReplicas} of ${min} ready pod(s); ${down} down, within the disruption budget (${PDB_MAX_UNAVAILABLE})${stableFailure ? `: ${stableFailure.message}` : ''}`,
    };
    reconciling = {
      reason: Reason.Progressing,
      message: `waiting for revision ${stableRev} to have ${min} ready pod(s) (${stableHealth.readyReplicas} ready)`,
    };
  } else {
    ready = {
      status: 'True',
      reason: Reason.Reconciled,
      message: `revision ${stableRev} serves with ${stableHealth.readyReplicas} ready pod(s)`,
    };
    if (canary) reconciling = { reason: Reason.Progressing, message: rolloutComplete.message };
  }

  const conditions = summarize(
    {
      generation: obs.generation,
      ready,
      stalled,
      reconciling,
      extra: [modelLoaded, canaryHealthy, rolloutComplete, ...obs.extra],
    },
    previous?.conditions,
    now,
  );

  let phase: InferenceServicePhase;
  if (stableHealth.readyReplicas === 0)
    phase = stableFailure && !isSchedulingFailure(stableFailure) ? 'Failed' : 'Pending';
  else if (canary) phase = 'Canary';
  else if (held || !stableReady) phase = 'Degraded';
  else if (stableRev !== obs.desired) phase = 'Progressing';
  else phase = 'Serving';

  const replicas = Object.values(obs.health).reduce((n, h) => n + h.replicas, 0);
  const readyReplicas = Object.values(obs.health).reduce((n, h) => n + h.readyReplicas, 0);
  const model = obs.stableServing?.model;
  const progress: CanaryProgress | undefined = canary ? decision.progress : undefined;
  const out: InferenceServiceStatusOut = {
    observedGeneration: obs.generation,
    conditions,
    phase,
    url: serviceUrl(obj),
    revisions: { ...decision.revisions },
    traffic: obs.traffic,
    canaryPercent: canary ? (obs.traffic.find((t) => t.revision === canary)?.percent ?? 0) : 0,
    replicas,
    readyReplicas,
    ...(model
      ? {
          model: {
            version: model.version,
            uri: model.uri,
            ...(model.sha256 ? { sha256: model.sha256 } : {}),
          },
        }
      : {}),
    ...(obs.stableServing ? { stable: stableServing(stableRev, obs.stableServing) } : {}),
    ...(progress ? { canary: progress } : {}),
    ...(lastFailure ? { lastFailure } : {}),
    ...(obs.pendingRollback ? { pendingRollback: obs.pendingRollback } : {}),
  };
  return out;
}
