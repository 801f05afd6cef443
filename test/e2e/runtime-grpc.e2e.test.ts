// The runtime's v2 gRPC endpoint (inference.GRPCInferenceService) as a real
// process, called by tritonclient.grpc from PyPI with its defaults (inputs as
// raw_input_contents, outputs read from raw_output_contents; virtualenv from
// test/e2e/clients/requirements.txt, cached per machine). Answers are checked
// against the TypeScript reference of the fraud model, every datatype
// round-trips through echo.onnx, gRPC and HTTP requests share one batcher,
// malformed requests get INVALID_ARGUMENT without harm, and SIGTERM drains both.
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Runtime } from './clients/harness.ts';
import {
  clientsPython,
  expectClasses,
  killRuntimes,
  runClientScript,
  startRuntime as startProcess,
} from './clients/harness.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ECHO_MODEL,
  FRAUD_MODEL,
  featureRows,
  fraudReference,
} from '../../runtime/models/fraud-reference.ts';
import { PROTO_PATH } from '../../runtime/grpc.ts';
import { createKafkaClients, readTopic } from '../../operator/kafka/platformatic.ts';

const TOLERANCE = 1e-5;

afterAll(killRuntimes);

// every runtime of this file serves gRPC beside HTTP
type GrpcRuntime = Runtime & { grpcTarget: string };
async function startRuntime(flags: string[]): Promise<GrpcRuntime> {
  const rt = await startProcess(flags, { grpc: true });
  if (!rt.grpcTarget) throw new Error('the runtime was started without a gRPC port');
  return { ...rt, grpcTarget: rt.grpcTarget };
}

let python: string;
beforeAll(() => {
  python = clientsPython();
}, 600_000);

function runClient(
  mode: 'fraud' | 'echo',
  rt: GrpcRuntime,
  model: string,
  stdin = '',
): Promise<Record<string, unknown>> {
  return runClientScript(python, 'v2_grpc_client.py', [mode, rt.grpcTarget, model], rt, stdin);
}

function expectReference(rows: number[][], values: number[][]): void {
  expect(values).toHaveLength(rows.length);
  rows.forEach((row, i) => {
    const [p0, p1] = fraudReference(row);
    expect(Math.abs(values[i]![0]! - p0)).toBeLessThan(TOLERANCE);
    expect(Math.abs(values[i]![1]! - p1)).toBeLessThan(TOLERANCE);
  });
}

type ClientTensor = { header: Record<string, unknown>; values: number[][] };

// grpc-js's own client, for load beside HTTP (the Python client runs one call at a time).
type InferCall = (
  req: object,
  cb: (err: grpc.ServiceError | null, res: { id: string; raw_output_contents: Buffer[] }) => void,
) => void;
function grpcClient(target: string): grpc.Client & { ModelInfer: InferCall } {
  const def = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    inference: { GRPCInferenceService: grpc.ServiceClientConstructor };
  };
  return new pkg.inference.GRPCInferenceService(
    target,
    grpc.credentials.createInsecure(),
  ) as unknown as grpc.Client & {
    ModelInfer: InferCall;
  };
}

async function batchCounts(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^ymera_inference_batch_size_count(?:\{[^}]*\})? (\S+)$/m.exec(text);
  return Number(m?.[1] ?? 0);
}

