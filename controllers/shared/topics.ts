// The Kafka topics a kind declares, as every controller handles them:
// claims from the informer cache, reconcile through the shared topic
// reconciler, the KafkaReady condition and status blockers, the requeue
// while Kafka is away, and deletion through the finalizer.
import { FINALIZER } from '../../operator/finalizer.ts';
import { KafkaUnavailableError } from '../../operator/kafka/client.ts';
import type { ReconcileContext } from '../../operator/controller.ts';
import { ensureFinalizer } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import type {
  KafkaReadyCondition,
  KafkaTopicsResult,
  TopicClaim,
  TopicSpec,
} from '../../operator/kafka/topics.ts';
import {
  isKafkaManaged,
  kafkaReadyCondition,
  kafkaStalled,
  topicClaims,
} from '../../operator/kafka/topics.ts';
import { DEFAULT_TOPIC_POLICY, deletesTopic, topicAllowed } from '../../operator/kafka/topic-policy.ts';
import type { TopicPolicy } from '../../operator/kafka/topic-policy.ts';
import type { KubeObject, ResourceType } from '../../operator/kube/resources.ts';
import type { Blocker } from './skeleton-status.ts';

/** How often a resource whose topics wait for Kafka looks again (the client's circuit breaker paces calls too). */
export const KAFKA_RETRY_MS = 10_000;

export interface DeclaredTopics<T extends KubeObject> {
  /** Creates/aligns the object's topics; undefined when it declares none. */
  reconcile(ctx: ReconcileContext, obj: T): Promise<KafkaTopicsResult | undefined>;
  /** What the result means for Ready: an outage of a configured Kafka heals by itself, the rest needs someone. */
  blockers(result: KafkaTopicsResult | undefined): Blocker[];
  conditions(result: KafkaTopicsResult | undefined): KafkaReadyCondition[];
  /** When to look again because Kafka is away; undefined when there is no need. */
  retryAfterMs(result: KafkaTopicsResult | undefined): number | undefined;
  /** Deletes the object's topics (unless another resource owns them) and returns the declared names; throws while Kafka is away so the finalizer stays. */
  finalize(ctx: ReconcileContext, obj: T): Promise<string[]>;
  /** Whether deleting the object must delete topics (so it needs the finalizer). */
  needsFinalizer(obj: T): boolean;
  /** The status fields the topic layer owns: status.createdTopics (carried over when there is no new result). */
  statusFields(
    obj: T,
    result: KafkaTopicsResult | undefined,
  ): { createdTopics?: string[]; adoptedTopics?: string[] };
}

/** The status record of the topics a resource created (status.createdTopics). */
export function createdTopicsOf(obj: KubeObject): string[] {
  const list = (obj.status as { createdTopics?: unknown } | undefined)?.createdTopics;
  return Array.isArray(list) ? list.filter((t): t is string => typeof t === 'string') : [];
}

/**
 * Pure: resources from before status.createdTopics existed whose topics were
 * in sync (KafkaReady=True, no record) keep managing them as adopted, so an
 * upgrade neither stalls them with TopicExists nor lets them delete a topic
 * nobody knows they created.
 */
export function withLegacyAdoption(obj: KubeObject, topics: TopicSpec[]): TopicSpec[] {
  const adopted = legacyAdopted(
    obj,
    topics.map((t) => t.name),
  );
  return topics.map((t) => (t.adopt === undefined && adopted.includes(t.name) ? { ...t, adopt: true } : t));
}

/**
 * Pure: the declared topics adopted by the upgrade rule. Once decided it is
 * recorded (status.adoptedTopics), so that a later KafkaReady=False (an
 * outage, an invalid edit) cannot take the adoption back and stall the
 * resource with TopicExists.
 */
export function legacyAdopted(obj: KubeObject, declared: readonly string[]): string[] {
  const status = obj.status as
    | { createdTopics?: unknown; adoptedTopics?: unknown; conditions?: { type: string; status: string }[] }
    | undefined;
  const recorded = Array.isArray(status?.adoptedTopics) ? (status.adoptedTopics as unknown[]) : [];
  const legacy =
    status?.createdTopics === undefined &&
    status?.conditions?.some((c) => c.type === 'KafkaReady' && c.status === 'True') === true;
  return declared.filter((name) => legacy || recorded.includes(name));
}

/**
 * Pure: whether deleting `owner` would delete any of `topics` (given what it
 * created), i.e. whether it holds Kafka state that needs the finalizer.
 */
