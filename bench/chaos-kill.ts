// Kill chaos: SIGKILL the operator at many points while it reconciles a mix of
// kinds, restart it each time, and afterwards check that nothing a crash can
// leave behind was left: orphaned children, duplicate children, lost status,
// objects that never converge (checks in chaos-checks.ts, pure).
//
// Kill points alternate between
// - random times (a SIGKILL after a random delay while the operator works), and
// - "right after a write": the operator runs with the test-only hook
//   YMERA_CHAOS_KILL_AFTER_WRITES=<k> (operator/kube/chaos-hook.ts) and kills
//   itself the moment the API server has answered its k-th reconcile write,
//   before it handles the answer (child created, status not yet written).
//
// The workload: `sets` copies of the samples (config/samples) adapted to a
// fresh namespace and the local stack (InferenceService, LearningPipeline,
// BackupPolicy on MinIO, OptimizationLoop) plus one MaintenancePlan (the
// operator runs with --cluster-scoped-kinds=true), then spec edits and
// annotations (a model version, a run request, a backup request, ...) until
// `reconciles` changes were made, each needing a reconcile. After the last
// kill a clean operator runs until the checks pass (time to converge) or the
// time runs out.
//
//   make chaos-kill                                   (50 kills, 200 reconciles)
//   CHAOS_KILLS=5 CHAOS_RECONCILES=20 make chaos-kill  (the short version)
//   CHAOS_SEED=7 make chaos-kill
//
// Prints a table and writes bench/results/chaos-kill.json (runKillChaos
// returns the same report; the CI short version is
// test/e2e/chaos-kill.e2e.test.ts).
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crd as backupPolicyCrd } from '../controllers/backuppolicy/schema.ts';
import { listBackups } from '../controllers/backuppolicy/store.ts';
import { crd as inferenceServiceCrd } from '../controllers/inferenceservice/schema.ts';
import { crd as learningPipelineCrd } from '../controllers/learningpipeline/schema.ts';
import { crd as maintenancePlanCrd } from '../controllers/maintenanceplan/schema.ts';
import { crd as optimizationLoopCrd } from '../controllers/optimizationloop/schema.ts';
import { CHAOS_KILL_ENV } from '../operator/kube/chaos-hook.ts';
import { KubeClient } from '../operator/kube/client.ts';
import type { ResourceType } from '../operator/kube/resources.ts';
import { core } from '../operator/kube/resources.ts';
import { resourceTypeOf } from '../operator/kube/ymera.ts';
import { MANAGED_BY } from '../operator/ownership.ts';
import {
  BACKUP_BUCKET,
  backupPolicy,
  openStore,
  policySecrets,
  s3Secret,
} from '../test/e2e/backup-fixtures.ts';
import { modelDir, modelMeta } from '../test/e2e/gpu-signals.ts';
import { artifactsVolume } from '../test/e2e/learningpipeline-fixtures.ts';
import { loadSamples } from '../test/e2e/samples.ts';
import {
  OPERATOR_NODE_OPTIONS,
  forbiddenRequests,
  freePort,
  freshNamespace,
  kubectl,
  operatorEnv,
  prometheusStack,
  repo,
} from '../test/e2e/support.ts';
import type { ChaosObject, CheckSummary, Finding } from './chaos-checks.ts';
import { backupFindings, checkAll, clean } from './chaos-checks.ts';

