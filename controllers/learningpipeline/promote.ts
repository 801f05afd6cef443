// The I/O of promotion, around the pure promotion.ts: the model's digest
// (tried again while S3 is down), promoting the latest model (mode Patch
// applies the target's spec.model, mode Record only records it), watching
// whether the target serves the latest promotion, and the Events and
// CloudEvents about it.
import { metaTime } from '../../operator/conditions.ts';
import type { ReconcileContext } from '../../operator/controller.ts';
import type { EventSink } from '../../operator/integrations.ts';
import { EventType } from '../../operator/kafka/events.ts';
import { isTransient, KubeApiError } from '../../operator/kube/client.ts';
import type { KubeObject, ResourceType } from '../../operator/kube/resources.ts';
import { apiVersionOf, keyOf } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import type { StorageAccessPolicy } from '../../operator/storage/egress.ts';
import { crd as inferenceServiceCrd } from '../inferenceservice/schema.ts';
import type { Digest } from './digest.ts';
import type { LearningPipelineObject } from './jobs.ts';
import { modelDigest } from './model-digest.ts';
import type { Condition, LatestModel, PromotionRecord, TargetRef, TargetView } from './promotion.ts';
import {
  observePromotion,
  pinnedModel,
  promotionApply,
  promotionVerdict,
  releaseApply,
  specModelText,
  stalePin,
  withDigest,
} from './promotion.ts';
import type { LearningPipelineRun } from './schema.ts';

/** Wait before trying a failed promotion or a digest again. */
const PROMOTION_RETRY_MS = 30_000;
/** A recorded promotion waits for Git: look at the target this often (its changes do not enqueue the pipeline). */
const TARGET_POLL_MS = 15_000;

/** What the promotion step of a reconcile decided and saw. */
export interface PromotionOutcome {
  /** The latest model, with its digest and whether it is promoted. */
  model: LatestModel | undefined;
  /** The latest promotion, observed against the target. */
  promotion: PromotionRecord | undefined;
  /** The model this reconcile promoted. */
  promotedNow?: LatestModel;
  /** The Promoted condition. */
  condition?: Condition;
  /** The ymera.io/promote value acted on. */
  promoteRequest?: string;
  /** When to look again, in ms. */
  waits: number[];
}

export class Promoter {
  readonly #o: { events: EventSink; resource: ResourceType; storageAccess: StorageAccessPolicy };
  readonly #targetType = resourceTypeOf(inferenceServiceCrd);
  /**
   * Per pipeline: the model version whose digest was last tried, and when to
   * try again (never, after a permanent failure). In memory: after a restart
   * an unknown digest is tried once more.
   */
  readonly #digestTries = new Map<string, { version: string; retryAt?: number; digest: Digest }>();

  constructor(o: { events: EventSink; resource: ResourceType; storageAccess: StorageAccessPolicy }) {
    this.#o = o;
  }

