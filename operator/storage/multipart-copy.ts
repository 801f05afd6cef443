// A server-side copy in parts (S3 multipart copy: UploadPartCopy with a
// CopySourceRange per part), independent of the protocol (s3.ts supplies the
// requests). One CopyObject copies at most 5 GiB; objects up to S3's largest
// (5 TiB) are copied in parts. No bytes pass through the operator, so parts
// cost requests, not memory: they are big, and a few go at once.
import { setTimeout as sleep } from 'node:timers/promises';
import { exponentialBackoff } from '../backoff.ts';
import { ObjectStoreUnavailableError, isObjectStoreUnavailable } from './errors.ts';
import { MAX_PARTS } from './multipart.ts';

const MiB = 1024 ** 2;
/** S3's smallest part (every part but the last). */
export const MIN_PART_BYTES = 5 * MiB;
/** S3's largest part. */
export const MAX_PART_BYTES = 5 * 1024 ** 3;
/** S3's largest object, so the largest a multipart copy writes. */
export const MAX_OBJECT_BYTES = 5 * 1024 ** 4;
/** The largest object one CopyObject copies. */
export const MAX_COPY_OBJECT_BYTES = 5 * 1024 ** 3;

/** One part: its number (1-based) and the inclusive byte range of the source it copies. */
export type CopyPart = { partNumber: number; first: number; last: number };
export type CopyPlan = { size: number; partSize: number; parts: CopyPart[] };

/**
 * Pure: the parts of a multipart copy of `size` bytes, each `partSize` bytes
 * (the last one shorter), or why there can be none. The part size grows
 * (to a whole MiB) when `partSize` would need more than 10,000 parts, so any
 * object up to 5 TiB fits: 5 TiB takes parts of 525 MiB.
 */
export function planCopyParts(size: number, partSize: number): CopyPlan | { error: string } {
  if (!Number.isSafeInteger(size) || size < 1)
    return { error: `the size to copy must be a positive integer of bytes (got ${size})` };
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_BYTES || partSize > MAX_PART_BYTES)
    return {
      error: `the part size must be an integer from ${MIN_PART_BYTES} (5 MiB) to ${MAX_PART_BYTES} (5 GiB) bytes (got ${partSize})`,
    };
  if (size > MAX_OBJECT_BYTES)
    return {
      error: `${size} bytes is more than the ${MAX_OBJECT_BYTES} bytes (5 TiB) of S3's largest object`,
    };
  const fitting = Math.ceil(Math.ceil(size / MAX_PARTS) / MiB) * MiB;
  const chosen = Math.max(partSize, fitting);
  const parts: CopyPart[] = [];
  for (let first = 0; first < size; first += chosen) {
    parts.push({ partNumber: parts.length + 1, first, last: Math.min(first + chosen, size) - 1 });
  }
  return { size, partSize: chosen, parts };
}

export type PartCopySink = {
  /** Starts a multipart upload of the destination; its id. */
  create(): Promise<string>;
  /** Copies one part's range of the source; its ETag ('' when the store sent none). */
  part(uploadId: string, part: CopyPart): Promise<string>;
  /** One CompleteMultipartUpload attempt (no retries of its own: copyInParts retries it). */
  complete(uploadId: string, parts: readonly { PartNumber: number; ETag: string }[]): Promise<void>;
  /** HEAD of the destination (size and ETag), undefined when there is none. */
  destination(): Promise<{ size: number; etag: string } | undefined>;
  /** Called once after any failure of a created upload; must not throw. */
  abort(uploadId: string): Promise<void>;
};

export type CopyInPartsOptions = {
  /** Parts copied at once, >= 1. */
  queueSize: number;
  signal?: AbortSignal | undefined;
  /** Awaited after each copied part (before that worker takes the next): bytes copied so far. */
  onProgress?: ((copiedBytes: number, totalBytes: number) => void | Promise<void>) | undefined;
  /** Retries of CompleteMultipartUpload; defaults to COMPLETE_RETRY. */
  completeRetry?: CompleteRetry | undefined;
  /** For error messages and error details. */
  target?: { bucket: string; key: string } | undefined;
};

/** Attempts of CompleteMultipartUpload (the first included) and the backoff between them. */
export type CompleteRetry = { attempts: number; baseMs: number; maxMs: number };
export const COMPLETE_RETRY: CompleteRetry = { attempts: 5, baseMs: 500, maxMs: 10_000 };

/**
 * Pure: the time budget of one CompleteMultipartUpload attempt. S3 may take
 * minutes to assemble a large upload, so the budget grows with the part
 * count: 50 ms a part on top of the call's own (10,000 parts: +500 s).
 */
export function completeTimeoutMs(partCount: number, baseTimeoutMs: number): number {
  return baseTimeoutMs + 50 * partCount;
}

