// Outage chaos on the local stack (issue #18, `make chaos` bullets 2-4):
//
// - the API unreachable (api-unreachable, apiDownSeconds, default 20 s:
//   past the renew deadline, so the leader loses its lease): the operator
//   reaches the API through a TCP proxy in this process, which is cut; the
//   operator process (not restarted) sees a spec edit made after the proxy is
//   back reconciled within 10 s;
// - kube-apiserver restart and etcd restart (apiserver-restart, etcd-restart):
//   the real process of the shared cluster stopped (restartDownSeconds,
//   default 15 s) and started again by cluster.sh; the same operator process
//   reconciles an edit made after /readyz is ok within 10 s of it;
// - Kafka, Prometheus and MinIO each stopped (60 s by default): the objects
//   that depend on each say so in their status, the operator lives, its
//   reconciles during the outage stay under reconcileBound (no hot loop), and
//   the status clears by itself after the dependency is back;
// - leader failover under load: two replicas on one Lease, the leader killed
//   (SIGKILL) while objects are being reconciled: no replica writes while it
//   does not lead, no two write in the same period, every object converges.
//
// Every fault is undone in a finally (the proxy restored, the component
// restarted, `cluster.sh restart`): the stack is shared. The cluster is never
// created or deleted here (no `cluster.sh up`/`down`). The caller holds the e2e
// lock (`flock /tmp/ymera-e2e.lock`; the Makefile target and the e2e test
// do) and has run the e2e global setup (KUBECONFIG, PATH, operator identity).
//
//   make chaos-outages                        (all faults, 60 s outages)
//   CHAOS_OUTAGE_SECONDS=15 make chaos-outages
//   CHAOS_FAULTS=api-unreachable,kafka-outage make chaos-outages
//   CHAOS_FAULTS=apiserver-restart CHAOS_RESTART_DOWN_SECONDS=20 make chaos-outages
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import type {
  ApiFaultTimes,
  ClusterComponent,
  FaultKind,
  FaultResult,
  OutageOptions,
  OutageReport,
  RestartFault,
  WriteSample,
} from './chaos-outages-core.ts';
import { ALL_FAULTS } from './chaos-outages-core.ts';
import {
  apiFaultFigures,
  doubleWrites,
  formatTable,
  outageOptionsFromEnv,
  reconcileBound,
  restartedComponent,
  summarize,
} from './chaos-outages-core.ts';
import {
  backupPolicy,
  dropStore,
  openStore,
  policySecrets,
  BACKUP_BUCKET,
} from '../test/e2e/backup-fixtures.ts';
import { loadSamples } from '../test/e2e/samples.ts';
import type { OperatorProcess } from '../test/e2e/support.ts';
import {
  eventually,
  forbiddenRequests,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  operatorEnv,
  repo,
  startOperator,
} from '../test/e2e/support.ts';
import type { ApiProxy } from '../test/e2e/api-proxy.ts';
import { startApiProxy } from '../test/e2e/api-proxy.ts';

export type { FaultKind, FaultResult, OutageOptions, OutageReport } from './chaos-outages-core.ts';
export { ALL_FAULTS, outageOptionsFromEnv } from './chaos-outages-core.ts';

/** The operator must see a change again within this long after the API is back (issue #18). */
export const API_RECOVERY_BOUND_S = 10;
/** How long a dependent object may take to clear its condition after the dependency is back. */
const DEPENDENCY_RECOVERY_WAIT_MS = 300_000;
/** The shortest requeue any object here asks for: a rollout in progress is looked at every 5 s (inferenceservice/controller.ts POLL_MS). */
const SHORTEST_REQUEUE_S = 5;
const LEASE_SECONDS = 6;
const MUTATING = new Set(['CREATE', 'UPDATE', 'PATCH', 'APPLY', 'DELETE']);

