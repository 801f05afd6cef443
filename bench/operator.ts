// The operator at scale, side by side with kube-controller-manager on the
// same API server, in one run. For each N:
//
// 1. ours: N one-replica CPU InferenceServices applied at once into a fresh
//    namespace watched by a fresh operator process; seconds to all Ready,
//    objects left without a Ready condition (target 0: a user must never meet
//    an empty status) or not Ready and why; the operator's API requests per
//    object by verb and resource (its own rest_client_requests_total, scraped
//    before and after); reconcile p99 (ymera_reconcile_duration_seconds).
// 2. steady state: BENCH_OPERATOR_STEADY_S seconds with nothing changing:
//    writes (target 0) and reads per minute per object, by verb and resource
//    (target: watch-driven, no polling LISTs).
// 3. operator memory: RSS peak (VmHWM) and at the end, JS heap used (its
//    nodejs_* metrics), external memory.
// 4. theirs: N one-replica Deployments (the same pod resources) applied at
//    once into a fresh namespace; kube-controller-manager's Deployment and
//    ReplicaSet controllers bring them to Available (kwok fakes the pods).
//    Seconds to all Available and its API writes per object, from its own
//    rest_client_requests_total (by HTTP method: it has no per-controller
//    label, so this is every controller of the process, and the cluster is
//    shared: its idle rate during our steady window is reported as noise).
//    The ratio of our throughput (objects Ready per second) to its
//    (Available per second); target ≥ 0.8.
//
// Both sides also get kube-apiserver's own view (apiserver_request_total,
// all clients: the bench, the operator, kube-controller-manager, kwok) of
// the writes by verb and resource during their ramp.
//
// Prints a table and writes bench/results/operator.json. Not a test: no asserts.
//
//   make bench-operator                                   (N = 100 and 1000, 300 s steady window)
//   BENCH_OPERATOR_COUNTS=100 BENCH_OPERATOR_STEADY_S=30 make bench-operator   (quick)
//   BENCH_OPERATOR_COUNTS=100,1000,3000 make bench-operator
//   BENCH_OPERATOR_TIMEOUT_S=900 make bench-operator      (to all Ready / Available, per N; default 600)
//
// The local cluster is sized for it (test/e2e/cluster/README.md): a
// ServiceCIDR with room for 8,000 more Services and CPU nodes with 1,500
// pods each.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { Condition } from '../operator/conditions.ts';
import { KubeClient } from '../operator/kube/client.ts';
import type { KubeObject, ResourceType } from '../operator/kube/resources.ts';
import { resourceTypeOf } from '../operator/kube/ymera.ts';
import { crd } from '../controllers/inferenceservice/schema.ts';
import setupStack from '../test/e2e/global-setup.ts';
import { freshNamespace, kubectl, kubectlOk, repo, startOperator } from '../test/e2e/support.ts';
import type { Sample, Table, Totals } from './operator-figures.ts';
import {
  counterDelta,
  gauge,
  histogramDelta,
  histogramQuantile,
  increasesPerWindow,
  isWrite,
  parseMetrics,
  round3,
  scaleTable,
  throughput,
  throughputRatio,
  totals,
} from './operator-figures.ts';

const isvcType = resourceTypeOf(crd);
const deploymentType: ResourceType = {
  group: 'apps',
  version: 'v1',
  plural: 'deployments',
  kind: 'Deployment',
  namespaced: true,
};

const env = (name: string, legacy: string | undefined, fallback: string): string =>
  process.env[name] ?? (legacy ? process.env[legacy] : undefined) ?? fallback;
const counts = env('BENCH_OPERATOR_COUNTS', 'SCALE_COUNTS', '100,1000')
  .split(',')
  .map((n) => Number.parseInt(n, 10));
