// The shared half of the reconcile pattern (ARCHITECTURE.md): read from the
// cache, run or add the finalizer, then hand a live object to the kind's own
// reconcile, which computes children and status with pure functions and uses
// the I/O helpers below to apply, prune and write status.
import type { ApplyResult, ChildFailure } from './child-failures.ts';
import { childFailure, ChildrenFailedError } from './child-failures.ts';
import { Reason } from './conditions.ts';
import { AppliedMemo } from './applied-memo.ts';
import { deepEqual } from './equality.ts';
import type { EventRecorder, EventType } from './events.ts';
import {
  DEFAULT_FINALIZE_TIMEOUT_MS,
  FINALIZER,
  SKIP_CLEANUP_ANNOTATION,
  cleanupBlockedMessage,
  deletingForMs,
  finalizersFor,
  skipCleanupRequested,
} from './finalizer.ts';
import type { InformerSet } from './informer-set.ts';
import type { KubeClient } from './kube/client.ts';
import { isConflict, KubeApiError } from './kube/client.ts';
import {
  alreadyReported,
  classifyFailure,
  DescribedFailure,
  failedStatus,
  FailureReported,
} from './failure.ts';
import type { KubeObject, ResourceType } from './kube/resources.ts';
import { keyOf } from './kube/resources.ts';
import type { Logger } from './logger.ts';
import { redactString } from './logger.ts';
import { isOwnedBy } from './ownership.ts';
import type { ReconcileResult } from './workqueue.ts';

export { FINALIZER } from './finalizer.ts';
export type { ApplyResult } from './child-failures.ts';

export interface Reconciler<T extends KubeObject = KubeObject> {
  /** Lower-case kind, used in logs, metrics and the event source. */
  name: string;
  resource: ResourceType;
  /** Child types this controller creates; their changes enqueue the owner. */
  owns: ResourceType[];
  /**
   * Types whose objects name their owner only by the `ymera.io/<kind>` label,
   * such as the pods of owned Deployments and Jobs (their controller is a
   * ReplicaSet or Job): cached through the managed-by informer (read them with
   * ctx.cachedIn), and a change enqueues the owner the label names.
   */
  watchesLabelled?: ResourceType[];
  /** Steps 2–5 for an object that is not being deleted. */
  reconcile(ctx: ReconcileContext, obj: T): Promise<ReconcileResult>;
  /** Cleans up external state (topics, object storage) before the finalizer goes. */
  finalize?(ctx: ReconcileContext, obj: T): Promise<void>;
  /**
   * Whether the object holds state outside Kubernetes that finalize must
   * clean up: the finalizer is added when true and removed when false.
   * Without it, a reconciler with finalize always gets the finalizer.
   */
  needsFinalizer?(ctx: ReconcileContext, obj: T): boolean;
  /** Drops in-process state (consumers, metrics) of an object that is gone. */
  forget?(key: string): Promise<void>;
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
  /** How long finalize may keep failing before the object says how to force its deletion. */
  readonly finalizeTimeoutMs: number;
  private readonly informers: (type: ResourceType) => InformerSet<KubeObject>;
  private readonly primaries: (type: ResourceType) => InformerSet<KubeObject>;
  /** Children this controller applied, to skip applies that would change nothing. */
  private readonly applied = new AppliedMemo();

