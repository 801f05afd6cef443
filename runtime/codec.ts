// Pure: the v2 inference JSON codec. Decodes a request body into typed host
// tensors (checking every element against its datatype's range) and encodes
// outputs back. Shapes are checked against the data here; checking them
// against the model is validate.ts's job.
import type { BinaryCursor } from './binary.ts';
import { checkConsumed, fromBinary, nulMessage, takeBinary, toBinary } from './binary.ts';
import { classificationCount } from './classification.ts';
import { badRequest } from './errors.ts';
import type { HostTensor, TensorData, V2Datatype } from './tensor.ts';
import {
  allocate,
  elementCount,
  fromHalfBits,
  isV2Datatype,
  toHalfBits,
  v2ToOrt,
  ortToV2,
} from './tensor.ts';

export type DecodedInput = {
  name: string;
  datatype: V2Datatype;
  shape: number[];
  data: TensorData;
};

export type InferRequest = {
  id?: string;
  inputs: DecodedInput[];
  /** Requested output names; undefined means all. */
  outputs?: string[];
  /** `parameters.binary_data_output`: every output as binary data unless its own `binary_data` says otherwise. */
  binaryDataOutput?: boolean;
  /** Per requested output, its `parameters.binary_data` when given. */
  binaryData?: Map<string, boolean>;
  /** Per requested output, its `parameters.classification` (top K, classification.ts) when given. */
  classification?: Map<string, number>;
};

/** Whether output `name` goes back in the binary section (binary tensor data extension). */
export function wantsBinary(req: InferRequest, name: string): boolean {
  return req.binaryData?.get(name) ?? req.binaryDataOutput ?? false;
}

export type OutputJson = { name: string; datatype: V2Datatype; shape: number[]; data: unknown[] };

const INT_RANGES: Partial<Record<V2Datatype, [number, number]>> = {
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
};
const BIG_RANGES: Partial<Record<V2Datatype, [bigint, bigint]>> = {
  UINT64: [0n, 2n ** 64n - 1n],
  INT64: [-(2n ** 63n), 2n ** 63n - 1n],
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Flattens row-major nested arrays; a flat array is returned as is. */
export function flatten(data: unknown[]): unknown[] {
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth > 32) throw badRequest('data is nested too deeply');
    if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
    else out.push(v);
  };
  walk(data, 0);
  return out;
}

function parseShape(v: unknown, where: string): number[] {
  if (!Array.isArray(v)) throw badRequest(`${where}: "shape" must be an array of non-negative integers`);
  return v.map((d) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw badRequest(`${where}: "shape" must be an array of non-negative integers`);
    }
    return d;
  });
}

/** Converts JSON values to a typed buffer of `datatype`; rejects values that do not fit. */
export function toTypedData(datatype: V2Datatype, values: readonly unknown[], where: string): TensorData {
  const t = v2ToOrt(datatype);
  const n = values.length;
  const bad = (i: number, want: string): never => {
    throw badRequest(`${where}: element ${i} (${JSON.stringify(values[i])}) is not ${want}`);
  };
  if (datatype === 'BYTES') {
    return values.map((v, i) => {
      if (typeof v !== 'string') return bad(i, 'a string (BYTES)');
      if (v.includes('\0')) throw badRequest(nulMessage(where, i));
      return v;
    });
  }
  const out = allocate(t, n);
  if (datatype === 'BOOL') {
    const o = out as Uint8Array;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v !== 'boolean') bad(i, 'a boolean (BOOL)');
      o[i] = v ? 1 : 0;
    }
    return o;
  }
  const big = BIG_RANGES[datatype];
  if (big) {
    const o = out as BigInt64Array | BigUint64Array;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      let b: bigint | undefined;
      // 64-bit integers may come as strings: JSON numbers lose precision past 2^53.
      if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
      else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) b = BigInt(v);
      if (b === undefined || b < big[0] || b > big[1]) bad(i, `an integer in ${datatype} range`);
      o[i] = b as bigint;
    }
    return o;
  }
  const range = INT_RANGES[datatype];
  if (range) {
    const o = out as Int32Array;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) {
        bad(i, `an integer in ${datatype} range [${range[0]}, ${range[1]}]`);
      }
      o[i] = v as number;
    }
    return o;
  }
  // FP16 / FP32 / FP64
  const o = out as Float64Array;
  const half = datatype === 'FP16';
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v !== 'number') bad(i, `a number (${datatype})`);
    o[i] = half ? toHalfBits(v as number) : (v as number);
  }
  return o;
}

