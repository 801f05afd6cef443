import { describe, expect, it } from 'vitest';
import type { BackupListing } from './store.ts';
import { backupPolicyStatus, backupRecords, MAX_LISTED_BACKUPS } from './status.ts';

const now = new Date('2026-12-04T20:00:00Z');
const base = { generation: 3, suspend: false, drill: false };
const cond = (s: { conditions?: { type: string }[] }, type: string) =>
  s.conditions?.find((c) => c.type === type);

describe('backupPolicyStatus', () => {
  it('Pending before the first backup: Ready, BackupHealthy Unknown, no Stalled or Reconciling', () => {
    const s = backupPolicyStatus({ ...base, next: new Date('2026-12-05T01:00:00Z') }, undefined, now);
    expect(s.phase).toBe('Pending');
    expect(s.observedGeneration).toBe(3);
    expect(s.nextScheduleTime).toBe('2026-12-05T01:00:00Z');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', observedGeneration: 3 });
    expect(cond(s, 'BackupHealthy')).toMatchObject({ status: 'Unknown', reason: 'NoBackupYet' });
    expect(cond(s, 'Stalled')).toBeUndefined();
    expect(cond(s, 'Reconciling')).toBeUndefined();
  });

  it('Stalled names the reason; a later healthy status drops it', () => {
    const stalled = backupPolicyStatus(
      { ...base, stalled: { reason: 'InvalidKey', message: 'spec.encryption.keySecret: …' } },
      undefined,
      now,
    );
    expect(stalled.phase).toBe('Degraded');
    expect(cond(stalled, 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidKey' });
    expect(cond(stalled, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidKey' });
    const healthy = backupPolicyStatus(
      {
        ...base,
        lastBackup: {
          id: 'b',
          phase: 'Completed',
          trigger: 'OnDemand',
          startedAt: 'x',
          completedAt: 'y',
          items: 2,
          bytes: 9,
        },
      },
      stalled,
      now,
    );
    expect(cond(healthy, 'Stalled')).toBeUndefined();
    expect(healthy.phase).toBe('Healthy');
    expect(cond(healthy, 'BackupHealthy')).toMatchObject({ status: 'True', reason: 'Succeeded' });
  });

  it('a failed backup: Degraded, BackupHealthy False with its reason, Reconciling while retried', () => {
    const s = backupPolicyStatus(
      {
        ...base,
        lastBackup: {
          phase: 'Failed',
          trigger: 'Schedule',
          startedAt: 'x',
          reason: 'StorageUnavailable',
          message: 'the store could not be reached',
        },
      },
      undefined,
      now,
    );
    expect(s.phase).toBe('Degraded');
    expect(cond(s, 'BackupHealthy')).toMatchObject({ status: 'False', reason: 'StorageUnavailable' });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'StorageUnavailable' });
    expect(cond(s, 'Reconciling')).toMatchObject({ status: 'True', reason: 'BackupRetrying' });
  });

  it('DrillPassed Unknown before the first drill, with the next drill time; Suspended while suspended', () => {
    const nextDrillTime = new Date('2026-12-06T04:00:00Z');
    const s = backupPolicyStatus({ ...base, drill: true, drillState: { nextDrillTime } }, undefined, now);
    expect(cond(s, 'DrillPassed')).toMatchObject({
      status: 'Unknown',
      reason: 'NoDrillYet',
      message: 'no drill has run yet; the next is due at 2026-12-06T04:00:00Z',
    });
    expect(s.nextDrillTime).toBe('2026-12-06T04:00:00Z');
    const suspended = backupPolicyStatus({ ...base, drill: true, suspend: true }, undefined, now);
    expect(suspended.phase).toBe('Suspended');
    expect(suspended.nextScheduleTime).toBeUndefined();
  });

  it('carries the latest drill: Passed keeps the phase, Failed makes it Degraded', () => {
    const lastBackup = {
      id: 'b1',
      phase: 'Completed' as const,
      trigger: 'Schedule' as const,
      startedAt: '2026-12-04T19:00:00Z',
    };
    const passed = {
      time: '2026-12-04T19:30:00Z',
      result: 'Passed' as const,
      rtoSeconds: 12.5,
      message: 'all match',
    };
    const ok = backupPolicyStatus(
      { ...base, drill: true, lastBackup, drillState: { lastDrill: passed } },
      undefined,
      now,
    );
    expect(cond(ok, 'DrillPassed')).toMatchObject({
      status: 'True',
      reason: 'DrillPassed',
      message: 'all match',
    });
    expect(ok.phase).toBe('Healthy');
    expect(ok.lastDrill).toEqual(passed);
    const failed = backupPolicyStatus(
      {
        ...base,
        drill: true,
        lastBackup,
        drillState: { lastDrill: { ...passed, result: 'Failed', message: 'x: not restored' } },
      },
      undefined,
      now,
    );
    expect(cond(failed, 'DrillPassed')).toMatchObject({
      status: 'False',
      reason: 'DrillFailed',
      message: 'x: not restored',
    });
    expect(failed.phase).toBe('Degraded');
  });

  it('shows the drill under way', () => {
    const activeDrill = {
      backupId: 'b1',
      namespace: 'team-a-drill',
      trigger: 'OnDemand' as const,
      startedAt: '2026-12-04T19:59:00Z',
    };
    const s = backupPolicyStatus({ ...base, drill: true, drillState: { activeDrill } }, undefined, now);
    expect(s.activeDrill).toEqual(activeDrill);
    expect(cond(s, 'DrillPassed')).toMatchObject({ status: 'Unknown', reason: 'DrillRunning' });
  });
});

describe('backupRecords', () => {
  it('lists newest first as given, bounded, with items from the manifest', () => {
    const listing = Array.from({ length: 60 }, (_, i) => ({
      id: `20261204T1900${String(i % 60).padStart(2, '0')}Z-0000000${i % 10}`,
      state: 'Incomplete' as const,
      startedAt: '2026-12-04T19:00:00.000Z',
      storedObjects: 1,
      storedBytes: i,
    })) as BackupListing[];
    const records = backupRecords(listing);
    expect(records).toHaveLength(MAX_LISTED_BACKUPS);
    expect(records[0]).toEqual({
      id: listing[0]?.id,
      state: 'Incomplete',
      startedAt: '2026-12-04T19:00:00Z',
      bytes: 0,
    });
  });
});

describe('backupPolicyStatus: InProgress and PartiallyFailed', () => {
  const completed = {
    id: 'a',
    phase: 'Completed' as const,
    trigger: 'Schedule' as const,
    startedAt: '2026-12-04T19:00:00Z',
    completedAt: '2026-12-04T19:01:00Z',
    items: 2,
    bytes: 9,
  };

  it('InProgress: Reconciling True (BackupInProgress); BackupHealthy and phase still speak of the latest finished backup', () => {
    const healthy = backupPolicyStatus({ ...base, lastBackup: completed }, undefined, now);
    const s = backupPolicyStatus(
      {
        ...base,
        lastBackup: { id: 'b', phase: 'InProgress', trigger: 'OnDemand', startedAt: '2026-12-04T20:00:00Z' },
      },
      healthy,
      now,
    );
    expect(s.lastBackup?.phase).toBe('InProgress');
    expect(s.phase).toBe('Healthy');
    expect(cond(s, 'Reconciling')).toMatchObject({ status: 'True', reason: 'BackupInProgress' });
    expect(cond(s, 'BackupHealthy')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True' });
    // the first backup ever: Pending, BackupHealthy Unknown
    const first = backupPolicyStatus(
      { ...base, lastBackup: { id: 'b', phase: 'InProgress', trigger: 'OnDemand', startedAt: 'x' } },
      undefined,
      now,
    );
    expect(first.phase).toBe('Pending');
    expect(cond(first, 'BackupHealthy')).toMatchObject({ status: 'Unknown', reason: 'BackupInProgress' });
    // done: Reconciling goes
    expect(
      cond(backupPolicyStatus({ ...base, lastBackup: completed }, s, now), 'Reconciling'),
    ).toBeUndefined();
  });

  it('PartiallyFailed: Degraded, BackupHealthy False (PartiallyFailed) naming the failed model; Ready; not retried', () => {
    const s = backupPolicyStatus(
      {
        ...base,
        lastBackup: {
          ...completed,
          phase: 'PartiallyFailed',
          reason: 'PartiallyFailed',
          failures: { count: 1, first: [{ what: 'model s3://m/x', message: 'does not exist' }] },
          message: '1 model file could not be copied: model s3://m/x: does not exist',
        },
      },
      undefined,
      now,
    );
    expect(s.phase).toBe('Degraded');
    expect(cond(s, 'BackupHealthy')).toMatchObject({ status: 'False', reason: 'PartiallyFailed' });
    expect(s.conditions?.find((c) => c.type === 'BackupHealthy')?.message).toContain(
      'model s3://m/x: does not exist',
    );
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(s, 'Reconciling')).toBeUndefined();
  });
});
