import { describe, expect, it } from 'vitest';
import { collectionPath, core, keyOf, objectPath, splitKey } from './resources.ts';

describe('REST paths', () => {
  it('builds core, grouped, namespaced and cluster-scoped paths', () => {
    expect(collectionPath(core.configMap, 'ns')).toBe('/api/v1/namespaces/ns/configmaps');
    expect(collectionPath(core.configMap)).toBe('/api/v1/configmaps');
    expect(objectPath(core.deployment, 'web', 'ns')).toBe('/apis/apps/v1/namespaces/ns/deployments/web');
    expect(objectPath(core.node, 'gpu-1')).toBe('/api/v1/nodes/gpu-1');
    expect(objectPath(core.deployment, 'web', 'ns', 'status')).toBe(
      '/apis/apps/v1/namespaces/ns/deployments/web/status',
    );
  });
  it('requires a namespace for namespaced objects', () => {
    expect(() => objectPath(core.pod, 'p')).toThrow(/namespace/);
  });
  it('round-trips keys', () => {
    expect(keyOf({ name: 'a', namespace: 'b' })).toBe('b/a');
    expect(keyOf({ name: 'node' })).toBe('node');
    expect(splitKey('b/a')).toEqual({ namespace: 'b', name: 'a' });
    expect(splitKey('node')).toEqual({ name: 'node' });
  });
});
