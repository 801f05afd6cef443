// Pure: the CloudEvent (io.ymera.backuppolicy.backup.completed) published
// for every backup attempt, Completed or Failed. Its id is stable per
// attempt: the discriminator is the backup id of a Completed backup, and
// for a Failed attempt (which may have no id) its start time, so a consumer
// de-duplicates a re-send and never merges two attempts. The data holds
// what status.lastBackup says (no key material, no credentials: the failure
// message is the one status shows).
import type { PlatformEvent } from '../../operator/kafka/events.ts';
import { EventType } from '../../operator/kafka/events.ts';
import type { KubeObject, ResourceType } from '../../operator/kube/resources.ts';
import type { LastBackup } from './schema.ts';

export function backupEvent(
  resource: PlatformEvent['resource'] | ResourceType,
  policy: Pick<KubeObject, 'metadata'>,
  backup: LastBackup,
): PlatformEvent {
  const discriminator =
    backup.phase === 'Completed' && backup.id ? `completed/${backup.id}` : `failed/${backup.startedAt}`;
  const data: Record<string, unknown> = {
    phase: backup.phase,
    trigger: backup.trigger,
    startedAt: backup.startedAt,
  };
  for (const field of ['id', 'completedAt', 'items', 'bytes', 'reason', 'message'] as const)
    if (backup[field] !== undefined) data[field] = backup[field];
  return {
    resource,
    object: policy,
    type: EventType.BackupCompleted,
    discriminator,
    data,
    time: backup.completedAt ?? backup.startedAt,
  };
}
