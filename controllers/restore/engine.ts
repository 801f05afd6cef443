// The restore engine: verifies a backup, plans, and writes it back. Used by
// the Restore controller and by BackupPolicy drills (into a scratch
// namespace). The decisions are pure (plan.ts); this file does the I/O.
//
// Guarantees:
// - nothing is written before the whole backup verified (readAndVerify:
//   manifest, MAC, every item's sha256 and GCM tags) and the caller's
//   `admit` check passed; a bad backup is refused with the item named;
// - order: namespace, Secrets and ConfigMaps, model files, ymera resources
//   (an owner before what it owns, its owner references rebound to the new
//   UIDs);
// - every written object carries ymera.io/restored-from-backup=<backupId>
//   (label and annotation) and the caller's labels (e.g. ymera.io/restore);
// - per-object outcomes and digests: a drill compares `sha256` (the live
//   object's clean form, marks taken off) with `expectedSha256`.
import { createHash } from 'node:crypto';
import type { KubeClient } from '../../operator/kube/client.ts';
import { KubeApiError } from '../../operator/kube/client.ts';
import type { KubeObject, ResourceType } from '../../operator/kube/resources.ts';
import { core, keyOf } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { kinds as ymeraKinds } from '../../operator/schema/kinds.ts';
import { isNoSuchKey } from '../../operator/storage/s3.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import type { CleanObject } from '../backuppolicy/clean.ts';
import { inOrder } from '../backuppolicy/bounded.ts';
import type { Keyring } from '../backuppolicy/crypto.ts';
import type { BackupError } from '../backuppolicy/errors.ts';
import type { ModelItem, PolicyRef } from '../backuppolicy/format.ts';
import { readAndVerify } from '../backuppolicy/store.ts';
import type { VerifiedItem } from '../backuppolicy/store.ts';
import type {
  BackedUpObject,
  ConflictPolicy,
  Existing,
  PlanCounts,
  PlanEntry,
  RestoreMarks,
} from './plan.ts';
import {
  RESTORED_FROM_LABEL,
  countActions,
  destinationKey,
  destinationNamespace,
  kindSelected,
  planRestore,
  restoredObject,
  restoredSha256,
} from './plan.ts';

/** Per-item errors kept in a result (the counts cover all). */
export const MAX_ERRORS = 20;
/** API requests (observing, writing) at once. */
const REQUESTS_IN_FLIGHT = 16;

export type ModelTarget =
  /** Where the model goes back: a store (bucket) and the key in it. */
  | { store: ObjectStore; key: string; close?: () => void }
  /** Why it may not (a tenancy or egress refusal, no credentials): the model counts as failed. */
  | { error: string };

export type RestoreOptions = {
  /** Every namespaced object goes here; default: each object's own namespace. */
  targetNamespace?: string | undefined;
  /** Create targetNamespace (labelled) when it does not exist, e.g. a drill's scratch namespace. */
  createNamespace?: boolean;
  /** Only these kinds (`Kind`, or `Kind.group`); default: all. */
  kinds?: readonly string[] | undefined;
  conflictPolicy: ConflictPolicy;
  /** Plan only: verify, observe, return the plan; write nothing. */
  dryRun: boolean;
  /** Added to every written object (e.g. { 'ymera.io/restore': name }); RESTORED_FROM_LABEL is always set. */
  labels?: Readonly<Record<string, string>>;
  /**
   * Copy model items back to their source. `modelTarget` resolves a source
   * (s3://bucket/key) to the store to write it to, with the credentials
   * and egress policy the caller allows; without it models are not copied.
   */
  modelArtifacts?: boolean;
  modelTarget?: (source: string, users: readonly CleanObject[]) => Promise<ModelTarget>;
  /**
   * Checked after planning, before anything is written (tenancy): a
   * refusal ends the restore with nothing written.
   */
  admit?: (plan: readonly PlanEntry[]) => { reason: string; message: string } | undefined;
  /** Refuse a backup stored in clear; default: when a keyring is given. */
  requireEncryption?: boolean;
  signal?: AbortSignal;
};

export type ObjectResult = 'Planned' | 'Restored' | 'Skipped' | 'Failed';

