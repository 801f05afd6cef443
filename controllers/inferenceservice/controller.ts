// InferenceService controller: the thin I/O loop around the pure parts.
//   observe  Deployments and serving pods (both from the cache) per revision
//   decide   rollout.ts: which revisions are live, promote or roll back
//            (after an analysis check against Prometheus when one is due)
//   apply    desired.ts: ConfigMap, a Deployment per live revision, Service,
//            HPA, PDB, rules (and, with the Gateway API and a Gateway named,
//            a Service per revision and a weighted HTTPRoute); children no
//            longer desired are pruned
//   report   status.ts, Events and CloudEvents for what happened
import type { ReconcileContext, Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import { ruleObjectType, uniqueTypes } from '../../operator/integrations.ts';
import { EventType } from '../../operator/kafka/events.ts';
import type { ReconcileFailure } from '../../operator/failure.ts';
import { classifyFailure, FailureReported } from '../../operator/failure.ts';
import { httpRoute } from '../../operator/kube/gateway.ts';
import { core } from '../../operator/kube/resources.ts';
import type { DeploymentObject, PodObject } from '../../operator/kube/workloads.ts';
import { deploymentFailure, firstPodFailure, isPodReady } from '../../operator/kube/workloads.ts';
import { servingFailure } from './failure.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { changedReady, publishReadyChange } from '../shared/ready-change.ts';
import { declaredTopicsOf } from '../shared/topics.ts';
import { analysisSettings, runCheck } from './analysis.ts';
import type { InferenceServiceObject, ServingPlan, ServingSpec } from './desired.ts';
import {
  canaryWeightOf,
  COMPONENT_LABEL,
  currentRevision,
  declaredTopics,
  desiredChildren,
  replicaPlan,
  REVISION_LABEL,
  revisionOf,
  routedByGateway,
  SERVING_COMPONENT,
  SERVING_SPEC_ANNOTATION,
  servingSpecOf,
  trafficSplit,
} from './desired.ts';
import type { CanaryProgress, CheckResult, RevisionHealth, Revisions, RolloutDecision } from './rollout.ts';
import { analysisDue, decideRollout, nextCheckInMs, plannedRevisions } from './rollout.ts';
import { crd } from './schema.ts';
import type { InferenceServiceStatusOut } from './status.ts';
import { inferenceServiceStatus } from './status.ts';
import { validateInferenceService } from './validate.ts';

/** How long a canary must be up and healthy before promotion when no analysis runs. */
export const CANARY_SOAK_MS = 10_000;
/** How often a rollout in progress (or pods not yet ready) is looked at again (pod changes enqueue too; this covers soak and analysis timing). */
const POLL_MS = 5_000;
const FAILING_POLL_MS = 30_000;

type PreviousStatus = {
  conditions?: InferenceServiceStatusOut['conditions'];
  revisions?: Revisions;
  canary?: CanaryProgress;
  lastFailure?: { reason: string; message: string; revision?: string; time: string };
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
      const desired = currentRevision(obj);
      const deployments = new Map<string, DeploymentObject>();
      for (const d of ctx.childrenOf(obj, core.deployment) as DeploymentObject[]) {
        const rev = d.metadata.labels?.[REVISION_LABEL];
        if (rev) deployments.set(rev, d);
      }
      const servingSpecs: Record<string, ServingSpec> = {};
      for (const [rev, d] of deployments) {
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
      let applyError: ReconcileFailure | undefined;
      try {
        await ctx.applyChildren(
          obj,
          desiredChildren(obj, integrations.rules, plan, integrations.kafkaBrokers, integrations.gatewayApi),
          owns,
        );
      } catch (e) {
        // a refused child is written with the rest of the status; a retryable failure goes to the runtime
        applyError = classifyFailure(e);
        if (applyError.transient) throw e;
      }
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
      const status = inferenceServiceStatus(
        obj,
        {
          generation,
          errors: [],
          applyError,
          blockers: topics.blockers(kafka),
          extra: topics.conditions(kafka),
          desired,
          decision,
          health: liveHealth,
          stableServing: stable === desired ? servingSpecOf(obj.spec) : servingSpecs[stable],
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
      await writeAndTell(ctx, obj, previous, { ...status, ...topics.statusFields(obj, kafka) }, decision);
      // status says it; the runtime retries with backoff (a raised quota needs no change to this object)
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
      else if (failing) waits.push(FAILING_POLL_MS);
      const nextCheck = canary ? nextCheckInMs(decision.progress, analysis, now) : undefined;
      if (nextCheck !== undefined) waits.push(Math.max(1_000, nextCheck));
      return waits.length > 0 ? { requeueAfterMs: Math.min(...waits) } : undefined;
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

  /** Writes status; tells users (Events) and consumers (CloudEvents) what changed. */
  async function writeAndTell(
    ctx: ReconcileContext,
    obj: InferenceServiceObject,
    previous: PreviousStatus | undefined,
    status: InferenceServiceStatusOut,
    decision: RolloutDecision | undefined,
  ): Promise<void> {
    const wrote = await ctx.writeStatus(resource, obj, status);
    if (!wrote) return;
    const generation = obj.metadata.generation ?? 0;
    const failure = decision?.failure;
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
      case 'rolledBack': {
        const message = `Revision ${failure?.revision} was rolled back to ${decision.revisions.stable}: ${failure?.reason}: ${failure?.message}`;
        await ctx.event(obj, 'Warning', 'RolledBack', 'Rollback', message);
        integrations.events.publish({
          resource,
          object: obj,
          type: EventType.RollbackPerformed,
          discriminator: failure?.revision ?? '',
          data: {
            revision: failure?.revision,
            stable: decision.revisions.stable,
            reason: failure?.reason,
            message: failure?.message,
            generation,
          },
        });
        break;
      }
    }
    const after = changedReady(previous?.conditions, status.conditions);
    if (after) {
      const normal = after.status === 'True' || after.reason === 'Progressing';
      // a rollback was just told with its own Event of the same reason
      const told = decision?.action === 'rolledBack' && after.reason === 'RolledBack';
      if (!told)
        await ctx.event(obj, normal ? 'Normal' : 'Warning', after.reason, 'Reconcile', after.message);
      publishReadyChange(integrations.events, resource, obj, after);
    }
  }
}
