// The generated rules in a real Prometheus, and the rule writer against the
// real API server:
//  - an exporter in this process serves the runtime's metrics for one
//    InferenceService; Prometheus scrapes it through a file_sd target file,
//    loads the rules file taken from the ConfigMap the writer produced (read
//    back from the API server), and the error-budget and latency alerts fire
//    once the test drives errors and slow requests, seen through our client;
//  - the PrometheusRule CRD appears (a minimal fixture), detection switches
//    from ConfigMap to PrometheusRule, and the API server accepts the object;
//  - the client's two error kinds: bad PromQL and an unreachable Prometheus.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import path from 'node:path';
import { Counter, Histogram, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CircuitOpenError } from '../../operator/backoff.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { crd as inferenceServiceCrd } from '../../controllers/inferenceservice/schema.ts';
import { core } from '../../operator/kube/resources.ts';
import type { Alert } from '../../operator/prometheus/client.ts';
import {
  PrometheusClient,
  PrometheusQueryError,
  PrometheusUnavailableError,
} from '../../operator/prometheus/client.ts';
import type { InferenceServiceLike } from '../../operator/prometheus/generators/inferenceservice.ts';
import {
  ERROR_BUDGET_ALERT,
  inferenceServiceRuleGroups,
  LATENCY_ALERT,
} from '../../operator/prometheus/generators/inferenceservice.ts';
import { PROMETHEUS_RULE_CRD, prometheusRule } from '../../operator/prometheus/resources.ts';
import {
  PrometheusRuleDetector,
  ruleChildren,
  ruleFileOf,
  RULES_CONFIGMAP_LABEL,
} from '../../operator/prometheus/rule-objects.ts';
import { normalizeGroups } from '../../operator/prometheus/rules.ts';
import { loadSamples } from './samples.ts';
import {
  eventually,
  freePort,
  freshNamespace,
  kubectl,
  kubectlOk,
  prometheusStack,
  repo,
} from './support.ts';

const script = path.join(repo, 'test/e2e/stack/prometheus.sh');

let env: ReturnType<typeof prometheusStack>;
let prom: PrometheusClient;
let kube: KubeClient;
let ns: string;
let owner: KubeObject;

beforeAll(async () => {
  execFileSync('bash', [script, 'up'], { stdio: ['ignore', 'inherit', 'inherit'] });
  env = prometheusStack();
  prom = new PrometheusClient({ url: env.url, timeoutMs: 5000 });
  kube = KubeClient.fromEnvironment();
  ns = await freshNamespace('e2e-prom');
  // a real InferenceService owns the rule objects, as in the operator
  const sample = loadSamples(ns).find((s) => s.kind === 'InferenceService');
  if (!sample) throw new Error('no InferenceService sample');
  owner = await kube.apply(resourceTypeOf(inferenceServiceCrd), {
    ...sample.object,
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name: 'fraud', namespace: ns },
    spec: { ...(sample.object.spec as object), slo: { availabilityPercent: 99, p95LatencyMs: 100 } },
  } as KubeObject);
});

