// The worker-thread inference engine: one worker_threads Worker owns the
// onnxruntime session (inference-worker.ts) and runs session.run there, so
// HTTP parsing and JSON on the main thread overlap inference instead of
// taking turns with it on one event loop. The main thread fetches and
// verifies the model (model.ts), hands the bytes over (transferred, not
// copied), reads the signature from the metadata the worker reports, and
// gets the same `run(inputs) => Promise<outputs>` as the main-thread engine.
//
// Crashes: when the worker dies (an uncaught error, an OOM kill of the
// isolate, terminate()), every run in flight is rejected at once with a
// WorkerCrashedError (HTTP 503), the engine reports 'restarting' (the server
// turns not ready), fetches the model again through `reload` and starts a
// new worker; 'ready' again once it has loaded. More than `maxRestarts`
// crashes within a minute, a failed reload, or no `reload` at all: 'failed'
// for good (not ready; the pod's owner has to replace it).
import { Worker } from 'node:worker_threads';
import type { Tensors } from './batcher.ts';
import { PASSING_RETRY_AFTER_SECONDS, RequestError } from './errors.ts';
import type { SessionSettings, TensorMetadata } from './session.ts';
import { forTransfer, ownsBuffer } from './transfer.ts';

export type WorkerInit = { bytes: Uint8Array; session: SessionSettings };
export type ToWorker = { type: 'run'; id: number; inputs: Tensors };
export type FromWorker =
  | { type: 'loaded'; metadata: { inputs: TensorMetadata[]; outputs: TensorMetadata[] } }
  | { type: 'loadError'; message: string }
  | { type: 'result'; id: number; outputs: Tensors }
  | { type: 'error'; id: number; message: string };

const WORKER_URL = new URL('./inference-worker.ts', import.meta.url);
const RESTART_WINDOW_MS = 60_000;

/**
 * A run that could not finish because the inference worker died or is being replaced
 * (503 with Retry-After), or because it failed for good (503 without: retrying will not help).
 */
export class WorkerCrashedError extends RequestError {
  constructor(message: string, passes = true) {
    super(503, message, passes ? PASSING_RETRY_AFTER_SECONDS : undefined);
    this.name = 'WorkerCrashedError';
  }
}

/** The worker could not create the session: onnxruntime's message, or the worker died while loading. */
export class WorkerLoadError extends Error {
  override name = 'WorkerLoadError';
  readonly kind: 'invalidModel' | 'workerFailed';
  constructor(kind: 'invalidModel' | 'workerFailed', message: string) {
    super(message);
    this.kind = kind;
  }
}

export type EngineStatus = 'ready' | 'restarting' | 'failed';

export type WorkerEngineOptions = {
  session?: SessionSettings;
  /** Fetches (and verifies) the model bytes again for a restart; without it a crash is final. */
  reload?: () => Promise<Uint8Array>;
  /** Called on every status change after the first load ('restarting', 'ready', 'failed'). */
  onStatus?: (status: EngineStatus, error?: Error) => void;
  /** Crashes within a minute that still restart the worker; default 3. */
  maxRestarts?: number;
};

type Pending = { resolve: (out: Tensors) => void; reject: (e: unknown) => void };

/** The worker's OS thread name (≤ 15 chars): `top -H` shows it, and the bench's CPU pinning finds it by it. */
export const INFERENCE_THREAD_NAME = 'ymera-inference';

