import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Batcher, compatibilityKey, mergeInputs, splitOutputs } from './batcher.ts';
import type { Tensors } from './batcher.ts';

// A fake "model": doubles every element and returns the row count, so each
// caller can check it got its own rows back.
function f32(rows: number, cols: number, start: number): Tensors {
  return {
    x: {
      type: 'float32',
      dims: [rows, cols],
      data: Float32Array.from({ length: rows * cols }, (_, i) => start + i),
    },
  };
}

function recorder() {
  const runs: number[] = [];
  const run = async (inputs: Tensors): Promise<Tensors> => {
    const x = inputs.x!;
    runs.push(x.dims[0] as number);
    const data = Float32Array.from(x.data as Float32Array, (v) => v * 2);
    return { y: { type: 'float32', dims: x.dims, data } };
  };
  return { runs, run };
}

describe('mergeInputs / splitOutputs', () => {
  it('stacks along dim 0 and splits back by rows', () => {
    const a = { inputs: f32(1, 2, 0), rows: 1 };
    const b = { inputs: f32(2, 2, 10), rows: 2 };
    const merged = mergeInputs([a, b]);
    expect(merged.x!.dims).toEqual([3, 2]);
    expect(Array.from(merged.x!.data as Float32Array)).toEqual([0, 1, 10, 11, 12, 13]);
    const parts = splitOutputs(merged, [1, 2]);
    expect(parts[0]!.x!.dims).toEqual([1, 2]);
    expect(Array.from(parts[0]!.x!.data as Float32Array)).toEqual([0, 1]);
    expect(Array.from(parts[1]!.x!.data as Float32Array)).toEqual([10, 11, 12, 13]);
  });

  it('merges strings and bigints', () => {
    const s = (v: string[]): Tensors => ({ t: { type: 'string', dims: [v.length, 1], data: v } });
    expect(
      mergeInputs([
        { inputs: s(['a']), rows: 1 },
        { inputs: s(['b', 'c']), rows: 2 },
      ]).t!.data,
    ).toEqual(['a', 'b', 'c']);
    const i = (v: bigint[]): Tensors => ({
      t: { type: 'int64', dims: [v.length], data: BigInt64Array.from(v) },
    });
    const m = mergeInputs([
      { inputs: i([1n]), rows: 1 },
      { inputs: i([2n]), rows: 1 },
    ]);
    expect(Array.from(m.t!.data as BigInt64Array)).toEqual([1n, 2n]);
  });

  it('refuses to split an output whose rows do not match the batch', () => {
    const out: Tensors = { y: { type: 'float32', dims: [1], data: new Float32Array(1) } };
    expect(() => splitOutputs(out, [1, 1])).toThrow(/cannot split/);
  });

  it('keys differ when non-batch dims or types differ, not when rows differ', () => {
    expect(compatibilityKey(f32(1, 2, 0))).toBe(compatibilityKey(f32(5, 2, 0)));
    expect(compatibilityKey(f32(1, 2, 0))).not.toBe(compatibilityKey(f32(1, 3, 0)));
    const i: Tensors = { x: { type: 'int32', dims: [1, 2], data: new Int32Array(2) } };
    expect(compatibilityKey(f32(1, 2, 0))).not.toBe(compatibilityKey(i));
  });
});

