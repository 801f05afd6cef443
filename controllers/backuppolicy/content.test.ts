import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { kindsToBackUp, namespacesToBackUp, referencedIn, referencesOf, selectorString } from './content.ts';

const YMERA = [
  'InferenceService',
  'LearningPipeline',
  'MaintenancePlan',
  'OptimizationLoop',
  'BackupPolicy',
  'Restore',
];

const obj = (namespace: string, name: string, spec: unknown): KubeObject =>
  ({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { namespace, name },
    spec,
  }) as KubeObject;

describe('referencesOf', () => {
  it('finds ConfigMaps and Secrets named at any depth, by the key that names their kind', () => {
    const refs = referencesOf(
      obj('a', 'iris', {
        model: { uri: 's3://m/iris.onnx', credentialsSecret: { name: 'model-creds' } },
        env: [
          { name: 'A', valueFrom: { configMapKeyRef: { name: 'iris-config', key: 'threshold' } } },
          { name: 'B', valueFrom: { secretKeyRef: { name: 'api-token', key: 'token' } } },
          { name: 'C', valueFrom: { configMapKeyRef: { name: 'iris-config', key: 'other' } } },
        ],
        steps: [{ config: { configMap: { name: 'step-config' } } }],
      }),
    );
    expect(refs).toEqual({
      configMaps: ['iris-config', 'step-config'],
      secrets: ['api-token', 'model-creds'],
    });
  });

  it('ignores names that are not under a ConfigMap or Secret key (env var names, the object itself)', () => {
    expect(referencesOf(obj('a', 'x', { env: [{ name: 'A', value: '1' }], model: { name: 'm' } }))).toEqual({
      configMaps: [],
      secrets: [],
    });
    expect(referencesOf({ apiVersion: 'v1', kind: 'X', metadata: { name: 'x' } } as KubeObject)).toEqual({
      configMaps: [],
      secrets: [],
    });
  });

  it('keeps references per namespace (a name in one namespace is not the other one)', () => {
    const byNs = referencedIn([
      obj('a', 'x', { configMapRef: { name: 'shared' } }),
      obj('b', 'y', { configMapRef: { name: 'shared' }, secretRef: { name: 's' } }),
      obj('a', 'z', { configMapRef: { name: 'shared' } }),
    ]);
    expect(byNs.get('a')).toEqual({ configMaps: ['shared'], secrets: [] });
    expect(byNs.get('b')).toEqual({ configMaps: ['shared'], secrets: ['s'] });
  });
});

describe('kindsToBackUp', () => {
  it('takes every ymera kind but Restore by default', () => {
    expect(kindsToBackUp(YMERA, undefined)).toEqual({
      ymera: ['InferenceService', 'LearningPipeline', 'MaintenancePlan', 'OptimizationLoop', 'BackupPolicy'],
      allConfigMaps: false,
      unsupported: [],
    });
  });

  it('filters by include.kinds; ConfigMap means all of them, Secret only the referenced; others are unsupported', () => {
    expect(
      kindsToBackUp(YMERA, ['InferenceService', 'ConfigMap', 'Secret', 'Deployment.apps', 'Restore']),
    ).toEqual({
      ymera: ['InferenceService'],
      allConfigMaps: true,
      unsupported: ['Deployment.apps', 'Restore'],
    });
  });
});

describe('namespacesToBackUp', () => {
  it("defaults to the policy's own namespace", () => {
    expect(namespacesToBackUp('team-a', undefined)).toEqual({ namespaces: ['team-a'], refused: [] });
  });

  it('refuses other namespaces unless the admin allows them', () => {
    expect(namespacesToBackUp('team-a', ['team-a', 'team-b'])).toEqual({
      namespaces: ['team-a'],
      refused: ['team-b'],
    });
    expect(
      namespacesToBackUp('team-a', ['team-a', 'team-b'], (from, to) => from === 'team-a' && to === 'team-b'),
    ).toEqual({ namespaces: ['team-a', 'team-b'], refused: [] });
  });

  it('takes the admin grants (--backup-namespace-grant): exact names and prefixes of the policy namespace only', () => {
    const grants = { 'team-a': ['team-b', 'data-*'] };
    expect(namespacesToBackUp('team-a', ['team-a', 'team-b', 'data-1', 'team-c'], grants)).toEqual({
      namespaces: ['team-a', 'team-b', 'data-1'],
      refused: ['team-c'],
    });
    expect(namespacesToBackUp('team-c', ['team-b'], grants)).toEqual({ namespaces: [], refused: ['team-b'] });
  });
});

describe('selectorString', () => {
  it('writes matchLabels and matchExpressions as the API server reads them', () => {
    expect(
      selectorString({
        matchLabels: { tier: 'prod', app: 'iris' },
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['a', 'b'] },
          { key: 'x', operator: 'NotIn', values: ['c'] },
          { key: 'keep', operator: 'Exists' },
          { key: 'skip', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=iris,tier=prod,env in (a,b),x notin (c),keep,!skip');
    expect(selectorString(undefined)).toBeUndefined();
    expect(selectorString({})).toBeUndefined();
  });
});
