// Retry timing shared by the work queue, the informers and the clients for
// external dependencies (Kafka, Prometheus, object storage).

export type BackoffOptions = {
  /** Failures so far; attempt 0 yields baseMs. */
  attempt: number;
  baseMs: number;
  /** Growth per attempt; default 2. */
  factor?: number;
  maxMs: number;
  /** Fraction in [0, 1] taken off at random; default 0. */
  jitter?: number;
  /** Returns [0, 1); injectable so tests are deterministic. */
  random?: () => number;
};

/**
 * min(baseMs * factor^attempt, maxMs), then reduced by up to `jitter` of itself.
 *
 * Jitter only ever shortens the delay, so maxMs is a hard ceiling and retries
 * that all hit the cap still spread out instead of firing together.
 * Result is in [d * (1 - jitter), d] where d is the capped delay, rounded to ms.
 */
export function exponentialBackoff(options: BackoffOptions): number {
  const { attempt, baseMs, maxMs } = options;
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 0;
  const random = options.random ?? Math.random;
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(`backoff attempt must be a non-negative integer (got ${attempt})`);
  }
  if (!(baseMs > 0) || !Number.isFinite(baseMs)) {
    throw new RangeError(`backoff baseMs must be a positive number (got ${baseMs})`);
  }
  if (!(maxMs >= baseMs) || !Number.isFinite(maxMs)) {
    throw new RangeError(`backoff maxMs must be a number >= baseMs (got ${maxMs})`);
  }
  if (!(factor >= 1) || !Number.isFinite(factor)) {
    throw new RangeError(`backoff factor must be >= 1 (got ${factor})`);
  }
  if (!(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(`backoff jitter must be within [0, 1] (got ${jitter})`);
  }
  // factor^attempt overflows to Infinity for large attempts; min() absorbs it.
  const capped = Math.min(baseMs * factor ** attempt, maxMs);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(capped * (1 - jitter * r));
}

export type CircuitState = 'closed' | 'open' | 'half-open';

export type CircuitBreakerOptions = {
  /** Consecutive failures that open the circuit; default 5. */
  failureThreshold?: number;
  /** How long the circuit stays open before one trial call; default 30s. */
  coolDownMs?: number;
  /** Epoch ms; injectable for tests. */
  now?: () => number;
  /** Which errors count against the dependency (e.g. not a 404); default all. */
  isFailure?: (error: unknown) => boolean;
  onStateChange?: (from: CircuitState, to: CircuitState) => void;
};

/** Thrown by CircuitBreaker.execute while the circuit is open. */
export class CircuitOpenError extends Error {
  readonly retryAfterMs: number;
  constructor(retryAfterMs: number) {
    super(`circuit open; next trial in ${retryAfterMs}ms`);
    this.name = 'CircuitOpenError';
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Stops calling a dependency that keeps failing, so an outage costs one fast
 * error per reconcile instead of a timeout each time.
 *
 * closed --threshold consecutive failures--> open --coolDownMs--> half-open
 * half-open lets exactly one trial through: success closes, failure re-opens.
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #coolDownMs: number;
  readonly #now: () => number;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #onStateChange: ((from: CircuitState, to: CircuitState) => void) | undefined;
  #state: CircuitState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #trialInFlight = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#threshold = options.failureThreshold ?? 5;
    this.#coolDownMs = options.coolDownMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#isFailure = options.isFailure ?? (() => true);
    this.#onStateChange = options.onStateChange;
    if (!Number.isInteger(this.#threshold) || this.#threshold < 1) {
      throw new RangeError(`failureThreshold must be a positive integer (got ${this.#threshold})`);
    }
    if (!(this.#coolDownMs >= 0)) {
      throw new RangeError(`coolDownMs must be >= 0 (got ${this.#coolDownMs})`);
    }
  }

  /** Current state; an open circuit whose cool-down elapsed reads as half-open. */
  get state(): CircuitState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.#coolDownMs) {
      this.#transition('half-open');
    }
    return this.#state;
  }

  /** Consecutive failures counted while closed. */
  get failures(): number {
    return this.#failures;
  }

  /** Milliseconds until a trial call is allowed; 0 unless open. */
  retryAfterMs(): number {
    if (this.state !== 'open') return 0;
    return Math.max(0, this.#openedAt + this.#coolDownMs - this.#now());
  }

  /**
   * Asks to make one call. In half-open this reserves the single trial, so
   * every `true` must be followed by recordSuccess() or recordFailure().
   */
  allowRequest(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.#trialInFlight) return false;
    this.#trialInFlight = true;
    return true;
  }

  recordSuccess(): void {
    this.#trialInFlight = false;
    this.#failures = 0;
    if (this.#state !== 'closed') this.#transition('closed');
  }

  recordFailure(): void {
    this.#trialInFlight = false;
    if (this.#state === 'half-open') {
      this.#open();
      return;
    }
    if (this.#state === 'open') return;
    this.#failures++;
    if (this.#failures >= this.#threshold) this.#open();
  }

  /** Runs fn through the breaker; rejects with CircuitOpenError without calling fn when open. */
  async execute<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.allowRequest()) throw new CircuitOpenError(this.retryAfterMs());
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      if (this.#isFailure(error)) {
        this.recordFailure();
      } else {
        // The dependency answered (e.g. "not found"): it is healthy.
        this.recordSuccess();
      }
      throw error;
    }
    this.recordSuccess();
    return result;
  }

  #open(): void {
    this.#openedAt = this.#now();
    this.#failures = 0;
    this.#transition('open');
  }

  #transition(to: CircuitState): void {
    const from = this.#state;
    this.#state = to;
    if (from !== to) this.#onStateChange?.(from, to);
  }
}
