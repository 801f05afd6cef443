// The v2 protocol over gRPC: inference.GRPCInferenceService
// (proto/grpc_predict_v2.proto, KServe's) on @grpc/grpc-js. The handlers only
// translate: the model checks, validation, batcher and metrics are the HTTP
// server's (server.ts hands them in), so both protocols answer alike.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from '../operator/logger.ts';
import type { InferRequest } from './codec.ts';
import { RequestError, badRequest } from './errors.ts';
import { decodeGrpcInferRequest, encodeGrpcInferResponse, grpcStatusOf } from './grpc-codec.ts';
import type { GrpcInferRequest } from './grpc-codec.ts';
import type { HostTensor } from './tensor.ts';
import type { TensorSpec } from './validate.ts';

export const PROTO_PATH = fileURLToPath(new URL('./proto/grpc_predict_v2.proto', import.meta.url));
export const SERVICE_NAME = 'inference.GRPCInferenceService';

/** What one ModelInfer call came to, for the request log. */
export type GrpcCall = {
  request?: InferRequest;
  /** What captureRequest returned for the decoded request. */
  requestJson?: string;
  outputs?: { name: string; tensor: HostTensor }[];
  error?: string;
};

export type GrpcDeps = {
  host: string;
  port: number;
  /** The HTTP body limit: the largest request message accepted. */
  maxMessageBytes: number;
  model: { name: string; version: string };
  serverInfo: { name: string; version: string; extensions: string[] };
  /** Throws RequestError(404) for another model or version. */
  findModel(route: { model: string; version: string | undefined }): void;
  ready(): boolean;
  /** The model's metadata; throws RequestError(503) while it is not loaded. */
  signature(): { inputs: TensorSpec[]; outputs: TensorSpec[] };
  /** Validates and runs a request through the shared batcher. */
  infer(req: InferRequest): Promise<{ name: string; tensor: HostTensor }[]>;
  /**
   * Counts (and logs) an answered ModelInfer: the HTTP status it would have had, its latency,
   * the decoded request when it got that far, and the outputs or the error message.
   */
  onInfer(status: number, seconds: number, call: GrpcCall): void;
  /**
   * The decoded request as the log records it, or undefined when this call is not logged;
   * taken before inference, which may hand the input buffers to the worker thread.
   */
  captureRequest(req: InferRequest): string | undefined;
  inFlight(delta: 1 | -1): void;
  log: Logger;
};

export type GrpcRuntime = {
  server: grpc.Server;
  port: number;
  /** Stops taking calls and resolves when the ones in flight are answered. */
  drain(): Promise<void>;
  forceClose(): void;
};

export function loadServiceDefinition(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(PROTO_PATH, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    inference: { GRPCInferenceService: grpc.ServiceClientConstructor };
  };
  return pkg.inference.GRPCInferenceService.service;
}

const UNDECODABLE = Symbol('undecodable');

/**
 * The service with a ModelInfer request deserializer that does not throw: bytes
 * protobuf cannot decode become a marker the handler answers INVALID_ARGUMENT
 * (grpc-js answers a throwing deserializer INTERNAL, as if the server failed).
 */
export function tolerantModelInfer(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const infer = service.ModelInfer;
  if (!infer) return service;
  const deserialize = infer.requestDeserialize;
  const tolerant = (bytes: Buffer): unknown => {
    try {
      return deserialize(bytes);
    } catch (e) {
      return { [UNDECODABLE]: (e as Error).message };
    }
  };
  return { ...service, ModelInfer: { ...infer, requestDeserialize: tolerant } };
}

/** Throws RequestError(400) for a ModelInfer request protobuf could not decode (see tolerantModelInfer). */
export function checkDecoded(msg: object): void {
  if (UNDECODABLE in msg) {
    throw badRequest(
      `malformed ModelInferRequest: ${String((msg as { [UNDECODABLE]: unknown })[UNDECODABLE])}`,
    );
  }
}

function toServiceError(e: unknown, log: Logger): Partial<grpc.ServiceError> {
  if (e instanceof RequestError) return { code: grpcStatusOf(e.status), details: e.message };
  log.error('inference failed', { err: e as Error });
  return { code: grpc.status.INTERNAL, details: `inference failed: ${(e as Error).message}` };
}

type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => void;

export async function startGrpc(deps: GrpcDeps): Promise<GrpcRuntime> {
  const { log } = deps;
  const modelRoute = (r: { name?: string; version?: string }) => ({
    model: r.name ?? '',
    version: r.version ? r.version : undefined,
  });
  // Answers a unary call from a function that returns the response or throws.
  const unary =
    <Req, Res>(fn: (req: Req) => Res | Promise<Res>): Unary<Req, Res> =>
    (call, callback) => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then(
          (res) => callback(null, res),
          (e: unknown) => callback(toServiceError(e, log)),
        );
    };

  const handlers: grpc.UntypedServiceImplementation = {
    ServerLive: unary(() => ({ live: true })),
    ServerReady: unary(() => ({ ready: deps.ready() })),
    ServerMetadata: unary(() => deps.serverInfo),
    ModelReady: unary((r: { name?: string; version?: string }) => {
      deps.findModel(modelRoute(r));
      return { ready: deps.ready() };
    }),
    ModelMetadata: unary((r: { name?: string; version?: string }) => {
      deps.findModel(modelRoute(r));
      const sig = deps.signature();
      return {
        name: deps.model.name,
        versions: [deps.model.version],
        platform: 'onnxruntime_onnx',
        inputs: sig.inputs,
        outputs: sig.outputs,
      };
    }),
    ModelInfer: (
      call: grpc.ServerUnaryCall<GrpcInferRequest, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      const started = performance.now();
      deps.inFlight(1);
      const seen: GrpcCall = {};
      const done = (status: number): void => {
        deps.inFlight(-1);
        deps.onInfer(status, (performance.now() - started) / 1000, seen);
      };
      (async () => {
        const msg = call.request;
        checkDecoded(msg);
        deps.findModel({ model: msg.model_name ?? '', version: msg.model_version || undefined });
        const req = decodeGrpcInferRequest(msg);
        seen.request = req;
        seen.requestJson = deps.captureRequest(req);
        const outputs = await deps.infer(req);
        seen.outputs = outputs;
        return encodeGrpcInferResponse(deps.model, req.id, outputs);
      })().then(
        (res) => {
          callback(null, res);
          done(200);
        },
        (e: unknown) => {
          const err = toServiceError(e, log);
          callback(err);
          seen.error = err.details;
          done(e instanceof RequestError ? e.status : 500);
        },
      );
    },
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': deps.maxMessageBytes,
    'grpc.max_send_message_length': -1,
  });
  server.addService(tolerantModelInfer(loadServiceDefinition()), handlers);
  const host = deps.host.includes(':') ? `[${deps.host}]` : deps.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${deps.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    );
  });
  log.info('grpc listening', { host: deps.host, port, service: SERVICE_NAME });
  return {
    server,
    port,
    drain: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
    forceClose: () => server.forceShutdown(),
  };
}
