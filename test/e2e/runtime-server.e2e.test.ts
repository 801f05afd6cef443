// The inference runtime as a real process on the real fraud model: every v2
// endpoint, answers checked against an independent TypeScript reference,
// malformed requests answered 4xx without harm, dynamic batching under
// concurrency, readiness only after load + warm-up, SIGTERM drain, sha256
// refusal, loading from MinIO over s3://, and request logs in Kafka.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaClients, readTopic } from '../../operator/kafka/platformatic.ts';
import { createObjectStore, objectStoreConfigFromEnv } from '../../operator/storage/s3.ts';
import {
  FRAUD_MODEL,
  MASKED_MODEL,
  MODEL_SHA256,
  featureRows,
  fraudReference,
} from '../../runtime/models/fraud-reference.ts';
import { LOAD_FAILED_EXIT_CODE, parseLoadFailure } from '../../runtime/termination.ts';
import { eventually, freePort, repo } from './support.ts';

// Installed with ONNXRUNTIME_NODE_INSTALL=skip, onnxruntime-node has no CUDA provider here.
const cudaProviderInstalled = existsSync(
  path.join(
    path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')),
    'bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so',
  ),
);

const FRAUD_URI = pathToFileURL(FRAUD_MODEL).href;
// The core cases run with session.run in a worker thread and on the event loop.
const INFERENCE_THREADS = ['worker', 'main'] as const;
const TOLERANCE = 1e-5;

type Runtime = {
  url: string;
  child: ChildProcess;
  logs: () => string;
  exited: Promise<number | null>;
  metric: (name: string, labels?: Record<string, string>) => Promise<number | undefined>;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
};

const running: Runtime[] = [];

type LoggedRecord = {
  id?: string;
  status: number;
  durationMs: number;
  request: { inputs: { data: unknown }[] };
  response: InferResponse & { error?: string };
};

