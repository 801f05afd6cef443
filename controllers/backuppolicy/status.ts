// Pure: a BackupPolicy's status from what the reconcile observed. Ready
// says whether the policy works (its configuration, the latest attempt);
// BackupHealthy says whether the latest backup completed; Stalled names what
// the user must change; Reconciling is true while a failed backup is
// retried or a backup is in progress (both absent otherwise: kstatus
// abnormal-true polarity). PartiallyFailed (model files missing) is a
// restorable backup but not a healthy one: BackupHealthy False, Degraded.
// DrillPassed carries the latest drill's verdict; a failed drill makes the
// phase Degraded too.
import type { Condition } from '../../operator/conditions.ts';
import { ConditionType, metaTime, Reason, removeCondition, setCondition } from '../../operator/conditions.ts';
import type { DrillState } from './drill-runner.ts';
import type { BackupListing } from './store.ts';
import type { BackupPolicyPhase, BackupPolicyStatus, BackupRecord, LastBackup } from './schema.ts';

export const MAX_LISTED_BACKUPS = 50;

export type StatusInput = {
  generation: number;
  /** Something the user must change: nothing runs until then. */
  stalled?: { reason: string; message: string } | undefined;
  lastBackup?: LastBackup | undefined;
  lastSuccessfulBackupTime?: string | undefined;
  lastScheduleTime?: string | undefined;
  backupNowToken?: string | undefined;
  backups?: BackupRecord[] | undefined;
  next?: Date | undefined;
  suspend: boolean;
  drill: boolean;
  /** The drill's part of status (drill-runner.ts); absent fields are dropped. */
  drillState?: DrillState | undefined;
};

/** Listings as status records, newest first, bounded. */
export function backupRecords(listing: readonly BackupListing[]): BackupRecord[] {
  return listing.slice(0, MAX_LISTED_BACKUPS).map((b) => ({
    id: b.id,
    state: b.state,
    ...(b.startedAt ? { startedAt: metaTime(new Date(b.startedAt)) } : {}),
    ...(b.completedAt ? { completedAt: metaTime(new Date(b.completedAt)) } : {}),
    ...(b.manifest ? { items: b.manifest.counts.items } : {}),
    bytes: b.storedBytes,
  }));
}

function describe(b: LastBackup): string {
  if (b.phase === 'Failed') return `the latest backup failed: ${b.message ?? b.reason ?? 'unknown'}`;
  if (b.phase === 'InProgress') return `backup ${b.id ?? ''} started at ${b.startedAt} is in progress`;
  if (b.phase === 'PartiallyFailed')
    return `backup ${b.id ?? ''} completed at ${b.completedAt ?? ''} without some model files (restorable without them): ${b.message ?? ''}`;
  return `backup ${b.id ?? ''} completed at ${b.completedAt ?? ''}: ${b.items ?? 0} items, ${b.bytes ?? 0} bytes`;
}

