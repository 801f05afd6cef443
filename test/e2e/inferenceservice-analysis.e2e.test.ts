// Canary analysis against the real Prometheus: a canary whose error rate
// breaches spec.rollout.analysis is rolled back after failureLimit failed
// checks, one within the thresholds is promoted after `count` passing
// checks. kwok pods serve no traffic, so this test exports the runtime's
// metric (ymera_inference_requests_total{namespace,inferenceservice,revision,code})
// for the canary revision itself, from a prom-client registry on 127.0.0.1
// that Prometheus scrapes through a file_sd target in $YMERA_PROMETHEUS_TARGETS_DIR.
import { rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import path from 'node:path';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import { PrometheusClient } from '../../operator/prometheus/client.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  eventsAbout,
  eventually,
  freePort,
  freshNamespace,
  kubectl,
  kubectlOk,
  startOperator,
  untilObserved,
} from './support.ts';

interface InfSvc {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    revisions?: { stable?: string; canary?: string; lastRolledBack?: string };
    canary?: { revision: string; passedChecks: number; failedChecks: number; lastCheckMessage?: string };
    lastFailure?: { reason: string; message: string; revision?: string };
  };
}

const condition = (r: InfSvc | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);

describe('InferenceService canary analysis with Prometheus', () => {
  let ns: string;
  let op: OperatorProcess;
  let server: Server;
  let targetFile: string;
  let traffic: NodeJS.Timeout | undefined;
  const registry = new Registry();
  const requests = new Counter({
    name: 'ymera_inference_requests_total',
    help: 'Finished inference requests.',
    labelNames: ['namespace', 'inferenceservice', 'revision', 'code'],
    registers: [registry],
  });
  const prometheusUrl = () => process.env.YMERA_PROMETHEUS_URL ?? 'http://127.0.0.1:9090';
  const ref = (name: string) => ['-n', ns, `inferenceservice.ymera.io/${name}`];
  const until = (name: string, what: string, check: (r: InfSvc) => boolean, timeoutMs = 120_000) =>
    untilObserved<InfSvc>(ref(name), `${name}: ${what}`, check, timeoutMs);

  const service = (name: string) => ({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, namespace: ns },
    spec: {
      model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
      scaling: { minReplicas: 2 },
      rollout: {
        canaryPercent: 50,
        analysis: { interval: '10s', count: 2, maxErrorRatePercent: 5, failureLimit: 2 },
      },
    },
  });

  /** Starts a canary and returns its revision. */
  const startCanary = async (name: string) => {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(service(name)));
    const ready = await until(name, 'Ready', (x) => condition(x, 'Ready')?.status === 'True');
    const stable = ready.status?.revisions?.stable as string;
    await kubectlOk(['patch', ...ref(name), '--type=merge', '-p', '{"spec":{"model":{"version":"v2"}}}']);
    const canary = await until(name, 'a canary', (x) => x.status?.revisions?.canary !== undefined, 30_000);
    return { stable, canary: canary.status?.revisions?.canary as string };
  };

  /** Emits requests for one revision: `errorShare` of them answered with a 500. */
  const emit = (name: string, revision: string, errorShare: number) => {
    const labels = { namespace: ns, inferenceservice: name, revision };
    requests.inc({ ...labels, code: '200' }, 0);
    requests.inc({ ...labels, code: '500' }, 0);
    return () => {
      requests.inc({ ...labels, code: '200' }, Math.round(20 * (1 - errorShare)));
      requests.inc({ ...labels, code: '500' }, Math.round(20 * errorShare));
    };
  };
  const emitters: (() => void)[] = [];

  beforeAll(async () => {
    expect(process.env.YMERA_PROMETHEUS_TARGETS_DIR, 'the stack must export the targets dir').toBeTruthy();
    ns = await freshNamespace('e2e-analysis');
    server = createServer((_req, res) => {
      void registry.metrics().then((text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType });
        res.end(text);
      });
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    targetFile = path.join(process.env.YMERA_PROMETHEUS_TARGETS_DIR ?? '', `${ns}.json`);
    writeFileSync(targetFile, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: ns } }]));
    traffic = setInterval(() => emitters.forEach((e) => e()), 250);
    const prom = new PrometheusClient({ url: prometheusUrl() });
    await eventually(
      'Prometheus to scrape the exporter',
      async () => (await prom.queryValue(`up{job="${ns}"}`)) === 1,
      30_000,
    );
    op = await startOperator('op-analysis', [
      `--watch-namespaces=${ns}`,
      `--prometheus-url=${prometheusUrl()}`,
    ]);
  });

  afterAll(async () => {
    if (traffic) clearInterval(traffic);
    if (targetFile) rmSync(targetFile, { force: true });
    await new Promise((resolve) => server?.close(resolve));
    if (ns) await deleteInferenceServices(ns);
    await op?.stop();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('promotes a canary whose error rate stays within the threshold', async () => {
    const { canary } = await startCanary('good');
    emitters.push(emit('good', canary, 0.01));
    const checked = await until(
      'good',
      'a passing check',
      (x) => (x.status?.canary?.passedChecks ?? 0) >= 1,
      60_000,
    );
    expect(checked.status?.canary?.lastCheckMessage).toMatch(/check passed: error rate/);
    expect(condition(checked, 'CanaryHealthy')?.status).toBe('True');
    const done = await until(
      'good',
      'promotion after two passing checks',
      (x) => x.status?.revisions?.stable === canary && condition(x, 'RolloutComplete')?.status === 'True',
    );
    expect(done.status?.revisions?.canary).toBeUndefined();
  });

  it('rolls back a canary whose error rate breaches the threshold', async () => {
    const { stable, canary } = await startCanary('bad');
    emitters.push(emit('bad', canary, 0.5));
    const r = await until('bad', 'the rollback', (x) => x.status?.revisions?.lastRolledBack === canary);
    expect(r.status?.revisions).toEqual({ stable, lastRolledBack: canary });
    expect(r.status?.lastFailure).toMatchObject({ reason: 'RolledBack', revision: canary });
    expect(r.status?.lastFailure?.message).toMatch(/AnalysisFailed.*error rate \d+(\.\d+)?% > 5%/);
    // told once the rollback is in effect, after the status write
    await eventually('the RolledBack Warning Event', async () =>
      (await eventsAbout(ns, 'bad')).some((e) => e.reason === 'RolledBack' && e.type === 'Warning'),
    );
  });
});
