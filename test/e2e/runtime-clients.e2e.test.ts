// The runtime as a real process, called by the real v2 clients from PyPI
// (tritonclient[http] and kserve's InferenceRESTClient, in a virtualenv built
// from test/e2e/clients/requirements.txt and cached per machine): their
// defaults use the binary tensor data extension. Answers are checked against
// the TypeScript reference of the fraud model, every datatype round-trips
// through echo.onnx, binary and JSON requests share one batcher, and
// malformed binary bodies get 400s without harm.
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import type { Runtime } from './clients/harness.ts';
import {
  clientsPython,
  expectClasses,
  killRuntimes,
  runClientScript,
  startRuntime,
} from './clients/harness.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ECHO_MODEL,
  FRAUD_MODEL,
  featureRows,
  fraudReference,
} from '../../runtime/models/fraud-reference.ts';

const TOLERANCE = 1e-5;

afterAll(killRuntimes);

let python: string;
beforeAll(() => {
  python = clientsPython();
}, 600_000);

function runClients(
  mode: 'fraud' | 'echo',
  rt: Runtime,
  model: string,
  stdin = '',
): Promise<Record<string, unknown>> {
  return runClientScript(python, 'v2_clients.py', [mode, rt.hostPort, model], rt, stdin);
}

type ClientTensor = { header: Record<string, unknown>; values: number[][]; binary_response?: boolean };

function expectReference(rows: number[][], t: ClientTensor): void {
  expect(t.header).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [rows.length, 2] });
  expect(t.values).toHaveLength(rows.length);
  rows.forEach((row, i) => {
    const [p0, p1] = fraudReference(row);
    expect(Math.abs(t.values[i]![0]! - p0)).toBeLessThan(TOLERANCE);
    expect(Math.abs(t.values[i]![1]! - p1)).toBeLessThan(TOLERANCE);
  });
}

// --- raw binary requests (what a client library builds), for the cases no client sends ---

type RawResponse = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

