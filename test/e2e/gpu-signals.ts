// A test exporter of per-node GPU signals for MaintenancePlan e2e tests: it
// serves the shipped predictor's 16 signals per node (values from the model's
// held-out fixtures) on 127.0.0.1, and the local Prometheus scrapes it through
// a file_sd target.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import path from 'node:path';
import { PrometheusClient } from '../../operator/prometheus/client.ts';
import { eventually, freePort, prometheusStack, repo } from './support.ts';

export type Features = Record<string, number>;
export const modelDir = path.join(repo, 'controllers/maintenanceplan/model');
export const modelMeta = JSON.parse(
  readFileSync(path.join(modelDir, 'gpu-failure.features.json'), 'utf8'),
) as {
  sha256: string;
  signals: { name: string }[];
};
const fixtures = JSON.parse(readFileSync(path.join(modelDir, 'gpu-failure.fixtures.json'), 'utf8')) as {
  rows: { kind: string; features: Features; risk: number }[];
};

/** A fixture row by kind (healthy, memory, …). */
export function fixtureRow(kind: string): { features: Features; risk: number } {
  const r = fixtures.rows.find((x) => x.kind === kind);
  if (!r) throw new Error(`no fixture row ${kind}`);
  return r;
}

export const signalNames = modelMeta.signals.map((s) => s.name);

export type GpuExporter = {
  /** What is served: per node, per signal (a signal left out has no series). */
  values: Map<string, Features>;
  /** spec.signals of a plan reading this exporter's series. */
  signals: { name: string; query: string }[];
  promUrl: string;
  close(): Promise<void>;
};

/** Starts the exporter for `nodes` (all healthy) and waits until Prometheus has scraped it. */
export async function startGpuExporter(run: string, nodes: readonly string[]): Promise<GpuExporter> {
  const values = new Map<string, Features>(nodes.map((n) => [n, { ...fixtureRow('healthy').features }]));
  const server: Server = createServer((_req, res) => {
    const lines = ['# TYPE ymera_e2e_gpu_signal gauge'];
    for (const [node, f] of values)
      for (const [signal, v] of Object.entries(f))
        lines.push(`ymera_e2e_gpu_signal{run="${run}",node="${node}",signal="${signal}"} ${v}`);
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(lines.join('\n') + '\n');
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const prom = prometheusStack();
  const targetFile = path.join(prom.targetsDir, `${run}.json`);
  writeFileSync(targetFile, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: run } }]));
  const client = new PrometheusClient({ url: prom.url });
  await eventually(
    'Prometheus to scrape the test exporter',
    async () =>
      (await client.queryValue(`count(ymera_e2e_gpu_signal{run="${run}"})`)) ===
      nodes.length * signalNames.length,
    60_000,
  );
  return {
    values,
    promUrl: prom.url,
    signals: signalNames.map((name) => ({
      name,
      query: `max by (node) (ymera_e2e_gpu_signal{run="${run}",signal="${name}"})`,
    })),
    async close() {
      rmSync(targetFile, { force: true });
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
