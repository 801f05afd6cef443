// Pure: a BackupPolicy → Prometheus alerts for backups that stopped
// completing and for failed restore drills.
//
// Metric contract with the operator (the BackupPolicy controller exports
// these; controllers/backuppolicy/metrics.ts):
//
//   ymera_backup_last_success_timestamp_seconds{namespace, backuppolicy}
//     Unix time the latest Completed backup finished; exported from the
//     policy's status (lastSuccessfulBackupTime) on every reconcile, so an
//     operator restart does not lose it. Absent until a backup completed.
//   ymera_backup_drill_passed{namespace, backuppolicy}
//     1 when the latest drill passed, 0 when it failed; absent before the
//     first drill.
//
// "Late" is twice the schedule's longest gap between two fire times
// (controllers/backuppolicy/interval.ts): one missed or failed run is
// tolerated, two in a row alert.
import type { KubeObject } from '../../kube/resources.ts';
import type { AlertingRule, RuleGroup } from '../rules.ts';
import { formatDuration, promqlNumber, selector } from '../rules.ts';
import { scheduleIntervalSeconds } from '../../../controllers/backuppolicy/interval.ts';
import {
  BACKUP_DRILL_PASSED,
  BACKUP_LAST_SUCCESS_TIMESTAMP,
  POLICY_LABEL as BACKUP_POLICY_LABEL,
} from '../../../controllers/backuppolicy/metrics.ts';

export const BACKUP_MISSING_ALERT = 'YmeraBackupMissing';
export const BACKUP_NEVER_COMPLETED_ALERT = 'YmeraBackupNeverCompleted';
export const DRILL_FAILED_ALERT = 'YmeraBackupDrillFailed';

export type BackupPolicyLike = Pick<KubeObject, 'metadata'> & {
  spec: { schedule: string; timeZone?: string | undefined; suspend?: boolean | undefined; drill?: unknown };
};

export function ruleGroupName(obj: Pick<KubeObject, 'metadata'>): string {
  return `ymera-backuppolicy-${obj.metadata.name}`;
}

const BY = `namespace, ${BACKUP_POLICY_LABEL}`;

/**
 * The rule group of one BackupPolicy: the missed-backup alerts while it is
 * scheduled (not suspended, a schedule that fires), the drill alert when it
 * has a drill; no group when neither applies (the rule object is pruned).
 */
export function backupPolicyRuleGroups(obj: BackupPolicyLike): RuleGroup[] {
  const namespace = obj.metadata.namespace;
  if (!namespace) throw new Error(`BackupPolicy ${obj.metadata.name} has no namespace`);
  const sel = selector({ namespace, [BACKUP_POLICY_LABEL]: obj.metadata.name });
  const who = `BackupPolicy ${namespace}/${obj.metadata.name}`;
  const how = `kubectl describe bpol ${obj.metadata.name} -n ${namespace}`;
  const rules: AlertingRule[] = [];

  const interval = obj.spec.suspend
    ? undefined
    : scheduleIntervalSeconds(obj.spec.schedule, obj.spec.timeZone);
  if (interval !== undefined) {
    const late = 2 * interval;
    const lateText = formatDuration(late);
    rules.push(
      {
        alert: BACKUP_MISSING_ALERT,
        expr: `time() - max by (${BY}) (${BACKUP_LAST_SUCCESS_TIMESTAMP}${sel}) > ${promqlNumber(late)}`,
        labels: { severity: 'warning' },
        annotations: {
          summary: `${who} has no Completed backup for more than ${lateText}`,
          description: `The latest Completed backup finished more than ${lateText} ago, twice the longest interval of the schedule "${obj.spec.schedule}": backups fail or do not run (${how}).`,
        },
      },
      {
        alert: BACKUP_NEVER_COMPLETED_ALERT,
        expr: `absent(${BACKUP_LAST_SUCCESS_TIMESTAMP}${sel})`,
        for: lateText,
        labels: { severity: 'warning' },
        annotations: {
          summary: `${who} has not completed a backup in ${lateText}`,
          description: `No backup of this policy has completed for ${lateText}, twice the longest interval of the schedule "${obj.spec.schedule}" (${how}).`,
        },
      },
    );
  }
  if (obj.spec.drill) {
    rules.push({
      alert: DRILL_FAILED_ALERT,
      expr: `min by (${BY}) (${BACKUP_DRILL_PASSED}${sel}) == 0`,
      labels: { severity: 'warning' },
      annotations: {
        summary: `The latest restore drill of ${who} failed`,
        description: `The latest backup could not be restored and verified in the drill's scratch namespace; status.lastDrill says what did not match (${how}).`,
      },
    });
  }
  return rules.length > 0 ? [{ name: ruleGroupName(obj), rules }] : [];
}
