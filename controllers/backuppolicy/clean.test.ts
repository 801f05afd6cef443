import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { canonicalJson, cleanObject, serializeObject } from './clean.ts';

const live: KubeObject = {
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'InferenceService',
  metadata: {
    name: 'iris',
    namespace: 'team-a',
    uid: '8f1c0a7e-0000-4000-8000-000000000001',
    resourceVersion: '4711',
    generation: 3,
    creationTimestamp: '2026-01-01T00:00:00Z',
    deletionTimestamp: '2026-01-02T00:00:00Z',
    labels: { app: 'iris' },
    annotations: {
      'kubectl.kubernetes.io/last-applied-configuration': '{"big":"json"}',
      'ymera.io/skip-cleanup': 'true',
      'ymera.io/run': 'nightly-1',
      note: 'keep me',
    },
    finalizers: ['ymera.io/cleanup'],
    ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'u' }],
    managedFields: [{ manager: 'kubectl' }],
  },
  spec: { model: { uri: 's3://models/iris.onnx' }, replicas: 2 },
  status: { phase: 'Ready', observedGeneration: 3 },
};
// fields some API servers add that the KubeObject type does not list
Object.assign(live.metadata, { selfLink: '/apis/x', deletionGracePeriodSeconds: 30, generateName: 'iris-' });

describe('cleanObject', () => {
  it('keeps what the user declared and drops what the cluster added', () => {
    expect(cleanObject(live)).toEqual({
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      metadata: {
        name: 'iris',
        namespace: 'team-a',
        labels: { app: 'iris' },
        annotations: { 'ymera.io/run': 'nightly-1', note: 'keep me' },
      },
      spec: { model: { uri: 's3://models/iris.onnx' }, replicas: 2 },
    });
  });

  it('keeps the data of Secrets and ConfigMaps, and leaves the input unchanged', () => {
    const secret: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'team-a', uid: 'u', resourceVersion: '1' },
      type: 'Opaque',
      immutable: true,
      data: { password: 'c2VjcmV0' },
    };
    const before = structuredClone(secret);
    const clean = cleanObject(secret);
    expect(clean).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'team-a' },
      type: 'Opaque',
      immutable: true,
      data: { password: 'c2VjcmV0' },
    });
    expect(secret).toEqual(before);
    (clean.data as Record<string, string>).password = 'changed';
    expect((secret.data as Record<string, string>).password).toBe('c2VjcmV0');

    const cm: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'team-a', annotations: {} },
      data: { a: '1' },
      binaryData: { b: 'AAE=' },
    };
    expect(cleanObject(cm)).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'team-a' },
      data: { a: '1' },
      binaryData: { b: 'AAE=' },
    });
  });

  it('serializes the same object to the same bytes whatever the key order', () => {
    const a = serializeObject(cleanObject(live));
    const reordered = {
      status: live.status,
      spec: live.spec,
      metadata: live.metadata,
      kind: live.kind,
      apiVersion: live.apiVersion,
    };
    expect(serializeObject(cleanObject(reordered as KubeObject)).equals(a)).toBe(true);
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: undefined, c: null })).toBe(
      '{"b":[{"c":2,"d":1}],"c":null}',
    );
  });
});
