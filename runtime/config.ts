// Pure: the runtime's settings from the ConfigMap's runtime.json (the
// operator writes it), overridden by flags, then environment. Parsing only;
// the server reads the file.
import { parseArgs } from 'node:util';

export type RuntimeConfig = {
  model: { name: string; uri: string; format: string; version: string; sha256?: string };
  batching: { maxBatchSize: number; maxDelayMs: number; maxConcurrentBatches: number };
  threads?: number;
  inferenceThread: InferenceThread;
  /** Where onnxruntime runs the graph: 'cuda' = its CUDA provider, with the CPU for what CUDA lacks. */
  executionProvider: ExecutionProvider;
  /**
   * A model that cannot be loaded: 'exit' (LOAD_FAILED_EXIT_CODE, with the reason in the
   * termination message, so the kubelet and the controller see it at once) or 'stay' up
   * unready, answering 503 (for running it by hand).
   */
  onLoadFailure: 'exit' | 'stay';
  /** The termination message file; written only where it exists (Kubernetes mounts it). */
  terminationLog: string;
  host: string;
  port: number;
  /** The v2 gRPC endpoint's port (runtime/grpc.ts); undefined = no gRPC endpoint. */
  grpcPort?: number;
  maxBodyBytes: number;
  /** Longest SIGTERM waits for in-flight work before exiting anyway. */
  drainTimeoutMs: number;
  labels: { namespace: string; inferenceservice: string; revision: string };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  kafka?: { brokers: string[]; topic: string; sampleRate: number; bufferSize: number };
  /**
   * How often the --config file is read again for a batching change (runtime/reload.ts);
   * 0 = never. The kubelet swaps a ConfigMap volume's files atomically, so polling the
   * content is enough (inotify on the symlinked file would miss the swap).
   */
  configPollMs: number;
};

/** Default poll of the config file: a ConfigMap change already takes the kubelet's sync (~1 min). */
export const DEFAULT_CONFIG_POLL_MS = 5_000;

export type ExecutionProvider = 'cpu' | 'cuda';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda'];

/** Where session.run executes: a worker thread, or the event loop's own thread. */
export type InferenceThread = 'worker' | 'main';
export const INFERENCE_THREADS: readonly InferenceThread[] = ['worker', 'main'];
/**
 * The default, from the benchmark (runtime/README.md, "Benchmark"): at concurrency 64 the
 * worker served the compute-bound model 9–27% faster than the event loop (and met the
 * target in a good run), and health probes and /metrics stay answered while a long batch
 * runs. Its price is one round trip per run (0.1–0.3 ms on the bench VM), which shows
 * unbatched at concurrency 1: latency-critical, low-concurrency services may pick 'main'.
 */
export const DEFAULT_INFERENCE_THREAD: InferenceThread = 'worker';

/**
 * Runs in flight when not configured. With a worker, 2: the next batch waits in the
 * worker's queue while one runs, so the worker does not idle while the event loop is busy
 * answering the previous batch (the benchmark's compute-bound model: ~13% more throughput at
 * concurrency 64). On the event loop a second run in flight gains nothing: runs take turns.
 */
export function defaultConcurrentBatches(thread: InferenceThread): number {
  return thread === 'worker' ? 2 : 1;
}

type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const OPTIONS = {
  config: { type: 'string' },
  model: { type: 'string' },
  'model-name': { type: 'string' },
  'model-version': { type: 'string' },
  sha256: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'grpc-port': { type: 'string' },
  threads: { type: 'string' },
  'inference-thread': { type: 'string' },
  'execution-provider': { type: 'string' },
  'on-load-failure': { type: 'string' },
  'termination-log': { type: 'string' },
  'max-batch-size': { type: 'string' },
  'max-delay-ms': { type: 'string' },
  'max-concurrent-batches': { type: 'string' },
  'max-body-bytes': { type: 'string' },
  'drain-timeout-ms': { type: 'string' },
  'kafka-brokers': { type: 'string' },
  'kafka-topic': { type: 'string' },
  'kafka-sample-rate': { type: 'string' },
  'kafka-buffer-size': { type: 'string' },
  'log-level': { type: 'string' },
  'config-poll-ms': { type: 'string' },
} as const;