/** Starts a worker and waits for its session (or its load error). The bytes are transferred. */
function spawnWorker(
  bytes: Uint8Array,
  session: SessionSettings = {},
): Promise<{ worker: Worker; metadata: Extract<FromWorker, { type: 'loaded' }>['metadata'] }> {
  // owned bytes go over as they are; a view on a larger or pooled buffer is copied first
  const data = ownsBuffer(bytes) ? bytes : new Uint8Array(bytes);
  const init: WorkerInit = { bytes: data, session };
  const worker = new Worker(WORKER_URL, {
    name: INFERENCE_THREAD_NAME,
    workerData: init,
    transferList: [data.buffer as ArrayBuffer],
  });
  return new Promise((resolve, reject) => {
    let lastError: Error | undefined;
    const onMessage = (msg: FromWorker) => {
      if (msg.type === 'loaded') {
        cleanup();
        resolve({ worker, metadata: msg.metadata });
      } else if (msg.type === 'loadError') {
        cleanup();
        void worker.terminate();
        reject(new WorkerLoadError('invalidModel', msg.message));
      }
    };
    const onError = (e: Error) => (lastError = e);
    const onExit = (code: number) => {
      cleanup();
      reject(
        new WorkerLoadError(
          'workerFailed',
          `inference worker exited (code ${code}) while loading${lastError ? `: ${lastError.message}` : ''}`,
        ),
      );
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

export class WorkerEngine {
  readonly metadata: { inputs: TensorMetadata[]; outputs: TensorMetadata[] };
  readonly #opts: WorkerEngineOptions;
  readonly #pending = new Map<number, Pending>();
  readonly #crashes: number[] = [];
  #worker: Worker | undefined;
  #nextId = 0;
  #status: EngineStatus = 'ready';
  #closed = false;

  private constructor(
    spawned: { worker: Worker; metadata: WorkerEngine['metadata'] },
    options: WorkerEngineOptions,
  ) {
    this.metadata = spawned.metadata;
    this.#opts = options;
    this.#attach(spawned.worker);
  }

  /** Loads the model in a new worker; rejects with WorkerLoadError when it cannot. */
  static async start(bytes: Uint8Array, options: WorkerEngineOptions = {}): Promise<WorkerEngine> {
    return new WorkerEngine(await spawnWorker(bytes, options.session), options);
  }

  get status(): EngineStatus {
    return this.#status;
  }

  /** The current worker (tests use it to simulate a crash). */
  get worker(): Worker | undefined {
    return this.#worker;
  }

  /** Runs in the worker. Typed-array inputs that own their buffer are transferred (detached here). */
  run(inputs: Tensors): Promise<Tensors> {
    const worker = this.#worker;
    if (this.#closed) return Promise.reject(new WorkerCrashedError('the inference engine is closed'));
    if (!worker || this.#status !== 'ready')
      return Promise.reject(
        this.#status === 'restarting'
          ? new WorkerCrashedError('the inference worker is restarting')
          : new WorkerCrashedError('the inference worker failed; not serving', false),
      );
    const id = this.#nextId++;
    const { tensors, transfer } = forTransfer(inputs);
    return new Promise<Tensors>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ type: 'run', id, inputs: tensors } satisfies ToWorker, transfer);
    });
  }

  /** Terminates the worker; runs still in flight are rejected. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    this.#rejectAll(new WorkerCrashedError('the inference engine is closed'));
    if (worker) await worker.terminate();
  }

  #attach(worker: Worker): void {
    this.#worker = worker;
    let lastError: Error | undefined;
    worker.on('message', (msg: FromWorker) => {
      if (msg.type !== 'result' && msg.type !== 'error') return;
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (msg.type === 'result') p.resolve(msg.outputs);
      else p.reject(new Error(msg.message));
    });
    worker.on('error', (e) => (lastError = e));
    worker.on('exit', (code) => {
      if (this.#worker !== worker) return; // closed, or already replaced
      this.#worker = undefined;
      const why = `the inference worker exited (code ${code})${lastError ? `: ${lastError.message}` : ''}`;
      this.#rejectAll(new WorkerCrashedError(why));
      if (!this.#closed) void this.#restart(new Error(why));
    });
  }

  #rejectAll(e: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(e);
  }

  #setStatus(status: EngineStatus, error?: Error): void {
    this.#status = status;
    this.#opts.onStatus?.(status, error);
  }

  async #restart(crash: Error): Promise<void> {
    const now = Date.now();
    this.#crashes.push(now);
    while (this.#crashes.length > 0 && (this.#crashes[0] as number) < now - RESTART_WINDOW_MS)
      this.#crashes.shift();
    const reload = this.#opts.reload;
    if (!reload || this.#crashes.length > (this.#opts.maxRestarts ?? 3)) {
      this.#setStatus('failed', crash);
      return;
    }
    this.#setStatus('restarting', crash);
    // Back off a little on repeated crashes: 0, 200, 400 ms …
    await new Promise((r) => setTimeout(r, 200 * (this.#crashes.length - 1)));
    try {
      const bytes = await reload();
      if (this.#closed) return;
      const spawned = await spawnWorker(bytes, this.#opts.session);
      if (this.#closed) {
        await spawned.worker.terminate();
        return;
      }
      this.#attach(spawned.worker);
      this.#setStatus('ready');
    } catch (e) {
      if (!this.#closed) this.#setStatus('failed', e as Error);
    }
  }
}
