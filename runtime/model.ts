// Model loading: fetch the ONNX bytes from file://, http(s):// or s3://,
// verify the sha256 when one is given (a mismatch refuses to serve), create
// the onnxruntime session and read the signature from it.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { createObjectStore, objectStoreConfigFromEnv, parseS3Uri } from '../operator/storage/s3.ts';
import type { ModelSignature } from './validate.ts';
import { signatureFromMetadata } from './validate.ts';
import type { Tensors } from './batcher.ts';
import type { HostTensor } from './tensor.ts';

type Env = Readonly<Record<string, string | undefined>>;

export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Throws ModelLoadError("Sha256Mismatch") unless `bytes` hash to `expected` (when given). */
export function verifySha256(bytes: Uint8Array, expected: string | undefined): string {
  const actual = sha256Hex(bytes);
  if (expected && actual !== expected.toLowerCase()) {
    throw new ModelLoadError(
      'Sha256Mismatch',
      `model sha256 mismatch: expected ${expected.toLowerCase()}, got ${actual}; refusing to serve`,
    );
  }
  return actual;
}

/** The bytes behind a model URI. s3:// uses YMERA_S3_* or AWS_* credentials (AWS_ENDPOINT_URL for the endpoint). */
export async function fetchModel(uri: string, env: Env = process.env, timeoutMs = 120_000): Promise<Buffer> {
  let scheme: string;
  try {
    scheme = new URL(uri).protocol;
  } catch {
    throw new ModelLoadError('InvalidUri', `model uri "${uri}" is not a URL`);
  }
  try {
    if (scheme === 'file:') return await readFile(fileURLToPath(uri));
    if (scheme === 'http:' || scheme === 'https:') {
      const res = await fetch(uri, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new ModelLoadError('FetchFailed', `GET ${uri}: HTTP ${res.status}`);
      return Buffer.from(await res.arrayBuffer());
    }
    if (scheme === 's3:') {
      const { bucket, key } = parseS3Uri(uri);
      const cfg = objectStoreConfigFromEnv({
        ...env,
        YMERA_S3_ENDPOINT: env.YMERA_S3_ENDPOINT || env.AWS_ENDPOINT_URL,
      });
      if (!cfg)
        throw new ModelLoadError(
          'NoCredentials',
          's3:// model but neither YMERA_S3_ENDPOINT nor AWS_ENDPOINT_URL is set',
        );
      const store = createObjectStore({ ...cfg, bucket, timeoutMs });
      try {
        return await store.get(key);
      } finally {
        store.close();
      }
    }
  } catch (e) {
    if (e instanceof ModelLoadError) throw e;
    throw new ModelLoadError('FetchFailed', `cannot fetch model ${uri}: ${(e as Error).message}`);
  }
  throw new ModelLoadError(
    'InvalidUri',
    `model uri scheme ${scheme} is not supported (file, http, https, s3)`,
  );
}

export type LoadedModel = {
  session: ort.InferenceSession;
  signature: ModelSignature;
  sha256: string;
  bytes: number;
  run: (inputs: Tensors) => Promise<Tensors>;
};

function toOrt(t: HostTensor): ort.Tensor {
  return new ort.Tensor(t.type, t.data as never, t.dims);
}

export async function createSession(bytes: Uint8Array, threads?: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
  });
}

export async function loadModel(
  uri: string,
  options: { sha256?: string; threads?: number; env?: Env } = {},
): Promise<LoadedModel> {
  const bytes = await fetchModel(uri, options.env);
  const sha256 = verifySha256(bytes, options.sha256);
  let session: ort.InferenceSession;
  try {
    session = await createSession(bytes, options.threads);
  } catch (e) {
    throw new ModelLoadError('InvalidModel', `onnxruntime cannot load ${uri}: ${(e as Error).message}`);
  }
  const signature = signatureFromMetadata(session.inputMetadata as never, session.outputMetadata as never);
  const run = async (inputs: Tensors): Promise<Tensors> => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(inputs)) feeds[name] = toOrt(t);
    const out = await session.run(feeds);
    const result: Tensors = {};
    for (const [name, t] of Object.entries(out)) {
      result[name] = { type: t.type as HostTensor['type'], dims: t.dims, data: t.data as HostTensor['data'] };
    }
    return result;
  };
  return { session, signature, sha256, bytes: bytes.length, run };
}