export type Flags = Partial<Record<keyof typeof OPTIONS, string>>;

export function parseFlags(argv: readonly string[]): Flags {
  const { values } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: false, strict: true });
  return values as Flags;
}

function num(
  v: string | number | undefined,
  what: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new ConfigError(`${what} must be a number in [${min}, ${max}] (got ${v})`);
  return n;
}

function int(v: string | number | undefined, what: string, min: number, max?: number): number | undefined {
  const n = num(v, what, min, max);
  if (n !== undefined && !Number.isInteger(n)) throw new ConfigError(`${what} must be an integer (got ${v})`);
  return n;
}

function oneOf<T extends string>(v: unknown, what: string, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!(allowed as readonly unknown[]).includes(v))
    throw new ConfigError(
      `${what} must be one of ${allowed.map((a) => `"${a}"`).join(', ')} (got ${JSON.stringify(v)})`,
    );
  return v as T;
}

/** The model's name from its URI: the file name without extension. */
export function nameFromUri(uri: string): string {
  const last =
    uri
      .replace(/[?#].*$/, '')
      .split('/')
      .filter(Boolean)
      .pop() ?? 'model';
  return last.replace(/\.onnx$/i, '') || 'model';
}

/**
 * Merges runtime.json (`file`, already parsed), flags and env into one config.
 * Precedence: flag > env > file > default.
 */
export function resolveConfig(file: unknown, flags: Flags, env: Env = {}): RuntimeConfig {
  const f = (typeof file === 'object' && file !== null ? file : {}) as {
    model?: { name?: string; uri?: string; format?: string; version?: string; sha256?: string };
    batching?: { maxBatchSize?: number; maxDelayMs?: number; maxConcurrentBatches?: number };
    threads?: number;
    inferenceThread?: unknown;
    executionProvider?: unknown;
    logging?: { kafka?: { topic?: string; sampleRate?: number; brokers?: string[] | string } };
  };
  const uri = flags.model ?? env.YMERA_MODEL_URI ?? f.model?.uri;
  if (!uri) throw new ConfigError('no model: pass --model <uri> or a --config file with model.uri');
  const format = f.model?.format ?? 'onnx';
  if (format !== 'onnx') throw new ConfigError(`model.format "${format}" is not supported (only "onnx")`);
  const sha256 = (flags.sha256 ?? env.YMERA_MODEL_SHA256 ?? f.model?.sha256)?.toLowerCase();
  if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256)) {
    throw new ConfigError('model sha256 must be 64 hex digits');
  }
  const model = {
    name: flags['model-name'] ?? env.YMERA_MODEL_NAME ?? f.model?.name ?? nameFromUri(uri),
    uri,
    format,
    version: flags['model-version'] ?? env.YMERA_MODEL_VERSION ?? f.model?.version ?? '1',
    ...(sha256 ? { sha256 } : {}),
  };
  if (!/^[A-Za-z0-9_.-]+$/.test(model.name))
    throw new ConfigError(`model name "${model.name}" must match [A-Za-z0-9_.-]+`);
  if (!/^[A-Za-z0-9_.-]+$/.test(model.version)) {
    throw new ConfigError(`model version "${model.version}" must match [A-Za-z0-9_.-]+`);
  }
  // An empty flag or variable means "not set"; an empty value in runtime.json is an error.
  const inferenceThread = oneOf(
    flags['inference-thread'] || env.YMERA_INFERENCE_THREAD || f.inferenceThread,
    'inferenceThread',
    INFERENCE_THREADS,
    DEFAULT_INFERENCE_THREAD,
  );
  const batching = {
    maxBatchSize:
      int(
        flags['max-batch-size'] ?? env.YMERA_MAX_BATCH_SIZE ?? f.batching?.maxBatchSize,
        'maxBatchSize',
        1,
        4096,
      ) ?? 32,
    maxDelayMs:
      num(
        flags['max-delay-ms'] ?? env.YMERA_MAX_DELAY_MS ?? f.batching?.maxDelayMs,
        'maxDelayMs',
        0,
        10_000,
      ) ?? 0,
    maxConcurrentBatches:
      int(
        flags['max-concurrent-batches'] ??
          env.YMERA_MAX_CONCURRENT_BATCHES ??
          f.batching?.maxConcurrentBatches,
        'maxConcurrentBatches',
        1,
        64,
      ) ?? defaultConcurrentBatches(inferenceThread),
  };
  // No batching section at all in runtime.json means the spec asked for none.
  if (file && typeof file === 'object' && !f.batching && flags['max-batch-size'] === undefined) {
    batching.maxBatchSize = int(env.YMERA_MAX_BATCH_SIZE, 'maxBatchSize', 1, 4096) ?? 1;
  }
  const threads = int(flags.threads ?? env.YMERA_THREADS ?? f.threads, 'threads', 1, 256);
  const brokersRaw = flags['kafka-brokers'] ?? env.YMERA_KAFKA_BROKERS ?? f.logging?.kafka?.brokers;
  const brokers = (Array.isArray(brokersRaw) ? brokersRaw : (brokersRaw ?? '').split(','))
    .map((b) => b.trim())
    .filter(Boolean);
  const topic = flags['kafka-topic'] ?? env.YMERA_KAFKA_TOPIC ?? f.logging?.kafka?.topic;
  let kafka: RuntimeConfig['kafka'];
  if (brokers.length > 0 && topic) {
    kafka = {
      brokers,
      topic,
      sampleRate:
        num(
          flags['kafka-sample-rate'] ?? env.YMERA_KAFKA_SAMPLE_RATE ?? f.logging?.kafka?.sampleRate,
          'sampleRate',
          0,
          1,
        ) ?? 1,
      bufferSize:
        int(flags['kafka-buffer-size'] ?? env.YMERA_KAFKA_BUFFER_SIZE, 'kafka buffer size', 1, 1_000_000) ??
        1000,
    };
  }
  // Off unless asked for: several runtimes on one host (tests, by hand) would fight over a default port.
  const grpcPort = int(flags['grpc-port'] || env.YMERA_GRPC_PORT, 'grpc port', 0, 65535);
  const logLevel = flags['log-level'] ?? env.YMERA_LOG_LEVEL ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel))
    throw new ConfigError(`unknown log level "${logLevel}"`);
  return {
    model,
    batching,
    ...(threads !== undefined ? { threads } : {}),
    inferenceThread,
    executionProvider: oneOf(
      flags['execution-provider'] || env.YMERA_EXECUTION_PROVIDER || f.executionProvider,
      'executionProvider',
      EXECUTION_PROVIDERS,
      'cpu',
    ),
    onLoadFailure: oneOf(
      flags['on-load-failure'] || env.YMERA_ON_LOAD_FAILURE,
      'onLoadFailure',
      ['exit', 'stay'] as const,
      'exit',
    ),
    terminationLog: flags['termination-log'] || env.YMERA_TERMINATION_LOG || '/dev/termination-log',
    // Loopback by default; in a pod (KUBERNETES_SERVICE_HOST is always set there) the
    // probes and the Service must reach it, and the operator passes no --host.
    host: flags.host ?? env.YMERA_HOST ?? (env.KUBERNETES_SERVICE_HOST ? '0.0.0.0' : '127.0.0.1'),
    port: int(flags.port ?? env.YMERA_PORT, 'port', 0, 65535) ?? 8080,
    ...(grpcPort !== undefined ? { grpcPort } : {}),
    maxBodyBytes:
      int(flags['max-body-bytes'] ?? env.YMERA_MAX_BODY_BYTES, 'max body bytes', 1) ?? 16 * 1024 * 1024,
    drainTimeoutMs:
      int(flags['drain-timeout-ms'] ?? env.YMERA_DRAIN_TIMEOUT_MS, 'drain timeout', 0) ?? 25_000,
    labels: {
      namespace: env.YMERA_NAMESPACE ?? '',
      inferenceservice: env.YMERA_INFERENCESERVICE ?? model.name,
      revision: env.YMERA_REVISION ?? '',
    },
    logLevel: logLevel as RuntimeConfig['logLevel'],
    ...(kafka ? { kafka } : {}),
    configPollMs:
      int(flags['config-poll-ms'] ?? env.YMERA_CONFIG_POLL_MS, 'config poll ms', 0, 3_600_000) ??
      DEFAULT_CONFIG_POLL_MS,
  };
}
