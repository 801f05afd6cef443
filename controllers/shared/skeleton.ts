// The reconcile loop shared by kinds whose real behaviour comes in later
// issues: validate what admission cannot, apply the children that already
// exist for the kind, keep its Kafka topics in line, write a truthful
// status, and tell users (Event) and consumers (CloudEvent) when the verdict
// changes.
import type { Child, ReconcileContext, Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import { EventType } from '../../operator/kafka/events.ts';
import type { KafkaTopicsResult, TopicClaim, TopicSpec } from '../../operator/kafka/topics.ts';
import { kafkaReadyCondition, kafkaStalled, topicClaims } from '../../operator/kafka/topics.ts';
import { isTransient, KubeApiError } from '../../operator/kube/client.ts';
import type { KubeObject, ResourceType } from '../../operator/kube/resources.ts';
import type { FieldError } from '../../operator/schema/validation.ts';
import type { Blocker, SkeletonStatus } from './skeleton-status.ts';
import { skeletonStatus, skeletonVerdict } from './skeleton-status.ts';

export interface SkeletonKind<T extends KubeObject> {
  name: string;
  resource: ResourceType;
  owns: ResourceType[];
  validate: (spec: NonNullable<T['spec']>) => FieldError[];
  /** Pure: the children of a valid object. */
  desired: (obj: T) => Child[];
  /** Pure: the Kafka topics the object declares (none when omitted). */
  topics?: (obj: T) => TopicSpec[];
  notImplemented: string;
}

/** How often a resource whose topics wait for Kafka looks again (the client's circuit breaker paces calls too). */
const KAFKA_RETRY_MS = 10_000;

export function skeletonReconciler<T extends KubeObject & { spec?: unknown; status?: unknown }>(
  kind: SkeletonKind<T>,
  integrations: Integrations,
): Reconciler<T> {
  const declaredTopics = (obj: KubeObject): TopicSpec[] => (kind.topics ? kind.topics(obj as T) : []);
  // every resource of this kind that declares a topic, deleting ones included: their claim holds until finalized
  const claims = (ctx: ReconcileContext): TopicClaim[] =>
    ctx.cached(kind.resource).flatMap((o) =>
      topicClaims(
        o,
        declaredTopics(o).map((t) => t.name),
      ),
    );

  return {
    name: kind.name,
    resource: kind.resource,
    owns: kind.owns,

    async reconcile(ctx: ReconcileContext, obj: T) {
      const errors = kind.validate((obj.spec ?? {}) as NonNullable<T['spec']>);
      let applyError: string | undefined;
      let kafka: KafkaTopicsResult | undefined;
      if (errors.length === 0) {
        try {
          await ctx.applyChildren(obj, kind.desired(obj), kind.owns);
        } catch (e) {
          // transient failures retry with backoff; a rejected child is the user's to see
          if (isTransient(e) || !(e instanceof KubeApiError)) throw e;
          applyError = `applying children failed: ${e.message}`;
        }
        kafka = await reconcileTopics(ctx, obj);
      }
      const previous = obj.status as SkeletonStatus | undefined;
      const observation = {
        generation: obj.metadata.generation ?? 0,
        errors,
        notImplemented: kind.notImplemented,
        applyError,
        blockers: kafka ? kafkaBlockers(kafka, integrations.topics !== undefined) : [],
        extra: kafka ? [kafkaReadyCondition(kafka)] : [],
      };
      const status = skeletonStatus(observation, previous, ctx.now());
      const wrote = await ctx.writeStatus(kind.resource, obj, status);
      const verdict = skeletonVerdict(observation);
      const before = previous?.conditions?.find((c) => c.type === 'Ready');
      if (wrote && (before?.reason !== verdict.reason || before.message !== verdict.message)) {
        const type = verdict.reason === 'NotImplemented' ? 'Normal' : 'Warning';
        await ctx.event(obj, type, verdict.reason, 'Reconcile', verdict.message);
        integrations.events.publish({
          resource: kind.resource,
          object: obj,
          type: EventType.StatusChanged,
          discriminator: `${observation.generation}:${verdict.reason}`,
          data: {
            generation: observation.generation,
            ready: false,
            reason: verdict.reason,
            message: verdict.message,
          },
        });
      }
      const waitForKafka = kafka?.status === 'KafkaUnavailable' && integrations.topics !== undefined;
      return waitForKafka ? { requeueAfterMs: kafka?.retryAfterMs ?? KAFKA_RETRY_MS } : undefined;
    },

    async finalize(ctx: ReconcileContext, obj: T) {
      const topics = declaredTopics(obj).map((t) => t.name);
      if (topics.length > 0) {
        if (integrations.topics) {
          const result = await integrations.topics.finalize({ owner: obj, topics, claims: claims(ctx) });
          // keep the finalizer (retrying with backoff) until the topics are really gone
          if (result.status === 'KafkaUnavailable')
            throw new Error(`deleting Kafka topics: ${result.message}`);
        } else {
          ctx.log.warn('Kafka is not configured; leaving the declared topics in place', { topics });
        }
      }
      integrations.events.publish({
        resource: kind.resource,
        object: obj,
        type: EventType.Deleted,
        discriminator: obj.metadata.uid ?? '',
        data: { topics },
      });
    },
  };

  async function reconcileTopics(ctx: ReconcileContext, obj: T): Promise<KafkaTopicsResult | undefined> {
    const topics = declaredTopics(obj);
    if (topics.length === 0) return undefined;
    if (!integrations.topics) {
      return {
        status: 'KafkaUnavailable',
        message: 'no Kafka brokers are configured for the operator (--kafka-brokers)',
        topics: [],
      };
    }
    return integrations.topics.reconcile({ owner: obj, topics, claims: claims(ctx) });
  }
}

/**
 * Topic problems as status blockers: an outage of a configured Kafka heals by
 * itself; a missing Kafka configuration and the rest need someone to act.
 */
function kafkaBlockers(result: KafkaTopicsResult, kafkaConfigured: boolean): Blocker[] {
  const stalled = kafkaStalled(result);
  if (stalled) return [{ ...stalled, transient: false }];
  if (result.status === 'KafkaUnavailable') {
    return [{ reason: 'KafkaUnavailable', message: result.message, transient: kafkaConfigured }];
  }
  return [];
}
