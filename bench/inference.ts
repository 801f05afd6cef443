// Benchmark of the inference runtime on the shipped fraud model, in one run:
//  (a) the limit: raw in-process session.run throughput (rows/s) at the batch
//      sizes the server forms;
//  (b) the runtime over HTTP (a child process) driven by bench/loadgen.ts (a
//      separate process) at several concurrencies, with batching on and off:
//      throughput, p50/p99 latency and the ratio to the limit.
// Prints a table and writes bench/results/latest.json. Not a test: no asserts.
//
//   make bench    (or: node --disable-warning=ExperimentalWarning bench/inference.ts)
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ort from 'onnxruntime-node';
import { createSession } from '../runtime/model.ts';
import { FRAUD_MODEL, featureRows, fraudReference } from '../runtime/models/fraud-reference.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const NODE = [process.execPath, '--disable-warning=ExperimentalWarning'];
const RAW_BATCHES = [1, 8, 16, 32, 64];
const CONCURRENCY = [1, 16, 64];
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 4000);
const MAX_REQUESTS = Number(process.env.BENCH_MAX_REQUESTS ?? 400_000);
const BATCHING = { maxBatchSize: 64, maxDelayMs: Number(process.env.BENCH_MAX_DELAY_MS ?? 0) };

async function rawThroughput(
  batch: number,
  session: ort.InferenceSession,
): Promise<{ batch: number; runsPerSec: number; rowsPerSec: number; usPerRun: number }> {
  const rows = featureRows(batch, batch);
  const input = new ort.Tensor('float32', Float32Array.from(rows.flat()), [batch, 8]);
  const out = (await session.run({ features: input })).probabilities!.data as Float32Array;
  const ref = fraudReference(rows[0]!);
  if (Math.abs((out[0] as number) - ref[0]) > 1e-5)
    throw new Error('session output differs from the reference');
  for (let i = 0; i < 200; i++) await session.run({ features: input });
  let runs = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1500) {
    await session.run({ features: input });
    runs++;
  }
  const s = (performance.now() - t0) / 1000;
  return { batch, runsPerSec: runs / s, rowsPerSec: (runs * batch) / s, usPerRun: (s * 1e6) / runs };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
    srv.on('error', reject);
  });
}