  /** The digest of the model of a run that just succeeded (see model-digest.ts). */
  async digest(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    run: LearningPipelineRun,
    now: Date,
  ): Promise<Digest | undefined> {
    // a status write that failed brings the same run back as just succeeded: hash its model once
    const key = keyOf(obj.metadata);
    const tried = this.#digestTries.get(key);
    if (tried?.version === run.id && tried.retryAt === undefined) return tried.digest;
    const digest = await modelDigest(ctx, obj, run, this.#o.storageAccess);
    if (digest) this.#noteDigestTry(key, run.id, digest, now);
    return digest;
  }

  /**
   * Promotes the latest model when its verdict says so (once per version, so
   * a revert is reported, never fought), and observes the latest promotion.
   */
  async reconcile(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    input: {
      model: LatestModel | undefined;
      runs: readonly LearningPipelineRun[];
      previous: PromotionRecord | undefined;
      handledRequest: string | undefined;
      now: Date;
    },
  ): Promise<PromotionOutcome> {
    const { spec } = obj;
    const { now } = input;
    const waits: number[] = [];
    let model = input.model;
    // a digest that failed for a passing reason (S3 down): try again
    if (model && spec.promotion) model = await this.#digestAgain(ctx, obj, model, input.runs, now);
    const retryAt = model && !model.sha256 ? this.#digestTries.get(keyOf(obj.metadata))?.retryAt : undefined;
    if (retryAt !== undefined) waits.push(Math.max(1_000, retryAt - now.getTime()));

    const out: PromotionOutcome = { model, promotion: input.previous, waits };
    const verdict = promotionVerdict(spec, model, obj.metadata.annotations ?? {}, input.handledRequest);
    if (spec.promotion && verdict.action !== 'promote') out.condition = verdict.condition;
    let appliedView: TargetView | undefined;
    if (spec.promotion && verdict.action === 'promote' && model) {
      const result = await this.#promote(ctx, obj, spec.promotion, model, now);
      if ('record' in result) {
        out.model = out.promotedNow = { ...model, promoted: true, promotionTime: metaTime(now) };
        out.promotion = result.record;
        appliedView = result.applied;
        if (verdict.request) out.promoteRequest = verdict.request;
      } else {
        out.condition = result.condition;
        waits.push(PROMOTION_RETRY_MS);
      }
    }
    // whether the target serves the latest promotion (Argo CD may have synced it, or reverted it)
    const record = out.promotion;
    if (record) {
      const namespace = obj.metadata.namespace ?? '';
      const cached = ctx
        .cached(this.#targetType)
        .find((o) => o.metadata.namespace === namespace && o.metadata.name === record.target);
      const view = appliedView ?? (cached ? targetView(cached) : { found: false });
      const observed = observePromotion(record, view, metaTime(now));
      out.promotion = observed.record;
      if (cached && stalePin(record, view)) await this.#releasePin(ctx, cached);
      if (spec.promotion && out.model?.promoted && out.model.version === record.model.version)
        out.condition = observed.condition;
      if (record.mode === 'Record' && !observed.record.inEffect) waits.push(TARGET_POLL_MS);
    }
    return out;
  }

  /** Events and CloudEvents of what the promotion step did, once status records it. */
  async tell(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    outcome: PromotionOutcome,
    previous: PromotionRecord | undefined,
  ): Promise<void> {
    const { promotedNow, promotion } = outcome;
    if (!promotion) return;
    if (promotedNow) await this.#tellPromotion(ctx, obj, promotedNow, promotion);
    await this.#tellPromotionState(ctx, obj, previous, promotion);
  }

  /** Forgets a deleted pipeline. */
  forget(key: string): void {
    this.#digestTries.delete(key);
  }

  /**
   * Promotes `model` to the target: mode Patch server-side applies its
   * spec.model (the apply's answer is the freshest view of the target);
   * mode Record writes nothing, the target belongs to Git.
   */
  async #promote(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    promotion: NonNullable<LearningPipelineObject['spec']['promotion']>,
    model: LatestModel,
    now: Date,
  ): Promise<{ record: PromotionRecord; applied?: TargetView } | { condition: Condition }> {
    const { target } = promotion;
    const mode = promotion.mode ?? 'Patch';
    const namespace = obj.metadata.namespace ?? '';
    const pinned = pinnedModel(model);
    // promotionVerdict promotes only a model with a known sha256
    if (!pinned) throw new Error(`internal error: model ${model.version} has no sha256`);
    const record = (targetGeneration?: number): PromotionRecord => ({
      mode,
      target,
      model: pinned,
      promotionTime: metaTime(now),
      ...(targetGeneration !== undefined ? { targetGeneration } : {}),
      inEffect: false,
    });
    if (mode === 'Record') return { record: record() };
    try {
      const found = await ctx.client.get(this.#targetType, target, namespace);
      if (!found) {
        return {
          condition: {
            status: 'False',
            reason: 'TargetNotFound',
            message: `InferenceService ${target} does not exist in namespace ${namespace}; model ${model.version} waits`,
          },
        };
      }
      const { resourceVersion } = found.metadata;
      const applied = await ctx.client.apply(
        this.#targetType,
        promotionApply(this.#targetRef(target, namespace, resourceVersion), pinned),
      );
      return { record: record(applied.metadata.generation ?? 0), applied: targetView(applied) };
    } catch (e) {
      if (isTransient(e) || !(e instanceof KubeApiError)) throw e;
      return {
        condition: {
          status: 'False',
          reason: 'PromotionFailed',
          message: `applying spec.model to InferenceService ${target} failed: ${e.message}`,
        },
      };
    }
  }

  /** Gives up the target's fields applied in mode Patch (see stalePin): once, as a revert leaves them. */
  async #releasePin(ctx: ReconcileContext, target: KubeObject): Promise<void> {
    const { name, namespace = '', resourceVersion } = target.metadata;
    await ctx.client.apply(this.#targetType, releaseApply(this.#targetRef(name, namespace, resourceVersion)));
  }

  async #tellPromotion(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    model: LatestModel,
    record: PromotionRecord,
  ): Promise<void> {
    const { target, mode } = record;
    if (mode === 'Record') {
      await ctx.event(
        obj,
        'Normal',
        'PromotionRecorded',
        'Promote',
        `Model ${model.version} is promoted for InferenceService ${target}; commit spec.model ${specModelText(record.model)} to Git`,
      );
    } else {
      await ctx.event(
        obj,
        'Normal',
        'ModelPromoted',
        'Promote',
        `Model ${model.version} (sha256 ${record.model.sha256}) was applied to InferenceService ${target}, which rolls it out as a canary`,
      );
    }
    this.#o.events.publish({
      resource: this.#o.resource,
      object: obj,
      type: EventType.ModelPromoted,
      discriminator: model.version,
      data: {
        version: model.version,
        uri: model.uri,
        sha256: record.model.sha256,
        target,
        mode,
        // exactly the target's spec.model fields this promotion sets: what a Git bot commits
        model: record.model,
        metrics: model.metrics,
      },
    });
  }