export interface KillChaosOptions {
  /** SIGKILLs of the operator (half random times, half right after a write). */
  kills: number;
  /** Changes made to the objects (creations included), each needing a reconcile. */
  reconciles: number;
  /** Copies of the namespaced samples (InferenceService, LearningPipeline, BackupPolicy, OptimizationLoop). */
  sets: number;
  seed: number;
  /** How long a clean operator may take to converge after the last kill. */
  convergeTimeoutMs: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export const DEFAULT_KILL_OPTIONS: KillChaosOptions = {
  kills: 50,
  reconciles: 200,
  sets: 4,
  seed: 1,
  convergeTimeoutMs: 300_000,
};

export interface KillReport {
  when: string;
  /** What was asked for: kills, reconciles, sets of samples. */
  options: { kills: number; reconciles: number; sets: number };
  seed: number;
  namespace: string;
  faultsInjected: { total: number; randomTime: number; afterWrite: number };
  reconcilesDriven: number;
  operatorStarts: number;
  objectsChecked: number;
  childrenChecked: number;
  lost: number;
  orphaned: number;
  duplicates: number;
  notConverged: number;
  /** Seconds from the last kill until every check passed; null when they did not within convergeTimeoutMs. */
  secondsToConvergeAfterLastKill: number | null;
  /** API requests the chart's RBAC refused the operator (should be none). */
  forbidden: number;
  /** Backups a kill left without a manifest: not orphans, retention deletes them after its 24 h grace. */
  incompleteBackups: number;
  findings: { lost: Finding[]; orphaned: Finding[]; duplicates: Finding[]; notConverged: Finding[] };
}

/** mulberry32: a small seeded PRNG, so a run's kill points and edits can be repeated. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const types = {
  InferenceService: resourceTypeOf(inferenceServiceCrd),
  LearningPipeline: resourceTypeOf(learningPipelineCrd),
  BackupPolicy: resourceTypeOf(backupPolicyCrd),
  OptimizationLoop: resourceTypeOf(optimizationLoopCrd),
  MaintenancePlan: resourceTypeOf(maintenancePlanCrd),
};
type Kind = keyof typeof types;

/** The children the checks list (every kind of object the operator creates in a namespace). */
const CHILD_TYPES: ResourceType[] = [
  core.deployment,
  core.service,
  core.configMap,
  core.job,
  core.hpa,
  core.pdb,
];

const OPERATOR_IDENTITY = 'op-chaos-kill';

type Obj = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
};

/** The samples of set `i`, adapted to the namespace and the local stack; the MaintenancePlan once. */
function workload(namespace: string, sets: number): Obj[] {
  const objects: Obj[] = [];
  for (let i = 0; i < sets; i++) {
    const samples = loadSamples(namespace, `-${i}`);
    const of = (kind: string) => {
      const s = samples.find((x) => x.kind === kind);
      if (!s) throw new Error(`config/samples has no ${kind}`);
      return s.object as unknown as Obj;
    };
    const service = of('InferenceService');
    // a new revision replaces the old one directly: a canary's analysis needs traffic the local stack has not
    delete service.spec.rollout;
    const pipeline = of('LearningPipeline');
    delete pipeline.spec.triggers; // Kafka triggers have their own tests; runs here come from the annotation
    pipeline.spec.schedule = '0 0 1 1 *';
    const steps = pipeline.spec.steps as { name: string; podAnnotations?: Record<string, string> }[];
    for (const step of steps) {
      // what the kwok pods "write": the trainer's model digest, the evaluator's metrics (gate passes)
      if (step.name === 'train')
        step.podAnnotations = {
          'ymera.io/simulate-termination-message': JSON.stringify({
            sha256: randomBytes(32).toString('hex'),
          }),
        };
      if (step.name === 'evaluate')
        step.podAnnotations = { 'ymera.io/simulate-termination-message': '{"auc":0.95}' };
    }
    (pipeline.spec.promotion as { target: string }).target = service.metadata.name;
    (pipeline.spec.model as { name: string }).name = service.metadata.name;
    const loop = of('OptimizationLoop');
    (loop.spec.target as { name: string }).name = service.metadata.name;
    const policy = backupPolicy({
      namespace,
      name: `ml-platform-${i}`,
      prefix: `chaos-kill/${namespace}/${i}/`,
      spec: { retention: { keepLast: 1000 } },
    }) as unknown as Obj;
    objects.push(service, pipeline, policy, loop);
  }
  objects.push({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'MaintenancePlan',
    metadata: { name: `chaos-${namespace}` },
    spec: {
      // selects no node: a chaos run must not cordon the shared cluster's nodes
      nodeSelector: { matchLabels: { 'ymera.io/chaos-namespace': namespace } },
      signals: modelMeta.signals.map((s: { name: string }) => ({ name: s.name, query: `vector(0)` })),
      predictor: {
        model: { uri: `file://${path.join(modelDir, 'gpu-failure.onnx')}`, sha256: modelMeta.sha256 },
        threshold: 0.8,
        interval: '30s',
      },
      window: { schedule: '0 2 * * 6', durationMinutes: 60 },
    },
  });
  return objects;
}

/** The setup objects the samples reference: Secrets, the artifacts volume. */
function supporting(namespace: string, pv: string): Record<string, unknown>[] {
  return [
    ...policySecrets(namespace, randomBytes(32)),
    s3Secret(namespace, 'model-store-credentials'),
    s3Secret(namespace, 'backup-s3-credentials'),
    ...artifactsVolume(namespace, pv),
  ];
}

/** One change to one object, needing a reconcile: a spec edit or a request annotation. */
interface Edit {
  kind: Kind;
  name: string;
  namespace?: string;
  patch: Record<string, unknown>;
  /** A backup requested of this policy (counted for the duplicate check). */
  backupToken?: string;
}

