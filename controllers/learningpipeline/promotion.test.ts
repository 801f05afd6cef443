import { describe, expect, it } from 'vitest';
import { promotionPatch, promotionVerdict, registerModel } from './promotion.ts';
import type { LearningPipelineRun, LearningPipelineSpec } from './schema.ts';

const spec = (policy: 'Auto' | 'Manual', min = 0.9): LearningPipelineSpec => ({
  artifacts: { s3: { bucket: 'ymera-artifacts', prefix: 'fraud', forcePathStyle: true } },
  steps: [
    { name: 'train', image: 't', outputs: [{ name: 'model', path: 'train/model.onnx' }] },
    {
      name: 'evaluate',
      image: 'e',
      dependsOn: ['train'],
      outputs: [{ name: 'metrics', path: 'evaluate/metrics.json' }],
    },
  ],
  model: { name: 'fraud', outputArtifact: 'model' },
  promotion: { target: 'fraud-detector', policy, gate: { metricsArtifact: 'metrics', metric: 'auc', min } },
});
const run: LearningPipelineRun = { id: 'm-0123456789', trigger: 'Manual', phase: 'Succeeded' };

describe('registerModel', () => {
  it('names the model by the run and points at the output in the run’s artifact directory', () => {
    const m = registerModel(spec('Auto'), run, { auc: 0.95 }, undefined);
    expect(m).toMatchObject({
      version: 'm-0123456789',
      uri: 's3://ymera-artifacts/fraud/m-0123456789/train/model.onnx',
      runId: 'm-0123456789',
      metrics: { auc: 0.95 },
      gate: { passed: true },
      promoted: false,
    });
  });

  it('fails the gate when the metric is out of bounds or the metrics are missing', () => {
    expect(registerModel(spec('Auto'), run, { auc: 0.5 }, undefined)?.gate?.passed).toBe(false);
    const none = registerModel(spec('Auto'), run, undefined, 'no termination message');
    expect(none?.gate).toEqual({ passed: false, message: 'no metrics: no termination message' });
  });
});

describe('promotionVerdict', () => {
  const passed = registerModel(spec('Auto'), run, { auc: 0.95 }, undefined);
  const failed = registerModel(spec('Auto'), run, { auc: 0.5 }, undefined);

  it('promotes a model that passed the gate under Auto', () => {
    expect(promotionVerdict(spec('Auto'), passed, {}, undefined)).toEqual({ action: 'promote' });
  });

  it('never promotes a model that failed the gate', () => {
    const v = promotionVerdict(spec('Auto'), failed, { 'ymera.io/promote': run.id }, undefined);
    expect(v).toMatchObject({ action: 'none', condition: { reason: 'GateFailed' } });
  });

  it('under Manual waits for the annotation naming this version, once', () => {
    expect(promotionVerdict(spec('Manual'), passed, {}, undefined)).toMatchObject({
      action: 'wait',
      condition: { reason: 'AwaitingApproval' },
    });
    expect(promotionVerdict(spec('Manual'), passed, { 'ymera.io/promote': 'other' }, undefined).action).toBe(
      'wait',
    );
    expect(promotionVerdict(spec('Manual'), passed, { 'ymera.io/promote': run.id }, undefined)).toEqual({
      action: 'promote',
      request: run.id,
    });
    expect(promotionVerdict(spec('Manual'), passed, { 'ymera.io/promote': run.id }, run.id).action).toBe(
      'wait',
    );
  });

  it('reports a promoted model as Promoted', () => {
    const v = promotionVerdict(spec('Auto'), passed && { ...passed, promoted: true }, {}, undefined);
    expect(v).toMatchObject({ action: 'none', condition: { status: 'True', reason: 'ModelPromoted' } });
  });
});

describe('promotionPatch', () => {
  it('sets uri and version and clears a sha256 that cannot match the new file', () => {
    const m = registerModel(spec('Auto'), run, { auc: 0.95 }, undefined);
    expect(m && promotionPatch(m)).toEqual({
      spec: {
        model: {
          uri: 's3://ymera-artifacts/fraud/m-0123456789/train/model.onnx',
          version: 'm-0123456789',
          sha256: null,
        },
      },
    });
  });
});