describe('Batcher', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('merges concurrent requests into one run and gives each its own rows', async () => {
    const { runs, run } = recorder();
    const onBatch = vi.fn();
    const b = new Batcher({ run, maxBatchSize: 8, maxDelayMs: 5, onBatch });
    const p = [b.submit(f32(1, 2, 0), 1), b.submit(f32(2, 2, 100), 2), b.submit(f32(1, 2, 200), 1)];
    expect(b.queued).toBe(3);
    expect(runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(5);
    const [r0, r1, r2] = await Promise.all(p);
    expect(runs).toEqual([4]);
    expect(onBatch).toHaveBeenCalledWith(4, 3);
    expect(Array.from(r0!.y!.data as Float32Array)).toEqual([0, 2]);
    expect(Array.from(r1!.y!.data as Float32Array)).toEqual([200, 202, 204, 206]);
    expect(r1!.y!.dims).toEqual([2, 2]);
    expect(Array.from(r2!.y!.data as Float32Array)).toEqual([400, 402]);
  });

  it('does not run before maxDelayMs unless the batch is full', async () => {
    const { runs, run } = recorder();
    const b = new Batcher({ run, maxBatchSize: 4, maxDelayMs: 10 });
    const p = b.submit(f32(1, 2, 0), 1);
    await vi.advanceTimersByTimeAsync(9);
    expect(runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(runs).toEqual([1]);
  });

  it('sends a full batch at once and never exceeds maxBatchSize', async () => {
    const { runs, run } = recorder();
    const b = new Batcher({ run, maxBatchSize: 3, maxDelayMs: 1000, maxConcurrentBatches: 4 });
    const p = [1, 2, 3, 4, 5].map((i) => b.submit(f32(1, 2, i), 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([3]);
    await vi.advanceTimersByTimeAsync(1000);
    await Promise.all(p);
    expect(runs).toEqual([3, 2]);
  });

  it('does not split a multi-row request; an oversized one runs alone', async () => {
    const { runs, run } = recorder();
    const b = new Batcher({ run, maxBatchSize: 4, maxDelayMs: 1, maxConcurrentBatches: 4 });
    const p = [b.submit(f32(3, 2, 0), 3), b.submit(f32(2, 2, 0), 2), b.submit(f32(9, 2, 0), 9)];
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all(p);
    expect(runs).toEqual([3, 2, 9]);
  });

  it('keeps requests with incompatible shapes in separate batches', async () => {
    const { runs, run } = recorder();
    const b = new Batcher({ run, maxBatchSize: 8, maxDelayMs: 2, maxConcurrentBatches: 2 });
    const p = [b.submit(f32(1, 2, 0), 1), b.submit(f32(1, 3, 0), 1), b.submit(f32(1, 2, 5), 1)];
    await vi.advanceTimersByTimeAsync(2);
    const [a, c, d] = await Promise.all(p);
    expect(runs.sort()).toEqual([1, 2]);
    expect(a!.y!.dims).toEqual([1, 2]);
    expect(c!.y!.dims).toEqual([1, 3]);
    expect(Array.from(d!.y!.data as Float32Array)).toEqual([10, 12]);
  });

  it('queues while a run is in flight and sends the queue as one batch after it', async () => {
    let release: (() => void) | undefined;
    const sizes: number[] = [];
    const run = async (inputs: Tensors): Promise<Tensors> => {
      sizes.push(inputs.x!.dims[0] as number);
      if (sizes.length === 1) await new Promise<void>((r) => (release = r));
      return { y: inputs.x! };
    };
    const b = new Batcher({ run, maxBatchSize: 16, maxDelayMs: 0 });
    const first = b.submit(f32(1, 2, 0), 1);
    await vi.advanceTimersByTimeAsync(0);
    const rest = [1, 2, 3].map((i) => b.submit(f32(1, 2, i), 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(sizes).toEqual([1]);
    expect(b.queued).toBe(3);
    release!();
    await Promise.all([first, ...rest]);
    expect(sizes).toEqual([1, 3]);
  });

  it('rejects every request of a failed run, and keeps working', async () => {
    let fail = true;
    const run = async (inputs: Tensors): Promise<Tensors> => {
      if (fail) throw new Error('boom');
      return { y: inputs.x! };
    };
    const b = new Batcher({ run, maxBatchSize: 4, maxDelayMs: 1 });
    const p = [b.submit(f32(1, 2, 0), 1), b.submit(f32(1, 2, 0), 1)].map((x) =>
      x.catch((e: Error) => e.message),
    );
    await vi.advanceTimersByTimeAsync(1);
    expect(await Promise.all(p)).toEqual(['boom', 'boom']);
    fail = false;
    const ok = b.submit(f32(1, 2, 0), 1);
    await vi.advanceTimersByTimeAsync(1);
    expect((await ok).y!.dims).toEqual([1, 2]);
  });

  it('drain sends queued work without waiting for maxDelayMs and resolves when idle', async () => {
    const { runs, run } = recorder();
    const b = new Batcher({ run, maxBatchSize: 8, maxDelayMs: 60_000 });
    const p = [b.submit(f32(1, 2, 0), 1), b.submit(f32(1, 2, 0), 1)];
    const drained = b.drain();
    await vi.advanceTimersByTimeAsync(0);
    await drained;
    await Promise.all(p);
    expect(runs).toEqual([2]);
    expect(b.queued).toBe(0);
    expect(b.inFlight).toBe(0);
  });

  it('setLimits: a run in flight keeps its batch, the next batches use the new size', async () => {
    let release: (() => void) | undefined;
    const sizes: number[] = [];
    const run = async (inputs: Tensors): Promise<Tensors> => {
      sizes.push(inputs.x!.dims[0] as number);
      if (sizes.length === 1) await new Promise<void>((r) => (release = r));
      return { y: inputs.x! };
    };
    const b = new Batcher({ run, maxBatchSize: 4, maxDelayMs: 1000 });
    const first = [0, 1, 2, 3].map((i) => b.submit(f32(1, 2, i), 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(sizes).toEqual([4]); // full at the old size: in flight
    const rest = [4, 5, 6, 7, 8, 9].map((i) => b.submit(f32(1, 2, i), 1));
    b.setLimits({ maxBatchSize: 2, maxDelayMs: 1000 });
    expect(b.limits).toEqual({ maxBatchSize: 2, maxDelayMs: 1000 });
    release!();
    await Promise.all(first);
    await vi.advanceTimersByTimeAsync(0);
    await Promise.all(rest);
    expect(sizes).toEqual([4, 2, 2, 2]);
  });

  it('setLimits: a shorter delay re-arms the wait of queued requests from their arrival', async () => {
    const { runs, run } = recorder();
    const b = new Batcher({ run, maxBatchSize: 8, maxDelayMs: 10_000 });
    const p = b.submit(f32(1, 2, 0), 1);
    await vi.advanceTimersByTimeAsync(30);
    b.setLimits({ maxBatchSize: 8, maxDelayMs: 50 });
    await vi.advanceTimersByTimeAsync(19);
    expect(runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(runs).toEqual([1]);
    // new requests wait the new delay
    const q = b.submit(f32(1, 2, 0), 1);
    await vi.advanceTimersByTimeAsync(49);
    expect(runs).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    await q;
    expect(runs).toEqual([1, 1]);
  });

  it('setLimits: a smaller size sends a queue that is now full at once', async () => {
    const { runs, run } = recorder();
    const b = new Batcher({ run, maxBatchSize: 8, maxDelayMs: 10_000, maxConcurrentBatches: 4 });
    const p = [0, 1, 2].map((i) => b.submit(f32(1, 2, i), 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([]);
    b.setLimits({ maxBatchSize: 2, maxDelayMs: 0 });
    await vi.advanceTimersByTimeAsync(0);
    await Promise.all(p);
    expect(runs).toEqual([2, 1]);
  });

  it('setLimits refuses bad limits and keeps the old ones', () => {
    const { run } = recorder();
    const b = new Batcher({ run, maxBatchSize: 4, maxDelayMs: 1 });
    expect(() => b.setLimits({ maxBatchSize: 0, maxDelayMs: 1 })).toThrow(/maxBatchSize/);
    expect(() => b.setLimits({ maxBatchSize: 1.5, maxDelayMs: 1 })).toThrow(/maxBatchSize/);
    expect(() => b.setLimits({ maxBatchSize: 2, maxDelayMs: Number.NaN })).toThrow(/maxDelayMs/);
    expect(b.limits).toEqual({ maxBatchSize: 4, maxDelayMs: 1 });
  });

  it('rejects bad options', () => {
    const { run } = recorder();
    expect(() => new Batcher({ run, maxBatchSize: 0, maxDelayMs: 1 })).toThrow();
    expect(() => new Batcher({ run, maxBatchSize: 1, maxDelayMs: -1 })).toThrow();
  });
});

describe('Batcher with maxDelayMs 0', () => {
  it('merges what arrives in the same event-loop turn, without a timer', async () => {
    const { runs, run } = recorder();
    const b = new Batcher({ run, maxBatchSize: 8, maxDelayMs: 0 });
    const p = [b.submit(f32(1, 2, 0), 1), b.submit(f32(1, 2, 1), 1)];
    expect(runs).toEqual([]);
    await Promise.all(p);
    expect(runs).toEqual([2]);
    await b.submit(f32(1, 2, 0), 1);
    expect(runs).toEqual([2, 1]);
  });
});