const timeoutMs = Number(env('BENCH_OPERATOR_TIMEOUT_S', 'SCALE_TIMEOUT_S', '600')) * 1000;
const steadyMs = Number(env('BENCH_OPERATOR_STEADY_S', undefined, '300')) * 1000;
/** Creates in flight at once: "all at once" as kubectl apply of a big file would send them, bounded by sockets. */
const CREATE_CONCURRENCY = 32;
const POLL_MS = 2_000;
/** How often memory is sampled during the steady window (no API calls: the window must stay quiet). */
const STEADY_SAMPLE_MS = 5_000;
const MiB = 1024 * 1024;
/** Leader election renews its Lease by design: reported, but not counted against "0 writes in steady state". */
const isLease = (resource: string) => resource === 'leases';

// ---- probes -------------------------------------------------------------

function procStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
const rssMiB = (pid: number) => Math.round(procStatusKiB(pid, 'VmRSS') / 1024);

async function scrape(url: string): Promise<Sample[]> {
  return parseMetrics(await (await fetch(url)).text());
}

async function apiserverMetrics(): Promise<Sample[]> {
  // with the cluster's admin kubeconfig (the bench's KUBECONFIG)
  const text = await kubectlOk(['get', '--raw', '/metrics']);
  // one column for "resource/subresource", as our client labels it
  return parseMetrics(text).map((s) => ({
    ...s,
    labels: {
      ...s.labels,
      res: s.labels.subresource ? `${s.labels.resource}/${s.labels.subresource}` : (s.labels.resource ?? ''),
    },
  }));
}

/**
 * kube-controller-manager's /metrics (always allowed on the local cluster,
 * self-signed): from BENCH_KCM_METRICS_URL, or its command line.
 */
function kcmMetricsUrl(): string | undefined {
  if (process.env.BENCH_KCM_METRICS_URL) return process.env.BENCH_KCM_METRICS_URL;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (path.basename(argv[0] ?? '') !== 'kube-controller-manager') continue;
    const flag = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
    return `https://${flag('bind-address') ?? '127.0.0.1'}:${flag('secure-port') ?? '10257'}/metrics`;
  }
  return undefined;
}

function kcmMetrics(url: string | undefined): Promise<Sample[]> {
  if (!url) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    https
      .get(url, { rejectUnauthorized: false, timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(parseMetrics(body))
            : reject(new Error(`${url}: HTTP ${res.statusCode}`)),
        );
      })
      .on('error', reject);
  });
}

// ---- objects ------------------------------------------------------------

const POD_RESOURCES = { requests: { cpu: '10m', memory: '32Mi' } };

function service(namespace: string, name: string): KubeObject {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, namespace },
    spec: {
      model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
      runtime: { resources: POD_RESOURCES },
      scaling: { minReplicas: 1, maxReplicas: 1 },
    },
  } as KubeObject;
}

function deployment(namespace: string, name: string): KubeObject {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { 'ymera.io/node-pool': 'cpu' },
          containers: [{ name: 'server', image: 'ymera/bench:kcm', resources: POD_RESOURCES }],
        },
      },
    },
  } as KubeObject;
}

async function inBatches<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  });
  await Promise.all(workers);
}

function conditionOf(o: KubeObject, type: string): Condition | undefined {
  return (o.status as { conditions?: Condition[] } | undefined)?.conditions?.find((c) => c.type === type);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const names = (count: number) => Array.from({ length: count }, (_, i) => `svc-${String(i).padStart(5, '0')}`);

/** Polls the namespace until `done` holds for all `count` objects (or the time runs out); the last list. */
async function untilAll(
  client: KubeClient,
  type: ResourceType,
  namespace: string,
  count: number,
  started: number,
  done: (o: KubeObject) => boolean,
  onPoll: () => Promise<void>,
): Promise<{ seconds: number | null; items: KubeObject[] }> {
  let items: KubeObject[] = [];
  while (Date.now() - started < timeoutMs) {
    items = (await client.list<KubeObject>(type, { namespace })).items;
    await onPoll();
    if (items.length === count && items.every(done)) return { seconds: (Date.now() - started) / 1000, items };
    await sleep(POLL_MS);
  }
  return { seconds: null, items };
}

/** Deletes the namespace and waits until it is gone, so the next phase starts on a quiet cluster. */
async function deleteNamespace(namespace: string): Promise<number | null> {
  const started = Date.now();
  await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  const r = await kubectl([
    'wait',
    '--for=delete',
    `namespace/${namespace}`,
    `--timeout=${timeoutMs / 1000}s`,
  ]);
  return r.code === 0 ? (Date.now() - started) / 1000 : null;
}

const namespaceType: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'namespaces',
  kind: 'Namespace',
  namespaced: false,
};
/** Polls needed in a row to call the cluster quiet. */
const QUIET_POLLS = 3;
/** A namespace stuck terminating (someone else's finalizer) must not hold the bench for long. */
const QUIET_TIMEOUT_MS = 180_000;

