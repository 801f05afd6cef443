// Leader election on a coordination.k8s.io/v1 Lease, following client-go's
// algorithm: expiry is judged by when *we* last saw the record change (our
// own clock), never by comparing our clock with another replica's timestamps.
import { isConflict, isNotFound } from './kube/client.ts';
import type { KubeClient } from './kube/client.ts';
import type { KubeObject } from './kube/resources.ts';
import { core } from './kube/resources.ts';
import type { Logger } from './logger.ts';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}
export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  logger: Logger;
  onStartedLeading: () => void;
  /** Leadership ended; `reason` says whether another replica holds the Lease or our renewals failed. */
  onStoppedLeading: (reason: LossReason) => void;
  /** An acquire attempt saw another replica holding a live Lease (a standby sees this at every try). */
  onHeldByAnother?: () => void;
  now?: () => number;
}

/** Why leadership ended: another replica holds the Lease, or our renewals failed (API unreachable, 5xx, timeouts). */
export type LossReason = 'taken' | 'not-renewed';

/** What the process does next. */
export type LeadershipAction = 'exit' | 'pause-and-reacquire' | 'stand-by';

/**
 * What to do when leadership ends (`lost`) or an acquire attempt finds another holder (`held-by-another`).
 *
 * Renewals that failed (the API unreachable) are no reason to restart: the replica has already stopped
 * writing (the write gate refuses every write once `holdsLease()` is false, i.e. renewDeadline after the
 * last successful renewal started, by our clock), pauses its work queues and tries to acquire again like
 * any candidate. No double writes: another replica may take the Lease only after it has seen the record
 * unchanged for leaseDuration (> renewDeadline) on its own clock, and it sees our last renewal no earlier
 * than that renewal started, so our writes stop before it can begin; and we write again only after an
 * acquire that succeeded through the API (an update with resourceVersion), i.e. while the Lease is ours.
 *
 * Another holder, though, means a new leader runs (or ran) the work: a replica that had led exits, so that
 * no state it kept as leader (Kafka consumers, per-key memory) outlives its term; one that never led is an
 * ordinary standby.
 */
export function leadershipAction(
  event: { lost: LossReason } | 'held-by-another',
  hasLed: boolean,
): LeadershipAction {
  if (event === 'held-by-another') return hasLed ? 'exit' : 'stand-by';
  return event.lost === 'taken' ? 'exit' : 'pause-and-reacquire';
}

/** Go's metav1.MicroTime wants six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Outcome of one acquire/renew attempt. */
type Attempt = 'held' | 'taken' | 'failed';

export class LeaderElector {
  private readonly o: LeaderElectionOptions;
  private readonly now: () => number;
  private readonly stopping = new AbortController();
  private leading = false;
  /** When the last successful acquire/renew started (our clock): the lease is ours until then + renewDeadline. */
  private lastRenew = 0;
  private observedRecord = '';
  private observedTime = 0;
  private done: Promise<void> | undefined;

