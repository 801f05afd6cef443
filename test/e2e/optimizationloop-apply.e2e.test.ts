// OptimizationLoop in Apply mode against the real Prometheus and a Deployment
// on the kwok nodes. The exporter of the Recommend e2e (a throughput and a p95
// that are known functions of the Deployment's WORKERS env value, read from
// the API server every second) drives the loop: it writes the values itself
// (server-side apply, field manager ymera-optimizationloop), adopts an
// improving value, rolls a step into the violating region back at once,
// restores the baseline on suspend, and stops without writing again when
// another field manager changes the value. Every assertion waits for its
// condition.
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
const MANAGER = 'ymera-optimizationloop';
/** The known objective: best at 6 workers; p95 = 20·workers, so the constraint (< 90) breaks from 5 on. */
const throughput = (workers: number) => 1000 - 20 * (workers - 6) ** 2;
const p95 = (workers: number) => 20 * workers;
const WINDOW_MS = 30_000; // the shortest evaluationWindow admission allows

type Trial = {
  id: number;
  verdict: string;
  reason: string;
  params: Record<string, number>;
  completionTime?: string;
  measurement?: { objective?: number };
};
interface Loop {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    phase?: string;
    conditions?: Condition[];
    baseline?: { params: Record<string, number> };
    lastKnownGood?: { params: Record<string, number> };
    applied?: { params: Record<string, number> };
    trial?: { id: number; purpose: string; phase: string; params: Record<string, number> };
    trials?: Trial[];
  };
}
type ManagedField = { manager?: string; fieldsV1?: Record<string, unknown> };
interface Deployment {
  metadata: { generation: number; managedFields?: ManagedField[] };
  spec: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } };
  status?: { observedGeneration?: number; updatedReplicas?: number; readyReplicas?: number };
}

const condition = (l: Loop, type: string) => l.status?.conditions?.find((c) => c.type === type);
const workersOf = (d: Deployment | undefined) => Number(d?.spec.template.spec.containers[0]?.env[0]?.value);
/** The managers owning the WORKERS value. */
const ownersOfWorkers = (d: Deployment) =>
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

