import { describe, expect, it } from 'vitest';
import {
  MAX_OBJECT_BYTES,
  MAX_PART_BYTES,
  MIN_PART_BYTES,
  copyInParts,
  planCopyParts,
} from './multipart-copy.ts';
import type { CopyPart, CopyPlan, PartCopySink } from './multipart-copy.ts';

const MiB = 1024 ** 2;

function plan(size: number, partSize: number): CopyPlan {
  const p = planCopyParts(size, partSize);
  if ('error' in p) throw new Error(p.error);
  return p;
}

describe('planCopyParts', () => {
  it('cuts the size into ranges of the part size, the last one shorter, covering every byte once', () => {
    expect(plan(12 * MiB, 5 * MiB)).toEqual({
      size: 12 * MiB,
      partSize: 5 * MiB,
      parts: [
        { partNumber: 1, first: 0, last: 5 * MiB - 1 },
        { partNumber: 2, first: 5 * MiB, last: 10 * MiB - 1 },
        { partNumber: 3, first: 10 * MiB, last: 12 * MiB - 1 },
      ],
    });
    expect(plan(10 * MiB, 5 * MiB).parts.map((p) => [p.first, p.last])).toEqual([
      [0, 5 * MiB - 1],
      [5 * MiB, 10 * MiB - 1],
    ]);
    expect(plan(1, 5 * MiB).parts).toEqual([{ partNumber: 1, first: 0, last: 0 }]);
    for (const size of [5 * MiB + 1, 64 * MiB - 3, 1000 * MiB + 17]) {
      const { parts } = plan(size, 5 * MiB);
      let expected = 0;
      for (const p of parts) {
        expect(p.first).toBe(expected);
        expect(p.last).toBeGreaterThanOrEqual(p.first);
        expected = p.last + 1;
      }
      expect(expected).toBe(size);
    }
  });

  it('grows the part size to a whole MiB when the object would need more than 10,000 parts', () => {
    const fits = plan(10_000 * 64 * MiB, 64 * MiB);
    expect(fits.partSize).toBe(64 * MiB);
    expect(fits.parts).toHaveLength(10_000);
    const grown = plan(10_000 * 64 * MiB + 1, 64 * MiB);
    expect(grown.partSize).toBe(65 * MiB);
    expect(grown.parts.length).toBeLessThanOrEqual(10_000);
    // S3's largest object: parts of 525 MiB, within the 5 GiB part limit
    const largest = plan(MAX_OBJECT_BYTES, 64 * MiB);
    expect(largest.partSize).toBe(525 * MiB);
    expect(largest.parts).toHaveLength(9987);
    expect(largest.parts.at(-1)?.last).toBe(MAX_OBJECT_BYTES - 1);
  });

  it('an object over 5 TiB, an empty size or a part size outside 5 MiB..5 GiB: an error saying why', () => {
    expect(planCopyParts(MAX_OBJECT_BYTES + 1, 64 * MiB)).toEqual({
      error: "5497558138881 bytes is more than the 5497558138880 bytes (5 TiB) of S3's largest object",
    });
    expect(planCopyParts(0, 64 * MiB)).toEqual({
      error: 'the size to copy must be a positive integer of bytes (got 0)',
    });
    expect(planCopyParts(1.5, 64 * MiB)).toHaveProperty('error');
    for (const partSize of [MIN_PART_BYTES - 1, MAX_PART_BYTES + 1, 5.5 * MiB + 0.5, Number.NaN])
      expect(planCopyParts(10 * MiB, partSize)).toEqual({
        error: `the part size must be an integer from 5242880 (5 MiB) to 5368709120 (5 GiB) bytes (got ${partSize})`,
      });
    expect(plan(10 * MiB, MIN_PART_BYTES).parts).toHaveLength(2);
    expect(plan(10 * MiB, MAX_PART_BYTES).parts).toHaveLength(1);
  });
});

