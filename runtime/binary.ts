// Pure: the v2 binary tensor data extension, as Triton and KServe define it.
// A body is a JSON header of Inference-Header-Content-Length bytes followed by
// the tensors' raw bytes in input (or output) order: little-endian, row-major,
// no padding; BOOL one byte 0/1; BYTES each element a 4-byte little-endian
// length and its bytes. An input marked `parameters.binary_data_size` takes
// exactly that many bytes from the binary section. Every size is checked
// against the shape before anything is allocated, so a lying header costs at
// most the body the size limit already admitted.
import { badRequest } from './errors.ts';
import type { HostTensor, TensorData, V2Datatype } from './tensor.ts';
import { allocate, elementCount, v2ToOrt } from './tensor.ts';

/** The request and response header naming the JSON header's length in bytes. */
export const HEADER_LENGTH_HEADER = 'Inference-Header-Content-Length';

/** Bytes per element of the fixed-size datatypes (BYTES has none). */
export const ELEMENT_BYTES: Record<Exclude<V2Datatype, 'BYTES'>, number> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
};

// Typed arrays use the host's byte order; the wire is little-endian.
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** The unread rest of a request's binary section. */
export type BinaryCursor = { bytes: Uint8Array; at: number };

const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/**
 * Splits a body at the Inference-Header-Content-Length header's value: the
 * JSON header (UTF-8) and the binary section after it.
 */
export function splitBody(
  body: Uint8Array,
  headerValue: string | string[],
): { json: string; binary: Uint8Array } {
  const v = Array.isArray(headerValue) ? headerValue.join(', ') : headerValue.trim();
  const n = /^\d{1,15}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= body.length)) {
    throw badRequest(
      `${HEADER_LENGTH_HEADER} must be the JSON header's length in bytes, between 1 and the body's ` +
        `${body.length}; got ${JSON.stringify(v)}`,
    );
  }
  return {
    json: new TextDecoder().decode(body.subarray(0, n)),
    binary: body.subarray(n),
  };
}

/** onnxruntime-node cuts a string tensor's element at its first NUL: refuse rather than truncate. */
export const nulMessage = (where: string, i: number): string =>
  `${where}: BYTES element ${i} contains a NUL byte, which onnxruntime's string tensors cannot carry`;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeBytesElements(bytes: Uint8Array, shape: readonly number[], where: string): string[] {
  const count = elementCount(shape);
  // Each element takes at least its 4-byte length: refuse before allocating `count` of them.
  if (count * 4 > bytes.length) {
    throw badRequest(
      `${where}: binary_data_size ${bytes.length} is too small for shape ${fmt(shape)}: ${count} BYTES ` +
        `elements need at least their 4-byte lengths, ${count * 4} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<string>(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) {
      throw badRequest(
        `${where}: BYTES element ${i} has no 4-byte length: ${bytes.length - at} bytes left of binary_data_size ${bytes.length}`,
      );
    }
    const len = view.getUint32(at, true);
    at += 4;
    if (len > bytes.length - at) {
      throw badRequest(
        `${where}: BYTES element ${i} declares ${len} bytes, but only ${bytes.length - at} of binary_data_size ${bytes.length} remain`,
      );
    }
    const element = bytes.subarray(at, at + len);
    if (element.includes(0)) throw badRequest(nulMessage(where, i));
    try {
      out[i] = UTF8.decode(element);
    } catch {
      throw badRequest(
        `${where}: BYTES element ${i} is not valid UTF-8 (the runtime hands BYTES to the model as strings)`,
      );
    }
    at += len;
  }
  if (at !== bytes.length) {
    throw badRequest(
      `${where}: binary_data_size is ${bytes.length} bytes, but the ${count} BYTES elements of shape ` +
        `${fmt(shape)} end at byte ${at}`,
    );
  }
  return out;
}

/**
 * The tensor data of `bytes` (one input's binary_data_size bytes) for a tensor
 * of `datatype` and `shape`. Throws 400 naming the input when the size does not
 * match the shape or an element is malformed.
 */
export function fromBinary(
  datatype: V2Datatype,
  shape: readonly number[],
  bytes: Uint8Array,
  where: string,
): TensorData {
  if (datatype === 'BYTES') return decodeBytesElements(bytes, shape, where);
  const count = elementCount(shape);
  const size = ELEMENT_BYTES[datatype];
  if (count * size !== bytes.length) {
    throw badRequest(
      `${where}: binary_data_size is ${bytes.length} bytes, but shape ${fmt(shape)} of ${datatype} ` +
        `needs ${count * size} (${count} elements × ${size} bytes)`,
    );
  }
  const out = allocate(v2ToOrt(datatype), count) as Exclude<TensorData, string[]>;
  if (LITTLE_ENDIAN || size === 1) {
    // a copy: the body buffer may be pooled and its offset unaligned for the element size
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  } else {
    readLittleEndian(out, bytes);
  }
  if (datatype === 'BOOL') {
    const o = out as Uint8Array;
    for (let i = 0; i < count; i++) {
      if ((o[i] as number) > 1) {
        throw badRequest(`${where}: BOOL element ${i} is byte ${o[i]}; a BOOL is one byte, 0 or 1`);
      }
    }
  }
  return out;
}

/** Takes one input's binary_data_size bytes off the cursor. */
export function takeBinary(cursor: BinaryCursor, size: number, where: string): Uint8Array {
  const left = cursor.bytes.length - cursor.at;
  if (size > left) {
    throw badRequest(
      `${where}: binary_data_size ${size} runs past the end of the body: ${left} bytes of binary data ` +
        `are left after the JSON header${cursor.at > 0 ? ' and the inputs before it' : ''}`,
    );
  }
  const out = cursor.bytes.subarray(cursor.at, cursor.at + size);
  cursor.at += size;
  return out;
}

/** Refuses bytes after the last input's binary data (a wrong header length or a lost input). */
export function checkConsumed(cursor: BinaryCursor, headerBytes: number): void {
  const left = cursor.bytes.length - cursor.at;
  if (left !== 0) {
    throw badRequest(
      `the body has ${left} bytes after the inputs' binary data: the JSON header is ${headerBytes} bytes ` +
        `(${HEADER_LENGTH_HEADER}) and the inputs' binary_data_size add up to ${cursor.at}, ` +
        `the binary section is ${cursor.bytes.length}`,
    );
  }
}

