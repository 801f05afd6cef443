// A server-side copy in parts (S3 multipart copy: UploadPartCopy with a
// CopySourceRange per part), independent of the protocol (s3.ts supplies the
// requests). One CopyObject copies at most 5 GiB; objects up to S3's largest
// (5 TiB) are copied in parts. No bytes pass through the operator, so parts
// cost requests, not memory: they are big, and a few go at once.
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
  /** Copies one part's range of the source; its ETag. */
  part(uploadId: string, part: CopyPart): Promise<string>;
  complete(uploadId: string, parts: readonly { PartNumber: number; ETag: string }[]): Promise<void>;
  /** Called once after any failure of a created upload; must not throw. */
  abort(uploadId: string): Promise<void>;
};

export type CopyInPartsOptions = {
  /** Parts copied at once, >= 1. */
  queueSize: number;
  signal?: AbortSignal | undefined;
  /** Awaited after each copied part (before that worker takes the next): bytes copied so far. */
  onProgress?: ((copiedBytes: number, totalBytes: number) => void | Promise<void>) | undefined;
};

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
        etags[part.partNumber - 1] = await sink.part(uploadId, part);
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
    await sink.complete(
      uploadId,
      plan.parts.map((p, i) => ({ PartNumber: p.partNumber, ETag: etags[i] ?? '' })),
    );
  } catch (error) {
    await sink.abort(uploadId);
    throw error;
  }
}
