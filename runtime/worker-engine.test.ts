// The worker-thread inference engine against the real shipped models and the
// real onnxruntime binding: answers identical to the main-thread engine
// (FP32; INT64/BOOL/BYTES), concurrent runs, load errors as ModelLoadError
// with the main engine's reasons and messages, and a dead worker rejecting
// the runs in flight (then restarting, or failing for good without reload).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensors } from './batcher.ts';
import { ModelLoadError, loadModel } from './model.ts';
import type { LoadedModel } from './model.ts';
import {
  FRAUD_MODEL,
  MASKED_MODEL,
  MODEL_SHA256,
  featureRows,
  fraudReference,
} from './models/fraud-reference.ts';
import { forTransfer } from './transfer.ts';
import { WorkerCrashedError, WorkerEngine } from './worker-engine.ts';
import type { EngineStatus } from './worker-engine.ts';

const fraudUri = pathToFileURL(FRAUD_MODEL).href;
const maskedUri = pathToFileURL(MASKED_MODEL).href;

const features = (rows: number, seed: number): Tensors => ({
  features: { type: 'float32', dims: [rows, 8], data: Float32Array.from(featureRows(rows, seed).flat()) },
});

const masked = (): Tensors => ({
  ids: {
    type: 'int64',
    dims: [3, 4],
    data: BigInt64Array.from([1n, 2n, 3n, 40n, 5n, 6n, 7n, 8n, 2n ** 62n, -1n, 0n, 9n]),
  },
  mask: { type: 'bool', dims: [3, 4], data: Uint8Array.from([1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0]) },
  tags: { type: 'string', dims: [3, 1], data: ['a', 'é', ''] },
});

/** Plain values for exact comparison (typed arrays → arrays; bigint stays bigint). */
const plain = (t: Tensors) =>
  Object.fromEntries(
    Object.entries(t).map(([k, v]) => [
      k,
      { type: v.type, dims: [...v.dims], data: Array.from(v.data as ArrayLike<unknown>) },
    ]),
  );

describe('worker engine on the fraud model (FP32)', () => {
  let main: LoadedModel;
  let worker: LoadedModel;
  beforeAll(async () => {
    main = await loadModel(fraudUri, { threads: 1, inferenceThread: 'main' });
    worker = await loadModel(fraudUri, { threads: 1, inferenceThread: 'worker' });
  });
  afterAll(async () => {
    await main?.close();
    await worker?.close();
  });

  it('reads the same signature from the worker and answers exactly like the main thread', async () => {
    expect(worker.inferenceThread).toBe('worker');
    expect(worker.session).toBeUndefined();
    expect(worker.engine?.status).toBe('ready');
    expect(worker.signature).toEqual(main.signature);
    expect(worker.sha256).toBe(MODEL_SHA256['fraud.onnx']);
    for (const rows of [1, 7, 64, 1000]) {
      const a = await main.run(features(rows, rows));
      const b = await worker.run(features(rows, rows));
      expect(plain(b)).toEqual(plain(a));
      expect(b.probabilities!.dims).toEqual([rows, 2]);
    }
    const [p0] = fraudReference(featureRows(1, 1)[0]!);
    expect((await worker.run(features(1, 1))).probabilities!.data[0] as number).toBeCloseTo(p0, 5);
  });

  it('serves many concurrent runs, each with its own answer', async () => {
    const n = 200;
    const expected = await Promise.all(
      Array.from({ length: n }, (_, i) => main.run(features(1 + (i % 5), i))),
    );
    const got = await Promise.all(Array.from({ length: n }, (_, i) => worker.run(features(1 + (i % 5), i))));
    got.forEach((g, i) => expect(plain(g)).toEqual(plain(expected[i]!)));
  });

  it('transfers owned input buffers and copies views, which stay usable', async () => {
    const owned = features(4, 9);
    const big = new Float32Array(8 * 10);
    big.set(owned.features!.data as Float32Array, 8);
    const view: Tensors = { features: { type: 'float32', dims: [4, 8], data: big.subarray(8, 40) } };
    const expected = await main.run(features(4, 9));
    expect(plain(await worker.run(view))).toEqual(plain(expected));
    expect(big.byteLength).toBe(320); // not detached
    expect((view.features!.data as Float32Array).length).toBe(32);
    expect(plain(await worker.run(owned))).toEqual(plain(expected));
    expect((owned.features!.data as Float32Array).byteLength).toBe(0); // handed over, not copied
  });
});

describe('worker engine on the masked model (INT64, BOOL, BYTES)', () => {
  it('answers exactly like the main thread', async () => {
    const main = await loadModel(maskedUri, { inferenceThread: 'main' });
    const worker = await loadModel(maskedUri, { inferenceThread: 'worker' });
    try {
      expect(worker.signature).toEqual(main.signature);
      const a = await main.run(masked());
      const b = await worker.run(masked());
      expect(plain(b)).toEqual(plain(a));
      expect(plain(b).sum!.data.slice(0, 2)).toEqual([44n, 8n]);
      expect(plain(b).tags_out!.data).toEqual(['a', 'é', '']);
    } finally {
      await main.close();
      await worker.close();
    }
  });
});

