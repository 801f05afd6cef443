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
  onStoppedLeading: () => void;
  now?: () => number;
}

/** Go's metav1.MicroTime wants six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly o: LeaderElectionOptions;
  private readonly now: () => number;
  private leading = false;
  private stopped = false;
  private observedRecord = '';
  private observedTime = 0;
  private wake: (() => void) | undefined;
  private done: Promise<void> | undefined;

  constructor(options: LeaderElectionOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Runs until stop(): acquire, then renew until the lease is lost. */
  start(): void {
    this.done ??= this.run();
  }

  /** Stops renewing and, when leading, releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.done;
    if (this.leading) {
      this.leading = false;
      await this.release().catch((e: unknown) => this.o.logger.warn('could not release lease', { error: e }));
    }
  }

  private async run(): Promise<void> {
    const retryMs = this.o.retryPeriodSeconds * 1000;
    while (!this.stopped) {
      // acquire
      while (!this.stopped && !(await this.tryAcquireOrRenew())) await this.sleep(jittered(retryMs));
      if (this.stopped) return;
      this.leading = true;
      this.o.logger.info('became leader', {
        lease: `${this.o.namespace}/${this.o.name}`,
        identity: this.o.identity,
      });
      this.o.onStartedLeading();
      // renew
      let lastRenew = this.now();
      while (!this.stopped) {
        await this.sleep(retryMs);
        if (this.stopped) return;
        if (await this.tryAcquireOrRenew()) {
          lastRenew = this.now();
        } else if (this.now() - lastRenew > this.o.renewDeadlineSeconds * 1000) {
          this.leading = false;
          this.o.logger.error('lost leadership', { lease: `${this.o.namespace}/${this.o.name}` });
          this.o.onStoppedLeading();
          break;
        }
      }
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.o;
    const nowMs = this.now();
    try {
      const lease = await client.get<Lease>(core.lease, name, namespace);
      if (!lease) {
        await client.create(core.lease, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: this.record(nowMs, nowMs, 0),
        });
        this.observe(`${identity}|${microTime(nowMs)}`, nowMs);
        return true;
      }
      const spec = lease.spec ?? {};
      const recordKey = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}`;
      if (recordKey !== this.observedRecord) this.observe(recordKey, nowMs);
      const holder = spec.holderIdentity ?? '';
      const duration = (spec.leaseDurationSeconds ?? this.o.leaseDurationSeconds) * 1000;
      if (holder && holder !== identity && this.observedTime + duration > nowMs) return false;
      const isRenewal = holder === identity;
      const acquireMs = isRenewal && spec.acquireTime ? Date.parse(spec.acquireTime) : nowMs;
      const transitions = (spec.leaseTransitions ?? 0) + (isRenewal ? 0 : 1);
      await client.replace(core.lease, { ...lease, spec: this.record(acquireMs, nowMs, transitions) });
      this.observe(`${identity}|${microTime(nowMs)}`, nowMs);
      return true;
    } catch (e) {
      // a conflict means another replica wrote first: simply not acquired
      if (!isConflict(e) && !isNotFound(e)) this.o.logger.warn('lease update failed', { error: e });
      return false;
    }
  }

  private async release(): Promise<void> {
    const lease = await this.o.client.get<Lease>(core.lease, this.o.name, this.o.namespace);
    if (!lease || lease.spec?.holderIdentity !== this.o.identity) return;
    await this.o.client.replace(core.lease, {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: null,
        leaseDurationSeconds: 1,
        renewTime: microTime(this.now()),
      },
    });
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
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function jittered(ms: number): number {
  return ms * (1 + Math.random() * 0.2);
}