export type ObjectOutcome = PlanEntry & {
  result: ObjectResult;
  message?: string;
  /** UID of the object as restored (or of the existing one, skipped). */
  uid?: string;
  /** Restored: sha256 of the live object's clean form with the restore's marks off and its source namespace back. */
  restoredSha256?: string;
};

export type ModelOutcome = {
  item: string;
  source: string;
  modelDigest: string;
  result: ObjectResult;
  /** Skipped: the object at the source already has this digest. */
  message?: string;
};

export type RestoreCounts = { restored: number; skipped: number; failed: number };

export type ItemErrorReport = { what: string; message: string };

export type RestoreReport = {
  ok: true;
  backupId: string;
  /** Names the backup's exact content. */
  manifestSha256: string;
  dryRun: boolean;
  /** Every selected object in restore order, with what happened to it. */
  objects: ObjectOutcome[];
  models: ModelOutcome[];
  plan: PlanCounts;
  counts: RestoreCounts;
  /** The first MAX_ERRORS failures. */
  errors: ItemErrorReport[];
};

export type RestoreRefusal = {
  ok: false;
  /** A BackupError reason (Missing, Corrupted, Tampered, WrongKey, …) or the admit check's. */
  reason: string;
  message: string;
  /** The item at fault (items/NNNNNN.bin), when one is. */
  item?: string;
  error?: BackupError;
};

export type RestoreResult = RestoreReport | RestoreRefusal;

/** The API type of a backed-up object, when this operator can write that kind. */
export function resourceTypeFor(apiVersion: string, kind: string): ResourceType | undefined {
  for (const t of Object.values(core)) {
    const version = t.group ? `${t.group}/${t.version}` : t.version;
    if (t.kind === kind && version === apiVersion) return t;
  }
  const def = ymeraKinds.find((d) => d.kind === kind && `${d.group}/${d.version}` === apiVersion);
  return def ? resourceTypeOf(def) : undefined;
}

function parseObject(v: VerifiedItem): CleanObject {
  // authenticated content written by writeBackup: a parse failure is a bug or a foreign writer
  const o = JSON.parse(v.body?.toString('utf8') ?? 'null') as CleanObject | null;
  if (!o || typeof o !== 'object' || !o.metadata || typeof o.metadata.name !== 'string')
    throw new Error(`item ${v.item.key} is not a Kubernetes object`);
  return o;
}

const describeError = (e: unknown) =>
  e instanceof KubeApiError
    ? `${e.status} ${e.reason}: ${e.message}`
    : e instanceof Error
      ? e.message
      : String(e);

async function observe(
  client: KubeClient,
  type: ResourceType,
  entry: PlanEntry,
): Promise<[Existing | undefined, KubeObject | undefined]> {
  // Secrets by name (the operator may get them, never list them); everything else by a
  // list narrowed to the name (the operator lists and watches ConfigMaps, it does not get them)
  const live =
    type === core.secret
      ? await client.get<KubeObject>(type, entry.name, entry.namespace)
      : (
          await client.list<KubeObject>(type, {
            ...(entry.namespace !== undefined ? { namespace: entry.namespace } : {}),
            fieldSelector: `metadata.name=${entry.name}`,
          })
        ).items[0];
  if (!live) return [undefined, undefined];
  return [
    {
      uid: live.metadata.uid ?? '',
      ...(live.metadata.resourceVersion ? { resourceVersion: live.metadata.resourceVersion } : {}),
      ...(live.metadata.deletionTimestamp ? { deleting: true } : {}),
      ...(live.immutable === true ? { immutable: true } : {}),
      ...(type === core.secret ? { secretType: (live.type as string | undefined) ?? 'Opaque' } : {}),
    },
    live,
  ];
}

/**
 * Restores backup `backupId` of `policy` from `store` (see the file
 * comment). Returns a refusal (nothing written) when the backup does not
 * verify or `admit` refuses; otherwise the report, with per-object
 * outcomes (a failed object does not stop the others). Store outages
 * (ObjectStoreError) and API failures while observing are thrown: retry.
 */
