import { describe, expect, it } from 'vitest';
import type { InferenceServiceObject } from './desired.ts';
import { configMapName, desiredChildren, runtimeConfig } from './desired.ts';

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
    const children = desiredChildren(svc());
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
    expect(desiredChildren(svc())).toEqual(desiredChildren(svc()));
  });
});
