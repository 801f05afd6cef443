// What the controllers get from the world outside Kubernetes, decided once
// at start-up: where Prometheus rules go, whether HTTPRoutes split traffic,
// and (when configured) Kafka and the Prometheus to query.
import type { Registry } from 'prom-client';
import type { PlatformEvent } from './kafka/events.ts';
import type { TriggerSource } from './kafka/triggers.ts';
import type { TopicReconciler } from './kafka/topic-reconciler.ts';
import type { TopicPolicy } from './kafka/topic-policy.ts';
import type { ResourceType } from './kube/resources.ts';
import type { StorageAccessPolicy } from './storage/egress.ts';
import type { NamespaceGrants } from './namespace-grants.ts';
import { core } from './kube/resources.ts';
import type { PrometheusClient } from './prometheus/client.ts';
import type { RuleObjectMode } from './prometheus/rule-objects.ts';
import { prometheusRule } from './prometheus/resources.ts';

export interface RuleSettings {
  /** PrometheusRule when that CRD was installed at start-up, else ConfigMap. */
  mode: RuleObjectMode;
  /** Labels for a prometheus-operator ruleSelector. */
  labels: Record<string, string>;
}

/** Where lifecycle events go: the Kafka publisher, or nowhere when Kafka is off. */
export interface EventSink {
  publish(event: PlatformEvent): unknown;
}

export const discardEvents: EventSink = { publish: () => 'discarded' };

export interface Integrations {
  rules: RuleSettings;
  /** Absent when no brokers are configured. */
  topics?: TopicReconciler;
  /** Topic names each namespace may use (declared and consumed); absent: only its own "<namespace>." prefix. */
  topicPolicy?: TopicPolicy;
  /** The brokers the operator uses, passed on to pods that write to Kafka. */
  kafkaBrokers: readonly string[];
  events: EventSink;
  /** Prometheus to query (canary analysis); absent when --prometheus-url is not set. */
  prometheus?: PrometheusClient;
  /**
   * Route InferenceService traffic through Gateway API HTTPRoute weights
   * (gateway.networking.k8s.io/v1 HTTPRoute served at start-up, or forced by
   * --gateway-api); false keeps replica-weighted splitting only.
   */
  gatewayApi: boolean;
  /** Kafka consumers that start LearningPipeline runs; absent when no brokers are configured. */
  triggers?: TriggerSource;
  /** Where controllers register their own metrics (the operator's /metrics); absent in some tests. */
  registry?: Registry;
  /**
   * How the operator reads users' object storage (--s3-ambient-credentials-endpoints,
   * --s3-max-read-bytes); absent: no ambient credentials anywhere and the default cap.
   */
  storageAccess?: StorageAccessPolicy;
  /** Other namespaces a BackupPolicy/Restore of a namespace may reach (--backup-namespace-grant); absent: none. */
  namespaceGrants?: NamespaceGrants;
  /** Where MaintenancePlan Jobs may run (--maintenance-job-namespaces), the first the default; absent: nowhere. */
  maintenanceJobNamespaces?: readonly string[];
}

/** The resource type rule objects are written as (a controller owns it). */
export function ruleObjectType(rules: RuleSettings): ResourceType {
  return rules.mode === 'PrometheusRule' ? prometheusRule : core.configMap;
}

/** Owned types without duplicates (a ConfigMap may serve two purposes). */
export function uniqueTypes(types: ResourceType[]): ResourceType[] {
  const seen = new Set<string>();
  return types.filter((t) => {
    const id = `${t.group}/${t.kind}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
