// MaintenancePlan controller: every spec.predictor.interval it lists the
// selected nodes, queries each signal once for all of them, scores them with
// the plan's ONNX model in one run (with contributions) and records risks, top
// signals and abstentions in status, metrics and Events; in Act mode it plans
// and runs maintenance (cordon, drain, Job) in windows.
// Decisions are pure (predict.ts, status.ts); this file is the I/O.
import type { ReconcileContext, Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { redactString } from '../../operator/logger.ts';
import { PrometheusQueryError } from '../../operator/prometheus/client.ts';
import { parseDuration } from '../../operator/schema/validation.ts';
import { ModelLoadError } from '../../runtime/model.ts';
import { selectorString } from '../backuppolicy/content.ts';
import { PlanMetrics } from './metrics.ts';
import type { SignalSample } from './predict.ts';
import { buildFeatures, groupByNode, predict } from './predict.ts';
import type { RiskModel } from './risk-model.ts';
import { loadRiskModel } from './risk-model.ts';
import type { MaintenancePlanSpec, MaintenancePlanStatus } from './schema.ts';
import { crd } from './schema.ts';
import type { NodeInfo } from './status.ts';
import {
  advanceRuns,
  atRiskNote,
  evaluatedStatus,
  evaluationWaitMs,
  failedStatus,
  runsFromStatus,
  selectNodes,
} from './status.ts';
import { validateMaintenancePlan } from './validate.ts';
import { advanceMaintenance } from './act.ts';
import type { HistoryEntry, ScheduledEntry } from './planner.ts';
import { planMaintenance } from './planner.ts';
import { massFlagCheck } from './predict.ts';
import { APPROVE_ANNOTATION } from './schema.ts';
import type { MaintenanceAction } from './schema.ts';
import type { ActState } from './status.ts';
import { metaTime } from '../../operator/conditions.ts';
import { lastMaintenanceFromNodes, recordLastMaintenance } from './cooldown.ts';
import { massFlagEvent, nodeAtRiskEvent, planEvents, stepEvents } from './events.ts';
import { PlanRules } from './alerts.ts';
import { ruleObjectType } from '../../operator/integrations.ts';
import type { JobContext } from './act.ts';
import { jobNamespace } from './job.ts';
import { drainPlanHold } from './drain-plan.ts';
import { readDrainPlans } from './drain-plan-io.ts';
import { CORDONED_BY_ANNOTATION } from './drain.ts';

const DEFAULT_ACTIONS: MaintenanceAction[] = [{ type: 'Cordon' }, { type: 'Drain' }, { type: 'Uncordon' }];

function actSupported(spec: MaintenancePlanSpec): boolean {
  return spec.mode === 'Act';
}

/** Why no maintenance may start: a Job action with no namespace the operator allows (job.ts). */
function jobProblem(spec: MaintenancePlanSpec, allowed: readonly string[]): string | undefined {
  const i = (spec.actions ?? DEFAULT_ACTIONS).findIndex((a) => a.type === 'Job');
  const job = spec.actions?.[i]?.job;
  if (!job) return undefined;
  const choice = jobNamespace(job, allowed);
  return 'error' in choice ? `spec.actions[${i}].job: ${choice.error}` : undefined;
}

function phaseOf(scheduled: readonly ScheduledEntry[]): MaintenancePlanStatus['phase'] {
  for (const state of ['InProgress', 'Scheduled', 'AwaitingApproval'] as const)
    if (scheduled.some((e) => e.state === state)) return state;
  return 'Idle';
}

export type MaintenancePlanObject = KubeObject & { spec: MaintenancePlanSpec };

const QUERY_TIMEOUT_MS = 10_000;
/** Retry of a transient failure (Prometheus down), at most the interval. */
const RETRY_MS = 15_000;

const NO_PROMETHEUS = {
  reason: 'PrometheusNotConfigured',
  message:
    'the operator has no Prometheus to query (start it with --prometheus-url); spec.signals cannot be read',
};

type Failure = { stalled?: Reason; reconciling?: Reason; predictor?: Reason };
type Reason = { reason: string; message: string };

class EvaluationFailed extends Error {
  readonly failure: Failure;
  constructor(failure: Failure) {
    super((failure.stalled ?? failure.reconciling)?.message);
    this.failure = failure;
  }
}

export function maintenancePlanReconciler(integrations: Integrations): Reconciler<MaintenancePlanObject> {
  const resource = resourceTypeOf(crd);
  const metrics = new PlanMetrics(integrations.registry);
  const rules = new PlanRules(integrations.rules, process.env.POD_NAMESPACE ?? 'ymera-system');
  /** Models by uri, sha256 and width: loaded once, shared by plans, closed when unused. */
  const models = new Map<string, Promise<RiskModel>>();
  const modelOf = new Map<string, string>();
  /** Per plan, each node's run of evaluations at or over the threshold (seeded from status after a restart). */
  const runs = new Map<string, Map<string, number>>();

  async function release(plan: string, keep?: string) {
    const key = modelOf.get(plan);
    if (key === undefined || key === keep) return;
    modelOf.delete(plan);
    if ([...modelOf.values()].includes(key)) return;
    const m = models.get(key);
    models.delete(key);
    await m?.then((x) => x.close()).catch(() => undefined);
  }

  /**
   * The model download's environment: the keys of credentialsSecret (in the
   * operator's namespace; the plan is cluster-scoped and only cluster admins
   * may write it) or, without one, the operator's own environment.
   */
  async function credentials(
    ctx: ReconcileContext,
    spec: MaintenancePlanSpec,
  ): Promise<Readonly<Record<string, string | undefined>>> {
    const ref = spec.predictor.model.credentialsSecret;
    if (!ref) return process.env;
    const namespace = process.env.POD_NAMESPACE ?? 'ymera-system';
    const field = 'spec.predictor.model.credentialsSecret';
    let secret: (KubeObject & { data?: Record<string, string> }) | undefined;
    try {
      secret = await ctx.client.get(core.secret, ref.name, namespace);
    } catch (e) {
      throw new EvaluationFailed({
        reconciling: { reason: 'CredentialsUnavailable', message: `${field}: ${(e as Error).message}` },
      });
    }
    if (!secret) {
      const r = {
        reason: 'CredentialsNotFound',
        message: `${field}: Secret ${namespace}/${ref.name} not found`,
      };
      throw new EvaluationFailed({ stalled: r, predictor: r });
    }
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  }

  async function model(
    plan: string,
    spec: MaintenancePlanSpec,
    env: Readonly<Record<string, string | undefined>>,
  ): Promise<RiskModel> {
    const { uri, sha256 } = spec.predictor.model;
    const key = `${uri}|${sha256 ?? ''}|${spec.signals.length}|${spec.predictor.model.credentialsSecret?.name ?? ''}`;
    await release(plan, key);
    let m = models.get(key);
    if (!m) {
      m = loadRiskModel(uri, { signals: spec.signals.length, env, ...(sha256 ? { sha256 } : {}) });
      models.set(key, m);
      // a failed load is not cached: the next interval tries again (e.g. after the file is fixed)
      m.catch(() => models.get(key) === m && models.delete(key));
    }
    modelOf.set(plan, key);
    try {
      return await m;
    } catch (e) {
      modelOf.delete(plan);
      // redacted: a fetch error may quote an Authorization header or URL userinfo
      const message = redactString(
        e instanceof ModelLoadError ? `${e.reason}: ${e.message}` : `cannot load: ${(e as Error).message}`,
      );
      const r = { reason: 'ModelLoadFailed', message: `spec.predictor.model ${uri}: ${message}` };
      throw new EvaluationFailed({ stalled: r, predictor: r });
    }
  }

  /** Each signal's samples, one query per signal for all nodes. */
  async function querySignals(spec: MaintenancePlanSpec): Promise<Map<string, Map<string, SignalSample>>> {
    const prometheus = integrations.prometheus;
    if (!prometheus) throw new EvaluationFailed({ stalled: NO_PROMETHEUS });
    const results = await Promise.all(
      spec.signals.map(async (signal, i) => {
        try {
          const r = await prometheus.query(signal.query, { timeoutMs: QUERY_TIMEOUT_MS });
          if (r.resultType !== 'vector')
            throw new EvaluationFailed({
              stalled: {
                reason: 'InvalidQuery',
                message: `spec.signals[${i}].query (${signal.name}) returns a ${r.resultType}, not an instant vector with one series per node`,
              },
            });
          return [signal.name, groupByNode(r.samples, signal.nodeLabel ?? 'node')] as const;
        } catch (e) {
          if (e instanceof EvaluationFailed) throw e;
          if (e instanceof PrometheusQueryError)
            throw new EvaluationFailed({
              stalled: {
                reason: 'InvalidQuery',
                message: `spec.signals[${i}].query (${signal.name}): ${e.message}`,
              },
            });
          throw new EvaluationFailed({
            reconciling: {
              reason: 'PrometheusUnavailable',
              message: redactString(`querying signal ${signal.name}: ${(e as Error).message}`),
            },
          });
        }
      }),
    );
    return new Map(results);
  }

  async function nodes(ctx: ReconcileContext, spec: MaintenancePlanSpec): Promise<KubeObject[]> {
    const labelSelector = selectorString(spec.nodeSelector);
    return (await ctx.client.list(core.node, labelSelector ? { labelSelector } : {})).items;
  }

  /**
   * Advances every running maintenance one step (act.ts); a finished one
   * moves to history (newest first, historyLimit kept). Events go on the node.
   */
  async function advanceAll(
    ctx: ReconcileContext,
    obj: MaintenancePlanObject,
    scheduled: readonly ScheduledEntry[],
    history: readonly HistoryEntry[],
    now: Date,
  ): Promise<{ scheduled: ScheduledEntry[]; history: HistoryEntry[]; retryMs: number }> {
    const plan = obj.metadata.name;
    const actions = obj.spec.actions ?? DEFAULT_ACTIONS;
    const job = actions.find((a) => a.type === 'Job')?.job;
    const jobContext: JobContext | undefined = job
      ? {
          namespace: jobNamespace(job, integrations.maintenanceJobNamespaces ?? []),
          owner: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name: plan,
            ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
          },
        }
      : undefined;
    const out: ScheduledEntry[] = [];
    const finished: HistoryEntry[] = [];
    let retryMs = Number.POSITIVE_INFINITY;
    for (const entry of scheduled) {
      if (entry.state !== 'InProgress') {
        out.push(entry);
        continue;
      }
      const r = await advanceMaintenance(ctx, plan, actions, entry, now, jobContext);
      metrics.acted(plan, r.actions);
      if (r.finished) metrics.finished(plan, r.finished);
      for (const ce of stepEvents(resource, obj, entry, r, now)) integrations.events.publish(ce);
      if (r.entry) out.push(r.entry);
      if (r.finished) finished.push(r.finished);
      // the cooldown's memory on the node: status.history is bounded (cooldown.ts)
      if (r.finished) await recordLastMaintenance(ctx, r.finished);
      if (r.entry) retryMs = Math.min(retryMs, r.retryMs);
      for (const ev of r.events) {
        ctx.log.info('maintenance step', { plan, node: entry.node, reason: ev.reason, message: ev.message });
        await ctx.event(
          { apiVersion: 'v1', kind: 'Node', metadata: { name: entry.node } },
          ev.type,
          ev.reason,
          'Maintain',
          ev.message,
        );
      }
    }
    const limit = obj.spec.historyLimit ?? 10;
    return {
      scheduled: out,
      history: [...finished.reverse(), ...history].slice(0, limit),
      // a maintenance that just finished lets the next one start soon (the planner runs at the next evaluation)
      retryMs: finished.length ? 1_000 : Number.isFinite(retryMs) ? retryMs : 300_000,
    };
  }

  return {
    name: 'maintenanceplan',
    resource,
    owns: [ruleObjectType(integrations.rules)],

    async reconcile(ctx: ReconcileContext, obj: MaintenancePlanObject) {
      const plan = obj.metadata.name;
      const spec = obj.spec;
      const generation = obj.metadata.generation ?? 0;
      const previous = obj.status as MaintenancePlanStatus | undefined;
      const now = ctx.now();
      const base = { generation, spec, now };
      const fail = async (failure: Failure, retryMs: number) => {
        let status = failedStatus(base, failure, previous);
        // a running maintenance goes on while predictions fail (e.g. Prometheus down): a node stays
        // cordoned no longer than its drain needs
        if (actSupported(spec) && status.scheduled?.some((e) => e.state === 'InProgress')) {
          const progressed = await advanceAll(ctx, obj, status.scheduled, status.history ?? [], now);
          status = {
            ...status,
            phase: phaseOf(progressed.scheduled),
            scheduled: progressed.scheduled,
            history: progressed.history,
          };
          retryMs = Math.min(retryMs, progressed.retryMs);
        }
        const wrote = await ctx.writeStatus(resource, obj, status);
        metrics.status(plan, status);
        const was = previous?.conditions?.find((c) => c.type === 'Stalled');
        if (wrote && failure.stalled && (was?.status !== 'True' || was.message !== failure.stalled.message))
          await ctx.event(obj, 'Warning', failure.stalled.reason, 'Predict', failure.stalled.message);
        return { requeueAfterMs: retryMs };
      };

      const errors = validateMaintenancePlan(spec);
      if (errors.length)
        return fail(
          {
            stalled: {
              reason: 'InvalidSpec',
              message: errors.map((e) => `${e.field}: ${e.message}`).join('; '),
            },
          },
          parseDuration(spec.predictor.interval ?? '5m') ?? 300_000,
        );
      const intervalMs = parseDuration(spec.predictor.interval ?? '5m') ?? 300_000;

      // one evaluation per interval: a reconcile in between (e.g. our own status write) only waits,
      // or in Act mode advances the running maintenances (a drain does not wait for the next interval)
      const wait = evaluationWaitMs(previous, generation, intervalMs, now);
      if (wait > 0) {
        if (!actSupported(spec) || !previous?.scheduled?.some((e) => e.state === 'InProgress'))
          return { requeueAfterMs: wait };
        const progressed = await advanceAll(ctx, obj, previous.scheduled, previous.history ?? [], now);
        const phase = phaseOf(progressed.scheduled);
        const advanced = { ...previous, phase, scheduled: progressed.scheduled, history: progressed.history };
        await ctx.writeStatus(resource, obj, advanced);
        metrics.status(plan, advanced);
        return { requeueAfterMs: Math.min(wait, progressed.retryMs) };
      }

      await rules.apply(ctx, obj, now);
      try {
        if (!integrations.prometheus) throw new EvaluationFailed({ stalled: NO_PROMETHEUS });
        const risk = await model(plan, spec, await credentials(ctx, spec));
        const [results, listed] = await Promise.all([querySignals(spec), nodes(ctx, spec)]);
        const infos: NodeInfo[] = listed.map((n) => ({
          name: n.metadata.name,
          labels: n.metadata.labels ?? {},
        }));
        const selected = selectNodes(infos, spec.nodeSelector);
        const batch = buildFeatures(
          spec.signals.map((s) => s.name),
          selected,
          results,
          // a sample is the value at query time; older than 3 intervals means the exporter stopped
          { now: now.getTime() / 1000, maxAgeSeconds: Math.max(60, (3 * intervalMs) / 1000) },
        );
        const predictions = await predict(batch, risk.score);
        const threshold = spec.predictor.threshold ?? 0.8;
        const consecutive = spec.predictor.consecutive ?? 3;
        const evaluated = advanceRuns(
          predictions,
          runs.get(plan) ?? runsFromStatus(previous),
          threshold,
          consecutive,
        );
        runs.set(plan, new Map(evaluated.map((e) => [e.node, e.consecutive])));
        for (const e of evaluated) {
          const ce = nodeAtRiskEvent(resource, obj, e, { threshold, consecutive }, now);
          if (ce) integrations.events.publish(ce);
        }
        const chosen = new Set(selected);
        const notReady = listed.flatMap((n) => {
          const ready = (
            n.status as { conditions?: { type: string; status: string; lastTransitionTime?: string }[] }
          )?.conditions?.find((c) => c.type === 'Ready');
          return chosen.has(n.metadata.name) && ready && ready.status !== 'True' && ready.lastTransitionTime
            ? [{ node: n.metadata.name, since: new Date(ready.lastTransitionTime) }]
            : [];
        });
        let act: ActState | undefined;
        let actRetryMs = intervalMs;
        if (spec.mode === 'Act') {
          const jobIssue = jobProblem(spec, integrations.maintenanceJobNamespaces ?? []);
          const before = previous?.scheduled ?? [];
          const running = before.filter((e) => e.state === 'InProgress').map((e) => e.node);
          // drain plans of the nodes waiting or about to start; no room holds a node back
          const candidates = [
            ...new Set([
              ...evaluated.filter((e) => e.atRisk && e.state === 'Scored').map((e) => e.node),
              ...before.filter((e) => e.state !== 'InProgress').map((e) => e.node),
            ]),
          ].filter((n) => chosen.has(n) && !running.includes(n));
          const drainPlans = await readDrainPlans(ctx, {
            candidates,
            running,
            drain: (spec.actions ?? DEFAULT_ACTIONS).find((a) => a.type === 'Drain')?.drain,
            now,
          });
          const holds = new Map(
            [...drainPlans].flatMap(([node, p]) => {
              const why = drainPlanHold(p);
              return why ? [[node, why] as const] : [];
            }),
          );
          const planned = planMaintenance({
            now,
            selected,
            atRisk: evaluated.flatMap((e) =>
              e.atRisk && e.state === 'Scored' ? [{ node: e.node, risk: e.risk }] : [],
            ),
            massFlag: massFlagCheck(
              evaluated.filter((e) => e.atRisk).length,
              selected.length,
              (spec.predictor.maxFlaggedPercent ?? 30) / 100,
            ).stop,
            window: spec.window,
            maxUnavailable: spec.maxUnavailable,
            cooldownMinutes: spec.cooldownMinutes ?? 1440,
            approval: spec.approval ?? 'Manual',
            approveAnnotation: obj.metadata.annotations?.[APPROVE_ANNOTATION],
            // a Job with nowhere to run: nothing starts, so nothing is cordoned that cannot finish
            suspend: (spec.suspend ?? false) || jobIssue !== undefined,
            actions: (spec.actions ?? DEFAULT_ACTIONS).map((a) => a.type),
            scheduled: before,
            history: previous?.history ?? [],
            lastMaintenance: lastMaintenanceFromNodes(listed),
            holds,
          });
          // CloudEvents of the plan before those of the steps, so a consumer reads them in order
          for (const ce of planEvents(resource, obj, previous?.scheduled ?? [], planned.scheduled, now))
            integrations.events.publish(ce);
          // waiting and starting entries show their drain plan; a running one keeps the one it started with
          const withPlans = planned.scheduled.map((e) => {
            const p = drainPlans.get(e.node);
            return p && (e.state !== 'InProgress' || planned.start.includes(e.node))
              ? { ...e, drainPlan: p }
              : e;
          });
          const progressed = await advanceAll(ctx, obj, withPlans, previous?.history ?? [], now);
          const stillRunning = new Set(
            progressed.scheduled.filter((e) => e.state === 'InProgress').map((e) => e.node),
          );
          const leftCordoned = listed
            .filter(
              (n) =>
                n.metadata.annotations?.[CORDONED_BY_ANNOTATION] === plan &&
                (n.spec as { unschedulable?: boolean } | undefined)?.unschedulable === true &&
                !stillRunning.has(n.metadata.name),
            )
            .map((n) => n.metadata.name)
            .sort();
          actRetryMs = progressed.retryMs;
          const phase = phaseOf(progressed.scheduled);
          act = {
            acting:
              phase !== 'InProgress' && jobIssue
                ? { status: 'False', reason: 'JobNamespaceNotAllowed', message: jobIssue }
                : {
                    status: phase === 'InProgress' ? 'True' : 'False',
                    reason:
                      phase === 'InProgress' ? 'Maintaining' : planned.holdReason ? 'Waiting' : 'NothingToDo',
                    message:
                      phase === 'InProgress'
                        ? `${progressed.scheduled.filter((e) => e.state === 'InProgress').length} node(s) under maintenance (maxUnavailable ${planned.maxUnavailable})${planned.holdReason ? `; ${planned.holdReason}` : ''}`
                        : (planned.holdReason ?? 'no node needs maintenance'),
                  },
            leftCordoned,
            phase,
            scheduled: progressed.scheduled,
            history: progressed.history,
            ...(planned.window.next ? { nextWindowTime: metaTime(planned.window.next) } : {}),
          };
        }
        const { status, massFlag } = evaluatedStatus(
          { generation, spec, selected: selected.length, evaluated, now, notReady, ...(act ? { act } : {}) },
          previous,
        );
        await ctx.writeStatus(resource, obj, status);
        metrics.status(plan, status);
        metrics.record(
          plan,
          new Map(evaluated.flatMap((e) => (e.state === 'Scored' ? [[e.node, e.risk] as const] : []))),
          evaluated.length - batch.nodes.length,
        );
        ctx.log.info('maintenance plan evaluated', {
          plan,
          selected: selected.length,
          scored: batch.nodes.length,
          unknown: batch.unknown.length,
          atRisk: status.nodesAtRisk,
        });
        // Events after the status write: on the node (what `kubectl describe node` shows)
        const byName = new Map(listed.map((n) => [n.metadata.name, n]));
        for (const e of evaluated.filter((x) => x.becameAtRisk)) {
          const node = byName.get(e.node);
          if (node)
            await ctx.event(
              { ...node, apiVersion: 'v1', kind: 'Node' },
              'Warning',
              'FailureRiskHigh',
              'Predict',
              atRiskNote(plan, e, threshold, consecutive),
            );
        }
        const wasMass = previous?.conditions?.find((c) => c.type === 'MassFlag')?.status === 'True';
        if (massFlag.stop && !wasMass) {
          integrations.events.publish(massFlagEvent(resource, obj, massFlag, now));
          await ctx.event(obj, 'Warning', 'TooManyAtRisk', 'Predict', massFlag.message ?? '');
        }
        return { requeueAfterMs: Math.min(intervalMs, actRetryMs) };
      } catch (e) {
        if (!(e instanceof EvaluationFailed)) throw e;
        return fail(e.failure, e.failure.stalled ? intervalMs : Math.min(intervalMs, RETRY_MS));
      }
    },

    async forget(key: string) {
      runs.delete(key);
      metrics.forget(key);
      rules.forget(key);
      await release(key);
    },
  };
}
