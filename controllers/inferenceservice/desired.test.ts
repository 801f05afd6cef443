import { describe, expect, it } from 'vitest';
import type { InferenceServiceObject } from './desired.ts';
import { configMapName, desiredChildren, runtimeConfig } from './desired.ts';

const configMaps = { mode: 'ConfigMap' as const, labels: {} };

const svc = (spec: Partial<InferenceServiceObject['spec']> = {}): InferenceServiceObject => ({
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'fraud', namespace: 'ml', uid: 'u-1', generation: 1 },
  spec: {
    model: { uri: 's3://models/fraud.onnx', format: 'onnx', version: 'v3', sha256: 'a'.repeat(64) },
    batching: { maxBatchSize: 16, maxDelayMs: 5 },
    ...spec,
  } as InferenceServiceObject['spec'],
});

describe('InferenceService desired children', () => {
  it('is one owned ConfigMap holding the runtime configuration', () => {
    const children = desiredChildren(svc(), configMaps);
    expect(children).toHaveLength(1);
    const cm = children[0]?.object as unknown as {
      metadata: { name: string; namespace: string; ownerReferences: { uid: string }[] };
      data: Record<string, string>;
    };
    expect(cm.metadata.name).toBe(configMapName('fraud'));
    expect(cm.metadata.namespace).toBe('ml');
    expect(cm.metadata.ownerReferences[0]?.uid).toBe('u-1');
    expect(JSON.parse(cm.data['runtime.json'] ?? '')).toEqual({
      model: {
        name: 'fraud',
        uri: 's3://models/fraud.onnx',
        format: 'onnx',
        version: 'v3',
        sha256: 'a'.repeat(64),
      },
      batching: { maxBatchSize: 16, maxDelayMs: 5 },
    });
  });

  it('leaves out what the spec leaves out, and is deterministic', () => {
    const plain = svc({
      batching: undefined,
      model: { uri: 'file:///m.onnx', format: 'onnx', version: '1' },
    });
    expect(runtimeConfig(plain)).toEqual({
      model: { name: 'fraud', uri: 'file:///m.onnx', format: 'onnx', version: '1' },
    });
    expect(desiredChildren(svc(), configMaps)).toEqual(desiredChildren(svc(), configMaps));
  });

  it('adds the SLO rules as a PrometheusRule or a ConfigMap, with the configured labels', () => {
    const withSlo = svc({ slo: { availabilityPercent: 99.9, p95LatencyMs: 100 } });
    const asRule = desiredChildren(withSlo, { mode: 'PrometheusRule', labels: { release: 'kps' } });
    expect(asRule.map((c) => c.object.kind)).toEqual(['ConfigMap', 'PrometheusRule']);
    const rule = asRule[1]?.object as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { groups: { rules: { alert?: string }[] }[] };
    };
    expect(rule.metadata.labels.release).toBe('kps');
    expect(rule.spec.groups[0]?.rules.some((r) => r.alert === 'YmeraInferenceErrorBudgetBurn')).toBe(true);
    const asConfigMaps = desiredChildren(withSlo, configMaps);
    expect(asConfigMaps.map((c) => c.object.kind)).toEqual(['ConfigMap', 'ConfigMap']);
    expect(asConfigMaps[1]?.object.metadata.labels?.['ymera.io/prometheus-rules']).toBe('true');
  });

  it('has no rules child without an SLO, so an old one is pruned', () => {
    expect(desiredChildren(svc({ slo: undefined }), configMaps)).toHaveLength(1);
  });
});