async function startServer(batching: { maxBatchSize: number; maxDelayMs: number } | 'ceiling') {
  const port = await freePort();
  const args =
    batching === 'ceiling'
      ? [path.join(here, 'http-ceiling.ts'), String(port)]
      : [
          path.join(repo, 'runtime/server.ts'),
          '--model',
          pathToFileURL(FRAUD_MODEL).href,
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--max-batch-size',
          String(batching.maxBatchSize),
          '--max-delay-ms',
          String(batching.maxDelayMs),
          '--log-level',
          'warn',
        ];
  const child = spawn(NODE[0]!, [...NODE.slice(1), ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if (batching === 'ceiling') {
        await new Promise<void>((resolve, reject) => {
          const sock = createConnection(port, '127.0.0.1', () => {
            sock.end();
            resolve();
          });
          sock.on('error', reject);
        });
        break;
      }
      if ((await fetch(`${url}/v2/health/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('runtime did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  const metric = async (name: string): Promise<number> => {
    if (batching === 'ceiling') return 0;
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
    // a histogram has no series before its first observation
    return line ? Number(line.split(' ').pop()) : 0;
  };
  return {
    url,
    metric,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    },
  };
}

type LoadResult = {
  concurrency: number;
  requests: number;
  errors: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
};

function loadgen(url: string, concurrency: number, bodyFile: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      NODE[0]!,
      [
        ...NODE.slice(1),
        path.join(here, 'loadgen.ts'),
        `${url}/v2/models/fraud/infer`,
        String(concurrency),
        String(DURATION_MS),
        String(MAX_REQUESTS),
        bodyFile,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`loadgen exited ${code}`)),
    );
  });
}

const print = (line: string): void => void process.stdout.write(line + '\n');
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');

async function main(): Promise<void> {
  const session = await createSession(
    new Uint8Array(await import('node:fs').then((f) => f.readFileSync(FRAUD_MODEL))),
  );
  const raw = [];
  for (const b of RAW_BATCHES) raw.push(await rawThroughput(b, session));
  await session.release();
  const rawAt = (b: number) => raw.find((r) => r.batch === b)!;
  const limit = Math.max(...raw.map((r) => r.rowsPerSec));

  const tmp = path.join(os.tmpdir(), `ymera-bench-${process.pid}.json`);
  writeFileSync(
    tmp,
    JSON.stringify({
      inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: featureRows(1, 7)[0] }],
    }),
  );
  const http = [];
  const modes = [
    { mode: 'batching', batching: BATCHING, concurrency: CONCURRENCY },
    { mode: 'batching-1ms', batching: { maxBatchSize: 64, maxDelayMs: 1 }, concurrency: [1, 64] },
    { mode: 'no-batching', batching: { maxBatchSize: 1, maxDelayMs: 0 }, concurrency: [1, 64] },
    { mode: 'http-ceiling', batching: 'ceiling' as const, concurrency: [1, 64] },
  ];
  for (const { mode, batching, concurrency } of modes) {
    const server = await startServer(batching);
    try {
      for (const c of concurrency) {
        const b0 = await server.metric('ymera_inference_batch_size_sum');
        const n0 = await server.metric('ymera_inference_batch_size_count');
        const r = await loadgen(server.url, c, tmp);
        const meanBatch =
          ((await server.metric('ymera_inference_batch_size_sum')) - b0) /
          ((await server.metric('ymera_inference_batch_size_count')) - n0);
        const sameBatch = rawAt(
          RAW_BATCHES.filter((b) => b <= Math.max(1, Math.round(meanBatch))).pop() ?? 1,
        );
        http.push({
          mode,
          ...(batching === 'ceiling' ? {} : batching),
          ...r,
          meanBatchRows: meanBatch,
          ratioToRawAtMeanBatch: r.throughput / sameBatch.rowsPerSec,
          ratioToRawBatch1: r.throughput / rawAt(1).rowsPerSec,
          ratioToLimit: r.throughput / limit,
        });
      }
    } finally {
      await server.stop();
    }
  }

  const result = {
    time: new Date().toISOString(),
    node: process.version,
    onnxruntime: (ort.env as { versions?: Record<string, string> }).versions?.common ?? 'unknown',
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    model: 'runtime/models/fraud.onnx (features FP32 [-1,8] → probabilities FP32 [-1,2])',
    requestRows: 1,
    durationMs: DURATION_MS,
    raw,
    limitRowsPerSec: limit,
    http,
    target: { concurrency: 64, minRatio: 0.7, maxP99Ms: 10 },
  };
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, 'results/latest.json'), JSON.stringify(result, null, 2) + '\n');

  print(`\nraw session.run (in process, ${result.cpus} CPUs, onnxruntime ${result.onnxruntime})`);
  print('batch   runs/s      rows/s     µs/run');
  for (const r of raw)
    print(
      `${String(r.batch).padStart(5)} ${fmt(r.runsPerSec).padStart(8)} ${fmt(r.rowsPerSec).padStart(12)} ${fmt(r.usPerRun, 1).padStart(10)}`,
    );
  print(
    `\nHTTP v2 runtime (1-row requests, load generator in a separate process, ${DURATION_MS} ms per point)`,
  );
  print('mode          conc    req/s   p50 ms   p99 ms  mean batch  ÷raw@batch  ÷raw@1  ÷limit  errors');
  for (const h of http) {
    print(
      `${h.mode.padEnd(12)} ${String(h.concurrency).padStart(5)} ${fmt(h.throughput).padStart(8)} ${fmt(h.p50Ms, 2).padStart(8)} ${fmt(h.p99Ms, 2).padStart(8)} ${fmt(h.meanBatchRows, 1).padStart(11)} ${fmt(h.ratioToRawAtMeanBatch * 100, 1).padStart(10)}% ${fmt(h.ratioToRawBatch1 * 100, 1).padStart(6)}% ${fmt(h.ratioToLimit * 100, 1).padStart(6)}% ${String(h.errors).padStart(7)}`,
    );
  }
  print(`\nwrote ${path.relative(process.cwd(), path.join(here, 'results/latest.json'))}`);
}

await main();