/** The wire bytes of a host tensor (for typed arrays on a little-endian host, a view, not a copy). */
export function toBinary(t: HostTensor): Uint8Array {
  const d = t.data;
  if (Array.isArray(d)) {
    const enc = new TextEncoder();
    const parts = d.map((s) => enc.encode(s));
    let total = 0;
    for (const p of parts) total += 4 + p.length;
    const out = new Uint8Array(total);
    const view = new DataView(out.buffer);
    let at = 0;
    for (const p of parts) {
      view.setUint32(at, p.length, true);
      out.set(p, at + 4);
      at += 4 + p.length;
    }
    return out;
  }
  if (LITTLE_ENDIAN || d.BYTES_PER_ELEMENT === 1) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  return writeLittleEndian(d);
}

type Numeric = Exclude<TensorData, string[]>;

// Big-endian hosts only (none that this runtime ships for, but correct there too).
function readLittleEndian(out: Numeric, bytes: Uint8Array): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = out.length;
  const s = out.BYTES_PER_ELEMENT;
  for (let i = 0; i < n; i++) {
    const at = i * s;
    if (out instanceof BigInt64Array) out[i] = v.getBigInt64(at, true);
    else if (out instanceof BigUint64Array) out[i] = v.getBigUint64(at, true);
    else if (out instanceof Float64Array) out[i] = v.getFloat64(at, true);
    else if (out instanceof Float32Array) out[i] = v.getFloat32(at, true);
    else if (out instanceof Int32Array) out[i] = v.getInt32(at, true);
    else if (out instanceof Uint32Array) out[i] = v.getUint32(at, true);
    else if (out instanceof Int16Array) out[i] = v.getInt16(at, true);
    else (out as Uint16Array)[i] = v.getUint16(at, true);
  }
}

function writeLittleEndian(d: Numeric): Uint8Array {
  const out = new Uint8Array(d.byteLength);
  const v = new DataView(out.buffer);
  const s = d.BYTES_PER_ELEMENT;
  for (let i = 0; i < d.length; i++) {
    const at = i * s;
    if (d instanceof BigInt64Array) v.setBigInt64(at, d[i] as bigint, true);
    else if (d instanceof BigUint64Array) v.setBigUint64(at, d[i] as bigint, true);
    else if (d instanceof Float64Array) v.setFloat64(at, d[i] as number, true);
    else if (d instanceof Float32Array) v.setFloat32(at, d[i] as number, true);
    else if (d instanceof Int32Array) v.setInt32(at, d[i] as number, true);
    else if (d instanceof Uint32Array) v.setUint32(at, d[i] as number, true);
    else if (d instanceof Int16Array) v.setInt16(at, d[i] as number, true);
    else v.setUint16(at, d[i] as number, true);
  }
  return out;
}
