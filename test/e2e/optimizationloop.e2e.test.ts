// OptimizationLoop in Recommend mode against the real Prometheus and a
// Deployment on the kwok nodes. A small exporter on 127.0.0.1 (scraped
// through a file_sd target, every 1s) serves a throughput that is a known
// function of the Deployment's WORKERS env value, which it reads from the
// API server every second: the loop measures the baseline, recommends a
// candidate and changes nothing; once the test applies the recommendation
// (as Git would), the loop measures it twice and adopts it. A second loop
// whose objective has no data holds. Every assertion waits for its condition.
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import { PrometheusClient } from '../../operator/prometheus/client.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventsAbout,
  eventually,
  freePort,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  prometheusStack,
  repo,
  startOperator,
  untilObserved,
} from './support.ts';

const WORKERS = 'spec.template.spec.containers[0].env[0].value';
/** The known objective: best at 6 workers. */
const throughput = (workers: number) => 1000 - 20 * (workers - 6) ** 2;

interface Loop {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    phase?: string;
    conditions?: Condition[];
    baseline?: { params: Record<string, number>; measurement?: { objective?: number } };
    lastKnownGood?: { params: Record<string, number> };
    recommendation?: { params: Record<string, number>; reason: string };
    trial?: { id: number; purpose: string; phase: string; params: Record<string, number> };
    trials?: {
      id: number;
      verdict: string;
      reason: string;
      params: Record<string, number>;
      measurement?: { objective?: number };
    }[];
  };
}
interface Deployment {
  metadata: { resourceVersion: string; generation: number; managedFields?: { manager?: string }[] };
  spec: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } };
}

const condition = (l: Loop, type: string) => l.status?.conditions?.find((c) => c.type === type);