/**
 * Pure: what to do after a failed CompleteMultipartUpload attempt.
 *   retry   the store was unavailable (5xx, 429/SlowDown, timeout, network)
 *           and attempts remain: send the same Complete again (AWS: retry
 *           Complete on 5xx; it is safe to repeat).
 *   verify  an earlier attempt may have completed the upload although we
 *           never saw its answer: a retry answered NoSuchUpload, or the
 *           attempts ran out on unavailable answers. HEAD the destination
 *           (acceptCompleted) before aborting anything.
 *   fail    an answer that says no (InvalidPart, AccessDenied, …): abort.
 */
export function completeFailureAction(args: {
  /** Whether the store was unavailable (ObjectStoreUnavailableError) rather than answering no. */
  unavailable: boolean;
  /** The store's error code, e.g. NoSuchUpload. */
  code: string | undefined;
  /** Attempts made so far, this one included (1 after the first). */
  attempts: number;
  maxAttempts: number;
}): 'retry' | 'verify' | 'fail' {
  if (args.code === 'NoSuchUpload') return args.attempts > 1 ? 'verify' : 'fail';
  if (!args.unavailable) return 'fail';
  return args.attempts < args.maxAttempts ? 'retry' : 'verify';
}

/**
 * Pure: whether the destination is the completed copy: its size is the
 * source's and its ETag is a multipart one of exactly this many parts
 * ("<md5 of the part md5s>-<parts>").
 */
export function acceptCompleted(
  destination: { size: number; etag: string } | undefined,
  plan: CopyPlan,
): boolean {
  if (!destination || destination.size !== plan.size) return false;
  return new RegExp(`-${plan.parts.length}"?$`).test(destination.etag);
}

/**
 * Copies `plan`'s parts through `sink`, `queueSize` at once, and completes
 * the upload with their ETags in order. On the first failure (a part, the
 * signal, onProgress) no further part starts, the parts in flight settle,
 * the upload is aborted (no orphaned parts left to bill) and that first
 * error is thrown.
 */
export async function copyInParts(
  plan: CopyPlan,
  sink: PartCopySink,
  options: CopyInPartsOptions,
): Promise<void> {
  const { queueSize, signal, onProgress } = options;
  if (!Number.isInteger(queueSize) || queueSize < 1) throw new RangeError('queueSize must be >= 1');
  if (plan.parts.length === 0 || plan.parts.length > MAX_PARTS)
    throw new RangeError(`a multipart copy has 1..${MAX_PARTS} parts (got ${plan.parts.length})`);
  signal?.throwIfAborted();
  const uploadId = await sink.create();
  const etags: string[] = [];
  let next = 0;
  let copied = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < plan.parts.length) {
      const part = plan.parts[next++];
      if (!part) break;
      try {
        signal?.throwIfAborted();
        const etag = await sink.part(uploadId, part);
        // Complete would fail with InvalidPart (permanent) over what is a server glitch
        if (!etag) throw missingEtag(part, options.target);
        etags[part.partNumber - 1] = etag;
        copied += part.last - part.first + 1;
        await onProgress?.(copied, plan.size);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(queueSize, plan.parts.length) }, worker));
  try {
    if (failure) throw failure.error;
    signal?.throwIfAborted();
  } catch (error) {
    await sink.abort(uploadId);
    throw error;
  }
  const list = plan.parts.map((p, i) => ({ PartNumber: p.partNumber, ETag: etags[i] ?? '' }));
  const retry = options.completeRetry ?? COMPLETE_RETRY;
  for (let attempts = 1; ; attempts++) {
    let action: 'retry' | 'verify' | 'fail';
    try {
      await sink.complete(uploadId, list);
      return;
    } catch (error) {
      action = signal?.aborted
        ? 'verify'
        : completeFailureAction({
            unavailable: isObjectStoreUnavailable(error),
            code: (error as { code?: unknown })?.code as string | undefined,
            attempts,
            maxAttempts: retry.attempts,
          });
      if (action === 'retry') {
        await sleep(exponentialBackoff({ attempt: attempts - 1, ...retry, jitter: 0.3 }));
        continue;
      }
      // the upload may be complete though its answer was lost: never abort before looking
      if (action === 'verify' && acceptCompleted(await headOrUndefined(sink), plan)) return;
      await sink.abort(uploadId);
      throw error;
    }
  }
}

async function headOrUndefined(sink: PartCopySink): Promise<{ size: number; etag: string } | undefined> {
  try {
    return await sink.destination();
  } catch {
    return undefined;
  }
}

function missingEtag(part: CopyPart, target: { bucket: string; key: string } | undefined): Error {
  return new ObjectStoreUnavailableError(
    `UploadPartCopy s3://${target?.bucket ?? ''}/${target?.key ?? ''}: the object store sent no ETag ` +
      `for part ${part.partNumber}; the copy is retried`,
    { code: 'MissingETag', operation: 'UploadPartCopy', bucket: target?.bucket ?? '', key: target?.key },
  );
}
