// The reconcile loop shared by kinds whose real behaviour comes in later
// issues: validate what admission cannot, apply the children that already
// exist for the kind, keep its Kafka topics in line, write a truthful
// status, and tell users (Event) and consumers (CloudEvent) when the verdict
// changes.
import type { Child, ReconcileContext, Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import { EventType } from '../../operator/kafka/events.ts';
import type { KafkaTopicsResult, TopicSpec } from '../../operator/kafka/topics.ts';
import type { ReconcileFailure } from '../../operator/failure.ts';
import { classifyFailure, FailureReported } from '../../operator/failure.ts';
import type { KubeObject, ResourceType } from '../../operator/kube/resources.ts';
import type { FieldError } from '../../operator/schema/validation.ts';
import type { SkeletonStatus } from './skeleton-status.ts';
import { skeletonStatus, skeletonVerdict } from './skeleton-status.ts';
import { declaredTopicsOf } from './topics.ts';

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

export function skeletonReconciler<T extends KubeObject & { spec?: unknown; status?: unknown }>(
  kind: SkeletonKind<T>,
  integrations: Integrations,
): Reconciler<T> {
  const topics = declaredTopicsOf<T>(kind.resource, integrations, (obj) =>
    kind.topics ? kind.topics(obj) : [],
  );

  return {
    name: kind.name,
    resource: kind.resource,
    owns: kind.owns,

    async reconcile(ctx: ReconcileContext, obj: T) {
      const errors = kind.validate((obj.spec ?? {}) as NonNullable<T['spec']>);
      let applyError: ReconcileFailure | undefined;
      let kafka: KafkaTopicsResult | undefined;
      if (errors.length === 0) {
        try {
          await ctx.applyChildren(obj, kind.desired(obj), kind.owns);
        } catch (e) {
          // transient failures retry with backoff; a rejected child is the user's to see
          applyError = classifyFailure(e);
          if (applyError.transient) throw e;
        }
        kafka = await topics.reconcile(ctx, obj);
      }
      const previous = obj.status as SkeletonStatus | undefined;
      const observation = {
        generation: obj.metadata.generation ?? 0,
        errors,
        notImplemented: kind.notImplemented,
        applyError,
        blockers: topics.blockers(kafka),
        extra: topics.conditions(kafka),
      };
      const status = {
        ...skeletonStatus(observation, previous, ctx.now()),
        ...topics.statusFields(obj, kafka),
      };
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
      // status says it; the runtime retries with backoff (a lifted policy needs no change to this object)
      if (applyError) throw new FailureReported(applyError);
      const retryAfterMs = topics.retryAfterMs(kafka);
      return retryAfterMs !== undefined ? { requeueAfterMs: retryAfterMs } : undefined;
    },

    needsFinalizer(_ctx: ReconcileContext, obj: T) {
      return topics.needsFinalizer(obj);
    },

    async finalize(ctx: ReconcileContext, obj: T) {
      const declared = await topics.finalize(ctx, obj);
      integrations.events.publish({
        resource: kind.resource,
        object: obj,
        type: EventType.Deleted,
        discriminator: obj.metadata.uid ?? '',
        data: { topics: declared },
      });
    },
  };
}
