import { describe, expect, it } from 'vitest';
import { isAlertingRule, validateRuleGroups } from '../rules.ts';
import type { BackupPolicyLike } from './backuppolicy.ts';
import {
  BACKUP_MISSING_ALERT,
  BACKUP_NEVER_COMPLETED_ALERT,
  backupPolicyRuleGroups,
  DRILL_FAILED_ALERT,
} from './backuppolicy.ts';
import { allExprs, ymeraSelectors } from './test-support.ts';

const bpol = (spec: Partial<BackupPolicyLike['spec']> = {}): BackupPolicyLike => ({
  metadata: { name: 'nightly', namespace: 'team-a' },
  spec: { schedule: '0 1 * * *', ...spec },
});
const alerts = (p: BackupPolicyLike) =>
  backupPolicyRuleGroups(p).flatMap((g) => g.rules.filter(isAlertingRule));

describe('backupPolicyRuleGroups', () => {
  it('alerts when no backup completed within twice the schedule interval (daily: 2d)', () => {
    const groups = backupPolicyRuleGroups(bpol());
    expect(validateRuleGroups(groups)).toEqual([]);
    const [missing, never] = alerts(bpol());
    expect(missing).toMatchObject({
      alert: BACKUP_MISSING_ALERT,
      expr: 'time() - max by (namespace, backuppolicy) (ymera_backup_last_success_timestamp_seconds{backuppolicy="nightly",namespace="team-a"}) > 172800',
    });
    expect(missing?.annotations?.summary).toContain('more than 2d');
    expect(never).toMatchObject({
      alert: BACKUP_NEVER_COMPLETED_ALERT,
      expr: 'absent(ymera_backup_last_success_timestamp_seconds{backuppolicy="nightly",namespace="team-a"})',
      for: '2d',
    });
  });

  it('uses the longest gap of an irregular schedule (weekdays: Friday to Monday, 6d)', () => {
    expect(alerts(bpol({ schedule: '0 1 * * 1-5' }))[0]?.expr).toMatch(/> 518400$/);
    expect(alerts(bpol({ schedule: '*/5 * * * *' }))[1]?.for).toBe('10m');
  });

  it('has no missed-backup alerts while suspended, and a drill alert only with a drill', () => {
    expect(backupPolicyRuleGroups(bpol({ suspend: true }))).toEqual([]);
    expect(alerts(bpol({ suspend: true, drill: {} })).map((r) => r.alert)).toEqual([DRILL_FAILED_ALERT]);
    expect(alerts(bpol({ drill: {} })).map((r) => r.alert)).toEqual([
      BACKUP_MISSING_ALERT,
      BACKUP_NEVER_COMPLETED_ALERT,
      DRILL_FAILED_ALERT,
    ]);
    expect(alerts(bpol({ drill: {} }))[2]?.expr).toBe(
      'min by (namespace, backuppolicy) (ymera_backup_drill_passed{backuppolicy="nightly",namespace="team-a"}) == 0',
    );
  });

  it('scopes every series to the policy', () => {
    for (const expr of allExprs(backupPolicyRuleGroups(bpol({ drill: {} }))))
      for (const s of ymeraSelectors(expr))
        expect(s.labels).toEqual({ namespace: 'team-a', backuppolicy: 'nightly' });
  });
});
