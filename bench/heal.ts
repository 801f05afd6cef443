// MTTR of an InferenceService on the local stack: for each fault, seconds
// from the fault to the service serving at full strength again (or rolled
// back), BENCH_HEAL_ROUNDS rounds each (default 3), median and max. Prints a
// table and writes bench/results/heal.json. Not a test: no asserts (the e2e
// tests show each healing happens; this times it).
//
//   make bench-heal
//   BENCH_HEAL_ROUNDS=5 make bench-heal
//   BENCH_HEAL_SCENARIOS=node,leak make bench-heal   (crash,load,leak,node; default all; node-default:
//                                                     the node scenario with Kubernetes' 300 s toleration)
//   BENCH_HEAL_TIMEOUT_S=600 make bench-heal          (per round; default 360)
//
// Scenarios:
// - crash: a new revision whose runtime crashes at start (a bad runtime.env
//   setting) on the real node (kubelet, containerd, the project's image); the
//   operator rolls it back. Recovered: rolled back, the stable revision
//   serving (Ready stays False after a rollback on purpose: RolledBack).
// - load: a new revision whose model fails its sha256 check in the real
//   runtime on the real node; rolled back likewise.
// - leak: a pod whose working set grows toward its memory limit
//   (container_memory_working_set_bytes served by an exporter the local
//   Prometheus scrapes, as cAdvisor's would be); spec.healing.memory replaces
//   it. kwok pods (memory is the exporter's fiction either way). Recovered:
//   the leaking pod gone, minReplicas Ready pods, Ready.
// - node: the real node's kubelet stops (frozen, test/e2e/lost-node.ts) under
//   the only replica; the node lifecycle controller marks the node unreachable
//   after its grace period (40 s) and the taint manager evicts the pod after
//   its toleration (30 s, controllers/inferenceservice/node-loss.ts); the
//   replacement starts on a kwok node of the same pool (uncordoned at the
//   fault). Recovered: a Ready replica on another node, Ready. The kubelet is
//   resumed after each round and whenever the bench ends.
//
// The real-node scenarios are skipped, saying why, without the real node.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NODE_LOSS_TOLERATION_SECONDS } from '../controllers/inferenceservice/node-loss.ts';
import type { Condition } from '../operator/conditions.ts';
import { PrometheusClient } from '../operator/prometheus/client.ts';
import setupStack from '../test/e2e/global-setup.ts';
import type { PodObj } from '../test/e2e/lost-node.ts';
import {
  REAL_POOL,
  cordon,
  createFallbackNode,
  deleteFallbackNode,
  freezeKubelet,
  podReady,
  realKubeletPid,
  thawKubelet,
  untilNodeHealthy,
} from '../test/e2e/lost-node.ts';
import type { RealModel } from '../test/e2e/real-model.ts';
import { realModelSpec, setUpRealModel } from '../test/e2e/real-model.ts';
import type { OperatorProcess } from '../test/e2e/support.ts';
import {
  deleteInferenceServices,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  prometheusStack,
  repo,
  startOperator,
} from '../test/e2e/support.ts';
import type { Round, ScenarioResult } from './heal-report.ts';
import { TARGET_SECONDS, mergeScenarios, summarize, table } from './heal-report.ts';

const ROUNDS = Number(process.env.BENCH_HEAL_ROUNDS ?? '3');
const TIMEOUT_MS = Number(process.env.BENCH_HEAL_TIMEOUT_S ?? '360') * 1000;
const ONLY = (process.env.BENCH_HEAL_SCENARIOS ?? 'crash,load,leak,node').split(',');
const DEFAULT_ROUNDS = Number(process.env.BENCH_HEAL_DEFAULT_ROUNDS ?? '1');
const POLL_MS = 500;
// a real pod on 2 shared cores: image start, model download and load take seconds
const SETUP_TIMEOUT_MS = 300_000;
const REAL_RESOURCES = { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } };
const LIMIT_BYTES = 512 * 1024 * 1024;
const LEAK = { percentOfLimit: 90, forSeconds: 10 };
/** How fast the leak grows from its healthy 30 % to 98 % of the limit. */
const LEAK_RAMP_MS = 10_000;

interface InfSvc {
  metadata: { name: string; generation?: number };
  spec?: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    revisions?: { stable?: string; canary?: string; lastRolledBack?: string };
  };
}

const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ready = (r: InfSvc | undefined) =>
  r?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
const observed = (r: InfSvc | undefined) =>
  r !== undefined && r.status?.observedGeneration === r.metadata.generation;
