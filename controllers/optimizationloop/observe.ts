// Pure: what the controller reads off the target and out of Prometheus.
// The values at the tuned paths, whether they are live (every ready pod runs
// them), whether an InferenceService canary is rolling out, and the PromQL
// with $window filled in.
import type { KubeObject } from '../../operator/kube/resources.ts';
import { parseQuantity } from '../../operator/schema/validation.ts';
import type { Params } from './safety.ts';

type Json = Record<string, unknown>;

/** The raw value at a path (`spec.a.b`, `spec.a[0].b`) of an object, or undefined. */
export function rawAt(obj: unknown, path: string): unknown {
  const tokens = path.match(/[A-Za-z][A-Za-z0-9]*|\[[0-9]+\]/g) ?? [];
  let node: unknown = obj;
  for (const t of tokens) {
    if (node === null || typeof node !== 'object') return undefined;
    node = t.startsWith('[') ? (node as unknown[])[Number(t.slice(1, -1))] : (node as Json)[t];
  }
  return node;
}

/**
 * The number at a path: a number as is, a quantity ("500m", "1Gi") or an env
 * value ("8") parsed; undefined when absent or not a number.
 */
export function numberAt(obj: unknown, path: string): number | undefined {
  const raw = rawAt(obj, path);
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw !== 'string' || raw.trim() === '') return undefined;
  if (path.endsWith('.value')) {
    const n = Number(raw);
    return Number.isFinite(n) ? n : undefined;
  }
  return parseQuantity(raw);
}

/** The values of the tuned paths on the target (a path without a value is left out). */
export function targetValues(target: KubeObject, paths: readonly string[]): Params {
  const out: Record<string, number> = {};
  for (const p of paths) {
    const v = numberAt(target, p);
    if (v !== undefined) out[p] = v;
  }
  return out;
}

type InferenceServiceLike = KubeObject & {
  status?: {
    observedGeneration?: number;
    phase?: string;
    canary?: unknown;
    stable?: Json;
    replicas?: number;
    readyReplicas?: number;
  };
};

/** An InferenceService is rolling out a canary (or a new revision). */
export function inferenceServiceCanary(obj: InferenceServiceLike): boolean {
  return !!obj.status?.canary || obj.status?.phase === 'Canary' || obj.status?.phase === 'Progressing';
}

/** The runtime's gauges of its effective batching values, by tuned path (exported per pod). */
export const BATCHING_GAUGES = {
  'spec.batching.maxBatchSize': 'ymera_runtime_batching_max_batch_size',
  'spec.batching.maxDelayMs': 'ymera_runtime_batching_max_delay_ms',
} as const;
export type BatchingPath = keyof typeof BATCHING_GAUGES;

export function isBatchingPath(path: string): path is BatchingPath {
  return Object.hasOwn(BATCHING_GAUGES, path);
}

/** The instant query of a batching gauge for every pod of an InferenceService. */
export function batchingGaugeQuery(path: BatchingPath, namespace: string, name: string): string {
  const q = (v: string) => JSON.stringify(v);
  return `${BATCHING_GAUGES[path]}{namespace=${q(namespace)},inferenceservice=${q(name)}}`;
}

/** What Prometheus holds of the batching gauges: per tuned path, one value per pod series. */
export type BatchingGauges = Partial<Record<BatchingPath, readonly number[]>>;

/**
 * Every ready pod of an InferenceService runs the values: its status reflects
 * this generation, it serves with no rollout in flight, and:
 * - batching paths: when Prometheus has the runtime's batching gauges for the
 *   service's pods, every series equals the value (the runtime applies a
 *   batching change live, from its ConfigMap, without a new revision). With
 *   no series (a runtime that does not export them, fake kwok pods, a
 *   scrape not yet done) the observed generation alone decides (that
 *   reconcile wrote batching to the revision's ConfigMap; a batching in
 *   status.stable is only a pre-upgrade revision's stale record);
 * - runtime.threads (a revision field): the stable revision holds the value;
 * - scaling bounds: not part of the revision; the status above is enough.
 */
export function inferenceServiceLive(
  obj: InferenceServiceLike,
  values: Params,
  gauges: BatchingGauges = {},
): boolean {
  const s = obj.status;
  if (!s || (s.observedGeneration ?? -1) < (obj.metadata.generation ?? 0)) return false;
  if (s.phase !== 'Serving' || inferenceServiceCanary(obj)) return false;
  for (const [path, v] of Object.entries(values)) {
    if (isBatchingPath(path)) {
      const series = gauges[path] ?? [];
      if (series.length > 0) {
        if (series.some((x) => x !== v)) return false;
        continue;
      }
      // Batching is outside the revision: the reconcile that observed this generation
      // wrote it to the revision's ConfigMap. status.stable.batching is only ever a
      // pre-upgrade revision's stale record, so it must not decide.
      continue;
    } else if (!path.startsWith('spec.runtime.')) continue;
    if (numberAt({ spec: s.stable }, path) !== v) return false;
  }
  return true;
}

type DeploymentLike = KubeObject & {
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
  };
};

/** A Deployment finished rolling out its current template: every replica updated, ready and alone. */
export function deploymentLive(obj: DeploymentLike): boolean {
  const s = obj.status;
  const want = obj.spec?.replicas ?? 1;
  if (!s || (s.observedGeneration ?? -1) < (obj.metadata.generation ?? 0)) return false;
  return (s.updatedReplicas ?? 0) === want && (s.readyReplicas ?? 0) === want && (s.replicas ?? 0) === want;
}

/** PromQL with $window replaced by the evaluation window (Go and Prometheus durations agree on h, m, s, ms). */
export function expandQuery(query: string, window: string): string {
  return query.replaceAll('$window', window);
}
