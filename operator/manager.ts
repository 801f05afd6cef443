// Wires the controller runtime together: shared informers (one per resource
// type), a work queue per controller, leader election gating the workers,
// and an orderly shutdown (finish in-flight reconciles, release the lease).
// Losing the lease is not orderly: the controllers' client refuses writes
// from the moment the lease is no longer surely ours. Lost to another
// replica, the process is told at once (main exits), without waiting for
// in-flight reconciles; lost because renewals failed (the API unreachable),
// the work queues pause and resume, re-running every object, once the lease
// is acquired again (see leadershipAction).
import type { Reconciler } from './controller.ts';
import { ReconcileContext, reconcileKey, reportFailure } from './controller.ts';
import { changedBeyondStatus } from './equality.ts';
import { FailureReported } from './failure.ts';
import { EventRecorder } from './events.ts';
import { Informer } from './informer.ts';
import { trimForCache } from './kube/cache-trim.ts';
import { InformerSet } from './informer-set.ts';
import type { KubeClient } from './kube/client.ts';
import { isConflict } from './kube/client.ts';
import type { KubeObject, ResourceType } from './kube/resources.ts';
import { apiVersionOf, keyOf } from './kube/resources.ts';
import type { LossReason } from './leader.ts';
import { LeaderElector, leadershipAction } from './leader.ts';
import type { Logger } from './logger.ts';
import type { OperatorMetrics } from './metrics.ts';
import { MANAGED_BY, controllerOf, ownerLabelKey } from './ownership.ts';
import { WorkQueue } from './workqueue.ts';

export interface ManagerOptions {
  client: KubeClient;
  logger: Logger;
  metrics: OperatorMetrics;
  identity: string;
  watchNamespaces: string[];
  concurrency: number;
  resyncSeconds: number;
  /** How long finalize may keep failing before the object says how to force its deletion. */
  finalizeTimeoutMs?: number;
  leaderElection?: {
    namespace: string;
    name: string;
    leaseDurationSeconds: number;
    renewDeadlineSeconds: number;
    retryPeriodSeconds: number;
  };
  /**
   * Called as soon as leadership is lost to another replica (in-flight reconciles are not awaited):
   * main exits. Not called when renewals merely failed: the manager pauses and re-acquires.
   */
  onLostLeadership?: () => void;
}

interface Registered {
  reconciler: Reconciler<KubeObject>;
  primary: InformerSet<KubeObject>;
  /** Replaced by a fresh one (from newQueue) each time leadership is re-acquired. */
  queue: WorkQueue;
  newQueue: () => WorkQueue;
}

const typeId = (type: ResourceType) => `${type.group}/${type.kind}`;

/** Conflicts in a row on one key before status says so (fewer are a stale cache catching up). */
const CONFLICTS_WORTH_REPORTING = 3;

export class Manager {
  private readonly o: ManagerOptions;
  /** What reconciles write with: with leader election, writes pass only while the lease is surely ours. */
  private readonly writer: KubeClient;
  private readonly informers = new Map<string, InformerSet<KubeObject>>();
  private readonly controllers: Registered[] = [];
  private elector: LeaderElector | undefined;
  private leading = false;
  private hasLed = false;
  /** The work queues of the last term finishing their in-flight reconciles. */
  private draining: Promise<void> = Promise.resolve();
  private started = false;

  constructor(options: ManagerOptions) {
    this.o = options;
    this.writer = options.leaderElection
      ? options.client.withWriteGate(() => this.writeRefusal())
      : options.client;
  }

