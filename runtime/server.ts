// The inference runtime: an Open Inference Protocol v2 server over one ONNX
// model. Starts listening at once (live, not ready), loads and verifies the
// model, warms it with one zero-tensor run, then reports ready. SIGTERM
// drains: not ready, no new connections, in-flight and batched work
// finished, request logs flushed, exit 0.
//
//   node --disable-warning=ExperimentalWarning runtime/server.ts --model file:///…/fraud.onnx --port 8085
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createKafkaClients } from '../operator/kafka/platformatic.ts';
import type { KafkaClients } from '../operator/kafka/platformatic.ts';
import { createLogger } from '../operator/logger.ts';
import type { Logger } from '../operator/logger.ts';
import { Batcher } from './batcher.ts';
import type { Tensors } from './batcher.ts';
import { HEADER_LENGTH_HEADER, splitBody } from './binary.ts';
import { checkClassifiable, classify } from './classification.ts';
import { decodeBody, gzipResponse, requestCoding } from './compression.ts';
import {
  decodeInferRequest,
  encodeBinaryInferResponse,
  encodeInferResponse,
  encodeRequestJson,
  wantsBinary,
} from './codec.ts';
import type { InferRequest } from './codec.ts';
import { parseFlags, resolveConfig } from './config.ts';
import type { RuntimeConfig } from './config.ts';
import { RequestError, unavailableForNow } from './errors.ts';
import { startGrpc } from './grpc.ts';
import type { GrpcCall, GrpcRuntime } from './grpc.ts';
import { createMetrics } from './metrics.ts';
import { ModelLoadError, loadModel } from './model.ts';
import type { LoadedModel } from './model.ts';
import type { HostTensor } from './tensor.ts';
import { LogBuffer, RequestLogger } from './reqlog.ts';
import { LOAD_FAILED_EXIT_CODE, loadFailureMessage, writeTerminationMessage } from './termination.ts';
import { planReload, watchConfigFile } from './reload.ts';
import { matchRoute } from './routes.ts';
import type { Route } from './routes.ts';
import { isBatchable, validateRequest, zeroInputs } from './validate.ts';

export const RUNTIME_VERSION = '0.1.0';
// Logged bodies above this are replaced by a size note: the buffer is bounded in records, not bytes.
const MAX_LOGGED_BODY = 64 * 1024;

type State = 'loading' | 'ready' | 'restarting' | 'failed' | 'draining';

export type Runtime = {
  server: http.Server;
  port: number;
  /** The gRPC endpoint's port, when config.grpcPort asks for one. */
  grpcPort?: number;
  /** Resolves when the model is loaded and warmed, or rejects with the load error. */
  loaded: Promise<void>;
  /** Drains and closes; resolves true when everything finished within the drain timeout. */
  shutdown(): Promise<boolean>;
};

