// Pure: what a restore does with each object of a verified backup. Which
// objects (kinds filter), where they go (targetNamespace mapping), what
// happens to each (create / skip / overwrite / conflict, from what exists
// now), in which order (Velero's: namespace, Secrets and ConfigMaps, then
// the ymera resources; an owner before what it owns), how restored objects
// are marked, how owner references are rebound to the new UIDs, and the
// digest a drill compares with the manifest. No I/O here; engine.ts does it.
import { createHash } from 'node:crypto';
import type { CleanObject } from '../backuppolicy/clean.ts';
import { cleanObject, serializeObject } from '../backuppolicy/clean.ts';
import type { ItemOwner, ResourceItem } from '../backuppolicy/format.ts';
import type { KubeObject, OwnerReference } from '../../operator/kube/resources.ts';

/** Label on every restored object: the backup it came from. */
export const RESTORED_FROM_LABEL = 'ymera.io/restored-from-backup';
/** Label on every object a Restore wrote: the Restore's name (label-safe). */
export const RESTORE_LABEL = 'ymera.io/restore';
/**
 * Annotation on every restored object (the backup id): the LearningPipeline
 * controller does not start the creation run of a pipeline that carries it.
 */
export const RESTORED_FROM_ANNOTATION = 'ymera.io/restored-from-backup';

export type ConflictPolicy = 'Skip' | 'Overwrite';
export type Action = 'create' | 'skip' | 'overwrite' | 'conflict';

/** A resource item of the backup with its verified, parsed content. */
export type BackedUpObject = { item: ResourceItem; object: CleanObject };

/** What exists now at an object's destination (observed by the engine). */
export type Existing = {
  uid: string;
  resourceVersion?: string;
  /** Being deleted: neither skipped nor overwritten. */
  deleting?: boolean;
  /** ConfigMap/Secret `immutable: true`: cannot be overwritten in place. */
  immutable?: boolean;
  /** Secret type (immutable field). */
  secretType?: string;
};

export type PlanOptions = {
  /** Every namespaced object goes here instead of its original namespace. */
  targetNamespace?: string | undefined;
  /** Only these kinds (`Kind`, or `Kind.group` for other API groups). */
  kinds?: readonly string[] | undefined;
  conflictPolicy: ConflictPolicy;
};

export type PlanEntry = {
  /** The item of the backup (items/NNNNNN.bin). */
  item: string;
  apiVersion: string;
  kind: string;
  /** Destination namespace (after mapping); absent for cluster-scoped objects. */
  namespace?: string;
  name: string;
  /** The namespace the object was backed up from. */
  sourceNamespace?: string;
  action: Action;
  /** Why skip or conflict. */
  reason?: string;
  /** sha256 of the object as stored (the manifest's plaintextSha256). */
  sha256: string;
  modelDigest?: string;
  owners?: ItemOwner[];
};

/** Destination key: kind/namespace/name (the same name may exist in two kinds). */
export const destinationKey = (o: { kind: string; namespace?: string | undefined; name: string }) =>
  `${o.kind}/${o.namespace ?? ''}/${o.name}`;

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');

/** Whether `kinds` (Restore.spec.kinds) selects an object of this apiVersion and kind. */
export function kindSelected(
  kinds: readonly string[] | undefined,
  apiVersion: string,
  kind: string,
): boolean {
  if (!kinds) return true;
  const group = groupOf(apiVersion);
  return kinds.some((k) => k === kind || (group !== '' && k === `${kind}.${group}`));
}

/** Restore order classes: namespace, Secrets and ConfigMaps, (model files), ymera resources, the rest. */
export function orderClass(apiVersion: string, kind: string): number {
  if (kind === 'Namespace' && apiVersion === 'v1') return 0;
  if ((kind === 'Secret' || kind === 'ConfigMap') && apiVersion === 'v1') return 1;
  if (groupOf(apiVersion) === 'ymera.io') return 3;
  return 4;
}

