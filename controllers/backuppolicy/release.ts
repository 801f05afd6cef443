// Freeing a chunk's memory now instead of at V8's next fitting GC.
//
// A streamed backup of a model file passes every byte through two fresh
// allocations: the HTTP body chunk it arrives in and the cipher's output
// piece. Both are copied on at once (into a frame, into an upload part) and
// are garbage from then on, but their memory is only freed when V8 collects
// their small JS wrappers; a wrapper that outlived two young-generation
// collections (a chunk queued while the uploads were busy) waits for a
// major GC, which V8 starts once some 64 MiB of such memory has piled up.
// That pile and the allocator's fragmentation after it were most of the
// operator's RSS growth during a backup (bench/backup.ts). Detaching the
// ArrayBuffer (transfer(0)) hands its memory back to the allocator at once.

/**
 * Frees `chunk`'s memory now when the chunk is the whole of its ArrayBuffer
 * (never a slice of a shared pool, which other Buffers use) and it can be
 * detached; otherwise leaves it to the GC. The chunk reads as empty
 * afterwards: only for a chunk nobody else holds and that no pending I/O
 * (a socket write) still reads.
 */
export function releaseChunk(chunk: Uint8Array): boolean {
  const buffer = chunk.buffer;
  if (!(buffer instanceof ArrayBuffer) || chunk.byteOffset !== 0 || chunk.byteLength !== buffer.byteLength)
    return false;
  if (buffer.byteLength === 0 || buffer.detached) return false;
  try {
    buffer.transfer(0);
    return true;
  } catch {
    // not detachable (an embedder's buffer): the GC frees it
    return false;
  }
}
