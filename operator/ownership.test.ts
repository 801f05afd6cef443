import { describe, expect, it } from 'vitest';
import type { KubeObject } from './kube/resources.ts';
import { controllerOf, isOwnedBy, owned, ownerLabels } from './ownership.ts';

const owner: KubeObject = {
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'fraud', namespace: 'ml', uid: 'u-1' },
};

describe('owned', () => {
  it('adds the controller ownerReference and the ymera labels, keeping existing labels', () => {
    const cm: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'ml', labels: { keep: 'me' } },
    };
    const child = owned(owner, cm);
    expect(child.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        name: 'fraud',
        uid: 'u-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(child.metadata.labels).toEqual({ keep: 'me', ...ownerLabels(owner) });
    expect(child.metadata.labels?.['ymera.io/inferenceservice']).toBe('fraud');
    expect(child.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('ymera-operator');
    expect(child.metadata.labels?.['app.kubernetes.io/part-of']).toBe('ymera');
    expect(isOwnedBy(child, owner)).toBe(true);
    expect(controllerOf(child)?.name).toBe('fraud');
  });

  it('refuses an owner without a uid (not yet created)', () => {
    expect(() =>
      owned(
        { ...owner, metadata: { name: 'x' } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } },
      ),
    ).toThrow(/uid/);
  });

  it('does not claim children of another owner with the same name', () => {
    const child = owned(owner, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } });
    expect(isOwnedBy(child, { ...owner, metadata: { ...owner.metadata, uid: 'u-2' } })).toBe(false);
  });
});
