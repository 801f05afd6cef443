// Pure: the model a succeeded run registers, whether it may be promoted, and
// the change that promotes it (the target InferenceService's spec.model, so
// that the InferenceService's own canary rollout and rollback take over).
import { evaluateGate } from './gate.ts';
import { artifactUri, outputPath } from './jobs.ts';
import type { LearningPipelineRun, LearningPipelineSpec, LearningPipelineStatus } from './schema.ts';
import { PROMOTE_ANNOTATION } from './schema.ts';

export type LatestModel = NonNullable<LearningPipelineStatus['latestModel']>;

/** The model of a succeeded run; metrics from the gate's metrics artifact when they could be read. */
export function registerModel(
  spec: LearningPipelineSpec,
  run: LearningPipelineRun,
  metrics: Record<string, number> | undefined,
  metricsError: string | undefined,
): LatestModel | undefined {
  if (!spec.model) return undefined;
  const path = outputPath(spec, spec.model.outputArtifact);
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
  return model;
}

export type PromotionVerdict =
  | { action: 'promote'; request?: string }
  | { action: 'wait' | 'none'; condition: { status: 'True' | 'False'; reason: string; message: string } };

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

/**
 * JSON merge patch of the target InferenceService: the new model's URI and
 * version; sha256 cleared, since the old one cannot match the new file.
 */
export function promotionPatch(model: LatestModel): Record<string, unknown> {
  return {
    spec: { model: { uri: model.uri, version: model.version, sha256: model.sha256 ?? null } },
  };
}