const stackSh = (name: string) => path.join(repo, `test/e2e/stack/${name}.sh`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How often the failover looks for the new leader. */
const LEADER_POLL_MS = 250;
const seconds = (fromMs: number, toMs = Date.now()) => Math.round((toMs - fromMs) / 100) / 10;

function run(cmd: string, args: string[], timeoutMs = 300_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { env: process.env, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

// --- the API made unreachable, or its processes restarted ---------------------------
//
// api-unreachable: the operator reaches the API server through a TCP proxy in
// this process (test/e2e/api-proxy.ts), which is cut; the cluster is not
// touched. apiserver-restart / etcd-restart: a real restart of the shared
// cluster's process, through test/e2e/cluster/cluster.sh only:
// `stop-component` (SIGTERM, SIGKILL after 5 s: kube-apiserver once took over
// 30 s to drain, and while it lives kwokctl starts no other) and `restart`
// (kwokctl start cluster, the path `cluster.sh up` takes for an unhealthy
// cluster, without its fallback of recreating it). `up`/`down` are never run
// here: an earlier version fell back to `up`, which recreated the cluster under
// other engineers' runs.

const CLUSTER_SH = path.join(repo, 'test/e2e/cluster/cluster.sh');

async function clusterSh(args: string[], timeoutMs: number): Promise<void> {
  const r = await run('bash', [CLUSTER_SH, ...args], timeoutMs);
  if (r.code !== 0) throw new Error(`cluster.sh ${args.join(' ')} failed (${r.code}): ${r.out.slice(-1500)}`);
}

const apiReady = async () =>
  (await run('kubectl', ['--request-timeout=2s', 'get', '--raw', '/readyz'], 5_000)).out.trim() === 'ok';

const clusterHealthy = async () => (await run('bash', [CLUSTER_SH, 'status'], 60_000)).code === 0;

/** Every node of the cluster (kwok's and the real one) Ready; a list of the others otherwise. */
async function nodesReady(): Promise<boolean> {
  const nodes = await getJson<{
    items: { metadata: { name: string }; status?: { conditions?: Condition[] } }[];
  }>(['get', 'nodes']);
  const notReady = (nodes?.items ?? [])
    .filter((n) => !(n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'))
    .map((n) => n.metadata.name);
  if (notReady.length > 0) throw new Error(`not Ready: ${notReady.join(', ')}`);
  return (nodes?.items.length ?? 0) > 0;
}

// --- the objects ----------------------------------------------------------------

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    ownerReferences?: { uid: string; kind: string; name: string }[];
  };
  status?: { observedGeneration?: number; conditions?: Condition[] } & Record<string, unknown>;
}
interface Ref {
  kind: string;
  name: string;
}
const resource = (r: Ref) => `${r.kind.toLowerCase()}.ymera.io/${r.name}`;
const getObj = (ns: string, r: Ref) => getJson<Obj>(['get', '-n', ns, resource(r)]);
const current = (o: Obj | undefined) =>
  o?.status?.observedGeneration !== undefined &&
  o.status.observedGeneration === o.metadata.generation &&
  (o.status.conditions ?? []).some((c) => c.type === 'Ready');

/** A one-replica CPU InferenceService (kwok runs its pod). */
const plainService = (ns: string, name: string) => ({
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'InferenceService',
  metadata: { name, namespace: ns },
  spec: {
    model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
    runtime: { resources: { requests: { cpu: '10m', memory: '32Mi' } } },
    scaling: { minReplicas: 1, maxReplicas: 2 },
  },
});

/** An InferenceService whose canary is analysed against Prometheus every 10 s (kwok pods serve nothing: each check is inconclusive, so checks go on). */
const canaryService = (ns: string, name: string) => ({
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'InferenceService',
  metadata: { name, namespace: ns },
  spec: {
    model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
    runtime: { resources: { requests: { cpu: '10m', memory: '32Mi' } } },
    scaling: { minReplicas: 2, maxReplicas: 2 },
    rollout: {
      canaryPercent: 50,
      analysis: { interval: '10s', count: 2, maxErrorRatePercent: 5, failureLimit: 2 },
    },
  },
});

interface Dependency {
  fault: FaultKind;
  script: string;
  /** Objects whose status must say so. */
  dependents: Ref[];
  /** What their status says while it is down... */
  pattern: RegExp;
  /** ...in their conditions, or anywhere in status (a canary's last check is not a condition). */
  where: 'conditions' | 'status';
  /** Makes the dependents reach for it (a poke) once it is down. */
  poke: (ns: string) => Promise<void>;
}

/** Mixed kinds in one namespace, each leaning on one dependency (or none: `plain`). */
interface World {
  ns: string;
  objects: Ref[];
  plain: Ref;
  deps: Dependency[];
  prefix: string;
}

async function applyObjects(objects: unknown[]): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
}

async function makeWorld(): Promise<World> {
  const ns = await freshNamespace('chaos-out');
  const prefix = `chaos-out/${ns}`;
  const samples = loadSamples(ns, '');
  const pick = (kind: string) => {
    const s = samples.find((x) => x.kind === kind);
    if (!s) throw new Error(`config/samples has no ${kind}`);
    return s.object;
  };
  const kafkaService = pick('InferenceService'); // spec.logging.kafka: a topic the operator keeps
  const pipeline = pick('LearningPipeline'); // spec.triggers.kafka: a consumer group
  const kek = randomBytes(32);
  await applyObjects([
    ...policySecrets(ns, kek),
    kafkaService,
    pipeline,
    plainService(ns, 'plain'),
    canaryService(ns, 'canary'),
    backupPolicy({ namespace: ns, name: 'backup', prefix }),
  ]);
  const ref = (kind: string, name: string): Ref => ({ kind, name });
  const kafkaRef = ref('InferenceService', kafkaService.metadata.name);
  const pipelineRef = ref('LearningPipeline', pipeline.metadata.name);
  const canary = ref('InferenceService', 'canary');
  const backup = ref('BackupPolicy', 'backup');
  const poke = (r: Ref) =>
    kubectlOk(['annotate', '--overwrite', '-n', ns, resource(r), `chaos/poke=${Date.now()}`]);
  return {
    ns,
    prefix,
    plain: ref('InferenceService', 'plain'),
    objects: [kafkaRef, pipelineRef, ref('InferenceService', 'plain'), canary, backup],
    deps: [
      {
        fault: 'kafka-outage',
        script: stackSh('kafka'),
        dependents: [kafkaRef],
        pattern: /KafkaUnavailable/,
        where: 'conditions',
        poke: async () => {
          await poke(kafkaRef);
          await poke(pipelineRef);
        },
      },
      {
        fault: 'prometheus-outage',
        script: stackSh('prometheus'),
        dependents: [canary],
        pattern: /Prometheus unavailable|PrometheusUnavailable/,
        where: 'status',
        poke: async () => undefined, // the canary's next check (every 10 s) reaches for it
      },
      {
        fault: 'minio-outage',
        script: stackSh('minio'),
        dependents: [backup],
        pattern: /StorageUnavailable|could not be reached/,
        where: 'conditions',
        poke: () =>
          kubectlOk([
            'annotate',
            '--overwrite',
            '-n',
            ns,
            resource(backup),
            `ymera.io/backup-now=chaos-${Date.now()}`,
          ]).then(() => undefined),
      },
    ],
  };
}

/** Starts the canary of `canary` (a new model version) once it is Ready. */
async function startCanary(ns: string): Promise<void> {
  await eventually(
    'canary Ready',
    async () =>
      (await getObj(ns, { kind: 'InferenceService', name: 'canary' }))?.status?.conditions?.some(
        (c) => c.type === 'Ready' && c.status === 'True',
      ),
    180_000,
    1000,
  );
  await kubectlOk([
    'patch',
    '-n',
    ns,
    'inferenceservice.ymera.io/canary',
    '--type=merge',
    '-p',
    '{"spec":{"model":{"version":"v2"}}}',
  ]);
  await eventually(
    'a canary revision',
    async () =>
      (await getObj(ns, { kind: 'InferenceService', name: 'canary' }))?.status?.['revisions'] &&
      JSON.stringify(
        (await getObj(ns, { kind: 'InferenceService', name: 'canary' }))?.status?.['revisions'],
      ).includes('canary'),
    60_000,
    1000,
  );
}

/** Objects without a status for their current generation after waiting for them. */
async function lostAfterWaiting(ns: string, refs: Ref[], timeoutMs = 60_000): Promise<number> {
  try {
    await eventually(
      'every object reconciled',
      async () => (await Promise.all(refs.map((r) => getObj(ns, r)))).every(current),
      timeoutMs,
      1000,
    );
    return 0;
  } catch {
    return (await Promise.all(refs.map((r) => getObj(ns, r)))).filter((o) => !current(o)).length;
  }
}

/** Children in the namespace whose owner (by uid) is gone. */
async function orphans(ns: string): Promise<number> {
  const owners = await getJson<{ items: Obj[] }>([
    'get',
    '-n',
    ns,
    'inferenceservices,learningpipelines,backuppolicies,deployments,replicasets,jobs',
  ]);
  const uids = new Set((owners?.items ?? []).map((o) => o.metadata.uid));
  const children = await getJson<{ items: Obj[] }>([
    'get',
    '-n',
    ns,
    'deployments,services,configmaps,jobs,poddisruptionbudgets,horizontalpodautoscalers,cronjobs',
  ]);
  return (children?.items ?? []).filter((c) => {
    const refs = (c.metadata.ownerReferences ?? []).filter(
      (r) =>
        /ymera/.test(JSON.stringify(r)) ||
        ['InferenceService', 'LearningPipeline', 'BackupPolicy'].includes(r.kind),
    );
    return refs.length > 0 && refs.every((r) => !uids.has(r.uid));
  }).length;
}

async function dropWorld(world: World, op: OperatorProcess | undefined): Promise<void> {
  const kinds = 'inferenceservices,learningpipelines,backuppolicies';
  // delete the CRs while the operator runs, so finalizers (Kafka topics) are removed
  if (op?.alive()) await kubectl(['delete', '-n', world.ns, kinds, '--all', '--wait=true', '--timeout=60s']);
  for (const kind of kinds.split(',')) {
    const list = await getJson<{ items: Obj[] }>(['get', kind, '-n', world.ns]).catch(() => undefined);
    for (const item of list?.items ?? [])
      await kubectl([
        'patch',
        kind,
        '-n',
        world.ns,
        item.metadata.name,
        '--type=merge',
        '-p',
        '{"metadata":{"finalizers":null}}',
      ]);
  }
  await kubectl(['delete', 'namespace', world.ns, '--wait=false']);
  await dropStore(openStore(BACKUP_BUCKET, world.prefix));
}

// --- operator metrics -----------------------------------------------------------

function parseSamples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
    ) as Record<string, string>;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

interface OpFigures {
  reconciles: number;
  requests: number;
  writes: number;
  leader: boolean;
  informerErrors: number;
}

async function figures(op: OperatorProcess): Promise<OpFigures> {
  const text = await (await fetch(op.metricsUrl, { signal: AbortSignal.timeout(2_000) })).text();
  const sum = (name: string, keep: (l: Record<string, string>) => boolean = () => true) =>
    parseSamples(text, name)
      .filter((s) => keep(s.labels))
      .reduce((n, s) => n + s.value, 0);
  return {
    reconciles: sum('ymera_reconcile_total'),
    requests: sum('rest_client_requests_total'),
    // the Lease's renewals are the election itself, not a write of a reconcile
    writes: sum(
      'rest_client_requests_total',
      (l) => MUTATING.has(l['verb'] ?? '') && !(l['resource'] ?? '').startsWith('leases'),
    ),
    leader: sum('ymera_leader_is_leader') === 1,
    informerErrors: sum('ymera_informer_errors_total'),
  };
}

// --- the faults -----------------------------------------------------------------

let generationToggle = 1;

/** Edits `plain`'s spec and waits until the operator reports that generation; returns when it did. */
async function editAndAwait(world: World, timeoutMs: number): Promise<number> {
  generationToggle = generationToggle === 1 ? 2 : 1;
  const patch = JSON.stringify({ spec: { scaling: { minReplicas: generationToggle } } });
  // the API may still refuse a write for a moment after /readyz (e.g. etcd leader election)
  const generation = await eventually(
    'the spec edit to be accepted',
    async () => {
      const r = await kubectl([
        'patch',
        '-n',
        world.ns,
        resource(world.plain),
        '--type=merge',
        '-p',
        patch,
        '-o',
        'json',
      ]);
      return r.code === 0 ? (JSON.parse(r.stdout) as Obj).metadata.generation : undefined;
    },
    timeoutMs,
    100,
  );
  await eventually(
    `the operator to observe generation ${generation} of ${world.plain.name}`,
    async () => (await getObj(world.ns, world.plain))?.status?.observedGeneration === generation,
    timeoutMs,
    100,
  );
  return Date.now();
}

/** How an API fault is made and undone: the operator's proxy cut, or a cluster process restarted. */
interface ApiOutage {
  fault: 'api-unreachable' | RestartFault;
  /** Takes the API away and keeps it away; returns when it should come back. */
  down(): Promise<void>;
  /** Brings it back; resolves with the instant the API answered again. */
  up(): Promise<number>;
  /** Whatever happened: the API is back for everyone (in a finally). */
  restore(): Promise<void>;
  /** Restarts: whether the shared cluster is whole again (every component, /readyz, every node Ready). */
  healthyAfter?: () => Promise<{ ok: boolean; why?: string }>;
}

const proxyOutage = (proxy: ApiProxy, o: Required<OutageOptions>): ApiOutage => ({
  fault: 'api-unreachable',
  down: async () => {
    await proxy.cut();
    // unreachable past the renew deadline: the leader loses its lease and must take it again
    await sleep(o.apiDownSeconds * 1000);
  },
  up: async () => {
    await proxy.restore();
    return Date.now();
  },
  restore: () => proxy.restore(),
});

const restartOutage = (fault: RestartFault, o: Required<OutageOptions>): ApiOutage => {
  const component = restartedComponent(fault) as ClusterComponent;
  let stopped = false;
  return {
    fault,
    down: async () => {
      stopped = true;
      await clusterSh(['stop-component', component], 60_000);
      o.log(`chaos: ${component} stopped; starting it again in ${o.restartDownSeconds} s`);
      await sleep(o.restartDownSeconds * 1000);
    },
    up: async () => {
      // /readyz is watched while `cluster.sh restart` runs: it returns only once every component runs
      let failed: Error | undefined;
      const restart = clusterSh(['restart'], 180_000).catch((e: Error) => {
        failed = e;
      });
      const backAt = await eventually(
        'the API server /readyz again',
        async () => (failed ? -1 : (await apiReady()) ? Date.now() : undefined),
        180_000,
        200,
      );
      await restart;
      if (failed) throw failed;
      return backAt;
    },
    restore: async () => {
      if (!stopped) return;
      // `restart` does nothing to a healthy cluster; it never creates or deletes one
      await clusterSh(['restart'], 180_000);
      await eventually('the cluster healthy (cluster.sh status)', clusterHealthy, 60_000, 1000);
    },
    healthyAfter: async () => {
      try {
        await eventually('the cluster healthy (cluster.sh status)', clusterHealthy, 60_000, 1000);
        await eventually('every node Ready', nodesReady, 90_000, 1000);
        return { ok: true };
      } catch (e) {
        return { ok: false, why: (e as Error).message };
      }
    },
  };
};

async function apiFault(
  outage: ApiOutage,
  world: World,
  op: OperatorProcess,
  o: Required<OutageOptions>,
): Promise<FaultResult> {
  const notes: string[] = [];
  const pidBefore = op.child.pid;
  const before = await figures(op);
  const refusedBefore = forbiddenRequests(op.logs()).length;
  let during: OpFigures | undefined;
  const times: ApiFaultTimes = { stoppedAt: Date.now() };
  try {
    await outage.down();
    times.backAt = await outage.up();
    during = await figures(op).catch(() => undefined);
    o.log(
      `chaos: ${outage.fault}: the API is back ${seconds(times.stoppedAt, times.backAt)} s after the fault`,
    );
    try {
      times.reconciledAt = await editAndAwait(world, 60_000);
    } catch (e) {
      notes.push((e as Error).message);
    }
  } catch (e) {
    notes.push((e as Error).message);
  } finally {
    await outage.restore().catch((e: Error) => {
      const line = `the API did not come back after ${outage.fault}: ${e.message}`;
      o.log(`chaos: ALERT ${line}`);
      notes.push(line);
    });
  }
  const health = await outage.healthyAfter?.();
  if (health && !health.ok) {
    o.log(`chaos: ALERT the cluster is not whole after ${outage.fault}: ${health.why}`);
    notes.push(`the cluster is not whole after the restart: ${health.why}`);
  }
  const after = await figures(op).catch(() => undefined);
  if (after) notes.push(`informer errors during the fault: ${after.informerErrors - before.informerErrors}`);
  const refused = forbiddenRequests(op.logs()).length - refusedBefore;
  if (refused > 0) notes.push(`requests refused (403) around the fault: ${refused}`);
  const f = apiFaultFigures(times, { pidBefore, pidAfter: op.child.pid, alive: op.alive() });
  return {
    fault: outage.fault,
    ...f,
    objectsChecked: world.objects.length,
    lost: await lostAfterWaiting(world.ns, world.objects),
    orphaned: await orphans(world.ns),
    recoveryBoundSeconds: API_RECOVERY_BOUND_S,
    ...(health ? { clusterHealthyAfter: health.ok } : {}),
    // the relist after the API is back requeues every object once more
    ...loadDuringOutage(world.objects.length, before, during, f.downSeconds),
    notes,
  };
}

/** Reconciles and requests the operator made during an outage, with the no-hot-loop bound for it (3 caused per object). */
function loadDuringOutage(
  objects: number,
  before: OpFigures,
  during: OpFigures | undefined,
  outageSeconds: number,
): Pick<FaultResult, 'reconciles' | 'requests' | 'reconcileBound'> {
  if (!during) return {};
  return {
    reconciles: during.reconciles - before.reconciles,
    requests: during.requests - before.requests,
    reconcileBound: reconcileBound({
      objects,
      outageSeconds,
      shortestRequeueSeconds: SHORTEST_REQUEUE_S,
      causedPerObject: 3,
    }),
  };
}

async function dependencyFault(
  dep: Dependency,
  world: World,
  op: OperatorProcess,
  o: Required<OutageOptions>,
): Promise<FaultResult> {
  const notes: string[] = [];
  const statusText = async (r: Ref) => {
    const status = (await getObj(world.ns, r))?.status;
    return JSON.stringify((dep.where === 'conditions' ? status?.conditions : status) ?? {});
  };
  const shows = async () =>
    (await Promise.all(dep.dependents.map(statusText))).some((t) => dep.pattern.test(t));
  // a fault starts from a clear status
  await eventually(
    `${dep.fault}: dependents clear before the outage`,
    async () => !(await shows()),
    DEPENDENCY_RECOVERY_WAIT_MS,
    1000,
  ).catch((e: Error) => notes.push(e.message));
  const before = await figures(op);
  const refusedBefore = forbiddenRequests(op.logs()).length;
  let shown = false;
  let during: OpFigures | undefined;
  let upAt: number | undefined;
  const downAt = Date.now();
  try {
    const r = await run('bash', [dep.script, 'down'], 120_000);
    if (r.code !== 0) throw new Error(`${dep.script} down failed: ${r.out.slice(-1000)}`);
    await dep.poke(world.ns);
    while (Date.now() - downAt < o.outageSeconds * 1000) {
      if (!shown && (await shows())) {
        shown = true;
        o.log(`chaos: ${dep.fault}: status says so after ${seconds(downAt)} s`);
      }
      if (!op.alive()) break;
      await sleep(1000);
    }
    during = await figures(op).catch(() => undefined);
  } finally {
    const r = await run('bash', [dep.script, 'up'], 300_000);
    if (r.code !== 0) notes.push(`${dep.script} up failed: ${r.out.slice(-500)}`);
    upAt = Date.now();
  }
  let recoverySeconds: number | null = null;
  try {
    const clearAt = await eventually(
      `${dep.fault}: dependents to clear`,
      async () => ((await shows()) ? undefined : Date.now()),
      DEPENDENCY_RECOVERY_WAIT_MS,
      500,
    );
    recoverySeconds = seconds(upAt, clearAt);
  } catch (e) {
    notes.push((e as Error).message);
  }
  const outageSeconds = seconds(downAt, upAt);
  const refused = forbiddenRequests(op.logs()).length - refusedBefore;
  if (refused > 0) notes.push(`requests refused (403) during the fault: ${refused}`);
  return {
    fault: dep.fault,
    downSeconds: outageSeconds,
    objectsChecked: world.objects.length,
    lost: await lostAfterWaiting(world.ns, world.objects),
    orphaned: await orphans(world.ns),
    recoverySeconds,
    operatorSurvived: op.alive(),
    conditionShown: shown,
    // one poke each (and the status write it causes echoing back) is ours
    ...loadDuringOutage(world.objects.length, before, during, outageSeconds),
    notes,
  };
}

async function failoverFault(o: Required<OutageOptions>): Promise<FaultResult> {
  const ns = await freshNamespace('chaos-lead');
  const flags = [
    `--lease-duration-seconds=${LEASE_SECONDS}`,
    '--renew-deadline-seconds=4',
    '--retry-period-seconds=1',
    `--watch-namespaces=${ns}`,
    '--log-level=warn',
  ];
  const ops: OperatorProcess[] = [];
  const samples: WriteSample[] = [];
  const notes: string[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await Promise.all(
        ops.map(async (op) => {
          const f = await figures(op).catch(() => undefined);
          if (f)
            samples.push({ identity: op.identity, atMs: Date.now(), writes: f.writes, leader: f.leader });
        }),
      );
      await sleep(200);
    }
  })();
  const names = Array.from({ length: o.failoverObjects }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
  const refs = names.map((name) => ({ kind: 'InferenceService', name }));
  let killedAt = Date.now();
  let recoverySeconds: number | null = null;
  let survived = true;
  try {
    ops.push(await startOperator('chaos-op-a', flags));
    ops.push(await startOperator('chaos-op-b', flags));
    const leaderOf = async () => {
      const live = ops.filter((op) => op.alive());
      const flagsNow = await Promise.all(live.map(async (op) => (await figures(op)).leader));
      const leaders = live.filter((_, i) => flagsNow[i]);
      return leaders.length === 1 ? leaders[0] : undefined;
    };
    const leader = await eventually('a leader', leaderOf, 30_000, LEADER_POLL_MS);
    const other = ops.find((op) => op !== leader) as OperatorProcess;
    await applyObjects(names.map((n) => plainService(ns, n)));
    // kill it while it reconciles: once some (not all) objects have a status
    await eventually(
      'the leader to be under way',
      async () => {
        const list = await getJson<{ items: Obj[] }>(['get', 'inferenceservices', '-n', ns]);
        return (list?.items ?? []).some((x) => x.status?.observedGeneration !== undefined);
      },
      60_000,
      100,
    );
    killedAt = Date.now();
    await leader.stop('SIGKILL');
    o.log(
      `chaos: leader ${leader.identity} killed; ${other.identity} should take over within ${LEASE_SECONDS} s`,
    );
    // more work for whoever leads next: every spec edited right after the kill
    await Promise.all(
      names.map((n) =>
        kubectlOk([
          'patch',
          '-n',
          ns,
          `inferenceservice.ymera.io/${n}`,
          '--type=merge',
          '-p',
          '{"spec":{"scaling":{"maxReplicas":3}}}',
        ]),
      ),
    );
    const convergedAt = await eventually(
      'every object to converge under the new leader',
      async () => {
        const list = await getJson<{ items: Obj[] }>(['get', 'inferenceservices', '-n', ns]);
        const items = list?.items ?? [];
        return items.length === names.length && items.every(current) ? Date.now() : undefined;
      },
      180_000,
      500,
    ).catch((e: Error) => {
      notes.push(e.message);
      return undefined;
    });
    if (convergedAt !== undefined) recoverySeconds = seconds(killedAt, convergedAt);
    survived = other.alive();
    if (!survived) notes.push(`${other.identity} exited: ${other.logs().slice(-1000)}`);
  } finally {
    sampling = false;
    await sampler;
  }
  const lost = await lostAfterWaiting(ns, refs, 5_000);
  const orphaned = await orphans(ns);
  const violations = doubleWrites(samples);
  for (const v of violations.slice(0, 5)) notes.push(`double write: ${JSON.stringify(v)}`);
  for (const op of ops) await op.stop('SIGKILL').catch(() => undefined);
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  return {
    fault: 'leader-failover',
    downSeconds: LEASE_SECONDS,
    objectsChecked: names.length,
    lost,
    orphaned,
    recoverySeconds,
    operatorSurvived: survived,
    doubleWrites: violations.length,
    notes,
  };
}