/**
 * Waits until the shared cluster is quiet: no namespace terminating (ours or
 * another engineer's) and kube-controller-manager's work queues empty, so a
 * phase neither competes with a deletion nor counts its requests. Returns the
 * seconds waited, or null when it was not quiet within 3 minutes (the
 * phase runs anyway).
 */
async function quiesce(client: KubeClient, kcmUrl: string | undefined): Promise<number | null> {
  const started = Date.now();
  let quietPolls = 0;
  while (Date.now() - started < QUIET_TIMEOUT_MS) {
    const terminating = (await client.list<KubeObject>(namespaceType)).items.filter(
      (n) => (n.status as { phase?: string } | undefined)?.phase === 'Terminating',
    ).length;
    const depth = (await kcmMetrics(kcmUrl))
      .filter((x) => x.name === 'workqueue_depth')
      .reduce((a, x) => a + x.value, 0);
    quietPolls = terminating === 0 && depth === 0 ? quietPolls + 1 : 0;
    if (quietPolls >= QUIET_POLLS) return (Date.now() - started) / 1000;
    await sleep(1_000);
  }
  return null;
}

// ---- figures ------------------------------------------------------------

interface Requests {
  /** verb → resource → requests per object (or per object per minute) */
  perObject: Table;
  total: Totals;
  writesPerObject: number;
  readsPerObject: number;
}

function requests(
  table: Table,
  objects: number,
  include?: (verb: string, resource: string) => boolean,
): Requests {
  const total = totals(table, include);
  return {
    perObject: scaleTable(table, objects),
    total,
    writesPerObject: round3(total.writes / objects),
    readsPerObject: round3(total.reads / objects),
  };
}

const onlyWrites = (table: Table): Table =>
  Object.fromEntries(Object.entries(table).filter(([verb]) => isWrite(verb)));

interface Ours {
  /** waited for the shared cluster to be quiet first (null: it was not, within the timeout) */
  quietWaitSeconds: number | null;
  createSeconds: number;
  allReadySeconds: number | null;
  readyPerSecond: number | null;
  ready: number;
  withoutReadyCondition: number;
  notReadyByReason: Record<string, number>;
  /** apply → all Ready */
  requests: Requests;
  reconciles: number;
  reconcileP50Seconds: number | undefined;
  reconcileP99Seconds: number | undefined;
  steady: {
    seconds: number;
    /** verb → resource → requests per object per minute */
    perObjectPerMinute: Table;
    /** every request, as counted */
    requests: Table;
    writesPerMinute: number;
    /** without the leader election Lease renewals (the target is 0) */
    writesPerMinuteExceptLease: number;
    readsPerObjectPerMinute: number;
    lists: number;
    verbs: string[];
    reconcilesPerObjectPerMinute: number;
    kcmWritesPerMinute: number | undefined;
    /** our writes (but the Lease's) in each minute of the window: a settling tail, or periodic work */
    writesExceptLeaseByMinute: number[];
    reconcilesByMinute: number[];
    /** kube-apiserver's count, all clients (kube-controller-manager, kwok, the operator) */
    apiserverWritesPerMinute: Table;
  };
  memory: {
    rssPeakMiB: number;
    rssEndMiB: number;
    heapUsedPeakMiB: number | undefined;
    heapUsedEndMiB: number | undefined;
    heapTotalEndMiB: number | undefined;
    externalEndMiB: number | undefined;
  };
  /** kube-controller-manager's writes per InferenceService while ours went Ready (it runs our Deployments) */
  kcmWritesPerObject: number | undefined;
  apiserverWritesPerObject: Table;
  namespaceDeleteSeconds: number | null;
}