function nextEdit(objects: Obj[], n: number, random: () => number): Edit {
  const o = objects[Math.floor(random() * objects.length)] as Obj;
  const kind = o.kind as Kind;
  const at = {
    kind,
    name: o.metadata.name,
    ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
  };
  const pick = random();
  switch (kind) {
    case 'InferenceService':
      // a new revision (a new Deployment), or a scale change of the current one
      return pick < 0.5
        ? { ...at, patch: { spec: { model: { version: `v${n}` } } } }
        : { ...at, patch: { spec: { scaling: { minReplicas: 1 + (n % 2), maxReplicas: 6 } } } };
    case 'LearningPipeline':
      // a run (three Jobs, a promotion), or a shorter/longer history (Jobs pruned)
      return pick < 0.7
        ? { ...at, patch: { metadata: { annotations: { 'ymera.io/run': `chaos-${n}` } } } }
        : { ...at, patch: { spec: { historyLimit: 2 + (n % 4) } } };
    case 'BackupPolicy': {
      if (pick < 0.6) {
        const token = `chaos-${n}`;
        return {
          ...at,
          backupToken: token,
          patch: { metadata: { annotations: { 'ymera.io/backup-now': token } } },
        };
      }
      return { ...at, patch: { spec: { retention: { keepLast: 1000 - (n % 7) } } } };
    }
    case 'OptimizationLoop':
      return { ...at, patch: { spec: { minImprovementPercent: 1 + (n % 9) } } };
    case 'MaintenancePlan':
      return { ...at, patch: { spec: { predictor: { threshold: 0.5 + (n % 5) / 10 } } } };
  }
}

interface RunningOperator {
  child: ChildProcess;
  exited: Promise<void>;
  logs: () => string;
}

/** Starts the operator without waiting for it to be ready (a hooked one may die before it is). */
async function spawnOperator(
  namespace: string,
  killAfterWrites: number | undefined,
): Promise<RunningOperator> {
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...operatorEnv(),
    HOSTNAME: OPERATOR_IDENTITY,
    POD_NAME: OPERATOR_IDENTITY,
    NODE_OPTIONS: [process.env.NODE_OPTIONS, OPERATOR_NODE_OPTIONS].filter(Boolean).join(' '),
  };
  delete env[CHAOS_KILL_ENV];
  if (killAfterWrites !== undefined) env[CHAOS_KILL_ENV] = String(killAfterWrites);
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      path.join(repo, 'operator/main.ts'),
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${healthPort}`,
      // the same identity after each restart, as a restarted container keeps its pod's name:
      // it takes the Lease back at once instead of waiting out the lease of the killed process
      `--identity=${OPERATOR_IDENTITY}`,
      `--watch-namespaces=${namespace}`,
      '--cluster-scoped-kinds=true',
      `--prometheus-url=${prometheusStack().url}`,
      '--log-level=info',
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-2_000_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { child, exited, logs: () => out };
}

const alive = (op: RunningOperator) => op.child.exitCode === null && op.child.signalCode === null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sigkill(op: RunningOperator): Promise<void> {
  if (alive(op)) op.child.kill('SIGKILL');
  await op.exited;
}

/** Lists the resources and children of the run and checks them (chaos-checks.ts). */
async function inspect(
  client: KubeClient,
  namespace: string,
  planName: string,
  backupTokens: Map<string, Set<string>>,
): Promise<CheckSummary & { incompleteBackups: number }> {
  const resources: ChaosObject[] = [];
  for (const kind of ['InferenceService', 'LearningPipeline', 'BackupPolicy', 'OptimizationLoop'] as const) {
    resources.push(...((await client.list(types[kind], { namespace })).items as unknown as ChaosObject[]));
  }
  const plan = await client.get(types.MaintenancePlan, planName);
  if (plan) resources.push(plan as unknown as ChaosObject);
  const children: ChaosObject[] = [];
  for (const type of CHILD_TYPES) {
    const listed = await client.list(type, {
      namespace,
      labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY}`,
    });
    children.push(...(listed.items as unknown as ChaosObject[]));
  }
  const extra = { duplicates: [] as Finding[], incompleteBackups: 0 };
  for (const p of resources.filter((r) => r.kind === 'BackupPolicy')) {
    const store = openStore(BACKUP_BUCKET, `chaos-kill/${namespace}/${p.metadata.name.split('-').at(-1)}/`);
    try {
      const stored = await listBackups(store, { namespace, name: p.metadata.name });
      const f = backupFindings(
        `${namespace}/${p.metadata.name}`,
        backupTokens.get(p.metadata.name)?.size ?? 0,
        stored,
      );
      extra.duplicates.push(...f.duplicates);
      extra.incompleteBackups += f.incomplete;
    } finally {
      store.close();
    }
  }
  return { ...checkAll(resources, children, extra), incompleteBackups: extra.incompleteBackups };
}

