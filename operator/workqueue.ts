// A rate-limited work queue in the spirit of client-go's: keys (usually
// "namespace/name") are de-duplicated, one key is never processed by two
// workers at once, and failures back off per key.
import { exponentialBackoff } from './backoff.ts';

/** What a reconcile returns: a requeue hint, or nothing when converged. */
export type ReconcileResult = { requeueAfterMs?: number } | void;

export type ReconcileOutcome = 'success' | 'error' | 'requeue';

export type WorkQueueHooks = {
  /** A key entered the queue (not called for de-duplicated adds). */
  onAdd?(key: string): void;
  /** The number of keys waiting (not counting those being processed) changed. */
  onDepth?(depth: number): void;
  /** A worker picked up the key after it waited waitedMs in the queue. */
  onStart?(key: string, waitedMs: number): void;
  onDone?(key: string, durationMs: number, outcome: ReconcileOutcome): void;
  /** The handler failed and the key will be retried after delayMs. */
  onRetry?(key: string, delayMs: number, error: unknown): void;
};

export type WorkQueueOptions = {
  /** Maximum handlers in flight; default 2. */
  concurrency?: number;
  /** First retry delay after a failure; default 500ms. */
  baseDelayMs?: number;
  /** Retry delay ceiling; default 5 minutes. */
  maxDelayMs?: number;
  /** Fraction of the retry delay taken off at random; default 0.1. */
  jitter?: number;
  random?: () => number;
  /** Epoch ms, used only for the waited/duration numbers given to hooks. */
  now?: () => number;
  hooks?: WorkQueueHooks;
};

export class WorkQueue {
  readonly name: string;
  readonly #handler: (key: string) => Promise<ReconcileResult>;
  readonly #concurrency: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #hooks: WorkQueueHooks;

  /** Keys waiting for a worker, in FIFO order. */
  #queue: string[] = [];
  /** Keys that need a run, with the time they were first added. A key may be
   * here while processing: it is then re-queued when the current run ends. */
  readonly #dirty = new Map<string, number>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, { at: number; timer: ReturnType<typeof setTimeout> }>();
  readonly #failures = new Map<string, number>();
  readonly #inFlight = new Set<Promise<void>>();
  #started = false;
  #shutdown: Promise<void> | undefined;

  constructor(
    name: string,
    handler: (key: string) => Promise<ReconcileResult>,
    options: WorkQueueOptions = {},
  ) {
    this.name = name;
    this.#handler = handler;
    this.#concurrency = options.concurrency ?? 2;
    this.#baseDelayMs = options.baseDelayMs ?? 500;
    this.#maxDelayMs = options.maxDelayMs ?? 300_000;
    this.#jitter = options.jitter ?? 0.1;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#hooks = options.hooks ?? {};
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new RangeError(`work queue ${name}: concurrency must be a positive integer`);
    }
    // Validate the backoff settings now rather than on the first failure.
    exponentialBackoff(this.#backoffOptions(0));
  }

  /** Keys waiting for a worker (excludes keys being processed and delayed adds). */
  get len(): number {
    return this.#queue.length;
  }

  /** Handlers currently running. */
  get inFlight(): number {
    return this.#processing.size;
  }

  /** Consecutive failures recorded for the key (client-go's NumRequeues). */
  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  get isShuttingDown(): boolean {
    return this.#shutdown !== undefined;
  }

  add(key: string): void {
    if (this.#shutdown || this.#dirty.has(key)) return;
    this.#dirty.set(key, this.#now());
    // A key being processed runs again once the current run ends.
    if (this.#processing.has(key)) return;
    this.#queue.push(key);
    this.#hook('onAdd', key);
    this.#hook('onDepth', this.#queue.length);
    this.#pump();
  }

  /** Adds the key after ms; if an earlier delayed add is pending, that one wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shutdown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = this.#now() + ms;
    const pending = this.#delayed.get(key);
    if (pending) {
      if (pending.at <= at) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, timer });
  }

  /** Adds the key after its per-key exponential backoff; returns the delay used. */
  addRateLimited(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    const delay = exponentialBackoff(this.#backoffOptions(failures));
    this.#failures.set(key, failures + 1);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the key's failure history so the next failure starts at baseDelayMs. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  start(): void {
    if (this.#shutdown) throw new Error(`work queue ${this.name} was shut down`);
    this.#started = true;
    this.#pump();
  }

  /**
   * Stops accepting keys, drops queued and delayed ones, and resolves when
   * the handlers already running have finished. Queued keys are not drained:
   * after losing leadership nothing new may start.
   */
  shutdown(): Promise<void> {
    if (!this.#shutdown) {
      for (const { timer } of this.#delayed.values()) clearTimeout(timer);
      this.#delayed.clear();
      const dropped = this.#queue.length;
      this.#queue = [];
      this.#dirty.clear();
      if (dropped > 0) this.#hook('onDepth', 0);
      this.#shutdown = this.#drain();
    }
    return this.#shutdown;
  }

  async #drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  #pump(): void {
    if (!this.#started || this.#shutdown) return;
    while (this.#processing.size < this.#concurrency && this.#queue.length > 0) {
      const key = this.#queue.shift() as string;
      const addedAt = this.#dirty.get(key) ?? this.#now();
      this.#dirty.delete(key);
      this.#processing.add(key);
      this.#hook('onDepth', this.#queue.length);
      const run = this.#run(key, addedAt);
      this.#inFlight.add(run);
      void run.finally(() => this.#inFlight.delete(run));
    }
  }

  async #run(key: string, addedAt: number): Promise<void> {
    const started = this.#now();
    this.#hook('onStart', key, started - addedAt);
    let outcome: ReconcileOutcome;
    try {
      const result = await this.#handler(key);
      outcome = this.#afterSuccess(key, result);
    } catch (error) {
      outcome = 'error';
      if (!this.#shutdown) {
        const delay = this.addRateLimited(key);
        this.#hook('onRetry', key, delay, error);
      }
    }
    this.#hook('onDone', key, this.#now() - started, outcome);
    this.#processing.delete(key);
    // Added while we were running: run it again now.
    if (this.#dirty.has(key) && !this.#shutdown) {
      this.#queue.push(key);
      this.#hook('onDepth', this.#queue.length);
    }
    this.#pump();
  }

  #afterSuccess(key: string, result: ReconcileResult): ReconcileOutcome {
    const after = result ? result.requeueAfterMs : undefined;
    if (after === undefined) {
      this.forget(key);
      return 'success';
    }
    if (!this.#shutdown) {
      if (after > 0 && Number.isFinite(after)) {
        this.forget(key);
        this.addAfter(key, after);
      } else {
        // A zero/invalid hint would be a hot loop; back off as on failure.
        this.addRateLimited(key);
      }
    }
    return 'requeue';
  }

  #backoffOptions(attempt: number) {
    return {
      attempt,
      baseMs: this.#baseDelayMs,
      maxMs: this.#maxDelayMs,
      jitter: this.#jitter,
      random: this.#random,
    };
  }

  // Hooks feed metrics and logs; a bug there must not stall reconciles.
  #hook<K extends keyof WorkQueueHooks>(name: K, ...args: Parameters<NonNullable<WorkQueueHooks[K]>>): void {
    const fn = this.#hooks[name] as ((...a: unknown[]) => void) | undefined;
    if (!fn) return;
    try {
      fn.apply(this.#hooks, args);
    } catch {
      // Deliberately ignored (see above).
    }
  }
}
