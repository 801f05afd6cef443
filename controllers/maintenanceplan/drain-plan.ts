// Pure: the drain plan of a node before it is cordoned — the pods a drain
// would evict, the pods that block it (do-not-disrupt, emptyDir), the
// DaemonSet/mirror/finished pods it skips, the PodDisruptionBudgets that
// would refuse an eviction now (disruptionsAllowed 0 over a pod of the node),
// and whether the other nodes have room for the evicted pods. The room check
// is an aggregate, and says so: the CPU, memory and pod count the evicted pods
// request against what is free (allocatable minus the requests of the pods
// there) on the other nodes that are Ready, schedulable, carry no NoSchedule
// or NoExecute taint and are not themselves scheduled for maintenance. It
// ignores nodeSelectors, affinity, tolerations and fragmentation, so "room"
// is necessary, not sufficient; "no room" is certain.
import { parseQuantity } from '../../operator/schema/validation.ts';
import type { PodInfo } from './drain.ts';
import { triagePods } from './drain.ts';
import type { MaintenanceAction, MaintenancePlanStatus } from './schema.ts';

/** Pod and PDB names listed in status before "and N more" (counts are exact). */
export const MAX_LISTED = 10;

export type Requests = { cpu: number; memory: number };
export type PlanPod = PodInfo & {
  nodeName?: string;
  labels: Readonly<Record<string, string>>;
  requests: Requests;
};
export type PlanNode = {
  name: string;
  ready: boolean;
  unschedulable: boolean;
  taints: readonly { key: string; effect?: string }[];
  allocatable: Requests & { pods: number };
};
type Requirement = { key: string; operator: string; values?: readonly string[] };
export type Selector = {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: readonly Requirement[];
};
export type PlanPdb = { namespace: string; name: string; selector?: Selector; disruptionsAllowed: number };

export type DrainPlan = NonNullable<NonNullable<MaintenancePlanStatus['scheduled']>[number]['drainPlan']>;

/** Whether labels satisfy a label selector (a PDB's: an empty selector matches every pod of its namespace). */
export function selectorMatches(selector: Selector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const r of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const value = labels[r.key];
    const inValues = has && (r.values ?? []).includes(value as string);
    if (r.operator === 'In' && !inValues) return false;
    if (r.operator === 'NotIn' && inValues) return false;
    if (r.operator === 'Exists' && !has) return false;
    if (r.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

export type DrainPlanInput = {
  node: string;
  /** Pods of the cluster (the node's, and those on the other nodes, for their requests). */
  pods: readonly PlanPod[];
  nodes: readonly PlanNode[];
  pdbs: readonly PlanPdb[];
  drain: NonNullable<MaintenanceAction['drain']> | undefined;
  /** Nodes under or scheduled for maintenance: not counted as room. */
  unavailable: ReadonlySet<string>;
  now: Date;
};

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const ref = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;
const finished = (p: PlanPod) => p.phase === 'Succeeded' || p.phase === 'Failed';

function formatCpu(cores: number): string {
  return cores >= 10 || Number.isInteger(cores) ? String(Math.round(cores)) : `${Math.round(cores * 1000)}m`;
}

function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ['Ti', 2 ** 40],
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
  ] as const)
    if (bytes >= size) return `${Math.round((bytes / size) * 10) / 10}${unit}`;
  return `${Math.round(bytes)}`;
}

