import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CleanObject } from '../backuppolicy/clean.ts';
import { serializeObject } from '../backuppolicy/clean.ts';
import type { ItemOwner, ResourceItem } from '../backuppolicy/format.ts';
import type { BackedUpObject, Existing } from './plan.ts';
import {
  RESTORED_FROM_ANNOTATION,
  RESTORED_FROM_LABEL,
  countActions,
  destinationKey,
  kindSelected,
  planRestore,
  reboundOwners,
  restoredObject,
  restoredSha256,
} from './plan.ts';

let n = 0;
function obj(
  apiVersion: string,
  kind: string,
  name: string,
  namespace = 'team-a',
  extra: Partial<CleanObject> = {},
  owners?: ItemOwner[],
): BackedUpObject {
  const object: CleanObject = { apiVersion, kind, metadata: { name, namespace }, ...extra };
  const sha = createHash('sha256').update(serializeObject(object)).digest('hex');
  const item: ResourceItem = {
    key: `items/${String(++n).padStart(6, '0')}.bin`,
    type: 'resource',
    apiVersion,
    kind,
    namespace,
    name,
    size: 1,
    sha256: sha,
    plaintextSize: 1,
    plaintextSha256: sha,
    ...(owners ? { owners } : {}),
  };
  return { item, object };
}

const is = (name: string, ns?: string) => obj('ymera.io/v1alpha1', 'InferenceService', name, ns);
const lp = (name: string) => obj('ymera.io/v1alpha1', 'LearningPipeline', name);
const cm = (name: string, owners?: ItemOwner[]) => obj('v1', 'ConfigMap', name, 'team-a', {}, owners);
const secret = (name: string, type?: string) => obj('v1', 'Secret', name, 'team-a', type ? { type } : {});
const none = new Map<string, Existing>();

describe('planRestore', () => {
  it('creates what does not exist, in order: Secrets and ConfigMaps, then ymera resources', () => {
    const plan = planRestore([is('iris'), lp('train'), cm('cfg'), secret('tok')], none, {
      conflictPolicy: 'Skip',
    });
    expect(plan.map((e) => `${e.action} ${e.kind}/${e.name}`)).toEqual([
      'create ConfigMap/cfg',
      'create Secret/tok',
      'create InferenceService/iris',
      'create LearningPipeline/train',
    ]);
    expect(plan[0]).toMatchObject({ namespace: 'team-a', sourceNamespace: 'team-a' });
  });

  it('skips what exists with Skip, overwrites it with Overwrite', () => {
    const existing = new Map<string, Existing>([
      [destinationKey({ kind: 'InferenceService', namespace: 'team-a', name: 'iris' }), { uid: 'u1' }],
    ]);
    const objects = [is('iris'), is('other')];
    const skip = planRestore(objects, existing, { conflictPolicy: 'Skip' });
    expect(skip.map((e) => e.action)).toEqual(['skip', 'create']);
    expect(skip[0]?.reason).toContain('conflictPolicy Skip');
    const over = planRestore(objects, existing, { conflictPolicy: 'Overwrite' });
    expect(over.map((e) => e.action)).toEqual(['overwrite', 'create']);
    expect(countActions(over)).toEqual({ create: 1, skip: 0, overwrite: 1, conflict: 0 });
  });

  it('reports a conflict where Overwrite cannot: being deleted, immutable, another Secret type', () => {
    const key = (kind: string, name: string) => destinationKey({ kind, namespace: 'team-a', name });
    const existing = new Map<string, Existing>([
      [key('InferenceService', 'iris'), { uid: 'u1', deleting: true }],
      [key('ConfigMap', 'cfg'), { uid: 'u2', immutable: true }],
      [key('Secret', 'tok'), { uid: 'u3', secretType: 'kubernetes.io/tls' }],
      [key('Secret', 'same'), { uid: 'u4', secretType: 'Opaque' }],
    ]);
    const plan = planRestore([is('iris'), cm('cfg'), secret('tok'), secret('same')], existing, {
      conflictPolicy: 'Overwrite',
    });
    expect(plan.map((e) => `${e.action} ${e.name}`)).toEqual([
      'conflict cfg',
      'conflict tok',
      'overwrite same',
      'conflict iris',
    ]);
    expect(plan.find((e) => e.name === 'tok')?.reason).toContain('kubernetes.io/tls');
    // being deleted is a conflict under Skip as well (it will not be there)
    expect(planRestore([is('iris')], existing, { conflictPolicy: 'Skip' })[0]?.action).toBe('conflict');
  });

  it('keeps only the kinds asked for (Kind, or Kind.group)', () => {
    const objects = [is('iris'), cm('cfg'), obj('apps/v1', 'Deployment', 'd')];
    expect(
      planRestore(objects, none, { conflictPolicy: 'Skip', kinds: ['ConfigMap'] }).map((e) => e.name),
    ).toEqual(['cfg']);
    expect(kindSelected(['Deployment.apps'], 'apps/v1', 'Deployment')).toBe(true);
    expect(kindSelected(['Deployment'], 'apps/v1', 'Deployment')).toBe(true);
    expect(kindSelected(['Deployment.batch'], 'apps/v1', 'Deployment')).toBe(false);
    expect(kindSelected(undefined, 'v1', 'Secret')).toBe(true);
  });

  it('maps every namespaced object into targetNamespace; two objects landing on one name conflict', () => {
    const plan = planRestore([is('iris', 'a'), is('iris', 'b'), is('x', 'a')], none, {
      conflictPolicy: 'Skip',
      targetNamespace: 'scratch',
    });
    expect(plan.map((e) => [e.action, e.namespace, e.sourceNamespace, e.name])).toEqual([
      ['create', 'scratch', 'a', 'iris'],
      ['conflict', 'scratch', 'b', 'iris'],
      ['create', 'scratch', 'a', 'x'],
    ]);
  });

  it('puts an owner before what it owns, whatever their kinds', () => {
    const owner: ItemOwner = {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      name: 'iris',
      controller: true,
    };
    const plan = planRestore([cm('cfg'), cm('iris-cfg', [owner]), is('iris')], none, {
      conflictPolicy: 'Skip',
    });
    expect(plan.map((e) => e.name)).toEqual(['cfg', 'iris', 'iris-cfg']);
  });
});