const isvc = (ns: string, name: string) =>
  getJson<InfSvc>(['get', '-n', ns, `inferenceservice.ymera.io/${name}`]);
const podsOf = async (ns: string, name: string) =>
  (await getJson<{ items: PodObj[] }>(['get', 'pods', '-n', ns, '-l', `ymera.io/inferenceservice=${name}`]))
    ?.items ?? [];

/** Polls `check` until it holds; the value and ms since `since`, or undefined after `timeoutMs`. */
async function until<T>(
  since: number,
  timeoutMs: number,
  check: () => Promise<T | undefined | false>,
): Promise<{ value: T; ms: number } | undefined> {
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== false) return { value: v, ms: Date.now() - since };
    if (Date.now() - since > timeoutMs) return undefined;
    await sleep(POLL_MS);
  }
}

async function mustUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = SETUP_TIMEOUT_MS,
) {
  const r = await until(Date.now(), timeoutMs, check);
  if (!r) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  return r.value;
}

/** Full strength: Ready, current generation observed, no canary, `replicas` Ready pods none on `avoid`. */
async function atFullStrength(ns: string, name: string, replicas: number, avoid?: (p: PodObj) => boolean) {
  const r = await isvc(ns, name);
  if (!ready(r) || !observed(r) || r?.status?.revisions?.canary !== undefined) return undefined;
  const live = (await podsOf(ns, name)).filter((p) => podReady(p) && !(avoid?.(p) ?? false));
  return live.length >= replicas ? { isvc: r!, pods: live } : undefined;
}

/**
 * After a rollback Ready stays False on purpose (RolledBack: "change the spec to roll out
 * again"), so a rolled-back service counts as serving when its stable revision serves
 * (ModelLoaded), no canary is left and `replicas` pods are Ready.
 */
async function servingStable(ns: string, name: string, replicas: number) {
  const r = await isvc(ns, name);
  const loaded = r?.status?.conditions?.find((c) => c.type === 'ModelLoaded')?.status === 'True';
  if (!loaded || !observed(r) || r?.status?.revisions?.canary !== undefined) return undefined;
  const live = (await podsOf(ns, name)).filter(podReady);
  return live.length >= replicas ? r : undefined;
}

const apply = (obj: unknown) => kubectlOk(['apply', '-f', '-'], JSON.stringify(obj));
const patch = (ns: string, name: string, spec: Record<string, unknown>) =>
  kubectlOk([
    'patch',
    '-n',
    ns,
    `inferenceservice.ymera.io/${name}`,
    '--type=merge',
    '-p',
    JSON.stringify({ spec }),
  ]);

// --- crash and load: real canaries on the real node, rolled back -------------------------------

/** Rounds of: patch in a failing canary, time until it is rolled back and the service Ready. */
async function rollbackRounds(
  ns: string,
  model: RealModel,
  name: string,
  fault: (round: number) => Record<string, unknown>,
  rounds: Round[],
): Promise<void> {
  // created once; the next scenario's rounds go on from the last rollback (its stable revision)
  if (!(await isvc(ns, name)))
    await apply({
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      metadata: { name, namespace: ns },
      spec: {
        model: realModelSpec(model.uri),
        runtime: { resources: REAL_RESOURCES, ...REAL_POOL },
        scaling: { minReplicas: 1 },
        rollout: { canaryPercent: 50, autoRollback: true },
      },
    });
  for (let i = 1; i <= ROUNDS; i++) {
    const before = await mustUntil(`${name} serving before round ${i}`, () => servingStable(ns, name, 1));
    const stable = before.status?.revisions?.stable;
    const previous = before.status?.revisions?.lastRolledBack;
    await patch(ns, name, fault(i));
    const t0 = Date.now();
    const done = await until(t0, TIMEOUT_MS, async () => {
      const r = await servingStable(ns, name, 1);
      const rev = r?.status?.revisions;
      return (
        rev?.lastRolledBack !== undefined &&
        rev.lastRolledBack !== previous &&
        rev.stable === stable &&
        rev.lastRolledBack
      );
    });
    const round: Round = done
      ? { seconds: done.ms / 1000, note: `rolled back ${done.value} to ${stable}` }
      : { seconds: null, note: `not rolled back within ${TIMEOUT_MS / 1000} s` };
    log(`${name} round ${i}: ${round.seconds ?? '-'} s (${round.note})`);
    rounds.push(round);
  }
}

// --- leak: container_memory_working_set_bytes from an exporter Prometheus scrapes ---------------