/** The other nodes evicted pods may go to, per the module comment. */
function roomNodes(input: DrainPlanInput): PlanNode[] {
  return input.nodes.filter(
    (n) =>
      n.name !== input.node &&
      n.ready &&
      !n.unschedulable &&
      !input.unavailable.has(n.name) &&
      !n.taints.some((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute'),
  );
}

export function drainPlan(input: DrainPlanInput): DrainPlan {
  const onNode = input.pods.filter((p) => p.nodeName === input.node);
  const triage = triagePods(onNode, input.drain);
  const evict = triage.evict as PlanPod[];
  const skipped = onNode.length - evict.length - triage.blocking.length - triage.terminating.length;

  const pdbs = input.pdbs
    .filter((b) => b.disruptionsAllowed <= 0 && b.selector)
    .map((b) => ({
      pdb: b,
      pods: evict.filter((p) => p.namespace === b.namespace && selectorMatches(b.selector!, p.labels)).length,
    }))
    .filter((x) => x.pods > 0)
    .sort((a, b) => (ref(a.pdb) < ref(b.pdb) ? -1 : 1));

  const need = evict.reduce(
    (a, p) => ({ cpu: a.cpu + p.requests.cpu, memory: a.memory + p.requests.memory }),
    { cpu: 0, memory: 0 },
  );
  const others = roomNodes(input);
  const free = { cpu: 0, memory: 0, pods: 0 };
  for (const n of others) {
    const there = input.pods.filter((p) => p.nodeName === n.name && !finished(p));
    const used = there.reduce(
      (a, p) => ({ cpu: a.cpu + p.requests.cpu, memory: a.memory + p.requests.memory }),
      { cpu: 0, memory: 0 },
    );
    free.cpu += Math.max(0, n.allocatable.cpu - used.cpu);
    free.memory += Math.max(0, n.allocatable.memory - used.memory);
    free.pods += Math.max(0, n.allocatable.pods - there.length);
  }
  const short = [
    ...(need.cpu > free.cpu ? ['cpu'] : []),
    ...(need.memory > free.memory ? ['memory'] : []),
    ...(evict.length > free.pods ? ['pods'] : []),
  ];
  const fits = evict.length === 0 || short.length === 0;
  const summary = `${evict.length} pods to evict request cpu ${formatCpu(need.cpu)}, memory ${formatBytes(need.memory)}; ${others.length} other Ready, schedulable, untainted nodes not under maintenance have cpu ${formatCpu(free.cpu)}, memory ${formatBytes(free.memory)} and ${free.pods} pods free (sum over the nodes: selectors, affinity, tolerations and fragmentation not checked)`;
  const names = (list: readonly { namespace: string; name: string }[]) => list.slice(0, MAX_LISTED).map(ref);
  return {
    computedTime: iso(input.now),
    pods: evict.length,
    ...(evict.length ? { podNames: names(evict) } : {}),
    skippedPods: skipped,
    blockingPods: triage.blocking.length,
    ...(triage.blocking.length
      ? {
          blockingPodNames: triage.blocking
            .slice(0, MAX_LISTED)
            .map((b) => `${ref(b.pod)}: ${b.reason}`.slice(0, 253)),
        }
      : {}),
    blockingPdbs: pdbs.length,
    ...(pdbs.length
      ? {
          blockingPdbNames: pdbs
            .slice(0, MAX_LISTED)
            .map((x) => `${ref(x.pdb)} (${x.pods} pods, 0 disruptions allowed)`),
        }
      : {}),
    room: {
      fits,
      nodes: others.length,
      message: (fits ? summary : `no room for ${short.join(', ')}: ${summary}`).slice(0, 1024),
    },
  };
}

/** Why a node may not start maintenance now, per its drain plan; undefined when it may. */
export function drainPlanHold(plan: DrainPlan): string | undefined {
  return plan.room.fits ? undefined : `the other nodes have no room for its pods (${plan.room.message})`;
}

// ------------------------------------------------------------------ from API objects

type Quantities = Readonly<Record<string, string | number>>;
type Container = { resources?: { requests?: Quantities } };
export type PodObject = {
  metadata: {
    namespace?: string;
    name: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    ownerReferences?: { kind: string }[];
  };
  spec?: {
    nodeName?: string;
    volumes?: { emptyDir?: unknown }[];
    containers?: Container[];
    initContainers?: Container[];
  };
  status?: { phase?: string };
};

const quantity = (q: Quantities | undefined, key: string) =>
  q?.[key] !== undefined ? (parseQuantity(q[key]) ?? 0) : 0;

/** A pod's effective request: the sum over its containers, or its largest init container if larger. */
export function podRequests(spec: PodObject['spec']): Requests {
  const sum = (cs: readonly Container[] | undefined, key: string) =>
    (cs ?? []).reduce((a, c) => a + quantity(c.resources?.requests, key), 0);
  const max = (cs: readonly Container[] | undefined, key: string) =>
    Math.max(0, ...(cs ?? []).map((c) => quantity(c.resources?.requests, key)));
  return {
    cpu: Math.max(sum(spec?.containers, 'cpu'), max(spec?.initContainers, 'cpu')),
    memory: Math.max(sum(spec?.containers, 'memory'), max(spec?.initContainers, 'memory')),
  };
}

export function planPod(p: PodObject): PlanPod {
  return {
    namespace: p.metadata.namespace ?? '',
    name: p.metadata.name,
    ...(p.metadata.uid ? { uid: p.metadata.uid } : {}),
    annotations: p.metadata.annotations ?? {},
    labels: p.metadata.labels ?? {},
    ownerKinds: (p.metadata.ownerReferences ?? []).map((o) => o.kind),
    ...(p.status?.phase ? { phase: p.status.phase } : {}),
    terminating: !!p.metadata.deletionTimestamp,
    emptyDir: (p.spec?.volumes ?? []).some((v) => v.emptyDir !== undefined),
    ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
    requests: podRequests(p.spec),
  };
}

export type NodeObject = {
  metadata: { name: string };
  spec?: { unschedulable?: boolean; taints?: { key: string; effect?: string }[] };
  status?: { allocatable?: Quantities; conditions?: { type: string; status: string }[] };
};

export function planNode(n: NodeObject): PlanNode {
  const a = n.status?.allocatable;
  return {
    name: n.metadata.name,
    ready: n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
    unschedulable: n.spec?.unschedulable === true,
    taints: n.spec?.taints ?? [],
    allocatable: { cpu: quantity(a, 'cpu'), memory: quantity(a, 'memory'), pods: quantity(a, 'pods') },
  };
}

export type PdbObject = {
  metadata: { namespace?: string; name: string };
  spec?: { selector?: Selector };
  status?: { disruptionsAllowed?: number };
};

export function planPdb(b: PdbObject): PlanPdb {
  return {
    namespace: b.metadata.namespace ?? '',
    name: b.metadata.name,
    ...(b.spec?.selector ? { selector: b.spec.selector } : {}),
    disruptionsAllowed: b.status?.disruptionsAllowed ?? 0,
  };
}