describe('owner references', () => {
  const owner: ItemOwner = {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    name: 'iris',
    controller: true,
  };
  const other: ItemOwner = { apiVersion: 'v1', kind: 'ConfigMap', name: 'gone' };

  it('are rebound to the new UIDs of owners restored (or present); others are dropped', () => {
    const uids = new Map([
      [destinationKey({ kind: 'InferenceService', namespace: 'scratch', name: 'iris' }), 'new-uid'],
    ]);
    expect(reboundOwners({ namespace: 'scratch', owners: [owner, other] }, uids)).toEqual([
      {
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        name: 'iris',
        uid: 'new-uid',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(reboundOwners({ namespace: 'team-a', owners: [owner] }, uids)).toEqual([]);
  });
});

describe('restoredObject and restoredSha256', () => {
  const marks = { backupId: '20261204T194745Z-0a1b2c3d', labels: { 'ymera.io/restore': 'r1' } };

  it('marks the object and moves it; its digest with the marks off equals the manifest sha256', () => {
    const b = obj('v1', 'ConfigMap', 'cfg', 'team-a', {
      metadata: { name: 'cfg', namespace: 'team-a', labels: { app: 'iris' } },
      data: { a: '1' },
    });
    b.item.plaintextSha256 = createHash('sha256').update(serializeObject(b.object)).digest('hex');
    const written = restoredObject(b.object, { namespace: 'scratch' }, marks, new Map());
    expect(written.metadata).toEqual({
      name: 'cfg',
      namespace: 'scratch',
      labels: { app: 'iris', [RESTORED_FROM_LABEL]: marks.backupId, 'ymera.io/restore': 'r1' },
      annotations: { [RESTORED_FROM_ANNOTATION]: marks.backupId },
    });
    expect(b.object.metadata.namespace).toBe('team-a'); // not changed in place
    // as the API server returns it
    const live = {
      ...written,
      metadata: { ...written.metadata, uid: 'u', resourceVersion: '7', creationTimestamp: 'now' },
    };
    expect(restoredSha256(live, b.object, 'team-a', marks)).toBe(b.item.plaintextSha256);
    const changed = { ...live, data: { a: '2' } };
    expect(restoredSha256(changed, b.object, 'team-a', marks)).not.toBe(b.item.plaintextSha256);
  });
});

describe('marks', () => {
  it('uses the annotation the LearningPipeline controller reads to skip the creation run', async () => {
    const { RESTORED_FROM_ANNOTATION: lp } = await import('../learningpipeline/requests.ts');
    expect(RESTORED_FROM_ANNOTATION).toBe(lp);
  });

  it('labelValue keeps names up to 63 characters and shortens longer ones stably', async () => {
    const { labelValue } = await import('./plan.ts');
    expect(labelValue('restore-1')).toBe('restore-1');
    const long = `${'a'.repeat(70)}.b`;
    expect(labelValue(long)).toHaveLength(63);
    expect(labelValue(long)).toBe(labelValue(long));
    expect(labelValue(long)).not.toBe(labelValue(`${long}c`));
  });
});
