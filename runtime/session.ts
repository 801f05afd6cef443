// The onnxruntime session and the host ↔ ort tensor conversions, shared by
// the main-thread engine (model.ts) and the worker engine (inference-worker.ts).
// No network or object-store imports, so the worker loads only what it needs.
import ort from 'onnxruntime-node';
import type { Tensors } from './batcher.ts';
import type { HostTensor } from './tensor.ts';

/** The part of onnxruntime's input/output metadata the signature is read from (structured-cloneable). */
export type TensorMetadata = { name: string; type?: string; shape?: (number | string)[] };

export async function createSession(bytes: Uint8Array, threads?: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
  });
}

export function sessionMetadata(session: ort.InferenceSession): {
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
} {
  const plain = (m: readonly { name: string; type?: unknown; shape?: unknown }[]): TensorMetadata[] =>
    m.map((x) => ({
      name: x.name,
      ...(typeof x.type === 'string' ? { type: x.type } : {}),
      ...(Array.isArray(x.shape) ? { shape: [...(x.shape as (number | string)[])] } : {}),
    }));
  return {
    inputs: plain(session.inputMetadata as never),
    outputs: plain(session.outputMetadata as never),
  };
}

/** One session.run on host tensors. */
export async function runSession(session: ort.InferenceSession, inputs: Tensors): Promise<Tensors> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(inputs))
    feeds[name] = new ort.Tensor(t.type, t.data as never, t.dims);
  const out = await session.run(feeds);
  const result: Tensors = {};
  for (const [name, t] of Object.entries(out)) {
    result[name] = { type: t.type as HostTensor['type'], dims: t.dims, data: t.data as HostTensor['data'] };
  }
  return result;
}
