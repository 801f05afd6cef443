import { describe, expect, it } from 'vitest';
import { core } from '../../operator/kube/resources.ts';
import { resourceTypeFor } from './engine.ts';

describe('resourceTypeFor', () => {
  it('knows the core kinds a backup holds and the ymera kinds, by apiVersion and kind', () => {
    expect(resourceTypeFor('v1', 'ConfigMap')).toBe(core.configMap);
    expect(resourceTypeFor('v1', 'Secret')).toBe(core.secret);
    expect(resourceTypeFor('ymera.io/v1alpha1', 'InferenceService')).toMatchObject({
      group: 'ymera.io',
      plural: 'inferenceservices',
      namespaced: true,
    });
  });

  it('knows nothing else: such objects are conflicts in the plan, never written', () => {
    expect(resourceTypeFor('ymera.io/v1beta9', 'InferenceService')).toBeUndefined();
    expect(resourceTypeFor('example.com/v1', 'Widget')).toBeUndefined();
    expect(resourceTypeFor('apps/v2', 'Deployment')).toBeUndefined();
  });
});