class BodyTooLarge extends RequestError {
  constructor(limit: number) {
    super(413, `request body exceeds ${limit} bytes`);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new BodyTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(new BodyTooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

/** Retry-After for an error that passes by itself (see unavailableForNow), else no header. */
function retryAfterHeader(e: unknown): Record<string, string> | undefined {
  return e instanceof RequestError && e.retryAfterSeconds !== undefined
    ? { 'retry-after': String(e.retryAfterSeconds) }
    : undefined;
}

function send(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(typeof body === 'string' ? Buffer.byteLength(body) : body.length),
    ...headers,
  });
  res.end(body);
}

type InferResult = {
  body: string | Buffer;
  /** Extra response headers (the binary tensor data extension's). */
  headers?: Record<string, string>;
  /** What the request log records: the JSON (header) of the request and of the response. */
  reqJson: string;
  resJson: string;
  id?: string;
};

const SERVER_INFO = {
  name: 'ymera-runtime',
  version: RUNTIME_VERSION,
  extensions: ['binary_tensor_data', 'classification'],
};

const errorBody = (message: string): string => JSON.stringify({ error: message });

/** Where the config came from, so it can be read again (runtime/reload.ts). */
export type ConfigSource = {
  file: string;
  /** The file's text at start-up: the baseline a change is measured from. */
  text: string;
  /** The parsed file → config, with the start-up flags and environment. */
  resolve: (file: unknown) => RuntimeConfig;
};

export async function startRuntime(
  config: RuntimeConfig,
  logger: Logger,
  source?: ConfigSource,
): Promise<Runtime> {
  const log = logger;
  let state: State = 'loading';
  let model: LoadedModel | undefined;
  let batcher: Batcher | undefined;
  let batchable = true;
  /** The config in effect: start-up's, with batching changes applied live. */
  let running = config;
  let inFlight = 0;
  let inferInFlight = 0;
  const idleWaiters: (() => void)[] = [];
  const metrics = createMetrics(config.labels, {
    queued: () => batcher?.queued ?? 0,
    inFlight: () => batcher?.inFlight ?? 0,
    requestsInFlight: () => inferInFlight,
    // The batching this pod has taken from its config (live reloads too), also for a model
    // without a batch dimension (which runs unbatched whatever it says): the gauges tell an
    // OptimizationLoop that every pod picked a change up, so they must echo the config.
    batching: () =>
      batcher
        ? { maxBatchSize: running.batching.maxBatchSize, maxDelayMs: running.batching.maxDelayMs }
        : undefined,
  });

  let kafka: KafkaClients | undefined;
  let reqlog: RequestLogger | undefined;
  if (config.kafka) {
    kafka = createKafkaClients({
      brokers: config.kafka.brokers,
      clientId: `ymera-runtime-${config.model.name}`,
      timeoutMs: 5_000,
      logger: log.named('kafka'),
    });
    reqlog = new RequestLogger({
      producer: kafka.producer,
      topic: config.kafka.topic,
      buffer: new LogBuffer({ capacity: config.kafka.bufferSize, sampleRate: config.kafka.sampleRate }),
      logger: log.named('reqlog'),
      onSent: (n) => metrics.logSent(n),
      onDropped: (reason, n) => metrics.logDropped(reason, n),
    });
  }

  const modelInfo = { name: config.model.name, version: config.model.version };

  function findModel(route: { model: string; version: string | undefined }): void {
    if (route.model !== config.model.name) throw new RequestError(404, `model "${route.model}" not found`);
    if (route.version !== undefined && route.version !== config.model.version) {
      throw new RequestError(404, `model "${route.model}" has no version "${route.version}"`);
    }
  }

  function loadedModel(): LoadedModel {
    if (state === 'failed') throw new RequestError(503, 'model failed to load; see the runtime log');
    if (state === 'restarting') throw unavailableForNow('the inference worker is restarting');
    if (!model || state === 'loading') throw unavailableForNow('model is not loaded yet');
    return model;
  }

  /** Validation and the batcher: what HTTP and gRPC requests share once decoded. */
  async function runInfer(decoded: InferRequest): Promise<{ name: string; tensor: HostTensor }[]> {
    const m = loadedModel();
    if (!batcher) throw unavailableForNow('model is not loaded yet');
    const valid = validateRequest(m.signature, decoded);
    const cls = decoded.classification;
    for (const name of cls?.keys() ?? []) {
      const spec = m.signature.outputs.find((o) => o.name === name);
      if (spec) checkClassifiable(spec);
    }
    const out: Tensors = await batcher.submit(valid.inputs, valid.rows ?? 1);
    return valid.outputs.map((name) => {
      const tensor = out[name];
      if (!tensor) throw new Error(`session returned no output "${name}"`);
      const k = cls?.get(name);
      // the classification extension: top K "value:index" per batch row instead of the scores
      return { name, tensor: k ? classify(tensor, k, valid.rows !== undefined) : tensor };
    });
  }

  async function infer(req: IncomingMessage): Promise<InferResult> {
    const body = await readBody(req, config.maxBodyBytes);
    // gzip/deflate bodies: the size limit holds for the inflated bytes too (compression.ts)
    const raw = await decodeBody(body, requestCoding(req.headers['content-encoding']), config.maxBodyBytes);
    loadedModel();
    // The binary tensor data extension: the header says where the JSON ends and the tensors' bytes begin.
    const headerLength = req.headers['inference-header-content-length'];
    let reqJson: string;
    let decoded: InferRequest;
    if (headerLength === undefined) {
      reqJson = raw.toString('utf8');
      decoded = decodeInferRequest(reqJson);
    } else {
      const split = splitBody(raw, headerLength);
      reqJson = split.json;
      decoded = decodeInferRequest(split.json, split.binary);
    }
    const outputs = (await runInfer(decoded)).map((o) => ({ ...o, binary: wantsBinary(decoded, o.name) }));
    const id = decoded.id !== undefined ? { id: decoded.id } : {};
    if (!outputs.some((o) => o.binary)) {
      const body = encodeInferResponse(modelInfo, decoded.id, outputs);
      return { body, reqJson, resJson: body, ...id };
    }
    const r = encodeBinaryInferResponse(modelInfo, decoded.id, outputs);
    return {
      body: r.body,
      headers: {
        'content-type': 'application/octet-stream',
        [HEADER_LENGTH_HEADER]: String(Buffer.byteLength(r.header)),
      },
      reqJson,
      resJson: r.header,
      ...id,
    };
  }

  function logRequest(
    status: number,
    seconds: number,
    reqBody: string | undefined,
    resBody: string,
    id?: string,
  ): void {
    if (!reqlog || !reqlog.sample()) return;
    offerLog(status, seconds, reqBody, resBody, id);
  }

  /**
   * A gRPC ModelInfer in the same log, as JSON; built only when sampled: a decoded request
   * was sampled by captureGrpcRequest (before inference), one that failed to decode here.
   */
  function logGrpc(status: number, seconds: number, call: GrpcCall): void {
    if (!reqlog) return;
    if (call.request ? call.requestJson === undefined : !reqlog.sample()) return;
    try {
      const id = call.request?.id;
      const response = call.outputs
        ? encodeInferResponse(modelInfo, id, call.outputs)
        : errorBody(call.error ?? 'inference failed');
      offerLog(status, seconds, call.requestJson, response, id, 'grpc');
    } catch (e) {
      // logging never fails a request
      log.warn('request log record not built', { error: (e as Error).message });
    }
  }

  function offerLog(
    status: number,
    seconds: number,
    reqBody: string | undefined,
    resBody: string,
    id?: string,
    protocol?: 'grpc',
  ): void {
    if (!reqlog) return;
    try {
      const asJson = (s: string | undefined): string => {
        if (s === undefined) return 'null';
        if (s.length > MAX_LOGGED_BODY) return JSON.stringify({ truncated: true, bytes: s.length });
        try {
          JSON.parse(s); // only splice valid JSON; anything else goes in as a string
          return s;
        } catch {
          return JSON.stringify(s);
        }
      };
      reqlog.offer({
        meta: {
          time: new Date().toISOString(),
          ...config.labels,
          model: config.model.name,
          version: config.model.version,
          ...(id !== undefined ? { id } : {}),
          status,
          durationMs: Math.round(seconds * 1e6) / 1e3,
          ...(protocol ? { protocol } : {}),
        },
        request: asJson(reqBody),
        response: resBody,
      });
    } catch {
      // logging never fails a request
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const match = matchRoute(req.method ?? 'GET', req.url ?? '/');
    if (state === 'draining') res.setHeader('connection', 'close');
    if ('status' in match) {
      if (match.status === 405)
        send(res, 405, errorBody(`method ${req.method} not allowed`), { allow: match.allow });
      else send(res, 404, errorBody(`no route ${req.method} ${req.url}`));
      req.resume();
      return;
    }
    const route: Route = match.route;
    if (route.kind !== 'infer') {
      req.resume();
      try {
        await handleGet(route, res);
      } catch (e) {
        const status = e instanceof RequestError ? e.status : 500;
        send(res, status, errorBody((e as Error).message), retryAfterHeader(e));
      }
      return;
    }
    inferInFlight++;
    let status = 200;
    let body: string | Buffer;
    let headers: Record<string, string> | undefined;
    let reqBody: string | undefined;
    let resJson: string;
    let id: string | undefined;
    try {
      findModel(route);
      const r = await infer(req);
      body = r.body;
      headers = r.headers;
      reqBody = r.reqJson;
      resJson = r.resJson;
      id = r.id;
    } catch (e) {
      if (e instanceof RequestError) {
        status = e.status;
        headers = retryAfterHeader(e);
      } else {
        status = 500;
        log.error('inference failed', { err: e as Error });
      }
      body = errorBody(status === 500 ? `inference failed: ${(e as Error).message}` : (e as Error).message);
      resJson = body;
      if (status === 413) {
        // Do not read a body we refuse; close the connection once answered.
        res.setHeader('connection', 'close');
        req.resume();
      }
    }
    if (state === 'draining') res.setHeader('connection', 'close');
    if (status === 200) {
      // compression is an offer: should it ever fail, the answer goes out as it is
      const gz = await gzipResponse(body, req.headers['accept-encoding']).catch(() => undefined);
      if (gz) {
        body = gz.body;
        headers = { ...headers, ...gz.headers };
      }
    }
    send(res, status, body, headers);
    inferInFlight--;
    const seconds = (performance.now() - started) / 1000;
    metrics.request(status, seconds);
    logRequest(status, seconds, reqBody, resJson, id);
  }

  async function handleGet(route: Exclude<Route, { kind: 'infer' }>, res: ServerResponse): Promise<void> {
    switch (route.kind) {
      case 'server':
        return send(res, 200, JSON.stringify(SERVER_INFO));
      case 'live':
        return send(res, 200, JSON.stringify({ live: true }));
      case 'ready': {
        const ready = state === 'ready';
        return send(res, ready ? 200 : 503, JSON.stringify({ ready, state }));
      }
      case 'metrics': {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
        return;
      }
      case 'model': {
        findModel(route);
        const m = loadedModel();
        return send(
          res,
          200,
          JSON.stringify({
            name: config.model.name,
            versions: [config.model.version],
            platform: 'onnxruntime_onnx',
            inputs: m.signature.inputs,
            outputs: m.signature.outputs,
          }),
        );
      }
      case 'modelReady': {
        findModel(route);
        const ready = state === 'ready';
        return send(
          res,
          ready ? 200 : 503,
          JSON.stringify({ name: config.model.name, version: config.model.version, ready }),
        );
      }
    }
  }

  const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 60_000 }, (req, res) => {
    inFlight++;
    res.on('close', () => {
      // Keep-alive connections that go idle while draining would hold server.close() open.
      if (state === 'draining') setImmediate(() => server.closeIdleConnections());
      inFlight--;
      if (inFlight === 0) for (const w of idleWaiters.splice(0)) w();
    });
    handle(req, res).catch((e: unknown) => {
      log.error('request handler failed', { err: e as Error });
      send(res, 500, errorBody('internal error'));
    });
  });
  server.on('clientError', (err, socket) => {
    // Malformed HTTP: answer 400 when we still can, never crash.
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy(err);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  log.info('listening', { host: config.host, port, model: config.model.name, version: config.model.version });

  let grpcRuntime: GrpcRuntime | undefined;
  if (config.grpcPort !== undefined) {
    try {
      grpcRuntime = await startGrpc({
        host: config.host,
        port: config.grpcPort,
        maxMessageBytes: config.maxBodyBytes,
        model: modelInfo,
        serverInfo: SERVER_INFO,
        findModel,
        ready: () => state === 'ready',
        signature: () => loadedModel().signature,
        infer: runInfer,
        onInfer: (status, seconds, call) => {
          metrics.request(status, seconds);
          logGrpc(status, seconds, call);
        },
        captureRequest: (req) => {
          if (!reqlog || !reqlog.sample()) return undefined;
          try {
            return encodeRequestJson(req);
          } catch {
            return 'null'; // logged without its request rather than not at all
          }
        },
        inFlight: (delta) => {
          inferInFlight += delta;
        },
        log: log.named('grpc'),
      });
    } catch (e) {
      await new Promise<void>((r) => server.close(() => r()));
      throw e;
    }
  }

  // The worker engine after a crash: runs in flight were rejected (503); not ready while a
  // new worker loads the model again, ready after its warm-up; 'failed' is final.
  async function onEngineStatus(status: 'ready' | 'restarting' | 'failed', err?: Error): Promise<void> {
    // Before the first warm-up finished, a crash fails the load itself (below).
    if (state === 'draining' || !model) return;
    if (status === 'restarting') {
      log.error('inference worker crashed; restarting it', { error: err?.message });
      state = 'restarting';
      metrics.setReady(false);
    } else if (status === 'failed') {
      log.error('inference worker failed; not serving', { error: err?.message });
      state = 'failed';
      metrics.setReady(false);
    } else {
      try {
        await model.run(zeroInputs(model.signature));
      } catch {
        return; // crashed again: its own status change follows
      }
      if (state === 'restarting') {
        state = 'ready';
        metrics.setReady(true);
        log.info('inference worker restarted; ready');
      }
    }
  }

  const loaded = (async () => {
    const t0 = performance.now();
    let m: LoadedModel | undefined;
    try {
      m = await loadModel(config.model.uri, {
        ...(config.model.sha256 ? { sha256: config.model.sha256 } : {}),
        ...(config.threads ? { threads: config.threads } : {}),
        executionProvider: config.executionProvider,
        inferenceThread: config.inferenceThread,
        onStatus: (status, err) => void onEngineStatus(status, err),
      });
      batchable = isBatchable(m.signature);
      batcher = new Batcher({
        run: m.run,
        // A model without a dynamic batch dimension runs each request on its own.
        maxBatchSize: batchable ? running.batching.maxBatchSize : 1,
        maxDelayMs: batchable ? running.batching.maxDelayMs : 0,
        maxConcurrentBatches: config.batching.maxConcurrentBatches,
        onBatch: (rows, n) => metrics.batch(rows, n),
      });
      // Warm-up: the first run allocates and plans; do it before taking traffic.
      await m.run(zeroInputs(m.signature));
      model = m;
      const seconds = (performance.now() - t0) / 1000;
      metrics.loaded(seconds);
      if (state === 'loading') {
        state = 'ready';
        metrics.setReady(true);
      }
      log.info('model ready', {
        model: config.model.name,
        version: config.model.version,
        uri: config.model.uri,
        sha256: m.sha256,
        bytes: m.bytes,
        loadSeconds: Math.round(seconds * 1000) / 1000,
        batchable,
        batching: running.batching,
        inferenceThread: m.inferenceThread,
        executionProvider: config.executionProvider,
        inputs: m.signature.inputs,
        outputs: m.signature.outputs,
      });
    } catch (e) {
      if (state === 'loading') state = 'failed';
      if (!model) await m?.close().catch(() => undefined);
      const reason = e instanceof ModelLoadError ? e.reason : 'LoadFailed';
      log.error('model load failed; not serving', {
        reason,
        uri: config.model.uri,
        error: (e as Error).message,
      });
      throw e;
    }
  })();
  loaded.catch(() => undefined);

  /** A new config file: batching applies live (or when the model loads), the rest waits for a restart. */
  function onConfigText(text: string): void {
    const plan = planReload(running, text, source?.resolve ?? (() => running));
    if (plan.kind === 'malformed') {
      log.warn('config file change ignored: it cannot be used; the settings in effect stay', {
        file: source?.file,
        error: plan.error,
      });
      return;
    }
    if (plan.ignored.length > 0)
      log.warn('config file changes ignored until a restart (only batching changes live)', {
        file: source?.file,
        ignored: plan.ignored,
      });
    if (!plan.batching) return;
    const previous = { maxBatchSize: running.batching.maxBatchSize, maxDelayMs: running.batching.maxDelayMs };
    running = { ...running, batching: { ...running.batching, ...plan.batching } };
    if (!batchable) {
      log.info(
        'batching change recorded; the model has no batch dimension, so each request still runs alone',
        {
          batching: plan.batching,
        },
      );
      return;
    }
    // Before the model is loaded, the Batcher is built from `running`.
    batcher?.setLimits(plan.batching);
    log.info('batching changed live', { previous, batching: plan.batching });
  }
  const watcher =
    source && config.configPollMs > 0
      ? watchConfigFile({
          file: source.file,
          intervalMs: config.configPollMs,
          initial: source.text,
          onChange: onConfigText,
          onError: (e) =>
            log.warn('config file unreadable; the settings in effect stay', {
              file: source.file,
              error: e.message,
            }),
        })
      : undefined;

  let shuttingDown: Promise<boolean> | undefined;
  function shutdown(): Promise<boolean> {
    shuttingDown ??= (async () => {
      state = 'draining';
      watcher?.stop();
      metrics.setReady(false);
      log.info('draining', { inFlight, queued: batcher?.queued ?? 0 });
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const work = (async () => {
        // Flush the batcher first: queued requests are what in-flight HTTP requests wait on.
        const batches = batcher?.drain();
        const grpcDrained = grpcRuntime?.drain();
        if (inFlight > 0) await new Promise<void>((r) => idleWaiters.push(r));
        await batches;
        await grpcDrained;
        await closed;
      })();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finished = await Promise.race([
        work.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), config.drainTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (!finished) {
        server.closeAllConnections();
        grpcRuntime?.forceClose();
      }
      // After the drain: release the session / terminate the inference worker.
      await model?.close().catch(() => undefined);
      await reqlog?.close(Math.min(5_000, config.drainTimeoutMs));
      await kafka?.close();
      log.info('drained', { finished });
      return finished;
    })();
    return shuttingDown;
  }

  return { server, port, ...(grpcRuntime ? { grpcPort: grpcRuntime.port } : {}), loaded, shutdown };
}

async function main(argv: readonly string[]): Promise<void> {
  const boot = createLogger({ name: 'ymera-runtime' });
  let config: RuntimeConfig;
  let source: ConfigSource | undefined;
  try {
    const flags = parseFlags(argv);
    const text = flags.config ? readFileSync(flags.config, 'utf8') : undefined;
    const file = text !== undefined ? (JSON.parse(text) as unknown) : undefined;
    config = resolveConfig(file, flags, process.env);
    if (flags.config && text !== undefined)
      source = { file: flags.config, text, resolve: (f) => resolveConfig(f, flags, process.env) };
  } catch (e) {
    boot.error('invalid configuration', { error: (e as Error).message });
    process.exit(2);
  }
  const logger = createLogger({ name: 'ymera-runtime', level: config.logLevel });
  const runtime = await startRuntime(config, logger, source);
  runtime.loaded.catch(async (e: unknown) => {
    if (config.onLoadFailure !== 'exit') return;
    // Exit so the kubelet reports it (and restarts: a retry for a transient fetch error);
    // the termination message tells the controller why, on the first failed start.
    const reason = e instanceof ModelLoadError ? e.reason : 'LoadFailed';
    const written = writeTerminationMessage(
      config.terminationLog,
      loadFailureMessage(reason, (e as Error).message),
    );
    logger.error('exiting: the model cannot be loaded', {
      reason,
      exitCode: LOAD_FAILED_EXIT_CODE,
      ...(written ? { terminationLog: config.terminationLog } : {}),
    });
    await runtime.shutdown();
    process.exit(LOAD_FAILED_EXIT_CODE);
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info('signal received', { signal });
      void runtime.shutdown().then((ok) => process.exit(ok ? 0 : 1));
    });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    createLogger({ name: 'ymera-runtime' }).error('runtime failed', { err: e as Error });
    process.exit(1);
  });
}