/** Where an object goes: cluster-scoped objects stay cluster-scoped; namespaced ones are mapped. */
export function destinationNamespace(
  item: Pick<ResourceItem, 'namespace'>,
  targetNamespace: string | undefined,
): string | undefined {
  if (item.namespace === undefined) return undefined;
  return targetNamespace ?? item.namespace;
}

/**
 * The plan: one entry per selected object, in restore order. `existing`
 * maps destinationKey → what is there now. An object that exists is
 * skipped (Skip), or overwritten (Overwrite) unless it cannot be (being
 * deleted, immutable, another Secret type): conflict. Two objects of the
 * backup mapped onto one destination (targetNamespace over a backup of
 * several namespaces): the second is a conflict.
 */
export function planRestore(
  objects: readonly BackedUpObject[],
  existing: ReadonlyMap<string, Existing>,
  options: PlanOptions,
): PlanEntry[] {
  const entries: PlanEntry[] = [];
  const taken = new Set<string>();
  for (const { item, object } of objects) {
    if (!kindSelected(options.kinds, item.apiVersion, item.kind)) continue;
    const namespace = destinationNamespace(item, options.targetNamespace);
    const base: PlanEntry = {
      item: item.key,
      apiVersion: item.apiVersion,
      kind: item.kind,
      ...(namespace !== undefined ? { namespace } : {}),
      name: item.name,
      ...(item.namespace !== undefined ? { sourceNamespace: item.namespace } : {}),
      action: 'create',
      sha256: item.plaintextSha256,
      ...(item.modelDigest !== undefined ? { modelDigest: item.modelDigest } : {}),
      ...(item.owners ? { owners: item.owners } : {}),
    };
    const key = destinationKey(base);
    if (taken.has(key)) {
      entries.push({
        ...base,
        action: 'conflict',
        reason: `another object of the backup is restored to ${key} (targetNamespace merges namespaces)`,
      });
      continue;
    }
    taken.add(key);
    const there = existing.get(key);
    if (!there) {
      entries.push(base);
    } else if (there.deleting) {
      entries.push({ ...base, action: 'conflict', reason: 'exists and is being deleted' });
    } else if (options.conflictPolicy === 'Skip') {
      entries.push({ ...base, action: 'skip', reason: 'exists (conflictPolicy Skip)' });
    } else if (there.immutable) {
      entries.push({
        ...base,
        action: 'conflict',
        reason: 'exists and is immutable: delete it to restore it',
      });
    } else if (
      item.kind === 'Secret' &&
      there.secretType !== undefined &&
      there.secretType !== ((object.type as string | undefined) ?? 'Opaque')
    ) {
      entries.push({
        ...base,
        action: 'conflict',
        reason: `exists with type ${there.secretType} (a Secret's type cannot change)`,
      });
    } else {
      entries.push({ ...base, action: 'overwrite' });
    }
  }
  return orderEntries(entries);
}

/**
 * Restore order: by orderClass, the backup's order within a class, except
 * that an owner in the plan always comes before what it owns (its new UID
 * is needed for the owner reference).
 */
export function orderEntries(entries: readonly PlanEntry[]): PlanEntry[] {
  const sorted = entries
    .map((e, i) => ({ e, i }))
    .sort((a, b) => orderClass(a.e.apiVersion, a.e.kind) - orderClass(b.e.apiVersion, b.e.kind) || a.i - b.i)
    .map(({ e }) => e);
  const byKey = new Map(sorted.map((e) => [destinationKey(e), e]));
  const out: PlanEntry[] = [];
  const state = new Map<PlanEntry, 'visiting' | 'done'>();
  const visit = (e: PlanEntry) => {
    if (state.get(e)) return; // done, or an ownership cycle (left in backup order)
    state.set(e, 'visiting');
    for (const o of e.owners ?? []) {
      const owner = byKey.get(destinationKey({ kind: o.kind, namespace: e.namespace, name: o.name }));
      if (owner) visit(owner);
    }
    state.set(e, 'done');
    out.push(e);
  };
  for (const e of sorted) visit(e);
  return out;
}

export type PlanCounts = { create: number; skip: number; overwrite: number; conflict: number };