  constructor(opts: {
    client: KubeClient;
    log: Logger;
    events: EventRecorder;
    /** Informers of owned children (label-filtered to ours). */
    informers: (type: ResourceType) => InformerSet<KubeObject>;
    /** Informers of whole types, such as the kinds the controllers reconcile. */
    primaries: (type: ResourceType) => InformerSet<KubeObject>;
    finalizeTimeoutMs?: number;
  }) {
    this.finalizeTimeoutMs = opts.finalizeTimeoutMs ?? DEFAULT_FINALIZE_TIMEOUT_MS;
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

  /** Our (managed-by labelled) objects of a type in one namespace, from the informer cache. */
  cachedIn(
    type: ResourceType,
    namespace: string | undefined,
    filter: (obj: KubeObject) => boolean,
  ): KubeObject[] {
    return this.informers(type).list((obj) => obj.metadata.namespace === namespace && filter(obj));
  }

  /** Children of `owner` of one type, read from the informer cache. */
  childrenOf(owner: KubeObject, type: ResourceType): KubeObject[] {
    const uid = owner.metadata.uid;
    return uid
      ? this.informers(type)
          .controlledBy(uid)
          .filter((child) => isOwnedBy(child, owner))
      : [];
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
      const key = appliedKey(type, object);
      const cached = this.informers(type).get(keyOf(object.metadata));
      // nothing to change: no write (requeues and resyncs of settled objects send none)
      if (cached && this.applied.upToDate(key, object, cached)) {
        result.applied.push(cached);
        continue;
      }
      try {
        const stored = await this.client.apply(type, object);
        this.applied.record(key, object, stored);
        result.applied.push(stored);
      } catch (e) {
        this.applied.forget(key);
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
          this.applied.forget(appliedKey(type, child));
          result.pruned.push(child);
        } catch (e) {
          failures.push(childFailure('prune', type.kind, child.metadata.name, e));
        }
      }
    }
    if (failures.length > 0) throw new ChildrenFailedError(failures, result);
    return result;
  }

  /** A child is gone (pruned, garbage-collected, deleted by someone): its next apply must be sent. */
  forgetApplied(type: ResourceType, child: KubeObject): void {
    this.applied.forget(appliedKey(type, child));
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

const appliedKey = (type: ResourceType, obj: KubeObject) =>
  `${type.group}/${type.kind}/${keyOf(obj.metadata)}`;

/**
 * Runs one reconcile of `key`: step 1 of the pattern (cache read, finalizer)
 * here, the rest in the kind's reconciler. The finalizer sits only on
 * objects whose reconciler says they hold external state.
 */
export async function reconcileKey<T extends KubeObject>(
  reconciler: Reconciler<T>,
  primary: InformerSet<T>,
  ctx: ReconcileContext,
  key: string,
): Promise<ReconcileResult> {
  const obj = primary.get(key);
  if (!obj) {
    // gone: children are garbage-collected through ownerReferences; in-process state is ours to drop
    await reconciler.forget?.(key);
    return;
  }
  const finalizers = obj.metadata.finalizers ?? [];
  if (obj.metadata.deletionTimestamp) {
    if (!finalizers.includes(FINALIZER)) return;
    return finalizeObject(reconciler, ctx, obj, key);
  }
  const wanted = reconciler.needsFinalizer
    ? reconciler.needsFinalizer(ctx, obj)
    : reconciler.finalize !== undefined;
  const next = finalizersFor(finalizers, wanted);
  const live = next ? await setFinalizers(ctx.client, reconciler.resource, obj, next) : obj;
  return reconciler.reconcile(ctx, live);
}

async function finalizeObject<T extends KubeObject>(
  reconciler: Reconciler<T>,
  ctx: ReconcileContext,
  obj: T,
  key: string,
): Promise<ReconcileResult> {
  const type = reconciler.resource;
  const rest = (obj.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
  if (skipCleanupRequested(obj.metadata.annotations)) {
    await setFinalizers(ctx.client, type, obj, rest);
    ctx.log.warn('finalizer removed without cleanup', { key, annotation: SKIP_CLEANUP_ANNOTATION });
    await ctx.event(
      obj,
      'Warning',
      'CleanupSkipped',
      'Finalize',
      `Deleted without cleaning up external state (annotation ${SKIP_CLEANUP_ANNOTATION}); what ${obj.kind} ${obj.metadata.name} held outside Kubernetes stays`,
    );
    await reconciler.forget?.(key);
    return;
  }
  try {
    await reconciler.finalize?.(ctx, obj);
  } catch (e) {
    // retried with backoff either way (Kafka may come back); past the timeout, status says how to force it
    const elapsed = deletingForMs(obj.metadata.deletionTimestamp, ctx.now());
    if (elapsed < ctx.finalizeTimeoutMs) throw e;
    const text = redactString(e instanceof Error ? e.message : String(e));
    ctx.log.warn('cleanup blocked', { key, error: text });
    throw new DescribedFailure(
      {
        reason: Reason.CleanupBlocked,
        message: cleanupBlockedMessage(type, obj, ctx.finalizeTimeoutMs, text),
        transient: false,
      },
      { cause: e },
    );
  }
  await setFinalizers(ctx.client, type, obj, rest);
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

/** Adds the cleanup finalizer now (e.g. right before creating external state); returns the live object. */
export async function ensureFinalizer<T extends KubeObject>(
  client: KubeClient,
  type: ResourceType,
  obj: T,
): Promise<T> {
  const next = finalizersFor(obj.metadata.finalizers, true);
  return next ? setFinalizers(client, type, obj, next) : obj;
}

/**
 * Step 4 of the pattern for a reconcile that threw: whatever failed (a child
 * refused or failing, a quota, an admission denial, a dependency down), the
 * object's status says so in this same reconcile — Ready=False with the
 * failure class as reason, Reconciling or Stalled, observedGeneration — and
 * one Warning Event tells each distinct failure. The caller still rethrows,
 * so the key is retried with backoff; when the cause goes away the next
 * successful reconcile writes the truth again. Never throws: a status that
 * cannot be written is logged and counted.
 */
export async function reportFailure<T extends KubeObject>(
  reconciler: Reconciler<T>,
  primary: InformerSet<T>,
  ctx: ReconcileContext,
  key: string,
  error: unknown,
  opts: {
    /** The object as it was cached before the reconcile: whether this failure is news is judged on it. */
    before: T | undefined;
    quiet: boolean;
    onFailure?: (reason: string) => void;
    onWriteFailed?: () => void;
  },
): Promise<void> {
  const failure = classifyFailure(error);
  opts.onFailure?.(failure.reason);
  const cached = primary.get(key);
  if (!cached || opts.quiet) return;
  const news = !alreadyReported(opts.before?.status as Record<string, unknown> | undefined, failure);
  if (error instanceof FailureReported) {
    // the controller wrote it to status with everything else it observed
    if (news) await ctx.event(cached, 'Warning', failure.reason, 'Reconcile', failure.message);
    return;
  }
  try {
    let obj: T | undefined = cached;
    for (let attempt = 0; obj; attempt++) {
      const previous = obj.status as Record<string, unknown> | undefined;
      const status = failedStatus(previous, failure, obj.metadata.generation ?? 0, ctx.now());
      try {
        await ctx.writeStatus(reconciler.resource, obj, status);
        if (news) await ctx.event(obj, 'Warning', failure.reason, 'Reconcile', failure.message);
        return;
      } catch (e) {
        // the reconcile may have changed the object (a finalizer, its own status) before it failed:
        // read it live once and write on top of that
        if (!isConflict(e) || attempt > 0) throw e;
        obj = await ctx.client.get<T>(reconciler.resource, obj.metadata.name, obj.metadata.namespace);
      }
    }
  } catch (e) {
    opts.onWriteFailed?.();
    ctx.log.warn('could not write the failed reconcile to status', { key, reason: failure.reason, error: e });
  }
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
