// MaintenancePlan scoring benchmark against the local stack's real Prometheus:
// one evaluation interval for NODES nodes (default 1000) and the shipped
// predictor's 16 signals, as the controller runs it (controllers/
// maintenanceplan/controller.ts querySignals + buildFeatures + predict): each
// signal's query once for all nodes through the operator's PrometheusClient,
// groupByNode, one feature row per node, risk and the contribution of every
// signal in one session.run (NODES × 17 rows), contributions against the
// fleet median as the controller computes them.
//
// The series come from an exporter child process (so serving scrapes does not
// count as the bench's CPU) that the local Prometheus scrapes through a
// file_sd target, like test/e2e/gpu-signals.ts: NODES × 16 gauges
// ymera_bench_gpu_signal{run,node,signal}, each node a held-out fixture row
// (healthy, hot or a failure mode) with ±5 % jitter. The queries are
// `max by (node) (ymera_bench_gpu_signal{run,signal})`; the dcgm-exporter
// queries of the model README (subqueries over 24 h) cost Prometheus more,
// which this bench does not measure.
//
// Per interval: wall time (p50/p95; queries and scoring apart), Prometheus
// queries, counted as the HTTP requests that reach Prometheus' URL (a counting
// wrapper around the global fetch the client uses), and this process's CPU
// (process.cpuUsage over the interval, onnxruntime's threads included).
// Prints the figures against the targets (one query per signal; an interval
// well inside the shortest spec.predictor.interval, 5 s) and writes
// bench/results/predictor.json. Not a test: no asserts.
//
//   make bench-predictor          (run it under the e2e lock: flock /tmp/ymera-e2e.lock make bench-predictor)
//   BENCH_NODES=5000 BENCH_ROUNDS=50 make bench-predictor
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildFeatures, groupByNode, predict } from '../controllers/maintenanceplan/predict.ts';
import type { SignalSample } from '../controllers/maintenanceplan/predict.ts';
import { openRiskModel } from '../controllers/maintenanceplan/risk-model.ts';
import { PrometheusClient } from '../operator/prometheus/client.ts';
import { eventually, prometheusStack } from '../test/e2e/support.ts';

const NODES = Number(process.env.BENCH_NODES ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const WARMUP = 3;
/** The shortest spec.predictor.interval the schema allows: an evaluation must fit well inside it. */
const MIN_INTERVAL_MS = 5000;
const print = (line: string): void => void process.stdout.write(line + '\n');
const round = (x: number) => Math.round(x * 10) / 10;
const q = (a: number[], p: number) =>
  [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))]!;

const modelDir = new URL('../controllers/maintenanceplan/model/', import.meta.url);
type Spec = { sha256: string; signals: { name: string }[] };
const spec = JSON.parse(readFileSync(new URL('gpu-failure.features.json', modelDir), 'utf8')) as Spec;
const fixtures = (
  JSON.parse(readFileSync(new URL('gpu-failure.fixtures.json', modelDir), 'utf8')) as {
    rows: { features: Record<string, number> }[];
  }
).rows;
const signals = spec.signals.map((s) => s.name);

// A fixed-seed fleet: each node a fixture row (healthy, hot, or a failure mode) with ±5 % jitter.
let seed = 20261204;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const nodes = Array.from({ length: NODES }, (_, i) => `gpu-node-${i}`);
const run = `bench-predictor-${process.pid}`;
const lines = ['# TYPE ymera_bench_gpu_signal gauge'];
for (const [i, node] of nodes.entries())
  for (const signal of signals) {
    const v = fixtures[i % fixtures.length]!.features[signal]! * (0.95 + 0.1 * rand());
    lines.push(`ymera_bench_gpu_signal{run="${run}",node="${node}",signal="${signal}"} ${v}`);
  }

// Only Prometheus is needed (not the whole stack's `up`, which also imports images into the real node).
const prom = prometheusStack();
const ready = await fetch(new URL('/-/ready', prom.url)).catch(() => undefined);
if (!ready?.ok) throw new Error(`no Prometheus at ${prom.url}: start the local stack (make cluster-up)`);
const bodyFile = path.join(tmpdir(), `${run}.prom`);
writeFileSync(bodyFile, lines.join('\n') + '\n');
// The exporter: a child process serving the prebuilt body; it prints its port.
const exporter = spawn(
  process.execPath,
  [
    '-e',
    `const body = require('fs').readFileSync(${JSON.stringify(bodyFile)});
     const s = require('http').createServer((_q, r) => {
       r.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
       r.end(body);
     });
     s.listen(0, '127.0.0.1', () => console.log(s.address().port));`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const port = await new Promise<number>((resolve, reject) => {
  exporter.once('error', reject);
  exporter.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
});
const targetFile = path.join(prom.targetsDir, `${run}.json`);
writeFileSync(targetFile, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: run } }]));
const cleanup = () => {
  rmSync(targetFile, { force: true });
  rmSync(bodyFile, { force: true });
  exporter.kill();
};
process.once('exit', cleanup);

// Every HTTP request to Prometheus goes through the global fetch (operator/prometheus/client.ts).
const promOrigin = new URL(prom.url).origin;
let promRequests = 0;
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (new URL(url).origin === promOrigin) promRequests++;
  return realFetch(input, init);
};

