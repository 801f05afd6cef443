import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { cleanObject, serializeObject } from './clean.ts';
import {
  checkDrill,
  DRILL_NAMESPACE_LABEL,
  drillMessage,
  drillNamespaceVerdict,
  drillOwnerLabel,
  planDrill,
  restoredObjectSha256,
} from './drill.ts';
import type { ResourceItem } from './format.ts';

const at = (s: string) => new Date(s);
const sha = (o: KubeObject) =>
  createHash('sha256')
    .update(serializeObject(cleanObject(o)))
    .digest('hex');
const MARKS = ['ymera.io/restored-from-backup', 'ymera.io/restore'];

function configMap(namespace: string, extraLabels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cfg', namespace, labels: { app: 'iris', ...extraLabels }, uid: `uid-${namespace}` },
    data: { threshold: '0.5' },
  } as KubeObject;
}

function inferenceService(namespace: string): KubeObject {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name: 'iris', namespace },
    spec: { model: { uri: 's3://m/iris.onnx', version: 'v1' } },
  } as KubeObject;
}

function itemOf(obj: KubeObject, modelDigest?: string): ResourceItem {
  return {
    type: 'resource',
    key: 'items/000001.bin',
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    namespace: obj.metadata.namespace ?? '',
    name: obj.metadata.name,
    size: 1,
    sha256: 'x',
    plaintextSize: 1,
    plaintextSha256: sha(obj),
    ...(modelDigest ? { modelDigest } : {}),
  };
}

describe('planDrill', () => {
  const weekly = { schedule: '0 4 * * 0', since: at('2026-11-28T00:00:00Z') };

  it('runs the due scheduled drill and says when the next one is', () => {
    const plan = planDrill({ ...weekly, now: at('2026-11-29T05:00:00Z') });
    expect(plan.run).toEqual({ trigger: 'Schedule', scheduledAt: at('2026-11-29T04:00:00Z') });
    expect(plan.next).toEqual(at('2026-12-06T04:00:00Z'));
  });

  it('runs nothing before the fire time', () => {
    expect(planDrill({ ...weekly, now: at('2026-11-29T03:00:00Z') }).run).toBeUndefined();
  });

  it('runs an on-demand token once, even while suspended', () => {
    const now = at('2026-11-29T03:00:00Z');
    expect(planDrill({ ...weekly, suspend: true, now, token: 'd1' }).run).toEqual({
      trigger: 'OnDemand',
      token: 'd1',
    });
    expect(planDrill({ ...weekly, now, token: 'd1', handledToken: 'd1' }).run).toBeUndefined();
    expect(planDrill({ ...weekly, suspend: true, now: at('2026-11-29T05:00:00Z') })).toEqual({});
  });
});

describe('drillNamespaceVerdict', () => {
  const base = { policyNamespace: 'team-a', policyName: 'nightly', granted: false };

  it('allows a new namespace named after the policy namespace', () => {
    expect(drillNamespaceVerdict({ ...base, target: 'team-a-drill' })).toEqual({ ok: true });
  });

  it('refuses another tenant-looking name unless granted', () => {
    const v = drillNamespaceVerdict({ ...base, target: 'kube-system' });
    expect(v).toMatchObject({ ok: false, reason: 'NamespaceNotAllowed' });
    expect(v.ok ? '' : v.message).toContain('spec.drill.targetNamespace');
    expect(drillNamespaceVerdict({ ...base, granted: true, target: 'scratch' })).toEqual({ ok: true });
  });

  it('refuses an existing namespace it did not create, even with the right name', () => {
    const existing = { metadata: { name: 'team-a-drill', labels: { other: 'x' } } };
    expect(drillNamespaceVerdict({ ...base, target: 'team-a-drill', existing })).toMatchObject({
      ok: false,
      reason: 'NamespaceNotOwned',
    });
    const otherPolicy = {
      metadata: { name: 'team-a-drill', labels: { [DRILL_NAMESPACE_LABEL]: 'team-a.weekly' } },
    };
    expect(drillNamespaceVerdict({ ...base, target: 'team-a-drill', existing: otherPolicy }).ok).toBe(false);
  });

  it('reuses its own namespace, but waits while it terminates', () => {
    const labels = { [DRILL_NAMESPACE_LABEL]: drillOwnerLabel('team-a', 'nightly') };
    expect(
      drillNamespaceVerdict({
        ...base,
        target: 'team-a-drill',
        existing: { metadata: { name: 'x', labels } },
      }),
    ).toEqual({ ok: true });
    expect(
      drillNamespaceVerdict({
        ...base,
        target: 'team-a-drill',
        existing: { metadata: { name: 'x', labels, deletionTimestamp: '2026-12-04T00:00:00Z' } },
      }),
    ).toMatchObject({ ok: false, reason: 'NamespaceTerminating' });
  });

  it('keeps owner labels valid label values', () => {
    const long = drillOwnerLabel('n'.repeat(63), 'p'.repeat(200));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).not.toBe(drillOwnerLabel('n'.repeat(63), 'p'.repeat(199)));
  });
});

