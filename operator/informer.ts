// List+watch informer with a local cache: the controllers read from the cache
// and react to its events instead of polling the API server. Relists on 410
// Gone, restarts a broken watch with backoff, and periodically re-delivers
// every cached object (resync) so a missed event cannot strand an object.
import { exponentialBackoff } from './backoff.ts';
import type { KubeClient, WatchEvent } from './kube/client.ts';
import { isGone } from './kube/client.ts';
import type { KubeObject, ResourceType } from './kube/resources.ts';
import { keyOf } from './kube/resources.ts';
import type { Logger } from './logger.ts';

/**
 * The longest wait between two list/watch attempts while the API server is
 * unreachable. The wait after the API is back is at most this long, so the
 * operator reconciles again within the 10 s of issue #18 (with 30 s, a
 * restart of ~15 s left the watches down until ~30 s: up to 15 s more).
 * The cost is one request per informer every 4 s during an outage.
 */
export const RECONNECT_MAX_MS = 4_000;

/** The jittered exponential wait before list/watch attempt `attempt` (1 = the first retry). */
export function reconnectDelayMs(attempt: number): number {
  return exponentialBackoff({ attempt, baseMs: 500, factor: 2, maxMs: RECONNECT_MAX_MS, jitter: 0.2 });
}

export interface InformerHandler<T extends KubeObject> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions<T extends KubeObject = KubeObject> {
  namespace?: string;
  labelSelector?: string;
  /** Period of full resyncs; 0 disables them. */
  resyncMs: number;
  logger: Logger;
  /** What the cache keeps of each listed or watched object (e.g. trimForCache); default: all of it. */
  transform?: (obj: T) => T;
  /** Called with the informer's resource on every list/watch failure (metrics). */
  onError?: (error: unknown) => void;
}

export class Informer<T extends KubeObject> {
  readonly type: ResourceType;
  private readonly client: KubeClient;
  private readonly opts: InformerOptions<T>;
  private readonly cache = new Map<string, T>();
  /** Keys by the uid of their controller (ownerReference with controller: true): children without a scan. */
  private readonly byController = new Map<string, Set<string>>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly abort = new AbortController();
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private loop: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(client: KubeClient, type: ResourceType, opts: InformerOptions<T>) {
    this.client = client;
    this.type = type;
    this.opts = opts;
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(filter?: (obj: T) => boolean): T[] {
    const out: T[] = [];
    for (const obj of this.cache.values()) if (!filter || filter(obj)) out.push(obj);
    return out;
  }

  /** Cached objects whose controller ownerReference has this uid. */
  controlledBy(uid: string): T[] {
    const out: T[] = [];
    for (const key of this.byController.get(uid) ?? []) {
      const obj = this.cache.get(key);
      if (obj) out.push(obj);
    }
    return out;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
    // 0 means off (setInterval would take it as "as often as possible": a hot loop)
    if (this.opts.resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncMs);
      this.resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.resyncTimer);
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const { items, resourceVersion } = await this.client.list<T>(this.type, {
          namespace: this.opts.namespace,
          labelSelector: this.opts.labelSelector,
        });
        this.replace(items);
        failures = 0;
        await this.watchFrom(resourceVersion, signal);
      } catch (e) {
        if (signal.aborted) break;
        await this.backOff('list', ++failures, e, signal);
      }
    }
  }

  /** Watches until 410 Gone (returns, so the caller relists) or abort. */
  private async watchFrom(resourceVersion: string, signal: AbortSignal): Promise<void> {
    let rv = resourceVersion;
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.client.watch<T>(
          this.type,
          // a randomised server-side timeout spreads re-watches over time
          {
            namespace: this.opts.namespace,
            labelSelector: this.opts.labelSelector,
            resourceVersion: rv,
            timeoutSeconds: 300 + Math.floor(Math.random() * 300),
            signal,
          },
          (event) => {
            rv = event.object.metadata?.resourceVersion ?? rv;
            this.apply(event);
          },
        );
        failures = 0;
      } catch (e) {
        if (isGone(e)) {
          this.opts.logger.info('watch expired; relisting', { resource: this.type.plural });
          return;
        }
        if (signal.aborted) return;
        // a broken stream (e.g. a malformed event) lands here too: re-watch from the last applied event
        if (++failures > 5) throw e; // something is off with this resourceVersion: relist
        await this.backOff('watch', failures, e, signal);
      }
    }
  }

  /** Counts the failure, logs it and waits an exponentially growing, jittered delay. */
  private async backOff(
    what: 'list' | 'watch',
    attempt: number,
    error: unknown,
    signal: AbortSignal,
  ): Promise<void> {
    this.opts.onError?.(error);
    const delayMs = reconnectDelayMs(attempt);
    this.opts.logger.warn(`${what} failed; retrying`, { resource: this.type.plural, delayMs, error });
    await sleep(delayMs, signal);
  }

  /** Swaps in a fresh list, emitting the differences as events. */
  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      const obj = this.opts.transform ? this.opts.transform(item) : item;
      const key = keyOf(obj.metadata);
      seen.add(key);
      this.upsert(key, obj);
    }
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.remove(key, old);
        this.emit((h) => h.delete?.(old));
      }
    }
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  private apply(event: WatchEvent<T>): void {
    if (event.type === 'BOOKMARK' || event.type === 'ERROR') return;
    const obj = this.opts.transform ? this.opts.transform(event.object) : event.object;
    const key = keyOf(obj.metadata);
    if (event.type === 'DELETED') {
      const old = this.cache.get(key) ?? obj;
      this.remove(key, this.cache.get(key));
      this.emit((h) => h.delete?.(old));
      return;
    }
    this.upsert(key, obj);
  }

  private upsert(key: string, obj: T): void {
    const old = this.cache.get(key);
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    if (old) this.unindex(key, old);
    this.cache.set(key, obj);
    const uid = controllerUid(obj);
    if (uid) {
      let keys = this.byController.get(uid);
      if (!keys) this.byController.set(uid, (keys = new Set()));
      keys.add(key);
    }
    if (old) this.emit((h) => h.update?.(old, obj));
    else this.emit((h) => h.add?.(obj));
  }

  private remove(key: string, old: T | undefined): void {
    this.cache.delete(key);
    if (old) this.unindex(key, old);
  }

  private unindex(key: string, old: T): void {
    const uid = controllerUid(old);
    const keys = uid ? this.byController.get(uid) : undefined;
    if (!keys || !uid) return;
    keys.delete(key);
    if (keys.size === 0) this.byController.delete(uid);
  }

  private resync(): void {
    if (!this.synced) return;
    for (const obj of this.cache.values()) this.emit((h) => h.update?.(obj, obj));
  }

  private emit(call: (h: InformerHandler<T>) => void): void {
    for (const h of this.handlers) {
      try {
        call(h);
      } catch (e) {
        this.opts.logger.error('informer handler failed', { resource: this.type.plural, error: e });
      }
    }
  }
}

function controllerUid(obj: KubeObject): string | undefined {
  return obj.metadata.ownerReferences?.find((ref) => ref.controller)?.uid;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
