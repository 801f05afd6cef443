import { describe, expect, it } from 'vitest';
import { ObjectStoreError, ObjectStoreUnavailableError, isObjectStoreUnavailable } from './errors.ts';
import {
  MAX_OBJECT_BYTES,
  MAX_PART_BYTES,
  MIN_PART_BYTES,
  acceptCompleted,
  completeFailureAction,
  completeTimeoutMs,
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
  options: {
    failPart?: number;
    failComplete?: boolean;
    partDelay?: () => Promise<void>;
    /** Thrown by the Complete attempts in turn; past the list, Complete succeeds. */
    completeErrors?: Error[];
    /** What a HEAD of the destination finds. */
    destination?: { size: number; etag: string };
    etag?: (partNumber: number) => string;
  } = {},
) {
  let completes = 0;
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
        return options.etag ? options.etag(p.partNumber) : `e${p.partNumber}`;
      } finally {
        inFlight--;
      }
    },
    complete: async (_id, list) => {
      calls.push(`complete ${list.map((p) => `${p.PartNumber}:${p.ETag}`).join(',')}`);
      if (options.failComplete) throw new Error('complete refused');
      const error = options.completeErrors?.[completes++];
      if (error) throw error;
    },
    destination: async () => {
      calls.push('head');
      return options.destination;
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

const unavailable = (code: string, statusCode?: number) =>
  new ObjectStoreUnavailableError(`CompleteMultipartUpload: ${code}`, {
    code,
    statusCode,
    operation: 'CompleteMultipartUpload',
    bucket: 'b',
  });
const noSuchUpload = () =>
  new ObjectStoreError('CompleteMultipartUpload: NoSuchUpload', {
    code: 'NoSuchUpload',
    statusCode: 404,
    operation: 'CompleteMultipartUpload',
    bucket: 'b',
  });
const fast = { attempts: 3, baseMs: 1, maxMs: 2 };

describe('completeFailureAction', () => {
  const at = (code: string | undefined, unavailable: boolean, attempts: number) =>
    completeFailureAction({ code, unavailable, attempts, maxAttempts: 3 });
  it('retries an unavailable store (5xx, SlowDown, timeout) while attempts remain, then verifies', () => {
    for (const code of ['InternalError', 'ServiceUnavailable', 'SlowDown', 'Timeout', 'ECONNRESET']) {
      expect(at(code, true, 1)).toBe('retry');
      expect(at(code, true, 2)).toBe('retry');
      expect(at(code, true, 3)).toBe('verify');
    }
  });
  it('NoSuchUpload on a retry verifies (an earlier attempt may have completed it); on the first it fails', () => {
    expect(at('NoSuchUpload', false, 2)).toBe('verify');
    expect(at('NoSuchUpload', false, 1)).toBe('fail');
  });
  it('an answer that says no fails at once', () => {
    for (const code of ['InvalidPart', 'AccessDenied', 'EntityTooSmall', undefined])
      expect(at(code, false, 1)).toBe('fail');
  });
});

describe('acceptCompleted', () => {
  const p = plan(12 * MiB, 5 * MiB); // 3 parts
  it('accepts the size of the source with a multipart ETag of exactly the part count', () => {
    expect(acceptCompleted({ size: 12 * MiB, etag: 'abc123-3' }, p)).toBe(true);
    expect(acceptCompleted({ size: 12 * MiB, etag: '"abc123-3"' }, p)).toBe(true);
  });
  it('refuses no object, another size, a single-part ETag or another part count', () => {
    expect(acceptCompleted(undefined, p)).toBe(false);
    expect(acceptCompleted({ size: 12 * MiB - 1, etag: 'abc-3' }, p)).toBe(false);
    expect(acceptCompleted({ size: 12 * MiB, etag: 'abc' }, p)).toBe(false);
    expect(acceptCompleted({ size: 12 * MiB, etag: 'abc-13' }, p)).toBe(false);
    expect(acceptCompleted({ size: 12 * MiB, etag: 'abc-2' }, p)).toBe(false);
  });
});

describe('completeTimeoutMs', () => {
  it('grows with the part count: minutes for 10,000 parts', () => {
    expect(completeTimeoutMs(1, 60_000)).toBe(60_050);
    expect(completeTimeoutMs(10_000, 60_000)).toBe(560_000);
  });
});

describe('copyInParts: CompleteMultipartUpload', () => {
  const complete = 'complete 1:e1,2:e2,3:e3';
  it('retries Complete after 5xx/SlowDown/timeout answers and does not abort when it then succeeds', async () => {
    const r = recording({
      completeErrors: [unavailable('InternalError', 500), unavailable('SlowDown', 503)],
    });
    await copyInParts(plan(12 * MiB, 5 * MiB), r.sink, { queueSize: 1, completeRetry: fast });
    expect(r.calls.filter((c) => c === complete)).toHaveLength(3);
    expect(r.calls).not.toContain('abort u1');
  });

  it('a retry answering NoSuchUpload: the destination is HEADed and accepted when it is the completed copy', async () => {
    const r = recording({
      completeErrors: [unavailable('Timeout'), noSuchUpload()],
      destination: { size: 12 * MiB, etag: 'f00-3' },
    });
    await copyInParts(plan(12 * MiB, 5 * MiB), r.sink, { queueSize: 1, completeRetry: fast });
    expect(r.calls.slice(-3)).toEqual([complete, complete, 'head']);
  });

  it('a retry answering NoSuchUpload with no matching destination: aborted, its error thrown', async () => {
    const r = recording({
      completeErrors: [unavailable('Timeout'), noSuchUpload()],
      destination: { size: 12 * MiB, etag: 'f00' },
    });
    await expect(
      copyInParts(plan(12 * MiB, 5 * MiB), r.sink, { queueSize: 1, completeRetry: fast }),
    ).rejects.toThrow('NoSuchUpload');
    expect(r.calls.slice(-2)).toEqual(['head', 'abort u1']);
  });

  it('timeouts on every attempt: HEADs the destination before aborting; accepts it when complete', async () => {
    const errors = () => [unavailable('Timeout'), unavailable('Timeout'), unavailable('Timeout')];
    const done = recording({ completeErrors: errors(), destination: { size: 12 * MiB, etag: 'x-3' } });
    await copyInParts(plan(12 * MiB, 5 * MiB), done.sink, { queueSize: 1, completeRetry: fast });
    expect(done.calls).not.toContain('abort u1');

    const gone = recording({ completeErrors: errors() });
    const error: unknown = await copyInParts(plan(12 * MiB, 5 * MiB), gone.sink, {
      queueSize: 1,
      completeRetry: fast,
    }).catch((e: unknown) => e);
    expect(isObjectStoreUnavailable(error)).toBe(true);
    expect(gone.calls.filter((c) => c === complete)).toHaveLength(3);
    expect(gone.calls.slice(-2)).toEqual(['head', 'abort u1']);
  });

  it('a permanent answer (InvalidPart) is not retried: aborted at once', async () => {
    const invalid = new ObjectStoreError('InvalidPart', {
      code: 'InvalidPart',
      statusCode: 400,
      operation: 'CompleteMultipartUpload',
      bucket: 'b',
    });
    const r = recording({ completeErrors: [invalid] });
    await expect(
      copyInParts(plan(12 * MiB, 5 * MiB), r.sink, { queueSize: 1, completeRetry: fast }),
    ).rejects.toThrow('InvalidPart');
    expect(r.calls.slice(-2)).toEqual([complete, 'abort u1']);
  });
});

describe('copyInParts: a part without an ETag', () => {
  it('fails transient (the step retries) before Complete, instead of sending an empty ETag', async () => {
    const r = recording({ etag: (n) => (n === 2 ? '' : `e${n}`) });
    const error: unknown = await copyInParts(plan(12 * MiB, 5 * MiB), r.sink, {
      queueSize: 1,
      target: { bucket: 'b', key: 'k' },
    }).catch((e: unknown) => e);
    expect(isObjectStoreUnavailable(error)).toBe(true);
    expect((error as Error).message).toMatch(/no ETag for part 2/);
    expect(r.calls.some((c) => c.startsWith('complete'))).toBe(false);
    expect(r.calls.at(-1)).toBe('abort u1');
  });
});
