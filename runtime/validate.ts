// Pure: checks a decoded request against the model's metadata — input names,
// datatypes and shapes (incl. the batch dimension) and requested outputs —
// so nothing malformed ever reaches the session.
import type { DecodedInput, InferRequest } from './codec.ts';
import { badRequest } from './errors.ts';
import type { HostTensor, V2Datatype } from './tensor.ts';
import { allocate, ortToV2, v2ToOrt } from './tensor.ts';

/** -1 marks a dynamic dimension. */
export type TensorSpec = { name: string; datatype: V2Datatype; shape: number[] };

export type ModelSignature = { inputs: TensorSpec[]; outputs: TensorSpec[] };

export type ValidRequest = {
  inputs: Record<string, HostTensor>;
  /** Output names to return, in order. */
  outputs: string[];
  /** Rows along the batch dimension, or undefined when the model has no dynamic batch dimension. */
  rows: number | undefined;
};

/**
 * Model metadata from onnxruntime's inputMetadata/outputMetadata: symbolic or
 * unknown dims become -1. Throws when a tensor's type cannot travel over v2.
 */
export function signatureFromMetadata(
  inputs: readonly { name: string; type?: string; shape?: readonly (number | string)[] }[],
  outputs: readonly { name: string; type?: string; shape?: readonly (number | string)[] }[],
): ModelSignature {
  const spec = (m: { name: string; type?: string; shape?: readonly (number | string)[] }): TensorSpec => {
    const datatype = ortToV2(m.type ?? '');
    if (!datatype)
      throw new Error(`model tensor "${m.name}" has type ${m.type}, which the runtime cannot serve`);
    const shape = (m.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
    return { name: m.name, datatype, shape };
  };
  return { inputs: inputs.map(spec), outputs: outputs.map(spec) };
}

/** True when every input's first dimension is dynamic, so requests can be stacked along it. */
export function isBatchable(sig: ModelSignature): boolean {
  return sig.inputs.length > 0 && sig.inputs.every((i) => i.shape.length > 0 && i.shape[0] === -1);
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function checkInput(spec: TensorSpec, got: DecodedInput): void {
  if (got.datatype !== spec.datatype) {
    throw badRequest(
      `input "${spec.name}": datatype ${got.datatype} does not match the model's ${spec.datatype}`,
    );
  }
  const ok =
    got.shape.length === spec.shape.length && spec.shape.every((d, i) => d === -1 || d === got.shape[i]);
  if (!ok) {
    throw badRequest(
      `input "${spec.name}": shape ${fmt(got.shape)} does not match the model's ${fmt(spec.shape)} (-1 = any)`,
    );
  }
}

export function validateRequest(sig: ModelSignature, req: InferRequest): ValidRequest {
  const byName = new Map(req.inputs.map((i) => [i.name, i]));
  for (const name of byName.keys()) {
    if (!sig.inputs.some((s) => s.name === name)) {
      throw badRequest(
        `unknown input "${name}"; the model takes ${sig.inputs.map((s) => `"${s.name}"`).join(', ')}`,
      );
    }
  }
  const inputs: Record<string, HostTensor> = {};
  const batchable = isBatchable(sig);
  let rows: number | undefined;
  for (const spec of sig.inputs) {
    const got = byName.get(spec.name);
    if (!got) throw badRequest(`missing input "${spec.name}"`);
    checkInput(spec, got);
    if (batchable) {
      const r = got.shape[0] as number;
      if (r === 0) throw badRequest(`input "${spec.name}": the batch dimension must be at least 1`);
      if (rows !== undefined && r !== rows) {
        throw badRequest(`inputs disagree on the batch dimension (${rows} vs ${r} in "${spec.name}")`);
      }
      rows = r;
    }
    inputs[spec.name] = { type: v2ToOrt(got.datatype), dims: got.shape, data: got.data };
  }
  let outputs = sig.outputs.map((o) => o.name);
  if (req.outputs) {
    for (const o of req.outputs) {
      if (!outputs.includes(o)) {
        throw badRequest(`unknown output "${o}"; the model has ${outputs.map((n) => `"${n}"`).join(', ')}`);
      }
    }
    outputs = [...new Set(req.outputs)];
  }
  return { inputs, outputs, rows };
}

/** A zero (or empty-string) input for every model input, batch 1, for the warm-up run. */
export function zeroInputs(sig: ModelSignature): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const s of sig.inputs) {
    const dims = s.shape.map((d) => (d === -1 ? 1 : d));
    let n = 1;
    for (const d of dims) n *= d;
    const t = v2ToOrt(s.datatype);
    out[s.name] = { type: t, dims, data: allocate(t, n) };
  }
  return out;
}