  register<T extends KubeObject>(reconciler: Reconciler<T>): void {
    const r = reconciler as unknown as Reconciler<KubeObject>;
    const { metrics, logger } = this.o;
    const log = logger.child({ controller: r.name });
    const primary = this.informerFor(r.resource, false);
    const ctx = new ReconcileContext({
      client: this.writer,
      log,
      events: new EventRecorder({
        client: this.writer,
        controller: `ymera.io/${r.name}-controller`,
        instance: this.o.identity,
        logger: log,
        onRecorded: (type, reason) => metrics.eventsTotal.inc({ type, reason }),
      }),
      informers: (type) => this.informerFor(type, true),
      primaries: (type) => this.informerFor(type, false),
      ...(this.o.finalizeTimeoutMs !== undefined ? { finalizeTimeoutMs: this.o.finalizeTimeoutMs } : {}),
    });
    const conflicts = new Map<string, number>();
    const newQueue = () =>
      new WorkQueue(
        r.name,
        async (key) => {
          const end = metrics.reconcileDuration.startTimer({ controller: r.name });
          const before = primary.get(key);
          try {
            const result = await reconcileKey(r, primary, ctx, key);
            conflicts.delete(key);
            return result;
          } catch (e) {
            // a stale cache is routine: the informer catches up and the retry succeeds
            if (isConflict(e) || e instanceof FailureReported)
              log.debug('reconcile failed; will retry', { key, error: e });
            else log.warn('reconcile failed; will retry', { key, error: e });
            const conflictsInARow = isConflict(e) ? (conflicts.get(key) ?? 0) + 1 : 0;
            conflicts.set(key, conflictsInARow);
            await reportFailure(r, primary, ctx, key, e, {
              before,
              // one conflict is a stale cache; a storm of them is worth telling the user
              quiet: conflictsInARow > 0 && conflictsInARow < CONFLICTS_WORTH_REPORTING,
              onFailure: (reason) => metrics.reconcileFailures.inc({ controller: r.name, reason }),
              onWriteFailed: () => metrics.statusWriteFailures.inc({ controller: r.name }),
            });
            throw e;
          } finally {
            end();
          }
        },
        {
          concurrency: this.o.concurrency,
          hooks: {
            onDepth: (depth) => metrics.queueDepth.set({ name: r.name }, depth),
            onStart: (_key, waitedMs) => metrics.queueLatency.observe({ name: r.name }, waitedMs / 1000),
            onDone: (_key, _ms, outcome) => {
              metrics.reconcileTotal.inc({ controller: r.name, result: outcome });
              if (outcome === 'error') metrics.reconcileErrors.inc({ controller: r.name });
            },
            onRetry: () => metrics.queueRetries.inc({ name: r.name }),
          },
        },
      );
    const reg: Registered = { reconciler: r, primary, queue: newQueue(), newQueue };
    // through reg: the queue is replaced when leadership is re-acquired
    const queue = { add: (key: string) => reg.queue.add(key) };
    primary.on({
      add: (obj) => queue.add(keyOf(obj.metadata)),
      update: (oldObj, newObj) => {
        // our own status writes need no reconcile; resyncs (old === new) do
        if (oldObj === newObj || changedBeyondStatus(oldObj, newObj)) queue.add(keyOf(newObj.metadata));
      },
      delete: (obj) => queue.add(keyOf(obj.metadata)),
    });
    const ownerApiVersion = apiVersionOf(r.resource);
    for (const type of r.owns) {
      const enqueueOwner = (child: KubeObject) => {
        const ref = controllerOf(child);
        if (!ref || ref.kind !== r.resource.kind || ref.apiVersion !== ownerApiVersion) return;
        const namespace = r.resource.namespaced ? child.metadata.namespace : undefined;
        queue.add(keyOf({ name: ref.name, namespace }));
      };
      this.informerFor(type, true).on({
        add: enqueueOwner,
        update: (_old, child) => enqueueOwner(child),
        delete: (child) => {
          ctx.forgetApplied(type, child);
          enqueueOwner(child);
        },
      });
    }
    const ownerLabel = ownerLabelKey(r.resource.kind);
    for (const type of r.watchesLabelled ?? []) {
      const enqueueNamed = (obj: KubeObject) => {
        const name = obj.metadata.labels?.[ownerLabel];
        if (!name) return;
        queue.add(keyOf({ name, namespace: r.resource.namespaced ? obj.metadata.namespace : undefined }));
      };
      this.informerFor(type, true).on({
        add: enqueueNamed,
        // a resync (old === new) is covered by the owner's own resync
        update: (oldObj, obj) => {
          if (oldObj !== obj) enqueueNamed(obj);
        },
        delete: enqueueNamed,
      });
    }
    this.controllers.push(reg);
  }