function binaryDataSize(raw: Record<string, unknown>, where: string): number | undefined {
  const p = raw.parameters;
  if (p === undefined) return undefined;
  if (!isObject(p)) throw badRequest(`${where}: "parameters" must be an object`);
  const size = p.binary_data_size;
  if (size === undefined) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw badRequest(`${where}: parameters.binary_data_size must be a non-negative integer (bytes)`);
  }
  return size;
}

function decodeInput(raw: unknown, index: number, binary: BinaryCursor | undefined): DecodedInput {
  if (!isObject(raw)) throw badRequest(`inputs[${index}] must be an object`);
  const name = raw.name;
  if (typeof name !== 'string' || name === '')
    throw badRequest(`inputs[${index}]: "name" must be a non-empty string`);
  const where = `input "${name}"`;
  const datatype = raw.datatype;
  if (!isV2Datatype(datatype)) {
    throw badRequest(`${where}: unknown datatype ${JSON.stringify(datatype)}`);
  }
  const shape = parseShape(raw.shape, where);
  const size = binaryDataSize(raw, where);
  if (size !== undefined) {
    if (raw.data !== undefined) {
      throw badRequest(`${where}: has both "data" and parameters.binary_data_size; send one of them`);
    }
    if (!binary) {
      throw badRequest(
        `${where}: parameters.binary_data_size needs the Inference-Header-Content-Length header ` +
          "(the JSON header's length in bytes; the binary data follows it)",
      );
    }
    return {
      name,
      datatype,
      shape,
      data: fromBinary(datatype, shape, takeBinary(binary, size, where), where),
    };
  }
  if (!Array.isArray(raw.data)) throw badRequest(`${where}: "data" must be an array`);
  const flat = flatten(raw.data);
  const want = elementCount(shape);
  if (flat.length !== want) {
    throw badRequest(`${where}: shape [${shape.join(', ')}] needs ${want} elements, data has ${flat.length}`);
  }
  return { name, datatype, shape, data: toTypedData(datatype, flat, where) };
}

function optionalBool(v: unknown, what: string): boolean | undefined {
  if (v === undefined || typeof v === 'boolean') return v;
  throw badRequest(`${what} must be true or false`);
}

/**
 * Parses a v2 infer request body: the JSON, and with the binary tensor data
 * extension the binary section after it (`binary`, split off by
 * Inference-Header-Content-Length). Throws RequestError(400) on anything malformed.
 */
export function decodeInferRequest(body: string, binary?: Uint8Array): InferRequest {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (e) {
    throw badRequest(`malformed JSON: ${(e as Error).message}`);
  }
  if (!isObject(json)) throw badRequest('request body must be a JSON object');
  if (!Array.isArray(json.inputs) || json.inputs.length === 0) {
    throw badRequest('"inputs" must be a non-empty array');
  }
  const cursor: BinaryCursor | undefined = binary ? { bytes: binary, at: 0 } : undefined;
  const inputs = json.inputs.map((raw, i) => decodeInput(raw, i, cursor));
  if (cursor) checkConsumed(cursor, Buffer.byteLength(body));
  const seen = new Set<string>();
  for (const i of inputs) {
    if (seen.has(i.name)) throw badRequest(`input "${i.name}" is given twice`);
    seen.add(i.name);
  }
  const req: InferRequest = { inputs };
  if (json.id !== undefined) {
    if (typeof json.id !== 'string') throw badRequest('"id" must be a string');
    req.id = json.id;
  }
  if (json.outputs !== undefined) {
    if (!Array.isArray(json.outputs)) throw badRequest('"outputs" must be an array');
    req.outputs = json.outputs.map((o, i) => {
      if (!isObject(o) || typeof o.name !== 'string')
        throw badRequest(`outputs[${i}] must be {"name": string}`);
      if (o.parameters !== undefined) {
        const where = `output "${o.name}"`;
        if (!isObject(o.parameters)) throw badRequest(`${where}: "parameters" must be an object`);
        if (o.parameters.classification !== undefined)
          (req.classification ??= new Map()).set(
            o.name,
            classificationCount(o.parameters.classification, o.name),
          );
        const b = optionalBool(o.parameters.binary_data, `${where}: parameters.binary_data`);
        if (b !== undefined) (req.binaryData ??= new Map()).set(o.name, b);
      }
      return o.name;
    });
  }
  if (json.parameters !== undefined) {
    if (!isObject(json.parameters)) throw badRequest('"parameters" must be an object');
    const b = optionalBool(json.parameters.binary_data_output, 'parameters.binary_data_output');
    if (b !== undefined) req.binaryDataOutput = b;
  }
  return req;
}