interface MemoryExporter {
  /** pod → when it started leaking (absent: healthy). */
  leaking: Map<string, number>;
  /** Pods served (the bench refreshes it from the API). */
  pods: Set<string>;
  close(): Promise<void>;
}

async function startMemoryExporter(ns: string): Promise<MemoryExporter> {
  const leaking = new Map<string, number>();
  const pods = new Set<string>();
  const healthy = 0.3 * LIMIT_BYTES;
  const server = createServer((_req, res) => {
    const lines = ['# TYPE container_memory_working_set_bytes gauge'];
    for (const pod of pods) {
      const since = leaking.get(pod);
      const grown = since === undefined ? 0 : Math.min(1, (Date.now() - since) / LEAK_RAMP_MS);
      const bytes = Math.round(healthy + grown * (0.98 * LIMIT_BYTES - healthy));
      lines.push(
        `container_memory_working_set_bytes{namespace="${ns}",pod="${pod}",container="runtime"} ${bytes}`,
      );
    }
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(lines.join('\n') + '\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const targetFile = path.join(prometheusStack().targetsDir, `bench-heal-${ns}.json`);
  writeFileSync(
    targetFile,
    JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: `bench-heal-${ns}` } }]),
  );
  return {
    leaking,
    pods,
    async close() {
      rmSync(targetFile, { force: true });
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The installed CRD (the global setup applied this checkout's crds/) knows spec.healing. */
async function healingSupported(): Promise<boolean> {
  const installed = await getJson<{
    spec: {
      versions: {
        schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, unknown> } } } };
      }[];
    };
  }>(['get', 'crd', 'inferenceservices.ymera.io']);
  return (installed?.spec.versions ?? []).some(
    (v) => v.schema.openAPIV3Schema.properties.spec.properties.healing,
  );
}

async function leakRounds(ns: string, rounds: Round[]): Promise<void> {
  const name = 'leaky';
  const prom = new PrometheusClient({ url: prometheusStack().url, timeoutMs: 5000 });
  const exporter = await startMemoryExporter(ns);
  const refresh = async () => {
    for (const p of await podsOf(ns, name)) exporter.pods.add(p.metadata.name);
  };
  try {
    await apply({
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      metadata: { name, namespace: ns },
      spec: {
        model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
        runtime: {
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: String(LIMIT_BYTES) } },
        },
        scaling: { minReplicas: 2 },
        healing: { memory: LEAK, minIntervalSeconds: 0 },
      },
    });

    for (let i = 1; i <= ROUNDS; i++) {
      const before = await mustUntil(`${name} at full strength before round ${i}`, async () => {
        await refresh();
        return atFullStrength(ns, name, 2);
      });
      const victim = before.pods[0]!.metadata.name;
      // the victim's healthy working set scraped before the leak starts
      await mustUntil(
        `Prometheus to have scraped ${victim}'s working set`,
        async () =>
          (await prom.queryValue(
            `count(container_memory_working_set_bytes{namespace="${ns}",pod="${victim}",container="runtime"})`,
          )) === 1,
      );
      exporter.leaking.set(victim, Date.now());
      const t0 = Date.now();
      const done = await until(t0, TIMEOUT_MS, async () => {
        await refresh();
        const pods = await podsOf(ns, name);
        const victimLive = pods.some((p) => p.metadata.name === victim && !p.metadata.deletionTimestamp);
        return !victimLive && atFullStrength(ns, name, 2, (p) => p.metadata.name === victim);
      });
      const round: Round = done
        ? { seconds: done.ms / 1000, note: `pod ${victim} replaced` }
        : { seconds: null, note: `pod ${victim} not replaced within ${TIMEOUT_MS / 1000} s` };
      log(`leak round ${i}: ${round.seconds ?? '-'} s (${round.note})`);
      rounds.push(round);
    }
  } finally {
    await exporter.close();
  }
}

// --- node: the real node's kubelet stops under a replica --------------------------------------

