// The onnxruntime session and the host ↔ ort tensor conversions, shared by
// the main-thread engine (model.ts) and the worker engine (inference-worker.ts).
// No network or object-store imports, so the worker loads only what it needs.
import ort from 'onnxruntime-node';
import type { Tensors } from './batcher.ts';
import type { ExecutionProvider } from './config.ts';
import type { HostTensor } from './tensor.ts';

/** The part of onnxruntime's input/output metadata the signature is read from (structured-cloneable). */
export type TensorMetadata = { name: string; type?: string; shape?: (number | string)[] };

/** How a session is created; the same in either engine. */
export type SessionSettings = {
  /** intraOpNumThreads (interOp 1); unset keeps onnxruntime's defaults. */
  threads?: number;
  /** Default 'cpu'. */
  executionProvider?: ExecutionProvider;
};

/**
 * onnxruntime's provider list: CUDA first, the CPU for the nodes CUDA has no kernel for
 * (onnxruntime assigns each node to the first provider that takes it).
 */
export function executionProviders(provider: ExecutionProvider = 'cpu'): ('cuda' | 'cpu')[] {
  return provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
}

export { isProviderUnavailable } from './provider-errors.ts';

export async function createSession(
  bytes: Uint8Array,
  settings: SessionSettings = {},
): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    executionProviders: executionProviders(settings.executionProvider),
    graphOptimizationLevel: 'all',
    ...(settings.threads ? { intraOpNumThreads: settings.threads, interOpNumThreads: 1 } : {}),
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
  for (const [name, t] of Object.entries(inputs)) {
    const tensor = new ort.Tensor(t.type, t.data as never, t.dims);
    // Where the JS engine has Float16Array (Node 24), onnxruntime-common wraps a float16
    // tensor's Uint16Array in one, and the native binding reads a Float16Array as 0 bytes
    // ("not enough space"). Hand it the half bits as they came.
    if (t.type === 'float16') (tensor as unknown as { cpuData: unknown }).cpuData = t.data;
    feeds[name] = tensor;
  }
  const out = await session.run(feeds);
  const result: Tensors = {};
  for (const [name, t] of Object.entries(out)) {
    let data = t.data as HostTensor['data'];
    // float16 outputs come back as Float16Array views there: the runtime keeps half bits in a Uint16Array.
    if (t.type === 'float16' && !(data instanceof Uint16Array)) {
      const d = data as unknown as ArrayBufferView & { length: number };
      data = new Uint16Array(d.buffer, d.byteOffset, d.length);
    }
    result[name] = { type: t.type as HostTensor['type'], dims: t.dims, data };
  }
  return result;
}
