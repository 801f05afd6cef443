import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { uploadInParts } from './multipart.ts';
import type { PartSink } from './multipart.ts';

/** A sink that keeps what it is sent (a copy: part buffers are reused) and records the calls. */
function recording(options: { failPart?: number; partDelay?: () => Promise<void> } = {}) {
  const calls: string[] = [];
  const parts = new Map<number, Buffer>();
  let single: Buffer | undefined;
  let inFlight = 0;
  let maxInFlight = 0;
  const sink: PartSink = {
    single: async (body) => {
      calls.push(`single ${body.length}`);
      single = Buffer.from(body);
      return { etag: 'one' };
    },
    create: async () => {
      calls.push('create');
      return 'u1';
    },
    part: async (_id, n, body) => {
      calls.push(`part ${n} ${body.length}`);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const copy = Buffer.from(body);
        await (options.partDelay?.() ?? Promise.resolve());
        if (n === options.failPart) throw new Error(`part ${n} refused`);
        parts.set(n, copy);
        return `e${n}`;
      } finally {
        inFlight--;
      }
    },
    complete: async (_id, list) => {
      calls.push(`complete ${list.map((p) => `${p.PartNumber}:${p.ETag}`).join(',')}`);
      return { etag: 'many-' + String(list.length) };
    },
    abort: async (id) => {
      calls.push(`abort ${id}`);
    },
  };
  const joined = () =>
    single ?? Buffer.concat([...parts.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b));
  return { sink, calls, joined, maxInFlight: () => maxInFlight };
}

function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

async function* chunked(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('uploadInParts', () => {
  it('sends an object that ends within the first part (exactly full included) as one put', async () => {
    for (const size of [0, 1, 99, 100]) {
      const r = recording();
      const data = bytes(size);
      expect(await uploadInParts(chunked(data, 7), r.sink, { partSize: 100, queueSize: 2 })).toEqual({
        etag: 'one',
      });
      expect(r.calls).toEqual([`single ${size}`]);
      expect(sha(r.joined())).toBe(sha(data));
    }
  });

  it('cuts any chunking into full parts and a shorter last one, completed in order', async () => {
    for (const chunk of [1, 7, 100, 101, 333, 1000]) {
      const r = recording();
      const data = bytes(250, chunk);
      const out = await uploadInParts(chunked(data, chunk), r.sink, { partSize: 100, queueSize: 2 });
      expect(out).toEqual({ etag: 'many-3' });
      expect(r.calls.filter((c) => c.startsWith('part')).sort()).toEqual([
        'part 1 100',
        'part 2 100',
        'part 3 50',
      ]);
      expect(r.calls.at(-1)).toBe('complete 1:e1,2:e2,3:e3');
      expect(sha(r.joined())).toBe(sha(data));
    }
  });

  it('holds at most queueSize + 1 part buffers and queueSize parts in flight, whatever the size', async () => {
    let allocations = 0;
    const r = recording({ partDelay: () => new Promise((resolve) => setImmediate(resolve)) });
    const data = bytes(100 * 64 + 5);
    await uploadInParts(chunked(data, 37), r.sink, {
      partSize: 64,
      queueSize: 3,
      allocate: (size) => {
        allocations++;
        return Buffer.alloc(size);
      },
    });
    expect(allocations).toBe(4);
    expect(r.maxInFlight()).toBe(3);
    expect(sha(r.joined())).toBe(sha(data));
  });

  it('a failing source: its own error, the upload aborted, no complete', async () => {
    const r = recording();
    async function* failing() {
      yield bytes(250);
      throw new Error('source disk went away');
    }
    await expect(uploadInParts(failing(), r.sink, { partSize: 100, queueSize: 2 })).rejects.toThrow(
      'source disk went away',
    );
    expect(r.calls.at(-1)).toBe('abort u1');
    expect(r.calls.some((c) => c.startsWith('complete'))).toBe(false);
  });

  it('a failing part: its error, the source closed (not read to the end), the upload aborted', async () => {
    const r = recording({ failPart: 2 });
    let read = 0;
    let closed = false;
    async function* source() {
      try {
        for (let i = 0; i < 1000; i++) {
          read++;
          yield bytes(50, i);
        }
      } finally {
        closed = true;
      }
    }
    await expect(uploadInParts(source(), r.sink, { partSize: 100, queueSize: 1 })).rejects.toThrow(
      'part 2 refused',
    );
    expect(closed).toBe(true);
    expect(read).toBeLessThan(20);
    expect(r.calls.at(-1)).toBe('abort u1');
  });

  it('stops on the signal with its reason', async () => {
    const r = recording();
    const controller = new AbortController();
    async function* source() {
      yield bytes(150);
      controller.abort(new Error('reconcile cancelled'));
      yield bytes(150);
    }
    await expect(
      uploadInParts(source(), r.sink, { partSize: 100, queueSize: 2, signal: controller.signal }),
    ).rejects.toThrow('reconcile cancelled');
    expect(r.calls.at(-1)).toBe('abort u1');
  });

  it('doubles the part size after every partsPerSize parts, so a big object fits in 10,000 parts', async () => {
    const r = recording();
    const data = bytes(4 + 4 + 8 + 8 + 16 + 3);
    const sizes: number[] = [];
    const out = await uploadInParts(chunked(data, 5), r.sink, {
      partSize: 4,
      queueSize: 1,
      partsPerSize: 2,
      allocate: (size) => {
        sizes.push(size);
        return Buffer.alloc(size);
      },
    });
    expect(out.etag).toBe('many-6');
    expect(r.calls.filter((c) => c.startsWith('part'))).toEqual([
      'part 1 4',
      'part 2 4',
      'part 3 8',
      'part 4 8',
      'part 5 16',
      'part 6 3',
    ]);
    expect(sha(r.joined())).toBe(sha(data));
    // at most queueSize + 1 buffers of each size
    expect(sizes).toEqual([4, 4, 8, 8, 16, 16]);
  });

  it('refuses an object beyond 10,000 parts with a clear error and aborts the upload', async () => {
    const r = recording();
    await expect(
      uploadInParts(chunked(bytes(10_001), 1000), r.sink, {
        partSize: 1,
        queueSize: 4,
        partsPerSize: 100_000,
      }),
    ).rejects.toThrow('more than 10000 parts');
    expect(r.calls.at(-1)).toBe('abort u1');
  });
});
