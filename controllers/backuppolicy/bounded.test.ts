import { describe, expect, it } from 'vitest';
import { inOrder } from './bounded.ts';

/** A promise settled from outside, to order completions by hand. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => ((resolve = a), (reject = b)));
  return { promise, resolve, reject };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('inOrder', () => {
  it('keeps at most `limit` running and returns results in item order', async () => {
    const gates = Array.from({ length: 6 }, () => deferred<number>());
    let running = 0;
    let most = 0;
    const done = inOrder([0, 1, 2, 3, 4, 5], 2, async (i) => {
      running++;
      most = Math.max(most, running);
      const v = await gates[i]!.promise;
      running--;
      return v;
    });
    // finish out of order
    for (const i of [1, 0, 3, 2, 5, 4]) {
      await tick();
      gates[i]!.resolve(i * 10);
    }
    expect(await done).toEqual([0, 10, 20, 30, 40, 50]);
    expect(most).toBe(2);
  });

  it('throws the failure of the first failing item in order, after what started has settled, and starts nothing more', async () => {
    const gates = Array.from({ length: 8 }, () => deferred<number>());
    const started: number[] = [];
    let settled = 0;
    const done = inOrder([0, 1, 2, 3, 4, 5, 6, 7], 3, async (i) => {
      started.push(i);
      try {
        return await gates[i]!.promise;
      } finally {
        settled++;
      }
    });
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[2]!.reject(new Error('item 2'));
    await tick();
    gates[1]!.reject(new Error('item 1'));
    await tick();
    gates[0]!.resolve(0);
    await expect(done).rejects.toThrow('item 1');
    expect(started).toEqual([0, 1, 2]);
    expect(settled).toBe(3);
  });

  it('runs exclusive items one at a time alongside the others', async () => {
    const big = new Set([0, 1, 4]);
    let bigRunning = 0;
    let mostBig = 0;
    const out = await inOrder(
      [0, 1, 2, 3, 4, 5],
      4,
      async (i) => {
        if (big.has(i)) bigRunning++;
        mostBig = Math.max(mostBig, bigRunning);
        await tick();
        await tick();
        if (big.has(i)) bigRunning--;
        return i;
      },
      { exclusive: (i) => big.has(i) },
    );
    expect(out).toEqual([0, 1, 2, 3, 4, 5]);
    expect(mostBig).toBe(1);
  });
});
