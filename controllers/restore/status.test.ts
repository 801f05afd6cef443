import { describe, expect, it } from 'vitest';
import type { RestoreReport } from './engine.ts';
import { isFinal, reportVerdict, restoreStatus } from './status.ts';
import { tenancyRefusal } from './tenancy.ts';
import type { PlanEntry } from './plan.ts';

const now = new Date('2026-12-04T22:00:00Z');
const entry = (name: string, namespace?: string, action: PlanEntry['action'] = 'create'): PlanEntry => ({
  item: 'items/000001.bin',
  apiVersion: 'v1',
  kind: 'ConfigMap',
  ...(namespace !== undefined ? { namespace } : {}),
  name,
  action,
  sha256: 'a'.repeat(64),
});

function report(over: Partial<RestoreReport> = {}): RestoreReport {
  return {
    ok: true,
    backupId: '20261204T194745Z-0a1b2c3d',
    manifestSha256: 'b'.repeat(64),
    dryRun: false,
    objects: [{ ...entry('cfg', 'team-a'), result: 'Restored' }],
    models: [],
    plan: { create: 1, skip: 0, overwrite: 0, conflict: 0 },
    counts: { restored: 1, skipped: 0, failed: 0 },
    errors: [],
    ...over,
  };
}

const cond = (s: { conditions?: { type: string; status: string; reason: string }[] }, type: string) =>
  s.conditions?.find((c) => c.type === type);

describe('restoreStatus', () => {
  it('Succeeded: final, Ready and Succeeded True, no Stalled or Reconciling, counts and plan recorded', () => {
    const r = report();
    const s = restoreStatus(
      { generation: 1, ...reportVerdict(r), backupId: r.backupId, report: r },
      undefined,
      now,
    );
    expect(s).toMatchObject({
      observedGeneration: 1,
      phase: 'Succeeded',
      backupId: r.backupId,
      restoredObjects: 1,
      skippedObjects: 0,
      failedObjects: 0,
      manifestSha256: r.manifestSha256,
      plan: {
        create: 1,
        objects: [{ action: 'create', kind: 'ConfigMap', namespace: 'team-a', name: 'cfg' }],
      },
    });
    expect(isFinal(s.phase)).toBe(true);
    expect(cond(s, 'Succeeded')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(s, 'Stalled')).toBeUndefined();
    expect(cond(s, 'Reconciling')).toBeUndefined();
  });

  it('a dry run records the plan only and says nothing was written', () => {
    const r = report({ dryRun: true, objects: [{ ...entry('cfg', 'team-a', 'skip'), result: 'Planned' }] });
    const v = reportVerdict({ ...r, plan: { create: 0, skip: 1, overwrite: 0, conflict: 0 } });
    expect(v).toMatchObject({ phase: 'Succeeded', reason: 'DryRun' });
    expect(v.message).toContain('nothing was written');
    const s = restoreStatus({ generation: 1, ...v, report: r }, undefined, now);
    expect(s.restoredObjects).toBeUndefined();
    expect(s.plan?.objects?.[0]?.action).toBe('skip');
  });

  it('failed objects: Failed and Stalled, naming the first', () => {
    const r = report({
      counts: { restored: 1, skipped: 0, failed: 2 },
      errors: [
        { what: 'Secret team-a/tok', message: 'forbidden' },
        { what: 'ConfigMap team-a/x', message: 'exists and is immutable' },
      ],
    });
    const v = reportVerdict(r);
    expect(v).toMatchObject({ phase: 'Failed', reason: 'ObjectsFailed' });
    expect(v.message).toContain('first: Secret team-a/tok: forbidden');
    const s = restoreStatus({ generation: 1, ...v, report: r }, undefined, now);
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'True', reason: 'ObjectsFailed' });
    expect(cond(s, 'Succeeded')).toMatchObject({ status: 'False' });
    expect(s.errors).toHaveLength(2);
  });

  it('waiting: Reconciling, or Stalled when the user must act; Succeeded Unknown', () => {
    const waiting = restoreStatus(
      { generation: 1, phase: 'Pending', reason: 'NoBackup', message: 'no backup yet' },
      undefined,
      now,
    );
    expect(cond(waiting, 'Reconciling')).toMatchObject({ status: 'True', reason: 'NoBackup' });
    expect(cond(waiting, 'Succeeded')).toMatchObject({ status: 'Unknown' });
    const stalled = restoreStatus(
      { generation: 1, phase: 'Pending', reason: 'KeyUnavailable', message: 'no key', stalled: true },
      waiting,
      now,
    );
    expect(cond(stalled, 'Stalled')).toMatchObject({ status: 'True', reason: 'KeyUnavailable' });
    expect(cond(stalled, 'Reconciling')).toBeUndefined();
  });
});

describe('tenancy', () => {
  it('refuses a targetNamespace other than the Restore’s own, naming the field', () => {
    const spec = (targetNamespace?: string) => ({ restoreNamespace: 'team-a', targetNamespace });
    expect(tenancyRefusal(spec())).toBeUndefined();
    expect(tenancyRefusal(spec('team-a'))).toBeUndefined();
    expect(tenancyRefusal(spec('team-b'))?.message).toMatch(
      /^spec\.targetNamespace: .*team-b is not allowed/,
    );
  });

  it('refuses a plan writing outside the namespace: objects of another namespace, cluster-scoped objects', () => {
    const check = (plan: PlanEntry[], targetNamespace?: string) =>
      tenancyRefusal({ restoreNamespace: 'team-a', targetNamespace, plan });
    expect(check([entry('a', 'team-a')])).toBeUndefined();
    expect(check([entry('a', 'team-a')], 'team-a')).toBeUndefined();
    const other = check([entry('a', 'team-a'), entry('b', 'team-b')]);
    expect(other?.reason).toBe('NamespaceNotAllowed');
    expect(other?.message).toMatch(
      /^spec\.targetNamespace: the backup holds objects of namespace team-b .*set spec\.targetNamespace: team-a/,
    );
    expect(check([entry('n')])?.message).toMatch(/^spec\.kinds: ConfigMap n is cluster-scoped/);
  });

  it('allows what the cluster admin granted to the Restore’s namespace, and nothing more', () => {
    const granted = (ns: string) => ns === 'team-b';
    expect(
      tenancyRefusal({ restoreNamespace: 'team-a', targetNamespace: 'team-b', granted }),
    ).toBeUndefined();
    expect(
      tenancyRefusal({ restoreNamespace: 'team-a', targetNamespace: 'team-c', granted })?.message,
    ).toContain('unless the cluster admin grants it (--backup-namespace-grant');
    const plan = [entry('a', 'team-a'), entry('b', 'team-b')];
    expect(
      tenancyRefusal({ restoreNamespace: 'team-a', targetNamespace: undefined, plan, granted }),
    ).toBeUndefined();
    expect(
      tenancyRefusal({
        restoreNamespace: 'team-a',
        targetNamespace: undefined,
        plan: [...plan, entry('c', 'team-c')],
        granted,
      })?.reason,
    ).toBe('NamespaceNotAllowed');
  });
});