  /** Ready once every informer has listed (so reconciles read a complete cache). */
  ready(): boolean {
    return this.started && [...this.informers.values()].every((set) => set.hasSynced());
  }

  /** Queues a key of one controller from outside the informers (e.g. a Kafka trigger arrived). */
  enqueue(controller: string, key: string): void {
    this.controllers.find((c) => c.reconciler.name === controller)?.queue.add(key);
  }

  isLeader(): boolean {
    return this.leading;
  }

  async start(): Promise<void> {
    for (const set of this.informers.values()) set.start();
    await Promise.all([...this.informers.values()].map((set) => set.waitForSync()));
    this.started = true;
    this.o.logger.info('caches synced', { informers: this.informers.size });
    const le = this.o.leaderElection;
    if (!le) {
      this.startLeading();
      return;
    }
    this.elector = new LeaderElector({
      client: this.o.client,
      ...le,
      identity: this.o.identity,
      logger: this.o.logger.child({ component: 'leader-election' }),
      onStartedLeading: () => this.startLeading(),
      onStoppedLeading: (reason: LossReason) => {
        this.leading = false;
        this.o.metrics.isLeader.set(0);
        // no new reconciles; the in-flight ones can no longer write (the gate is closed)
        this.draining = this.stopWorkers();
        if (leadershipAction({ lost: reason }, this.hasLed) === 'exit') this.o.onLostLeadership?.();
        else this.o.logger.warn('work paused until the leader lease is acquired again', { reason });
      },
      onHeldByAnother: () => {
        if (leadershipAction('held-by-another', this.hasLed) === 'exit') {
          this.o.logger.error('another replica leads now');
          this.o.onLostLeadership?.();
        }
      },
    });
    this.elector.start();
  }

  /** Graceful stop: drain workers, release the lease, stop the informers. */
  async stop(): Promise<void> {
    await this.stopWorkers();
    await this.elector?.stop();
    this.leading = false;
    this.o.metrics.isLeader.set(0);
    await Promise.all([...this.informers.values()].map((set) => set.stop()));
  }

  /** Why this replica may not write now (it does not hold the lease), or undefined. */
  writeRefusal(): string | undefined {
    return this.elector?.holdsLease() ? undefined : 'this replica does not hold the leader lease';
  }

  private startLeading(): void {
    this.leading = true;
    this.hasLed = true;
    this.o.metrics.isLeader.set(1);
    // after a pause: the last term's reconciles finish first, so no key runs twice at once
    void this.draining.then(() => {
      if (!this.leading) return;
      for (const reg of this.controllers) {
        if (reg.queue.isShuttingDown) reg.queue = reg.newQueue();
        reg.queue.start();
        for (const obj of reg.primary.list()) reg.queue.add(keyOf(obj.metadata));
      }
    });
  }

  private async stopWorkers(): Promise<void> {
    await Promise.all(this.controllers.map(({ queue }) => queue.shutdown()));
  }

  private informerFor(type: ResourceType, childrenOnly: boolean): InformerSet<KubeObject> {
    const id = `${typeId(type)}|${childrenOnly}`;
    const existing = this.informers.get(id);
    if (existing) return existing;
    const namespaces = type.namespaced && this.o.watchNamespaces.length > 0 ? this.o.watchNamespaces : [''];
    const sets = new Map<string, Informer<KubeObject>>();
    for (const namespace of namespaces) {
      sets.set(
        namespace,
        new Informer<KubeObject>(this.o.client, type, {
          namespace: namespace || undefined,
          labelSelector: childrenOnly ? `app.kubernetes.io/managed-by=${MANAGED_BY}` : undefined,
          resyncMs: this.o.resyncSeconds * 1000,
          transform: trimForCache,
          logger: this.o.logger.child({ informer: type.plural, namespace }),
          onError: () => this.o.metrics.informerErrors.inc({ resource: type.plural }),
        }),
      );
    }
    const set = new InformerSet(sets);
    this.informers.set(id, set);
    if (this.started) set.start(); // asked for after start-up: fill it now
    return set;
  }
}