describe('restoredObjectSha256', () => {
  it('equals the backup hash after removing restore labels and mapping the namespace back', () => {
    const original = configMap('team-a');
    const restored = configMap('team-a-drill', {
      'ymera.io/restored-from-backup': 'b1',
      'ymera.io/restore': 'r',
    });
    expect(restoredObjectSha256(restored, 'team-a', MARKS)).toBe(sha(original));
  });

  it('differs when the content differs', () => {
    const restored = { ...configMap('team-a-drill'), data: { threshold: '0.9' } } as KubeObject;
    expect(restoredObjectSha256(restored, 'team-a', MARKS)).not.toBe(sha(configMap('team-a')));
  });
});

describe('checkDrill', () => {
  const cm = configMap('team-a');
  const isvc = inferenceService('team-a');
  const digest = `sha256:${'ab'.repeat(32)}`;
  const items = [itemOf(cm), itemOf(isvc, digest)];
  const restored = new Map([
    ['ConfigMap/cfg', configMap('team-a-drill', { 'ymera.io/restore': 'drill' })],
    ['InferenceService/iris', inferenceService('team-a-drill')],
  ]);

  it('passes when every object hash and served model digest matches', () => {
    const check = checkDrill({
      items,
      restored,
      servedDigests: new Map([['iris', 'ab'.repeat(32)]]),
      marks: MARKS,
    });
    expect(check).toEqual({ passed: true, objectsChecked: 2, modelsChecked: 1, mismatches: [] });
    expect(drillMessage(check, 'b1', 12.34)).toBe(
      'backup b1: 2 objects and 1 model digests checked, all match; recovery took 12.3 s (restore start to all Ready)',
    );
  });

  it('names a missing object, a changed object and a wrong model digest', () => {
    const changed = new Map([
      [
        'InferenceService/iris',
        { ...inferenceService('x'), spec: { model: { uri: 'other' } } } as KubeObject,
      ],
    ]);
    const check = checkDrill({
      items,
      restored: changed,
      servedDigests: new Map([['iris', 'cd'.repeat(32)]]),
      marks: MARKS,
    });
    expect(check.passed).toBe(false);
    expect(check.mismatches).toEqual([
      'ConfigMap/cfg: not restored',
      expect.stringContaining('InferenceService/iris: content differs from the backup'),
      expect.stringContaining(
        'InferenceService/iris: serves model sha256 cdcdcdcdcdcd…, the backup paired abababababab…',
      ),
    ]);
  });

  it('checks only the kinds restored', () => {
    const check = checkDrill({
      items,
      kinds: ['ConfigMap'],
      restored,
      servedDigests: new Map(),
      marks: MARKS,
    });
    expect(check).toMatchObject({ passed: true, objectsChecked: 1, modelsChecked: 0 });
  });

  it('fails an InferenceService that serves no digest', () => {
    const check = checkDrill({ items, restored, servedDigests: new Map(), marks: MARKS });
    expect(check.mismatches).toEqual([
      'InferenceService/iris: serves no model digest (status.model.sha256 is empty)',
    ]);
  });
});