export function backupPolicyStatus(
  input: StatusInput,
  previous: BackupPolicyStatus | undefined,
  now: Date,
): BackupPolicyStatus {
  const g = input.generation;
  let conditions: Condition[] = (previous?.conditions ?? []) as Condition[];
  const set = (type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string) => {
    conditions = setCondition(conditions, { type, status, reason, message, observedGeneration: g }, now);
  };
  const last = input.lastBackup;
  const failed = last?.phase === 'Failed';
  // PartiallyFailed: a restorable backup lacking model files; unhealthy, not retried
  const partial = last?.phase === 'PartiallyFailed';
  const running = last?.phase === 'InProgress';
  const nextText = input.next ? `; next scheduled backup at ${metaTime(input.next)}` : '';

  if (input.stalled) {
    set(ConditionType.Stalled, 'True', input.stalled.reason, input.stalled.message);
    set(ConditionType.Ready, 'False', input.stalled.reason, input.stalled.message);
  } else {
    conditions = removeCondition(conditions, ConditionType.Stalled);
    if (failed) set(ConditionType.Ready, 'False', last.reason ?? 'BackupFailed', describe(last));
    else if (input.suspend)
      set(
        ConditionType.Ready,
        'True',
        'Suspended',
        'scheduled backups are suspended (spec.suspend); on-demand backups still run',
      );
    else set(ConditionType.Ready, 'True', Reason.Reconciled, `backups are scheduled${nextText}`);
  }
  if (failed && !input.stalled)
    set(ConditionType.Reconciling, 'True', 'BackupRetrying', `retrying with backoff: ${describe(last)}`);
  else if (running && !input.stalled)
    set(ConditionType.Reconciling, 'True', 'BackupInProgress', describe(last));
  else conditions = removeCondition(conditions, ConditionType.Reconciling);

  const healthy = conditions.find((c) => c.type === 'BackupHealthy');
  if (!last) set('BackupHealthy', 'Unknown', 'NoBackupYet', `no backup has been taken yet${nextText}`);
  else if (failed) set('BackupHealthy', 'False', last.reason ?? 'BackupFailed', describe(last));
  else if (partial) set('BackupHealthy', 'False', 'PartiallyFailed', describe(last));
  // while a backup runs, BackupHealthy still speaks of the latest finished one
  else if (running) {
    if (!healthy) set('BackupHealthy', 'Unknown', 'BackupInProgress', describe(last));
  } else set('BackupHealthy', 'True', Reason.Succeeded, describe(last));

  const drill = input.drillState;
  const lastDrill = drill?.lastDrill;
  const drillFailed = input.drill && lastDrill?.result === 'Failed';
  if (!input.drill) conditions = removeCondition(conditions, 'DrillPassed');
  else if (lastDrill)
    set(
      'DrillPassed',
      lastDrill.result === 'Passed' ? 'True' : 'False',
      lastDrill.result === 'Passed' ? 'DrillPassed' : 'DrillFailed',
      lastDrill.message ?? `the latest drill ${lastDrill.result === 'Passed' ? 'passed' : 'failed'}`,
    );
  else if (drill?.activeDrill)
    set(
      'DrillPassed',
      'Unknown',
      'DrillRunning',
      `the first drill is restoring backup ${drill.activeDrill.backupId} into ${drill.activeDrill.namespace}`,
    );
  else
    set(
      'DrillPassed',
      'Unknown',
      'NoDrillYet',
      `no drill has run yet${drill?.nextDrillTime ? `; the next is due at ${metaTime(drill.nextDrillTime)}` : ''}`,
    );

  let phase: BackupPolicyPhase;
  if (input.stalled || failed || partial || drillFailed) phase = 'Degraded';
  else if (input.suspend) phase = 'Suspended';
  else if (last?.phase === 'Completed') phase = 'Healthy';
  else if (running && previous?.phase && previous.phase !== 'Suspended') phase = previous.phase;
  else phase = 'Pending';

  return {
    observedGeneration: g,
    conditions,
    phase,
    ...(last ? { lastBackup: last } : {}),
    ...(input.lastSuccessfulBackupTime ? { lastSuccessfulBackupTime: input.lastSuccessfulBackupTime } : {}),
    ...(input.lastScheduleTime ? { lastScheduleTime: input.lastScheduleTime } : {}),
    ...(input.backupNowToken ? { backupNowToken: input.backupNowToken } : {}),
    ...(input.backups ? { backups: input.backups } : {}),
    ...(input.next && !input.suspend ? { nextScheduleTime: metaTime(input.next) } : {}),
    ...(input.drill && drill?.activeDrill ? { activeDrill: drill.activeDrill } : {}),
    ...(input.drill && lastDrill ? { lastDrill } : {}),
    ...(input.drill && drill?.lastDrillScheduleTime
      ? { lastDrillScheduleTime: drill.lastDrillScheduleTime }
      : {}),
    ...(input.drill && drill?.drillNowToken ? { drillNowToken: drill.drillNowToken } : {}),
    ...(input.drill && drill?.nextDrillTime && !input.suspend
      ? { nextDrillTime: metaTime(drill.nextDrillTime) }
      : {}),
  };
}
