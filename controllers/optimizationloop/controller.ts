// OptimizationLoop controller: each reconcile reads the target
// (InferenceService or Deployment), asks the state machine (state.ts) what
// comes next, measures the window it asks for in Prometheus, and writes
// status, Events, a CloudEvent per judged trial and the trial history
// ConfigMap. Recommend never writes to the target; Apply (a Deployment or an
// InferenceService) writes the tuned paths with server-side apply under
// LOOP_FIELD_MANAGER and restores the baseline on delete (finalizer).
// Decisions are pure (state.ts, verdict.ts, safety.ts, algorithms.ts,
// observe.ts, status.ts); this file is the I/O.
import type { ReconcileContext, Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import { EventType } from '../../operator/kafka/events.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { ownerLabels } from '../../operator/ownership.ts';
import { core } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { PrometheusQueryError } from '../../operator/prometheus/client.ts';
import type { PrometheusClient } from '../../operator/prometheus/client.ts';
import { applyDefaults } from '../../operator/schema/openapi.ts';
import { formatFieldErrors } from '../../operator/schema/validation.ts';
import { crd as inferenceServiceCrd } from '../inferenceservice/schema.ts';
import { seedOf } from './algorithms.ts';
import {
  HISTORY_KEY,
  LOOP_FIELD_MANAGER,
  appendHistory,
  applyBody,
  historyConfigMapName,
  ownedByLoopAlone,
  parseHistory,
  takenOverBy,
} from './apply.ts';
import type { BatchingGauges } from './observe.ts';
import {
  batchingGaugeQuery,
  deploymentLive,
  expandQuery,
  inferenceServiceCanary,
  inferenceServiceLive,
  isBatchingPath,
  targetValues,
} from './observe.ts';
import type { Measurement, OptimizationLoopSpec, OptimizationLoopStatus, TrialRecord } from './schema.ts';
import { crd, specSchema } from './schema.ts';
import type { Observed, Spec, Status } from './state.ts';
import { step, valuesOnDelete } from './state.ts';
import type { Failure } from './status.ts';
import { carriedOver, loopStatus } from './status.ts';
import { validateOptimizationLoop } from './validate.ts';
import { constraintResults } from './verdict.ts';

export type OptimizationLoopObject = KubeObject & {
  spec: OptimizationLoopSpec;
  status?: OptimizationLoopStatus;
};

const QUERY_TIMEOUT_MS = 10_000;
const RETRY_MS = 15_000;

class MeasureFailed extends Error {
  readonly failure: Failure;
  constructor(failure: Failure) {
    super(failure.message);
    this.failure = failure;
  }
}

/** Queries objective, constraints, samples and load at the end of the window; no sample or NaN is "no data". */
async function measure(prometheus: PrometheusClient, spec: Spec, end: Date): Promise<Measurement> {
  const window = spec.evaluationWindow;
  const one = async (what: string, query: string): Promise<number | undefined> => {
    try {
      const v = await prometheus.queryValue(expandQuery(query, window), {
        time: end,
        timeoutMs: QUERY_TIMEOUT_MS,
      });
      return v !== undefined && Number.isFinite(v) ? v : undefined;
    } catch (e) {
      // a bad query is the user's to fix; an outage heals by itself
      const transient = !(e instanceof PrometheusQueryError || e instanceof TypeError);
      throw new MeasureFailed({
        reason: transient ? 'PrometheusUnavailable' : 'InvalidQuery',
        message: `${what}: ${(e as Error).message}`,
        transient,
      });
    }
  };
  const objective = await one('spec.objective.query', spec.objective.query);
  const values: Record<string, number | undefined> = {};
  for (const [i, c] of (spec.constraints ?? []).entries()) {
    values[c.name] = await one(`spec.constraints[${i}].query`, c.query);
  }
  const samples = spec.minSamples ? await one('spec.minSamples.query', spec.minSamples.query) : undefined;
  const load = spec.load ? await one('spec.load.query', spec.load.query) : undefined;
  return {
    ...(objective !== undefined ? { objective } : {}),
    ...(samples !== undefined ? { samples } : {}),
    ...(load !== undefined ? { load } : {}),
    constraints: constraintResults(spec, values),
  };
}

export function optimizationLoopReconciler(integrations: Integrations): Reconciler<OptimizationLoopObject> {
  const resource = resourceTypeOf(crd);
  const inferenceService = resourceTypeOf(inferenceServiceCrd);

  async function readTarget(ctx: ReconcileContext, obj: OptimizationLoopObject, spec: Spec) {
    const ns = obj.metadata.namespace;
    // A Deployment is read with a list by name: the chart grants list (the informers' read), not get.
    return spec.target.kind === 'InferenceService'
      ? await ctx.client.get(inferenceService, spec.target.name, ns)
      : (
          await ctx.client.list(core.deployment, {
            ...(ns ? { namespace: ns } : {}),
            fieldSelector: `metadata.name=${spec.target.name}`,
          })
        ).items[0];
  }

  /** The history ConfigMap (a list by name, like the Deployment: the chart grants list, not get). */
  async function readHistory(
    ctx: ReconcileContext,
    obj: OptimizationLoopObject,
  ): Promise<KubeObject | undefined> {
    const ns = obj.metadata.namespace;
    return (
      await ctx.client.list(core.configMap, {
        ...(ns ? { namespace: ns } : {}),
        fieldSelector: `metadata.name=${historyConfigMapName(obj.metadata.name)}`,
      })
    ).items[0];
  }

  async function writeHistory(
    ctx: ReconcileContext,
    obj: OptimizationLoopObject,
    current: KubeObject | undefined,
    records: TrialRecord[],
  ): Promise<void> {
    const text = appendHistory(
      (current as { data?: Record<string, string> } | undefined)?.data?.[HISTORY_KEY],
      records,
    );
    await ctx.client.apply(core.configMap, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: historyConfigMapName(obj.metadata.name),
        ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
        labels: ownerLabels(obj),
        // garbage-collected with the loop; no blockOwnerDeletion (it needs rights on the loop's finalizers)
        ownerReferences: [
          {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name: obj.metadata.name,
            uid: obj.metadata.uid ?? '',
            controller: true,
          },
        ],
      },
      data: { [HISTORY_KEY]: text },
    } as KubeObject);
  }

  /**
   * The runtime's batching gauges for the tuned batching paths (per pod), or
   * undefined when Prometheus cannot say now: not live this reconcile, which
   * is safer than falling back to the status while the pods may differ.
   */
  async function readBatchingGauges(
    obj: OptimizationLoopObject,
    values: Record<string, number>,
  ): Promise<BatchingGauges | undefined> {
    const gauges: Record<string, number[]> = {};
    const prometheus = integrations.prometheus;
    if (!prometheus) return gauges;
    for (const path of Object.keys(values)) {
      if (!isBatchingPath(path)) continue;
      try {
        const result = await prometheus.query(
          batchingGaugeQuery(path, obj.metadata.namespace ?? '', obj.spec.target.name),
          { timeoutMs: QUERY_TIMEOUT_MS },
        );
        gauges[path] = result.resultType === 'vector' ? result.samples.map((x) => x.value) : [];
      } catch {
        return undefined;
      }
    }
    return gauges;
  }

  /** The target's resource type. */
  const targetType = (spec: Spec) =>
    spec.target.kind === 'InferenceService' ? inferenceService : core.deployment;

  async function observe(
    ctx: ReconcileContext,
    obj: OptimizationLoopObject,
    spec: Spec,
    target: KubeObject | undefined,
  ): Promise<Observed> {
    const paths = spec.parameters.map((p) => p.path);
    const seed = spec.seed ?? seedOf(obj.metadata.uid ?? obj.metadata.name);
    if (!target) return { now: ctx.now(), live: false, canary: false, seed };
    const values = targetValues(target, paths);
    const isvc = spec.target.kind === 'InferenceService';
    let live: boolean;
    if (!isvc) live = deploymentLive(target);
    else {
      const gauges = await readBatchingGauges(obj, values);
      live = gauges !== undefined && inferenceServiceLive(target, values, gauges);
    }
    return {
      now: ctx.now(),
      target: values,
      live,
      canary: isvc && inferenceServiceCanary(target),
      seed,
    };
  }

  return {
    name: 'optimizationloop',
    resource,
    owns: [],

    // Apply mode writes to the target: the finalizer restores the baseline on delete.
    needsFinalizer: (_ctx, obj) => obj.spec.mode === 'Apply',

    async finalize(ctx: ReconcileContext, obj: OptimizationLoopObject) {
      const spec = applyDefaults(specSchema, obj.spec);
      const values = valuesOnDelete(spec, obj.status ?? {});
      if (!values) return;
      const target = await readTarget(ctx, obj, spec);
      if (!target) return;
      const paths = Object.keys(values);
      // someone else took the fields meanwhile: theirs now, not restored
      if (takenOverBy(target, paths, LOOP_FIELD_MANAGER).length > 0) return;
      await ctx.client.apply(targetType(spec), applyBody(target, values), {
        fieldManager: LOOP_FIELD_MANAGER,
        force: true,
      });
      await ctx.event(
        obj,
        'Normal',
        'BaselineRestored',
        'Finalize',
        `deleted: ${spec.target.kind} ${spec.target.name} is back to its baseline`,
      );
    },

    async reconcile(ctx: ReconcileContext, obj: OptimizationLoopObject) {
      const generation = obj.metadata.generation ?? 0;
      const spec = applyDefaults(specSchema, obj.spec);
      let previous: Status = carriedOver(
        obj.status ?? {},
        spec.parameters.map((p) => p.path),
        generation,
      );
      const errors = validateOptimizationLoop(obj.spec);
      let failure: Failure | undefined;
      let loop: Status = previous;
      let requeueAfterMs: number | undefined;
      if (errors.length > 0) {
        failure = { reason: 'InvalidSpec', message: formatFieldErrors(errors), transient: false };
      } else if (!integrations.prometheus) {
        failure = {
          reason: 'PrometheusNotConfigured',
          message: 'the operator has no Prometheus to query (start it with --prometheus-url)',
          transient: false,
        };
      } else {
        const target = await readTarget(ctx, obj, spec);
        const history = await readHistory(ctx, obj);
        const observed = {
          ...(await observe(ctx, obj, spec, target)),
          history: parseHistory(
            (history as { data?: Record<string, string> } | undefined)?.data?.[HISTORY_KEY],
          ),
        };
        if (observed.history.length === 0) delete (observed as Partial<Observed>).history;
        if (spec.mode === 'Apply' && target && previous.applied) {
          const paths = Object.keys(previous.applied.params);
          const by = takenOverBy(target, paths, LOOP_FIELD_MANAGER);
          if (by.length > 0) observed.changedBy = by;
          else if (observed.target && ownedByLoopAlone(target, paths, LOOP_FIELD_MANAGER)) {
            // Only the loop wrote these fields: values other than status.applied are its own write
            // whose status update was lost, not someone else's change.
            previous = { ...previous, applied: { ...previous.applied, params: { ...observed.target } } };
          }
        }
        let result = step(spec, previous, observed);
        try {
          if (result.measure) {
            const measurement = await measure(integrations.prometheus, spec, result.measure.end);
            result = step(spec, previous, { ...observed, measurement });
          }
          loop = result.status;
          requeueAfterMs = result.requeueAfterMs;
          if (result.apply && target) {
            // the target first: status.applied must never claim a write that did not happen
            await ctx.client.apply(targetType(spec), applyBody(target, result.apply), {
              fieldManager: LOOP_FIELD_MANAGER,
              force: true,
            });
          }
          const judged = result.events.flatMap((e) => (e.trial ? [e.trial] : []));
          if (judged.length > 0) await writeHistory(ctx, obj, history, judged);
          for (const e of result.events) {
            await ctx.event(obj, e.type, e.reason, 'Tune', e.message);
            if (e.trial) {
              integrations.events.publish({
                resource,
                object: obj,
                type: EventType.TrialCompleted,
                discriminator: `${obj.metadata.uid ?? ''}:${e.trial.id}:${e.trial.completionTime ?? ''}`,
                data: {
                  target: spec.target,
                  mode: spec.mode,
                  trial: e.trial.id,
                  params: e.trial.params,
                  measurement: e.trial.measurement,
                  verdict: e.trial.verdict,
                  reason: e.trial.reason,
                  recommendation: loop.recommendation?.params,
                },
                ...(e.trial.completionTime ? { time: new Date(e.trial.completionTime) } : {}),
              });
            }
          }
        } catch (e) {
          if (!(e instanceof MeasureFailed)) throw e;
          failure = e.failure;
          if (failure.transient) requeueAfterMs = RETRY_MS;
        }
      }
      await ctx.writeStatus(
        resource,
        obj,
        loopStatus({ generation, mode: spec.mode, loop, ...(failure ? { failure } : {}) }, ctx.now()),
      );
      return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
    },
  };
}
