// Pure: InferenceService self-healing (spec.healing). The PromQL that reads
// each pod's memory working set and request/error rates over the window, and
// the decision, from those figures and the pods, of which pod (at most one at
// a time) to replace and why — or why not now. An ordered chain of checks
// (cert-manager's policy chain): the first that holds decides.
import type { PlatformEvent } from '../../operator/kafka/events.ts';
import { EventType } from '../../operator/kafka/events.ts';
import type { DeploymentObject, PodObject } from '../../operator/kube/workloads.ts';
import { isPodReady } from '../../operator/kube/workloads.ts';
import {
  INFERENCE_REQUESTS_TOTAL,
  INFERENCE_SERVICE_LABEL,
} from '../../operator/prometheus/generators/inferenceservice.ts';
import { parseQuantity } from '../../operator/schema/validation.ts';
import type { InferenceServiceSpec } from './schema.ts';

export type HealingSpec = NonNullable<InferenceServiceSpec['healing']>;
export type HealingReason = 'MemoryGrowth' | 'ErrorRateOutlier';

/** cAdvisor's series, as the kubelet exports it. */
export const WORKING_SET = 'container_memory_working_set_bytes';
export const RUNTIME_CONTAINER = 'runtime';
/** Most replacements kept in status. */
export const MAX_REPLACEMENTS = 10;

export const HealingConditionReason = {
  /** All pods within bounds (or nothing measured yet). */
  Watching: 'Watching',
  /** A pod was evicted; waiting for its replacement to be Ready. */
  Replacing: 'Replacing',
  /** A canary, a rollout or an unhealthy service: no healing now. */
  Held: 'Held',
  /** The minimum interval since the last replacement has not passed. */
  RateLimited: 'RateLimited',
  /** The Eviction API refused (a PodDisruptionBudget allows no disruption now). */
  DisruptionBlocked: 'DisruptionBlocked',
  /** The operator may not evict pods (chart value rbac.inferenceServiceHealing). */
  EvictionForbidden: 'EvictionForbidden',
  /** The metrics could not be read. */
  MetricsUnavailable: 'MetricsUnavailable',
} as const;

/** One pod as healing sees it. */
export interface HealingPod {
  name: string;
  revision?: string;
  ready: boolean;
  terminating: boolean;
  /** Milliseconds since the epoch the pod started (status.startTime, else its creation). */
  startedMs?: number;
  /** The runtime container's memory limit in bytes; undefined without one. */
  memoryLimitBytes?: number;
}

export function healingPodOf(pod: PodObject): HealingPod {
  const spec = pod.spec as
    { containers?: { name: string; resources?: { limits?: Record<string, string | number> } }[] } | undefined;
  const limit = spec?.containers?.find((c) => c.name === RUNTIME_CONTAINER)?.resources?.limits?.memory;
  const bytes = limit === undefined ? undefined : parseQuantity(limit);
  const started =
    (pod.status as { startTime?: string } | undefined)?.startTime ?? pod.metadata.creationTimestamp;
  const startedMs = started ? Date.parse(started) : Number.NaN;
  return {
    name: pod.metadata.name,
    ...(pod.metadata.labels?.['ymera.io/revision']
      ? { revision: pod.metadata.labels['ymera.io/revision'] }
      : {}),
    ready: isPodReady(pod),
    terminating: !!pod.metadata.deletionTimestamp,
    ...(Number.isFinite(startedMs) ? { startedMs } : {}),
    ...(bytes !== undefined && bytes > 0 ? { memoryLimitBytes: bytes } : {}),
  };
}

/** Per-pod figures read from Prometheus (a pod without a series is absent). */
export interface HealingSignals {
  /** Lowest working set, in bytes, over the memory window. */
  memoryMinBytes: Map<string, number>;
  /** Lowest 5xx ratio over the error window (each point a short-window rate). */
  errorMinRatio: Map<string, number>;
  /** 5xx ratio over the whole error window. */
  errorRatio: Map<string, number>;
  /** Requests per second over the whole error window. */
  requestRate: Map<string, number>;
}

const q = (v: string) => JSON.stringify(v);

/** Inner rate window of the error ratio's points: two scrapes at least, at most a minute. */
export function errorStepWindowSeconds(forSeconds: number): number {
  return Math.min(60, Math.max(30, Math.round(forSeconds / 4)));
}

/**
 * The queries, each a vector by `pod`. The runtime's request counter carries
 * `pod` from the scrape (the pod's name as target label), namespace and
 * inferenceservice from the runtime itself.
 */