/** A sink that records its calls; `failPart` refuses that part, `partDelay` holds each part open. */
function recording(
  options: { failPart?: number; failComplete?: boolean; partDelay?: () => Promise<void> } = {},
) {
  const calls: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const sink: PartCopySink = {
    create: async () => {
      calls.push('create');
      return 'u1';
    },
    part: async (_id, p: CopyPart) => {
      calls.push(`part ${p.partNumber} ${p.first}-${p.last}`);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await (options.partDelay?.() ?? Promise.resolve());
        if (p.partNumber === options.failPart) throw new Error(`part ${p.partNumber} refused`);
        return `e${p.partNumber}`;
      } finally {
        inFlight--;
      }
    },
    complete: async (_id, list) => {
      calls.push(`complete ${list.map((p) => `${p.PartNumber}:${p.ETag}`).join(',')}`);
      if (options.failComplete) throw new Error('complete refused');
    },
    abort: async (id) => {
      calls.push(`abort ${id}`);
    },
  };
  return { sink, calls, maxInFlight: () => maxInFlight };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('copyInParts', () => {
  it('copies every part, at most queueSize at once, and completes with the ETags in part order', async () => {
    const r = recording({ partDelay: tick });
    const progress: number[] = [];
    await copyInParts(plan(23 * MiB, 5 * MiB), r.sink, {
      queueSize: 2,
      onProgress: (copied, total) => {
        expect(total).toBe(23 * MiB);
        progress.push(copied);
      },
    });
    expect(r.calls[0]).toBe('create');
    expect(r.calls.filter((c) => c.startsWith('part'))).toHaveLength(5);
    expect(r.calls.at(-1)).toBe('complete 1:e1,2:e2,3:e3,4:e4,5:e5');
    expect(r.maxInFlight()).toBe(2);
    expect(progress.at(-1)).toBe(23 * MiB);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('a failed part: no further part starts, the upload is aborted, not completed, and its error thrown', async () => {
    const r = recording({ failPart: 2 });
    await expect(copyInParts(plan(30 * MiB, 5 * MiB), r.sink, { queueSize: 1 })).rejects.toThrow(
      'part 2 refused',
    );
    expect(r.calls).toEqual([
      'create',
      `part 1 0-${5 * MiB - 1}`,
      `part 2 ${5 * MiB}-${10 * MiB - 1}`,
      'abort u1',
    ]);
  });

  it('a failing progress callback, a failed complete or an aborted signal abort the upload too', async () => {
    const p = recording();
    await expect(
      copyInParts(plan(12 * MiB, 5 * MiB), p.sink, {
        queueSize: 1,
        onProgress: () => {
          throw new Error('source changed');
        },
      }),
    ).rejects.toThrow('source changed');
    expect(p.calls).toEqual(['create', `part 1 0-${5 * MiB - 1}`, 'abort u1']);

    const c = recording({ failComplete: true });
    await expect(copyInParts(plan(12 * MiB, 5 * MiB), c.sink, { queueSize: 3 })).rejects.toThrow(
      'complete refused',
    );
    expect(c.calls.at(-1)).toBe('abort u1');

    const s = recording();
    const controller = new AbortController();
    await expect(
      copyInParts(plan(12 * MiB, 5 * MiB), s.sink, {
        queueSize: 1,
        signal: controller.signal,
        onProgress: () => controller.abort(new Error('shutting down')),
      }),
    ).rejects.toThrow('shutting down');
    expect(s.calls).toEqual(['create', `part 1 0-${5 * MiB - 1}`, 'abort u1']);

    // aborted before it began: no upload is created at all
    const early = recording();
    await expect(
      copyInParts(plan(12 * MiB, 5 * MiB), early.sink, { queueSize: 1, signal: AbortSignal.abort() }),
    ).rejects.toThrow();
    expect(early.calls).toEqual([]);
  });

  it('refuses a queue size below 1', async () => {
    await expect(copyInParts(plan(12 * MiB, 5 * MiB), recording().sink, { queueSize: 0 })).rejects.toThrow(
      RangeError,
    );
  });
});