async function nodeRounds(
  ns: string,
  model: RealModel,
  fallback: string,
  node: string,
  name: string,
  /** Tolerations of the user's (e.g. Kubernetes' default 300 s, for the baseline). */
  tolerations: Record<string, unknown>[] = [],
  count: number,
  results: Round[],
): Promise<void> {
  const kubelet = realKubeletPid();
  await apply({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, namespace: ns },
    spec: {
      model: realModelSpec(model.uri),
      runtime: {
        resources: REAL_RESOURCES,
        ...REAL_POOL,
        tolerations: [...REAL_POOL.tolerations, ...tolerations],
      },
      scaling: { minReplicas: 1 },
    },
  });

  for (let i = 1; i <= count; i++) {
    // the replica back on the real node: the fallback cordoned, its pods deleted
    await untilNodeHealthy(node, SETUP_TIMEOUT_MS);
    await cordon(fallback, true);
    for (const p of await podsOf(ns, name))
      if (p.spec.nodeName !== node)
        await kubectl(['delete', 'pod', '-n', ns, p.metadata.name, '--wait=false']);
    await mustUntil(`${name} at full strength on ${node} before round ${i}`, async () => {
      const up = await atFullStrength(ns, name, 1);
      const all = await podsOf(ns, name);
      return up && all.every((p) => p.spec.nodeName === node) && up;
    });
    await cordon(fallback, false);
    freezeKubelet(kubelet);
    const t0 = Date.now();
    try {
      const done = await until(t0, TIMEOUT_MS, () =>
        atFullStrength(ns, name, 1, (p) => p.spec.nodeName === node),
      );
      const round: Round = done
        ? {
            seconds: done.ms / 1000,
            note: `replica of ${node} replaced on ${done.value.pods[0]?.spec.nodeName}`,
          }
        : { seconds: null, note: `replica of ${node} not replaced within ${TIMEOUT_MS / 1000} s` };
      log(`${name} round ${i}: ${round.seconds ?? '-'} s (${round.note})`);
      results.push(round);
    } finally {
      thawKubelet(kubelet);
    }
  }
}

