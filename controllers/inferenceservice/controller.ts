// InferenceService controller: the thin I/O loop around the pure parts.
//   observe  Deployments and serving pods (both from the cache) per revision
//   decide   rollout.ts: which revisions are live, promote or roll back
//            (after an analysis check against Prometheus when one is due)
//   apply    desired.ts: ConfigMap, a Deployment per live revision, Service,
//            HPA, PDB, rules (and, with the Gateway API and a Gateway named,
//            a Service per revision and a weighted HTTPRoute); children no
//            longer desired are pruned
//   report   status.ts, Events and CloudEvents for what happened
import { ChildrenFailedError } from '../../operator/child-failures.ts';
import { Reason } from '../../operator/conditions.ts';
import type { ReconcileContext, Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import { ruleObjectType, uniqueTypes } from '../../operator/integrations.ts';
import { EventType } from '../../operator/kafka/events.ts';
import type { ReconcileFailure } from '../../operator/failure.ts';
import { classifyFailure, FailureReported } from '../../operator/failure.ts';
import { FIELD_MANAGER } from '../../operator/kube/client.ts';
import { httpRoute } from '../../operator/kube/gateway.ts';
import { ownsAlone } from '../../operator/kube/managed-fields.ts';
import { core, keyOf } from '../../operator/kube/resources.ts';
import type { DeploymentObject, PodObject } from '../../operator/kube/workloads.ts';
import { deploymentFailure, firstPodFailure, isPodReady } from '../../operator/kube/workloads.ts';
import { servingFailure } from './failure.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { changedReady, publishReadyChange } from '../shared/ready-change.ts';
import { declaredTopicsOf, topicPolicyOf } from '../shared/topics.ts';
import { topicAllowed } from '../../operator/kafka/topic-policy.ts';
import { analysisSettings, runCheck } from './analysis.ts';
import type { InferenceServiceObject, ServingPlan, ServingSpec } from './desired.ts';
import {
  canaryWeightOf,
  COMPONENT_LABEL,
  currentRevision,
  declaredTopics,
  desiredChildren,
  desiredRevision,
  leavesReplicasToHpa,
  replicaPlan,
  REVISION_LABEL,
  revisionOf,
  rollbackChildren,
  routedByGateway,
  SERVING_COMPONENT,
  SERVING_SPEC_ANNOTATION,
  servingSpecOf,
  stableFromStatus,
  trafficSplit,
  withLoggingAllowed,
} from './desired.ts';
import type {
  CanaryProgress,
  CheckResult,
  RevisionHealth,
  Revisions,
  RollbackNotice,
  RolloutDecision,
} from './rollout.ts';
import {
  analysisDue,
  decideRollout,
  nextCheckInMs,
  plannedRevisions,
  rollbackInEffect,
  rollbackNotice,
} from './rollout.ts';
import { evictPod, HealingMetrics, readSignals } from './heal.ts';
import type { HealingDecision, HealingStatus, Replacement } from './healing.ts';
import {
  decideHealing,
  deploymentRollingOut,
  EvictionMemory,
  healingStatusWith,
  HealingConditionReason,
  healingPodOf,
  healingRequeueMs,
  podReplacedEvent,
  recordReplacement,
} from './healing.ts';
import { crd } from './schema.ts';
import type { InferenceServiceStatusOut } from './status.ts';
import { inferenceServiceStatus } from './status.ts';
import { validateInferenceService } from './validate.ts';

/** How long a canary must be up and healthy before promotion when no analysis runs. */
export const CANARY_SOAK_MS = 10_000;
/** How often a rollout in progress (or pods not yet ready) is looked at again (pod changes enqueue too; this covers soak and analysis timing). */
const POLL_MS = 5_000;
const FAILING_POLL_MS = 30_000;
/** Field manager that takes over spec.replicas from us when an HPA starts managing a Deployment. */
export const REPLICAS_HANDOVER_MANAGER = 'ymera-operator-handover';

interface HealingOutcome {
  condition: { type: 'Healing'; status: 'True' | 'False'; reason: string; message: string };
  status: HealingStatus;
  /** A pod evicted in this reconcile: told once status is written. */
  replaced?: Replacement;
}

type PreviousStatus = {
  conditions?: InferenceServiceStatusOut['conditions'];
  revisions?: Revisions;
  canary?: CanaryProgress;
  lastFailure?: { reason: string; message: string; revision?: string; time: string };
  pendingRollback?: RollbackNotice;
  stable?: unknown;
  [field: string]: unknown;
};

export function inferenceServiceReconciler(integrations: Integrations): Reconciler<InferenceServiceObject> {
  const resource = resourceTypeOf(crd);
  const owns = uniqueTypes([
    core.configMap,
    core.deployment,
    core.service,
    core.hpa,
    core.pdb,
    ruleObjectType(integrations.rules),
    // only when the CRD was served at start-up: an informer on a missing CRD never syncs
    ...(integrations.gatewayApi ? [httpRoute] : []),
  ]);
  const topics = declaredTopicsOf<InferenceServiceObject>(resource, integrations, declaredTopics);
  const topicPolicy = topicPolicyOf(integrations);
  const healingMetrics = new HealingMetrics(integrations.registry);
  const evicted = new EvictionMemory();

  return {
    name: 'inferenceservice',
    resource,
    owns,
    watchesLabelled: [core.pod],

    async reconcile(ctx, obj) {
      const now = ctx.now();
      const generation = obj.metadata.generation ?? 0;
      const previous = obj.status as PreviousStatus | undefined;
      const errors = validateInferenceService(obj.spec);
      if (errors.length > 0) {
        const status = inferenceServiceStatus(
          obj,
          { generation, errors, blockers: [], extra: [], desired: '', health: {}, traffic: [] },
          previous,
          now,
        );
        await writeAndTell(ctx, obj, previous, status, undefined);
        return undefined;
      }

      // observe
      const deployments = new Map<string, DeploymentObject>();
      for (const d of ctx.childrenOf(obj, core.deployment) as DeploymentObject[]) {
        const rev = d.metadata.labels?.[REVISION_LABEL];
        if (rev) deployments.set(rev, d);
      }
      const servingSpecs: Record<string, ServingSpec> = {};
      // the stable revision's spec from status survives a deleted stable Deployment
      const kept = stableFromStatus(previous);
      if (kept) servingSpecs[kept.revision] = kept.serving;
      else if (previous?.stable)
        ctx.log.warn('status.stable does not match its revision; ignored', {
          revision: previous.revisions?.stable,
        });
      for (const [rev, d] of deployments) {
        if (servingSpecs[rev]) continue;
        const text = d.metadata.annotations?.[SERVING_SPEC_ANNOTATION];
        if (!text) continue;
        try {
          const serving = JSON.parse(text) as ServingSpec;
          // only a spec that hashes to the revision rebuilds it (an edited annotation does not)
          if (revisionOf(serving) === rev) servingSpecs[rev] = serving;
          else
            ctx.log.warn('serving spec annotation does not match the revision', {
              deployment: d.metadata.name,
            });
        } catch {
          ctx.log.warn('unreadable serving spec annotation', { deployment: d.metadata.name });
        }
      }
      // a live revision that serves what the spec asks for keeps its name (batching is not part of it)
      const live = [previous?.revisions?.stable, previous?.revisions?.canary].flatMap((revision) =>
        revision && servingSpecs[revision] ? [{ revision, serving: servingSpecs[revision] }] : [],
      );
      const desired = desiredRevision(obj.spec, live, previous?.revisions?.lastRolledBack);
      const known = (rev: string) => rev === desired || servingSpecs[rev] !== undefined;
      const pods = ctx.cachedIn(core.pod, obj.metadata.namespace, (p) => {
        const labels = p.metadata.labels ?? {};
        return (
          labels['ymera.io/inferenceservice'] === obj.metadata.name &&
          labels[COMPONENT_LABEL] === SERVING_COMPONENT
        );
      }) as PodObject[];
      const health = (rev: string): RevisionHealth => {
        const d = deployments.get(rev);
        const own = pods.filter((p) => p.metadata.labels?.[REVISION_LABEL] === rev);
        const failure = servingFailure(firstPodFailure(own)) ?? (d ? deploymentFailure(d) : undefined);
        return {
          replicas: d?.spec?.replicas ?? 0,
          readyReplicas: own.filter(isPodReady).length,
          ...(failure ? { failure } : {}),
        };
      };

      // decide (with one analysis check when it is due)
      const previousRevisions = previous?.revisions ?? {};
      const planned = plannedRevisions(desired, previousRevisions, known);
      const analysisSpec = obj.spec.rollout?.analysis;
      const settings = analysisSettings(obj.spec);
      const analysis = settings && integrations.prometheus ? settings : undefined;
      const analysisNote =
        settings && !integrations.prometheus
          ? 'analysis skipped: the operator has no Prometheus configured (--prometheus-url)'
          : undefined;
      const canaryHealth = planned.canary ? health(planned.canary) : undefined;
      let check: CheckResult | undefined;
      if (
        planned.canary &&
        analysis &&
        analysisSpec &&
        integrations.prometheus &&
        canaryHealth &&
        canaryHealth.replicas > 0 &&
        canaryHealth.readyReplicas >= canaryHealth.replicas &&
        analysisDue(previous?.canary, planned.canary, analysis, now)
      ) {
        check = await runCheck(
          integrations.prometheus,
          { namespace: obj.metadata.namespace ?? '', name: obj.metadata.name, revision: planned.canary },
          analysisSpec,
          analysis.intervalMs,
        );
        ctx.log.info('canary check', {
          revision: planned.canary,
          outcome: check.outcome,
          message: check.message,
        });
      }
      const decision: RolloutDecision = decideRollout({
        desired,
        previous: previousRevisions,
        progress: previous?.canary,
        known,
        canary: canaryHealth,
        autoRollback: obj.spec.rollout?.autoRollback ?? true,
        analysis,
        check,
        soakMs: CANARY_SOAK_MS,
        fullReplicas: replicaPlan(
          obj.spec,
          false,
          deployments.get(previousRevisions.stable ?? '')?.spec?.replicas,
        ).total,
        now,
      });
      const stable = decision.revisions.stable as string;
      const canary = decision.revisions.canary;

      // apply
      const plan: ServingPlan = {
        stable,
        ...(canary ? { canary } : {}),
        servingSpecs,
        observedStableReplicas: deployments.get(stable)?.spec?.replicas,
        ...(decision.progress?.promoting ? { promoting: true } : {}),
      };
      let failed: ChildrenFailedError | undefined;
      try {
        await handOverReplicas(ctx, obj, deployments.get(stable));
        await ctx.applyChildren(
          obj,
          desiredChildren(
            withLoggingAllowed(obj, (ns, topic) => topicAllowed(topicPolicy, ns, topic)),
            integrations.rules,
            plan,
            integrations.kafkaBrokers,
            integrations.gatewayApi,
          ),
          owns,
        );
      } catch (e) {
        // every child was tried and the undesired pruned: status still records what was decided
        if (!(e instanceof ChildrenFailedError)) throw e;
        failed = e;
      }
      const applyError: ReconcileFailure | undefined = failed ? classifyFailure(failed) : undefined;
      const rollback = rollbackNotice(decision, previous?.pendingRollback, (revision) =>
        rollbackInEffect(failed?.failures ?? [], rollbackChildren(obj.metadata.name, revision)),
      );
      const kafka = await topics.reconcile(ctx, obj);

      // report
      const routed = routedByGateway(obj.spec, integrations.gatewayApi);
      const replicas = replicaPlan(
        obj.spec,
        canary !== undefined,
        plan.observedStableReplicas,
        plan.promoting,
        routed,
      );
      const liveHealth: Record<string, RevisionHealth> = { [stable]: health(stable) };
      if (canary) liveHealth[canary] = health(canary);
      const stablePods = pods.filter((p) => p.metadata.labels?.[REVISION_LABEL] === stable);
      const healed = await heal(ctx, obj, previous, now, {
        stable,
        canary,
        replicas: deployments.get(stable)?.spec?.replicas ?? 0,
        pods: stablePods,
        unhealthy: canary
          ? `canary revision ${canary} is being analysed`
          : rollback.pending
            ? `revision ${rollback.pending.revision} is being rolled back`
            : applyError
              ? `children failed to apply (${applyError.reason})`
              : stable !== desired
                ? `revision ${desired} is rolling out`
                : (deploymentRollingOut(deployments.get(stable), stablePods) ??
                  liveHealth[stable]?.failure?.message),
      });
      const status = inferenceServiceStatus(
        obj,
        {
          generation,
          errors: [],
          ...(applyError ? { applyError } : {}),
          ...(rollback.pending ? { pendingRollback: rollback.pending } : {}),
          blockers: topics.blockers(kafka),
          extra: [...topics.conditions(kafka), ...(healed ? [healed.condition] : [])],
          desired,
          decision,
          health: liveHealth,
          // the serving spec that hashes to the stable revision's name (an older one may hold batching)
          stableServing:
            servingSpecs[stable] ?? (stable === currentRevision(obj) ? servingSpecOf(obj.spec) : undefined),
          traffic: trafficSplit(
            { stable, ...(canary ? { canary } : {}) },
            replicas,
            routed ? canaryWeightOf(obj.spec) : undefined,
          ),
          analysisNote,
          stableTarget: replicas.stableEffective,
        },
        previous,
        now,
      );
      try {
        await writeAndTell(
          ctx,
          obj,
          previous,
          { ...status, ...topics.statusFields(obj, kafka), ...(healed ? { healing: healed.status } : {}) },
          decision,
          rollback.announce,
        );
      } finally {
        // the eviction is done: told even when the status write failed (the next one records it)
        if (healed?.replaced) await tellReplaced(ctx, obj, healed.replaced);
      }
      // status says it; the runtime retries with backoff, a refusal too (a raised quota or a lifted
      // policy needs no change to this object)
      if (applyError) throw new FailureReported(applyError);

      const waits: number[] = [];
      const kafkaRetryMs = topics.retryAfterMs(kafka);
      if (kafkaRetryMs !== undefined) waits.push(kafkaRetryMs);
      const healths = Object.values(liveHealth);
      const starting = healths.some(
        (h) => h.failure === undefined && (h.readyReplicas < h.replicas || h.replicas === 0),
      );
      // pods that fail without a canary to roll back need a spec change (or capacity): look less often
      const failing = healths.some((h) => h.failure !== undefined);
      if (canary || starting) waits.push(POLL_MS);
      else if (failing || rollback.pending) waits.push(FAILING_POLL_MS);
      const nextCheck = canary ? nextCheckInMs(decision.progress, analysis, now) : undefined;
      if (nextCheck !== undefined) waits.push(Math.max(1_000, nextCheck));
      if (obj.spec.healing) waits.push(healingRequeueMs(obj.spec.healing));
      return waits.length > 0 ? { requeueAfterMs: Math.min(...waits) } : undefined;
    },

    forget(key) {
      // a deleted object's last eviction must not outlive it
      evicted.forget(key);
      return Promise.resolve();
    },

    needsFinalizer(_ctx, obj) {
      return topics.needsFinalizer(obj);
    },

    async finalize(ctx, obj) {
      const declared = await topics.finalize(ctx, obj);
      integrations.events.publish({
        resource,
        object: obj,
        type: EventType.Deleted,
        discriminator: obj.metadata.uid ?? '',
        data: { topics: declared },
      });
    },
  };

  /**
   * Before the stable Deployment's replicas are left to the HPA: when our apply
   * owns them alone, leaving them out would reset them to 1, so another field
   * manager first takes them over at the current count (server-side apply's
   * ownership transfer). The HPA takes them from there when it scales.
   * resourceVersion makes it hand over exactly the count that was observed.
   */
  async function handOverReplicas(
    ctx: ReconcileContext,
    obj: InferenceServiceObject,
    stable: DeploymentObject | undefined,
  ): Promise<void> {
    if (!stable || !leavesReplicasToHpa(obj.spec, true)) return;
    if (!ownsAlone(stable, FIELD_MANAGER, ['spec', 'replicas'])) return;
    await ctx.client.apply(
      core.deployment,
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {
          name: stable.metadata.name,
          namespace: stable.metadata.namespace,
          resourceVersion: stable.metadata.resourceVersion,
        },
        spec: { replicas: stable.spec?.replicas },
      },
      { fieldManager: REPLICAS_HANDOVER_MANAGER, force: false },
    );
    ctx.log.info('replicas handed over to the HPA', { deployment: stable.metadata.name });
  }

  /**
   * Self-healing (spec.healing): at most one pod at a time, evicted through
   * the Eviction API, the next only once the replacement is Ready. Returns
   * the Healing condition and status.healing; undefined without spec.healing.
   */
  async function heal(
    ctx: ReconcileContext,
    obj: InferenceServiceObject,
    previous: PreviousStatus | undefined,
    now: Date,
    seen: { stable: string; canary?: string; replicas: number; pods: PodObject[]; unhealthy?: string },
  ): Promise<HealingOutcome | undefined> {
    const spec = obj.spec.healing;
    const key = keyOf(obj.metadata);
    if (!spec) {
      evicted.forget(key);
      return undefined;
    }
    // an eviction newer than what status says (its write failed, or the cache has not caught up)
    const before = healingStatusWith(
      (previous?.healing ?? {}) as HealingStatus,
      evicted.recall(key, obj.metadata.uid),
    );
    const { pending, lastReplacementTime } = before;
    const base = {
      spec,
      pods: seen.pods.map(healingPodOf),
      replicas: seen.replicas,
      ...(seen.unhealthy ? { unhealthy: seen.unhealthy } : {}),
      ...(pending ? { pending } : {}),
      ...(lastReplacementTime ? { lastReplacementTime } : {}),
      now,
    };
    const keep = (
      d: Extract<HealingDecision, { action: 'none' }>,
      status: 'True' | 'False',
    ): HealingOutcome => {
      const { pending: _done, ...rest } = before;
      return {
        condition: { type: 'Healing', status, reason: d.reason, message: d.message },
        status: d.clearPending ? rest : before,
      };
    };
    let decision = decideHealing(base);
    if (decision.action === 'none' && decision.reason === HealingConditionReason.Watching) {
      const clear = decision.clearPending ? { clearPending: true } : {};
      if (!integrations.prometheus)
        return keep(
          {
            action: 'none',
            ...clear,
            reason: HealingConditionReason.MetricsUnavailable,
            message: 'healing needs Prometheus: the operator has no --prometheus-url',
          },
          'False',
        );
      try {
        const signals = await readSignals(
          integrations.prometheus,
          obj.metadata.namespace ?? '',
          obj.metadata.name,
          spec,
        );
        decision = decideHealing({ ...base, signals });
      } catch (e) {
        ctx.log.warn('healing metrics not read', { error: e });
        return keep(
          {
            action: 'none',
            ...clear,
            reason: HealingConditionReason.MetricsUnavailable,
            message: `healing metrics not read: ${(e as Error).message}`,
          },
          'False',
        );
      }
    }
    if (decision.action === 'none') return keep(decision, decision.replacing ? 'True' : 'False');

    const { candidate } = decision;
    const namespace = obj.metadata.namespace ?? '';
    const result = await evictPod(ctx, namespace, candidate.pod);
    if (result.outcome === 'forbidden')
      return keep(
        {
          action: 'none',
          clearPending: true,
          reason: HealingConditionReason.EvictionForbidden,
          message: `${candidate.reason}: ${candidate.message}; the operator may not evict pods (grant pods/eviction create: chart value rbac.inferenceServiceHealing): ${result.message}`,
        },
        'False',
      );
    if (result.outcome === 'blocked') {
      ctx.log.info('healing eviction refused', { pod: candidate.pod, message: result.message });
      return keep(
        {
          action: 'none',
          clearPending: true, // a candidate is chosen only once any earlier replacement is done
          reason: HealingConditionReason.DisruptionBlocked,
          message: `${candidate.reason}: ${candidate.message}; eviction refused (a PodDisruptionBudget allows no disruption now): ${result.message}`,
        },
        'False',
      );
    }
    const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const replacement: Replacement = {
      pod: candidate.pod,
      ...(candidate.revision ? { revision: candidate.revision } : {}),
      reason: candidate.reason,
      message: candidate.message,
      time,
    };
    const nowPending = { pod: candidate.pod, reason: candidate.reason, time };
    evicted.remember(key, obj.metadata.uid, { pending: nowPending, replacement });
    healingMetrics.replacedPod(candidate.reason);
    ctx.log.info('pod replaced by healing', {
      pod: candidate.pod,
      reason: candidate.reason,
      message: candidate.message,
    });
    return {
      condition: {
        type: 'Healing',
        status: 'True',
        reason: HealingConditionReason.Replacing,
        message: `pod ${candidate.pod} was evicted (${candidate.reason}); waiting for its replacement to be Ready`,
      },
      status: {
        ...before,
        lastReplacementTime: time,
        pending: nowPending,
        replacements: recordReplacement(before.replacements, replacement),
      },
      replaced: replacement,
    };
  }

  /** The Event and CloudEvent of a replacement (the eviction is done: told even if status lags). */
  async function tellReplaced(
    ctx: ReconcileContext,
    obj: InferenceServiceObject,
    r: Replacement,
  ): Promise<void> {
    await ctx.event(obj, 'Normal', 'PodReplaced', 'Heal', `Replaced ${r.reason}: ${r.message}`);
    integrations.events.publish(podReplacedEvent(resource, obj, r));
  }

  /** Writes status; tells users (Events) and consumers (CloudEvents) what changed. */
  async function writeAndTell(
    ctx: ReconcileContext,
    obj: InferenceServiceObject,
    previous: PreviousStatus | undefined,
    status: InferenceServiceStatusOut,
    decision: RolloutDecision | undefined,
    /** A rollback now in effect (decided now or earlier): told here, never before. */
    rolledBack?: RollbackNotice,
  ): Promise<void> {
    const wrote = await ctx.writeStatus(resource, obj, status);
    if (!wrote) return;
    const generation = obj.metadata.generation ?? 0;
    switch (decision?.action) {
      case 'started': {
        const canary = decision.revisions.canary ?? '';
        const share = (status.traffic as { revision: string; percent: number }[]).find(
          (t) => t.revision === canary,
        )?.percent;
        await ctx.event(
          obj,
          'Normal',
          'CanaryStarted',
          'Rollout',
          `Canary revision ${canary} started with ${share ?? 0}% of traffic; revision ${decision.revisions.stable} keeps serving`,
        );
        break;
      }
      case 'promoted': {
        const stable = decision.revisions.stable ?? '';
        await ctx.event(
          obj,
          'Normal',
          'Promoted',
          'Rollout',
          `Revision ${stable} was promoted to stable and serves all traffic`,
        );
        integrations.events.publish({
          resource,
          object: obj,
          type: EventType.RolloutCompleted,
          discriminator: stable,
          data: { revision: stable, previous: previous?.revisions?.stable, generation, model: status.model },
        });
        break;
      }
    }
    if (rolledBack) {
      const message = `Revision ${rolledBack.revision} was rolled back to ${rolledBack.stable}: ${rolledBack.reason}: ${rolledBack.message}`;
      await ctx.event(obj, 'Warning', 'RolledBack', 'Rollback', message);
      integrations.events.publish({
        resource,
        object: obj,
        type: EventType.RollbackPerformed,
        discriminator: rolledBack.revision,
        data: {
          revision: rolledBack.revision,
          stable: rolledBack.stable,
          reason: rolledBack.reason,
          message: rolledBack.message,
          generation,
        },
      });
    }
    const after = changedReady(previous?.conditions, status.conditions);
    if (after) {
      const normal = after.status === 'True' || after.reason === 'Progressing';
      // a rollback is told with its own Event of the same reason, once it is in effect
      if (after.reason !== Reason.RolledBack)
        await ctx.event(obj, normal ? 'Normal' : 'Warning', after.reason, 'Reconcile', after.message);
      publishReadyChange(integrations.events, resource, obj, after);
    }
  }
}
