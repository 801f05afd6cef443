import { describe, expect, it } from 'vitest';
import { isAlertingRule, validateRuleGroups } from '../rules.ts';
import type { MaintenancePlanLike } from './maintenanceplan.ts';
import {
  MAINTENANCE_STUCK_ALERT,
  MASS_FLAG_ALERT,
  NODE_RISK_HIGH_ALERT,
  PREDICTOR_NOT_READY_ALERT,
  maintenanceDeadlineSeconds,
  maintenancePlanRuleGroups,
} from './maintenanceplan.ts';
import { allExprs, ymeraSelectors } from './test-support.ts';

const mplan = (spec: Partial<MaintenancePlanLike['spec']> = {}): MaintenancePlanLike => ({
  metadata: { name: 'gpu-nodes' },
  spec: { predictor: { threshold: 0.8, interval: '5m', consecutive: 3 }, ...spec },
});
const alerts = (p: MaintenancePlanLike) =>
  maintenancePlanRuleGroups(p).flatMap((g) => g.rules.filter(isAlertingRule));

describe('maintenancePlanRuleGroups', () => {
  it('in Shadow mode: risk high for long, mass flag, predictor not ready (no stuck maintenance: nothing runs)', () => {
    const groups = maintenancePlanRuleGroups(mplan());
    expect(validateRuleGroups(groups)).toEqual([]);
    expect(groups[0]?.name).toBe('ymera-maintenanceplan-gpu-nodes');
    const [risk, mass, ready] = alerts(mplan());
    expect(risk).toMatchObject({
      alert: NODE_RISK_HIGH_ALERT,
      expr: 'max by (maintenanceplan, node) (ymera_node_failure_risk{maintenanceplan="gpu-nodes"}) >= 0.8',
      for: '1h',
    });
    expect(mass).toMatchObject({
      alert: MASS_FLAG_ALERT,
      expr: 'max by (maintenanceplan) (ymera_maintenanceplan_mass_flag{maintenanceplan="gpu-nodes"}) == 1',
    });
    expect(ready).toMatchObject({
      alert: PREDICTOR_NOT_READY_ALERT,
      expr: 'max by (maintenanceplan) (ymera_maintenanceplan_predictor_ready{maintenanceplan="gpu-nodes"}) == 0',
      for: '15m',
    });
  });

  it('waits longer with a long interval (two runs of consecutive evaluations, three intervals)', () => {
    const [risk, , ready] = alerts(mplan({ predictor: { interval: '30m', consecutive: 4 } }));
    expect(risk?.for).toBe('4h');
    expect(risk?.expr).toMatch(/>= 0\.8$/); // the default threshold
    expect(ready?.for).toBe('1h30m');
  });

  it('in Act mode alerts on a maintenance running past its drain and Job timeouts plus a margin', () => {
    const spec = {
      mode: 'Act',
      actions: [
        { type: 'Cordon' },
        { type: 'Drain', drain: { timeoutSeconds: 900 } },
        { type: 'Job', job: { timeoutSeconds: 600 } },
        { type: 'Uncordon' },
      ],
    };
    expect(maintenanceDeadlineSeconds({ ...spec, predictor: {} })).toBe(2100);
    expect(maintenanceDeadlineSeconds({ predictor: {} })).toBe(1200); // default drain 600s + 600s
    const stuck = alerts(mplan(spec)).find((r) => r.alert === MAINTENANCE_STUCK_ALERT);
    expect(stuck?.expr).toBe(
      'time() - max by (maintenanceplan, node) (ymera_maintenance_started_timestamp_seconds{maintenanceplan="gpu-nodes"}) > 2100',
    );
  });

  it('scopes every series to the plan', () => {
    for (const expr of allExprs(maintenancePlanRuleGroups(mplan({ mode: 'Act' }))))
      for (const s of ymeraSelectors(expr)) expect(s.labels).toEqual({ maintenanceplan: 'gpu-nodes' });
  });
});