interface Theirs {
  quietWaitSeconds: number | null;
  createSeconds: number;
  allAvailableSeconds: number | null;
  availablePerSecond: number | null;
  available: number;
  /** "METHOD code" → requests per Deployment, all of kube-controller-manager's controllers */
  requestsPerObject: Record<string, number>;
  writesPerObject: number | undefined;
  apiserverWritesPerObject: Table;
  namespaceDeleteSeconds: number | null;
}

interface Row {
  count: number;
  ours: Ours;
  kubeControllerManager: Theirs;
  /** our objects Ready per second over its Deployments Available per second (target ≥ 0.8) */
  throughputRatio: number | undefined;
  /** our operator's writes per object over kube-controller-manager's */
  writesRatio: number | undefined;
}

const kcmWrites = (before: Sample[], after: Sample[]): number | undefined =>
  before.length === 0
    ? undefined
    : totals(counterDelta(before, after, 'rest_client_requests_total', 'method', 'code')).writes;

const apiserverWrites = (before: Sample[], after: Sample[], objects: number): Table =>
  scaleTable(onlyWrites(counterDelta(before, after, 'apiserver_request_total', 'verb', 'res')), objects);

// ---- phases -------------------------------------------------------------

async function runOurs(client: KubeClient, count: number, kcmUrl: string | undefined): Promise<Ours> {
  const namespace = await freshNamespace(`benchop-${count}`);
  const op = await startOperator(`op-bench-${count}`, [
    `--watch-namespaces=${namespace}`,
    '--log-level=warn',
  ]);
  const pid = op.child.pid ?? 0;
  let heapPeak = 0;
  const sampleHeap = (m: Sample[]) => {
    heapPeak = Math.max(heapPeak, gauge(m, 'nodejs_heap_size_used_bytes') ?? 0);
  };
  let ended = false;
  try {
    const quietWaitSeconds = await quiesce(client, kcmUrl);
    const [op0, api0, kcm0] = await Promise.all([
      scrape(op.metricsUrl),
      apiserverMetrics(),
      kcmMetrics(kcmUrl),
    ]);
    const started = Date.now();
    await inBatches(names(count), CREATE_CONCURRENCY, (name) =>
      client.create(isvcType, service(namespace, name)),
    );
    const createSeconds = (Date.now() - started) / 1000;
    const { seconds, items } = await untilAll(
      client,
      isvcType,
      namespace,
      count,
      started,
      (o) => conditionOf(o, 'Ready')?.status === 'True',
      async () => sampleHeap(await scrape(op.metricsUrl)),
    );
    const [op1, api1, kcm1] = await Promise.all([
      scrape(op.metricsUrl),
      apiserverMetrics(),
      kcmMetrics(kcmUrl),
    ]);

    const notReadyByReason: Record<string, number> = {};
    let withoutReadyCondition = count - items.length;
    let ready = 0;
    for (const o of items) {
      const c = conditionOf(o, 'Ready');
      if (!c) withoutReadyCondition++;
      else if (c.status === 'True') ready++;
      else notReadyByReason[c.reason] = (notReadyByReason[c.reason] ?? 0) + 1;
    }
    const ramp = counterDelta(op0, op1, 'rest_client_requests_total', 'verb', 'resource');
    const rampBuckets = histogramDelta(op0, op1, 'ymera_reconcile_duration_seconds');
    const reconciles = rampBuckets.at(-1)?.count ?? 0;

    // steady state: nothing changes; only memory is sampled (no API calls of ours)
    process.stdout.write(`  all Ready after ${seconds ?? '-'} s; steady window of ${steadyMs / 1000} s...\n`);
    const steadyStart = Date.now();
    // cumulative writes (but the Lease's) and reconciles, to tell a settling tail from periodic work
    const writeSamples = [{ t: 0, value: 0 }];
    const reconcileSamples = [{ t: 0, value: 0 }];
    const track = (m: Sample[]) => {
      const t = (Date.now() - steadyStart) / 1000;
      writeSamples.push({
        t,
        value: totals(
          counterDelta(op1, m, 'rest_client_requests_total', 'verb', 'resource'),
          (_v, r) => !isLease(r),
        ).writes,
      });
      reconcileSamples.push({
        t,
        value: histogramDelta(op1, m, 'ymera_reconcile_duration_seconds').at(-1)?.count ?? 0,
      });
    };
    while (Date.now() - steadyStart < steadyMs) {
      await sleep(Math.min(STEADY_SAMPLE_MS, steadyMs - (Date.now() - steadyStart)));
      const m = await scrape(op.metricsUrl);
      sampleHeap(m);
      track(m);
    }
    const steadySeconds = (Date.now() - steadyStart) / 1000;
    const [op2, kcm2, api2] = await Promise.all([
      scrape(op.metricsUrl),
      kcmMetrics(kcmUrl),
      apiserverMetrics(),
    ]);
    sampleHeap(op2);
    track(op2);
    const minutes = steadySeconds / 60;
    const steadyTable = counterDelta(op1, op2, 'rest_client_requests_total', 'verb', 'resource');
    const steadyTotals = totals(steadyTable);
    const steadyReconciles =
      (histogramDelta(op1, op2, 'ymera_reconcile_duration_seconds').at(-1)?.count ?? 0) / count / minutes;
    const kcmSteady = kcmWrites(kcm1, kcm2);

    const memory = {
      rssPeakMiB: Math.round(procStatusKiB(pid, 'VmHWM') / 1024),
      rssEndMiB: rssMiB(pid),
      heapUsedPeakMiB: heapPeak ? Math.round(heapPeak / MiB) : undefined,
      heapUsedEndMiB: mib(gauge(op2, 'nodejs_heap_size_used_bytes')),
      heapTotalEndMiB: mib(gauge(op2, 'nodejs_heap_size_total_bytes')),
      externalEndMiB: mib(gauge(op2, 'nodejs_external_memory_bytes')),
    };
    ended = true;
    await op.stop();
    const namespaceDeleteSeconds = await deleteNamespace(namespace);
    const kcmRamp = kcmWrites(kcm0, kcm1);
    return {
      quietWaitSeconds,
      createSeconds,
      allReadySeconds: seconds,
      readyPerSecond: seconds === null ? null : round3(throughput(count, seconds)),
      ready,
      withoutReadyCondition,
      notReadyByReason,
      requests: requests(ramp, count),
      reconciles,
      reconcileP50Seconds: roundQ(histogramQuantile(0.5, rampBuckets)),
      reconcileP99Seconds: roundQ(histogramQuantile(0.99, rampBuckets)),
      steady: {
        seconds: round3(steadySeconds),
        perObjectPerMinute: scaleTable(steadyTable, count * minutes),
        requests: steadyTable,
        writesPerMinute: round3(steadyTotals.writes / minutes),
        writesPerMinuteExceptLease: round3(totals(steadyTable, (_v, r) => !isLease(r)).writes / minutes),
        readsPerObjectPerMinute: round3(steadyTotals.reads / count / minutes),
        lists: steadyTotals.byVerb.LIST ?? 0,
        verbs: Object.keys(steadyTotals.byVerb).sort(),
        reconcilesPerObjectPerMinute: round3(steadyReconciles),
        kcmWritesPerMinute: kcmSteady === undefined ? undefined : round3(kcmSteady / minutes),
        writesExceptLeaseByMinute: increasesPerWindow(writeSamples, 60),
        reconcilesByMinute: increasesPerWindow(reconcileSamples, 60),
        apiserverWritesPerMinute: scaleTable(
          onlyWrites(counterDelta(api1, api2, 'apiserver_request_total', 'verb', 'res')),
          minutes,
        ),
      },
      memory,
      kcmWritesPerObject: kcmRamp === undefined ? undefined : round3(kcmRamp / count),
      apiserverWritesPerObject: apiserverWrites(api0, api1, count),
      namespaceDeleteSeconds,
    };
  } finally {
    if (!ended) {
      await op.stop().catch(() => undefined);
      await kubectl(['delete', 'namespace', namespace, '--wait=false']);
    }
  }
}

