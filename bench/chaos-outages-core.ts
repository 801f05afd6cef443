// Pure parts of the outage chaos run (bench/chaos-outages.ts): the bound a
// reconcile count must stay under while a dependency is down (no hot loop),
// the double-write check of a leader failover from sampled write counters,
// and the report (figures per fault, a Markdown table). No I/O here.

/** The work queue's retry backoff (operator/workqueue.ts defaults, operator/backoff.ts shape). */
export interface BackoffShape {
  baseMs: number;
  factor: number;
  maxMs: number;
  /** Jitter only shortens a delay, by up to this share of it. */
  jitter: number;
}
export const WORKQUEUE_BACKOFF: BackoffShape = { baseMs: 500, factor: 2, maxMs: 300_000, jitter: 0.1 };

/**
 * How many retries per-key exponential backoff allows in `seconds`: the
 * number of delays, each at its shortest (jitter taken off), that fit.
 */
export function backoffRetriesWithin(seconds: number, b: BackoffShape = WORKQUEUE_BACKOFF): number {
  if (!(seconds >= 0)) throw new RangeError(`seconds must be >= 0 (got ${seconds})`);
  let spent = 0;
  let n = 0;
  for (let attempt = 0; ; attempt++) {
    const delay = Math.min(b.baseMs * b.factor ** attempt, b.maxMs) * (1 - b.jitter);
    if (spent + delay > seconds * 1000) return n;
    spent += delay;
    n++;
  }
}

export interface ReconcileBoundInput {
  /** Objects the operator watches in the chaos namespace. */
  objects: number;
  outageSeconds: number;
  /** The shortest requeue-after any of them asks for while healthy (e.g. a canary's analysis interval). */
  shortestRequeueSeconds: number;
  /** Reconciles the run itself causes per object (pokes, spec edits, the first status write's echo). */
  causedPerObject: number;
  backoff?: BackoffShape;
}

/**
 * The most reconciles a non-looping operator does during an outage: each
 * object at most once per retry its backoff allows (failures), or once per
 * shortest requeue interval (requeue hints), whichever is more, plus what the
 * run causes. A hot loop (a requeue without backoff, or a status write that
 * triggers its own reconcile) does hundreds a second and lands far above.
 */
export function reconcileBound(i: ReconcileBoundInput): number {
  if (!(i.shortestRequeueSeconds > 0)) {
    throw new RangeError(`shortestRequeueSeconds must be > 0 (got ${i.shortestRequeueSeconds})`);
  }
  const retries = backoffRetriesWithin(i.outageSeconds, i.backoff);
  const requeues = Math.ceil(i.outageSeconds / i.shortestRequeueSeconds);
  return i.objects * (Math.max(retries, requeues) + 1 + i.causedPerObject);
}

/** One sample of an operator replica: its mutating API requests so far (leases excluded) and whether it leads. */
export interface WriteSample {
  identity: string;
  atMs: number;
  writes: number;
  leader: boolean;
}

export interface WriteViolation {
  identity: string;
  fromMs: number;
  toMs: number;
  writes: number;
  why: 'not-leader' | 'overlap';
}

/**
 * Double writes in sampled counters: a replica whose writes grew between two
 * samples while it led at neither (it wrote as a follower), and intervals in
 * which two replicas' writes both grew while their tenures overlapped (two
 * writers in the same period). Samples of each replica are taken in time
 * order; a replica that died simply has no more samples.
 */
export function doubleWrites(samples: WriteSample[]): WriteViolation[] {
  const byId = new Map<string, WriteSample[]>();
  for (const s of samples) byId.set(s.identity, [...(byId.get(s.identity) ?? []), s]);
  const grew: WriteViolation[] = [];
  const out: WriteViolation[] = [];
  for (const [identity, list] of byId) {
    const sorted = [...list].sort((a, b) => a.atMs - b.atMs);
    for (let k = 1; k < sorted.length; k++) {
      const a = sorted[k - 1] as WriteSample;
      const b = sorted[k] as WriteSample;
      const writes = b.writes - a.writes;
      if (writes <= 0) continue;
      const v = { identity, fromMs: a.atMs, toMs: b.atMs, writes };
      if (!a.leader && !b.leader) out.push({ ...v, why: 'not-leader' });
      else grew.push({ ...v, why: 'overlap' });
    }
  }
  // two replicas writing in overlapping intervals, each claiming to lead
  for (let x = 0; x < grew.length; x++) {
    for (let y = x + 1; y < grew.length; y++) {
      const a = grew[x] as WriteViolation;
      const b = grew[y] as WriteViolation;
      if (a.identity === b.identity) continue;
      if (a.fromMs < b.toMs && b.fromMs < a.toMs) out.push(a, b);
    }
  }
  return out;
}