export async function restoreBackup(
  client: KubeClient,
  store: ObjectStore,
  policy: Pick<PolicyRef, 'namespace' | 'name'>,
  backupId: string,
  keyring: Keyring | undefined,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const verified = await readAndVerify(store, policy, backupId, {
    keyring,
    ...(options.requireEncryption !== undefined ? { requireEncryption: options.requireEncryption } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!verified.ok) {
    const e = verified.error;
    return { ok: false, reason: e.reason, message: e.message, ...(e.item ? { item: e.item } : {}), error: e };
  }
  const { manifest, manifestSha256 } = verified.backup;

  const objects: BackedUpObject[] = [];
  const bodies = new Map<string, CleanObject>();
  const models: { item: ModelItem; verified: VerifiedItem }[] = [];
  for (const v of verified.backup.items) {
    if (v.item.type === 'model') {
      models.push({ item: v.item, verified: v });
      continue;
    }
    const object = parseObject(v);
    objects.push({ item: v.item, object });
    bodies.set(v.item.key, object);
  }

  // what is there now, at every destination
  const existing = new Map<string, Existing>();
  const live = new Map<string, KubeObject>();
  const types = new Map<string, ResourceType>();
  const unsupported = new Set<string>();
  const toObserve: { type: ResourceType; entry: PlanEntry }[] = [];
  for (const { item } of objects) {
    if (!kindSelected(options.kinds, item.apiVersion, item.kind)) continue;
    const type = resourceTypeFor(item.apiVersion, item.kind);
    if (!type) {
      unsupported.add(item.key);
      continue;
    }
    types.set(item.key, type);
    const namespace = destinationNamespace(item, options.targetNamespace);
    const entry = { kind: item.kind, name: item.name, ...(namespace !== undefined ? { namespace } : {}) };
    toObserve.push({ type, entry: entry as PlanEntry });
  }
  // a few requests at once: 1,000 objects observed one after another took seconds
  const observed = await inOrder(toObserve, REQUESTS_IN_FLIGHT, ({ type, entry }) =>
    observe(client, type, entry),
  );
  for (const [i, [there, obj]] of observed.entries()) {
    const key = destinationKey((toObserve[i] as { entry: PlanEntry }).entry);
    if (there && obj) {
      existing.set(key, there);
      live.set(key, obj);
    }
  }
  const plan = planRestore(objects, existing, {
    targetNamespace: options.targetNamespace,
    kinds: options.kinds,
    conflictPolicy: options.conflictPolicy,
  }).map((e): PlanEntry =>
    unsupported.has(e.item)
      ? {
          ...e,
          action: 'conflict',
          reason: `kind ${e.kind} (${e.apiVersion}) cannot be restored by this operator`,
        }
      : e,
  );

  const refused = options.admit?.(plan);
  if (refused) return { ok: false, ...refused };

  const marks: RestoreMarks = { backupId: manifest.backupId, labels: options.labels ?? {} };
  const outcomes: ObjectOutcome[] = [];
  const errors: ItemErrorReport[] = [];
  const counts: RestoreCounts = { restored: 0, skipped: 0, failed: 0 };
  const fail = (what: string, message: string) => {
    counts.failed++;
    if (errors.length < MAX_ERRORS) errors.push({ what, message: message.slice(0, 1024) });
  };
  const modelOutcomes: ModelOutcome[] = models.map(({ item }) => ({
    item: item.key,
    source: item.source,
    modelDigest: item.modelDigest,
    result: 'Planned',
  }));
  const report = (): RestoreReport => ({
    ok: true,
    backupId: manifest.backupId,
    manifestSha256,
    dryRun: options.dryRun,
    objects: outcomes,
    models: options.modelArtifacts ? modelOutcomes : [],
    plan: countActions(plan),
    counts,
    errors,
  });

  if (options.dryRun) {
    for (const e of plan) outcomes.push({ ...e, result: 'Planned' });
    return report();
  }

  // the target namespace first (created when missing; an existing one is left as it is)
  if (options.targetNamespace !== undefined && options.createNamespace) {
    try {
      await client.create(core.namespace, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name: options.targetNamespace,
          labels: { ...marks.labels, [RESTORED_FROM_LABEL]: marks.backupId },
        },
      });
    } catch (e) {
      if (!(e instanceof KubeApiError && e.status === 409)) throw e;
    }
  }

  // UIDs of owners: existing objects first, then each restored one
  const uids = new Map<string, string>();
  for (const [key, o] of live) if (o.metadata.uid) uids.set(key, o.metadata.uid);

  let modelsDone = !options.modelArtifacts || models.length === 0;
  const beforeModels = (e: PlanEntry) =>
    e.kind === 'Namespace' || e.kind === 'Secret' || e.kind === 'ConfigMap';
  type Written = { outcome: ObjectOutcome; count: keyof RestoreCounts; failure?: ItemErrorReport };
  const write = async (entry: PlanEntry): Promise<Written> => {
    const what = `${entry.kind} ${keyOf(entry)}`;
    const failed = (message: string): Written => ({
      outcome: { ...entry, result: 'Failed', message },
      count: 'failed',
      failure: { what, message },
    });
    const type = types.get(entry.item);
    const object = bodies.get(entry.item);
    const key = destinationKey(entry);
    if (entry.action === 'skip') {
      const there = live.get(key);
      const uid = there?.metadata.uid;
      if (there && object && writtenByThisRestore(there, marks)) {
        // written by this very restore before it was interrupted (an operator restart): restored
        return {
          outcome: {
            ...entry,
            result: 'Restored',
            message: 'restored before an interruption',
            ...(uid ? { uid } : {}),
            restoredSha256: restoredSha256(there, object, entry.sourceNamespace, marks),
          },
          count: 'restored',
        };
      }
      return { outcome: { ...entry, result: 'Skipped', ...(uid ? { uid } : {}) }, count: 'skipped' };
    }
    if (entry.action === 'conflict' || !type || !object) return failed(entry.reason ?? 'conflict');
    const desired = restoredObject(object, entry, marks, uids);
    const overwrite = async (current: KubeObject | undefined) => {
      desired.metadata.resourceVersion = current?.metadata.resourceVersion ?? '';
      // the operator's own finalizers stay: a restore is not a deletion
      if (current?.metadata.finalizers) desired.metadata.finalizers = current.metadata.finalizers;
      return client.replace<KubeObject>(type, desired);
    };
    try {
      let written: KubeObject;
      if (entry.action === 'create') {
        try {
          written = await client.create<KubeObject>(type, desired);
        } catch (e) {
          // created since it was observed, e.g. by the controller of an owner restored just
          // before (an InferenceService's <name>-config ConfigMap): as if it had existed
          if (!(e instanceof KubeApiError && e.status === 409)) throw e;
          const [, now] = await observe(client, type, entry);
          if (!now) throw e;
          if (options.conflictPolicy === 'Skip') {
            const uid = now.metadata.uid;
            if (uid) uids.set(key, uid);
            return {
              outcome: {
                ...entry,
                action: 'skip',
                reason: 'created meanwhile (conflictPolicy Skip)',
                result: 'Skipped',
                ...(uid ? { uid } : {}),
              },
              count: 'skipped',
            };
          }
          written = await overwrite(now);
        }
      } else {
        written = await overwrite(live.get(key));
      }
      if (written.metadata.uid) uids.set(key, written.metadata.uid);
      return {
        outcome: {
          ...entry,
          result: 'Restored',
          ...(written.metadata.uid ? { uid: written.metadata.uid } : {}),
          restoredSha256: restoredSha256(written, object, entry.sourceNamespace, marks),
        },
        count: 'restored',
      };
    } catch (e) {
      if (!(e instanceof KubeApiError) || e.status === 0 || e.status >= 500) throw e;
      return failed(describeError(e));
    }
  };
  // Written in plan order, a batch at a time: consecutive entries of one kind (the order of
  // kinds stays), none owned by another in the batch (an owner is written, and its UID known,
  // before what it owns), written a few at once (1,000 ConfigMaps one after another took seconds); outcomes, counts and errors
  // are recorded in plan order, as one at a time would.
  const ownedWithin = (e: PlanEntry, batch: readonly PlanEntry[]) =>
    (e.owners ?? []).some((o) =>
      batch.some((b) => b.kind === o.kind && b.name === o.name && b.namespace === e.namespace),
    );
  for (let i = 0; i < plan.length;) {
    const first = plan[i] as PlanEntry;
    if (!modelsDone && !beforeModels(first)) {
      modelsDone = true;
      await restoreModels(models, modelOutcomes, [...bodies.values()], options, fail, counts);
    }
    const batch = [first];
    for (let j = i + 1; j < plan.length; j++) {
      const e = plan[j] as PlanEntry;
      if (e.kind !== first.kind || ownedWithin(e, batch)) break;
      batch.push(e);
    }
    i += batch.length;
    for (const w of await inOrder(batch, REQUESTS_IN_FLIGHT, write)) {
      outcomes.push(w.outcome);
      if (w.failure) fail(w.failure.what, w.failure.message);
      else counts[w.count]++;
    }
  }
  if (!modelsDone) await restoreModels(models, modelOutcomes, [...bodies.values()], options, fail, counts);
  return report();
}