/** Deletes the run's objects while a clean operator runs, so finalizers are removed; then the namespace. */
async function cleanUp(namespace: string, planName: string, pv: string): Promise<void> {
  const op = await spawnOperator(namespace, undefined);
  try {
    for (const kind of ['optimizationloops', 'learningpipelines', 'backuppolicies', 'inferenceservices'])
      await kubectl(['delete', kind, '--all', '-n', namespace, '--wait=true', '--timeout=120s']);
    await kubectl(['delete', `maintenanceplan.ymera.io/${planName}`, '--wait=true', '--timeout=60s']);
  } finally {
    await sigkill(op);
  }
  await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  await kubectl(['delete', 'pv', pv, '--wait=false']);
  const store = openStore(BACKUP_BUCKET, `chaos-kill/${namespace}/`);
  await store.deletePrefix('').catch(() => undefined);
  store.close();
}

export async function runKillChaos(options: Partial<KillChaosOptions> = {}): Promise<KillReport> {
  const o: KillChaosOptions = { ...DEFAULT_KILL_OPTIONS, ...options };
  const log = o.log ?? (() => undefined);
  const random = seededRandom(o.seed);
  const client = KubeClient.fromEnvironment();
  const namespace = await freshNamespace('chaos-kill');
  const pv = `${namespace}-artifacts`;
  const bucket = openStore(BACKUP_BUCKET);
  await bucket.ensureBucket();
  bucket.close();
  const apply = async (objs: unknown[]) => {
    const r = await kubectl(
      ['apply', '--server-side', '-f', '-'],
      objs.map((x) => JSON.stringify(x)).join('\n'),
    );
    if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
  };
  await apply(supporting(namespace, pv));
  const objects = workload(namespace, o.sets);
  const planName = objects.find((x) => x.kind === 'MaintenancePlan')?.metadata.name ?? '';
  const backupTokens = new Map<string, Set<string>>();
  const logs: string[] = [];
  let forbidden = 0;
  const retire = (op: RunningOperator) => {
    forbidden += forbiddenRequests(op.logs()).length;
    logs.push(op.logs());
  };

  // the changes, in order: first the creations, then edits until `reconciles` changes were made
  const changes: (() => Promise<void>)[] = objects.map((obj) => () => apply([obj]));
  for (let n = changes.length; n < o.reconciles; n++) {
    const edit = nextEdit(objects, n, random);
    changes.push(async () => {
      await client.patch(types[edit.kind], edit.name, edit.namespace, 'merge', edit.patch);
      if (edit.backupToken) {
        const tokens = backupTokens.get(edit.name) ?? new Set();
        tokens.add(edit.backupToken);
        backupTokens.set(edit.name, tokens);
      }
    });
  }

  let randomTime = 0;
  let afterWrite = 0;
  let starts = 0;
  let next = 0;
  let lastKillAt = Date.now();
  try {
    for (let k = 0; k < o.kills; k++) {
      const hooked = k % 2 === 0;
      // k-th write: small k hits the first writes of a fresh start (finalizers, first children,
      // first status), larger k the middle of a run
      const writes = hooked ? 1 + Math.floor(random() * 20) : undefined;
      const op = await spawnOperator(namespace, writes);
      starts++;
      // this kill's share of the changes, paced so the operator meets them while it works
      const share = Math.ceil((o.reconciles - next) / (o.kills - k));
      for (let j = 0; j < share && next < changes.length; j++) {
        await (changes[next++] as () => Promise<void>)();
        await sleep(100 + random() * 400);
      }
      if (hooked) {
        // wait for the hook; an operator with no k-th write to make (all converged) is killed anyway
        const deadline = Date.now() + 20_000;
        while (alive(op) && Date.now() < deadline) await sleep(100);
        if (alive(op)) randomTime++;
        else afterWrite++;
      } else {
        await sleep(500 + random() * 4_000);
        randomTime++;
      }
      const byHook = !alive(op);
      await sigkill(op);
      lastKillAt = Date.now();
      retire(op);
      log(
        `kill ${k + 1}/${o.kills}: ${byHook ? `after write ${String(writes)}` : 'at a random time'}; ${next}/${o.reconciles} changes made`,
      );
    }
    // changes left (when kills < the creations) are made while the clean operator runs
    const op = await spawnOperator(namespace, undefined);
    starts++;
    while (next < changes.length) await (changes[next++] as () => Promise<void>)();
    let summary = await inspect(client, namespace, planName, backupTokens);
    let convergedAt: number | undefined;
    const deadline = Date.now() + o.convergeTimeoutMs;
    for (;;) {
      if (clean(summary)) {
        convergedAt = Date.now();
        break;
      }
      if (Date.now() > deadline) break;
      await sleep(2_000);
      summary = await inspect(client, namespace, planName, backupTokens);
    }
    await sigkill(op);
    retire(op);
    log(
      convergedAt
        ? `converged ${((convergedAt - lastKillAt) / 1000).toFixed(1)} s after the last kill`
        : 'did not converge',
    );
    return {
      when: new Date().toISOString(),
      options: { kills: o.kills, reconciles: o.reconciles, sets: o.sets },
      seed: o.seed,
      namespace,
      faultsInjected: { total: randomTime + afterWrite, randomTime, afterWrite },
      reconcilesDriven: next,
      operatorStarts: starts,
      objectsChecked: summary.objectsChecked,
      childrenChecked: summary.childrenChecked,
      lost: summary.lost.length,
      orphaned: summary.orphaned.length,
      duplicates: summary.duplicates.length,
      notConverged: summary.notConverged.length,
      secondsToConvergeAfterLastKill:
        convergedAt === undefined ? null : Math.round((convergedAt - lastKillAt) / 100) / 10,
      forbidden,
      incompleteBackups: summary.incompleteBackups,
      findings: {
        lost: summary.lost,
        orphaned: summary.orphaned,
        duplicates: summary.duplicates,
        notConverged: summary.notConverged,
      },
    };
  } finally {
    if (process.env.CHAOS_LOGS) writeFileSync(process.env.CHAOS_LOGS, logs.join('\n'));
    if (!process.env.CHAOS_KEEP) await cleanUp(namespace, planName, pv);
  }
}