export type FaultKind =
  | 'api-unreachable'
  | 'apiserver-restart'
  | 'etcd-restart'
  | 'kafka-outage'
  | 'prometheus-outage'
  | 'minio-outage'
  | 'leader-failover';

export type RestartFault = 'apiserver-restart' | 'etcd-restart';
export type ClusterComponent = 'kube-apiserver' | 'etcd';

/** The cluster process a restart fault stops and starts again (undefined: not a restart fault). */
export function restartedComponent(fault: FaultKind): ClusterComponent | undefined {
  return fault === 'apiserver-restart' ? 'kube-apiserver' : fault === 'etcd-restart' ? 'etcd' : undefined;
}

/** Wall-clock instants (ms) of one API fault, as the bench saw them. */
export interface ApiFaultTimes {
  /** The fault began (proxy cut, or SIGTERM sent to the component). */
  stoppedAt: number;
  /** The API answered /readyz ok again (proxy restored); undefined: never. */
  backAt?: number;
  /** The operator reported the generation of an edit made after backAt; undefined: never. */
  reconciledAt?: number;
}

/** The operator process before and after, and whether it still runs. */
export interface OperatorIdentity {
  pidBefore: number | undefined;
  pidAfter: number | undefined;
  alive: boolean;
}

const tenths = (ms: number) => Math.round(ms / 100) / 10;

/**
 * The figures of an API fault: how long the API was down (until /readyz ok),
 * the recovery (edit reconciled, from /readyz ok; null when it never was) and
 * whether the operator survived it as the same process (a restart by a
 * supervisor would hide a crash). A reconcile seen before the API was back
 * cannot be a recovery: it is refused.
 */
export function apiFaultFigures(
  t: ApiFaultTimes,
  op: OperatorIdentity,
): { downSeconds: number; recoverySeconds: number | null; operatorSurvived: boolean } {
  if (t.reconciledAt !== undefined && (t.backAt === undefined || t.reconciledAt < t.backAt))
    throw new RangeError(`reconciledAt (${t.reconciledAt}) must come after backAt (${t.backAt})`);
  return {
    downSeconds: t.backAt === undefined ? 0 : tenths(t.backAt - t.stoppedAt),
    recoverySeconds:
      t.backAt === undefined || t.reconciledAt === undefined ? null : tenths(t.reconciledAt - t.backAt),
    operatorSurvived: op.alive && op.pidBefore !== undefined && op.pidAfter === op.pidBefore,
  };
}

/** Reconciles per second during an outage (one decimal; undefined without the figures). */
export function reconcileRate(f: Pick<FaultResult, 'reconciles' | 'downSeconds'>): number | undefined {
  if (f.reconciles === undefined || !(f.downSeconds > 0)) return undefined;
  return Math.round((f.reconciles / f.downSeconds) * 100) / 100;
}

/** What one injected fault showed. */
export interface FaultResult {
  fault: FaultKind;
  /** How long the component was down (s). */
  downSeconds: number;
  objectsChecked: number;
  /** Objects left without a status the operator wrote for their current generation. */
  lost: number;
  /** Children whose owner is gone (or duplicates of a child). */
  orphaned: number;
  /** From the component back (API /readyz ok, dependency up, new leader killed) to recovered; null: never within the wait. */
  recoverySeconds: number | null;
  /** The bound recovery had to meet (s), when there is one. */
  recoveryBoundSeconds?: number;
  /** The operator process(es) kept running (no crash, no restart). */
  operatorSurvived: boolean;
  /** Dependency outages: the dependent objects' status said so during the outage. */
  conditionShown?: boolean;
  /** Outages: reconciles during the outage, and the bound they had to stay under (no hot loop). */
  reconciles?: number;
  reconcileBound?: number;
  /** API requests of the operator during the outage. */
  requests?: number;
  /** Restart faults: afterwards every component ran, /readyz was ok and every node was Ready again. */
  clusterHealthyAfter?: boolean;
  /** Leader failover: double writes found (see doubleWrites). */
  doubleWrites?: number;
  /** Human-readable notes: what failed, if anything. */
  notes: string[];
}

export interface OutageReport {
  when: string;
  faults: FaultResult[];
  totals: { faultsInjected: number; objectsChecked: number; lost: number; orphaned: number; failed: number };
}

/** A fault passed when nothing was lost or orphaned, the operator lived, and every bound held. */
export function faultPassed(f: FaultResult): boolean {
  return (
    f.lost === 0 &&
    f.orphaned === 0 &&
    f.operatorSurvived &&
    f.recoverySeconds !== null &&
    (f.recoveryBoundSeconds === undefined || f.recoverySeconds <= f.recoveryBoundSeconds) &&
    f.conditionShown !== false &&
    f.clusterHealthyAfter !== false &&
    (f.reconciles === undefined || f.reconcileBound === undefined || f.reconciles <= f.reconcileBound) &&
    (f.doubleWrites ?? 0) === 0
  );
}

