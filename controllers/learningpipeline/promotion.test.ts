import { describe, expect, it } from 'vitest';
import type { PromotionRecord, TargetView } from './promotion.ts';
import {
  observePromotion,
  pinnedModel,
  promotionApply,
  promotionVerdict,
  registerModel,
  releaseApply,
  stalePin,
  withDigest,
} from './promotion.ts';
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
  const passed = registerModel(spec('Auto'), run, { auc: 0.95 }, undefined, { sha256: 'ab'.repeat(32) });
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

const sha = 'ab'.repeat(32);
const pinned = {
  uri: 's3://ymera-artifacts/fraud/m-0123456789/train/model.onnx',
  version: run.id,
  sha256: sha,
};

describe('the digest requirement', () => {
  it('registers the digest, or why it is unknown', () => {
    expect(registerModel(spec('Auto'), run, { auc: 0.95 }, undefined, { sha256: sha })?.sha256).toBe(sha);
    const unknown = registerModel(spec('Auto'), run, { auc: 0.95 }, undefined, {
      error: 'step train reported no sha256',
      retry: false,
    });
    expect(unknown).toMatchObject({ sha256Error: 'step train reported no sha256' });
    expect(unknown?.sha256).toBeUndefined();
  });

  it('never promotes a model whose sha256 is unknown, under Auto or when asked under Manual', () => {
    const unknown = registerModel(spec('Auto'), run, { auc: 0.95 }, undefined, {
      error: 'step train reported no sha256 (write {"sha256": …} to /dev/termination-log)',
      retry: false,
    });
    const auto = promotionVerdict(spec('Auto'), unknown, {}, undefined);
    expect(auto).toMatchObject({
      action: 'none',
      condition: { status: 'False', reason: 'ModelDigestUnknown' },
    });
    expect(auto.action !== 'promote' && auto.condition.message).toContain('/dev/termination-log');
    const asked = promotionVerdict(spec('Manual'), unknown, { 'ymera.io/promote': run.id }, undefined);
    expect(asked).toMatchObject({ action: 'none', condition: { reason: 'ModelDigestUnknown' } });
    expect(unknown && pinnedModel(unknown)).toBeUndefined();
  });

  it('a digest found later replaces the error', () => {
    const unknown = registerModel(spec('Auto'), run, { auc: 0.95 }, undefined, {
      error: 'S3 down',
      retry: true,
    });
    const known = unknown && withDigest(unknown, { sha256: sha });
    expect(known?.sha256).toBe(sha);
    expect(known).not.toHaveProperty('sha256Error');
    expect(promotionVerdict(spec('Auto'), known, {}, undefined)).toEqual({ action: 'promote' });
  });
});

describe('promotionApply (mode Patch)', () => {
  it('applies only spec.model uri, version and sha256, guarded by the resourceVersion read', () => {
    const m = registerModel(spec('Auto'), run, { auc: 0.95 }, undefined, { sha256: sha });
    const p = m && pinnedModel(m);
    expect(p).toEqual(pinned);
    const target = {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      name: 'fraud-detector',
      namespace: 'ml',
      resourceVersion: '42',
    };
    expect(p && promotionApply(target, p)).toEqual({
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      metadata: { name: 'fraud-detector', namespace: 'ml', resourceVersion: '42' },
      spec: { model: pinned },
    });
  });
});

describe('observePromotion', () => {
  const now = '2026-12-04T16:00:00Z';
  const record = (mode: 'Patch' | 'Record', extra: Partial<PromotionRecord> = {}): PromotionRecord => ({
    mode,
    target: 'fraud-detector',
    model: pinned,
    promotionTime: '2026-12-04T15:00:00Z',
    inEffect: false,
    ...extra,
  });
  const serving = (model: TargetModel, generation = 3): TargetView => ({ found: true, generation, model });
  type TargetModel = { uri?: string; version?: string; sha256?: string };
  const old = { uri: 's3://ymera-models/fraud/v1/model.onnx', version: 'v1' };

  it('Record: waits for Git with the exact spec.model to commit, without writing anything', () => {
    const { record: r, condition } = observePromotion(record('Record'), serving(old), now);
    expect(r.inEffect).toBe(false);
    expect(r.effectiveTime).toBeUndefined();
    expect(condition).toMatchObject({ status: 'True', reason: 'Recorded' });
    expect(condition.message).toContain(
      `commit spec.model {uri: ${pinned.uri}, version: ${pinned.version}, sha256: ${sha}}`,
    );
  });

  it('Record: in effect once the target’s spec.model matches (uri, version and sha256)', () => {
    expect(
      observePromotion(record('Record'), serving({ ...pinned, sha256: 'cd'.repeat(32) }), now).record
        .inEffect,
    ).toBe(false);
    const { record: r, condition } = observePromotion(record('Record'), serving(pinned), now);
    expect(r).toMatchObject({ inEffect: true, effectiveTime: now });
    expect(condition).toMatchObject({ status: 'True', reason: 'ModelPromoted' });
  });

  it('Patch: a target changed after the apply is reported as reverted, not re-applied', () => {
    const applied = record('Patch', { targetGeneration: 3, inEffect: true, effectiveTime: now });
    const { record: r, condition } = observePromotion(applied, serving(old, 4), now);
    expect(r.inEffect).toBe(false);
    expect(condition).toMatchObject({ status: 'False', reason: 'PromotionReverted' });
    expect(condition.message).toMatch(/not applied again.*spec.promotion.mode: Record/s);
  });

  it('Patch: a cache older than the apply is not a revert', () => {
    const applied = record('Patch', { targetGeneration: 3, inEffect: true, effectiveTime: now });
    const { record: r, condition } = observePromotion(applied, serving(old, 2), now);
    expect(r.inEffect).toBe(true);
    expect(condition.reason).toBe('ModelPromoted');
  });

  it('Patch: a revert that left the operator’s sha256 behind is a stale pin, to be given up', () => {
    const applied = record('Patch', { targetGeneration: 3, inEffect: true, effectiveTime: now });
    // Argo CD took uri and version back, sha256 (not in Git) stayed ours: the old file would not match it
    expect(stalePin(applied, serving({ ...old, sha256: sha }, 4))).toBe(true);
    expect(stalePin(applied, serving(old, 4))).toBe(false); // nothing of ours left
    expect(stalePin(applied, serving(pinned, 4))).toBe(false); // in effect
    expect(stalePin(applied, serving({ ...old, sha256: sha }, 2))).toBe(false); // a stale cache
    expect(stalePin(record('Record'), serving({ ...old, sha256: sha }))).toBe(false); // never ours
    expect(
      releaseApply({ apiVersion: 'ymera.io/v1alpha1', kind: 'InferenceService', name: 'x', namespace: 'ml' }),
    ).toEqual({
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      metadata: { name: 'x', namespace: 'ml' },
    });
  });

  it('a deleted target', () => {
    const applied = record('Patch', { targetGeneration: 3, inEffect: true, effectiveTime: now });
    expect(observePromotion(applied, { found: false }, now).condition).toMatchObject({
      status: 'False',
      reason: 'TargetNotFound',
    });
    expect(observePromotion(record('Record'), { found: false }, now).condition.reason).toBe('Recorded');
  });
});
