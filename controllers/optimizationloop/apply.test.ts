import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../operator/kube/resources.ts';
import {
  LOOP_FIELD_MANAGER,
  appendHistory,
  applyBody,
  fieldKeys,
  ownedByLoopAlone,
  ownersOf,
  parseHistory,
  takenOverBy,
} from './apply.ts';
import type { TrialRecord } from './schema.ts';

const WORKERS = 'spec.template.spec.containers[1].env[0].value';
const CPU = 'spec.template.spec.containers[1].resources.requests.cpu';

const deployment = (managedFields: unknown[] = []): KubeObject =>
  ({
    metadata: { name: 'web', namespace: 'ns', managedFields },
    spec: {
      replicas: 2,
      template: {
        spec: {
          containers: [
            { name: 'sidecar', image: 'x' },
            {
              name: 'app',
              image: 'y',
              env: [{ name: 'WORKERS', value: '2' }],
              resources: { requests: { cpu: '500m' } },
            },
          ],
        },
      },
    },
  }) as unknown as KubeObject;

const owns = (manager: string, value: boolean) => ({
  manager,
  operation: 'Apply',
  fieldsV1: {
    'f:spec': {
      'f:template': {
        'f:spec': {
          'f:containers': {
            'k:{"name":"app"}': {
              '.': {},
              'f:name': {},
              'f:env': {
                'k:{"name":"WORKERS"}': { '.': {}, 'f:name': {}, ...(value ? { 'f:value': {} } : {}) },
              },
            },
          },
        },
      },
    },
  },
});

describe('applyBody', () => {
  it('holds only the tuned paths, list elements addressed by name, values in their wire form', () => {
    expect(applyBody(deployment(), { [WORKERS]: 3, [CPU]: 0.75, 'spec.replicas': 3 })).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'ns' },
      spec: {
        replicas: 3,
        template: {
          spec: {
            containers: [
              {
                name: 'app',
                env: [{ name: 'WORKERS', value: '3' }],
                resources: { requests: { cpu: '0.75' } },
              },
            ],
          },
        },
      },
    });
  });

  it('refuses a path whose list element the target does not have', () => {
    expect(() => applyBody(deployment(), { 'spec.template.spec.containers[5].env[0].value': 1 })).toThrow(
      /containers\[5\]/,
    );
  });
});

describe('applyBody for an InferenceService', () => {
  const isvc = {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: {
      name: 'fraud',
      namespace: 'ml',
      managedFields: [
        {
          manager: 'kubectl',
          fieldsV1: { 'f:spec': { 'f:batching': { 'f:maxBatchSize': {}, 'f:maxDelayMs': {} } } },
        },
        { manager: LOOP_FIELD_MANAGER, fieldsV1: { 'f:spec': { 'f:batching': { 'f:maxBatchSize': {} } } } },
      ],
    },
    spec: { model: { uri: 's3://m/model.onnx' }, batching: { maxBatchSize: 8, maxDelayMs: 5 } },
  };

  it('holds only the tuned paths, as integers (the schema has no quantities there)', () => {
    expect(
      applyBody(isvc, {
        'spec.batching.maxBatchSize': 16,
        'spec.batching.maxDelayMs': 10,
        'spec.scaling.maxReplicas': 4,
      }),
    ).toEqual({
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      metadata: { name: 'fraud', namespace: 'ml' },
      spec: { batching: { maxBatchSize: 16, maxDelayMs: 10 }, scaling: { maxReplicas: 4 } },
    });
  });

  it('reads ownership of its fields from managedFields', () => {
    expect(fieldKeys(isvc, 'spec.batching.maxDelayMs')).toEqual(['f:spec', 'f:batching', 'f:maxDelayMs']);
    expect(takenOverBy(isvc, ['spec.batching.maxBatchSize'], LOOP_FIELD_MANAGER)).toEqual([]);
    expect(takenOverBy(isvc, ['spec.batching.maxDelayMs'], LOOP_FIELD_MANAGER)).toEqual(['kubectl']);
  });
});

describe('managedFields', () => {
  it('maps a path to its fieldsV1 keys', () => {
    expect(fieldKeys(deployment(), WORKERS)).toEqual([
      'f:spec',
      'f:template',
      'f:spec',
      'f:containers',
      'k:{"name":"app"}',
      'f:env',
      'k:{"name":"WORKERS"}',
      'f:value',
    ]);
  });

  it('the loop alone owns what it wrote: no external change', () => {
    const d = deployment([owns(LOOP_FIELD_MANAGER, true), owns('kubectl-client-side-apply', false)]);
    expect(ownersOf(d, WORKERS)).toEqual([LOOP_FIELD_MANAGER]);
    expect(takenOverBy(d, [WORKERS], LOOP_FIELD_MANAGER)).toEqual([]);
    expect(ownedByLoopAlone(d, [WORKERS], LOOP_FIELD_MANAGER)).toBe(true);
  });

  it('another manager that took the field is an external change', () => {
    const d = deployment([owns(LOOP_FIELD_MANAGER, false), owns('kubectl', true)]);
    expect(takenOverBy(d, [WORKERS], LOOP_FIELD_MANAGER)).toEqual(['kubectl']);
    expect(ownedByLoopAlone(d, [WORKERS], LOOP_FIELD_MANAGER)).toBe(false);
  });

  it('shared ownership (someone applied the same value) is not a change', () => {
    const d = deployment([owns(LOOP_FIELD_MANAGER, true), owns('argocd-controller', true)]);
    expect(takenOverBy(d, [WORKERS], LOOP_FIELD_MANAGER)).toEqual([]);
    expect(ownedByLoopAlone(d, [WORKERS], LOOP_FIELD_MANAGER)).toBe(false);
  });
});

describe('history', () => {
  const rec = (id: number): TrialRecord => ({
    id,
    params: { [WORKERS]: id },
    verdict: 'Rejected',
    reason: 'not better',
    startTime: '2026-01-01T00:00:00Z',
    completionTime: `2026-01-01T00:${String(id % 60).padStart(2, '0')}:00Z`,
  });

  it('appends as JSON lines, oldest first, and does not add a record twice', () => {
    const one = appendHistory(undefined, [rec(1)]);
    const two = appendHistory(one, [rec(1), rec(2)]);
    expect(parseHistory(two).map((r) => r.id)).toEqual([1, 2]);
    expect(two.split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('keeps the newest records within the count and byte bounds', () => {
    let text = '';
    for (let i = 1; i <= 12; i++) text = appendHistory(text, [rec(i)], 10);
    expect(parseHistory(text).map((r) => r.id)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const size = Buffer.byteLength(JSON.stringify(rec(12))) + 1;
    expect(parseHistory(appendHistory(text, [], 10, size * 3)).map((r) => r.id)).toEqual([10, 11, 12]);
  });

  it('skips lines that are not trial records', () => {
    expect(parseHistory(`not json\n${JSON.stringify(rec(4))}\n{"x":1}\n`).map((r) => r.id)).toEqual([4]);
  });
});