describe('OptimizationLoop in Recommend mode with the real Prometheus', () => {
  const run = `oloop${Math.random().toString(36).slice(2, 8)}`;
  const prom = prometheusStack();
  let ns: string;
  let op: OperatorProcess | undefined;
  let server: Server | undefined;
  let poll: NodeJS.Timeout | undefined;
  let targetFile: string | undefined;
  /** The WORKERS value the Deployment holds now (read from the API server). */
  let workers = 2;
  let before: Deployment;

  const until = (name: string, what: string, check: (l: Loop) => boolean, timeoutMs = 120_000) =>
    untilObserved<Loop>(
      [`optimizationloop.ymera.io/${name}`, '-n', ns],
      `${name}: ${what}`,
      check,
      timeoutMs,
    );
  const deployment = () =>
    getJson<Deployment>(['get', 'deployment', 'web', '-n', ns, '--show-managed-fields']);

  const loop = (name: string, objective: string) => ({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'OptimizationLoop',
    metadata: { name, namespace: ns },
    spec: {
      target: { kind: 'Deployment', name: 'web' },
      parameters: [{ path: WORKERS, min: 1, max: 10, step: 1 }],
      objective: { query: objective, goal: 'Maximize' },
      constraints: [
        {
          name: 'p95-latency',
          query: `max_over_time(ymera_e2e_oloop_p95_ms{run="${run}"}[$window])`,
          operator: 'LessThan',
          threshold: 500,
        },
      ],
      algorithm: 'HillClimb',
      seed: 7,
      initialDelay: '3s',
      evaluationWindow: '30s',
      minImprovementPercent: 2,
      safety: { maxStepPercent: 25 },
      mode: 'Recommend',
    },
  });

  beforeAll(async () => {
    ns = await freshNamespace('e2e-oloop');
    server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(
        [
          '# TYPE ymera_e2e_oloop_throughput gauge',
          `ymera_e2e_oloop_throughput{run="${run}"} ${throughput(workers)}`,
          '# TYPE ymera_e2e_oloop_p95_ms gauge',
          `ymera_e2e_oloop_p95_ms{run="${run}"} ${20 * workers}`,
        ].join('\n') + '\n',
      );
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: ns },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              nodeSelector: { 'ymera.io/node-pool': 'cpu' },
              containers: [{ name: 'app', image: 'busybox', env: [{ name: 'WORKERS', value: '2' }] }],
            },
          },
        },
      }),
    );
    // the exporter answers to what the Deployment holds
    poll = setInterval(() => {
      void deployment().then((d) => {
        const v = Number(d?.spec.template.spec.containers[0]?.env[0]?.value);
        if (Number.isFinite(v)) workers = v;
      });
    }, 1000);
    targetFile = path.join(prom.targetsDir, `${run}.json`);
    writeFileSync(targetFile, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: run } }]));
    const client = new PrometheusClient({ url: prom.url });
    await eventually(
      'Prometheus to scrape the test exporter',
      async () => (await client.queryValue(`ymera_e2e_oloop_throughput{run="${run}"}`)) === throughput(2),
      60_000,
    );
    await eventually('the Deployment to be rolled out', async () => {
      const d = await getJson<{ status?: { readyReplicas?: number } }>([
        'get',
        'deployment',
        'web',
        '-n',
        ns,
      ]);
      return d?.status?.readyReplicas === 1;
    });
    before = (await deployment())!;
    // The CRD this checkout generated (global setup applied it; the cluster is shared, so make sure).
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
    op = await startOperator('op-oloop', [`--watch-namespaces=${ns}`, `--prometheus-url=${prom.url}`]);
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify(loop('tune', `avg_over_time(ymera_e2e_oloop_throughput{run="${run}"}[$window])`)),
    );
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify(loop('nodata', `avg_over_time(ymera_e2e_oloop_missing{run="${run}"}[$window])`)),
    );
  });

  afterAll(async () => {
    if (poll) clearInterval(poll);
    if (ns)
      await kubectl([
        'delete',
        'optimizationloop.ymera.io',
        '--all',
        '-n',
        ns,
        '--wait=true',
        '--timeout=30s',
      ]);
    if (targetFile) rmSync(targetFile, { force: true });
    await new Promise((resolve) => server?.close(resolve));
    await op?.stop();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('measures the baseline and recommends a candidate without writing to the target', async () => {
    const l = await until('tune', 'a recommendation', (x) => x.status?.trial?.purpose === 'Candidate');
    expect(l.status?.baseline?.params).toEqual({ [WORKERS]: 2 });
    expect(l.status?.baseline?.measurement?.objective).toBeCloseTo(throughput(2), 0);
    const rec = l.status?.recommendation;
    expect(rec?.params).toEqual(l.status?.trial?.params);
    expect(Math.abs(rec!.params[WORKERS]! - 2)).toBeLessThanOrEqual(2); // maxStepPercent 25 of 9 steps
    expect(rec?.reason).toMatch(/^trial 1: /);
    expect(l.status?.trial?.phase).toBe('Applying'); // waits for someone to apply it
    expect(condition(l, 'Ready')).toMatchObject({ status: 'True', reason: 'Recommending' });
    // zero writes: the Deployment is exactly as the test left it
    const now = (await deployment())!;
    expect(now.metadata.generation).toBe(before.metadata.generation); // (status may move; the spec did not)
    expect(now.metadata.managedFields?.length).toBeGreaterThan(0);
    expect(now.metadata.managedFields?.map((f) => f.manager)).not.toContain('ymera-operator');
  });

  it('holds without data: no baseline, no recommendation, Holding says why', async () => {
    const l = await until(
      'nodata',
      'Holding on no data',
      (x) => condition(x, 'Holding')?.status === 'True' && condition(x, 'Holding')?.reason === 'Inconclusive',
    );
    // runs before the next test changes the Deployment: still the baseline being measured
    expect(condition(l, 'Holding')?.message).toBe(
      'baseline: no data for the objective (empty or NaN); measuring again',
    );
    expect(l.status?.phase).toBe('Pending');
    expect(l.status?.recommendation).toBeUndefined();
    expect(l.status?.baseline?.measurement).toBeUndefined();
  });

  it('judges the recommendation once it is applied (as Git would) and adopts it after a second window', async () => {
    const rec = (await until('tune', 'a recommendation', (x) => !!x.status?.recommendation)).status!
      .recommendation!;
    const value = rec.params[WORKERS]!;
    await kubectlOk(['set', 'env', 'deployment/web', '-n', ns, `WORKERS=${value}`]);
    const l = await until('tune', 'trial 1 judged', (x) => (x.status?.trials?.length ?? 0) >= 1, 180_000);
    const [trial] = l.status!.trials!;
    // the candidate is nearer the optimum (6) than the baseline (2): better by far more than 2%
    expect(trial).toMatchObject({ id: 1, verdict: 'Adopted', params: { [WORKERS]: value } });
    expect(trial?.measurement?.objective).toBeCloseTo(throughput(value), 0);
    expect(trial?.reason).toMatch(/confirmed by a second window/);
    expect(l.status?.lastKnownGood?.params).toEqual({ [WORKERS]: value });
    await eventually('a TrialAdopted Event', async () =>
      (await eventsAbout(ns, 'tune')).find((e) => e.reason === 'TrialAdopted' && e.note.includes('trial 1')),
    );
    // still no write by the operator: the only change is the test's own
    const now = (await deployment())!;
    expect(now.metadata.managedFields?.length).toBeGreaterThan(0);
    expect(now.metadata.managedFields?.map((f) => f.manager)).not.toContain('ymera-operator');
    expect(now.metadata.generation).toBe(before.metadata.generation + 1);
  });
});
