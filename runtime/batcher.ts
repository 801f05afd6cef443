// Pure dynamic batching: concurrent requests with compatible inputs are
// stacked along the batch (first) dimension, run once, and the outputs are
// split back per request. A batch goes when it holds maxBatchSize rows, when
// its oldest request has waited maxDelayMs, or at once while draining; at most
// maxConcurrentBatches runs are in flight, and while they are, queued batches
// keep filling (which is what raises throughput under load). No onnxruntime
// import: `run` is injected, so the module is tested with plain functions.
import type { HostTensor } from './tensor.ts';
import { concat, slice } from './tensor.ts';

export type Tensors = Record<string, HostTensor>;
export type RunFn = (inputs: Tensors) => Promise<Tensors>;

export type BatcherOptions = {
  run: RunFn;
  /** Most rows in one run; 1 disables merging. */
  maxBatchSize: number;
  /** Longest a request waits for company; 0 = until the end of the current event-loop turn. */
  maxDelayMs: number;
  /** Runs in flight at once; default 1. */
  maxConcurrentBatches?: number;
  /** Called once per run with its row and request counts (metrics). */
  onBatch?: (rows: number, requests: number) => void;
};

type Pending = {
  inputs: Tensors;
  rows: number;
  resolve: (out: Tensors) => void;
  reject: (e: unknown) => void;
};

type Queue = {
  key: string;
  items: Pending[];
  rows: number;
  /** Sequence number of the oldest item: older queues go first. */
  since: number;
  /** When its oldest item arrived (performance.now()): a new maxDelayMs re-arms the timer from it. */
  startedAt: number;
  due: boolean;
  timer: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;
};

/** Requests share a batch only when every input has the same name, type and non-batch dims. */
export function compatibilityKey(inputs: Tensors): string {
  return Object.keys(inputs)
    .sort()
    .map((n) => {
      const t = inputs[n] as HostTensor;
      return `${n}:${t.type}:${t.dims.slice(1).join('x')}`;
    })
    .join('|');
}

/** Stacks the inputs of `items` along dimension 0. */
export function mergeInputs(items: readonly { inputs: Tensors; rows: number }[]): Tensors {
  const first = items[0];
  if (!first) throw new Error('mergeInputs: no items');
  if (items.length === 1) return first.inputs;
  const rows = items.reduce((n, i) => n + i.rows, 0);
  const out: Tensors = {};
  for (const [name, t] of Object.entries(first.inputs)) {
    out[name] = {
      type: t.type,
      dims: [rows, ...t.dims.slice(1)],
      data: concat(
        t.type,
        items.map((i) => (i.inputs[name] as HostTensor).data),
      ),
    };
  }
  return out;
}

/** Splits batched outputs back into per-request outputs by row counts. */
export function splitOutputs(outputs: Tensors, rows: readonly number[]): Tensors[] {
  const total = rows.reduce((a, b) => a + b, 0);
  if (rows.length === 1) return [outputs];
  const parts: Tensors[] = rows.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims[0] !== total) {
      throw new Error(`output "${name}" has ${t.dims[0]} rows for a batch of ${total}; cannot split it`);
    }
    const per = t.data.length / total;
    let row = 0;
    rows.forEach((r, i) => {
      (parts[i] as Tensors)[name] = {
        type: t.type,
        dims: [r, ...t.dims.slice(1)],
        data: slice(t.data, row * per, (row + r) * per),
      };
      row += r;
    });
  }
  return parts;
}

/** The limits that can change while the batcher runs (setLimits). */
export type BatchLimits = { maxBatchSize: number; maxDelayMs: number };

function checkLimits(l: BatchLimits): void {
  if (!(Number.isInteger(l.maxBatchSize) && l.maxBatchSize >= 1))
    throw new Error(`maxBatchSize must be an integer >= 1 (got ${l.maxBatchSize})`);
  if (!(Number.isFinite(l.maxDelayMs) && l.maxDelayMs >= 0))
    throw new Error(`maxDelayMs must be a number >= 0 (got ${l.maxDelayMs})`);
}

export class Batcher {
  readonly #opts: Required<Omit<BatcherOptions, 'onBatch'>> & Pick<BatcherOptions, 'onBatch'>;
  readonly #queues = new Map<string, Queue>();
  #seq = 0;
  #inFlight = 0;
  #queued = 0;
  #draining = false;
  #idle: (() => void)[] = [];

  constructor(options: BatcherOptions) {
    checkLimits(options);
    this.#opts = { maxConcurrentBatches: 1, ...options };
  }

