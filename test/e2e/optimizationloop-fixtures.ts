// Shared by the OptimizationLoop e2e files: Deployments on the kwok nodes
// whose WORKERS env value the loops tune, and a small exporter on 127.0.0.1
// (scraped by the real Prometheus through a file_sd target) that serves, per
// Deployment, a throughput and a p95 latency that are known functions of the
// WORKERS value it reads from the API server every second.
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Condition } from '../../operator/conditions.ts';
import { PrometheusClient } from '../../operator/prometheus/client.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventually,
  freePort,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  prometheusStack,
  repo,
  startOperator,
} from './support.ts';

export const WORKERS = 'spec.template.spec.containers[0].env[0].value';
/** The field manager of Apply-mode loops (controllers/optimizationloop/apply.ts). */
export const LOOP_MANAGER = 'ymera-optimizationloop';
/** The known objective: best at 6 workers. */
export const throughput = (workers: number) => 1000 - 20 * (workers - 6) ** 2;
/** The known p95 latency in ms: grows with the workers. */
export const p95 = (workers: number) => 20 * workers;

export type Trial = {
  id: number;
  purpose?: string;
  verdict: string;
  reason: string;
  params: Record<string, number>;
  startTime?: string;
  completionTime?: string;
  measurement?: { objective?: number } & Record<string, unknown>;
};
type Measured = { params: Record<string, number>; measurement?: { objective?: number } };
export interface Loop {
  metadata: { name: string; generation?: number; finalizers?: string[] };
  status?: {
    observedGeneration?: number;
    phase?: string;
    conditions?: Condition[];
    baseline?: Measured;
    lastKnownGood?: Measured;
    applied?: { params: Record<string, number> };
    trialsCompleted?: number;
    recommendation?: { params: Record<string, number>; reason: string };
    trial?: { id: number; purpose: string; phase: string; params: Record<string, number> };
    trials?: Trial[];
  };
}
export type ManagedField = { manager?: string; fieldsV1?: Record<string, unknown> };
export interface Deployment {
  metadata: { resourceVersion: string; generation: number; managedFields?: ManagedField[] };
  spec: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } };
  status?: { observedGeneration?: number; updatedReplicas?: number; readyReplicas?: number };
}

export const condition = (l: Loop, type: string) => l.status?.conditions?.find((c) => c.type === type);
export const workersOf = (d: Deployment | undefined) =>
  Number(d?.spec.template.spec.containers[0]?.env[0]?.value);

/** The managers owning the WORKERS value of a Deployment. */
export const ownersOfWorkers = (d: Deployment) =>
  (d.metadata.managedFields ?? [])
    .filter((mf) => {
      const c = (
        (
          (mf.fieldsV1?.['f:spec'] as Record<string, unknown> | undefined)?.['f:template'] as
            Record<string, unknown> | undefined
        )?.['f:spec'] as Record<string, unknown> | undefined
      )?.['f:containers'] as
        Record<string, Record<string, Record<string, Record<string, unknown>>>> | undefined;
      return !!c?.['k:{"name":"app"}']?.['f:env']?.['k:{"name":"WORKERS"}']?.['f:value'];
    })
    .map((mf) => mf.manager);

export type LoopOptions = {
  name: string;
  /** The Deployment tuned (and measured). */
  deployment: string;
  /** PromQL of the objective; default the exporter's throughput of `deployment`. */
  objective?: string;
  /** The p95-latency constraint's threshold in ms. */
  threshold: number;
  /** Spec fields that differ from the defaults below (parameters bounds, timings, mode, ...). */
  spec?: Record<string, unknown>;
  /** Bounds of WORKERS. */
  min?: number;
  max?: number;
};

/**
 * The namespace, the exporter, the operator and the CRD an OptimizationLoop
 * e2e file needs; `deployment()` adds a Deployment with its series.
 */
export class LoopStack {
  readonly run: string;
  readonly metric: string;
  ns = '';
  op: OperatorProcess | undefined;
  readonly #prom = prometheusStack();
  readonly #workers = new Map<string, number>();
  #server: Server | undefined;
  #poll: NodeJS.Timeout | undefined;
  #targetFile: string | undefined;

  /** `metric`: the series' name prefix, e.g. ymera_e2e_oloop (…_throughput, …_p95_ms). */
  constructor(metric: string) {
    this.metric = metric;
    this.run = `${metric.replace(/^ymera_e2e_/, '')}${Math.random().toString(36).slice(2, 8)}`;
  }

  /** A series of the exporter as PromQL, e.g. series('throughput', 'web'). */
  series(name: string, deployment: string): string {
    return `${this.metric}_${name}{run="${this.run}",deployment="${deployment}"}`;
  }