async function runTheirs(client: KubeClient, count: number, kcmUrl: string | undefined): Promise<Theirs> {
  const namespace = await freshNamespace(`benchkcm-${count}`);
  let ended = false;
  try {
    const quietWaitSeconds = await quiesce(client, kcmUrl);
    const [api0, kcm0] = await Promise.all([apiserverMetrics(), kcmMetrics(kcmUrl)]);
    const started = Date.now();
    await inBatches(names(count), CREATE_CONCURRENCY, (name) =>
      client.create(deploymentType, deployment(namespace, name)),
    );
    const createSeconds = (Date.now() - started) / 1000;
    const available = (o: KubeObject) => {
      const s = o.status as { availableReplicas?: number; observedGeneration?: number } | undefined;
      return conditionOf(o, 'Available')?.status === 'True' && (s?.availableReplicas ?? 0) >= 1;
    };
    const { seconds, items } = await untilAll(
      client,
      deploymentType,
      namespace,
      count,
      started,
      available,
      async () => undefined,
    );
    const [api1, kcm1] = await Promise.all([apiserverMetrics(), kcmMetrics(kcmUrl)]);
    const byMethod = counterDelta(kcm0, kcm1, 'rest_client_requests_total', 'method', 'code');
    const requestsPerObject = Object.fromEntries(
      Object.entries(byMethod).flatMap(([m, codes]) =>
        Object.entries(codes).map(([code, n]) => [`${m} ${code}`, round3(n / count)]),
      ),
    );
    const writes = kcmWrites(kcm0, kcm1);
    ended = true;
    const namespaceDeleteSeconds = await deleteNamespace(namespace);
    return {
      quietWaitSeconds,
      createSeconds,
      allAvailableSeconds: seconds,
      availablePerSecond: seconds === null ? null : round3(throughput(count, seconds)),
      available: items.filter(available).length,
      requestsPerObject,
      writesPerObject: writes === undefined ? undefined : round3(writes / count),
      apiserverWritesPerObject: apiserverWrites(api0, api1, count),
      namespaceDeleteSeconds,
    };
  } finally {
    if (!ended) await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  }
}

