import { describe, expect, it } from 'vitest';
import { trimForCache } from './cache-trim.ts';
import { ownsAlone } from './managed-fields.ts';
import type { KubeObject } from './resources.ts';

const deployment = (): KubeObject =>
  ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'd',
      namespace: 'a',
      resourceVersion: '7',
      labels: { app: 'd' },
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': '{"a whole":"copy"}',
        'ymera.io/serving-spec': '{}',
      },
      managedFields: [
        {
          manager: 'ymera-operator',
          operation: 'Apply',
          apiVersion: 'apps/v1',
          time: '2026-01-01T00:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': { 'f:labels': { 'f:app': {} } },
            'f:spec': { 'f:replicas': {}, 'f:template': { 'f:spec': { 'f:containers': {} } } },
          },
        },
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          subresource: 'status',
          fieldsV1: { 'f:status': { 'f:replicas': {} } },
        },
      ],
    },
    spec: { replicas: 2 },
    status: { replicas: 2 },
  }) as KubeObject;

describe('trimForCache', () => {
  it('keeps only the ownership of the fields read from the cache, and drops kubectl last-applied', () => {
    const input = deployment();
    const trimmed = trimForCache(input);
    expect(trimmed.metadata.managedFields).toEqual([
      { manager: 'ymera-operator', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
    ]);
    expect(trimmed.metadata.annotations).toEqual({ 'ymera.io/serving-spec': '{}' });
    expect(trimmed.metadata.labels).toEqual({ app: 'd' });
    expect(trimmed.spec).toEqual({ replicas: 2 });
    // what the controllers ask of the cache still has its answer
    expect(ownsAlone(trimmed, 'ymera-operator', ['spec', 'replicas'])).toBe(true);
    // the input is not changed
    expect(input.metadata.managedFields).toHaveLength(2);
    expect(JSON.stringify(trimmed).length).toBeLessThan(JSON.stringify(input).length / 2);
  });

  it('drops managedFields entirely when no field ownership is read, and leaves objects without them alone', () => {
    expect(trimForCache(deployment(), []).metadata.managedFields).toBeUndefined();
    const bare = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'a' },
    } as KubeObject;
    expect(trimForCache(bare)).toEqual(bare);
  });
});
