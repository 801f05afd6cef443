// Pure: moving tensors between threads. Typed arrays that own their whole
// ArrayBuffer are transferred (no copy; the sender's array is detached);
// views on a larger, shared or pooled buffer are first copied into a fresh
// buffer of their own (structured clone would otherwise copy the whole
// backing buffer, and Node's Buffer pool cannot be transferred). BYTES
// (string[]) tensors go by structured clone.
import type { Tensors } from './batcher.ts';
import type { HostTensor, TensorData } from './tensor.ts';
import { allocate } from './tensor.ts';

type Numeric = Exclude<TensorData, string[]>;

/** Whether a typed array is its whole, plain (not shared, not resizable) ArrayBuffer: transferable as it is. */
export function ownsBuffer(data: Numeric): boolean {
  const buf = data.buffer;
  return (
    buf instanceof ArrayBuffer &&
    !(typeof SharedArrayBuffer !== 'undefined' && (buf as unknown) instanceof SharedArrayBuffer) &&
    !(buf as ArrayBuffer & { resizable?: boolean }).resizable &&
    data.byteOffset === 0 &&
    data.byteLength === buf.byteLength
  );
}

/**
 * Tensors ready for postMessage and the buffers to transfer with them. Owning typed
 * arrays are transferred as they are (the caller's arrays are detached afterwards); views
 * are copied first; a buffer that two tensors share is transferred once and copied for
 * the other tensor.
 */
export function forTransfer(tensors: Tensors): { tensors: Tensors; transfer: ArrayBuffer[] } {
  const out: Tensors = {};
  const transfer: ArrayBuffer[] = [];
  const seen = new Set<ArrayBufferLike>();
  for (const [name, t] of Object.entries(tensors)) {
    if (Array.isArray(t.data)) {
      out[name] = t;
      continue;
    }
    let data = t.data;
    if (!ownsBuffer(data) || seen.has(data.buffer)) {
      const copy = allocate(t.type, data.length) as Numeric;
      (copy as Float64Array).set(data as Float64Array);
      data = copy;
    }
    seen.add(data.buffer);
    transfer.push(data.buffer as ArrayBuffer);
    out[name] = { type: t.type, dims: [...t.dims], data } satisfies HostTensor;
  }
  return { tensors: out, transfer };
}
