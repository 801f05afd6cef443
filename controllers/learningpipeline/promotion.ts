// Pure: the model a succeeded run registers, whether it may be promoted (gate
// passed, sha256 known, approved), the change that promotes it (the target
// InferenceService's spec.model pinned by uri, version and sha256, so that
// the InferenceService's own canary rollout and rollback take over), and
// whether the target serves it. Mode Patch applies that spec.model once per
// model version; mode Record leaves the target to Git and only records it.
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { Digest } from './digest.ts';
import { evaluateGate } from './gate.ts';
import { artifactUri, resolvedOutputPath } from './jobs.ts';
import type { LearningPipelineRun, LearningPipelineSpec, LearningPipelineStatus } from './schema.ts';
import { PROMOTE_ANNOTATION } from './schema.ts';

export type LatestModel = NonNullable<LearningPipelineStatus['latestModel']>;
/** The Promoted condition. */
export type Condition = { status: 'True' | 'False'; reason: string; message: string };

/**
 * The model of a succeeded run; metrics from the gate's metrics artifact when
 * they could be read, its sha256 when it is known.
 */
export function registerModel(
  spec: LearningPipelineSpec,
  run: LearningPipelineRun,
  metrics: Record<string, number> | undefined,
  metricsError: string | undefined,
  digest?: Digest,
): LatestModel | undefined {
  if (!spec.model) return undefined;
  const path = resolvedOutputPath(spec, run, spec.model.outputArtifact);
  if (path === undefined) return undefined;
  const model: LatestModel = {
    version: run.id,
    uri: artifactUri(spec, run.id, path),
    runId: run.id,
    promoted: false,
  };
  if (metrics) model.metrics = metrics;
  const gate = spec.promotion?.gate;
  if (gate) {
    model.gate = metrics
      ? evaluateGate(gate, metrics)
      : { passed: false, message: `no metrics: ${metricsError ?? 'the metrics artifact could not be read'}` };
  }
  return digest ? withDigest(model, digest) : model;
}

/** The model with its digest, or why the digest is unknown. */
export function withDigest(model: LatestModel, digest: Digest): LatestModel {
  const { sha256: _sha256, sha256Error: _error, ...rest } = model;
  return 'sha256' in digest ? { ...rest, sha256: digest.sha256 } : { ...rest, sha256Error: digest.error };
}

export type PromotionVerdict =
  { action: 'promote'; request?: string } | { action: 'wait' | 'none'; condition: Condition };

/** Whether to promote the latest model now, and otherwise what the Promoted condition says. */
export function promotionVerdict(
  spec: LearningPipelineSpec,
  model: LatestModel | undefined,
  annotations: Record<string, string>,
  handledRequest: string | undefined,
): PromotionVerdict {
  const promotion = spec.promotion;
  if (!promotion) {
    return {
      action: 'none',
      condition: { status: 'False', reason: 'NoPromotion', message: 'spec.promotion is not set' },
    };
  }
  if (!model) {
    return {
      action: 'none',
      condition: { status: 'False', reason: 'NoModel', message: 'no run has produced a model yet' },
    };
  }
  if (model.promoted) {
    return {
      action: 'none',
      condition: {
        status: 'True',
        reason: 'ModelPromoted',
        message: `model ${model.version} was promoted to InferenceService ${promotion.target}`,
      },
    };
  }
  if (model.gate && !model.gate.passed) {
    return {
      action: 'none',
      condition: {
        status: 'False',
        reason: 'GateFailed',
        message: `model ${model.version} did not pass the gate (${model.gate.message ?? ''}); it is not promoted`,
      },
    };
  }
  if (!model.sha256) {
    return {
      action: 'none',
      condition: {
        status: 'False',
        reason: 'ModelDigestUnknown',
        message: `model ${model.version} is not promoted: its sha256 is unknown (${model.sha256Error ?? 'not reported'}); a promoted model is always pinned by its digest`,
      },
    };
  }
  if ((promotion.policy ?? 'Manual') === 'Auto') return { action: 'promote' };
  const request = annotations[PROMOTE_ANNOTATION];
  if (request !== undefined && request !== handledRequest && request === model.version) {
    return { action: 'promote', request };
  }
  return {
    action: 'wait',
    condition: {
      status: 'False',
      reason: 'AwaitingApproval',
      message: `model ${model.version} passed the gate; promote it with the annotation ${PROMOTE_ANNOTATION}=${model.version}`,
    },
  };
}

/** The fields of the target's spec.model a promotion sets (and, in mode Patch, owns). */
export type PinnedModel = PromotionRecord['model'];
export type PromotionRecord = NonNullable<LearningPipelineStatus['promotion']>;
export type PromotionMode = PromotionRecord['mode'];