afterAll(async () => {
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

async function reload(): Promise<void> {
  const res = await fetch(new URL('/-/reload', env.url), {
    method: 'POST',
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`reload: HTTP ${res.status}: ${await res.text()}`);
}

describe('generated rules in a real Prometheus', () => {
  const registry = new Registry();
  const requests = new Counter({
    name: 'ymera_inference_requests_total',
    help: 'Finished inference requests.',
    labelNames: ['namespace', 'inferenceservice', 'revision', 'code'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'ymera_inference_request_duration_seconds',
    help: 'Inference request latency.',
    labelNames: ['namespace', 'inferenceservice', 'revision'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  let server: Server;
  let traffic: NodeJS.Timeout | undefined;
  let files: string[] = [];
  let job: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      void registry.metrics().then((text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType });
        res.end(text);
      });
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    job = `ymera-e2e-${ns}`;
    const target = path.join(env.targetsDir, `${ns}.json`);
    writeFileSync(target, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job } }]));
    files.push(target);
  });

  afterAll(async () => {
    if (traffic) clearInterval(traffic);
    for (const f of files) rmSync(f, { force: true });
    files = [];
    await reload().catch(() => undefined);
    await new Promise((resolve) => server?.close(resolve));
  });

  const ours = (a: Alert, alertname: string) =>
    a.labels.alertname === alertname && a.labels.namespace === ns && a.labels.inferenceservice === 'fraud';

  it('fires the generated burn-rate and latency alerts when errors and slow requests come', async () => {
    const labels = { namespace: ns, inferenceservice: 'fraud', revision: 'r1' };
    // both codes exist from the start, as the runtime exports them
    requests.inc({ ...labels, code: '200' }, 0);
    requests.inc({ ...labels, code: '500' }, 0);
    let failing = false;
    traffic = setInterval(() => {
      requests.inc({ ...labels, code: '200' }, 20);
      duration.observe(labels, failing ? 0.4 : 0.008);
      if (failing) requests.inc({ ...labels, code: '500' }, 10);
    }, 200);

    const started = Date.now();
    await eventually(
      'the exporter to be scraped through the file_sd target',
      async () => (await prom.queryValue(`up{job="${job}"}`)) === 1,
      30_000,
    );
    const scrapedAfter = Date.now() - started;

    // the rules file as the operator would ship it: the ConfigMap, applied and read back
    const groups = inferenceServiceRuleGroups(owner as unknown as InferenceServiceLike, {
      // the real SRE windows; only `for` is shortened so the test need not wait minutes
      for: { critical: '0s', warning: '0s', latency: '0s' },
    });
    const [child] = ruleChildren(owner, groups, { mode: 'ConfigMap' });
    if (!child) throw new Error('no rule ConfigMap');
    await kube.apply(child.type, child.object);
    const stored = await kube.get<KubeObject>(core.configMap, child.object.metadata.name, ns);
    expect(stored?.metadata.labels?.[RULES_CONFIGMAP_LABEL]).toBe('true');
    expect(stored?.metadata.ownerReferences?.[0]?.uid).toBe(owner.metadata.uid);
    const text = stored ? ruleFileOf(stored) : undefined;
    expect(text).toBeTruthy();
    const rulesFile = path.join(env.rulesDir, `${ns}.yml`);
    writeFileSync(rulesFile, text ?? '');
    files.push(rulesFile);
    await reload();
    const loadedAt = Date.now();

    // loaded and healthy
    const loaded = await eventually(
      'the generated group to be loaded and evaluated',
      async () => {
        const group = (await prom.rules()).find((g) => g.file === rulesFile);
        return group && group.rules.every((r) => r.health === 'ok') ? group : undefined;
      },
      30_000,
    );
    expect(loaded.name).toBe(groups[0]?.name);
    expect(loaded.rules.map((r) => r.name)).toEqual(
      groups[0]?.rules.map((r) => ('alert' in r ? r.alert : r.record)),
    );

    // good traffic: the ratio is recorded as 0 and nothing fires
    const sel = `{namespace="${ns}",inferenceservice="fraud"}`;
    await eventually(
      'a 0 error ratio to be recorded',
      async () => (await prom.queryValue(`ymera:inference_request_errors:ratio_rate5m${sel}`)) === 0,
      30_000,
    );
    expect((await prom.alerts()).filter((a) => a.labels.namespace === ns)).toEqual([]);

    // a third of the requests fail and every request takes 400 ms
    failing = true;
    const failedAt = Date.now();
    const page = await eventually(
      'the critical burn-rate alert to fire',
      async () =>
        (await prom.alerts()).find(
          (a) => ours(a, ERROR_BUDGET_ALERT) && a.labels.severity === 'critical' && a.state === 'firing',
        ),
      60_000,
      500,
    );
    const pageAfter = Date.now() - failedAt;
    expect(page.labels).toMatchObject({ slo: 'availability', severity: 'critical' });
    expect(page.annotations.summary).toBe(`InferenceService ${ns}/fraud is burning its error budget fast`);
    const latency = await eventually(
      'the latency alert to fire',
      async () => (await prom.alerts()).find((a) => ours(a, LATENCY_ALERT) && a.state === 'firing'),
      60_000,
      500,
    );
    expect(latency.value).toBeGreaterThan(0.1);

    // the recorded ratio over the last seconds, as a range query. Its last point is the last rule
    // evaluation, which may predate the alert's: wait until a recorded point crosses the lower page
    // threshold (6 × the 1% budget) instead of sampling the range once.
    const points = await eventually(
      'the recorded error ratio to cross the page threshold in a range query',
      async () => {
        const range = await prom.queryRange(`ymera:inference_request_errors:ratio_rate5m${sel}`, {
          start: new Date(loadedAt - 2000),
          end: new Date(),
          stepSeconds: 0.5,
        });
        const series = range.series[0]?.points ?? [];
        return (series.at(-1)?.value ?? 0) > 0.06 ? series : undefined;
      },
      30_000,
      500,
    );
    expect(points.length).toBeGreaterThanOrEqual(3);
    // it started from the recorded 0 of good traffic, on its way to 1/3
    expect(points[0]?.value).toBe(0);
    expect(points.at(-1)?.value).toBeGreaterThan(0.06);
    expect(page.value).toBeGreaterThan(0.06);
    process.stdout.write(
      `[prometheus e2e] target scraped after ${scrapedAfter} ms; page fired ${pageAfter} ms after errors began\n`,
    );
  });
});

