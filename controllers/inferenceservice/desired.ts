// Pure: the children of an InferenceService. In this release that is the
// runtime ConfigMap (model and batching configuration the serving pods read)
// and the SLO burn-rate rules; Deployments, Service, HPA and PDB come with
// the serving runtime.
import type { KubeObject } from '../../operator/kube/resources.ts';
import { owned } from '../../operator/ownership.ts';
import type { Child } from '../../operator/controller.ts';
import { core } from '../../operator/kube/resources.ts';
import type { RuleSettings } from '../../operator/integrations.ts';
import type { TopicSpec } from '../../operator/kafka/topics.ts';
import { inferenceServiceRuleGroups } from '../../operator/prometheus/generators/inferenceservice.ts';
import { ruleChildren } from '../../operator/prometheus/rule-objects.ts';
import type { InferenceServiceSpec } from './schema.ts';

export type InferenceServiceObject = KubeObject & { spec: InferenceServiceSpec };

export const configMapName = (name: string) => `${name}-config`;

/** What the runtime reads: only fields that change serving behaviour, in a stable order. */
export function runtimeConfig(obj: InferenceServiceObject): Record<string, unknown> {
  const { model, batching, runtime } = obj.spec;
  return {
    model: {
      name: obj.metadata.name,
      uri: model.uri,
      format: model.format ?? 'onnx',
      version: model.version,
      ...(model.sha256 ? { sha256: model.sha256 } : {}),
    },
    ...(batching
      ? { batching: { maxBatchSize: batching.maxBatchSize, maxDelayMs: batching.maxDelayMs } }
      : {}),
    ...(runtime?.threads ? { threads: runtime.threads } : {}),
  };
}

export function desiredChildren(obj: InferenceServiceObject, rules: RuleSettings): Child[] {
  const configMap: KubeObject = owned(obj, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: configMapName(obj.metadata.name), namespace: obj.metadata.namespace },
    data: { 'runtime.json': `${JSON.stringify(runtimeConfig(obj), null, 2)}\n` },
  });
  return [
    { type: core.configMap, object: configMap },
    ...ruleChildren(obj, inferenceServiceRuleGroups(obj), rules),
  ];
}

/** The request/response logging topic, when logging to Kafka is on. */
export function declaredTopics(obj: InferenceServiceObject): TopicSpec[] {
  const kafka = obj.spec.logging?.kafka;
  if (!kafka) return [];
  return [
    {
      name: kafka.topic,
      partitions: kafka.partitions ?? 3,
      ...(kafka.replicationFactor !== undefined ? { replicationFactor: kafka.replicationFactor } : {}),
      ...(kafka.config ? { config: kafka.config } : {}),
    },
  ];
}