/** A fault whose run threw: nothing is known to have recovered. */
const failed = (fault: FaultKind, objects: number, e: Error): FaultResult => ({
  fault,
  downSeconds: 0,
  objectsChecked: objects,
  lost: 0,
  orphaned: 0,
  recoverySeconds: null,
  operatorSurvived: false,
  notes: [`the run of this fault failed: ${e.stack ?? e.message}`],
});

/** Runs the faults one after the other and returns (and writes) the report. */
export async function runOutageChaos(options: OutageOptions = {}): Promise<OutageReport> {
  const o: Required<OutageOptions> = {
    faults: options.faults ?? ALL_FAULTS,
    outageSeconds: options.outageSeconds ?? 60,
    apiDownSeconds: options.apiDownSeconds ?? 20,
    restartDownSeconds: options.restartDownSeconds ?? 15,
    failoverObjects: options.failoverObjects ?? 30,
    resultFile: options.resultFile ?? path.join(repo, 'bench/results/chaos-outages.json'),
    log: options.log ?? ((l) => process.stdout.write(`${l}\n`)),
  };
  for (const f of o.faults)
    if (!ALL_FAULTS.includes(f))
      throw new Error(`faults: unknown fault "${f}" (allowed: ${ALL_FAULTS.join(', ')})`);
  const results: FaultResult[] = [];
  const single = o.faults.filter((f) => f !== 'leader-failover');
  if (single.length > 0) {
    const world = await makeWorld();
    let op: OperatorProcess | undefined;
    let proxy: ApiProxy | undefined;
    try {
      proxy = await startApiProxy(operatorEnv().KUBECONFIG);
      // a kube-apiserver that has just started answers 403 until its RBAC caches are filled (before
      // /readyz is ok): expected around a restart, counted per fault in its notes instead
      op = await startOperator(
        'chaos-outages',
        [
          `--kubeconfig=${proxy.kubeconfig}`,
          `--watch-namespaces=${world.ns}`,
          `--prometheus-url=${process.env.YMERA_PROMETHEUS_URL ?? 'http://127.0.0.1:9090'}`,
        ],
        { allowForbidden: single.some((f) => restartedComponent(f)) },
      );
      if (single.includes('prometheus-outage')) await startCanary(world.ns);
      await eventually(
        'every object reconciled before the faults',
        async () => (await Promise.all(world.objects.map((r) => getObj(world.ns, r)))).every(current),
        120_000,
        1000,
      );
      for (const fault of single) {
        o.log(`chaos: ${fault}...`);
        const dep = world.deps.find((d) => d.fault === fault);
        const restart = restartedComponent(fault) ? restartOutage(fault as RestartFault, o) : undefined;
        const outage = restart ?? proxyOutage(proxy, o);
        const result = await (
          dep ? dependencyFault(dep, world, op, o) : apiFault(outage, world, op, o)
        ).catch((e: Error) => failed(fault, world.objects.length, e));
        o.log(`chaos: ${JSON.stringify(result)}`);
        results.push(result);
        if (!op.alive()) {
          o.log(`chaos: the operator died: ${op.logs().slice(-2000)}`);
          break;
        }
      }
    } finally {
      await proxy?.restore();
      await dropWorld(world, op);
      await op?.stop().catch((e: Error) => o.log(`chaos: ${e.message}`));
      await proxy?.close();
    }
  }
  if (o.faults.includes('leader-failover')) {
    o.log('chaos: leader-failover...');
    const result = await failoverFault(o).catch((e: Error) =>
      failed('leader-failover', o.failoverObjects, e),
    );
    o.log(`chaos: ${JSON.stringify(result)}`);
    results.push(result);
  }
  const report = summarize(results, new Date());
  o.log(`\n${formatTable(report)}\n`);
  if (o.resultFile) {
    mkdirSync(path.dirname(o.resultFile), { recursive: true });
    writeFileSync(o.resultFile, `${JSON.stringify(report, null, 2)}\n`);
    o.log(`wrote ${o.resultFile}`);
  }
  return report;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { default: setupStack } = await import('../test/e2e/global-setup.ts');
  setupStack();
  const report = await runOutageChaos(outageOptionsFromEnv(process.env));
  process.exitCode = report.totals.failed === 0 ? 0 : 1;
}