describe('PrometheusRule mode against the API server', () => {
  const fixture = path.join(repo, 'test/e2e/fixtures/prometheusrule-crd.yaml');
  let createdCrd = false;

  afterAll(async () => {
    if (createdCrd) await kubectl(['delete', '-f', fixture, '--wait=true', '--timeout=60s']);
  });

  it('switches from ConfigMap to PrometheusRule when the CRD appears, and the object is accepted', async () => {
    let clock = 1_000_000;
    const detector = new PrometheusRuleDetector(kube, { ttlMs: 60_000, now: () => clock });
    const before = await kube.get(core.crd, PROMETHEUS_RULE_CRD);
    if (!before) {
      expect(await detector.mode()).toBe('ConfigMap');
      expect(await detector.resolve('PrometheusRule')).toBe('PrometheusRule'); // forced by config
      await kubectlOk(['apply', '--server-side', '--field-manager=ymera-e2e', '-f', fixture]);
      createdCrd = true;
      await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', '-f', fixture]);
      // the cached answer holds until the TTL passes
      expect(await detector.mode()).toBe('ConfigMap');
      clock += 60_001;
    }
    expect(await detector.mode()).toBe('PrometheusRule');
    expect(await detector.resolve('auto')).toBe('PrometheusRule');
    expect(parse(readFileSync(fixture, 'utf8')).metadata.name).toBe(PROMETHEUS_RULE_CRD);

    const groups = inferenceServiceRuleGroups(owner as unknown as InferenceServiceLike);
    const [child] = ruleChildren(owner, groups, { mode: await detector.mode(), labels: { release: 'e2e' } });
    expect(child?.type).toBe(prometheusRule);
    if (!child) return;
    // the CRD's REST mapping can take a moment after Established
    const applied = await eventually('the PrometheusRule to be applied', () =>
      kube.apply(child.type, child.object),
    );
    expect(applied.metadata.uid).toBeTruthy();
    const stored = await kube.get<KubeObject & { spec: unknown }>(
      prometheusRule,
      child.object.metadata.name,
      ns,
    );
    expect(stored?.spec).toEqual({ groups: normalizeGroups(groups) });
    expect(stored?.metadata.labels).toMatchObject({ release: 'e2e', 'ymera.io/inferenceservice': 'fraud' });
    expect(stored?.metadata.ownerReferences?.[0]).toMatchObject({
      kind: 'InferenceService',
      uid: owner.metadata.uid,
    });
    // applying the same object again changes nothing
    const again = await kube.apply(child.type, child.object);
    expect(again.metadata.resourceVersion).toBe(applied.metadata.resourceVersion);
  });
});

describe('client errors', () => {
  it('reports bad PromQL as a PrometheusQueryError with the server errorType', async () => {
    const err = await prom.query('sum(rate(up[5m])').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrometheusQueryError);
    expect((err as PrometheusQueryError).errorType).toBe('bad_data');
    expect((err as PrometheusQueryError).error).toMatch(/parse error/);
    const range = await prom
      .queryRange('up', { start: new Date(), end: new Date(Date.now() - 60_000), stepSeconds: 1 })
      .catch((e: unknown) => e);
    expect(range).toBeInstanceOf(PrometheusQueryError);
  });

  it('reports a closed port as PrometheusUnavailableError, fast', async () => {
    const port = await freePort();
    const closed = new PrometheusClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 5000 });
    const t0 = Date.now();
    const err = await closed.query('up').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrometheusUnavailableError);
    expect((err as Error).message).toContain('ECONNREFUSED');
    // well under the 5 s timeout (slack for a loaded machine): a refusal is not waited out
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('times out on a server that never answers, and opens the circuit after repeated outages', async () => {
    const silent = createServer(() => undefined); // accepts, never responds
    let connections = 0;
    silent.on('connection', () => connections++);
    const port = await freePort();
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
    try {
      const breaker = PrometheusClient.breaker({ failureThreshold: 2, coolDownMs: 60_000 });
      const client = new PrometheusClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 300, breaker });
      for (let i = 0; i < 2; i++) {
        const t0 = Date.now();
        const err = await client.alerts().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PrometheusUnavailableError);
        expect((err as Error).message).toContain('no answer within 300 ms');
        // bounded by the timeout, not hanging (slack for a loaded machine)
        expect(Date.now() - t0).toBeLessThan(5000);
      }
      expect(breaker.state).toBe('open');
      const before = connections;
      const err = await client.alerts().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PrometheusUnavailableError);
      expect((err as Error).cause).toBeInstanceOf(CircuitOpenError);
      // no request went out: the server saw no new connection
      expect(connections).toBe(before);
      expect(before).toBeGreaterThan(0); // the calls before did reach it
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('does not count bad queries against the circuit', async () => {
    const breaker = PrometheusClient.breaker({ failureThreshold: 1 });
    const client = new PrometheusClient({ url: env.url, breaker });
    await expect(client.query('up{')).rejects.toBeInstanceOf(PrometheusQueryError);
    expect(breaker.state).toBe('closed');
    expect(await client.queryValue('vector(42)')).toBe(42);
  });
});