const mib = (bytes: number | undefined) => (bytes === undefined ? undefined : Math.round(bytes / MiB));
const roundQ = (x: number | undefined) => (x === undefined ? undefined : round3(x));
const fmt = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined ? '-' : x.toFixed(digits);

function cells(table: Table): string {
  return Object.entries(table)
    .flatMap(([verb, byRes]) => Object.entries(byRes).map(([res, n]) => `${verb} ${res} ${n}`))
    .join(', ');
}

function printTable(rows: Row[]): void {
  const w = (s: string) => process.stdout.write(s);
  w(
    '\n|      N | ours: all Ready | objects/s | KCM: all Available | objects/s | ratio (≥ 0.8) | writes/object ours / KCM | reconcile p99 | RSS peak / end | heap used end | without Ready |\n' +
      '|-------:|----------------:|----------:|-------------------:|----------:|--------------:|-------------------------:|--------------:|---------------:|--------------:|--------------:|\n',
  );
  for (const r of rows) {
    const o = r.ours;
    const t = r.kubeControllerManager;
    w(
      `| ${String(r.count).padStart(6)} | ${`${fmt(o.allReadySeconds)} s`.padStart(15)} | ${fmt(o.readyPerSecond, 2).padStart(9)} | ${`${fmt(t.allAvailableSeconds)} s`.padStart(18)} | ${fmt(t.availablePerSecond, 2).padStart(9)} | ${fmt(r.throughputRatio, 2).padStart(13)} | ${`${fmt(o.requests.writesPerObject, 2)} / ${fmt(t.writesPerObject, 2)}`.padStart(24)} | ${`${fmt(o.reconcileP99Seconds, 3)} s`.padStart(13)} | ${`${o.memory.rssPeakMiB} / ${o.memory.rssEndMiB} MiB`.padStart(14)} | ${`${fmt(o.memory.heapUsedEndMiB, 0)} MiB`.padStart(13)} | ${String(o.withoutReadyCondition).padStart(13)} |\n`,
    );
  }
  for (const r of rows) {
    const s = r.ours.steady;
    w(`\nN=${r.count}: our requests per object (apply → all Ready): ${cells(r.ours.requests.perObject)}\n`);
    w(
      `N=${r.count}: kube-controller-manager requests per Deployment (by method): ${JSON.stringify(r.kubeControllerManager.requestsPerObject)}\n`,
    );
    w(
      `N=${r.count}: steady ${s.seconds} s: writes ${s.writesPerMinute}/min (${s.writesPerMinuteExceptLease}/min without the Lease; by minute ${s.writesExceptLeaseByMinute.join(' ')}; reconciles by minute ${s.reconcilesByMinute.join(' ')}), reads ${s.readsPerObjectPerMinute}/min/object, LISTs ${s.lists}, verbs ${s.verbs.join(' ') || '-'}; ${cells(s.requests) || 'no requests'}\n`,
    );
    if (Object.keys(r.ours.notReadyByReason).length > 0)
      w(`N=${r.count}: not Ready by reason: ${JSON.stringify(r.ours.notReadyByReason)}\n`);
  }
}

