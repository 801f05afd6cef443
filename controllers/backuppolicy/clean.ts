// An object as a backup stores it: what the user declared, without what the
// cluster added. Metadata is an allow-list (name, namespace, labels,
// annotations, as Velero's resetMetadata keeps), so a field the API server
// adds in a later release is never captured by accident; everything outside
// metadata except status is kept (spec, data, stringData, binaryData, type,
// immutable, …: a Secret or ConfigMap keeps its data).
//
// Dropped: uid, resourceVersion, generation, managedFields,
// creationTimestamp, deletionTimestamp, deletionGracePeriodSeconds, selfLink,
// ownerReferences (rebound to the new owners' UIDs on restore), finalizers
// (the operator adds its own again), status; and these annotations:
// kubectl's last-applied configuration (it names the old object and would
// make a later `kubectl apply` compute wrong diffs) and the operator's
// one-shot deletion switch ymera.io/skip-cleanup, which must never come back
// armed on a restored object. User intent annotations (ymera.io/run,
// ymera.io/promote, ymera.io/approve) are kept: they are part of what the user
// declared; not re-acting on them after a restore is the restorer's job.
import type { KubeObject } from '../../operator/kube/resources.ts';
import { SKIP_CLEANUP_ANNOTATION } from '../../operator/finalizer.ts';

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** Annotations never stored in a backup. */
export const DROPPED_ANNOTATIONS: readonly string[] = [LAST_APPLIED_ANNOTATION, SKIP_CLEANUP_ANNOTATION];

/** Top-level fields never stored (besides metadata, rebuilt from the allow-list). */
const DROPPED_FIELDS = new Set(['status']);

export type CleanObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
};

/** A deep copy of `obj` as stored in a backup (see the file comment); `obj` is not changed. */
export function cleanObject(obj: KubeObject): CleanObject {
  const out: CleanObject = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name: obj.metadata.name },
  };
  const meta = obj.metadata;
  if (meta.namespace !== undefined) out.metadata.namespace = meta.namespace;
  if (meta.labels && Object.keys(meta.labels).length > 0) out.metadata.labels = { ...meta.labels };
  const annotations = Object.entries(meta.annotations ?? {}).filter(
    ([name]) => !DROPPED_ANNOTATIONS.includes(name),
  );
  if (annotations.length > 0) out.metadata.annotations = Object.fromEntries(annotations);
  for (const [field, value] of Object.entries(obj)) {
    if (field === 'apiVersion' || field === 'kind' || field === 'metadata' || DROPPED_FIELDS.has(field)) {
      continue;
    }
    out[field] = structuredClone(value);
  }
  return out;
}

/**
 * The stored bytes of an object: its clean form as JSON with keys in sorted
 * order, so the same object always gives the same bytes (and sha256), which
 * lets drills and dedup compare hashes.
 */
export function serializeObject(obj: CleanObject): Buffer {
  return Buffer.from(canonicalJson(obj), 'utf8');
}

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
  }
  return value;
}