const setup = new PrometheusClient({ url: prom.url });
await eventually(
  `Prometheus to scrape ${NODES * signals.length} bench series`,
  async () =>
    (await setup.queryValue(`count(ymera_bench_gpu_signal{run="${run}"})`)) === NODES * signals.length,
  120_000,
);
/** Prometheus' own count of instant queries served (all clients: an upper bound for the bench's). */
async function serverQueries(): Promise<number> {
  const text = await (await realFetch(new URL('/metrics', prom.url))).text();
  return [
    ...text.matchAll(/^prometheus_http_requests_total\{[^}]*handler="\/api\/v1\/query"[^}]*\} (\S+)$/gm),
  ]
    .map((m) => Number(m[1]))
    .reduce((a, b) => a + b, 0);
}

const loadStart = performance.now();
const model = await openRiskModel(readFileSync(new URL('gpu-failure.onnx', modelDir)), {
  sha256: spec.sha256,
  signals: signals.length,
});
const loadMs = performance.now() - loadStart;

// What the operator does each interval (controller.ts): its own client, one query per signal.
const prometheus = new PrometheusClient({ url: prom.url });
const queries = signals.map(
  (name) => [name, `max by (node) (ymera_bench_gpu_signal{run="${run}",signal="${name}"})`] as const,
);
async function interval() {
  const results = new Map<string, Map<string, SignalSample>>(
    await Promise.all(
      queries.map(async ([name, query]) => {
        const r = await prometheus.query(query, { timeoutMs: 10_000 });
        if (r.resultType !== 'vector') throw new Error(`${name}: ${r.resultType}, not a vector`);
        return [name, groupByNode(r.samples, 'node')] as const;
      }),
    ),
  );
  const queried = performance.now();
  const queriedCpu = process.cpuUsage();
  const batch = buildFeatures(signals, nodes, results, {
    now: Date.now() / 1000,
    maxAgeSeconds: 60,
  });
  return { predictions: await predict(batch, model.score), queried, queriedCpu };
}

const wall: number[] = [];
const queryWall: number[] = [];
const scoreWall: number[] = [];
const cpu: number[] = [];
/** CPU of buildFeatures + predict alone (the model run with contributions), without the queries. */
const scoreCpu: number[] = [];
const requests: number[] = [];
let scored = 0;
let server0 = 0;
for (let i = 0; i < WARMUP + ROUNDS; i++) {
  if (i === WARMUP) server0 = await serverQueries();
  promRequests = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const { predictions, queried, queriedCpu } = await interval();
  const t1 = performance.now();
  const c = process.cpuUsage(c0);
  if (i >= WARMUP) {
    wall.push(t1 - t0);
    queryWall.push(queried - t0);
    scoreWall.push(t1 - queried);
    cpu.push((c.user + c.system) / 1000);
    const sc = process.cpuUsage(queriedCpu);
    scoreCpu.push((sc.user + sc.system) / 1000);
    requests.push(promRequests);
    scored = predictions.filter((x) => x.state === 'Scored').length;
  }
}
const serverDelta = (await serverQueries()) - server0;
await model.close();
cleanup();

const maxRequests = Math.max(...requests);
const result = {
  nodes: NODES,
  signals: signals.length,
  rounds: ROUNDS,
  prometheus: prom.url,
  series: NODES * signals.length,
  scoredNodes: scored,
  promRequestsPerInterval: { min: Math.min(...requests), max: maxRequests },
  promRequestsPerSignal: round((maxRequests / signals.length) * 100) / 100,
  serverQueriesPerInterval: round(serverDelta / ROUNDS),
  rowsPerRun: NODES * (1 + signals.length),
  modelLoadMs: round(loadMs),
  wallMs: { p50: round(q(wall, 0.5)), p95: round(q(wall, 0.95)) },
  queryWallMs: { p50: round(q(queryWall, 0.5)), p95: round(q(queryWall, 0.95)) },
  scoreWallMs: { p50: round(q(scoreWall, 0.5)), p95: round(q(scoreWall, 0.95)) },
  cpuMs: { p50: round(q(cpu, 0.5)), p95: round(q(cpu, 0.95)) },
  scoreCpuMs: { p50: round(q(scoreCpu, 0.5)), p95: round(q(scoreCpu, 0.95)) },
  wallP95OfMinInterval: Math.round((q(wall, 0.95) / MIN_INTERVAL_MS) * 1000) / 1000,
};
print(
  `${NODES} nodes x ${signals.length} signals against ${prom.url}, ${scored} scored, contributions included`,
);
print(
  `  Prometheus requests per interval: ${result.promRequestsPerInterval.min}..${maxRequests} ` +
    `(${result.promRequestsPerSignal} per signal; target 1) [Prometheus counted ${result.serverQueriesPerInterval} ` +
    `/api/v1/query per interval, all clients]`,
);
print(
  `  wall per interval: ${result.wallMs.p50} ms p50, ${result.wallMs.p95} ms p95 ` +
    `(queries ${result.queryWallMs.p50} ms, scoring ${result.scoreWallMs.p50} ms p50); ` +
    `p95 is ${(result.wallP95OfMinInterval * 100).toFixed(1)} % of the shortest interval (5 s)`,
);
print(
  `  operator CPU per interval: ${result.cpuMs.p50} ms p50, ${result.cpuMs.p95} ms p95 ` +
    `(scoring ${result.scoreCpuMs.p50} ms p50; the rest is the 16 HTTP answers); model load ${result.modelLoadMs} ms`,
);
const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'results', 'predictor.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
print(`wrote ${path.relative(process.cwd(), out)}`);
