// The reconcile loop shared by kinds whose real behaviour comes in later
// issues: validate what admission cannot, apply the children that already
// exist for the kind, write a truthful status, and emit an Event when the
// verdict changes.
import type { Child, ReconcileContext, Reconciler } from '../../operator/controller.ts';
import { isTransient, KubeApiError } from '../../operator/kube/client.ts';
import type { KubeObject, ResourceType } from '../../operator/kube/resources.ts';
import type { FieldError } from '../../operator/schema/validation.ts';
import type { SkeletonStatus } from './skeleton-status.ts';
import { skeletonStatus, skeletonVerdict } from './skeleton-status.ts';

export interface SkeletonKind<T extends KubeObject> {
  name: string;
  resource: ResourceType;
  owns: ResourceType[];
  validate: (spec: NonNullable<T['spec']>) => FieldError[];
  /** Pure: the children of a valid object. */
  desired: (obj: T) => Child[];
  notImplemented: string;
}

export function skeletonReconciler<T extends KubeObject & { spec?: unknown; status?: unknown }>(
  kind: SkeletonKind<T>,
): Reconciler<T> {
  return {
    name: kind.name,
    resource: kind.resource,
    owns: kind.owns,
    async reconcile(ctx: ReconcileContext, obj: T) {
      const errors = kind.validate((obj.spec ?? {}) as NonNullable<T['spec']>);
      let applyError: string | undefined;
      if (errors.length === 0) {
        try {
          await ctx.applyChildren(obj, kind.desired(obj), kind.owns);
        } catch (e) {
          // transient failures retry with backoff; a rejected child is the user's to see
          if (isTransient(e) || !(e instanceof KubeApiError)) throw e;
          applyError = `applying children failed: ${e.message}`;
        }
      }
      const previous = obj.status as SkeletonStatus | undefined;
      const observation = {
        generation: obj.metadata.generation ?? 0,
        errors,
        notImplemented: kind.notImplemented,
        applyError,
      };
      const status = skeletonStatus(observation, previous, ctx.now());
      const wrote = await ctx.writeStatus(kind.resource, obj, status);
      const verdict = skeletonVerdict(observation);
      const before = previous?.conditions?.find((c) => c.type === 'Ready');
      if (wrote && (before?.reason !== verdict.reason || before.message !== verdict.message)) {
        const type = verdict.reason === 'NotImplemented' ? 'Normal' : 'Warning';
        await ctx.event(obj, type, verdict.reason, 'Reconcile', verdict.message);
      }
    },
  };
}
