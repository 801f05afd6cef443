// Spec checks the API server cannot make: cron schedules and time zone, the
// drill namespace against the policy's own, label selector, storage location (S3 only).
import type { FieldError } from '../../operator/schema/validation.ts';
import {
  checkBucketName,
  checkCron,
  checkLabelSelector,
  checkTimeZone,
} from '../../operator/schema/validation.ts';
import type { BackupPolicySpec } from './schema.ts';

export interface BackupPolicyContext {
  /** Namespace of the policy (the default namespace backed up). */
  namespace?: string;
}

export function validateBackupPolicy(spec: BackupPolicySpec, ctx: BackupPolicyContext = {}): FieldError[] {
  const errors: FieldError[] = [];
  const tzError = spec.timeZone === undefined ? undefined : checkTimeZone(spec.timeZone);
  if (tzError) errors.push({ field: 'spec.timeZone', message: tzError });
  const tz = tzError ? undefined : spec.timeZone;
  const cronError = checkCron(spec.schedule, tz);
  if (cronError) errors.push({ field: 'spec.schedule', message: cronError });

  const include = spec.include;
  errors.push(...checkLabelSelector('spec.include.labelSelector', include?.labelSelector));
  if (include?.secrets && !spec.encryption) {
    errors.push({
      field: 'spec.encryption',
      message: 'backing up Secrets (include.secrets) requires encryption',
    });
  }

  if (spec.drill) {
    const drillCron = checkCron(spec.drill.schedule, tz);
    if (drillCron) errors.push({ field: 'spec.drill.schedule', message: drillCron });
    const target = spec.drill.targetNamespace;
    const backedUp = include?.namespaces ?? (ctx.namespace ? [ctx.namespace] : []);
    if (backedUp.includes(target)) {
      errors.push({
        field: 'spec.drill.targetNamespace',
        message: `${target} is backed up by this policy; a drill needs a scratch namespace`,
      });
    }
  }

  const { s3 } = spec.storage;
  if (!s3)
    errors.push({
      field: 'spec.storage.s3',
      message:
        'required: backups go to S3-compatible object storage (AWS S3, MinIO, ...); PersistentVolumeClaims are not supported',
    });
  if (s3) {
    const bucketError = checkBucketName(s3.bucket);
    if (bucketError) errors.push({ field: 'spec.storage.s3.bucket', message: bucketError });
    if (s3.endpoint !== undefined) {
      try {
        const url = new URL(s3.endpoint);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
      } catch {
        errors.push({ field: 'spec.storage.s3.endpoint', message: `${s3.endpoint} is not an http(s) URL` });
      }
    }
  }
  return errors;
}
