// Pure: a quantile over the latencies of the last `windowMs`, for the
// per-pod p95 gauge the HPA's latency metric reads (the histogram serves
// Prometheus; an autoscaler through a metrics adapter wants one number per
// pod). A fixed ring buffer: add() is O(1) on the request path, the sort
// happens only when scraped.
export class LatencyWindow {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #times: Float64Array;
  readonly #values: Float64Array;
  #next = 0;
  #count = 0;

  constructor(options: { windowMs: number; capacity?: number; now?: () => number }) {
    this.#windowMs = options.windowMs;
    this.#now = options.now ?? Date.now;
    const capacity = options.capacity ?? 10_000;
    this.#times = new Float64Array(capacity);
    this.#values = new Float64Array(capacity);
  }

  /** Past capacity, the newest sample overwrites the oldest. */
  add(value: number): void {
    this.#times[this.#next] = this.#now();
    this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % this.#times.length;
    if (this.#count < this.#times.length) this.#count++;
  }

  /** The q-quantile (nearest rank) of the samples in the window; 0 when there are none. */
  quantile(q: number): number {
    const cutoff = this.#now() - this.#windowMs;
    const live: number[] = [];
    for (let i = 0; i < this.#count; i++) {
      if ((this.#times[i] as number) >= cutoff) live.push(this.#values[i] as number);
    }
    if (live.length === 0) return 0;
    live.sort((a, b) => a - b);
    return live[Math.min(live.length - 1, Math.ceil(q * live.length) - 1)] as number;
  }
}
