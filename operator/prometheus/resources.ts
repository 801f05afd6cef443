// Resource types of the Prometheus Operator the ymera operator writes to.
// Kept apart from operator/kube/resources.ts: the CRD is optional, and only
// the rule writer (rule-objects.ts) touches it after checking it is installed.
import type { ResourceType } from '../kube/resources.ts';

export const prometheusRule: ResourceType = {
  group: 'monitoring.coreos.com',
  version: 'v1',
  kind: 'PrometheusRule',
  plural: 'prometheusrules',
  namespaced: true,
};

/** Name of the CustomResourceDefinition that serves PrometheusRule. */
export const PROMETHEUS_RULE_CRD = `${prometheusRule.plural}.${prometheusRule.group}`;
