// LearningPipeline controller: the thin I/O loop around the pure parts.
//   observe  step Jobs and their pods (cache) for failure detail and gate
//            metrics, pending Kafka trigger events
//   decide   requests.ts (which runs start, under suspend and
//            concurrencyPolicy), runs.ts (each run one step forward),
//            promotion.ts + promote.ts (register the model, promote it
//            or not, see whether the target serves it)
//   apply    create step Jobs (deterministic names: idempotent), delete
//            Jobs of cancelled runs and of runs that left the history,
//            apply the target InferenceService's spec.model (mode Patch;
//            mode Record only records it), alerting rules
//   report   status.ts, Events, CloudEvents, metrics; then acknowledge the
//            Kafka events whose outcome status now records
import { metaTime, Reason } from '../../operator/conditions.ts';
import type { ReconcileContext, Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import { ruleObjectType, uniqueTypes } from '../../operator/integrations.ts';
import { topicAllowed } from '../../operator/kafka/topic-policy.ts';
import type { TriggerEvent } from '../../operator/kafka/trigger-filter.ts';
import { consumerGroupId } from '../../operator/kafka/trigger-filter.ts';
import type { ReconcileFailure } from '../../operator/failure.ts';
import { childFailure, ChildrenFailedError } from '../../operator/child-failures.ts';
import { classifyFailure, FailureReported } from '../../operator/failure.ts';
import { isConflict } from '../../operator/kube/client.ts';
import { core, keyOf, splitKey } from '../../operator/kube/resources.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { KubeClient } from '../../operator/kube/client.ts';
import type { PodObject } from '../../operator/kube/workloads.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { isOwnedBy } from '../../operator/ownership.ts';
import {
  learningPipelineRuleGroups,
  PIPELINE_LABEL,
} from '../../operator/prometheus/generators/learningpipeline.ts';
import { ruleChildren } from '../../operator/prometheus/rule-objects.ts';
import { DEFAULT_STORAGE_ACCESS } from '../../operator/storage/egress.ts';
import { changedReady, publishReadyChange } from '../shared/ready-change.ts';
import { topicPolicyOf } from '../shared/topics.ts';
import type { PipelineEvent } from './cloud-events.ts';
import {
  deletedEvent,
  modelRegisteredEvent,
  runFinishedEvent,
  runStartedEvent,
  stepFailedEvent,
  stepRetriedEvent,
  sweepCompletedEvent,
} from './cloud-events.ts';
import { resolveTriggerSchema, triggerTopics } from './trigger-schema.ts';
import type { Blocker } from '../shared/skeleton-status.ts';
import { metricsReadCap } from './artifact-access.ts';
import { copyS3Outputs, readS3Artifact } from './artifact-store.ts';
import { parseMetrics } from './gate.ts';
import { stepTerminationMessage } from './step-message.ts';
import type { LearningPipelineObject } from './jobs.ts';
import { artifactUri, resolvedOutputPath, RUN_LABEL, stepJob, stepJobName, sweepOutputDir } from './jobs.ts';
import {
  EarlyStopper,
  earlyStoppingForbiddenMessage,
  earlyStoppingUnavailableMessage,
  observeTrials,
} from './sweep-io.ts';
import type { TrialObservation } from './sweep.ts';
import { paramEnvValue, sweepSeed, trialDir } from './sweep.ts';
import { PipelineMetrics } from './metrics.ts';
import type { JobObject } from './observe.ts';
import {
  attemptOf,
  attemptsByRun,
  podExitMessage,
  podStuckMessage,
  trialOf,
  trialsByRun,
} from './observe.ts';
import { Promoter } from './promote.ts';
import type { LatestModel } from './promotion.ts';
import { registerModel } from './promotion.ts';
import type { RunRequest } from './requests.ts';
import { planRequests } from './requests.ts';
import type { AdvanceResult, AttemptObservation, RunStep } from './runs.ts';
import { advanceRun, cancelRun, failStep, isRunFinished, newRun } from './runs.ts';
import type { LearningPipelineRun, LearningPipelineStatus } from './schema.ts';
import { crd } from './schema.ts';
import type { PipelineStatusOut } from './status.ts';
import { pipelineStatus } from './status.ts';
import { validateLearningPipeline } from './validate.ts';

export type { LearningPipelineObject } from './jobs.ts';

/** Pod changes enqueue the pipeline; this poll is a safety net while runs are active. */
const ACTIVE_POLL_MS = 15_000;
const TRIGGER_RETRY_MS = 5_000;
type ConfigMapObject = KubeObject & { data?: Record<string, string> };
/** A schema in a ConfigMap is read again this often (ConfigMap changes do not enqueue the pipeline). */
const SCHEMA_RECHECK_MS = 60_000;
const MAX_REQUEUE_MS = 10 * 60_000;

type Extra = { type: string; status: 'True' | 'False' | 'Unknown'; reason: string; message: string };
const date = (s: string | undefined) => (s ? new Date(s) : undefined);

/**
 * The ConfigMap holding a trigger schema, read from the pipeline's own
 * namespace with a field-selected list: the operator's role lists
 * ConfigMaps but has no get on them.
 */
async function schemaConfigMap(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<ConfigMapObject | undefined> {
  const found = await client.list<ConfigMapObject>(core.configMap, {
    namespace,
    fieldSelector: `metadata.name=${name}`,
  });
  return found.items[0];
}

export function learningPipelineReconciler(integrations: Integrations): Reconciler<LearningPipelineObject> {
  const resource = resourceTypeOf(crd);
  const ruleType = ruleObjectType(integrations.rules);
  const owns = uniqueTypes([ruleType, core.job]);
  const metrics = new PipelineMetrics(integrations.registry);
  const promoter = new Promoter({
    events: integrations.events,
    resource,
    storageAccess: integrations.storageAccess ?? DEFAULT_STORAGE_ACCESS,
  });
  const policy = topicPolicyOf(integrations);
  const earlyStopper = new EarlyStopper();

  return {
    name: 'learningpipeline',
    resource,
    owns,
    watchesLabelled: [core.pod],

    async reconcile(ctx, obj) {
      const now = ctx.now();
      const spec = obj.spec;
      const key = keyOf(obj.metadata);
      const namespace = obj.metadata.namespace ?? '';
      const labels = { namespace, [PIPELINE_LABEL]: obj.metadata.name };
      const previous = obj.status as LearningPipelineStatus | undefined;
      const previousRuns = previous?.runs ?? [];
      const generation = obj.metadata.generation ?? 0;
      const historyLimit = spec.historyLimit ?? 5;
      const kept = keptFields(previous);

      const errors = validateLearningPipeline(spec);
      if (errors.length > 0) {
        const status = pipelineStatus(
          { generation, errors, blockers: [], extra: [], runs: previousRuns, historyLimit },
          kept,
          previous,
          now,
        );
        await writeAndTell(ctx, obj, previous, status);
        return undefined;
      }

      // alerting rules
      let applyError: ReconcileFailure | undefined;
      try {
        await ctx.applyChildren(obj, ruleChildren(obj, learningPipelineRuleGroups(obj), integrations.rules), [
          ruleType,
        ]);
      } catch (e) {
        applyError = classifyFailure(e);
        if (applyError.transient) throw e;
      }

      // the Kafka trigger
      const extra: Extra[] = [];
      const blockers: Blocker[] = [];
      const waits: number[] = [];
      let events: TriggerEvent[] = [];
      const trigger = spec.triggers?.kafka;
      const topics = trigger && triggerTopics(policy, namespace, trigger);
      const forbidden = topics && 'forbidden' in topics ? topics.forbidden : undefined;
      const deadLetterTopic = topics && 'deadLetterTopic' in topics ? topics.deadLetterTopic : undefined;
      const deadLetterOff = topics && 'deadLetterOff' in topics ? topics.deadLetterOff : undefined;
      // the schema: inline, or from a ConfigMap of this namespace only
      const schemaRef = trigger?.schema?.configMapKeyRef;
      const resolved =
        trigger && !forbidden
          ? resolveTriggerSchema(
              trigger.schema,
              schemaRef ? await schemaConfigMap(ctx.client, namespace, schemaRef.name) : undefined,
              namespace,
            )
          : {};
      if (trigger && forbidden) {
        await integrations.triggers?.stop(key);
        extra.push({ type: 'TriggerReady', status: 'False', reason: 'TopicNotAllowed', message: forbidden });
        blockers.push({ reason: 'TopicNotAllowed', message: forbidden, transient: false });
      } else if (trigger && 'blocker' in resolved) {
        // no consumption without a usable schema: the events wait in Kafka until it is fixed
        await integrations.triggers?.stop(key);
        const { reason, message } = resolved.blocker;
        extra.push({ type: 'TriggerReady', status: 'False', reason, message });
        blockers.push(resolved.blocker);
        // a ConfigMap created or fixed later does not enqueue the pipeline
        if (schemaRef) waits.push(SCHEMA_RECHECK_MS);
      } else if (trigger && integrations.triggers) {
        integrations.triggers.ensure({
          key,
          topic: trigger.topic,
          groupId: consumerGroupId(namespace, obj.metadata.name, obj.metadata.uid ?? ''),
          ...(trigger.filter ? { filter: trigger.filter } : {}),
          ...('schema' in resolved && resolved.schema ? { schema: resolved.schema } : {}),
          ...(deadLetterTopic ? { deadLetterTopic } : {}),
          ...(deadLetterOff ? { deadLetterOff } : {}),
        });
        const state = integrations.triggers.state(key);
        if (deadLetterOff) {
          const held = state?.deadLetterBacklog ? `; ${state.deadLetterBacklog} event(s) held` : '';
          extra.push({
            type: 'DeadLetterReady',
            status: 'False',
            reason: 'TopicNotAllowed',
            message: `${deadLetterOff}${held}`,
          });
        } else if (state?.deadLetterError) {
          extra.push({
            type: 'DeadLetterReady',
            status: 'False',
            reason: 'DeadLetterFailing',
            message: `${state.deadLetterError}; ${state.deadLetterBacklog} event(s) wait, and offsets are not committed past them`,
          });
          waits.push(TRIGGER_RETRY_MS);
        } else {
          extra.push({
            type: 'DeadLetterReady',
            status: 'True',
            reason: 'Ready',
            message: `events that fail the schema or keep failing go to Kafka topic ${deadLetterTopic}`,
          });
        }
        if (schemaRef) waits.push(SCHEMA_RECHECK_MS);
        if (state?.ready) {
          extra.push({ type: 'TriggerReady', status: 'True', reason: 'Listening', message: state.message });
        } else {
          const message = state?.message ?? `connecting to Kafka topic ${trigger.topic}`;
          extra.push({ type: 'TriggerReady', status: 'False', reason: 'TriggerNotReady', message });
          blockers.push({ reason: 'TriggerNotReady', message, transient: true });
          waits.push(TRIGGER_RETRY_MS);
        }
        events = integrations.triggers.pending(key);
      } else if (trigger) {
        const message =
          'spec.triggers.kafka is set but the operator has no Kafka brokers configured (--kafka-brokers)';
        extra.push({ type: 'TriggerReady', status: 'False', reason: 'KafkaNotConfigured', message });
        blockers.push({ reason: 'KafkaNotConfigured', message, transient: false });
      } else {
        await integrations.triggers?.stop(key);
      }

      // observe the step Jobs (and, while runs are active, their pods)
      const jobs = ctx.childrenOf(obj, core.job) as JobObject[];
      const attempts = attemptsByRun(jobs);
      const trialJobs = trialsByRun(jobs);
      const activeIds = previousRuns.filter((r) => !isRunFinished(r)).map((r) => r.id);
      const pods = activeIds.length > 0 ? runPods(ctx, namespace, activeIds) : [];
      detailFromPods(attempts, pods);

      // decide which runs start
      const plan = planRequests({
        uid: obj.metadata.uid ?? '',
        spec,
        annotations: obj.metadata.annotations ?? {},
        handled: previous?.handled,
        lastScheduleTime: date(previous?.lastScheduleTime),
        createdAt: date(obj.metadata.creationTimestamp) ?? now,
        now,
        events,
        runs: previousRuns,
      });
      const replacedBy = plan.start.at(-1)?.id ?? 'a new run';
      const runs: LearningPipelineRun[] = previousRuns.map((r) =>
        plan.cancel.includes(r.id)
          ? cancelRun(r, `replaced by run ${replacedBy} (concurrencyPolicy Replace)`, now)
          : r,
      );
      for (const request of plan.start)
        runs.unshift(newRun(request.id, request.trigger, request.cause, spec.steps, now));

      // each active run one step forward, creating the attempts it starts
      const results = new Map<string, AdvanceResult>();
      let createError: ReconcileFailure | undefined;
      const earlyStops: { run: string; step: string; index: number; reason: string }[] = [];
      for (const [i, run] of runs.entries()) {
        // sweep steps: their trials (with what they reported), early stops, trials to create again
        const sweepTrials = new Map<string, TrialObservation[]>();
        const recreate: { step: string; trial: TrialObservation }[] = [];
        for (const step of spec.steps) {
          const state = run.steps?.find((s) => s.name === step.name)?.phase;
          if (!step.sweep || isRunFinished(run) || (state !== 'Running' && state !== 'Pending')) continue;
          const observed = trialJobs.get(run.id)?.get(step.name) ?? [];
          const { trials, missing } = await observeTrials(
            ctx,
            namespace,
            step.sweep,
            run,
            step.name,
            observed,
          );
          const early = await earlyStopper.apply(
            ctx,
            namespace,
            step.sweep,
            trials,
            `${namespace}/${obj.metadata.name}/${run.id}/${step.name}`,
          );
          for (const stop of early.stopped)
            earlyStops.push({ run: run.id, step: step.name, index: stop.index, reason: stop.reason });
          if (early.forbidden)
            await ctx.event(
              obj,
              'Warning',
              'EarlyStoppingForbidden',
              'Sweep',
              `Run ${run.id}: ${earlyStoppingForbiddenMessage(step.name)}`,
            );
          if (early.unusable)
            await ctx.event(
              obj,
              'Warning',
              'EarlyStoppingUnavailable',
              'Sweep',
              `Run ${run.id}: ${earlyStoppingUnavailableMessage(step.name, early.unusable)}`,
            );
          sweepTrials.set(step.name, trials);
          recreate.push(...missing.map((trial) => ({ step: step.name, trial })));
        }
        const advance = (from: LearningPipelineRun) =>
          advanceRun(
            spec.steps,
            from,
            attempts.get(run.id) ?? [],
            now,
            (step, attempt) => stepJobName(obj.metadata.name, run.id, step, attempt),
            {
              trials: (step) => sweepTrials.get(step) ?? [],
              seed: (step) => {
                const sweep = spec.steps.find((s) => s.name === step)?.sweep;
                return sweep ? sweepSeed(sweep, run.id, step) : 0;
              },
            },
          );
        let result = advance(run);
        // with S3, a sweep that just succeeded publishes its winner before any later step starts;
        // a permanent failure fails that step (decided again from the run before this pass)
        const unpublished = await publishWinners(ctx, obj, result);
        if (unpublished.length > 0) {
          let failedRun = run;
          for (const u of unpublished) failedRun = failStep(failedRun, u.step, u.sweep, u.message, now);
          const again = advance(failedRun);
          const names = new Set(unpublished.map((u) => u.step));
          result = {
            ...again,
            transitions: [
              ...unpublished.map((u) => ({
                step: u.step,
                kind: 'Failed' as const,
                attempt: 1,
                message: u.message,
              })),
              ...again.transitions.filter((t) => !names.has(t.step)),
            ],
          };
        }
        results.set(run.id, result);
        runs[i] = result.run;
        if (result.wakeAt) waits.push(Math.max(1_000, result.wakeAt.getTime() - now.getTime()));
        const resolveDir = (artifact: string) => sweepOutputDir(spec, result.run, artifact);
        const jobsToCreate: { job: KubeObject; step: string }[] = [];
        for (const start of result.start) {
          const step = spec.steps.find((s) => s.name === start.step);
          if (!step) continue;
          jobsToCreate.push({
            step: start.step,
            job: stepJob(
              obj,
              { runId: run.id, step, attempt: start.attempt },
              { kafkaBrokers: integrations.kafkaBrokers, resolveDir },
            ),
          });
        }
        const trialStarts = [
          ...(result.startTrials ?? []),
          ...recreate.map(({ step, trial }) => ({ step, index: trial.index, params: trial.params })),
        ];
        for (const start of trialStarts) {
          const step = spec.steps.find((s) => s.name === start.step);
          if (!step) continue;
          const trial = { index: start.index, params: start.params, dir: trialDir(step.name, start.index) };
          jobsToCreate.push({
            step: start.step,
            job: stepJob(
              obj,
              { runId: run.id, step, attempt: 1, trial },
              { kafkaBrokers: integrations.kafkaBrokers, resolveDir, formatParam: paramEnvValue },
            ),
          });
        }
        // a failed sweep's running trials end with it
        for (const job of result.stopJobs ?? [])
          await ctx.client.delete(core.job, job, namespace, { propagationPolicy: 'Background' });
        for (const { job, step: stepName } of jobsToCreate) {
          const start = { step: stepName };
          try {
            await ctx.client.create(core.job, job);
          } catch (e) {
            if (isConflict(e)) {
              // created before (a restart, or the cache lagging): the same attempt, unless someone else owns the name
              const existing = await ctx.client.get(core.job, job.metadata.name, namespace);
              if (existing && !isOwnedBy(existing, obj)) {
                createError = {
                  reason: Reason.ResourceConflict,
                  message: `Job ${job.metadata.name} already exists and does not belong to this pipeline`,
                  transient: false,
                };
              }
              continue;
            }
            // named like a child apply: the Job is this run's child
            const failure = classifyFailure(
              new ChildrenFailedError([childFailure('apply', 'Job', job.metadata.name, e)], {
                applied: [],
                pruned: [],
              }),
            );
            if (failure.transient) throw e;
            createError = {
              ...failure,
              message: `step ${start.step} of run ${run.id}: ${failure.message}`,
            };
          }
        }
      }

      // register the model of a run that just succeeded, and promote it
      let latestModel = previous?.latestModel as LatestModel | undefined;
      const registered: LatestModel[] = [];
      for (const run of runs) {
        const before = previousRuns.find((r) => r.id === run.id);
        if (run.phase !== 'Succeeded' || before?.phase === 'Succeeded' || !spec.model) continue;
        if (latestModel?.runId && newer(previousRuns, latestModel.runId, run)) continue;
        const { metrics: values, error } = await gateMetrics(ctx, obj, run);
        const digest = await promoter.digest(ctx, obj, run, now);
        const model = registerModel(spec, run, values, error, digest);
        if (model) {
          latestModel = model;
          registered.push(model);
        }
      }
      // promote the latest model, and see whether the target serves the latest promotion
      const handled = { ...plan.handled };
      const promoted = await promoter.reconcile(ctx, obj, {
        model: latestModel,
        runs,
        previous: previous?.promotion,
        handledRequest: handled.promoteRequest,
        now,
      });
      latestModel = promoted.model;
      const promotion = promoted.promotion;
      if (promoted.promoteRequest) handled.promoteRequest = promoted.promoteRequest;
      if (promoted.condition) extra.push({ type: 'Promoted', ...promoted.condition });
      waits.push(...promoted.waits);

      // report
      const lastSuccess = runs.filter((r) => r.phase === 'Succeeded').sort(byCompletion)[0];
      const status = pipelineStatus(
        {
          generation,
          errors: [],
          applyError: applyError ?? createError,
          blockers,
          extra,
          runs,
          historyLimit,
        },
        {
          ...kept,
          handled,
          // else the previous one, in `kept`
          ...(plan.lastScheduleTime ? { lastScheduleTime: metaTime(plan.lastScheduleTime) } : {}),
          ...(plan.nextScheduleTime
            ? { nextScheduleTime: metaTime(plan.nextScheduleTime) }
            : { nextScheduleTime: undefined }),
          ...(latestModel ? { latestModel } : {}),
          ...(promotion ? { promotion } : {}),
          ...(lastSuccess && lastSuccess.completionTime
            ? { lastSuccessfulRun: { id: lastSuccess.id, completionTime: lastSuccess.completionTime } }
            : {}),
        },
        previous,
        now,
      );
      const wrote = await writeAndTell(ctx, obj, previous, status);

      // what happened, once status records it
      if (wrote) {
        await tell(ctx, obj, {
          previousRuns,
          runs,
          plan: { start: plan.start, skipped: plan.skipped },
          results,
        });
        for (const model of registered) await tellModel(ctx, obj, model);
        await promoter.tell(ctx, obj, promoted, previous?.promotion);
        for (const run of runs) {
          const before = previousRuns.find((r) => r.id === run.id);
          if (run.phase === 'Failed' && before?.phase !== 'Failed') metrics.runFailed(labels);
        }
        if (plan.missed > 0) {
          metrics.scheduleMissed(labels, plan.missed);
          await ctx.event(
            obj,
            'Warning',
            'MissedSchedule',
            'Schedule',
            `${plan.missed} scheduled run(s) did not start (a newer time superseded them, or startingDeadlineSeconds passed)`,
          );
        }
      }
      // told at once: the stop was applied to the Job, whatever status says yet
      for (const stop of earlyStops) {
        metrics.trialEarlyStopped(labels);
        await ctx.event(
          obj,
          'Normal',
          'TrialEarlyStopped',
          'Sweep',
          `Run ${stop.run}: step ${stop.step} trial ${stop.index} stopped early: ${stop.reason}`,
        );
      }
      for (const event of plan.ack) integrations.triggers?.ack(key, event);
      const active = runs.filter((r) => !isRunFinished(r));
      metrics.observe(labels, spec.schedule !== undefined, active);

      // clean up: Jobs of cancelled runs, and of runs that left the history
      // the runs status keeps (pipelineStatus trimmed the history)
      const keptIds = new Set((status.runs ?? []).map((r) => r.id));
      const cancelled = new Set(plan.cancel);
      for (const job of jobs) {
        const runId = job.metadata.labels?.[RUN_LABEL];
        if (!runId || job.metadata.deletionTimestamp) continue;
        // an attempt or a sweep trial
        const stillRunning = (attemptOf(job) ?? trialOf(job))?.state === 'Active';
        if (!keptIds.has(runId) || (cancelled.has(runId) && stillRunning)) {
          await ctx.client.delete(core.job, job.metadata.name, namespace, {
            propagationPolicy: 'Background',
          });
        }
      }

      // status says it; the runtime retries with backoff (a raised quota needs no change to this object)
      const refused = applyError ?? createError;
      if (refused) throw new FailureReported(refused);
      if (active.length > 0) waits.push(ACTIVE_POLL_MS);
      if (plan.nextScheduleTime)
        waits.push(Math.max(1_000, plan.nextScheduleTime.getTime() - now.getTime() + 500));
      return waits.length > 0 ? { requeueAfterMs: Math.min(MAX_REQUEUE_MS, ...waits) } : undefined;
    },

    // the trigger's consumer group lives in Kafka; without a trigger nothing outside Kubernetes is held
    needsFinalizer(_ctx, obj) {
      const trigger = obj.spec.triggers?.kafka;
      return (
        integrations.triggers !== undefined &&
        trigger !== undefined &&
        topicAllowed(policy, obj.metadata.namespace, trigger.topic)
      );
    },

    async forget(key) {
      promoter.forget(key);
      await integrations.triggers?.stop(key);
      const { namespace = '', name } = splitKey(key);
      metrics.forget({ namespace, [PIPELINE_LABEL]: name });
    },

    async finalize(ctx, obj) {
      const key = keyOf(obj.metadata);
      promoter.forget(key);
      await integrations.triggers?.stop(key);
      if (integrations.triggers && obj.spec.triggers?.kafka) {
        await integrations.triggers.deleteGroup(
          consumerGroupId(obj.metadata.namespace ?? '', obj.metadata.name, obj.metadata.uid ?? ''),
        );
      }
      metrics.forget({ namespace: obj.metadata.namespace ?? '', [PIPELINE_LABEL]: obj.metadata.name });
      integrations.events.publish({ resource, object: obj, ...deletedEvent(obj.metadata.uid) });
    },
  };

  /**
   * With S3 artifacts: copies the best trial's outputs of each sweep step that
   * succeeded in this pass to the step's declared paths (server-side). A
   * transient failure (the store unavailable) throws before status records
   * the success, so the reconcile is retried with backoff and re-derives the
   * same outcome; a permanent one (a limit, a refusal) is returned, to fail
   * that step in this pass (retrying would fail forever and block the pipeline).
   */
  async function publishWinners(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    result: AdvanceResult,
  ): Promise<{ step: string; message: string; sweep: RunStep['sweep'] }[]> {
    const s3 = obj.spec.artifacts.s3;
    if (!s3) return [];
    const failed: { step: string; message: string; sweep: RunStep['sweep'] }[] = [];
    const key = (uri: string) => uri.slice(`s3://${s3.bucket}/`.length);
    for (const t of result.transitions) {
      const step = obj.spec.steps.find((s) => s.name === t.step);
      const sweep = result.run.steps?.find((s) => s.name === t.step)?.sweep;
      const best = sweep?.best;
      if (t.kind !== 'Succeeded' || !step?.sweep || !best) continue;
      const copied = await copyS3Outputs(
        ctx.client,
        obj.metadata.namespace ?? '',
        s3,
        {
          fromRoot: key(artifactUri(obj.spec, result.run.id, best.outputDir)),
          toRoot: key(artifactUri(obj.spec, result.run.id, '')),
          paths: (step.outputs ?? []).map((o) => o.path),
        },
        integrations.storageAccess ?? DEFAULT_STORAGE_ACCESS,
      );
      if (!('error' in copied)) continue;
      const message = `publishing the best trial ${best.index}: ${copied.error}`;
      if (copied.transient) throw new Error(`run ${result.run.id}: step ${t.step}: ${message}`);
      failed.push({ step: t.step, message, sweep });
    }
    return failed;
  }

  /** Pods of the active runs, for exit codes and stuck pods (from the cache). */
  function runPods(ctx: ReconcileContext, namespace: string, runIds: string[]): PodObject[] {
    const ids = new Set(runIds);
    return ctx.cachedIn(core.pod, namespace, (p) =>
      ids.has(p.metadata.labels?.[RUN_LABEL] ?? ''),
    ) as PodObject[];
  }

  /** The gate's metrics: the termination message of the step that writes the metrics artifact. */
  async function gateMetrics(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    run: LearningPipelineRun,
  ): Promise<{ metrics?: Record<string, number>; error?: string }> {
    const gate = obj.spec.promotion?.gate;
    if (!gate) return {};
    const producer = obj.spec.steps.find((s) =>
      (s.outputs ?? []).some((o) => o.name === gate.metricsArtifact),
    );
    const job = run.steps?.find((s) => s.name === producer?.name)?.job;
    if (!producer || !job) return { error: `no step produced ${gate.metricsArtifact}` };
    let text = await stepTerminationMessage(ctx, obj.metadata.namespace, job);
    const s3 = obj.spec.artifacts.s3;
    const path = resolvedOutputPath(obj.spec, run, gate.metricsArtifact);
    if (text === undefined && s3 && path !== undefined) {
      // no termination message: read the artifact itself
      const uri = artifactUri(obj.spec, run.id, path);
      const key = uri.slice(`s3://${s3.bucket}/`.length);
      const policy = integrations.storageAccess ?? DEFAULT_STORAGE_ACCESS;
      const namespace = obj.metadata.namespace ?? '';
      const read = await readS3Artifact(ctx.client, namespace, s3, key, metricsReadCap(policy), policy);
      if ('error' in read) return { error: `${gate.metricsArtifact}: ${read.error}` };
      text = read.text;
    }
    if (text === undefined) {
      return {
        error: `step ${producer.name} left no termination message (write the metrics JSON to /dev/termination-log)`,
      };
    }
    const parsed = parseMetrics(text);
    return 'error' in parsed
      ? { error: `step ${producer.name}: ${parsed.error}` }
      : { metrics: parsed.metrics };
  }

  async function writeAndTell(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    previous: LearningPipelineStatus | undefined,
    status: PipelineStatusOut,
  ): Promise<boolean> {
    const wrote = await ctx.writeStatus(resource, obj, status as unknown as Record<string, unknown>);
    if (!wrote) return false;
    const after = changedReady(previous?.conditions, status.conditions);
    if (after) {
      // run outcomes get their own Events; this one is for the pipeline's health
      if (!['Running', 'Succeeded', 'RunFailed', 'RunCancelled'].includes(after.reason)) {
        await ctx.event(
          obj,
          after.status === 'True' ? 'Normal' : 'Warning',
          after.reason,
          'Reconcile',
          after.message,
        );
      }
      publishReadyChange(integrations.events, resource, obj, after);
    }
    return true;
  }

  async function tell(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    what: {
      previousRuns: LearningPipelineRun[];
      runs: LearningPipelineRun[];
      plan: { start: RunRequest[]; skipped: { request: RunRequest; reason: string }[] };
      results: Map<string, AdvanceResult>;
    },
  ): Promise<void> {
    const publish = (event: PipelineEvent) =>
      integrations.events.publish({ resource, object: obj, ...event });
    const labels = { namespace: obj.metadata.namespace ?? '', [PIPELINE_LABEL]: obj.metadata.name };
    for (const request of what.plan.start) {
      await ctx.event(obj, 'Normal', 'RunStarted', 'Run', `Run ${request.id} started (${request.cause})`);
      publish(runStartedEvent(request));
    }
    for (const { request, reason } of what.plan.skipped) {
      await ctx.event(
        obj,
        'Warning',
        'RunSkipped',
        'Run',
        `Run ${request.id} (${request.cause}) not started: ${reason}`,
      );
    }
    for (const run of what.runs) {
      const result = what.results.get(run.id);
      for (const t of result?.transitions ?? []) {
        const sweep = run.steps?.find((s) => s.name === t.step)?.sweep;
        if (sweep && (t.kind === 'Succeeded' || t.kind === 'Failed')) {
          metrics.sweepCompleted(labels, t.kind, sweep);
          await ctx.event(
            obj,
            t.kind === 'Succeeded' ? 'Normal' : 'Warning',
            t.kind === 'Succeeded' ? 'SweepSucceeded' : 'SweepFailed',
            'Sweep',
            `Run ${run.id}: step ${t.step}: ${t.message ?? t.kind}`,
          );
          publish(sweepCompletedEvent(run, t.step, t.kind, sweep, t.message));
        }
        if (t.kind === 'Retrying') {
          const step = run.steps?.find((s) => s.name === t.step);
          await ctx.event(
            obj,
            'Warning',
            'StepRetrying',
            'Run',
            `Run ${run.id}: step ${t.step} ${t.message ?? 'failed'}; attempt ${t.attempt + 1} at ${step?.nextAttemptTime ?? 'once the backoff passed'}`,
          );
          publish(stepRetriedEvent(run, t, step?.nextAttemptTime));
        } else if (t.kind === 'Failed') {
          await ctx.event(
            obj,
            'Warning',
            'StepFailed',
            'Run',
            `Run ${run.id}: step ${t.step}: ${t.message ?? 'failed'}`,
          );
          publish(stepFailedEvent(run, t));
        }
      }
      const before = what.previousRuns.find((r) => r.id === run.id);
      if (isRunFinished(run) && (!before || !isRunFinished(before))) {
        const failed = run.phase === 'Failed';
        await ctx.event(
          obj,
          failed ? 'Warning' : 'Normal',
          failed ? 'RunFailed' : run.phase === 'Cancelled' ? 'RunCancelled' : 'RunSucceeded',
          'Run',
          `Run ${run.id}: ${run.message ?? run.phase}`,
        );
        publish(runFinishedEvent(run));
      }
    }
  }

  async function tellModel(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    model: LatestModel,
  ): Promise<void> {
    const gate = model.gate
      ? ` (gate: ${model.gate.message ?? (model.gate.passed ? 'passed' : 'failed')})`
      : '';
    await ctx.event(
      obj,
      'Normal',
      'ModelRegistered',
      'Model',
      `Model ${model.version} at ${model.uri}${gate}`,
    );
    if (model.gate && !model.gate.passed) {
      await ctx.event(
        obj,
        'Warning',
        'GateFailed',
        'Model',
        `Model ${model.version} is not promoted: ${model.gate.message}`,
      );
    }
    integrations.events.publish({ resource, object: obj, ...modelRegisteredEvent(model) });
  }
}

/** Status fields a reconcile carries over unless it decides them anew. */
function keptFields(previous: LearningPipelineStatus | undefined) {
  const out: Partial<LearningPipelineStatus> = {};
  if (previous?.latestModel) out.latestModel = previous.latestModel;
  if (previous?.promotion) out.promotion = previous.promotion;
  if (previous?.lastSuccessfulRun) out.lastSuccessfulRun = previous.lastSuccessfulRun;
  if (previous?.lastScheduleTime) out.lastScheduleTime = previous.lastScheduleTime;
  if (previous?.nextScheduleTime) out.nextScheduleTime = previous.nextScheduleTime;
  if (previous?.handled) out.handled = previous.handled;
  return out;
}

const byCompletion = (a: LearningPipelineRun, b: LearningPipelineRun) =>
  (b.completionTime ?? '').localeCompare(a.completionTime ?? '');

/** Whether the run that made the current model started after `run` (an older run finishing late does not replace it). */
function newer(runs: readonly LearningPipelineRun[], modelRunId: string, run: LearningPipelineRun): boolean {
  const modelRun = runs.find((r) => r.id === modelRunId);
  return modelRun !== undefined && (modelRun.startTime ?? '') > (run.startTime ?? '');
}

/** Pods say more than the Job: the exit code of a failed attempt, the wait of a stuck one. */
function detailFromPods(attempts: Map<string, AttemptObservation[]>, pods: readonly PodObject[]): void {
  if (pods.length === 0) return;
  const byJob = new Map<string, PodObject[]>();
  for (const pod of pods) {
    const job = pod.metadata.labels?.['job-name'];
    if (job) byJob.set(job, [...(byJob.get(job) ?? []), pod]);
  }
  for (const list of attempts.values()) {
    for (const a of list) {
      const own = byJob.get(a.job) ?? [];
      if (a.state === 'Failed') {
        const exit = own.map(podExitMessage).find((m) => m !== undefined);
        if (exit) a.message = a.message && !/backoff limit/i.test(a.message) ? `${a.message}; ${exit}` : exit;
      } else if (a.state === 'Active') {
        const stuck = own.map(podStuckMessage).find((m) => m !== undefined);
        if (stuck) a.message = `waiting: ${stuck}`;
      }
    }
  }
}