async function startRuntime(
  flags: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<Runtime> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      path.join(repo, 'runtime/server.ts'),
      '--port',
      String(port),
      ...flags,
    ],
    { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const rt: Runtime = {
    url,
    child,
    logs: () => out,
    exited,
    async metric(name, labels = {}) {
      const text = await (await fetch(`${url}/metrics`)).text();
      for (const line of text.split('\n')) {
        const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const have = Object.fromEntries(
          [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
        );
        if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
      }
      return undefined;
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  running.push(rt);
  await eventually(
    `runtime on ${url} to listen`,
    async () => {
      if (child.exitCode !== null) throw new Error(`runtime exited ${child.exitCode}: ${out}`);
      return (await fetch(`${url}/v2/health/live`)).ok;
    },
    30_000,
    100,
  );
  return rt;
}

async function waitReady(rt: Runtime): Promise<void> {
  await eventually(
    `${rt.url} ready`,
    async () => (await fetch(`${rt.url}/v2/health/ready`)).status === 200,
    30_000,
    100,
  );
}

function logLines(rt: Runtime): Record<string, unknown>[] {
  return rt
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

type InferResponse = {
  model_name: string;
  model_version?: string;
  id?: string;
  outputs: { name: string; datatype: string; shape: number[]; data: unknown[] }[];
};

async function infer(
  url: string,
  body: unknown,
  model = 'fraud',
): Promise<{ status: number; retryAfter: string | null; json: InferResponse & { error?: string } }> {
  const res = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    json: (await res.json()) as InferResponse & { error?: string },
  };
}

function expectMatchesReference(rows: number[][], out: InferResponse['outputs'][number]): void {
  expect(out.name).toBe('probabilities');
  expect(out.datatype).toBe('FP32');
  expect(out.shape).toEqual([rows.length, 2]);
  rows.forEach((row, i) => {
    const [p0, p1] = fraudReference(row);
    expect(Math.abs((out.data[2 * i] as number) - p0)).toBeLessThan(TOLERANCE);
    expect(Math.abs((out.data[2 * i + 1] as number) - p1)).toBeLessThan(TOLERANCE);
  });
}

afterAll(async () => {
  await Promise.all(running.map((r) => r.stop('SIGKILL')));
});

describe.each(INFERENCE_THREADS)('runtime on the fraud model (inference thread %s)', (thread) => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await startRuntime(
      [
        '--model',
        FRAUD_URI,
        '--inference-thread',
        thread,
        '--model-version',
        '3',
        '--max-batch-size',
        '32',
        '--max-delay-ms',
        '5',
        '--max-body-bytes',
        String(256 * 1024),
      ],
      {
        ...process.env,
        YMERA_NAMESPACE: 'ml',
        YMERA_INFERENCESERVICE: 'fraud-svc',
        YMERA_REVISION: 'stable',
      },
    );
    await waitReady(rt);
  });

  it('serves the server, health and model metadata endpoints', async () => {
    expect(await (await fetch(`${rt.url}/v2`)).json()).toMatchObject({ name: 'ymera-runtime' });
    expect((await fetch(`${rt.url}/v2/health/live`)).status).toBe(200);
    expect(await (await fetch(`${rt.url}/v2/health/ready`)).json()).toEqual({ ready: true, state: 'ready' });
    const meta = {
      name: 'fraud',
      versions: ['3'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 8] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
    };
    expect(await (await fetch(`${rt.url}/v2/models/fraud`)).json()).toEqual(meta);
    expect(await (await fetch(`${rt.url}/v2/models/fraud/versions/3`)).json()).toEqual(meta);
    expect((await fetch(`${rt.url}/v2/models/fraud/ready`)).status).toBe(200);
    expect((await fetch(`${rt.url}/v2/models/fraud/versions/3/ready`)).status).toBe(200);
    expect(logLines(rt).find((l) => l.msg === 'model ready')).toMatchObject({ inferenceThread: thread });
  });

  it('answers like the reference, flat or nested, on both routes, with the id echoed', async () => {
    const rows = featureRows(5, 1);
    const flat = await infer(rt.url, {
      id: 'req-1',
      inputs: [{ name: 'features', shape: [5, 8], datatype: 'FP32', data: rows.flat() }],
    });
    expect(flat.status).toBe(200);
    expect(flat.json.model_name).toBe('fraud');
    expect(flat.json.model_version).toBe('3');
    expect(flat.json.id).toBe('req-1');
    expectMatchesReference(rows, flat.json.outputs[0]!);
    const res = await fetch(`${rt.url}/v2/models/fraud/versions/3/infer`, {
      method: 'POST',
      body: JSON.stringify({
        inputs: [{ name: 'features', shape: [5, 8], datatype: 'FP32', data: rows }],
        outputs: [{ name: 'probabilities' }],
      }),
    });
    expect(res.status).toBe(200);
    expectMatchesReference(rows, ((await res.json()) as InferResponse).outputs[0]!);
  });

  it('answers bad requests with 4xx and {"error"} and stays up', async () => {
    const good = { name: 'features', shape: [1, 8], datatype: 'FP32', data: featureRows(1, 2)[0] };
    const cases: [string, unknown, number, RegExp, string?][] = [
      [
        'wrong shape',
        { inputs: [{ ...good, shape: [1, 7], data: [1, 2, 3, 4, 5, 6, 7] }] },
        400,
        /shape \[1, 7\]/,
      ],
      ['data/shape mismatch', { inputs: [{ ...good, shape: [2, 8] }] }, 400, /needs 16 elements/],
      [
        'wrong datatype',
        { inputs: [{ ...good, datatype: 'INT32', data: [1, 2, 3, 4, 5, 6, 7, 8] }] },
        400,
        /datatype INT32/,
      ],
      ['bad element', { inputs: [{ ...good, data: ['a', 2, 3, 4, 5, 6, 7, 8] }] }, 400, /not a number/],
      ['unknown input', { inputs: [good, { ...good, name: 'extra' }] }, 400, /unknown input "extra"/],
      ['unknown output', { inputs: [good], outputs: [{ name: 'logits' }] }, 400, /unknown output/],
      ['malformed JSON', '{"inputs": [', 400, /malformed JSON/],
      ['unknown model', { inputs: [good] }, 404, /model "nope" not found/, 'nope'],
      ['unknown version', { inputs: [good] }, 404, /no version "9"/, 'fraud/versions/9'],
    ];
    for (const [what, body, status, re, model] of cases) {
      const r = await infer(rt.url, body, model);
      expect({ what, status: r.status }).toEqual({ what, status });
      expect(r.json.error).toMatch(re);
    }
    expect((await fetch(`${rt.url}/v2/models/fraud/infer`)).status).toBe(405);
    expect((await fetch(`${rt.url}/v2/nowhere`)).status).toBe(404);
    expect((await fetch(`${rt.url}/v2/models/nope`)).status).toBe(404);
    // Over the 256 KiB limit: 413, then the server still answers.
    const big = await fetch(`${rt.url}/v2/models/fraud/infer`, {
      method: 'POST',
      body: 'x'.repeat(300 * 1024),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toMatch(/exceeds/);
    const after = await infer(rt.url, { inputs: [good] });
    expect(after.status).toBe(200);
    expect(
      await rt.metric('ymera_inference_requests_total', { code: '400', inferenceservice: 'fraud-svc' }),
    ).toBeGreaterThanOrEqual(7);
    expect(await rt.metric('ymera_inference_requests_total', { code: '413' })).toBe(1);
    expect(rt.child.exitCode).toBeNull();
  });

  it('batches concurrent requests and gives each its own correct answer', async () => {
    const before = await rt.metric('ymera_inference_batch_size_count');
    const beforeSingles = await rt.metric('ymera_inference_batch_size_bucket', { le: '1' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const n = 64;
    const all = await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const rows = featureRows(1 + (i % 3), 100 + i);
        const body = JSON.stringify({
          id: `c${i}`,
          inputs: [{ name: 'features', shape: [rows.length, 8], datatype: 'FP32', data: rows }],
        });
        return new Promise<{ rows: number[][]; status: number; json: InferResponse }>((resolve, reject) => {
          const req = http.request(`${rt.url}/v2/models/fraud/infer`, { method: 'POST', agent }, (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () =>
              resolve({ rows, status: res.statusCode ?? 0, json: JSON.parse(text) as InferResponse }),
            );
          });
          req.on('error', reject);
          req.end(body);
        });
      }),
    );
    agent.destroy();
    all.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.json.id).toBe(`c${i}`);
      expectMatchesReference(r.rows, r.json.outputs[0]!);
    });
    const batches = (await rt.metric('ymera_inference_batch_size_count'))! - before!;
    const singles = (await rt.metric('ymera_inference_batch_size_bucket', { le: '1' }))! - beforeSingles!;
    // 64 requests (128 rows) in fewer runs than requests, some holding more than one row.
    expect(batches).toBeLessThan(n);
    expect(batches - singles).toBeGreaterThan(0);
    const rowsSum = await rt.metric('ymera_inference_batch_size_sum');
    expect(rowsSum).toBeGreaterThanOrEqual(128);
  });

  it('exports the SLO metrics with the pod labels', async () => {
    const labels = { namespace: 'ml', inferenceservice: 'fraud-svc', revision: 'stable' };
    expect(await rt.metric('ymera_inference_requests_total', { ...labels, code: '200' })).toBeGreaterThan(0);
    expect(await rt.metric('ymera_inference_requests_total', { ...labels, code: '500' })).toBe(0);
    expect(
      await rt.metric('ymera_inference_request_duration_seconds_bucket', { ...labels, le: '0.005' }),
    ).toBeDefined();
    expect(await rt.metric('ymera_inference_request_duration_seconds_count', labels)).toBeGreaterThan(0);
    expect(await rt.metric('ymera_inference_model_ready', labels)).toBe(1);
    expect(await rt.metric('ymera_inference_model_load_seconds', labels)).toBeGreaterThan(0);
    expect(await rt.metric('ymera_inference_queue_depth', labels)).toBe(0);
    // The HPA's per-pod metrics (controllers/inferenceservice/desired.ts HPA_METRICS).
    expect(await rt.metric('ymera_inference_requests_in_flight', labels)).toBe(0);
    const p95 = await rt.metric('ymera_inference_request_p95_latency_milliseconds', labels);
    expect(p95).toBeGreaterThan(0);
    expect(p95).toBeLessThan(10_000);
  });

  it('takes gzip and deflate bodies under the limit on their inflated size, and answers gzip when asked', async () => {
    const rows = featureRows(40, 23);
    const json = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'features', shape: [rows.length, 8], datatype: 'FP32', data: rows.flat() }],
      }),
    );
    for (const [coding, packed] of [
      ['gzip', zlib.gzipSync(json)],
      ['deflate', zlib.deflateSync(json)],
    ] as const) {
      // no Accept-Encoding: the answer comes back as it is
      const plain = await rawPost(rt.url, packed, {
        'content-type': 'application/json',
        'content-encoding': coding,
      });
      expect({ coding, status: plain.status, encoding: plain.headers['content-encoding'] }).toEqual({
        coding,
        status: 200,
        encoding: undefined,
      });
      expectMatchesReference(rows, (JSON.parse(plain.body.toString()) as InferResponse).outputs[0]!);
      // Accept-Encoding gzip: a 40-row answer (> 1 KiB) comes back gzipped
      const gz = await rawPost(rt.url, packed, {
        'content-type': 'application/json',
        'content-encoding': coding,
        'accept-encoding': 'gzip',
      });
      expect(gz.status).toBe(200);
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(gz.headers.vary).toBe('accept-encoding');
      expect(Number(gz.headers['content-length'])).toBe(gz.body.length);
      expectMatchesReference(
        rows,
        (JSON.parse(zlib.gunzipSync(gz.body).toString()) as InferResponse).outputs[0]!,
      );
    }
    const errorOf = (r: { body: Buffer }) => (JSON.parse(r.body.toString()) as { error: string }).error;
    // A zip bomb: ~1 KiB on the wire, 1 MiB inflated, over the 256 KiB limit.
    const bomb = zlib.gzipSync(Buffer.alloc(1 << 20, ' '));
    expect(bomb.length).toBeLessThan(4096);
    const r413 = await rawPost(rt.url, bomb, { 'content-encoding': 'gzip' });
    expect(r413.status).toBe(413);
    expect(errorOf(r413)).toBe(`decompressed request body exceeds ${256 * 1024} bytes`);
    const r400 = await rawPost(rt.url, json, { 'content-encoding': 'gzip' });
    expect(r400.status).toBe(400);
    expect(errorOf(r400)).toMatch(/request body is not valid gzip \(Content-Encoding\)/);
    const r415 = await rawPost(rt.url, json, { 'content-encoding': 'br' });
    expect(r415.status).toBe(415);
    expect(errorOf(r415)).toMatch(/Content-Encoding "br" is not supported; send gzip, deflate/);
    // a small answer is not worth gzipping; and the runtime still serves
    const small = await rawPost(
      rt.url,
      zlib.gzipSync(
        JSON.stringify({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: rows[0] }] }),
      ),
      {
        'content-encoding': 'gzip',
        'accept-encoding': 'gzip',
      },
    );
    expect(small.status).toBe(200);
    expect(small.headers['content-encoding']).toBeUndefined();
    expectMatchesReference([rows[0]!], (JSON.parse(small.body.toString()) as InferResponse).outputs[0]!);
    expect(rt.child.exitCode).toBeNull();
  });
});