// JSON.rawJSON (V8 11.4+) lets 64-bit integers past 2^53 be written exactly.
const rawJSON = (JSON as unknown as { rawJSON?: (s: string) => unknown }).rawJSON;

/** JSON values of a host tensor's elements. */
export function toJsonData(t: HostTensor): unknown[] {
  const d = t.data;
  if (Array.isArray(d)) return d;
  if (t.type === 'bool') return Array.from(d as Uint8Array, (x) => x !== 0);
  if (t.type === 'float16') return Array.from(d as Uint16Array, fromHalfBits);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    return Array.from(d, (x: bigint) =>
      x >= -9007199254740991n && x <= 9007199254740991n
        ? Number(x)
        : rawJSON
          ? rawJSON(x.toString())
          : x.toString(),
    );
  }
  return Array.from(d as Float64Array);
}

export function encodeOutput(name: string, t: HostTensor): OutputJson {
  const datatype = ortToV2(t.type);
  if (!datatype) throw new Error(`output "${name}" has type ${t.type}, which v2 cannot carry`);
  return { name, datatype, shape: [...t.dims], data: toJsonData(t) };
}

/**
 * A decoded request as v2 JSON (inputs with their data), for the request log: what a
 * gRPC or binary request would have been as JSON.
 */
export function encodeRequestJson(req: InferRequest): string {
  return JSON.stringify({
    ...(req.id !== undefined ? { id: req.id } : {}),
    inputs: req.inputs.map((i) => ({
      name: i.name,
      datatype: i.datatype,
      shape: i.shape,
      data: toJsonData({ type: v2ToOrt(i.datatype), dims: i.shape, data: i.data }),
    })),
    ...(req.outputs ? { outputs: req.outputs.map((name) => ({ name })) } : {}),
  });
}

export function encodeInferResponse(
  model: { name: string; version?: string },
  id: string | undefined,
  outputs: readonly { name: string; tensor: HostTensor }[],
): string {
  return JSON.stringify({
    model_name: model.name,
    ...(model.version ? { model_version: model.version } : {}),
    ...(id !== undefined ? { id } : {}),
    outputs: outputs.map((o) => encodeOutput(o.name, o.tensor)),
  });
}

export type BinaryResponse = {
  /** The JSON header; its UTF-8 length is the response's Inference-Header-Content-Length. */
  header: string;
  /** The whole body: the header's bytes, then each binary output's bytes in output order. */
  body: Buffer;
};

/**
 * A response with the binary tensor data extension: outputs with `binary`
 * carry `parameters.binary_data_size` and their bytes after the JSON header;
 * the others stay JSON.
 */
export function encodeBinaryInferResponse(
  model: { name: string; version?: string },
  id: string | undefined,
  outputs: readonly { name: string; tensor: HostTensor; binary: boolean }[],
): BinaryResponse {
  const parts: Uint8Array[] = [];
  const json = outputs.map((o) => {
    if (!o.binary) return encodeOutput(o.name, o.tensor);
    const datatype = ortToV2(o.tensor.type);
    if (!datatype) throw new Error(`output "${o.name}" has type ${o.tensor.type}, which v2 cannot carry`);
    const bytes = toBinary(o.tensor);
    parts.push(bytes);
    return {
      name: o.name,
      datatype,
      shape: [...o.tensor.dims],
      parameters: { binary_data_size: bytes.length },
    };
  });
  const header = JSON.stringify({
    model_name: model.name,
    ...(model.version ? { model_version: model.version } : {}),
    ...(id !== undefined ? { id } : {}),
    outputs: json,
  });
  return { header, body: Buffer.concat([Buffer.from(header, 'utf8'), ...parts]) };
}