function post(
  url: string,
  body: Buffer,
  headers: Record<string, string>,
  agent?: http.Agent,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v2/models/fraud/infer`, { method: 'POST', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A binary request of `rows`, the output asked for as binary; and its header length. */
function binaryRequest(rows: number[][], id: string): { body: Buffer; headers: Record<string, string> } {
  const data = Buffer.from(Float32Array.from(rows.flat()).buffer);
  const header = Buffer.from(
    JSON.stringify({
      id,
      inputs: [
        {
          name: 'features',
          shape: [rows.length, 8],
          datatype: 'FP32',
          parameters: { binary_data_size: data.length },
        },
      ],
      outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
    }),
  );
  return {
    body: Buffer.concat([header, data]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    },
  };
}

/** The probabilities of a binary response, checked against its JSON header. */
function binaryProbabilities(r: RawResponse): { id: unknown; values: number[] } {
  const n = Number(r.headers['inference-header-content-length']);
  const header = JSON.parse(r.body.subarray(0, n).toString()) as {
    id: unknown;
    outputs: { parameters: { binary_data_size: number } }[];
  };
  const bytes = r.body.subarray(n);
  expect(bytes.length).toBe(header.outputs[0]!.parameters.binary_data_size);
  const values = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(4 * i));
  return { id: header.id, values };
}

describe.each(['worker', 'main'] as const)(
  'real v2 clients against the fraud model (inference thread %s)',
  (thread) => {
    let rt: Runtime;
    let res: Record<string, unknown>;
    const rows = featureRows(5, 17);
    beforeAll(async () => {
      rt = await startRuntime([
        '--model',
        pathToFileURL(FRAUD_MODEL).href,
        '--inference-thread',
        thread,
        '--max-batch-size',
        '32',
        '--max-delay-ms',
        '5',
        '--max-body-bytes',
        String(64 * 1024),
      ]);
      res = await runClients('fraud', rt, 'fraud', JSON.stringify(rows));
    });

    it('the server metadata names the binary_tensor_data and classification extensions', () => {
      expect(res.server).toMatchObject({
        name: 'ymera-runtime',
        extensions: ['binary_tensor_data', 'classification'],
      });
    });

    it('tritonclient.http with its defaults: binary input, every output binary (binary_data_output)', () => {
      const t = res.triton_default as ClientTensor;
      expect(t.header.parameters).toEqual({ binary_data_size: rows.length * 2 * 4 });
      expectReference(rows, t);
      expectReference(rows, res.triton_aio_default as ClientTensor);
    });

    it("tritonclient.http: InferRequestedOutput's default (binary), JSON when asked, the request id", () => {
      const requested = res.triton_requested as ClientTensor;
      expect(requested.header.parameters).toEqual({ binary_data_size: rows.length * 2 * 4 });
      expectReference(rows, requested);
      const json = res.triton_json as ClientTensor;
      expect(json.header.parameters).toBeUndefined();
      expectReference(rows, json);
      expect(res.triton_id).toBe('req-7');
    });

    it("a bad request reaches tritonclient.http as its exception, with the runtime's status and message", () => {
      expect(res.triton_error).toEqual({
        status: '400',
        message: 'input "features": datatype FP64 does not match the model\'s FP32',
      });
    });

    it('tritonclient.http class_count (classification extension): top-K "value:index" BYTES, binary and JSON', () => {
      const binary = res.triton_classes_binary as { header: Record<string, unknown>; values: string[][] };
      expect(binary.header).toMatchObject({
        name: 'probabilities',
        datatype: 'BYTES',
        shape: [rows.length, 2],
      });
      expectClasses(rows, 2, binary.values);
      const json = res.triton_classes_json as { header: Record<string, unknown>; values: string[][] };
      expect(json.header).toMatchObject({
        name: 'probabilities',
        datatype: 'BYTES',
        shape: [rows.length, 1],
      });
      expect(json.header.parameters).toBeUndefined();
      expectClasses(rows, 1, json.values);
    });

    it('tritonclient.http with gzip and deflate request and response compression', () => {
      const c = res.triton_compressed as Record<string, ClientTensor>;
      expectReference(rows, c.gzip!);
      expectReference(rows, c.deflate!);
    });

    it("kserve's InferenceRESTClient (v2): binary in and out, and JSON", () => {
      const binary = res.kserve_binary as ClientTensor;
      expect(binary.binary_response).toBe(true);
      expectReference(rows, binary);
      const json = res.kserve_json as ClientTensor;
      expect(json.binary_response).toBe(false);
      expectReference(rows, json);
    });

    it('binary and JSON requests share one batcher, each with its own answer', async () => {
      const before = (await batchCounts(rt.url)).batches;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
      const n = 64;
      const all = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const r = featureRows(1 + (i % 3), 500 + i);
          if (i % 2 === 0) {
            const b = binaryRequest(r, `b${i}`);
            const resp = await post(rt.url, b.body, b.headers, agent);
            expect(resp.status).toBe(200);
            expect(resp.headers['content-type']).toBe('application/octet-stream');
            return { rows: r, ...binaryProbabilities(resp) };
          }
          const body = Buffer.from(
            JSON.stringify({
              id: `j${i}`,
              inputs: [{ name: 'features', shape: [r.length, 8], datatype: 'FP32', data: r }],
            }),
          );
          const resp = await post(rt.url, body, { 'content-type': 'application/json' }, agent);
          expect(resp.status).toBe(200);
          expect(resp.headers['inference-header-content-length']).toBeUndefined();
          const json = JSON.parse(resp.body.toString()) as { id: unknown; outputs: { data: number[] }[] };
          return { rows: r, id: json.id, values: json.outputs[0]!.data };
        }),
      );
      agent.destroy();
      all.forEach((a, i) => {
        expect(a.id).toBe(i % 2 === 0 ? `b${i}` : `j${i}`);
        a.rows.forEach((row, k) => {
          const [p0, p1] = fraudReference(row);
          expect(Math.abs(a.values[2 * k]! - p0)).toBeLessThan(TOLERANCE);
          expect(Math.abs(a.values[2 * k + 1]! - p1)).toBeLessThan(TOLERANCE);
        });
      });
      const after = await batchCounts(rt.url);
      expect(after.batches - before).toBeLessThan(n); // some runs held more than one request
    });

    it('malformed binary bodies get 400s naming what is wrong, and the runtime keeps serving', async () => {
      const good = binaryRequest(featureRows(2, 9), 'x');
      const headerLength = Number(good.headers['inference-header-content-length']);
      const cases: [string, Buffer, Record<string, string>, RegExp][] = [
        [
          'header length beyond the body',
          good.body,
          { 'inference-header-content-length': String(good.body.length + 1) },
          /^Inference-Header-Content-Length must be the JSON header's length in bytes, between 1 and the body's \d+/,
        ],
        [
          'header length not a number',
          good.body,
          { 'inference-header-content-length': 'twelve' },
          /got "twelve"/,
        ],
        [
          'binary data cut short',
          good.body.subarray(0, good.body.length - 4),
          good.headers,
          /^input "features": binary_data_size 64 runs past the end of the body: 60 bytes/,
        ],
        [
          'trailing bytes',
          Buffer.concat([good.body, Buffer.alloc(8)]),
          good.headers,
          /the body has 8 bytes after the inputs' binary data/,
        ],
        [
          'binary_data_size without the header',
          good.body.subarray(0, headerLength),
          { 'content-type': 'application/json' },
          /^input "features": parameters.binary_data_size needs the Inference-Header-Content-Length header/,
        ],
      ];
      for (const [what, body, headers, message] of cases) {
        const r = await post(rt.url, body, headers);
        expect(r.status, what).toBe(400);
        expect((JSON.parse(r.body.toString()) as { error: string }).error, what).toMatch(message);
      }
      // a body over the limit is refused whole, binary or not
      const big = binaryRequest(featureRows(3000, 1), 'big');
      expect((await post(rt.url, big.body, big.headers)).status).toBe(413);
      expect(rt.child.exitCode).toBeNull();
      const ok = await post(rt.url, good.body, good.headers);
      expect(ok.status).toBe(200);
      expect(binaryProbabilities(ok).id).toBe('x');
    });
  },
);

async function batchCounts(url: string): Promise<{ batches: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^ymera_inference_batch_size_count(?:\{[^}]*\})? (\S+)$/m.exec(text);
  return { batches: Number(m?.[1] ?? 0) };
}

describe('every datatype through real clients (echo.onnx)', () => {
  let res: { triton: Record<string, { same: boolean; header: Record<string, unknown> }> } & Record<
    string,
    unknown
  >;
  beforeAll(async () => {
    const rt = await startRuntime(['--model', pathToFileURL(ECHO_MODEL).href]);
    res = (await runClients('echo', rt, 'echo')) as typeof res;
  });

  const SIZES: Record<string, number> = {
    BOOL: 1,
    UINT8: 1,
    INT8: 1,
    UINT16: 2,
    INT16: 2,
    FP16: 2,
    UINT32: 4,
    INT32: 4,
    FP32: 4,
    UINT64: 8,
    INT64: 8,
    FP64: 8,
  };

  it('tritonclient.http with its defaults: every datatype comes back byte for byte, as binary', () => {
    expect(Object.keys(res.triton).sort()).toEqual([...Object.keys(SIZES), 'BYTES'].sort());
    for (const [dt, r] of Object.entries(res.triton)) {
      expect(r.same, dt).toBe(true);
      expect(r.header, dt).toMatchObject({ datatype: dt, shape: [2, 3] });
      // 6 elements; BYTES: 6 length prefixes + 0+1+7+300+1+3 bytes of UTF-8
      expect(r.header.parameters, dt).toEqual({
        binary_data_size: dt === 'BYTES' ? 24 + 312 : 6 * SIZES[dt]!,
      });
    }
  });

  it("kserve's InferenceRESTClient: every datatype comes back the same, as binary", () => {
    const k = res.kserve as { binary_response: boolean; outputs: Record<string, { same: boolean }> };
    expect(k.binary_response).toBe(true);
    expect(Object.keys(k.outputs)).toHaveLength(13);
    for (const [dt, r] of Object.entries(k.outputs)) expect(r.same, dt).toBe(true);
  });

  it('BYTES the model cannot take are refused by name through the client', () => {
    expect(res.triton_nul).toEqual({
      status: '400',
      message:
        'input "in_BYTES": BYTES element 1 contains a NUL byte, which onnxruntime\'s string tensors cannot carry',
    });
    expect(res.triton_not_utf8).toMatchObject({
      status: '400',
      message: expect.stringMatching(/^input "in_BYTES": BYTES element 4 is not valid UTF-8/),
    });
  });
});
