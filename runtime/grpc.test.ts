import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../operator/logger.ts';
import { RequestError } from './errors.ts';
import { PROTO_PATH, startGrpc } from './grpc.ts';
import type { GrpcRuntime } from './grpc.ts';
import type { HostTensor } from './tensor.ts';

// The real grpc-js server and client over loopback; the runtime's model side is plain functions.
type Call = (req: object, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;

describe('startGrpc', () => {
  let rt: GrpcRuntime;
  let client: grpc.Client & Record<string, Call>;
  let ready = false;
  const answered: number[] = [];
  let inFlight = 0;

  const call = (method: string, req: object) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      (client[method] as Call).call(client, req, (err, res) => (err ? reject(err) : resolve(res)));
    });
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'OK',
      (e: grpc.ServiceError) => `${grpc.status[e.code]}: ${e.details}`,
    );

  beforeAll(async () => {
    rt = await startGrpc({
      host: '127.0.0.1',
      port: 0,
      maxMessageBytes: 4096,
      model: { name: 'm', version: '1' },
      serverInfo: { name: 'ymera-runtime', version: '0.1.0', extensions: [] },
      findModel: (r) => {
        if (r.model !== 'm') throw new RequestError(404, `model "${r.model}" not found`);
      },
      ready: () => ready,
      signature: () => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }], outputs: [] }),
      infer: (req) => {
        if (!ready) return Promise.reject(new RequestError(503, 'model is not loaded yet'));
        const x = req.inputs[0];
        // y = 2x, as a model would
        const y: HostTensor = {
          type: 'float32',
          dims: x?.shape ?? [],
          data: Float32Array.from(x?.data as Float32Array, (v) => 2 * v),
        };
        return Promise.resolve([{ name: 'y', tensor: y }]);
      },
      onInfer: (status) => answered.push(status),
      captureRequest: () => undefined,
      inFlight: (d) => (inFlight += d),
      log: createLogger({ name: 'test', level: 'error' }),
    });
    const def = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      inference: { GRPCInferenceService: grpc.ServiceClientConstructor };
    };
    client = new pkg.inference.GRPCInferenceService(
      `127.0.0.1:${rt.port}`,
      grpc.credentials.createInsecure(),
    ) as grpc.Client & Record<string, Call>;
  });
  afterAll(async () => {
    client?.close();
    await rt?.drain();
  });

  it('answers health and metadata; not ready -> ServerReady false, ModelInfer UNAVAILABLE', async () => {
    expect(await call('ServerLive', {})).toEqual({ live: true });
    expect(await call('ServerReady', {})).toEqual({ ready: false });
    const req = {
      model_name: 'm',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }],
    };
    expect(await code(call('ModelInfer', req))).toBe('UNAVAILABLE: model is not loaded yet');
    ready = true;
    expect(await call('ServerReady', {})).toEqual({ ready: true });
    expect(await call('ModelReady', { name: 'm' })).toEqual({ ready: true });
    expect(await code(call('ModelReady', { name: 'other' }))).toBe('NOT_FOUND: model "other" not found');
    const meta = await call('ModelMetadata', { name: 'm', version: '1' });
    expect(meta).toMatchObject({ name: 'm', versions: ['1'], platform: 'onnxruntime_onnx' });
    expect(meta.inputs).toEqual([{ name: 'x', datatype: 'FP32', shape: ['-1', '2'] }]);
    expect(await call('ServerMetadata', {})).toEqual({
      name: 'ymera-runtime',
      version: '0.1.0',
      extensions: [],
    });
  });

  it('ModelInfer: typed and raw inputs, raw outputs; bad input INVALID_ARGUMENT; metrics see each', async () => {
    ready = true;
    answered.length = 0;
    const typed = await call('ModelInfer', {
      model_name: 'm',
      id: 'a',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], contents: { fp32_contents: [1, 2] } }],
    });
    expect(typed).toMatchObject({ model_name: 'm', model_version: '1', id: 'a' });
    expect(typed.outputs).toMatchObject([{ name: 'y', datatype: 'FP32', shape: ['1', '2'] }]);
    const [out] = typed.raw_output_contents as Buffer[];
    expect(Array.from(new Float32Array(Uint8Array.from(out ?? []).buffer))).toEqual([2, 4]);
    const raw = await call('ModelInfer', {
      model_name: 'm',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }],
      raw_input_contents: [Buffer.from(Float32Array.from([3]).buffer)],
    });
    const [rout] = raw.raw_output_contents as Buffer[];
    expect(Array.from(new Float32Array(Uint8Array.from(rout ?? []).buffer))).toEqual([6]);
    expect(
      await code(
        call('ModelInfer', { model_name: 'm', inputs: [{ name: 'x', datatype: 'FP9', shape: [1] }] }),
      ),
    ).toBe('INVALID_ARGUMENT: input "x": unknown datatype "FP9"');
    expect(await code(call('ModelInfer', { model_name: 'n', inputs: [] }))).toBe(
      'NOT_FOUND: model "n" not found',
    );
    expect(answered).toEqual([200, 200, 400, 404]);
    expect(inFlight).toBe(0);
  });

  it('refuses a message above the body limit with RESOURCE_EXHAUSTED and keeps serving', async () => {
    ready = true;
    const big = {
      model_name: 'm',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }],
      raw_input_contents: [Buffer.alloc(8192)],
    };
    expect(await code(call('ModelInfer', big))).toMatch(/^RESOURCE_EXHAUSTED/);
    expect(await call('ServerLive', {})).toEqual({ live: true });
  });

  it('answers bytes protobuf cannot decode INVALID_ARGUMENT (a client error), not INTERNAL', async () => {
    ready = true;
    const raw = (bytes: Buffer) =>
      code(
        new Promise((resolve, reject) => {
          client.makeUnaryRequest(
            '/inference.GRPCInferenceService/ModelInfer',
            (b: Buffer) => b,
            (b: Buffer) => b,
            bytes,
            (err, res) => (err ? reject(err) : resolve(res)),
          );
        }),
      );
    // a field tag with wire type 7, which protobuf does not have; a varint that never ends
    expect(await raw(Buffer.from([0x0f]))).toMatch(/^INVALID_ARGUMENT: malformed ModelInferRequest/);
    expect(await raw(Buffer.alloc(12, 0xff))).toMatch(/^INVALID_ARGUMENT: malformed ModelInferRequest/);
    expect(await call('ServerLive', {})).toEqual({ live: true });
  });
});