  /** Creates the namespace and starts the exporter. */
  async start(nsPrefix: string): Promise<void> {
    this.ns = await freshNamespace(nsPrefix);
    this.#server = createServer((_req, res) => {
      const all = [...this.#workers];
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(
        [
          `# TYPE ${this.metric}_throughput gauge`,
          ...all.map(([name, w]) => `${this.series('throughput', name)} ${throughput(w)}`),
          `# TYPE ${this.metric}_p95_ms gauge`,
          ...all.map(([name, w]) => `${this.series('p95_ms', name)} ${p95(w)}`),
        ].join('\n') + '\n',
      );
    });
    const port = await freePort();
    await new Promise<void>((resolve) => this.#server?.listen(port, '127.0.0.1', resolve));
    // the exporter answers to what each Deployment holds
    this.#poll = setInterval(() => {
      for (const name of this.#workers.keys()) {
        void this.get(name).then(
          (d) => {
            const v = workersOf(d);
            if (Number.isFinite(v)) this.#workers.set(name, v);
          },
          () => undefined, // the next poll tries again
        );
      }
    }, 1000);
    this.#targetFile = path.join(this.#prom.targetsDir, `${this.run}.json`);
    writeFileSync(
      this.#targetFile,
      JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: this.run } }]),
    );
  }

  /** A Deployment `name` with WORKERS=`workers`, rolled out and scraped. */
  async deployment(name: string, workers: number): Promise<void> {
    this.#workers.set(name, workers);
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: this.ns },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: {
              nodeSelector: { 'ymera.io/node-pool': 'cpu' },
              containers: [
                { name: 'app', image: 'busybox', env: [{ name: 'WORKERS', value: String(workers) }] },
              ],
            },
          },
        },
      }),
    );
    const client = new PrometheusClient({ url: this.#prom.url });
    await eventually(
      `Prometheus to scrape the test exporter for ${name}`,
      async () => (await client.queryValue(this.series('throughput', name))) === throughput(workers),
      60_000,
    );
    await eventually(
      `the Deployment ${name} to be rolled out`,
      async () => (await this.get(name))?.status?.readyReplicas === 1,
    );
  }

  /** The Deployment with its managedFields. */
  get(name: string): Promise<Deployment | undefined> {
    return getJson<Deployment>(['get', 'deployment', name, '-n', this.ns, '--show-managed-fields']);
  }

  /** Applies this checkout's CRD (the cluster is shared; another checkout may have applied its own), then starts the operator. */
  async startOperator(identity: string): Promise<void> {
    await kubectlOk([
      'apply',
      '--server-side',
      '--force-conflicts',
      '--field-manager=ymera-e2e',
      '-f',
      path.join(repo, 'crds/optimizationloops.ymera.io.yaml'),
    ]);
    await kubectlOk([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/optimizationloops.ymera.io',
    ]);
    this.op = await startOperator(identity, [
      `--watch-namespaces=${this.ns}`,
      `--prometheus-url=${this.#prom.url}`,
    ]);
  }

  /** An OptimizationLoop tuning WORKERS of a Deployment against the exporter's series. */
  loop(o: LoopOptions) {
    return {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'OptimizationLoop',
      metadata: { name: o.name, namespace: this.ns },
      spec: {
        target: { kind: 'Deployment', name: o.deployment },
        parameters: [{ path: WORKERS, min: o.min ?? 1, max: o.max ?? 10, step: 1 }],
        objective: {
          query: o.objective ?? `avg_over_time(${this.series('throughput', o.deployment)}[$window])`,
          goal: 'Maximize',
        },
        constraints: [
          {
            name: 'p95-latency',
            query: `max_over_time(${this.series('p95_ms', o.deployment)}[$window])`,
            operator: 'LessThan',
            threshold: o.threshold,
          },
        ],
        algorithm: 'HillClimb',
        seed: 7,
        evaluationWindow: '30s',
        minImprovementPercent: 2,
        ...o.spec,
      },
    };
  }

  async apply(object: unknown): Promise<void> {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(object));
  }

  /** Deletes the loops while the operator still runs (their finalizers), then everything else. */
  async stop(): Promise<void> {
    if (this.#poll) clearInterval(this.#poll);
    if (process.env.YMERA_E2E_DUMP && this.op) writeFileSync(process.env.YMERA_E2E_DUMP, this.op.logs());
    if (this.ns)
      await kubectl([
        'delete',
        'optimizationloop.ymera.io',
        '--all',
        '-n',
        this.ns,
        '--wait=true',
        '--timeout=30s',
      ]);
    if (this.#targetFile) rmSync(this.#targetFile, { force: true });
    await new Promise((resolve) => this.#server?.close(resolve));
    await this.op?.stop();
    if (this.ns) await kubectl(['delete', 'namespace', this.ns, '--wait=false']);
  }
}