describe('worker engine load errors', () => {
  it('fails with the same ModelLoadError reasons and messages as the main thread', async () => {
    const notOnnx = pathToFileURL(new URL(import.meta.url).pathname).href; // this test file
    const cases: [string, { sha256?: string }][] = [
      [notOnnx, {}],
      [fraudUri, { sha256: 'f'.repeat(64) }],
      ['file:///nonexistent/m.onnx', {}],
      ['ftp://h/m.onnx', {}],
    ];
    for (const [uri, opts] of cases) {
      const errs: ModelLoadError[] = [];
      for (const inferenceThread of ['main', 'worker'] as const) {
        const e = await loadModel(uri, { ...opts, inferenceThread }).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(e).toBeInstanceOf(ModelLoadError);
        errs.push(e as ModelLoadError);
      }
      expect({ uri, reason: errs[1]!.reason, message: errs[1]!.message }).toEqual({
        uri,
        reason: errs[0]!.reason,
        message: errs[0]!.message,
      });
    }
  });
});

describe('worker engine crashes', () => {
  it('rejects runs in flight when the worker dies, restarts it, then serves again', async () => {
    const statuses: EngineStatus[] = [];
    let restarted: () => void = () => undefined;
    const back = new Promise<void>((r) => (restarted = r));
    const m = await loadModel(fraudUri, {
      threads: 1,
      inferenceThread: 'worker',
      onStatus: (s) => {
        statuses.push(s);
        if (s === 'ready') restarted();
      },
    });
    try {
      // Runs sent to a worker being terminated are in flight when it dies (sent before
      // terminate(), a loaded machine's worker may finish them all first).
      const dying = m.engine!.worker!.terminate();
      const runs = Array.from({ length: 20 }, (_, i) => m.run(features(20_000, i)));
      await dying;
      const settled = await Promise.allSettled(runs);
      const rejected = settled.filter((s) => s.status === 'rejected');
      expect(rejected).toHaveLength(20);
      for (const r of rejected) {
        expect(r.reason).toBeInstanceOf(WorkerCrashedError);
        expect(r.reason).toMatchObject({
          status: 503,
          retryAfterSeconds: 1,
          message: expect.stringMatching(/inference worker exited/),
        });
      }
      expect(statuses[0]).toBe('restarting');
      await expect(m.run(features(1, 1))).rejects.toMatchObject({ status: 503 });
      await back;
      expect(statuses).toEqual(['restarting', 'ready']);
      const expected = fraudReference(featureRows(1, 3)[0]!);
      const out = await m.run(features(1, 3));
      expect(out.probabilities!.data[0] as number).toBeCloseTo(expected[0], 5);
    } finally {
      await m.close();
    }
    await expect(m.run(features(1, 1))).rejects.toThrow(/closed/);
  });

  it('without reload a dead worker is final: pending runs rejected, status failed', async () => {
    const statuses: EngineStatus[] = [];
    const engine = await WorkerEngine.start(readFileSync(FRAUD_MODEL), {
      session: { threads: 1 },
      onStatus: (s) => statuses.push(s),
    });
    // runs sent to a worker that is being terminated are in flight when it dies; sending them
    // before terminate() would race the worker, which may finish them all first
    const dying = engine.worker!.terminate();
    const runs = Array.from({ length: 10 }, (_, i) => engine.run(features(20_000, i)));
    await dying;
    const settled = await Promise.allSettled(runs);
    expect(settled.map((s) => s.status)).toEqual(Array(10).fill('rejected'));
    expect(statuses).toEqual(['failed']);
    expect(engine.status).toBe('failed');
    // failed for good: a 503 without Retry-After
    await expect(engine.run(features(1, 1))).rejects.toMatchObject({
      status: 503,
      retryAfterSeconds: undefined,
      message: expect.stringMatching(/failed; not serving/),
    });
    await engine.close();
  });
});

describe('forTransfer', () => {
  it('transfers owned buffers once, copies views and shared buffers, clones strings', () => {
    const owned = new Float32Array([1, 2]);
    const pool = new ArrayBuffer(64);
    const view = new Int32Array(pool, 8, 2);
    view.set([7, 8]);
    const shared = new Uint8Array(new SharedArrayBuffer(2));
    shared.set([1, 0]);
    const { tensors, transfer } = forTransfer({
      a: { type: 'float32', dims: [1, 2], data: owned },
      b: { type: 'int32', dims: [1, 2], data: view },
      c: { type: 'float32', dims: [1, 2], data: owned },
      d: { type: 'bool', dims: [1, 2], data: shared },
      s: { type: 'string', dims: [1, 1], data: ['x'] },
    });
    expect(tensors.a!.data).toBe(owned);
    expect(tensors.b!.data).not.toBe(view);
    expect(Array.from(tensors.b!.data as Int32Array)).toEqual([7, 8]);
    expect(tensors.c!.data).not.toBe(owned); // the same buffer again: copied
    expect(Array.from(tensors.d!.data as Uint8Array)).toEqual([1, 0]);
    expect((tensors.d!.data as Uint8Array).buffer).toBeInstanceOf(ArrayBuffer);
    expect(tensors.s!.data).toEqual(['x']);
    expect(transfer).toHaveLength(4);
    expect(new Set(transfer).size).toBe(4);
    expect(transfer).not.toContain(pool);
  });
});
