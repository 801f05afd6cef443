// MaintenancePlan scoring benchmark: one evaluation interval for NODES nodes
// (default 1000) and the shipped predictor's 16 signals, from the per-signal
// query results (one vector of NODES samples per signal, as Prometheus returns
// for `... by (node)`) to the risk and top-3 contributions of every node:
// groupByNode + buildFeatures + predict (one session.run of NODES × 17 rows).
// Prometheus itself is not queried here: the inputs are the 16 vectors one
// query per signal would return. Prints wall and CPU time per interval and
// writes bench/results/predictor.json. Not a test: no asserts.
//
//   scripts/with-node.sh node bench/predictor.ts
//   BENCH_NODES=5000 BENCH_ROUNDS=50 scripts/with-node.sh node bench/predictor.ts
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildFeatures, groupByNode, predict } from '../controllers/maintenanceplan/predict.ts';
import type { LabelledSample, SignalSample } from '../controllers/maintenanceplan/predict.ts';
import { openRiskModel } from '../controllers/maintenanceplan/risk-model.ts';

const NODES = Number(process.env.BENCH_NODES ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const WARMUP = 3;
const print = (line: string): void => void process.stdout.write(line + '\n');

const modelDir = new URL('../controllers/maintenanceplan/model/', import.meta.url);
type Spec = { sha256: string; signals: { name: string; median: number }[] };
const spec = JSON.parse(readFileSync(new URL('gpu-failure.features.json', modelDir), 'utf8')) as Spec;
const fixtures = (
  JSON.parse(readFileSync(new URL('gpu-failure.fixtures.json', modelDir), 'utf8')) as {
    rows: { features: Record<string, number> }[];
  }
).rows;
const signals = spec.signals.map((s) => s.name);
const medians = spec.signals.map((s) => s.median);

// A fixed-seed fleet: each node a fixture row (healthy, hot, or a failure mode) with ±5 % jitter.
let seed = 20261204;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) as number;
const nodes = Array.from({ length: NODES }, (_, i) => `gpu-node-${i}`);
const now = Math.floor(Date.now() / 1000);
const vectors: LabelledSample[][] = signals.map((signal) =>
  nodes.map((node, i) => ({
    labels: { node, __name__: signal },
    value: fixtures[i % fixtures.length]!.features[signal]! * (0.95 + 0.1 * rand()),
    timestamp: now - 15,
  })),
);

const loadStart = performance.now();
const model = await openRiskModel(readFileSync(new URL('gpu-failure.onnx', modelDir)), {
  sha256: spec.sha256,
  signals: signals.length,
});
const loadMs = performance.now() - loadStart;

let runs = 0;
const counted = async (d: Float32Array, r: number, w: number) => {
  runs++;
  return model.score(d, r, w);
};
async function interval() {
  const results = new Map<string, Map<string, SignalSample>>(
    signals.map((s, j) => [s, groupByNode(vectors[j]!, 'node')]),
  );
  const batch = buildFeatures(signals, nodes, results, { now, maxAgeSeconds: 600 });
  return predict(batch, counted, { baseline: medians, topK: 3 });
}

const wall: number[] = [];
const cpu: number[] = [];
let scored = 0;
for (let i = 0; i < WARMUP + ROUNDS; i++) {
  runs = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const p = await interval();
  const t1 = performance.now();
  const c = process.cpuUsage(c0);
  if (i >= WARMUP) {
    wall.push(t1 - t0);
    cpu.push((c.user + c.system) / 1000);
    scored = p.filter((x) => x.state === 'Scored').length;
  }
}
await model.close();

const q = (a: number[], p: number) =>
  [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))]!;
const result = {
  nodes: NODES,
  signals: signals.length,
  rounds: ROUNDS,
  queriesPerInterval: signals.length,
  sessionRunsPerInterval: runs,
  rowsPerRun: NODES * (1 + signals.length),
  scoredNodes: scored,
  modelLoadMs: Math.round(loadMs * 10) / 10,
  wallMs: { p50: Math.round(q(wall, 0.5) * 10) / 10, p95: Math.round(q(wall, 0.95) * 10) / 10 },
  cpuMs: { p50: Math.round(q(cpu, 0.5) * 10) / 10 },
};
print(
  `${NODES} nodes x ${signals.length} signals, contributions included: ` +
    `${result.wallMs.p50} ms wall p50 (p95 ${result.wallMs.p95} ms), ${result.cpuMs.p50} ms CPU per interval; ` +
    `${result.queriesPerInterval} queries (one per signal), ${runs} session.run of ${result.rowsPerRun} rows; ` +
    `model load ${result.modelLoadMs} ms`,
);
const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'results', 'predictor.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
print(`wrote ${path.relative(process.cwd(), out)}`);
