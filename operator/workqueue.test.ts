import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './workqueue.ts';
import type { ReconcileOutcome, ReconcileResult, WorkQueueOptions } from './workqueue.ts';

type Deferred = { promise: Promise<ReconcileResult>; resolve: (r?: ReconcileResult) => void };
function deferred(): Deferred {
  let resolve!: (r?: ReconcileResult) => void;
  const promise = new Promise<ReconcileResult>((r) => (resolve = r));
  return { promise, resolve };
}

// Lets pending promise callbacks and due timers run.
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

// Deterministic PRNG for the load test (mulberry32).
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('WorkQueue', () => {
  const queues: WorkQueue[] = [];
  function makeQueue(handler: (key: string) => Promise<ReconcileResult>, options: WorkQueueOptions = {}) {
    const q = new WorkQueue('test', handler, { jitter: 0, ...options });
    queues.push(q);
    return q;
  }

  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(async () => {
    const pending = queues.splice(0).map((q) => q.shutdown());
    await tick(60_000);
    await Promise.all(pending);
    vi.useRealTimers();
  });

  it('de-duplicates a key added several times before it is processed', async () => {
    const seen: string[] = [];
    const q = makeQueue(async (key) => void seen.push(key));
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    expect(q.len).toBe(2);
    q.start();
    await tick();
    expect(seen).toEqual(['ns/a', 'ns/b']);
    expect(q.len).toBe(0);
  });

  it('backs off exponentially per key up to the cap', () => {
    const q = makeQueue(async () => {}, { baseDelayMs: 100, maxDelayMs: 1_000 });
    const delays = Array.from({ length: 7 }, () => q.addRateLimited('a'));
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    // Failures are tracked per key.
    expect(q.addRateLimited('b')).toBe(100);
    expect(q.numRequeues('a')).toBe(7);
  });

  it('keeps jittered delays within [delay * (1 - jitter), delay]', () => {
    const random = seeded(7);
    const q = makeQueue(async () => {}, { baseDelayMs: 1_000, maxDelayMs: 4_000, jitter: 0.2, random });
    const nominal = [1_000, 2_000, 4_000, 4_000, 4_000];
    const seen = new Set<number>();
    for (let round = 0; round < 50; round++) {
      q.forget('k');
      for (const d of nominal) {
        const got = q.addRateLimited('k');
        expect(got).toBeGreaterThanOrEqual(d * 0.8);
        expect(got).toBeLessThanOrEqual(d);
        seen.add(got);
      }
    }
    expect(seen.size).toBeGreaterThan(10); // jitter actually varies the delay
  });

  it('forget resets the backoff to the base delay', () => {
    const q = makeQueue(async () => {}, { baseDelayMs: 100 });
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    expect(q.addRateLimited('a')).toBe(100);
  });

  it('retries a failing handler with growing delays and forgets on success', async () => {
    const runs: number[] = [];
    const retries: Array<[number, unknown]> = [];
    let calls = 0;
    const boom = new Error('boom');
    const q = makeQueue(
      async () => {
        runs.push(Date.now());
        if (++calls <= 3) throw boom;
      },
      { baseDelayMs: 100, hooks: { onRetry: (_k, delay, err) => retries.push([delay, err]) } },
    );
    const t0 = Date.now();
    q.start();
    q.add('a');
    await tick(10_000);
    expect(runs.map((t) => t - t0)).toEqual([0, 100, 300, 700]);
    expect(retries).toEqual([
      [100, boom],
      [200, boom],
      [400, boom],
    ]);
    expect(q.numRequeues('a')).toBe(0);
  });

  it('treats a synchronous throw in the handler as a failure', async () => {
    let calls = 0;
    const q = makeQueue(
      ((): Promise<ReconcileResult> => {
        calls++;
        throw new Error('sync');
      }) as (key: string) => Promise<ReconcileResult>,
      { baseDelayMs: 50, maxDelayMs: 50 },
    );
    q.start();
    q.add('a');
    await tick(120);
    expect(calls).toBe(3);
  });

  it('never runs more than `concurrency` handlers at once', async () => {
    const gates = new Map<string, Deferred>();
    const q = makeQueue(
      (key) => {
        const d = deferred();
        gates.set(key, d);
        return d.promise;
      },
      { concurrency: 3 },
    );
    q.start();
    for (let i = 0; i < 10; i++) q.add(`k${i}`);
    await tick();
    expect([...gates.keys()]).toEqual(['k0', 'k1', 'k2']);
    expect(q.inFlight).toBe(3);
    expect(q.len).toBe(7);
    gates.get('k1')?.resolve();
    await tick();
    expect([...gates.keys()]).toEqual(['k0', 'k1', 'k2', 'k3']);
    expect(q.inFlight).toBe(3);
    const stopped = q.shutdown(); // queued k4..k9 never start
    for (const d of gates.values()) d.resolve();
    await stopped;
    expect(gates.size).toBe(4);
  });

  it('re-runs a key once when it is added while being processed', async () => {
    const gates: Deferred[] = [];
    const q = makeQueue(() => {
      const d = deferred();
      gates.push(d);
      return d.promise;
    });
    q.start();
    q.add('a');
    await tick();
    q.add('a');
    q.add('a');
    await tick();
    expect(gates).toHaveLength(1); // not started concurrently
    expect(q.len).toBe(0); // parked as dirty, not queued
    gates[0]?.resolve();
    await tick();
    expect(gates).toHaveLength(2);
    gates[1]?.resolve();
    await tick();
    expect(gates).toHaveLength(2);
  });

  it('never processes one key on two workers, and bounds concurrency, under load', async () => {
    const random = seeded(42);
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    const active = new Map<string, number>();
    let total = 0;
    let maxTotal = 0;
    let maxPerKey = 0;
    const lastAdded = new Map<string, number>();
    const lastStarted = new Map<string, number>();
    const q = makeQueue(
      async (key) => {
        lastStarted.set(key, Date.now());
        active.set(key, (active.get(key) ?? 0) + 1);
        total++;
        maxPerKey = Math.max(maxPerKey, active.get(key) ?? 0);
        maxTotal = Math.max(maxTotal, total);
        await new Promise((r) => setTimeout(r, Math.floor(random() * 20)));
        active.set(key, (active.get(key) ?? 0) - 1);
        total--;
        const roll = random();
        if (roll < 0.1) throw new Error('transient');
        if (roll < 0.2) return { requeueAfterMs: 1 + Math.floor(random() * 30) };
      },
      { concurrency: 4, baseDelayMs: 5, maxDelayMs: 40 },
    );
    q.start();
    for (let i = 0; i < 500; i++) {
      const key = keys[Math.floor(random() * keys.length)] as string;
      q.add(key);
      lastAdded.set(key, Date.now());
      await tick(Math.floor(random() * 3));
    }
    await tick(1_000);
    expect(maxPerKey).toBe(1);
    expect(maxTotal).toBe(4);
    // Every add was followed by a run that started no earlier than the add.
    for (const [key, at] of lastAdded) expect(lastStarted.get(key)).toBeGreaterThanOrEqual(at);
  });

  it('requeueAfterMs schedules the next run and clears failures', async () => {
    const runs: number[] = [];
    let calls = 0;
    const q = makeQueue(async () => {
      runs.push(Date.now());
      calls++;
      if (calls === 1) throw new Error('first');
      if (calls === 2) return { requeueAfterMs: 1_000 };
    });
    const t0 = Date.now();
    q.start();
    q.add('a');
    await tick(500); // failure retry after 500ms base delay
    expect(q.numRequeues('a')).toBe(0);
    await tick(999);
    expect(runs.map((t) => t - t0)).toEqual([0, 500]);
    await tick(1);
    expect(runs.map((t) => t - t0)).toEqual([0, 500, 1_500]);
  });

  it('backs off instead of hot-looping on requeueAfterMs <= 0', async () => {
    let calls = 0;
    const q = makeQueue(
      async () => {
        calls++;
        return { requeueAfterMs: 0 };
      },
      { baseDelayMs: 100 },
    );
    q.start();
    q.add('a');
    await tick(99);
    expect(calls).toBe(1);
    await tick(1);
    expect(calls).toBe(2);
  });

  it('addAfter keeps the earliest pending delayed add', async () => {
    const runs: number[] = [];
    const q = makeQueue(async () => void runs.push(Date.now()));
    const t0 = Date.now();
    q.start();
    q.addAfter('a', 1_000);
    q.addAfter('a', 300); // earlier: replaces
    q.addAfter('a', 2_000); // later: ignored
    await tick(5_000);
    expect(runs.map((t) => t - t0)).toEqual([300]);
  });

  it('shutdown waits for in-flight handlers, drops queued and delayed keys', async () => {
    const started: string[] = [];
    const gate = deferred();
    const q = makeQueue(
      (key) => {
        started.push(key);
        return key === 'a' ? gate.promise : Promise.resolve();
      },
      { concurrency: 1 },
    );
    q.start();
    q.add('a');
    q.add('b');
    q.addAfter('c', 100);
    await tick();
    let done = false;
    const stopped = q.shutdown().then(() => (done = true));
    expect(vi.getTimerCount()).toBe(0); // the delayed add for 'c' was cancelled
    expect(q.shutdown()).toBe(q.shutdown()); // idempotent
    q.add('d');
    await tick(1_000);
    expect(done).toBe(false);
    gate.resolve({ requeueAfterMs: 10 }); // hint ignored after shutdown
    await stopped;
    await tick(1_000);
    expect(started).toEqual(['a']);
    expect(q.len).toBe(0);
    expect(() => q.start()).toThrow(/shut down/);
  });

  it('reports adds, depth, waits, durations and outcomes through hooks', async () => {
    const events: string[] = [];
    let calls = 0;
    const q = makeQueue(
      async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 30));
        if (calls === 1) throw new Error('x');
        if (calls === 2) return { requeueAfterMs: 5 };
      },
      {
        baseDelayMs: 10,
        hooks: {
          onAdd: (k) => events.push(`add ${k}`),
          onDepth: (d) => events.push(`depth ${d}`),
          onStart: (k, waited) => events.push(`start ${k} ${waited}`),
          onDone: (k, ms, outcome: ReconcileOutcome) => events.push(`done ${k} ${ms} ${outcome}`),
        },
      },
    );
    q.add('a');
    await tick(20);
    q.start();
    await tick(200);
    expect(events).toEqual([
      'add a',
      'depth 1',
      'depth 0',
      'start a 20',
      'done a 30 error',
      'add a',
      'depth 1',
      'depth 0',
      'start a 0',
      'done a 30 requeue',
      'add a',
      'depth 1',
      'depth 0',
      'start a 0',
      'done a 30 success',
    ]);
  });

  it('keeps working when a hook throws', async () => {
    let calls = 0;
    const q = makeQueue(
      async () => {
        calls++;
      },
      {
        hooks: {
          onStart: () => {
            throw new Error('metrics bug');
          },
        },
      },
    );
    q.start();
    q.add('a');
    q.add('b');
    await tick();
    expect(calls).toBe(2);
  });

  it('rejects invalid options', () => {
    expect(() => new WorkQueue('x', async () => {}, { concurrency: 0 })).toThrow(/concurrency/);
    expect(() => new WorkQueue('x', async () => {}, { baseDelayMs: 10, maxDelayMs: 5 })).toThrow(/maxMs/);
    expect(() => new WorkQueue('x', async () => {}, { jitter: 2 })).toThrow(/jitter/);
  });
});
