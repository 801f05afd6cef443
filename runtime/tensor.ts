// Pure: the Open Inference Protocol (v2) datatypes, their onnxruntime tensor
// types and host representations, plus the plain tensor shape the runtime
// passes between the codec, the validator and the batcher (no onnxruntime
// import here, so all of it is unit-testable without the native binding).

export const V2_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;
export type V2Datatype = (typeof V2_DATATYPES)[number];

/** onnxruntime's tensor element type names. */
export type OrtType =
  | 'bool'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'string';

export type TensorData =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | string[];

/** A tensor on the host: what onnxruntime's Tensor carries, without the binding. */
export type HostTensor = {
  type: OrtType;
  dims: readonly number[];
  data: TensorData;
};

const V2_TO_ORT: Record<V2Datatype, OrtType> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};
const ORT_TO_V2 = Object.fromEntries(Object.entries(V2_TO_ORT).map(([k, v]) => [v, k])) as Record<
  OrtType,
  V2Datatype
>;

export function isV2Datatype(s: unknown): s is V2Datatype {
  return typeof s === 'string' && (V2_DATATYPES as readonly string[]).includes(s);
}

export function v2ToOrt(d: V2Datatype): OrtType {
  return V2_TO_ORT[d];
}

/** The v2 name of an onnxruntime type, or undefined for types v2 cannot carry. */
export function ortToV2(t: string): V2Datatype | undefined {
  return (ORT_TO_V2 as Record<string, V2Datatype | undefined>)[t];
}

type NumericCtor =
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

// float16 travels as raw IEEE half bits in a Uint16Array (what onnxruntime-node takes).
const CTORS: Record<Exclude<OrtType, 'string'>, NumericCtor> = {
  bool: Uint8Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  float16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
};

/** A zero-filled (or empty-string) buffer of `n` elements of type `t`. */
export function allocate(t: OrtType, n: number): TensorData {
  if (t === 'string') return new Array<string>(n).fill('');
  return new CTORS[t](n);
}

export function elementCount(dims: readonly number[]): number {
  // a 0 empties the tensor whatever the other dims: their product can overflow to Infinity, and Infinity × 0 is NaN
  if (dims.includes(0)) return 0;
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Concatenates buffers of one type (the batch dimension is the outermost, so rows are contiguous). */
export function concat(t: OrtType, parts: readonly TensorData[]): TensorData {
  if (parts.length === 1) return parts[0] as TensorData;
  if (t === 'string') return (parts as string[][]).flat();
  let total = 0;
  for (const p of parts) total += p.length;
  const out = allocate(t, total) as Exclude<TensorData, string[]>;
  let at = 0;
  for (const p of parts) {
    (out as Float64Array).set(p as Float64Array, at);
    at += p.length;
  }
  return out;
}

/** Elements [start, end) as a view (typed arrays) or copy (strings). */
export function slice(data: TensorData, start: number, end: number): TensorData {
  return Array.isArray(data) ? data.slice(start, end) : data.subarray(start, end);
}

// --- IEEE 754 half precision --------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The nearest half-precision value's bits (round to nearest even). */
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  // a carry out of the mantissa correctly rounds up into the exponent (or Inf)
  return sign | half;
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