export function summarize(faults: FaultResult[], when: Date): OutageReport {
  const sum = (pick: (f: FaultResult) => number) => faults.reduce((n, f) => n + pick(f), 0);
  return {
    when: when.toISOString(),
    faults,
    totals: {
      faultsInjected: faults.length,
      objectsChecked: sum((f) => f.objectsChecked),
      lost: sum((f) => f.lost),
      orphaned: sum((f) => f.orphaned),
      failed: faults.filter((f) => !faultPassed(f)).length,
    },
  };
}

const cell = (v: string | number | boolean | null | undefined): string =>
  v === undefined ? '-' : v === null ? 'never' : typeof v === 'boolean' ? (v ? 'yes' : 'NO') : String(v);

/** The report as a Markdown table, one row per fault, then the totals. */
export function formatTable(r: OutageReport): string {
  const head = [
    'fault',
    'down s',
    'objects',
    'lost',
    'orphaned',
    'recovery s (bound)',
    'operator alive',
    'status said so',
    'reconciles (bound)',
    'reconciles/s',
    'double writes',
    'pass',
  ];
  const rows = r.faults.map((f) => [
    f.fault,
    f.downSeconds.toFixed(1),
    cell(f.objectsChecked),
    cell(f.lost),
    cell(f.orphaned),
    `${f.recoverySeconds === null ? 'never' : f.recoverySeconds.toFixed(1)}${f.recoveryBoundSeconds === undefined ? '' : ` (≤ ${f.recoveryBoundSeconds})`}`,
    cell(f.operatorSurvived),
    cell(f.conditionShown),
    f.reconciles === undefined ? '-' : `${f.reconciles} (≤ ${cell(f.reconcileBound)})`,
    cell(reconcileRate(f)),
    cell(f.doubleWrites),
    faultPassed(f) ? 'yes' : 'NO',
  ]);
  const line = (cols: string[]) => `| ${cols.join(' | ')} |`;
  const t = r.totals;
  return [
    line(head),
    line(head.map(() => '---')),
    ...rows.map(line),
    '',
    `faults injected ${t.faultsInjected}, objects checked ${t.objectsChecked}, lost ${t.lost}, orphaned ${t.orphaned}, failed ${t.failed}`,
  ].join('\n');
}

export const ALL_FAULTS: FaultKind[] = [
  'api-unreachable',
  'apiserver-restart',
  'etcd-restart',
  'kafka-outage',
  'prometheus-outage',
  'minio-outage',
  'leader-failover',
];

export interface OutageOptions {
  /** Which faults, in order (default ALL_FAULTS). */
  faults?: FaultKind[];
  /** How long Kafka, Prometheus and MinIO stay stopped (s; default 60). */
  outageSeconds?: number;
  /** How long the API stays unreachable for the operator (its proxy cut; s; default 20, past the renew deadline). */
  apiDownSeconds?: number;
  /** How long kube-apiserver / etcd stay stopped before they are started again (s; default 15). */
  restartDownSeconds?: number;
  /** Objects created for the leader failover (default 30). */
  failoverObjects?: number;
  /** Where the report goes (default bench/results/chaos-outages.json; '' = nowhere). */
  resultFile?: string;
  log?: (line: string) => void;
}

/** Options from the CHAOS_* environment variables (the Makefile's knobs); a bad value names the variable. */
export function outageOptionsFromEnv(env: Record<string, string | undefined>): OutageOptions {
  const num = (name: string) => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!(n > 0)) throw new Error(`${name} must be a positive number (got "${v}")`);
    return n;
  };
  let faults: FaultKind[] | undefined;
  const list = env['CHAOS_FAULTS'];
  if (list) {
    faults = list.split(',').map((f) => f.trim()) as FaultKind[];
    for (const f of faults)
      if (!ALL_FAULTS.includes(f))
        throw new Error(`CHAOS_FAULTS: unknown fault "${f}" (allowed: ${ALL_FAULTS.join(', ')})`);
  }
  const outageSeconds = num('CHAOS_OUTAGE_SECONDS');
  const failoverObjects = num('CHAOS_FAILOVER_OBJECTS');
  const restartDownSeconds = num('CHAOS_RESTART_DOWN_SECONDS');
  return {
    ...(faults ? { faults } : {}),
    ...(outageSeconds ? { outageSeconds } : {}),
    ...(restartDownSeconds ? { restartDownSeconds } : {}),
    ...(failoverObjects ? { failoverObjects } : {}),
  };
}