  /** The limits in effect. */
  get limits(): BatchLimits {
    return { maxBatchSize: this.#opts.maxBatchSize, maxDelayMs: this.#opts.maxDelayMs };
  }

  /**
   * Changes maxBatchSize and maxDelayMs from now on (a config reload). Runs in
   * flight finish as they were dispatched; requests still queued are batched
   * with the new size, and their wait is re-armed to the new delay counted
   * from when the oldest of them arrived.
   */
  setLimits(limits: BatchLimits): void {
    checkLimits(limits);
    const delayChanged = limits.maxDelayMs !== this.#opts.maxDelayMs;
    this.#opts.maxBatchSize = limits.maxBatchSize;
    this.#opts.maxDelayMs = limits.maxDelayMs;
    if (delayChanged) {
      for (const q of this.#queues.values()) {
        if (q.items.length === 0 || q.due || !q.timer) continue;
        this.#clearTimer(q);
        this.#arm(q, Math.max(0, q.startedAt + limits.maxDelayMs - performance.now()));
      }
    }
    this.#pump();
  }

  #arm(q: Queue, delayMs: number): void {
    const fire = () => {
      q.timer = undefined;
      q.due = true;
      this.#pump();
    };
    // 0: wait only for the rest of this event-loop turn, so requests parsed from the
    // same socket reads share a run without any timer delay.
    q.timer = delayMs === 0 ? setImmediate(fire) : setTimeout(fire, delayMs);
  }

  #clearTimer(q: Queue): void {
    if (q.timer) {
      clearTimeout(q.timer as ReturnType<typeof setTimeout>);
      clearImmediate(q.timer as ReturnType<typeof setImmediate>);
    }
    q.timer = undefined;
  }

  /** Requests waiting for a run (not yet in flight). */
  get queued(): number {
    return this.#queued;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Queues one request of `rows` rows; resolves with its own slice of the outputs. */
  submit(inputs: Tensors, rows: number): Promise<Tensors> {
    return new Promise<Tensors>((resolve, reject) => {
      const key = compatibilityKey(inputs);
      let q = this.#queues.get(key);
      if (!q) {
        q = { key, items: [], rows: 0, since: this.#seq, startedAt: 0, due: false, timer: undefined };
        this.#queues.set(key, q);
      }
      if (q.items.length === 0) {
        q.since = this.#seq;
        q.startedAt = performance.now();
        q.due = false;
        this.#arm(q, this.#opts.maxDelayMs);
      }
      this.#seq++;
      q.items.push({ inputs, rows, resolve, reject });
      q.rows += rows;
      this.#queued++;
      this.#pump();
    });
  }

  /** Sends everything queued without waiting for maxDelayMs; resolves when no work is left. */
  drain(): Promise<void> {
    this.#draining = true;
    this.#pump();
    return this.#whenIdle();
  }

  #whenIdle(): Promise<void> {
    if (this.#inFlight === 0 && this.#queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #ready(q: Queue): boolean {
    return q.items.length > 0 && (q.due || this.#draining || q.rows >= this.#opts.maxBatchSize);
  }

  #pump(): void {
    while (this.#inFlight < this.#opts.maxConcurrentBatches) {
      let next: Queue | undefined;
      for (const q of this.#queues.values()) {
        if (this.#ready(q) && (!next || q.since < next.since)) next = q;
      }
      if (!next) break;
      this.#dispatch(next);
    }
    if (this.#inFlight === 0 && this.#queued === 0) {
      for (const r of this.#idle.splice(0)) r();
    }
  }

  #dispatch(q: Queue): void {
    // Take from the front up to maxBatchSize rows; one oversized request goes alone.
    const batch: Pending[] = [];
    let rows = 0;
    while (q.items.length > 0) {
      const head = q.items[0] as Pending;
      if (batch.length > 0 && rows + head.rows > this.#opts.maxBatchSize) break;
      batch.push(head);
      q.items.shift();
      rows += head.rows;
    }
    q.rows -= rows;
    this.#queued -= batch.length;
    if (q.items.length === 0) {
      this.#clearTimer(q);
      q.due = false;
      this.#queues.delete(q.key);
    } else {
      // The rest has waited as long as the head did; it stays due if the head was.
      q.since = this.#seq - q.items.length;
    }
    this.#inFlight++;
    this.#opts.onBatch?.(rows, batch.length);
    void this.#execute(batch);
  }

  async #execute(batch: Pending[]): Promise<void> {
    try {
      const outputs = await this.#opts.run(mergeInputs(batch));
      const parts = splitOutputs(
        outputs,
        batch.map((b) => b.rows),
      );
      batch.forEach((b, i) => b.resolve(parts[i] as Tensors));
    } catch (e) {
      for (const b of batch) b.reject(e);
    } finally {
      this.#inFlight--;
      this.#pump();
    }
  }
}
