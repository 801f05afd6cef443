import { describe, expect, it } from 'vitest';
import { ruleFileOf } from '../../operator/prometheus/rule-objects.ts';
import { planRuleChildren } from './alerts.ts';

const plan = {
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'MaintenancePlan',
  metadata: { name: 'gpu-nodes', uid: 'u-1' },
  spec: { mode: 'Act', predictor: { interval: '5m' } },
};

describe('planRuleChildren', () => {
  it("puts the cluster-scoped plan's rules into the operator's namespace, owned by the plan", () => {
    const [child] = planRuleChildren(plan, 'ymera-system', { mode: 'ConfigMap', labels: {} });
    expect(child?.type.kind).toBe('ConfigMap');
    expect(child?.object.metadata).toMatchObject({
      name: 'gpu-nodes-maintenanceplan-rules',
      namespace: 'ymera-system',
      ownerReferences: [{ kind: 'MaintenancePlan', name: 'gpu-nodes', uid: 'u-1', controller: true }],
    });
    const text = ruleFileOf(child!.object) ?? '';
    for (const alert of [
      'YmeraNodeFailureRiskHigh',
      'YmeraMaintenanceStuck',
      'YmeraMaintenancePlanMassFlag',
      'YmeraMaintenancePlanPredictorNotReady',
    ])
      expect(text).toContain(`alert: ${alert}`);
  });

  it('is a PrometheusRule with the configured labels when the Prometheus Operator is installed', () => {
    const [child] = planRuleChildren(plan, 'ops', { mode: 'PrometheusRule', labels: { release: 'kps' } });
    expect(child?.type.kind).toBe('PrometheusRule');
    expect(child?.object.metadata).toMatchObject({ namespace: 'ops', labels: { release: 'kps' } });
  });
});
