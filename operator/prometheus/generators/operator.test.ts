import { describe, expect, it } from 'vitest';
import { isAlertingRule, validateRuleGroups } from '../rules.ts';
import {
  ABSENT_ALERT,
  MANY_LEADERS_ALERT,
  NO_LEADER_ALERT,
  operatorRuleGroups,
  RECONCILE_ERRORS_ALERT,
  WORKQUEUE_BACKLOG_ALERT,
} from './operator.ts';
import { allExprs, ymeraSelectors } from './test-support.ts';

describe('operatorRuleGroups', () => {
  it('alerts on reconcile errors, queue backlog and leadership, scoped to the operator namespace', () => {
    const groups = operatorRuleGroups({ namespace: 'ymera-system' });
    expect(validateRuleGroups(groups)).toEqual([]);
    const rules = groups[0]?.rules.filter(isAlertingRule) ?? [];
    expect(rules.map((r) => r.alert)).toEqual([
      RECONCILE_ERRORS_ALERT,
      WORKQUEUE_BACKLOG_ALERT,
      NO_LEADER_ALERT,
      MANY_LEADERS_ALERT,
      ABSENT_ALERT,
    ]);
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
    expect(byName[RECONCILE_ERRORS_ALERT]?.expr).toBe(
      'sum by (namespace, controller) (rate(ymera_reconcile_errors_total{namespace="ymera-system"}[5m]))\n/\n' +
        'sum by (namespace, controller) (rate(ymera_reconcile_total{namespace="ymera-system"}[5m]))\n> 0.1',
    );
    expect(byName[WORKQUEUE_BACKLOG_ALERT]?.expr).toBe(
      'max by (namespace, name) (ymera_workqueue_depth{namespace="ymera-system"}) > 100',
    );
    expect(byName[NO_LEADER_ALERT]?.expr).toBe(
      'max by (namespace) (ymera_leader_is_leader{namespace="ymera-system"}) < 1',
    );
    expect(byName[MANY_LEADERS_ALERT]?.expr).toBe(
      'sum by (namespace) (ymera_leader_is_leader{namespace="ymera-system"}) > 1',
    );
    expect(byName[ABSENT_ALERT]?.expr).toBe('absent(ymera_leader_is_leader{namespace="ymera-system"})');
    expect(byName[NO_LEADER_ALERT]?.labels?.severity).toBe('critical');
  });

  it('adds the job to the scope when given, and takes thresholds', () => {
    const groups = operatorRuleGroups({
      namespace: 'ops',
      job: 'ymera-operator',
      maxErrorRatio: 0.25,
      maxQueueDepth: 7,
      for: { errors: '1m' },
    });
    const selectors = allExprs(groups).flatMap(ymeraSelectors);
    expect(selectors).toHaveLength(6);
    for (const sel of selectors) {
      expect(sel.labels).toEqual({ job: 'ymera-operator', namespace: 'ops' });
    }
    const rules = groups[0]?.rules.filter(isAlertingRule) ?? [];
    expect(rules[0]?.expr).toContain('sum by (job, namespace, controller)');
    expect(rules[0]?.expr).toMatch(/> 0\.25$/);
    expect(rules[0]?.for).toBe('1m');
    expect(rules[1]?.expr).toMatch(/> 7$/);
  });

  it('needs a namespace', () => {
    expect(() => operatorRuleGroups({ namespace: '' })).toThrow(/namespace/);
  });
});