async function requestCount(url: string, code: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^ymera_inference_requests_total\\{[^}]*code="${code}"[^}]*\\} (\\S+)$`, 'm').exec(
    text,
  );
  return Number(m?.[1] ?? 0);
}

describe('tritonclient.grpc against the fraud model', () => {
  let rt: GrpcRuntime;
  let res: Record<string, unknown>;
  const rows = featureRows(5, 23);
  beforeAll(async () => {
    rt = await startRuntime([
      '--model',
      pathToFileURL(FRAUD_MODEL).href,
      '--max-batch-size',
      '32',
      '--max-delay-ms',
      '5',
      '--max-body-bytes',
      String(64 * 1024),
    ]);
    res = await runClient('fraud', rt, 'fraud', JSON.stringify(rows));
  });

  it('health and metadata over gRPC', () => {
    expect(res).toMatchObject({ live: true, ready: true, model_ready: true });
    expect(res.server).toMatchObject({ name: 'ymera-runtime', version: '0.1.0' });
    expect(res.model).toMatchObject({
      name: 'fraud',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: ['-1', '8'] }],
    });
  });

  it('tritonclient.grpc with its defaults (raw in, raw out), sync and aio: the reference answers and the id', () => {
    for (const key of ['triton_default', 'triton_requested', 'triton_aio_default']) {
      const t = res[key] as ClientTensor;
      expect(t.header, key).toMatchObject({
        name: 'probabilities',
        datatype: 'FP32',
        shape: [String(rows.length), '2'],
      });
      expectReference(rows, t.values);
    }
    expect(res.triton_id).toBe('req-9');
  });

  it('tritonclient.grpc class_count (classification extension): top-2 "value:index" BYTES per row', () => {
    const c = res.triton_classes as { header: Record<string, unknown>; values: string[][] };
    expect(c.header).toMatchObject({
      name: 'probabilities',
      datatype: 'BYTES',
      shape: [String(rows.length), '2'],
    });
    expectClasses(rows, 2, c.values);
  });

  it('typed contents (fp32_contents) give the same answers', () => {
    const typed = res.typed as { shape: number[]; values: number[][] };
    expect(typed.shape).toEqual([rows.length, 2]);
    expectReference(rows, typed.values);
  });

  it("errors reach the client with the gRPC status and the runtime's message; it keeps serving", () => {
    expect(res.triton_error).toEqual({
      status: 'StatusCode.INVALID_ARGUMENT',
      message: 'input "features": datatype FP64 does not match the model\'s FP32',
    });
    expect(res.triton_not_found).toEqual({
      status: 'StatusCode.NOT_FOUND',
      message: 'model "nope" not found',
    });
    const m = res.malformed as Record<string, { status: string; message: string }>;
    expect(m.raw_short).toMatchObject({
      status: 'StatusCode.INVALID_ARGUMENT',
      message: expect.stringMatching(
        /^input "features": binary_data_size is 156 bytes, but shape \[5, 8\] of FP32 needs 160/,
      ),
    });
    expect(m.shape_mismatch).toMatchObject({
      status: 'StatusCode.INVALID_ARGUMENT',
      message: expect.stringMatching(/input "features"/),
    });
    expect(m.no_inputs).toEqual({
      status: 'StatusCode.INVALID_ARGUMENT',
      message: '"inputs" must be a non-empty list',
    });
    expectReference(rows, res.after_malformed as number[][]);
    expect(rt.child.exitCode).toBeNull();
  });

  it('gRPC and HTTP requests share one batcher and count in the same metrics', async () => {
    const before = await batchCounts(rt.url);
    const okBefore = await requestCount(rt.url, '200');
    const client = grpcClient(rt.grpcTarget);
    const n = 64;
    const all = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const r = featureRows(1 + (i % 3), 700 + i);
        if (i % 2 === 0) {
          const out = await new Promise<{ id: string; raw_output_contents: Buffer[] }>((resolve, reject) =>
            client.ModelInfer(
              {
                model_name: 'fraud',
                id: `g${i}`,
                inputs: [{ name: 'features', datatype: 'FP32', shape: [r.length, 8] }],
                raw_input_contents: [Buffer.from(Float32Array.from(r.flat()).buffer)],
              },
              (err, v) => (err ? reject(err) : resolve(v)),
            ),
          );
          const bytes = out.raw_output_contents[0]!;
          return {
            rows: r,
            id: out.id,
            values: Array.from({ length: bytes.length / 4 }, (_, k) => bytes.readFloatLE(4 * k)),
          };
        }
        const resp = await fetch(`${rt.url}/v2/models/fraud/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            id: `h${i}`,
            inputs: [{ name: 'features', shape: [r.length, 8], datatype: 'FP32', data: r }],
          }),
        });
        expect(resp.status).toBe(200);
        const json = (await resp.json()) as { id: string; outputs: { data: number[] }[] };
        return { rows: r, id: json.id, values: json.outputs[0]!.data };
      }),
    );
    client.close();
    all.forEach((a, i) => {
      expect(a.id).toBe(i % 2 === 0 ? `g${i}` : `h${i}`);
      a.rows.forEach((row, k) => {
        const [p0, p1] = fraudReference(row);
        expect(Math.abs(a.values[2 * k]! - p0)).toBeLessThan(TOLERANCE);
        expect(Math.abs(a.values[2 * k + 1]! - p1)).toBeLessThan(TOLERANCE);
      });
    });
    expect((await batchCounts(rt.url)) - before).toBeLessThan(n); // some runs held more than one request
    expect((await requestCount(rt.url, '200')) - okBefore).toBe(n);
  });

  it('a message over the body limit is refused (RESOURCE_EXHAUSTED) and SIGTERM drains both servers, exit 0', async () => {
    const client = grpcClient(rt.grpcTarget);
    const big = featureRows(3000, 1);
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.ModelInfer(
        {
          model_name: 'fraud',
          inputs: [{ name: 'features', datatype: 'FP32', shape: [big.length, 8] }],
          raw_input_contents: [Buffer.from(Float32Array.from(big.flat()).buffer)],
        },
        (e) => resolve(e),
      ),
    );
    client.close();
    expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const exited = new Promise<number | null>((resolve) => rt.child.once('exit', (code) => resolve(code)));
    rt.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(rt.logs()).toMatch(/"msg":"drained".*"finished":true/);
  });
});