/** A POST through node:http: the bytes as sent and as answered (fetch would inflate the answer). */
function rawPost(
  url: string,
  body: Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v2/models/fraud/infer`, { method: 'POST', headers }, (res) => {
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

describe('runtime datatypes on the masked model', () => {
  it.each(INFERENCE_THREADS)('INT64, BOOL and BYTES in and out (inference thread %s)', async (thread) => {
    const rt = await startRuntime([
      '--model',
      pathToFileURL(MASKED_MODEL).href,
      '--max-delay-ms',
      '1',
      '--inference-thread',
      thread,
    ]);
    await waitReady(rt);
    const meta = (await (await fetch(`${rt.url}/v2/models/masked`)).json()) as { inputs: unknown[] };
    expect(meta.inputs).toEqual([
      { name: 'ids', datatype: 'INT64', shape: [-1, 4] },
      { name: 'mask', datatype: 'BOOL', shape: [-1, 4] },
      { name: 'tags', datatype: 'BYTES', shape: [-1, 1] },
    ]);
    const r = await infer(
      rt.url,
      {
        inputs: [
          {
            name: 'ids',
            shape: [2, 4],
            datatype: 'INT64',
            data: [
              [1, 2, 3, 40],
              [5, 6, 7, 8],
            ],
          },
          {
            name: 'mask',
            shape: [2, 4],
            datatype: 'BOOL',
            data: [
              [true, false, true, true],
              [false, false, false, true],
            ],
          },
          { name: 'tags', shape: [2, 1], datatype: 'BYTES', data: ['a', 'é'] },
        ],
      },
      'masked',
    );
    expect(r.status).toBe(200);
    expect(r.json.outputs).toEqual([
      { name: 'sum', datatype: 'INT64', shape: [2, 1], data: [44, 8] },
      { name: 'tags_out', datatype: 'BYTES', shape: [2, 1], data: ['a', 'é'] },
    ]);
    // The exact 64-bit value survives JSON (JSON.parse above rounds it; the raw text does not).
    const raw = await fetch(`${rt.url}/v2/models/masked/infer`, {
      method: 'POST',
      body: JSON.stringify({
        inputs: [
          { name: 'ids', shape: [1, 4], datatype: 'INT64', data: ['9223372036854775807', 0, 0, 0] },
          { name: 'mask', shape: [1, 4], datatype: 'BOOL', data: [true, true, true, true] },
          { name: 'tags', shape: [1, 1], datatype: 'BYTES', data: [''] },
        ],
        outputs: [{ name: 'sum' }],
      }),
    });
    expect(await raw.text()).toContain('"data":[9223372036854775807]');
    const bad = await infer(
      rt.url,
      {
        inputs: [
          { name: 'ids', shape: [1, 4], datatype: 'INT64', data: [1, 2, 3, 4] },
          { name: 'mask', shape: [1, 4], datatype: 'BOOL', data: [1, 0, 1, 1] },
          { name: 'tags', shape: [1, 1], datatype: 'BYTES', data: ['x'] },
        ],
      },
      'masked',
    );
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/BOOL/);
    expect(await rt.stop()).toBe(0);
  });
});

describe('runtime lifecycle', () => {
  it('is live but not ready until the model is fetched (over http) and warmed', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const bytes = readFileSync(FRAUD_MODEL);
    const modelServer = http.createServer((req, res) => {
      void gate.then(() => res.end(bytes));
    });
    await new Promise<void>((r) => modelServer.listen(0, '127.0.0.1', r));
    const addr = modelServer.address() as { port: number };
    try {
      const rt = await startRuntime([
        '--model',
        `http://127.0.0.1:${addr.port}/models/fraud.onnx`,
        '--sha256',
        MODEL_SHA256['fraud.onnx']!,
      ]);
      expect((await fetch(`${rt.url}/v2/health/live`)).status).toBe(200);
      const notReady = await fetch(`${rt.url}/v2/health/ready`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toEqual({ ready: false, state: 'loading' });
      expect((await fetch(`${rt.url}/v2/models/fraud/ready`)).status).toBe(503);
      expect(await rt.metric('ymera_inference_model_ready')).toBe(0);
      const early = await infer(rt.url, {
        inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: new Array(8).fill(0) }],
      });
      expect(early.status).toBe(503);
      // loading passes by itself: the client is told to try again, for metadata too
      expect(early.retryAfter).toBe('1');
      const metadata = await fetch(`${rt.url}/v2/models/fraud`);
      expect(metadata.status).toBe(503);
      expect(metadata.headers.get('retry-after')).toBe('1');
      release();
      await waitReady(rt);
      const ready = logLines(rt).find((l) => l.msg === 'model ready');
      expect(ready).toMatchObject({ sha256: MODEL_SHA256['fraud.onnx'], level: 'info' });
      expect(await rt.metric('ymera_inference_model_ready')).toBe(1);
      expect(await rt.stop()).toBe(0);
    } finally {
      release();
      modelServer.close();
    }
  });

  /** Runs the runtime until it exits by itself; its exit code, output and termination message. */
  async function runToExit(flags: string[]): Promise<{ code: number | null; out: string; message: string }> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ymera-rt-'));
    const terminationLog = path.join(dir, 'termination-log');
    writeFileSync(terminationLog, ''); // the kubelet creates it; the runtime never does
    const child = spawn(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        path.join(repo, 'runtime/server.ts'),
        '--port',
        '0',
        ...flags,
      ],
      { env: { ...process.env, YMERA_TERMINATION_LOG: terminationLog }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    return { code, out, message: readFileSync(terminationLog, 'utf8') };
  }

  it.each(INFERENCE_THREADS)(
    'exits with code 3 and says why in the termination message when the model cannot be loaded (%s)',
    async (thread) => {
      const wrong = 'f'.repeat(64);
      const r = await runToExit(['--model', FRAUD_URI, '--sha256', wrong, '--inference-thread', thread]);
      expect(r.code).toBe(LOAD_FAILED_EXIT_CODE);
      expect(parseLoadFailure(r.message)).toEqual({
        reason: 'Sha256Mismatch',
        message: expect.stringContaining(`expected ${wrong}, got ${MODEL_SHA256['fraud.onnx']}`),
      });
      expect(r.out).toContain('exiting: the model cannot be loaded');
    },
  );

  it.skipIf(cudaProviderInstalled)(
    "exits with ExecutionProviderUnavailable when asked for CUDA without onnxruntime's CUDA provider",
    async () => {
      const r = await runToExit(['--model', FRAUD_URI, '--execution-provider', 'cuda']);
      expect(r.code).toBe(LOAD_FAILED_EXIT_CODE);
      expect(parseLoadFailure(r.message)).toEqual({
        reason: 'ExecutionProviderUnavailable',
        message: expect.stringMatching(
          /^executionProvider "cuda": onnxruntime cannot set up its CUDA provider/,
        ),
      });
    },
  );

  it.each(INFERENCE_THREADS)('refuses to serve a model whose sha256 does not match (%s)', async (thread) => {
    const wrong = '0'.repeat(64);
    const rt = await startRuntime([
      ...['--model', FRAUD_URI, '--sha256', wrong, '--inference-thread', thread],
      ...['--on-load-failure', 'stay'],
    ]);
    await eventually('load failure logged', async () =>
      logLines(rt).find((l) => l.msg === 'model load failed; not serving'),
    );
    const line = logLines(rt).find((l) => l.msg === 'model load failed; not serving')!;
    expect(line).toMatchObject({ level: 'error', reason: 'Sha256Mismatch' });
    expect(line.error).toContain(`expected ${wrong}, got ${MODEL_SHA256['fraud.onnx']}`);
    const ready = await fetch(`${rt.url}/v2/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false, state: 'failed' });
    const r = await infer(rt.url, {
      inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: new Array(8).fill(0) }],
    });
    expect(r.status).toBe(503);
    expect(r.json.error).toMatch(/failed to load/);
    // a failed load does not pass by itself: no Retry-After
    expect(r.retryAfter).toBeNull();
    expect(rt.child.exitCode).toBeNull();
    expect(await rt.stop()).toBe(0);
  });

  it.each(INFERENCE_THREADS)(
    'drains on SIGTERM: queued and in-flight requests finish, then exit 0 (%s)',
    async (thread) => {
      // A long maxDelayMs holds requests in the batcher; the drain must send them at once.
      const rt = await startRuntime([
        '--model',
        FRAUD_URI,
        '--max-batch-size',
        '64',
        '--max-delay-ms',
        '10000',
        '--inference-thread',
        thread,
      ]);
      await waitReady(rt);
      const rows = featureRows(6, 7);
      // the 10 s batch delay starts with the first request queued
      const sent = Date.now();
      const pending = rows.map((row) =>
        infer(rt.url, { inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: row }] }),
      );
      await eventually(
        '6 requests queued',
        async () => (await rt.metric('ymera_inference_queue_depth')) === 6,
        10_000,
        50,
      );
      rt.child.kill('SIGTERM');
      const results = await Promise.all(pending);
      // answered at the drain, before the 10 s batch delay would have sent them
      expect(Date.now() - sent).toBeLessThan(10_000);
      results.forEach((r, i) => {
        expect(r.status).toBe(200);
        expectMatchesReference([rows[i]!], r.json.outputs[0]!);
      });
      expect(await rt.exited).toBe(0);
      const msgs = logLines(rt).map((l) => l.msg);
      expect(msgs).toEqual(expect.arrayContaining(['signal received', 'draining', 'drained']));
      expect(logLines(rt).find((l) => l.msg === 'drained')).toMatchObject({ finished: true });
      await expect(fetch(`${rt.url}/v2/health/live`)).rejects.toThrow();
    },
  );
});

describe('runtime with the platform services', () => {
  it('loads the model from MinIO over s3:// with AWS_* credentials', async () => {
    const cfg = objectStoreConfigFromEnv(process.env);
    if (!cfg) throw new Error('YMERA_S3_ENDPOINT is not set: the e2e stack provides MinIO');
    const store = createObjectStore({ ...cfg, bucket: 'ymera-models' });
    await store.ensureBucket();
    const key = `e2e/runtime/${randomUUID()}/fraud.onnx`;
    await store.put(key, readFileSync(FRAUD_MODEL));
    try {
      const env: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: process.env.HOME };
      Object.assign(env, {
        AWS_ENDPOINT_URL: cfg.endpoint,
        AWS_ACCESS_KEY_ID: cfg.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: cfg.credentials.secretAccessKey,
        AWS_REGION: cfg.region,
      });
      const rt = await startRuntime(
        ['--model', `s3://ymera-models/${key}`, '--sha256', MODEL_SHA256['fraud.onnx']!],
        env,
      );
      await waitReady(rt);
      const rows = featureRows(3, 42);
      const r = await infer(rt.url, {
        inputs: [{ name: 'features', shape: [3, 8], datatype: 'FP32', data: rows }],
      });
      expect(r.status).toBe(200);
      expectMatchesReference(rows, r.json.outputs[0]!);
      expect(logLines(rt).find((l) => l.msg === 'model ready')).toMatchObject({
        uri: `s3://ymera-models/${key}`,
      });
      expect(await rt.stop()).toBe(0);
    } finally {
      await store.delete(key);
      store.close();
    }
  });

  it('logs sampled requests and responses to Kafka in the background', async () => {
    const brokers = (process.env.YMERA_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
    const topic = `ymera-e2e-runtime-log-${randomUUID().slice(0, 8)}`;
    const kafka = createKafkaClients({ brokers, clientId: 'ymera-e2e-runtime', timeoutMs: 10_000 });
    try {
      await kafka.admin.createTopic({ name: topic, partitions: 1 });
      const rt = await startRuntime([
        '--model',
        FRAUD_URI,
        '--kafka-brokers',
        brokers.join(','),
        '--kafka-topic',
        topic,
        '--kafka-sample-rate',
        '1',
      ]);
      await waitReady(rt);
      const rows = featureRows(3, 9);
      for (let i = 0; i < 3; i++) {
        const r = await infer(rt.url, {
          id: `log-${i}`,
          inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: [rows[i]] }],
        });
        expect(r.status).toBe(200);
      }
      const bad = await infer(rt.url, {
        id: 'log-bad',
        inputs: [{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }],
      });
      expect(bad.status).toBe(400);
      const messages = await readTopic({ brokers, topic, count: 4, timeoutMs: 20_000 });
      expect(messages).toHaveLength(4);
      const values = messages.map((m) => JSON.parse(m.value) as LoggedRecord);
      expect(messages.map((m) => m.key)).toEqual(['log-0', 'log-1', 'log-2', undefined]);
      values.slice(0, 3).forEach((v, i) => {
        expect(v).toMatchObject({ model: 'fraud', version: '1', id: `log-${i}`, status: 200 });
        expect(v.request.inputs[0]?.data).toEqual([rows[i]]);
        expectMatchesReference([rows[i]!], v.response.outputs[0]!);
        expect(typeof v.durationMs).toBe('number');
      });
      expect(values[3]).toMatchObject({ status: 400, response: { error: expect.stringMatching(/shape/) } });
      await eventually(
        'sent metric',
        async () => (await rt.metric('ymera_inference_request_log_sent_total')) === 4,
      );
      expect(await rt.stop()).toBe(0);
    } finally {
      await kafka.admin.deleteTopic(topic).catch(() => undefined);
      await kafka.close();
    }
  });

  it('never fails requests when Kafka is unreachable; drops are counted', async () => {
    const dead = await freePort();
    const rt = await startRuntime([
      '--model',
      FRAUD_URI,
      '--kafka-brokers',
      `127.0.0.1:${dead}`,
      '--kafka-topic',
      'nowhere',
      '--kafka-buffer-size',
      '2',
    ]);
    await waitReady(rt);
    for (let i = 0; i < 5; i++) {
      const r = await infer(rt.url, {
        inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: new Array(8).fill(i) }],
      });
      expect(r.status).toBe(200);
    }
    await eventually(
      'drops counted',
      async () => {
        const full =
          (await rt.metric('ymera_inference_request_log_dropped_total', { reason: 'buffer_full' })) ?? 0;
        const failed =
          (await rt.metric('ymera_inference_request_log_dropped_total', { reason: 'kafka_error' })) ?? 0;
        return full + failed === 5;
      },
      30_000,
    );
    expect(await rt.stop()).toBe(0);
  });
});
