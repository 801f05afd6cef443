import { describe, expect, it } from 'vitest';
import type { BackupPolicySpec } from './schema.ts';
import { validateBackupPolicy } from './validate.ts';

const base: BackupPolicySpec = {
  schedule: '0 1 * * *',
  storage: { s3: { bucket: 'ymera-backups', endpoint: 'http://minio.storage:9000' } },
};

describe('validateBackupPolicy', () => {
  it('accepts a valid policy', () => {
    expect(validateBackupPolicy(base, { namespace: 'team-a' })).toEqual([]);
    expect(
      validateBackupPolicy(
        { ...base, drill: { schedule: '0 4 * * 0', targetNamespace: 'team-a-drill' } },
        { namespace: 'team-a' },
      ),
    ).toEqual([]);
  });

  it('refuses a drill into a namespace that is backed up (its own by default)', () => {
    const drill = { schedule: '0 4 * * 0', targetNamespace: 'team-a' };
    expect(validateBackupPolicy({ ...base, drill }, { namespace: 'team-a' })).toEqual([
      {
        field: 'spec.drill.targetNamespace',
        message: 'team-a is backed up by this policy; a drill needs a scratch namespace',
      },
    ]);
    expect(
      validateBackupPolicy(
        { ...base, include: { namespaces: ['x', 'team-a'] }, drill },
        { namespace: 'other' },
      )[0]?.field,
    ).toBe('spec.drill.targetNamespace');
  });

  it('checks schedules, time zone, selector and storage', () => {
    const errors = validateBackupPolicy({
      schedule: '0 1 * *',
      timeZone: 'Atlantis/Capital',
      include: { secrets: true, labelSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } },
      storage: { s3: { bucket: 'Bad_Bucket', endpoint: 'ftp://x' } },
      drill: { schedule: '@sometimes', targetNamespace: 'scratch' },
    });
    expect(errors.map((e) => e.field)).toEqual([
      'spec.timeZone',
      'spec.schedule',
      'spec.include.labelSelector.matchExpressions[0].values',
      'spec.encryption',
      'spec.drill.schedule',
      'spec.storage.s3.bucket',
      'spec.storage.s3.endpoint',
    ]);
  });

  it('needs storage.s3 and says PVCs are not supported', () => {
    expect(validateBackupPolicy({ schedule: '@daily', storage: {} })).toEqual([
      {
        field: 'spec.storage.s3',
        message:
          'required: backups go to S3-compatible object storage (AWS S3, MinIO, ...); PersistentVolumeClaims are not supported',
      },
    ]);
  });
});