// --- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  setupStack();
  const prom = prometheusStack();
  const fallback = `bench-heal-fallback-${Math.random().toString(36).slice(2, 8)}`;
  const nsReal = await freshNamespace('bench-heal-real');
  const nsKwok = await freshNamespace('bench-heal');
  const realNode = process.env.YMERA_REAL_NODE;
  const noReal = realNode ? undefined : 'YMERA_REAL_NODE is unset (the stack runs without the real node)';
  const wanted = (s: string) => ONLY.includes(s);
  let op: OperatorProcess | undefined;
  let model: RealModel | undefined;
  const results: ScenarioResult[] = [];
  // a run of some scenarios (BENCH_HEAL_SCENARIOS) keeps the others' last figures
  const earlier =
    process.env.BENCH_HEAL_SCENARIOS && existsSync(OUT)
      ? ((JSON.parse(readFileSync(OUT, 'utf8')) as { scenarios?: ScenarioResult[] }).scenarios ?? [])
      : [];
  try {
    op = await startOperator('op-bench-heal', [
      `--watch-namespaces=${nsReal},${nsKwok}`,
      `--prometheus-url=${prom.url}`,
      '--log-level=warn',
    ]);
    if (!noReal && ['crash', 'load', 'node', 'node-default'].some(wanted))
      model = await setUpRealModel(nsReal);
    /**
     * Runs one scenario's rounds into its result; a failure ends the scenario with a round
     * that did not recover (saying why), and the bench goes on with the next.
     */
    const scenario = async (
      result: Omit<ScenarioResult, 'rounds'>,
      run: (rounds: Round[]) => Promise<void>,
    ) => {
      const rounds: Round[] = [];
      results.push({ ...result, rounds, when: new Date().toISOString() });
      if (result.skipped !== undefined) return;
      log(`scenario ${result.scenario}: ${result.fault}`);
      await run(rounds).catch((e: unknown) => {
        rounds.push({ seconds: null, note: `aborted: ${e instanceof Error ? e.message : String(e)}` });
        log(`scenario ${result.scenario} aborted: ${String(e)}`);
      });
      writeResults(earlier, results);
    };
    const onReal = (run: (m: RealModel, rounds: Round[]) => Promise<void>) => (rounds: Round[]) =>
      run(model!, rounds);
    const realSkip = noReal ? { skipped: noReal } : {};
    if (wanted('crash'))
      await scenario(
        {
          scenario: 'crashing revision',
          where: 'real-node',
          fault: 'new revision whose runtime exits at start (runtime.env YMERA_LOG_LEVEL=crash)',
          recovered:
            'canary rolled back, the stable revision serving (ModelLoaded; Ready stays False: RolledBack)',
          ...realSkip,
        },
        onReal((m, rounds) =>
          rollbackRounds(
            nsReal,
            m,
            'canaries',
            (i) => ({
              model: { version: `crash-${i}` },
              runtime: { env: [{ name: 'YMERA_LOG_LEVEL', value: 'crash' }] },
            }),
            rounds,
          ),
        ),
      );
    if (wanted('load'))
      await scenario(
        {
          scenario: 'failing model load',
          where: 'real-node',
          fault: 'new revision whose model file does not match its sha256: ModelLoadFailed',
          recovered:
            'canary rolled back, the stable revision serving (ModelLoaded; Ready stays False: RolledBack)',
          ...realSkip,
        },
        onReal((m, rounds) =>
          rollbackRounds(
            nsReal,
            m,
            'canaries',
            // the crash scenario's env goes (null removes it in a merge patch)
            (i) => ({
              model: { version: `bad-sha-${i}`, sha256: '0'.repeat(63) + String(i % 10) },
              runtime: { env: null },
            }),
            rounds,
          ),
        ),
      );
    if (wanted('leak')) {
      const supported = await healingSupported();
      await scenario(
        {
          scenario: 'leaking pod',
          where: 'kwok',
          fault: `working set of one of 2 pods grows from 30 % to 98 % of its limit in ${LEAK_RAMP_MS / 1000} s (healing.memory ${LEAK.percentOfLimit} % for ${LEAK.forSeconds} s)`,
          recovered: 'the leaking pod evicted and replaced, 2 Ready pods, Ready',
          ...(supported ? {} : { skipped: 'spec.healing is not in this checkout (self-healing not merged)' }),
        },
        (rounds) => leakRounds(nsKwok, rounds),
      );
    }
    if ((wanted('node') || wanted('node-default')) && model) await createFallbackNode(fallback);
    if (wanted('node'))
      await scenario(
        {
          scenario: 'node lost',
          where: 'real-node',
          fault:
            "the real node's kubelet stops (SIGSTOP) under the only replica: unreachable after node-monitor-grace-period 40 s",
          recovered: `replica evicted after its ${NODE_LOSS_TOLERATION_SECONDS} s toleration and replaced on another node of the pool, Ready`,
          ...realSkip,
        },
        onReal((m, rounds) =>
          nodeRounds(nsReal, m, fallback, realNode ?? '', 'stranded', [], ROUNDS, rounds),
        ),
      );
    if (wanted('node-default')) {
      // the same with Kubernetes' default toleration (DefaultTolerationSeconds), as before
      // node-loss.ts: the baseline; one round (BENCH_HEAL_DEFAULT_ROUNDS), it takes minutes
      const tolerations = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'].map((key) => ({
        key,
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 300,
      }));
      await scenario(
        {
          scenario: 'node lost, default toleration',
          where: 'real-node',
          fault:
            "as 'node lost', the replica with Kubernetes' default 300 s not-ready/unreachable toleration",
          recovered: 'replica evicted after 300 s and replaced on another node of the pool, Ready',
          ...realSkip,
        },
        onReal((m, rounds) =>
          nodeRounds(
            nsReal,
            m,
            fallback,
            realNode ?? '',
            'stranded-default',
            tolerations,
            DEFAULT_ROUNDS,
            rounds,
          ),
        ),
      );
    }
  } finally {
    if (realNode) await untilNodeHealthy(realNode).catch((e: unknown) => log(String(e)));
    // while the operator still runs: their finalizers
    for (const ns of [nsReal, nsKwok]) await deleteInferenceServices(ns);
    await op?.stop();
    await deleteFallbackNode(fallback);
    for (const ns of [nsReal, nsKwok]) await kubectl(['delete', 'namespace', ns, '--wait=false']);
    await model?.cleanup();
  }

  process.stdout.write(`\n${table(writeResults(earlier, results))}\n\nwrote ${OUT}\n`);
}

const OUT = path.join(repo, 'bench/results/heal.json');

/** Writes heal.json (after each scenario, so a bench stopped early keeps what it measured); the summaries. */
function writeResults(earlier: readonly ScenarioResult[], results: readonly ScenarioResult[]) {
  const scenarios = mergeScenarios(earlier, results);
  const summaries = scenarios.map(summarize);
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(
    OUT,
    `${JSON.stringify(
      {
        when: new Date().toISOString(),
        rounds: ROUNDS,
        targetSeconds: TARGET_SECONDS,
        settings: {
          nodeMonitorGracePeriodSeconds: 40,
          nodeLossTolerationSeconds: NODE_LOSS_TOLERATION_SECONDS,
          healingMemory: { ...LEAK, minIntervalSeconds: 0 },
          roundTimeoutSeconds: TIMEOUT_MS / 1000,
        },
        summaries,
        scenarios,
      },
      null,
      2,
    )}\n`,
  );
  return summaries;
}

await main();
