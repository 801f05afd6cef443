// The shared half of the reconcile pattern (ARCHITECTURE.md): read from the
// cache, run or add the finalizer, then hand a live object to the kind's own
// reconcile, which computes children and status with pure functions and uses
// the I/O helpers below to apply, prune and write status.
import type { ApplyResult, ChildFailure } from './child-failures.ts';
import { childFailure, ChildrenFailedError } from './child-failures.ts';
import { deepEqual } from './equality.ts';
import type { EventRecorder, EventType } from './events.ts';
import type { InformerSet } from './informer-set.ts';
import type { KubeClient } from './kube/client.ts';
import { KubeApiError } from './kube/client.ts';
import type { KubeObject, ResourceType } from './kube/resources.ts';
import { keyOf } from './kube/resources.ts';
import type { Logger } from './logger.ts';
import { isOwnedBy } from './ownership.ts';
import type { ReconcileResult } from './workqueue.ts';

export type { ApplyResult } from './child-failures.ts';

export const FINALIZER = 'ymera.io/cleanup';

export interface Reconciler<T extends KubeObject = KubeObject> {
  /** Lower-case kind, used in logs, metrics and the event source. */
  name: string;
  resource: ResourceType;
  /** Child types this controller creates; their changes enqueue the owner. */
  owns: ResourceType[];
  /** Steps 2–5 for an object that is not being deleted. */
  reconcile(ctx: ReconcileContext, obj: T): Promise<ReconcileResult>;
  /** Cleans up external state (topics, object storage) before the finalizer goes. */
  finalize?(ctx: ReconcileContext, obj: T): Promise<void>;
}

/** A desired child with its resource type. */
export interface Child {
  type: ResourceType;
  object: KubeObject;
}

export class ReconcileContext {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly events: EventRecorder;
  private readonly informers: (type: ResourceType) => InformerSet<KubeObject>;
  private readonly primaries: (type: ResourceType) => InformerSet<KubeObject>;

  constructor(opts: {
    client: KubeClient;
    log: Logger;
    events: EventRecorder;
    /** Informers of owned children (label-filtered to ours). */
    informers: (type: ResourceType) => InformerSet<KubeObject>;
    /** Informers of whole types, such as the kinds the controllers reconcile. */
    primaries: (type: ResourceType) => InformerSet<KubeObject>;
  }) {
    this.client = opts.client;
    this.log = opts.log;
    this.events = opts.events;
    this.informers = opts.informers;
    this.primaries = opts.primaries;
  }

  now(): Date {
    return new Date();
  }

  /** Every cached object of a type the manager watches (e.g. all InferenceServices). */
  cached(type: ResourceType): KubeObject[] {
    return this.primaries(type).list();
  }

  /** Children of `owner` of one type, read from the informer cache. */
  childrenOf(owner: KubeObject, type: ResourceType): KubeObject[] {
    return this.informers(type).list((child) => isOwnedBy(child, owner));
  }

  /**
   * Server-side applies every desired child, then deletes children of this
   * owner (of the given types) that are no longer desired. One failing child
   * stops neither the others nor the pruning: the failures are thrown
   * afterwards as one ChildrenFailedError naming each child.
   */
  async applyChildren(owner: KubeObject, desired: Child[], ownedTypes: ResourceType[]): Promise<ApplyResult> {
    const result: ApplyResult = { applied: [], pruned: [] };
    const failures: ChildFailure[] = [];
    for (const { type, object } of desired) {
      try {
        result.applied.push(await this.client.apply(type, object));
      } catch (e) {
        failures.push(childFailure('apply', type.kind, object.metadata.name, e));
      }
    }
    const wanted = new Set(
      desired.map(({ type, object }) => `${type.group}/${type.kind}/${keyOf(object.metadata)}`),
    );
    for (const type of ownedTypes) {
      for (const child of this.childrenOf(owner, type)) {
        if (wanted.has(`${type.group}/${type.kind}/${keyOf(child.metadata)}`)) continue;
        try {
          await this.client.delete(type, child.metadata.name, child.metadata.namespace, {
            propagationPolicy: 'Background',
            uid: child.metadata.uid,
          });
          result.pruned.push(child);
        } catch (e) {
          failures.push(childFailure('prune', type.kind, child.metadata.name, e));
        }
      }
    }
    if (failures.length > 0) throw new ChildrenFailedError(failures, result);
    return result;
  }

  /** Writes status with one patch, only when it differs from what is stored. Returns whether it wrote. */
  async writeStatus(type: ResourceType, obj: KubeObject, status: Record<string, unknown>): Promise<boolean> {
    if (deepEqual(obj.status ?? {}, status)) return false;
    try {
      await this.client.patch(
        type,
        obj.metadata.name,
        obj.metadata.namespace,
        'json',
        [
          // the resourceVersion test makes a write from a stale cache fail (and the key requeue)
          { op: 'test', path: '/metadata/resourceVersion', value: obj.metadata.resourceVersion },
          { op: 'add', path: '/status', value: status },
        ],
        'status',
      );
    } catch (e) {
      // a failed JSON patch test comes back as 422 Invalid without causes (a schema error has
      // causes): it means "changed since read", a conflict
      const causes = (
        e instanceof KubeApiError ? (e.details as { causes?: unknown[] } | undefined) : undefined
      )?.causes;
      if (e instanceof KubeApiError && e.status === 422 && (causes === undefined || causes.length === 0)) {
        throw new KubeApiError(
          409,
          'Conflict',
          `status of ${obj.metadata.name} changed since it was read`,
          e.details,
        );
      }
      throw e;
    }
    return true;
  }

  event(obj: KubeObject, type: EventType, reason: string, action: string, note: string): Promise<void> {
    return this.events.record(obj, type, reason, action, note);
  }
}

/**
 * Runs one reconcile of `key`: step 1 of the pattern (cache read, finalizer)
 * here, the rest in the kind's reconciler.
 */
export async function reconcileKey<T extends KubeObject>(
  reconciler: Reconciler<T>,
  primary: InformerSet<T>,
  ctx: ReconcileContext,
  key: string,
): Promise<ReconcileResult> {
  const obj = primary.get(key);
  if (!obj) return; // gone: children are garbage-collected through ownerReferences
  const finalizers = obj.metadata.finalizers ?? [];
  if (obj.metadata.deletionTimestamp) {
    if (!finalizers.includes(FINALIZER)) return;
    await reconciler.finalize?.(ctx, obj);
    await setFinalizers(
      ctx.client,
      reconciler.resource,
      obj,
      finalizers.filter((f) => f !== FINALIZER),
    );
    ctx.log.info('finalized', { key });
    await ctx.event(
      obj,
      'Normal',
      'Deleted',
      'Finalize',
      `Cleaned up external state of ${obj.kind} ${obj.metadata.name}`,
    );
    return;
  }
  let live = obj;
  if (!finalizers.includes(FINALIZER)) {
    live = await setFinalizers(ctx.client, reconciler.resource, obj, [...finalizers, FINALIZER]);
  }
  return reconciler.reconcile(ctx, live);
}

function setFinalizers<T extends KubeObject>(
  client: KubeClient,
  type: ResourceType,
  obj: T,
  finalizers: string[],
): Promise<T> {
  // resourceVersion makes this a compare-and-swap: a concurrent edit gives 409 and a retry
  return client.patch<T>(type, obj.metadata.name, obj.metadata.namespace, 'merge', {
    metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion },
  });
}