export function healingQueries(namespace: string, name: string, spec: HealingSpec) {
  const out: { memoryMinBytes?: string; errorMinRatio?: string; errorRatio?: string; requestRate?: string } =
    {};
  if (spec.memory) {
    const w = `${spec.memory.forSeconds ?? 120}s`;
    // the pods of this service only: their names start with the service's name (Deployment <name>-<revision>)
    const sel = `namespace=${q(namespace)},container=${q(RUNTIME_CONTAINER)},pod=~${q(`${escapeRegex(name)}-.+`)}`;
    out.memoryMinBytes = `max by (pod) (min_over_time(${WORKING_SET}{${sel}}[${w}]))`;
  }
  if (spec.errorRate) {
    const forSeconds = spec.errorRate.forSeconds ?? 120;
    const w = `${forSeconds}s`;
    const step = `${errorStepWindowSeconds(forSeconds)}s`;
    const m = `namespace=${q(namespace)},${INFERENCE_SERVICE_LABEL}=${q(name)}`;
    const errors = (r: string) => `sum by (pod) (rate(${INFERENCE_REQUESTS_TOTAL}{${m},code=~"5.."}[${r}]))`;
    const all = (r: string) => `sum by (pod) (rate(${INFERENCE_REQUESTS_TOTAL}{${m}}[${r}]))`;
    out.errorMinRatio = `min_over_time((${errors(step)} / ${all(step)})[${w}:5s])`;
    out.errorRatio = `${errors(w)} / ${all(w)}`;
    out.requestRate = all(w);
  }
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Pure: why the stable revision's Deployment is mid-rollout, or undefined.
 * A pod template change that keeps the revision (an operator upgrade adding
 * tolerations) rolls the Deployment without a revision change; surge pods
 * can make every pod look Ready, and evicting then would stack a disruption
 * on the rollout's own.
 */
export function deploymentRollingOut(
  d: DeploymentObject | undefined,
  pods: readonly PodObject[],
): string | undefined {
  if (!d) return undefined;
  const name = d.metadata.name;
  const want = d.spec?.replicas ?? 1;
  const st = d.status ?? {};
  if ((st.observedGeneration ?? 0) < (d.metadata.generation ?? 0))
    return `Deployment ${name} has a change its controller has not seen yet`;
  if ((st.updatedReplicas ?? 0) < want)
    return `Deployment ${name} is rolling out (${st.updatedReplicas ?? 0}/${want} pods updated)`;
  if ((st.replicas ?? 0) > want)
    return `Deployment ${name} is rolling out (${st.replicas ?? 0} pods for ${want} replicas)`;
  // finished pods (a kubelet eviction leaves a Failed one) are no part of a rollout
  const live = pods.filter((p) => p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded');
  const hashes = new Set(live.map((p) => p.metadata.labels?.['pod-template-hash']).filter(Boolean));
  if (hashes.size > 1) return `Deployment ${name} is rolling out (pods of ${hashes.size} pod templates)`;
  return undefined;
}

/** A replacement in progress (status.healing.pending). */
export interface PendingReplacement {
  pod: string;
  reason: string;
  time: string;
}

export interface HealingInput {
  spec: HealingSpec;
  /** The serving pods of the stable revision (the only one live: healing never runs during a canary). */
  pods: readonly HealingPod[];
  /** Pods the stable revision should have. */
  replicas: number;
  /** Why the service is not otherwise healthy (a canary, a rollback, failing pods); undefined when it is. */
  unhealthy?: string;
  pending?: PendingReplacement;
  lastReplacementTime?: string;
  /** Undefined: not read (pending, held); the figures otherwise. */
  signals?: HealingSignals;
  now: Date;
}

export interface Candidate {
  pod: string;
  revision?: string;
  reason: HealingReason;
  /** For humans (Event, status): which pod, why, with the figures. */
  message: string;
}

export type HealingDecision =
  /** Evict this pod now. */
  | { action: 'replace'; candidate: Candidate }
  /** Nothing to do now; `clearPending` when the pending replacement is done. */
  | { action: 'none'; reason: string; message: string; clearPending?: boolean; replacing?: boolean };

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const mib = (v: number) => `${(v / 1048576).toFixed(1)}MiB`;

/** Pods whose memory stayed over the share of their limit for the whole window, worst first. */
export function memoryCandidates(input: HealingInput): Candidate[] {
  const m = input.spec.memory;
  if (!m || !input.signals) return [];
  const share = (m.percentOfLimit ?? 90) / 100;
  const forMs = (m.forSeconds ?? 120) * 1000;
  const out: { c: Candidate; ratio: number }[] = [];
  for (const p of input.pods) {
    if (!p.ready || p.terminating || p.memoryLimitBytes === undefined) continue;
    // a pod younger than the window cannot have been over it for the whole window
    if (p.startedMs === undefined || input.now.getTime() - p.startedMs < forMs) continue;
    const bytes = input.signals.memoryMinBytes.get(p.name);
    if (bytes === undefined || !Number.isFinite(bytes)) continue;
    const ratio = bytes / p.memoryLimitBytes;
    if (ratio <= share) continue;
    out.push({
      ratio,
      c: {
        pod: p.name,
        ...(p.revision ? { revision: p.revision } : {}),
        reason: 'MemoryGrowth',
        message: `pod ${p.name}: memory working set stayed over ${pct(share)} of its ${mib(p.memoryLimitBytes)} limit for ${m.forSeconds ?? 120}s (at least ${mib(bytes)}, ${pct(ratio)})`,
      },
    });
  }
  return out.sort((a, b) => b.ratio - a.ratio || a.c.pod.localeCompare(b.c.pod)).map((x) => x.c);
}

/**
 * Pods whose 5xx ratio stayed over maxRatio for the whole window with enough
 * traffic, while every other judged pod is under it (else the model or a
 * dependency is at fault, and replacing pods would not help). Worst first.
 */
export function errorRateCandidates(input: HealingInput): Candidate[] {
  const e = input.spec.errorRate;
  if (!e || !input.signals) return [];
  const max = e.maxRatio;
  const minRps = e.minRequestsPerSecond ?? 1;
  const forMs = (e.forSeconds ?? 120) * 1000;
  const judged = input.pods.filter(
    (p) => p.ready && !p.terminating && (input.signals?.requestRate.get(p.name) ?? 0) >= minRps,
  );
  const over = judged.filter((p) => {
    if (p.startedMs === undefined || input.now.getTime() - p.startedMs < forMs) return false;
    const low = input.signals?.errorMinRatio.get(p.name);
    return low !== undefined && Number.isFinite(low) && low > max;
  });
  if (over.length === 0) return [];
  // the others must be healthy: at least one other judged pod, and none of them over the bound
  const others = judged.filter((p) => !over.includes(p));
  if (others.length === 0) return [];
  if (others.some((p) => (input.signals?.errorRatio.get(p.name) ?? 0) > max)) return [];
  if (over.length * 2 >= judged.length) return []; // not an outlier when half of them fail
  return over
    .map((p) => ({ p, ratio: input.signals?.errorRatio.get(p.name) ?? 0 }))
    .sort((a, b) => b.ratio - a.ratio || a.p.name.localeCompare(b.p.name))
    .map(({ p, ratio }) => ({
      pod: p.name,
      ...(p.revision ? { revision: p.revision } : {}),
      reason: 'ErrorRateOutlier' as const,
      message: `pod ${p.name}: 5xx ratio stayed over ${fmtRatio(max)} for ${e.forSeconds ?? 120}s (${fmtRatio(ratio)} over the window at ${(input.signals?.requestRate.get(p.name) ?? 0).toFixed(1)} req/s) while the other ${others.length} pod(s) stayed under it`,
    }));
}

const fmtRatio = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : String(v));

/**
 * What healing does now. Order: a replacement in progress first (one at a
 * time, the next only once the replacement is Ready), then the service's own
 * health (no healing during a canary or while pods are missing), the rate
 * limit, and last the candidates (memory before errors).
 */
export function decideHealing(input: HealingInput): HealingDecision {
  const { pending, pods, replicas } = input;
  const ready = pods.filter((p) => p.ready && !p.terminating).length;
  if (pending) {
    if (pods.some((p) => p.name === pending.pod))
      return {
        action: 'none',
        replacing: true,
        reason: HealingConditionReason.Replacing,
        message: `pod ${pending.pod} was evicted (${pending.reason}); waiting for it to go`,
      };
    if (ready < replicas)
      return {
        action: 'none',
        replacing: true,
        reason: HealingConditionReason.Replacing,
        message: `pod ${pending.pod} was evicted (${pending.reason}); waiting for its replacement to be Ready (${ready}/${replicas} ready)`,
      };
  }
  const clear = pending ? { clearPending: true } : {};
  if (input.unhealthy)
    return {
      action: 'none',
      ...clear,
      reason: HealingConditionReason.Held,
      message: `not healing: ${input.unhealthy}`,
    };
  if (ready < replicas || pods.some((p) => p.terminating))
    return {
      action: 'none',
      ...clear,
      reason: HealingConditionReason.Held,
      message: `not healing: ${ready}/${replicas} pods ready`,
    };
  const notes = memoryNotes(input);
  const candidates = [...memoryCandidates(input), ...errorRateCandidates(input)];
  const first = candidates[0];
  if (!first)
    return {
      action: 'none',
      ...clear,
      reason: HealingConditionReason.Watching,
      message: `all ${pods.length} pod(s) within bounds${notes}`,
    };
  const minMs = (input.spec.minIntervalSeconds ?? 60) * 1000;
  const last = input.lastReplacementTime ? Date.parse(input.lastReplacementTime) : Number.NaN;
  if (Number.isFinite(last) && input.now.getTime() - last < minMs) {
    // an absolute time: the message (and status) stays the same until then
    const at = new Date(last + minMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      action: 'none',
      ...clear,
      reason: HealingConditionReason.RateLimited,
      message: `${first.message}; next replacement allowed at ${at} (minIntervalSeconds ${input.spec.minIntervalSeconds ?? 60})`,
    };
  }
  return { action: 'replace', candidate: first };
}

/** A note when memory healing cannot apply to some pods (no memory limit). */
function memoryNotes(input: HealingInput): string {
  if (!input.spec.memory) return '';
  const without = input.pods.filter((p) => p.memoryLimitBytes === undefined).length;
  return without > 0
    ? `; memory healing does not apply to ${without} pod(s): the runtime container has no memory limit (set runtime.resources.limits.memory)`
    : '';
}

/** Milliseconds until healing should look again: a quarter of the shortest window, 5 s to 30 s. */
export function healingRequeueMs(spec: HealingSpec): number {
  const windows = [spec.memory?.forSeconds, spec.errorRate?.forSeconds].flatMap((v) =>
    v === undefined ? [] : [v],
  );
  const shortest = Math.min(120, ...windows);
  return Math.min(30_000, Math.max(5_000, Math.round((shortest * 1000) / 4)));
}

/** One entry of status.healing.replacements. */
export interface Replacement {
  pod: string;
  revision?: string;
  reason: HealingReason;
  message: string;
  time: string;
}

/** status.healing. */
export interface HealingStatus {
  lastReplacementTime?: string;
  pending?: PendingReplacement;
  replacements?: Replacement[];
}

/** An eviction the operator made, kept in memory until status shows it. */
export interface Eviction {
  pending: PendingReplacement;
  replacement: Replacement;
}

/**
 * The last eviction per object (namespace/name), for the uid it was made
 * for: a floor for status.healing when a status write failed or the cache is
 * behind it. Forgotten when healing is turned off or the object is gone (a
 * deleted object's record must not outlive it, nor reach a new one of the
 * same name).
 */
export class EvictionMemory {
  private readonly byKey = new Map<string, { uid: string | undefined; eviction: Eviction }>();

  remember(key: string, uid: string | undefined, eviction: Eviction): void {
    this.byKey.set(key, { uid, eviction });
  }

  recall(key: string, uid: string | undefined): Eviction | undefined {
    const hit = this.byKey.get(key);
    if (!hit) return undefined;
    if (hit.uid === uid) return hit.eviction;
    this.byKey.delete(key);
    return undefined;
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }

  get size(): number {
    return this.byKey.size;
  }
}

/**
 * Pure: status.healing as last read, with a remembered eviction it does not
 * show yet (its status write failed or the cache is behind it) — so the
 * record and lastReplacementTime (the rate limit after a restart) are
 * written with the next status, whatever healing decides then.
 */
export function healingStatusWith(before: HealingStatus, remembered: Eviction | undefined): HealingStatus {
  const last = before.lastReplacementTime;
  if (!remembered || (last !== undefined && remembered.pending.time <= last)) return before;
  return {
    ...before,
    lastReplacementTime: remembered.pending.time,
    pending: remembered.pending,
    replacements: recordReplacement(before.replacements, remembered.replacement),
  };
}

/** The replacements kept in status: newest first, at most MAX_REPLACEMENTS. */
export function recordReplacement(
  previous: readonly Replacement[] | undefined,
  entry: Replacement,
): Replacement[] {
  return [entry, ...(previous ?? [])].slice(0, MAX_REPLACEMENTS);
}

/** The CloudEvent io.ymera.inferenceservice.pod.replaced of one replacement. */
export function podReplacedEvent(
  resource: PlatformEvent['resource'],
  obj: PlatformEvent['object'] & { metadata: { generation?: number } },
  r: Replacement,
): PlatformEvent {
  return {
    resource,
    object: obj,
    type: EventType.PodReplaced,
    discriminator: `${r.pod}@${r.time}`,
    data: {
      pod: r.pod,
      ...(r.revision ? { revision: r.revision } : {}),
      reason: r.reason,
      message: r.message,
      generation: obj.metadata.generation ?? 0,
    },
  };
}