export function topicsNeedFinalizer(
  policy: TopicPolicy,
  namespace: string | undefined,
  annotations: Record<string, string> | undefined,
  topics: readonly TopicSpec[],
  created: readonly string[],
): boolean {
  if (!isKafkaManaged(annotations)) return false;
  return topics.some(
    (t) =>
      topicAllowed(policy, namespace, t.name) &&
      deletesTopic({
        created: created.includes(t.name),
        ...(t.adopt !== undefined ? { adopt: t.adopt } : {}),
        ...(t.deletionPolicy ? { deletionPolicy: t.deletionPolicy } : {}),
      }),
  );
}

/** The topic name policy in force: the topic reconciler's, else the configured one, else the default. */
export function topicPolicyOf(integrations: Integrations): TopicPolicy {
  return integrations.topics?.policy ?? integrations.topicPolicy ?? DEFAULT_TOPIC_POLICY;
}

export function declaredTopicsOf<T extends KubeObject>(
  resource: ResourceType,
  integrations: Integrations,
  declared: (obj: T) => TopicSpec[],
): DeclaredTopics<T> {
  const configured = integrations.topics !== undefined;
  const policy = topicPolicyOf(integrations);
  // every resource of the kind, deleting ones included: their claim holds until they are finalized
  const claims = (ctx: ReconcileContext): TopicClaim[] =>
    ctx.cached(resource).flatMap((o) =>
      topicClaims(
        o,
        declared(o as T).map((t) => t.name),
      ),
    );

  return {
    async reconcile(ctx, obj) {
      const topics = withLegacyAdoption(obj, declared(obj));
      if (topics.length === 0) return undefined;
      if (!integrations.topics) {
        return {
          status: 'KafkaUnavailable',
          message: 'no Kafka brokers are configured for the operator (--kafka-brokers)',
          topics: [],
        };
      }
      return integrations.topics.reconcile({
        owner: obj,
        topics,
        claims: claims(ctx),
        created: createdTopicsOf(obj),
        // before a topic is created: the finalizer that deletes it, then the record that it is ours
        recordCreated: async (created) => {
          let live: KubeObject = obj;
          if (
            topicsNeedFinalizer(policy, obj.metadata.namespace, obj.metadata.annotations, topics, created)
          ) {
            live = await ensureFinalizer(ctx.client, resource, obj);
          }
          await ctx.client.patch(
            resource,
            obj.metadata.name,
            obj.metadata.namespace,
            'merge',
            {
              metadata: { resourceVersion: live.metadata.resourceVersion },
              status: { createdTopics: created },
            },
            'status',
          );
        },
      });
    },

    needsFinalizer(obj) {
      // without Kafka the operator cannot judge or clean up; a finalizer guarding topics it created stays
      if (!configured)
        return obj.metadata.finalizers?.includes(FINALIZER) === true && createdTopicsOf(obj).length > 0;
      return topicsNeedFinalizer(
        policy,
        obj.metadata.namespace,
        obj.metadata.annotations,
        withLegacyAdoption(obj, declared(obj)),
        createdTopicsOf(obj),
      );
    },

    statusFields(obj, result) {
      const names = declared(obj).map((t) => t.name);
      const created = result?.created ?? (names.length > 0 ? createdTopicsOf(obj) : []);
      const adopted = legacyAdopted(obj, names).filter((n) => !created.includes(n));
      return {
        ...(created.length > 0 ? { createdTopics: created } : {}),
        ...(adopted.length > 0 ? { adoptedTopics: adopted } : {}),
      };
    },

    blockers(result) {
      if (!result) return [];
      const stalled = kafkaStalled(result);
      if (stalled) return [{ ...stalled, transient: false }];
      if (result.status === 'KafkaUnavailable') {
        return [{ reason: 'KafkaUnavailable', message: result.message, transient: configured }];
      }
      return [];
    },

    conditions(result) {
      return result ? [kafkaReadyCondition(result)] : [];
    },

    retryAfterMs(result) {
      return result?.status === 'KafkaUnavailable' && configured
        ? (result.retryAfterMs ?? KAFKA_RETRY_MS)
        : undefined;
    },

    async finalize(ctx, obj) {
      const specs = withLegacyAdoption(obj, declared(obj));
      const topics = specs.map((t) => t.name);
      if (topics.length === 0) return topics;
      if (!integrations.topics) {
        ctx.log.warn('Kafka is not configured; leaving the declared topics in place', { topics });
        return topics;
      }
      const result = await integrations.topics.finalize({
        owner: obj,
        topics: specs,
        claims: claims(ctx),
        created: createdTopicsOf(obj),
      });
      // keep the finalizer (retrying with backoff) until the topics are really gone
      if (result.status === 'KafkaUnavailable')
        throw new KafkaUnavailableError(`deleting Kafka topics: ${result.message}`);
      return topics;
    },
  };
}