/**
 * Whether `live` carries exactly this restore's marks: the backup id and
 * every caller label (the Restore's name). Without caller labels nothing
 * tells two restores of one backup apart, so nothing counts as ours.
 */
function writtenByThisRestore(live: KubeObject, marks: RestoreMarks): boolean {
  const labels = live.metadata.labels ?? {};
  const own = Object.entries(marks.labels);
  return (
    own.length > 0 && labels[RESTORED_FROM_LABEL] === marks.backupId && own.every(([k, v]) => labels[k] === v)
  );
}

/** Models referenced by a restored object: InferenceService spec.model.uri equal to the source. */
function usersOf(source: string, objects: readonly CleanObject[]): CleanObject[] {
  return objects.filter((o) => {
    const spec = o.spec as { model?: { uri?: unknown } } | undefined;
    return o.kind === 'InferenceService' && spec?.model?.uri === source;
  });
}

async function sha256Of(store: ObjectStore, key: string, signal: AbortSignal | undefined): Promise<string> {
  const hash = createHash('sha256');
  const stream = await store.getStream(key, signal ? { signal } : {});
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Each model item back to its source (s3:// only), unless the object there
 * already has the backup's sha256. The plaintext is streamed (bounded
 * memory) and checked again as it is read: a stream that fails verification
 * aborts the upload, so a damaged model never lands at the source.
 */
async function restoreModels(
  models: readonly { item: ModelItem; verified: VerifiedItem }[],
  outcomes: ModelOutcome[],
  objects: readonly CleanObject[],
  options: RestoreOptions,
  fail: (what: string, message: string) => void,
  counts: RestoreCounts,
): Promise<void> {
  for (const [i, { item, verified }] of models.entries()) {
    const outcome = outcomes[i] as ModelOutcome;
    const what = `model ${item.source}`;
    const failed = (message: string) => {
      outcome.result = 'Failed';
      outcome.message = message;
      fail(what, message);
    };
    if (!item.source.startsWith('s3://')) {
      failed('only s3:// model sources are restored');
      continue;
    }
    if (!options.modelTarget) {
      failed('no storage configured to restore model files to');
      continue;
    }
    const target = await options.modelTarget(item.source, usersOf(item.source, objects));
    if ('error' in target) {
      failed(target.error);
      continue;
    }
    try {
      const expected = item.modelDigest.slice('sha256:'.length);
      let current: string | undefined;
      try {
        if (await target.store.head(target.key))
          current = await sha256Of(target.store, target.key, options.signal);
      } catch (e) {
        if (!isNoSuchKey(e)) throw e;
      }
      if (current === expected) {
        outcome.result = 'Skipped';
        outcome.message = 'the source already holds this model (same sha256)';
        counts.skipped++;
        continue;
      }
      await target.store.putStream(
        target.key,
        verified.open(),
        options.signal ? { signal: options.signal } : {},
      );
      outcome.result = 'Restored';
      counts.restored++;
    } catch (e) {
      failed(e instanceof Error ? e.message : String(e));
    } finally {
      target.close?.();
    }
  }
}
