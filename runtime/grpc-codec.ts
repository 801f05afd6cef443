// Pure: the v2 protocol's gRPC messages (proto/grpc_predict_v2.proto, as
// @grpc/proto-loader hands them over: keepCase, int64 as strings, bytes as
// Buffers) to and from the runtime's InferRequest and host tensors. Inputs
// come as typed `contents` or as `raw_input_contents` (what tritonclient.grpc
// sends by default; the same bytes as the HTTP binary tensor data extension);
// outputs always go back as `raw_output_contents`, as Triton answers, which
// tritonclient and kserve's client both read.
import { fromBinary, toBinary } from './binary.ts';
import { toTypedData } from './codec.ts';
import type { DecodedInput, InferRequest } from './codec.ts';
import { classificationCount } from './classification.ts';
import { badRequest } from './errors.ts';
import type { HostTensor, TensorData, V2Datatype } from './tensor.ts';
import { elementCount, isV2Datatype, ortToV2 } from './tensor.ts';

type Int64 = string | number;

export type GrpcParameter = {
  bool_param?: boolean;
  int64_param?: Int64;
  string_param?: string;
  parameter_choice?: string;
};

export type GrpcContents = {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: Int64[];
  uint_contents?: number[];
  uint64_contents?: Int64[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
};

export type GrpcInferRequest = {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, GrpcParameter>;
  inputs?: {
    name?: string;
    datatype?: string;
    shape?: Int64[];
    parameters?: Record<string, GrpcParameter>;
    contents?: GrpcContents | null;
  }[];
  outputs?: { name?: string; parameters?: Record<string, GrpcParameter> }[];
  raw_input_contents?: Uint8Array[];
};

export type GrpcInferResponse = {
  model_name: string;
  model_version: string;
  id: string;
  outputs: { name: string; datatype: V2Datatype; shape: number[] }[];
  raw_output_contents: Uint8Array[];
};

/** The `contents` field that carries each datatype (FP16 has none: raw only). */
export const CONTENTS_FIELD: Record<V2Datatype, keyof GrpcContents | undefined> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP16: undefined,
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

function parseShape(shape: readonly Int64[] | undefined, where: string): number[] {
  return (shape ?? []).map((d) => {
    const n = typeof d === 'number' ? d : Number(d);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw badRequest(`${where}: "shape" must be non-negative integers (got ${String(d)})`);
    }
    return n;
  });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function fromContents(
  datatype: V2Datatype,
  shape: number[],
  contents: GrpcContents | null | undefined,
  where: string,
): TensorData {
  const field = CONTENTS_FIELD[datatype];
  const given = Object.entries(contents ?? {}).filter(
    ([, v]) => Array.isArray(v) && (v as unknown[]).length > 0,
  );
  const wrong = given.find(([k]) => k !== field);
  if (wrong) {
    throw badRequest(
      `${where}: contents.${wrong[0]} does not carry ${datatype}` +
        (field ? `; use contents.${field}` : '; send FP16 in raw_input_contents'),
    );
  }
  const values: unknown[] = field ? ((contents?.[field] as unknown[] | undefined) ?? []) : [];
  const want = elementCount(shape);
  if (values.length !== want) {
    throw badRequest(
      `${where}: shape [${shape.join(', ')}] needs ${want} elements, ` +
        `${field ? `contents.${field}` : 'contents'} has ${values.length}`,
    );
  }
  if (datatype === 'BYTES') {
    // The runtime hands BYTES to onnxruntime as strings: decode, refusing invalid UTF-8.
    const strings = values.map((b, i) => {
      try {
        return UTF8.decode(b as Uint8Array);
      } catch {
        throw badRequest(`${where}: BYTES element ${i} is not valid UTF-8`);
      }
    });
    return toTypedData(datatype, strings, where);
  }
  return toTypedData(datatype, values, where);
}

function boolParameter(p: GrpcParameter | undefined, what: string): boolean | undefined {
  if (p === undefined) return undefined;
  if (typeof p.bool_param !== 'boolean') throw badRequest(`${what} must be a bool_param`);
  return p.bool_param;
}

/**
 * A ModelInferRequest as the runtime's InferRequest (the same validation as
 * HTTP follows). Throws RequestError(400) on anything malformed.
 */
export function decodeGrpcInferRequest(msg: GrpcInferRequest): InferRequest {
  const rawInputs = msg.raw_input_contents ?? [];
  const inputs = msg.inputs ?? [];
  if (inputs.length === 0) throw badRequest('"inputs" must be a non-empty list');
  if (rawInputs.length > 0 && rawInputs.length !== inputs.length) {
    throw badRequest(
      `raw_input_contents has ${rawInputs.length} entries for ${inputs.length} inputs; ` +
        'with raw_input_contents every input is raw, in the order of "inputs"',
    );
  }
  const decoded: DecodedInput[] = inputs.map((raw, index) => {
    const name = raw.name ?? '';
    if (name === '') throw badRequest(`inputs[${index}]: "name" must be a non-empty string`);
    const where = `input "${name}"`;
    const datatype = raw.datatype;
    if (!isV2Datatype(datatype)) throw badRequest(`${where}: unknown datatype ${JSON.stringify(datatype)}`);
    const shape = parseShape(raw.shape, where);
    const bytes = rawInputs[index];
    if (bytes !== undefined) {
      const hasContents = Object.values(raw.contents ?? {}).some(
        (v) => Array.isArray(v) && (v as unknown[]).length > 0,
      );
      if (hasContents) throw badRequest(`${where}: has both contents and raw_input_contents; send one`);
      return { name, datatype, shape, data: fromBinary(datatype, shape, bytes, where) };
    }
    return { name, datatype, shape, data: fromContents(datatype, shape, raw.contents, where) };
  });
  const seen = new Set<string>();
  for (const i of decoded) {
    if (seen.has(i.name)) throw badRequest(`input "${i.name}" is given twice`);
    seen.add(i.name);
  }
  const req: InferRequest = { inputs: decoded };
  if (msg.id) req.id = msg.id;
  if (msg.outputs && msg.outputs.length > 0) {
    req.outputs = msg.outputs.map((o, i) => {
      if (!o.name) throw badRequest(`outputs[${i}]: "name" must be a non-empty string`);
      const cls = o.parameters?.classification;
      if (cls !== undefined) {
        // tritonclient.grpc sends an int64_param (a string here: longs: String); whichever is set counts
        const k = cls.parameter_choice
          ? (cls as Record<string, unknown>)[cls.parameter_choice]
          : cls.int64_param;
        (req.classification ??= new Map()).set(o.name, classificationCount(k, o.name));
      }
      // binary_data is the HTTP extension's; over gRPC outputs are always raw.
      boolParameter(o.parameters?.binary_data, `output "${o.name}": parameters.binary_data`);
      return o.name;
    });
  }
  return req;
}

/** A ModelInferResponse: each output's metadata, its bytes in raw_output_contents (same order). */
export function encodeGrpcInferResponse(
  model: { name: string; version: string },
  id: string | undefined,
  outputs: readonly { name: string; tensor: HostTensor }[],
): GrpcInferResponse {
  return {
    model_name: model.name,
    model_version: model.version,
    id: id ?? '',
    outputs: outputs.map((o) => {
      const datatype = ortToV2(o.tensor.type);
      if (!datatype) throw new Error(`output "${o.name}" has type ${o.tensor.type}, which v2 cannot carry`);
      return { name: o.name, datatype, shape: [...o.tensor.dims] };
    }),
    raw_output_contents: outputs.map((o) => toBinary(o.tensor)),
  };
}

/** The gRPC status code for a RequestError's HTTP status (grpc.status values). */
export function grpcStatusOf(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return 3; // INVALID_ARGUMENT
    case 404:
      return 5; // NOT_FOUND
    case 413:
      return 8; // RESOURCE_EXHAUSTED
    case 503:
      return 14; // UNAVAILABLE
    default:
      return 13; // INTERNAL
  }
}