describe('gRPC requests in the Kafka request log', () => {
  it('logs each ModelInfer like an HTTP request (JSON request and response, id, status), marked grpc', async () => {
    const brokers = (process.env.YMERA_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
    const topic = `ymera-e2e-grpc-log-${randomUUID().slice(0, 8)}`;
    const kafka = createKafkaClients({ brokers, clientId: 'ymera-e2e-grpc-log', timeoutMs: 10_000 });
    try {
      await kafka.admin.createTopic({ name: topic, partitions: 1 });
      const rt = await startRuntime([
        '--model',
        pathToFileURL(FRAUD_MODEL).href,
        '--kafka-brokers',
        brokers.join(','),
        '--kafka-topic',
        topic,
        '--kafka-sample-rate',
        '1',
      ]);
      const client = grpcClient(rt.grpcTarget);
      const call = (req: object) =>
        new Promise<grpc.ServiceError | null>((resolve) => client.ModelInfer(req, (e) => resolve(e)));
      const rows = featureRows(2, 31);
      for (let i = 0; i < rows.length; i++) {
        const err = await call({
          model_name: 'fraud',
          id: `glog-${i}`,
          inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 8] }],
          raw_input_contents: [Buffer.from(Float32Array.from(rows[i]!).buffer)],
        });
        expect(err).toBeNull();
      }
      const bad = await call({
        model_name: 'fraud',
        id: 'glog-bad',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 3] }],
        raw_input_contents: [Buffer.from(Float32Array.from([1, 2, 3]).buffer)],
      });
      expect(bad?.code).toBe(grpc.status.INVALID_ARGUMENT);
      client.close();
      const messages = await readTopic({ brokers, topic, count: 3, timeoutMs: 20_000 });
      expect(messages.map((m) => m.key)).toEqual(['glog-0', 'glog-1', 'glog-bad']);
      type Logged = {
        protocol?: string;
        status: number;
        id?: string;
        request: { inputs: { name: string; datatype: string; shape: number[]; data: number[] }[] };
        response: { outputs?: { name: string; datatype: string; data: number[] }[]; error?: string };
      };
      const values = messages.map((m) => JSON.parse(m.value) as Logged);
      values.slice(0, 2).forEach((v, i) => {
        expect(v).toMatchObject({
          protocol: 'grpc',
          model: 'fraud',
          version: '1',
          id: `glog-${i}`,
          status: 200,
        });
        expect(v.request.inputs[0]).toMatchObject({ name: 'features', datatype: 'FP32', shape: [1, 8] });
        v.request.inputs[0]!.data.forEach((x, k) => expect(x).toBeCloseTo(rows[i]![k]!, 5));
        const out = v.response.outputs![0]!;
        expect(out).toMatchObject({ name: 'probabilities', datatype: 'FP32' });
        expectReference([rows[i]!], [out.data]);
      });
      expect(values[2]).toMatchObject({
        protocol: 'grpc',
        id: 'glog-bad',
        status: 400,
        response: { error: expect.stringMatching(/shape/) },
      });
    } finally {
      await kafka.admin.deleteTopic(topic).catch(() => undefined);
      await kafka.close();
    }
  });
});

describe('every datatype through tritonclient.grpc (echo.onnx)', () => {
  let res: Record<string, { same: boolean; header: Record<string, unknown> }>;
  beforeAll(async () => {
    const rt = await startRuntime(['--model', pathToFileURL(ECHO_MODEL).href]);
    res = (await runClient('echo', rt, 'echo')) as typeof res;
  });

  it('raw_input_contents in, raw_output_contents out: every datatype byte for byte', () => {
    expect(Object.keys(res).sort()).toEqual(
      [
        'BOOL',
        'UINT8',
        'UINT16',
        'UINT32',
        'UINT64',
        'INT8',
        'INT16',
        'INT32',
        'INT64',
        'FP16',
        'FP32',
        'FP64',
        'BYTES',
      ].sort(),
    );
    for (const [dt, r] of Object.entries(res)) {
      expect(r.same, dt).toBe(true);
      expect(r.header, dt).toMatchObject({ datatype: dt, shape: ['2', '3'] });
    }
  });
});
