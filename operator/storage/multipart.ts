// A streamed upload in parts with exact memory bounds, independent of the
// protocol (s3.ts supplies the requests).
//
// Why not @aws-sdk/lib-storage's Upload: it concatenates each part into a
// fresh Buffer (a new allocation of partSize per part, which the process
// does not hand back to the OS quickly: the RSS of a long copy grows with
// the allocator's fragmentation) and keeps reading ahead of its queue. Here
// the source is copied once into a pool of at most queueSize + 1 part
// buffers, reused for the whole upload: one filling while up to queueSize
// upload, so memory is (queueSize + 1) × partSize, and reading (and whatever the source does per byte:
// encryption, hashing) overlaps the uploads of the previous parts.
//
// S3 takes at most 10,000 parts, so the part size doubles after every
// PARTS_PER_SIZE parts (S3 allows parts of different sizes): small parts
// keep the memory of ordinary objects low (5 MiB parts: 15 MiB held up to
// 9.8 GiB) while a big object still fits (5 MiB parts: 68 GiB at 20 MiB
// parts, 302 GiB in all). Memory is (queueSize + 1) × the current part size
// (for a moment, also the smaller parts still in flight).

/** S3's limit on the parts of one upload. */
export const MAX_PARTS = 10_000;
/** Parts uploaded at one size before the size doubles. */
export const PARTS_PER_SIZE = 2_000;

export type PartSink = {
  /** The whole object fits in one part: one plain put of these bytes. */
  single(body: Buffer): Promise<{ etag: string }>;
  /** Starts a multipart upload; its id. */
  create(): Promise<string>;
  /** Uploads part `partNumber` (1-based) and returns its ETag; `body` is reused once this settles. */
  part(uploadId: string, partNumber: number, body: Buffer): Promise<string>;
  complete(
    uploadId: string,
    parts: readonly { PartNumber: number; ETag: string }[],
  ): Promise<{ etag: string }>;
  /** Called once after any failure of a created upload; must not throw. */
  abort(uploadId: string): Promise<void>;
};

export type PartOptions = {
  partSize: number;
  /** Parts uploaded at once, >= 1. */
  queueSize: number;
  signal?: AbortSignal | undefined;
  /** Part buffers; default Buffer.allocUnsafeSlow (outside V8's pool: each is reused, never freed early). */
  allocate?: (size: number) => Buffer;
  /** Default PARTS_PER_SIZE (tests use fewer). */
  partsPerSize?: number;
};

/**
 * Uploads `source` in parts of `partSize` bytes (the last one shorter), or
 * as one put when it ends within the first part. On a failure of the
 * source, a request or the signal, the source is closed, the parts in
 * flight settle, the upload is aborted and the first error is thrown (the
 * source's own error as it was thrown).
 */
export async function uploadInParts(
  source: AsyncIterable<Uint8Array>,
  sink: PartSink,
  options: PartOptions,
): Promise<{ etag: string }> {
  const { queueSize, signal } = options;
  let partSize = options.partSize;
  const partsPerSize = options.partsPerSize ?? PARTS_PER_SIZE;
  if (!Number.isInteger(partSize) || partSize < 1)
    throw new RangeError('partSize must be a positive integer');
  if (!Number.isInteger(queueSize) || queueSize < 1) throw new RangeError('queueSize must be >= 1');
  if (!Number.isInteger(partsPerSize) || partsPerSize < 1) throw new RangeError('partsPerSize must be >= 1');
  const allocate = options.allocate ?? ((size: number) => Buffer.allocUnsafeSlow(size));
  // buffers of the current part size: free ones, and how many exist
  const free: Buffer[] = [];
  let allocated = 0;
  const take = (): Buffer => {
    const reused = free.pop();
    if (reused) return reused;
    // never more than queueSize in flight plus the one being filled
    if (allocated >= queueSize + 1) throw new Error('internal error: part buffer pool exhausted');
    allocated++;
    return allocate(partSize);
  };

  let uploadId: string | undefined;
  let failure: { error: unknown } | undefined;
  const etags: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let partNumber = 0;

  const send = async (body: Buffer, filled: number): Promise<void> => {
    uploadId ??= await sink.create();
    while (inFlight.size >= queueSize) await Promise.race(inFlight);
    if (failure) throw failure.error;
    const n = ++partNumber;
    if (n > MAX_PARTS) {
      throw new RangeError(
        `the object is too large: more than ${MAX_PARTS} parts (S3's limit on one upload)`,
      );
    }
    if (n % partsPerSize === 0) {
      // the next parts are twice as big: this size's buffers are dropped as they come back
      partSize *= 2;
      free.length = 0;
      allocated = 0;
    }
    const id = uploadId;
    const done: Promise<void> = sink.part(id, n, body.subarray(0, filled)).then(
      (etag) => {
        etags[n - 1] = etag;
        inFlight.delete(done);
        if (body.length === partSize) free.push(body);
      },
      (error: unknown) => {
        inFlight.delete(done);
        failure ??= { error };
      },
    );
    inFlight.add(done);
  };

  const iterator = source[Symbol.asyncIterator]();
  let sourceFailed = false;
  try {
    let current = take();
    let filled = 0;
    for (;;) {
      signal?.throwIfAborted();
      let next: IteratorResult<Uint8Array>;
      try {
        next = await iterator.next();
      } catch (error) {
        sourceFailed = true;
        throw error;
      }
      if (next.done) break;
      let chunk = next.value;
      while (chunk.length > 0) {
        if (failure) throw failure.error;
        // a full part is sent only once a byte past it arrived: an object of one part is one put
        if (filled === partSize) {
          await send(current, filled);
          current = take();
          filled = 0;
        }
        const n = Math.min(chunk.length, partSize - filled);
        current.set(n === chunk.length ? chunk : chunk.subarray(0, n), filled);
        filled += n;
        chunk = chunk.subarray(n);
      }
    }
    signal?.throwIfAborted();
    if (uploadId === undefined) return await sink.single(current.subarray(0, filled));
    await send(current, filled);
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    return await sink.complete(
      uploadId,
      etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })),
    );
  } catch (error) {
    failure ??= { error };
    if (!sourceFailed) await iterator.return?.().catch(() => undefined);
    await Promise.allSettled(inFlight);
    if (uploadId !== undefined) await sink.abort(uploadId);
    throw failure.error;
  }
}
