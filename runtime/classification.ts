// Pure: Triton's classification extension. An output requested with
// `parameters: {classification: K}` comes back as BYTES instead of its scores:
// per batch row (the whole tensor for a model without a batch dimension), the
// K largest elements as "value:index", largest first, in Triton's format
// (value as C++ std::to_string prints it: integers as they are, floats with
// six decimals; ties by lower index). Triton appends ":label" from the model's
// label file; the runtime has no label files, so it never does.
import { badRequest } from './errors.ts';
import type { HostTensor } from './tensor.ts';
import { fromHalfBits, V2_DATATYPES } from './tensor.ts';
import type { TensorSpec } from './validate.ts';

/** The numeric datatypes: every v2 datatype but BOOL and BYTES (only scores can be ranked). */
const CLASSIFIABLE: ReadonlySet<string> = new Set(V2_DATATYPES.filter((d) => d !== 'BOOL' && d !== 'BYTES'));

/** `parameters.classification` of output `name` as K: a positive integer, or a 400 saying so. */
export function classificationCount(value: unknown, name: string): number {
  const n = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw badRequest(
      `output "${name}": parameters.classification must be a positive integer, the number of top classes ` +
        `to return (Triton's classification extension); got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** 400 unless the model's output is numeric: only scores can be ranked. */
export function checkClassifiable(spec: TensorSpec): void {
  if (!CLASSIFIABLE.has(spec.datatype)) {
    throw badRequest(
      `output "${spec.name}": parameters.classification needs a numeric output; this one is ${spec.datatype}`,
    );
  }
}

const isFloat = (t: HostTensor): boolean =>
  t.type === 'float16' || t.type === 'float32' || t.type === 'float64';

/**
 * The top `k` classes of `t` as a BYTES (string) tensor: [rows, min(k, n)] when `batched`
 * (the first dimension is the batch), else [min(k, n)] over all elements.
 */
export function classify(t: HostTensor, k: number, batched: boolean): HostTensor {
  if (Array.isArray(t.data) || t.type === 'bool') throw new Error(`cannot classify a ${t.type} tensor`);
  const data = t.data;
  const total = data.length;
  const rows = batched && t.dims.length > 0 ? t.dims[0]! : 1;
  const n = rows === 0 ? 0 : total / rows;
  const take = Math.min(k, n);
  const value = (i: number): number | bigint =>
    t.type === 'float16' ? fromHalfBits((data as Uint16Array)[i]!) : (data as Float32Array)[i]!;
  const format = (v: number | bigint): string => (isFloat(t) ? (v as number).toFixed(6) : v.toString());
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    const idx = Array.from({ length: n }, (_, i) => i);
    idx.sort((a, b) => {
      const va = value(base + a);
      const vb = value(base + b);
      return va > vb ? -1 : va < vb ? 1 : a - b;
    });
    for (let j = 0; j < take; j++) out.push(`${format(value(base + idx[j]!))}:${idx[j]}`);
  }
  return { type: 'string', dims: batched ? [rows, take] : [take], data: out };
}