export function countActions(entries: readonly PlanEntry[]): PlanCounts {
  const c: PlanCounts = { create: 0, skip: 0, overwrite: 0, conflict: 0 };
  for (const e of entries) c[e.action]++;
  return c;
}

/**
 * Owner references of a restored object: each recorded owner whose new UID
 * is known (`uids`: destinationKey → UID of the owner as restored or as it
 * exists in the destination); owners not restored are dropped (their UID
 * would point at nothing).
 */
export function reboundOwners(
  entry: Pick<PlanEntry, 'namespace' | 'owners'>,
  uids: ReadonlyMap<string, string>,
): OwnerReference[] {
  const refs: OwnerReference[] = [];
  for (const o of entry.owners ?? []) {
    const uid = uids.get(destinationKey({ kind: o.kind, namespace: entry.namespace, name: o.name }));
    if (!uid) continue;
    refs.push({
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: o.name,
      uid,
      ...(o.controller ? { controller: true, blockOwnerDeletion: true } : {}),
    });
  }
  return refs;
}

/** The marks a restore puts on what it writes. */
export type RestoreMarks = { backupId: string; labels: Readonly<Record<string, string>> };

/**
 * The object as written: the backed-up clean object in its destination
 * namespace, labelled (RESTORED_FROM_LABEL and `marks.labels`), annotated
 * (RESTORED_FROM_ANNOTATION), with rebound owner references.
 */
export function restoredObject(
  object: CleanObject,
  entry: Pick<PlanEntry, 'namespace' | 'owners'>,
  marks: RestoreMarks,
  uids: ReadonlyMap<string, string>,
): KubeObject {
  const out = structuredClone(object) as KubeObject;
  const owners = reboundOwners(entry, uids);
  out.metadata = {
    ...out.metadata,
    ...(entry.namespace !== undefined ? { namespace: entry.namespace } : {}),
    labels: { ...object.metadata.labels, ...marks.labels, [RESTORED_FROM_LABEL]: marks.backupId },
    annotations: { ...object.metadata.annotations, [RESTORED_FROM_ANNOTATION]: marks.backupId },
    ...(owners.length > 0 ? { ownerReferences: owners } : {}),
  };
  if (entry.namespace === undefined) delete out.metadata.namespace;
  return out;
}

/**
 * sha256 (hex) of a live restored object's clean canonical form with the
 * restore's marks taken off and its original namespace put back: equal to
 * the manifest's plaintextSha256 when the object came back as it was
 * backed up (what a drill compares). `original` holds the backed-up labels
 * and annotations, so a mark that was already on the object is kept.
 */
export function restoredSha256(
  live: KubeObject,
  original: Pick<CleanObject, 'metadata'>,
  sourceNamespace: string | undefined,
  marks: RestoreMarks,
): string {
  const clean = cleanObject(live);
  const unmark = (
    now: Record<string, string> | undefined,
    was: Record<string, string> | undefined,
    added: readonly string[],
  ) => {
    if (!now) return undefined;
    const out = Object.entries(now).flatMap(([k, v]): [string, string][] => {
      if (!added.includes(k)) return [[k, v]];
      const before = was?.[k];
      return before === undefined ? [] : [[k, before]];
    });
    return out.length > 0 ? Object.fromEntries(out) : undefined;
  };
  const labels = unmark(clean.metadata.labels, original.metadata.labels, [
    RESTORED_FROM_LABEL,
    ...Object.keys(marks.labels),
  ]);
  const annotations = unmark(clean.metadata.annotations, original.metadata.annotations, [
    RESTORED_FROM_ANNOTATION,
  ]);
  const metadata: CleanObject['metadata'] = { name: clean.metadata.name };
  if (sourceNamespace !== undefined) metadata.namespace = sourceNamespace;
  if (labels) metadata.labels = labels;
  if (annotations) metadata.annotations = annotations;
  return createHash('sha256')
    .update(serializeObject({ ...clean, metadata }))
    .digest('hex');
}

/** A name as a label value (at most 63 characters): itself, or a prefix and a hash of it. */
export function labelValue(name: string): string {
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
  return `${name.slice(0, 52).replace(/[-_.]+$/, '')}-${hash}`;
}