describe('OptimizationLoop in Apply mode with the real Prometheus', { timeout: 360_000 }, () => {
  const run = `oapply${Math.random().toString(36).slice(2, 8)}`;
  const prom = prometheusStack();
  let ns: string;
  let op: OperatorProcess | undefined;
  let server: Server | undefined;
  let poll: NodeJS.Timeout | undefined;
  let targetFile: string | undefined;
  let workers = 3;

  const until = (what: string, check: (l: Loop) => boolean, timeoutMs = 300_000) =>
    untilObserved<Loop>(['optimizationloop.ymera.io/tune', '-n', ns], what, check, timeoutMs);
  const deployment = () =>
    getJson<Deployment>(['get', 'deployment', 'web', '-n', ns, '--show-managed-fields']);
  const spec = (suspend: boolean) => ({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'OptimizationLoop',
    metadata: { name: 'tune', namespace: ns },
    spec: {
      target: { kind: 'Deployment', name: 'web' },
      parameters: [{ path: WORKERS, min: 1, max: 8, step: 1 }],
      objective: {
        query: `avg_over_time(ymera_e2e_oapply_throughput{run="${run}"}[$window])`,
        goal: 'Maximize',
      },
      constraints: [
        {
          name: 'p95-latency',
          query: `max_over_time(ymera_e2e_oapply_p95_ms{run="${run}"}[$window])`,
          operator: 'LessThan',
          threshold: 90,
        },
      ],
      algorithm: 'HillClimb',
      seed: 7,
      initialDelay: '2s',
      evaluationWindow: `${WINDOW_MS / 1000}s`,
      minImprovementPercent: 2,
      maxFailedTrials: 3,
      safety: { maxStepPercent: 15, maxChangesPerHour: 60 },
      mode: 'Apply',
      onStop: 'Restore',
      suspend,
    },
  });

  beforeAll(async () => {
    ns = await freshNamespace('e2e-oapply');
    server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(
        [
          '# TYPE ymera_e2e_oapply_throughput gauge',
          `ymera_e2e_oapply_throughput{run="${run}"} ${throughput(workers)}`,
          '# TYPE ymera_e2e_oapply_p95_ms gauge',
          `ymera_e2e_oapply_p95_ms{run="${run}"} ${p95(workers)}`,
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
              containers: [{ name: 'app', image: 'busybox', env: [{ name: 'WORKERS', value: '3' }] }],
            },
          },
        },
      }),
    );
    poll = setInterval(() => {
      void deployment().then((d) => {
        const v = workersOf(d);
        if (Number.isFinite(v)) workers = v;
      });
    }, 1000);
    targetFile = path.join(prom.targetsDir, `${run}.json`);
    writeFileSync(targetFile, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: run } }]));
    const client = new PrometheusClient({ url: prom.url });
    await eventually(
      'Prometheus to scrape the test exporter',
      async () => (await client.queryValue(`ymera_e2e_oapply_throughput{run="${run}"}`)) === throughput(3),
      60_000,
    );
    await eventually(
      'the Deployment to be rolled out',
      async () => (await deployment())?.status?.readyReplicas === 1,
    );
    // The CRD this checkout generated (the cluster is shared; another checkout may have applied its own).
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
    op = await startOperator('op-oapply', [`--watch-namespaces=${ns}`, `--prometheus-url=${prom.url}`]);
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(spec(false)));
  });

  afterAll(async () => {
    if (poll) clearInterval(poll);
    if (process.env.YMERA_E2E_DUMP && op) writeFileSync(process.env.YMERA_E2E_DUMP, op.logs());
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

  it('writes an improving value itself (its own field manager, after the rollout) and adopts it', async () => {
    const l = await until('a trial adopted', (x) => !!x.status?.trials?.some((t) => t.verdict === 'Adopted'));
    const adopted = l.status!.trials!.find((t) => t.verdict === 'Adopted')!;
    expect(l.status?.baseline?.params).toEqual({ [WORKERS]: 3 });
    expect(adopted.params).toEqual({ [WORKERS]: 4 }); // the only feasible better neighbour of 3
    expect(adopted.measurement?.objective).toBeCloseTo(throughput(4), 0);
    expect(l.status?.lastKnownGood?.params).toEqual({ [WORKERS]: 4 });
    expect(condition(l, 'Ready')).toMatchObject({ status: 'True', reason: 'Tuning' });
    const d = (await deployment())!;
    expect(ownersOfWorkers(d)).toEqual([MANAGER]);
    // the loop owns the tuned value and nothing else of the spec
    const mine = d.metadata.managedFields!.filter((mf) => mf.manager === MANAGER);
    expect(mine).toHaveLength(1);
    expect(Object.keys(mine[0]!.fieldsV1!)).toEqual(['f:spec']);
    await eventually('a TrialAdopted Event', async () =>
      (await eventsAbout(ns, 'tune')).find((e) => e.reason === 'TrialAdopted'),
    );
  });

  it('rolls a step into the violating region back to the last known good value at once', async () => {
    const l = await until(
      'a trial violated',
      (x) => !!x.status?.trials?.some((t) => t.verdict === 'Violated'),
    );
    const violated = l.status!.trials!.find((t) => t.verdict === 'Violated')!;
    expect(violated.params).toEqual({ [WORKERS]: 5 });
    expect(violated.reason).toMatch(/p95-latency/);
    expect(condition(l, 'ConstraintViolated')).toMatchObject({ status: 'True', reason: 'TrialViolated' });
    // the rollback is written in the reconcile that judged (before its status): one window plus one
    // reconcile after the violating window ended at the latest
    const judged = Date.parse(violated.completionTime!);
    await eventually(
      'the last known good value back on the Deployment',
      async () => workersOf(await deployment()) === 4,
      WINDOW_MS + 15_000,
    );
    expect(Date.now() - judged).toBeLessThan(2 * WINDOW_MS + 15_000);
    // the full history lives in the loop's ConfigMap
    const cm = await getJson<{ data?: Record<string, string> }>([
      'get',
      'configmap',
      'tune-trials',
      '-n',
      ns,
    ]);
    const lines = (cm?.data?.['trials.jsonl'] ?? '')
      .trim()
      .split('\n')
      .map((s) => JSON.parse(s) as Trial);
    expect(lines.map((t) => t.verdict)).toContain('Violated');
    expect(lines.map((t) => t.verdict)).toContain('Adopted');
    await eventually('a TrialViolated Warning', async () =>
      (await eventsAbout(ns, 'tune')).find((e) => e.reason === 'TrialViolated' && e.type === 'Warning'),
    );
  });

  it('restores the baseline on suspend', async () => {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(spec(true)));
    const l = await until('suspended', (x) => condition(x, 'Stopped')?.reason === 'Suspended', 60_000);
    expect(l.status?.phase).toBe('Stopped');
    await eventually(
      'the baseline back on the Deployment',
      async () => workersOf(await deployment()) === 3,
      30_000,
    );
  });

  it('stops with ChangedExternally when another field manager changes its value, and does not write again', async () => {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(spec(false)));
    // resumed: the loop measures its last known good value again, which it writes
    await eventually('the loop to write again after resuming', async () => {
      const d = await deployment();
      return workersOf(d) === 4 && d?.status?.observedGeneration === d?.metadata.generation;
    });
    await kubectlOk(
      ['apply', '--server-side', '--force-conflicts', '--field-manager=e2e-someone-else', '-f', '-'],
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: ns },
        spec: {
          template: { spec: { containers: [{ name: 'app', env: [{ name: 'WORKERS', value: '2' }] }] } },
        },
      }),
    );
    const after = (await deployment())!;
    const l = await until(
      'stopped: ChangedExternally',
      (x) => condition(x, 'Stopped')?.reason === 'ChangedExternally',
    );
    expect(condition(l, 'Stopped')?.message).toMatch(/e2e-someone-else/);
    expect(condition(l, 'Stalled')).toMatchObject({ status: 'True', reason: 'ChangedExternally' });
    await eventually('a ChangedExternally Warning', async () =>
      (await eventsAbout(ns, 'tune')).find((e) => e.reason === 'ChangedExternally'),
    );
    // stopped for good: the value, its generation and its owner stay the other manager's
    const d = (await deployment())!;
    expect(workersOf(d)).toBe(2);
    expect(d.metadata.generation).toBe(after.metadata.generation);
    expect(ownersOfWorkers(d)).toEqual(['e2e-someone-else']);
  });
});
