import { describe, expect, it } from 'vitest';
import {
  checkDrill,
  DRILL_NAMESPACE_LABEL,
  drillMessage,
  drillNamespaceVerdict,
  drillOwnerLabel,
  planDrill,
} from './drill.ts';
import type { RestoredObject } from './drill.ts';

const at = (s: string) => new Date(s);
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
    // on demand: the run alone, the next fire time is the following reconcile's
    expect(planDrill({ ...weekly, now: at('2026-11-29T05:00:00Z'), token: 'd2' })).toEqual({
      run: { trigger: 'OnDemand', token: 'd2' },
    });
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

describe('checkDrill', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  const restored = (kind: string, name: string, extra: Partial<RestoredObject> = {}): RestoredObject => ({
    kind,
    name,
    result: 'Restored',
    sha256: 'f00d',
    restoredSha256: 'f00d',
    ...extra,
  });
  const objects = [
    restored('ConfigMap', 'cfg'),
    restored('InferenceService', 'iris', { modelDigest: digest }),
  ];

  it('passes when every object hash and served model digest matches', () => {
    const check = checkDrill({ objects, servedDigests: new Map([['iris', 'ab'.repeat(32)]]) });
    expect(check).toEqual({
      passed: true,
      objectsChecked: 2,
      modelsChecked: 1,
      mismatches: [],
      unverified: [],
    });
    expect(drillMessage(check, 'b1', 12.34)).toBe(
      'backup b1: 2 objects and 1 model digests checked, all match; recovery took 12.3 s (restore start to all Ready)',
    );
  });

  it('names an object not restored, a changed object and a wrong model digest', () => {
    const check = checkDrill({
      objects: [
        restored('ConfigMap', 'cfg', { result: 'Failed', message: '403 Forbidden' }),
        restored('InferenceService', 'iris', { modelDigest: digest, restoredSha256: 'beef' }),
      ],
      servedDigests: new Map([['iris', `sha256:${'cd'.repeat(32)}`]]),
    });
    expect(check.passed).toBe(false);
    expect(check.mismatches).toEqual([
      'ConfigMap/cfg: not restored (Failed: 403 Forbidden)',
      'InferenceService/iris: content differs from the backup (sha256 beef…, backup f00d…)',
      'InferenceService/iris: serves model sha256 cdcdcdcdcdcd…, the backup paired abababababab…',
    ]);
    expect(drillMessage(check, 'b1', undefined)).toMatch(
      /^backup b1: 2 objects and 1 model digests checked; 3 mismatched: /,
    );
  });

  it('reports an InferenceService without a pinned digest as not verifiable, not as passed or failed', () => {
    const check = checkDrill({ objects, servedDigests: new Map() });
    expect(check).toMatchObject({ passed: true, modelsChecked: 0, unverified: ['iris'] });
    expect(drillMessage(check, 'b1', undefined)).toBe(
      'backup b1: 2 objects and 0 model digests checked, all match; model digest not verifiable for iris (no spec.model.sha256 pin, so Ready proves no particular model)',
    );
  });
});