/** A line on stdout (a bench prints its progress and table). */
export const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** The report as a table. */
export function killTable(r: KillReport): string {
  const rows: [string, string][] = [
    [
      'faults injected',
      `${r.faultsInjected.total} (${r.faultsInjected.afterWrite} right after a write, ${r.faultsInjected.randomTime} at random times)`,
    ],
    ['reconciles driven', String(r.reconcilesDriven)],
    ['objects checked', `${r.objectsChecked} (+ ${r.childrenChecked} children)`],
    ['lost status', String(r.lost)],
    ['orphaned children', String(r.orphaned)],
    ['duplicate children', String(r.duplicates)],
    ['not converged', String(r.notConverged)],
    ['incomplete backups', `${r.incompleteBackups} (retention deletes them after 24 h)`],
    [
      'converged after last kill',
      r.secondsToConvergeAfterLastKill === null ? 'no' : `${r.secondsToConvergeAfterLastKill} s`,
    ],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

export const killResultsPath = path.join(repo, 'bench/results/chaos-kill.json');

export function writeKillReport(r: KillReport): void {
  mkdirSync(path.dirname(killResultsPath), { recursive: true });
  writeFileSync(killResultsPath, `${JSON.stringify(r, null, 2)}\n`);
}

/** Options from CHAOS_* environment variables. */
export function killOptionsFromEnv(env: NodeJS.ProcessEnv): Partial<KillChaosOptions> {
  const num = (name: string) => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${v}: must be a non-negative integer`);
    return n;
  };
  const picked: Partial<KillChaosOptions> = {};
  const kills = num('CHAOS_KILLS');
  const reconciles = num('CHAOS_RECONCILES');
  const sets = num('CHAOS_SETS');
  const seed = num('CHAOS_SEED');
  const timeout = num('CHAOS_CONVERGE_TIMEOUT_S');
  if (kills !== undefined) picked.kills = kills;
  if (reconciles !== undefined) picked.reconciles = reconciles;
  if (sets !== undefined) picked.sets = sets;
  if (seed !== undefined) picked.seed = seed;
  if (timeout !== undefined) picked.convergeTimeoutMs = timeout * 1000;
  return picked;
}

async function main(): Promise<void> {
  const { default: setupStack } = await import('../test/e2e/global-setup.ts');
  setupStack();
  const report = await runKillChaos({
    ...killOptionsFromEnv(process.env),
    log: (line) => say(line),
  });
  say(`\n${killTable(report)}`);
  writeKillReport(report);
  say(`\nwrote ${path.relative(process.cwd(), killResultsPath)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
