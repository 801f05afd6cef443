// Pure: what an informer keeps of an object. managedFields (server-side
// apply's ownership records, often larger than the object itself) and
// kubectl's last-applied-configuration (a second copy of the object) are
// read by nothing in the operator except the ownership of a few fields, so
// the caches keep only the managedFields entries of those fields, reduced to
// them. At 1,000 InferenceServices (a Deployment, Service, ConfigMap, PDB
// and a Pod each) this is most of the cache.
import type { ManagedFieldsEntry } from './managed-fields.ts';
import type { KubeObject } from './resources.ts';

/** Fields whose ownership a controller reads from a cached object (ownersOf / ownsAlone). */
export const OWNERSHIP_READ_FROM_CACHE: readonly (readonly string[])[] = [
  // the InferenceService hands the stable Deployment's replicas over to the HPA
  ['spec', 'replicas'],
];

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The object as the cache keeps it (a shallow copy; the input is not changed). */
export function trimForCache<T extends KubeObject>(
  obj: T,
  keepOwnershipOf: readonly (readonly string[])[] = OWNERSHIP_READ_FROM_CACHE,
): T {
  const { managedFields, annotations, ...metadata } = obj.metadata;
  const kept = keptManagedFields(managedFields as ManagedFieldsEntry[] | undefined, keepOwnershipOf);
  let trimmedAnnotations = annotations;
  if (annotations && LAST_APPLIED in annotations) {
    const { [LAST_APPLIED]: _lastApplied, ...rest } = annotations;
    trimmedAnnotations = rest;
  }
  return {
    ...obj,
    metadata: {
      ...metadata,
      ...(trimmedAnnotations ? { annotations: trimmedAnnotations } : {}),
      ...(kept.length > 0 ? { managedFields: kept } : {}),
    },
  };
}

/** Each entry reduced to the kept paths; entries that own none of them are dropped. */
function keptManagedFields(
  entries: ManagedFieldsEntry[] | undefined,
  paths: readonly (readonly string[])[],
): ManagedFieldsEntry[] {
  if (!entries || paths.length === 0) return [];
  const out: ManagedFieldsEntry[] = [];
  for (const entry of entries) {
    let fields: Record<string, unknown> | undefined;
    for (const path of paths) {
      const leaf = at(entry.fieldsV1, path);
      if (leaf !== undefined) fields = put(fields ?? {}, path, leaf);
    }
    if (!fields) continue;
    out.push({
      ...(entry.manager !== undefined ? { manager: entry.manager } : {}),
      ...(entry.operation !== undefined ? { operation: entry.operation } : {}),
      ...(entry.subresource !== undefined ? { subresource: entry.subresource } : {}),
      fieldsV1: fields,
    });
  }
  return out;
}

function at(node: unknown, path: readonly string[]): unknown {
  for (const key of path) {
    if (!node || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[`f:${key}`];
  }
  return node;
}

function put(root: Record<string, unknown>, path: readonly string[], leaf: unknown): Record<string, unknown> {
  let node = root;
  path.forEach((key, i) => {
    const k = `f:${key}`;
    if (i === path.length - 1) node[k] = leaf;
    else node = (node[k] ??= {}) as Record<string, unknown>;
  });
  return root;
}
