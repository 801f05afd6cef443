// Model loading: fetch the ONNX bytes from file://, http(s):// or s3://,
// verify the sha256 when one is given (a mismatch refuses to serve), create
// the onnxruntime session — on this thread ('main') or in a worker thread
// ('worker', worker-engine.ts) — and read the signature from it.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type ort from 'onnxruntime-node';
import { createObjectStore, objectStoreConfigFromEnv, parseS3Uri } from '../operator/storage/s3.ts';
import type { ModelSignature } from './validate.ts';
import { signatureFromMetadata } from './validate.ts';
import type { Tensors } from './batcher.ts';
import { DEFAULT_INFERENCE_THREAD } from './config.ts';
import type { ExecutionProvider, InferenceThread } from './config.ts';
import { isProviderUnavailable } from './provider-errors.ts';
import type { SessionSettings } from './session.ts';
import { WorkerEngine, WorkerLoadError } from './worker-engine.ts';
import type { EngineStatus } from './worker-engine.ts';

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

/** A single-file ONNX model is a protobuf, which cannot exceed 2 GiB. */
export const MAX_MODEL_BYTES = 2 * 1024 * 1024 * 1024;

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
      // the client's default cap (64 MiB) is for small objects; a model may be as large as ONNX allows
      const store = createObjectStore({ ...cfg, bucket, timeoutMs, maxGetBytes: MAX_MODEL_BYTES });
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
  /** Where session.run executes: 'main' (this event loop) or 'worker' (a worker thread). */
  inferenceThread: InferenceThread;
  /** The session, with the main-thread engine only. */
  session?: ort.InferenceSession;
  /** The worker engine (status, the worker itself), with inferenceThread 'worker' only. */
  engine?: WorkerEngine;
  signature: ModelSignature;
  sha256: string;
  bytes: number;
  run: (inputs: Tensors) => Promise<Tensors>;
  /** Releases the session or terminates the worker; runs still in flight are rejected (worker). */
  close: () => Promise<void>;
};

/** A failed session creation as a load error: the provider missing, or a model onnxruntime cannot read. */
export function sessionLoadError(uri: string, settings: SessionSettings, message: string): ModelLoadError {
  const provider = settings.executionProvider ?? 'cpu';
  if (provider !== 'cpu' && isProviderUnavailable(message))
    return new ModelLoadError(
      'ExecutionProviderUnavailable',
      `executionProvider "${provider}": onnxruntime cannot set up its ${provider.toUpperCase()} provider (${message}); ` +
        'a GPU service needs the CUDA runtime image (Dockerfile target runtime-cuda) and an NVIDIA GPU in the pod',
    );
  return new ModelLoadError('InvalidModel', `onnxruntime cannot load ${uri}: ${message}`);
}

export type LoadOptions = {
  sha256?: string;
  threads?: number;
  /** Default 'cpu'. */
  executionProvider?: ExecutionProvider;
  env?: Env;
  /** Default: DEFAULT_INFERENCE_THREAD (config.ts). */
  inferenceThread?: InferenceThread;
  /** Worker engine: status changes after the first load (a crash, the restart, a final failure). */
  onStatus?: (status: EngineStatus, error?: Error) => void;
};

export async function loadModel(uri: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const bytes = await fetchModel(uri, options.env);
  const sha256 = verifySha256(bytes, options.sha256);
  const size = bytes.length;
  const inferenceThread = options.inferenceThread ?? DEFAULT_INFERENCE_THREAD;
  const settings: SessionSettings = {
    ...(options.threads ? { threads: options.threads } : {}),
    ...(options.executionProvider ? { executionProvider: options.executionProvider } : {}),
  };
  const cannotLoad = (e: unknown) => sessionLoadError(uri, settings, (e as Error).message);
  if (inferenceThread === 'worker') {
    let engine: WorkerEngine;
    try {
      engine = await WorkerEngine.start(bytes, {
        session: settings,
        // A restart fetches and verifies again rather than keeping a second copy of the bytes.
        reload: async () => {
          const again = await fetchModel(uri, options.env);
          verifySha256(again, sha256);
          return again;
        },
        ...(options.onStatus ? { onStatus: options.onStatus } : {}),
      });
    } catch (e) {
      if (e instanceof WorkerLoadError && e.kind === 'workerFailed')
        throw new ModelLoadError('WorkerFailed', `inference worker for ${uri} failed: ${e.message}`);
      throw cannotLoad(e);
    }
    let signature: ModelSignature;
    try {
      signature = signatureFromMetadata(engine.metadata.inputs, engine.metadata.outputs);
    } catch (e) {
      await engine.close();
      throw e;
    }
    return {
      inferenceThread,
      engine,
      signature,
      sha256,
      bytes: size,
      run: (inputs) => engine.run(inputs),
      close: () => engine.close(),
    };
  }
  // onnxruntime (~5 MiB of RSS, native) loads with the first in-process session: the operator
  // imports this module for fetchModel and opens a session only for a MaintenancePlan predictor
  const { createSession, runSession, sessionMetadata } = await import('./session.ts');
  let session: ort.InferenceSession;
  try {
    session = await createSession(bytes, settings);
  } catch (e) {
    throw cannotLoad(e);
  }
  const meta = sessionMetadata(session);
  const signature = signatureFromMetadata(meta.inputs, meta.outputs);
  return {
    inferenceThread,
    session,
    signature,
    sha256,
    bytes: size,
    run: (inputs) => runSession(session, inputs),
    close: () => session.release(),
  };
}