async function main(): Promise<void> {
  setupStack();
  const client = KubeClient.fromEnvironment();
  const kcmUrl = kcmMetricsUrl();
  if (!kcmUrl)
    process.stdout.write('no kube-controller-manager process found: its requests are not counted\n');
  const rows: Row[] = [];
  for (const count of counts) {
    process.stdout.write(`bench-operator: ${count} InferenceServices...\n`);
    const ours = await runOurs(client, count, kcmUrl);
    process.stdout.write(`bench-operator: ${count} Deployments by kube-controller-manager...\n`);
    const theirs = await runTheirs(client, count, kcmUrl);
    const row: Row = {
      count,
      ours,
      kubeControllerManager: theirs,
      throughputRatio: throughputRatio(
        { objects: count, seconds: ours.allReadySeconds },
        { objects: count, seconds: theirs.allAvailableSeconds },
      ),
      writesRatio: theirs.writesPerObject
        ? round3(ours.requests.writesPerObject / theirs.writesPerObject)
        : undefined,
    };
    rows.push(row);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
  printTable(rows);
  const out = path.join(repo, 'bench/results/operator.json');
  mkdirSync(path.dirname(out), { recursive: true });
  const version = JSON.parse(await kubectlOk(['version', '-o', 'json'])) as {
    serverVersion?: { gitVersion?: string };
  };
  const environment = {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    kubernetes: version.serverVersion?.gitVersion,
    cluster: 'local kube-apiserver + kube-controller-manager + kwok (fake pods), shared by other engineers',
    commit: gitHead(),
  };
  writeFileSync(
    out,
    `${JSON.stringify({ when: new Date().toISOString(), environment, timeoutMs, steadyMs, rows }, null, 2)}\n`,
  );
  process.stdout.write(`\nwrote ${out}\n`);
}

function gitHead(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

await main();