  /** Events when the target starts or stops serving the promoted model. */
  async #tellPromotionState(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    before: PromotionRecord | undefined,
    after: PromotionRecord,
  ): Promise<void> {
    const same =
      before?.model.version === after.model.version && before.promotionTime === after.promotionTime;
    const wasInEffect = same ? before.inEffect : after.mode === 'Patch';
    if (after.inEffect === wasInEffect) return;
    const { target, model } = after;
    if (after.inEffect) {
      await ctx.event(
        obj,
        'Normal',
        'PromotionInEffect',
        'Promote',
        `InferenceService ${target} now serves model ${model.version} (its spec.model matches the recorded promotion)`,
      );
    } else {
      await ctx.event(
        obj,
        'Warning',
        'PromotionReverted',
        'Promote',
        `InferenceService ${target} no longer has spec.model ${specModelText(model)}; model ${model.version} is not applied again`,
      );
    }
  }

  #targetRef(name: string, namespace: string, resourceVersion: string | undefined): TargetRef {
    const ref = { apiVersion: apiVersionOf(this.#targetType), kind: this.#targetType.kind, name, namespace };
    return resourceVersion ? { ...ref, resourceVersion } : ref;
  }

  #noteDigestTry(key: string, version: string, digest: Digest, now: Date): void {
    const retry = 'retry' in digest && digest.retry;
    this.#digestTries.set(key, {
      version,
      digest,
      ...(retry ? { retryAt: now.getTime() + PROMOTION_RETRY_MS } : {}),
    });
  }

  /**
   * The model with its digest tried again when the last try failed for a
   * passing reason, or this process has not tried it yet (after a restart).
   */
  async #digestAgain(
    ctx: ReconcileContext,
    obj: LearningPipelineObject,
    model: LatestModel,
    runs: readonly LearningPipelineRun[],
    now: Date,
  ): Promise<LatestModel> {
    if (model.sha256 || model.promoted || (model.gate && !model.gate.passed)) return model;
    const key = keyOf(obj.metadata);
    const tried = this.#digestTries.get(key);
    const due =
      !tried ||
      tried.version !== model.version ||
      (tried.retryAt !== undefined && tried.retryAt <= now.getTime());
    if (!due) return model;
    // the run may have left the history: then only the S3 object can tell
    const run = runs.find((r) => r.id === model.runId) ?? {
      id: model.version,
      trigger: 'Manual',
      phase: 'Succeeded',
    };
    const digest = await modelDigest(ctx, obj, run, this.#o.storageAccess);
    if (!digest) return model;
    this.#noteDigestTry(key, model.version, digest, now);
    return withDigest(model, digest);
  }
}

/** The target's generation and spec.model. */
function targetView(obj: KubeObject): TargetView {
  const model = (
    obj as KubeObject & { spec?: { model?: { uri?: string; version?: string; sha256?: string } } }
  ).spec?.model;
  return { found: true, generation: obj.metadata.generation ?? 0, model: { ...model } };
}
