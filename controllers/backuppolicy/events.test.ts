import { describe, expect, it } from 'vitest';
import { toCloudEvent } from '../../operator/kafka/events.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { backupEvent } from './events.ts';
import { crd } from './schema.ts';
import type { LastBackup } from './schema.ts';

const resource = resourceTypeOf(crd);
const policy = { metadata: { name: 'nightly', namespace: 'team-a', uid: 'u-1' } };
const now = new Date('2026-12-04T23:00:00Z');
const completed: LastBackup = {
  id: '20261204T220000Z-0a1b2c3d',
  phase: 'Completed',
  trigger: 'Schedule',
  startedAt: '2026-12-04T22:00:00Z',
  completedAt: '2026-12-04T22:00:05Z',
  items: 5,
  bytes: 4096,
};
const failed: LastBackup = {
  phase: 'Failed',
  trigger: 'OnDemand',
  startedAt: '2026-12-04T22:10:00Z',
  completedAt: '2026-12-04T22:10:30Z',
  reason: 'StorageUnavailable',
  message: 'the store could not be reached (PutObject in bucket b: ECONNREFUSED)',
};

describe('backupEvent', () => {
  it('is a backup.completed CloudEvent of the policy with what the backup did', () => {
    const ce = toCloudEvent(backupEvent(resource, policy, completed), now);
    expect(ce).toMatchObject({
      type: 'io.ymera.backuppolicy.backup.completed',
      source: '/apis/ymera.io/v1alpha1/namespaces/team-a/backuppolicies/nightly',
      subject: 'team-a/nightly',
      time: '2026-12-04T22:00:05.000Z',
      data: {
        phase: 'Completed',
        id: completed.id,
        trigger: 'Schedule',
        items: 5,
        bytes: 4096,
        startedAt: completed.startedAt,
        completedAt: completed.completedAt,
      },
    });
    expect(ce.data).not.toHaveProperty('reason');
  });

  it('says why a backup failed', () => {
    const ce = toCloudEvent(backupEvent(resource, policy, failed), now);
    expect(ce.data).toEqual({
      phase: 'Failed',
      trigger: 'OnDemand',
      startedAt: failed.startedAt,
      completedAt: failed.completedAt,
      reason: 'StorageUnavailable',
      message: failed.message,
    });
  });

  it('has one id per attempt: the same backup twice gives the same id, two attempts two ids', () => {
    const id = (b: LastBackup) => toCloudEvent(backupEvent(resource, policy, b), now).id;
    expect(id(completed)).toBe(id({ ...completed }));
    expect(id(completed)).not.toBe(id({ ...completed, id: '20261204T230000Z-ffffffff' }));
    expect(id(failed)).toBe(id({ ...failed, completedAt: '2026-12-04T22:11:00Z' }));
    expect(id(failed)).not.toBe(id({ ...failed, startedAt: '2026-12-04T22:20:00Z' }));
    expect(id(failed)).not.toBe(id(completed));
  });
});