  constructor(options: LeaderElectionOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * True while leading and the lease was renewed less than renewDeadline ago.
   * Judged by the clock, not by the renew loop having noticed: a process
   * resumed after a long pause (SIGSTOP, GC, a frozen VM) is past it before
   * any of its timers or I/O callbacks run, so its writes can be refused.
   */
  holdsLease(now = this.now()): boolean {
    return this.leading && now - this.lastRenew < this.o.renewDeadlineSeconds * 1000;
  }

  /** Runs until stop(): acquire, then renew until the lease is lost. */
  start(): void {
    this.done ??= this.run();
  }

  /** Stops renewing and, when leading, releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.done;
    if (this.leading) {
      const mayRelease = this.holdsLease();
      this.leading = false;
      // a lease we no longer hold for sure is not ours to clear
      if (mayRelease) {
        await this.release().catch((e: unknown) =>
          this.o.logger.warn('could not release lease', { error: e }),
        );
      }
    }
  }

  private async run(): Promise<void> {
    const retryMs = this.o.retryPeriodSeconds * 1000;
    const deadlineMs = this.o.renewDeadlineSeconds * 1000;
    const stopped = () => this.stopping.signal.aborted;
    while (!stopped()) {
      // acquire
      for (;;) {
        if (stopped()) return;
        const startedAt = this.now();
        const outcome = await this.tryAcquireOrRenew(startedAt, deadlineMs);
        if (outcome === 'held') {
          this.lastRenew = startedAt;
          break;
        }
        if (outcome === 'taken' && !stopped()) this.o.onHeldByAnother?.();
        await this.sleep(jittered(retryMs));
      }
      if (stopped()) return;
      this.leading = true;
      this.o.logger.info('became leader', {
        lease: `${this.o.namespace}/${this.o.name}`,
        identity: this.o.identity,
      });
      this.o.onStartedLeading();
      // renew: every attempt is bounded by what is left of the renew deadline
      for (;;) {
        await this.sleep(Math.min(retryMs, Math.max(0, this.lastRenew + deadlineMs - this.now())));
        if (stopped()) return;
        const startedAt = this.now();
        const left = this.lastRenew + deadlineMs - startedAt;
        const outcome = left > 0 ? await this.tryAcquireOrRenew(startedAt, left) : 'failed';
        if (outcome === 'held') {
          this.lastRenew = startedAt;
          continue;
        }
        if (stopped()) return;
        if (outcome === 'taken' || this.now() - this.lastRenew >= deadlineMs) {
          this.lose(outcome === 'taken' ? 'taken' : 'not-renewed');
          break;
        }
      }
    }
  }

  private lose(reason: LossReason): void {
    this.leading = false;
    this.o.logger.error('lost leadership', {
      lease: `${this.o.namespace}/${this.o.name}`,
      reason:
        reason === 'taken' ? 'another replica holds the lease' : 'not renewed within the renew deadline',
    });
    this.o.onStoppedLeading(reason);
  }

  /** One GET (+ PUT or POST), aborted after `timeoutMs` so a hung request cannot outlive the deadline. */
  private async tryAcquireOrRenew(nowMs: number, timeoutMs: number): Promise<Attempt> {
    const { client, namespace, name, identity } = this.o;
    const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(timeoutMs)]);
    try {
      const lease = await client.get<Lease>(core.lease, name, namespace, { signal });
      if (!lease) {
        await client.create(
          core.lease,
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: this.record(nowMs, nowMs, 0),
          },
          { signal },
        );
        this.observe(`${identity}|${microTime(nowMs)}`, nowMs);
        return 'held';
      }
      const spec = lease.spec ?? {};
      const recordKey = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}`;
      if (recordKey !== this.observedRecord) this.observe(recordKey, nowMs);
      const holder = spec.holderIdentity ?? '';
      const duration = (spec.leaseDurationSeconds ?? this.o.leaseDurationSeconds) * 1000;
      if (holder && holder !== identity && this.observedTime + duration > nowMs) return 'taken';
      const isRenewal = holder === identity;
      const acquireMs = isRenewal && spec.acquireTime ? Date.parse(spec.acquireTime) : nowMs;
      const transitions = (spec.leaseTransitions ?? 0) + (isRenewal ? 0 : 1);
      await client.replace(
        core.lease,
        { ...lease, spec: this.record(acquireMs, nowMs, transitions) },
        undefined,
        {
          signal,
        },
      );
      this.observe(`${identity}|${microTime(nowMs)}`, nowMs);
      return 'held';
    } catch (e) {
      // a conflict means another replica wrote first: simply not acquired
      if (!isConflict(e) && !isNotFound(e)) this.o.logger.warn('lease update failed', { error: e });
      return 'failed';
    }
  }

  private async release(): Promise<void> {
    const signal = AbortSignal.timeout(this.o.renewDeadlineSeconds * 1000);
    const lease = await this.o.client.get<Lease>(core.lease, this.o.name, this.o.namespace, { signal });
    if (!lease || lease.spec?.holderIdentity !== this.o.identity) return;
    await this.o.client.replace(
      core.lease,
      {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: null,
          leaseDurationSeconds: 1,
          renewTime: microTime(this.now()),
        },
      },
      undefined,
      { signal },
    );
    this.o.logger.info('released lease', { lease: `${this.o.namespace}/${this.o.name}` });
  }

  private record(acquireMs: number, renewMs: number, transitions: number): LeaseSpec {
    return {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: this.o.leaseDurationSeconds,
      acquireTime: microTime(acquireMs),
      renewTime: microTime(renewMs),
      leaseTransitions: transitions,
    };
  }

  private observe(record: string, at: number): void {
    this.observedRecord = record;
    this.observedTime = at;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.stopping.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

function jittered(ms: number): number {
  return ms * (1 + Math.random() * 0.2);
}