/** The target InferenceService, and the resourceVersion an apply to it expects. */
export type TargetRef = {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  resourceVersion?: string;
};

/** The spec.model a promotion pins: only a model with a known sha256 has one. */
export function pinnedModel(model: LatestModel): PinnedModel | undefined {
  return model.sha256 ? { uri: model.uri, version: model.version, sha256: model.sha256 } : undefined;
}

/**
 * The server-side apply body of mode Patch: spec.model's uri, version and
 * sha256 and nothing else, so the field manager ymera-operator owns only
 * those. The resourceVersion makes it a compare-and-swap on the target that
 * was read (and an apply to a deleted target fails instead of creating one).
 */
export function promotionApply(target: TargetRef, model: PinnedModel): KubeObject {
  return {
    ...releaseApply(target),
    spec: { model: { uri: model.uri, version: model.version, sha256: model.sha256 } },
  };
}

/**
 * Whether a reverted target still carries the sha256 mode Patch applied:
 * another manager (Argo CD syncing Git) took uri and version back but left
 * our pin, which the old file does not match, so the InferenceService would
 * refuse to serve it. The operator then gives up its fields (an apply of
 * none), which removes the pin and leaves exactly what the other manager set.
 */
export function stalePin(record: PromotionRecord, view: TargetView): boolean {
  return (
    record.mode === 'Patch' &&
    view.found &&
    view.generation >= (record.targetGeneration ?? 0) &&
    view.model.sha256 === record.model.sha256 &&
    (view.model.uri !== record.model.uri || view.model.version !== record.model.version)
  );
}

/** The server-side apply body that gives up every field the operator applied to the target. */
export function releaseApply(target: TargetRef): KubeObject {
  const { apiVersion, kind, name, namespace, resourceVersion } = target;
  return { apiVersion, kind, metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) } };
}

/** The target as observed: its generation and spec.model, or absent. */
export type TargetView =
  | { found: false }
  | { found: true; generation: number; model: { uri?: string; version?: string; sha256?: string } };

const serves = (view: TargetView, model: PinnedModel) =>
  view.found &&
  view.model.uri === model.uri &&
  view.model.version === model.version &&
  view.model.sha256 === model.sha256;

/** spec.model as a commit would write it: the exact YAML flow mapping to put into Git. */
export function specModelText(model: PinnedModel): string {
  return `{uri: ${model.uri}, version: ${model.version}, sha256: ${model.sha256}}`;
}

/**
 * The promotion record brought up to date with the target as observed, and
 * the Promoted condition it gives. A target seen at a generation older than
 * the one the operator applied is a stale cache, not a revert.
 */
export function observePromotion(
  record: PromotionRecord,
  view: TargetView,
  now: string,
): { record: PromotionRecord; condition: Condition } {
  const { target, model, mode } = record;
  const stale =
    view.found && record.targetGeneration !== undefined && view.generation < record.targetGeneration;
  const inEffect = stale ? record.inEffect : serves(view, model);
  const next: PromotionRecord = { ...record, inEffect };
  if (inEffect && !next.effectiveTime) next.effectiveTime = now;
  if (inEffect) {
    return {
      record: next,
      condition: {
        status: 'True',
        reason: 'ModelPromoted',
        message:
          mode === 'Record'
            ? `model ${model.version} is in effect: InferenceService ${target}'s spec.model matches the recorded promotion`
            : `model ${model.version} was promoted to InferenceService ${target}`,
      },
    };
  }
  const seen = view.found
    ? `its spec.model is now ${view.model.version ?? '(none)'} at ${view.model.uri ?? '(none)'}`
    : 'it does not exist';
  if (!record.effectiveTime && mode === 'Record') {
    return {
      record: next,
      condition: {
        status: 'True',
        reason: 'Recorded',
        message: `model ${model.version} is promoted in status.promotion and waits for Git: commit spec.model ${specModelText(model)} to InferenceService ${target} (${seen})`,
      },
    };
  }
  if (!view.found) {
    return {
      record: next,
      condition: {
        status: 'False',
        reason: 'TargetNotFound',
        message: `model ${model.version} was promoted to InferenceService ${target}, but it no longer exists`,
      },
    };
  }
  return {
    record: next,
    condition: {
      status: 'False',
      reason: 'PromotionReverted',
      message:
        mode === 'Record'
          ? `InferenceService ${target} served model ${model.version}, but ${seen} (changed in Git?); the next model version will be recorded`
          : `model ${model.version} was applied to InferenceService ${target}, but ${seen}: another field manager changed it (e.g. Argo CD self-heal). Each model version is applied once, so it is not applied again; the next model version will be. For a target managed from Git, set spec.promotion.mode: Record`,
    },
  };
}
