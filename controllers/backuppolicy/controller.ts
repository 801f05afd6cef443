// BackupPolicy controller: takes encrypted backups of a namespace's ymera
// resources (and the ConfigMaps and, opt-in, Secrets they reference) to S3
// on a cron schedule and on demand (ymera.io/backup-now), applies retention,
// and lists the backups the bucket holds; with spec.modelArtifacts the model
// files those objects reference too (model-source.ts); and runs restore
// drills into a scratch namespace (drill-runner.ts). Restores are the
// Restore kind's (controllers/restore).
// The decisions are pure (plan.ts, content.ts, status.ts); this file reads
// the cluster, the key and the store, and writes status.
import type { ReconcileContext, Reconciler } from '../../operator/controller.ts';
import { classifyFailure, FailureReported } from '../../operator/failure.ts';
import type { Integrations } from '../../operator/integrations.ts';
import { EventType } from '../../operator/kafka/events.ts';
import { ruleObjectType } from '../../operator/integrations.ts';
import { backupPolicyRuleGroups } from '../../operator/prometheus/generators/backuppolicy.ts';
import { ruleChildren } from '../../operator/prometheus/rule-objects.ts';
import type { KubeClient } from '../../operator/kube/client.ts';
import type { KubeObject, ResourceType } from '../../operator/kube/resources.ts';
import { core, keyOf } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { metaTime } from '../../operator/conditions.ts';
import { kinds as ymeraKinds } from '../../operator/schema/kinds.ts';
import { DEFAULT_STORAGE_ACCESS } from '../../operator/storage/egress.ts';
import type { StorageAccessPolicy } from '../../operator/storage/egress.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import {
  createObjectStore,
  ENDPOINT_REFUSED,
  isObjectStoreUnavailable,
  NO_CREDENTIALS,
  ObjectStoreError,
} from '../../operator/storage/s3.ts';
import { randomBytes } from 'node:crypto';
import type { NamespaceGrants } from '../../operator/namespace-grants.ts';
import { namespaceGranted, namespacesNotAllowedMessage } from '../../operator/namespace-grants.ts';
import { locationConnection } from '../learningpipeline/artifact-access.ts';
import { credentialsFor } from '../learningpipeline/artifact-store.ts';
import type { References } from './content.ts';
import {
  BACKUP_NOW_ANNOTATION,
  kindsToBackUp,
  namespacesToBackUp,
  referencedIn,
  selectorString,
} from './content.ts';
import { Keyring } from './crypto.ts';
import { BackupError } from './errors.ts';
import { backupEvent } from './events.ts';
import type { PolicyRef } from './format.ts';
import { newBackupId, selectForDeletion } from './format.ts';
import { readKeyring } from './keys.ts';
import { BackupMetrics, POLICY_LABEL } from './metrics.ts';
import type { Plan } from './plan.ts';
import { planBackup, requeueAfterMs, untilMs } from './plan.ts';
import type { BackupPolicySpec, BackupPolicyStatus, LastBackup } from './schema.ts';
import { crd } from './schema.ts';
import type { StatusInput } from './status.ts';
import { backupPolicyStatus, backupRecords } from './status.ts';
import { modelItems } from './model-source.ts';
import { ownerOf } from './models.ts';
import { consumedRequest, finishedBackup, keepNewestWhole, settleInterrupted } from './progress.ts';
import type { DrillState, DrillStep } from './drill-runner.ts';
import { advanceDrill } from './drill-runner.ts';
import type { ItemInput } from './store.ts';
import { deleteBackup, listBackups, writeBackup } from './store.ts';
import { validateBackupPolicy } from './validate.ts';

export type BackupPolicyObject = KubeObject & { spec: BackupPolicySpec };

type Stall = { reason: string; message: string };

const S3_FIELD = 'spec.storage.s3';
/** The namespaced ymera kinds (a cluster-scoped MaintenancePlan belongs to no namespace's backup). */
const namespacedKinds = ymeraKinds.filter((d) => d.scope === 'Namespaced');
/** One call's budget; a backup of many objects makes many calls. */
const STORE_TIMEOUT_MS = 30_000;
/** Upload part size of backups (see openStore). */
const BACKUP_PART_BYTES = 5 * 1024 * 1024;
/**
 * How soon a policy stalled on a Secret (its key, its storage credentials)
 * looks again: Secrets are read, never watched (the operator may not list
 * them), and GitOps may apply the Secret after the policy.
 */
const SECRET_RECHECK_MS = 30_000;

/** What the user must change before any backup can run, or undefined. */
function configurationStall(obj: BackupPolicyObject, grants: NamespaceGrants): Stall | undefined {
  const spec = obj.spec;
  const namespace = obj.metadata.namespace ?? '';
  const errors = validateBackupPolicy(spec, { namespace });
  if (errors.length > 0)
    return { reason: 'InvalidSpec', message: errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
  const { refused } = namespacesToBackUp(namespace, spec.include?.namespaces, grants);
  if (refused.length > 0)
    return {
      reason: 'NamespaceNotAllowed',
      message: namespacesNotAllowedMessage(grants, namespace, refused, 'spec.include.namespaces'),
    };
  const k = kindsToBackUp(
    namespacedKinds.map((d) => d.kind),
    spec.include?.kinds,
  );
  if (k.unsupported.length > 0)
    return {
      reason: 'NotImplemented',
      message: `spec.include.kinds: ${k.unsupported.join(', ')} cannot be backed up yet; allowed: ${[...k.ymera, 'ConfigMap', 'Secret'].join(', ')}`,
    };
  if (spec.include?.kinds?.includes('Secret') && !spec.include.secrets)
    return { reason: 'InvalidSpec', message: 'spec.include.kinds: Secret needs spec.include.secrets: true' };
  return undefined;
}

/** The store of spec.storage.s3 (under its prefix), or why it cannot be reached. */
export async function openStore(
  client: KubeClient,
  namespace: string,
  s3: NonNullable<BackupPolicySpec['storage']['s3']>,
  access: StorageAccessPolicy,
): Promise<ObjectStore | Stall> {
  const credentials = await credentialsFor(client, namespace, s3, access, S3_FIELD);
  if (typeof credentials !== 'function' && 'error' in credentials)
    return { reason: 'StorageCredentials', message: credentials.error };
  try {
    return createObjectStore({
      ...locationConnection(s3),
      bucket: s3.bucket,
      ...(s3.prefix ? { prefix: s3.prefix } : {}),
      credentials,
      timeoutMs: STORE_TIMEOUT_MS,
      refusedCidrs: access.refusedCidrs,
      // the S3 minimum: a model upload holds (2 in flight + 1 filling) × 5 MiB = 15 MiB, not 24 MiB
      // with the store's default 8 MiB (parts grow past 9.8 GiB: multipart.ts, PARTS_PER_SIZE)
      partSizeBytes: BACKUP_PART_BYTES,
    });
  } catch (e) {
    return { reason: 'InvalidSpec', message: `${S3_FIELD}: ${(e as Error).message}` };
  }
}

/**
 * The objects of one backup: the ymera objects of each namespace (kinds and
 * labelSelector of include), then the ConfigMaps and (include.secrets) the
 * Secrets they reference, each once. A referenced object that does not
 * exist is skipped.
 */
async function collectObjects(
  client: KubeClient,
  obj: BackupPolicyObject,
  grants: NamespaceGrants,
): Promise<KubeObject[]> {
  const spec = obj.spec;
  const { namespaces } = namespacesToBackUp(obj.metadata.namespace ?? '', spec.include?.namespaces, grants);
  const selected = kindsToBackUp(
    namespacedKinds.map((d) => d.kind),
    spec.include?.kinds,
  );
  const labelSelector = selectorString(spec.include?.labelSelector);
  const list = async (type: ResourceType, namespace: string) =>
    (await client.list(type, { namespace, ...(labelSelector ? { labelSelector } : {}) })).items;
  const out: KubeObject[] = [];
  for (const namespace of namespaces) {
    const own: KubeObject[] = [];
    for (const def of namespacedKinds.filter((d) => selected.ymera.includes(d.kind)))
      own.push(...(await list(resourceTypeOf(def), namespace)));
    out.push(...own);
    const refs: References = referencedIn(own).get(namespace) ?? { configMaps: [], secrets: [] };
    // ConfigMaps: listed (the operator may list them, not get them) and picked by name;
    // include.kinds ConfigMap takes them all
    const configMaps = (await client.list(core.configMap, { namespace })).items;
    out.push(
      ...configMaps
        .filter((c) => selected.allConfigMaps || refs.configMaps.includes(c.metadata.name))
        .map((c) => ({ ...c, apiVersion: 'v1', kind: 'ConfigMap' })),
    );
    if (spec.include?.secrets) {
      // the key that seals the backup is no use inside it
      const key = spec.encryption?.keySecret.name;
      const names = refs.secrets.filter((n) => n !== key);
      // Secrets: got by name only (the operator may never list them)
      for (const name of names) {
        const secret = await client.get<KubeObject>(core.secret, name, namespace);
        if (secret) out.push({ ...secret, apiVersion: 'v1', kind: 'Secret' });
      }
    }
  }
  return out;
}

/** Why a store call failed, in words safe for status (an S3 message may name the access key id). */
export function storeFailure(e: ObjectStoreError): { reason: string; message: string } {
  if (e.code === NO_CREDENTIALS)
    return { reason: 'StorageCredentials', message: `${S3_FIELD}: no credentials for the store` };
  if (e.code === ENDPOINT_REFUSED)
    return { reason: 'StorageRefused', message: `${S3_FIELD}.endpoint is refused: ${e.message}` };
  if (isObjectStoreUnavailable(e))
    return {
      reason: 'StorageUnavailable',
      message: `the store could not be reached (${e.operation} in bucket ${e.bucket}: ${e.code})`,
    };
  return { reason: 'StorageError', message: `${e.operation} in bucket ${e.bucket} failed: ${e.code}` };
}

export function backupPolicyReconciler(integrations: Integrations): Reconciler<BackupPolicyObject> {
  const resource = resourceTypeOf(crd);
  const metrics = new BackupMetrics(integrations.registry);
  const access = integrations.storageAccess ?? DEFAULT_STORAGE_ACCESS;
  const grants = integrations.namespaceGrants ?? {};
  const ruleType = ruleObjectType(integrations.rules);

  /**
   * The policy's alert rules (operator/prometheus/generators/backuppolicy.ts).
   * A failure to write them never stops a backup: it is logged, told as a
   * Warning event, and tried again on the next reconcile.
   */
  async function applyRules(ctx: ReconcileContext, obj: BackupPolicyObject): Promise<void> {
    try {
      const groups = validateBackupPolicy(obj.spec, { namespace: obj.metadata.namespace ?? '' }).length
        ? [] // a schedule that does not parse has no interval
        : backupPolicyRuleGroups(obj);
      await ctx.applyChildren(obj, ruleChildren(obj, groups, integrations.rules), [ruleType]);
    } catch (e) {
      const failure = classifyFailure(e);
      ctx.log.info('alert rules not written', { policy: keyOf(obj.metadata), reason: failure.reason });
      await ctx.event(obj, 'Warning', 'RulesNotApplied', 'ApplyRules', `alert rules: ${failure.message}`);
    }
  }

  /** Writes status (to the latest object: a backup takes a while) and tells users about a new verdict. */
  async function report(
    ctx: ReconcileContext,
    obj: BackupPolicyObject,
    input: StatusInput,
    fresh: boolean,
  ): Promise<void> {
    const current = fresh
      ? ((await ctx.client.get<BackupPolicyObject>(resource, obj.metadata.name, obj.metadata.namespace)) ??
        obj)
      : obj;
    const previous = current.status as BackupPolicyStatus | undefined;
    const status = backupPolicyStatus(input, previous, ctx.now());
    const wrote = await ctx.writeStatus(resource, current, status);
    const before = previous?.conditions?.find((c) => c.type === 'Stalled');
    const after = status.conditions?.find((c) => c.type === 'Stalled');
    if (wrote && after?.status === 'True' && (before?.status !== 'True' || before.message !== after.message))
      await ctx.event(current, 'Warning', after.reason, 'Reconcile', after.message);
  }

  /**
   * One step of the policy's drill (drill-runner.ts); a store outage keeps the
   * drill where it is and looks again later. Tells users about a finished drill.
   */
  async function drillStep(
    ctx: ReconcileContext,
    obj: BackupPolicyObject,
    deps: { store: ObjectStore; policy: PolicyRef; keyring: Keyring | undefined; state: DrillState },
    save: (state: DrillState) => Promise<void>,
  ): Promise<DrillStep> {
    let step: DrillStep;
    try {
      step = await advanceDrill(
        {
          client: ctx.client,
          store: deps.store,
          policy: deps.policy,
          keyring: deps.keyring,
          log: ctx.log,
          now: () => ctx.now(),
          granted: (namespace) => namespaceGranted(grants, deps.policy.namespace, namespace),
          save,
        },
        obj,
        deps.state,
      );
    } catch (e) {
      if (!(e instanceof ObjectStoreError)) throw e;
      ctx.log.info('drill waits for the backup store', { policy: keyOf(obj.metadata), code: e.code });
      return { state: deps.state, requeueAfterMs: 30_000 };
    }
    const done = step.finished;
    if (done) {
      const passed = done.result === 'Passed';
      metrics.drill({ namespace: deps.policy.namespace, [POLICY_LABEL]: deps.policy.name }, passed);
      ctx.log.info('drill finished', {
        policy: keyOf(obj.metadata),
        backup: done.backupId,
        result: done.result,
        rtoSeconds: done.rtoSeconds,
      });
      await ctx.event(
        obj,
        passed ? 'Normal' : 'Warning',
        passed ? 'DrillPassed' : 'DrillFailed',
        'Drill',
        done.message ?? done.result,
      );
      integrations.events.publish({
        resource,
        object: obj,
        type: EventType.DrillCompleted,
        discriminator: `${done.backupId ?? 'none'}/${done.time}`,
        time: done.time,
        data: {
          result: done.result,
          ...(done.backupId ? { backupId: done.backupId } : {}),
          ...(done.rtoSeconds !== undefined ? { rtoSeconds: done.rtoSeconds } : {}),
          ...(done.objectsChecked !== undefined ? { objectsChecked: done.objectsChecked } : {}),
          ...(done.modelsChecked !== undefined ? { modelsChecked: done.modelsChecked } : {}),
          message: done.message,
        },
      });
    }
    return step;
  }

  return {
    name: 'backuppolicy',
    resource,
    owns: [ruleType],

    async reconcile(ctx, obj) {
      const now = ctx.now();
      const spec = obj.spec;
      const namespace = obj.metadata.namespace ?? '';
      const labels = { namespace, [POLICY_LABEL]: obj.metadata.name };
      const previous = obj.status as BackupPolicyStatus | undefined;
      const generation = obj.metadata.generation ?? 0;
      const kept = {
        lastBackup: previous?.lastBackup,
        lastSuccessfulBackupTime: previous?.lastSuccessfulBackupTime,
        lastScheduleTime: previous?.lastScheduleTime,
        backupNowToken: previous?.backupNowToken,
        backups: previous?.backups,
      };
      const drillState: DrillState = {
        activeDrill: previous?.activeDrill,
        lastDrill: previous?.lastDrill,
        lastDrillScheduleTime: previous?.lastDrillScheduleTime,
        drillNowToken: previous?.drillNowToken,
        nextDrillTime: previous?.nextDrillTime ? new Date(previous.nextDrillTime) : undefined,
      };
      const base = {
        generation,
        suspend: spec.suspend ?? false,
        drill: spec.drill !== undefined,
        ...kept,
        drillState,
      };
      metrics.observe(labels, kept.lastSuccessfulBackupTime, previous?.lastDrill?.result);
      await applyRules(ctx, obj);

      const stall = async (s: Stall, recheckMs?: number) => {
        await report(ctx, obj, { ...base, stalled: s }, false);
        return recheckMs === undefined ? undefined : { requeueAfterMs: recheckMs };
      };
      const configStall = configurationStall(obj, grants);
      if (configStall) return stall(configStall);
      const keyring = spec.encryption ? await readKeyring(ctx.client, namespace, spec.encryption) : undefined;
      if (keyring && !(keyring instanceof Keyring)) return stall(keyring, SECRET_RECHECK_MS);
      const s3 = spec.storage.s3;
      if (!s3) return stall({ reason: 'InvalidSpec', message: 'spec.storage: set s3' });
      const store = await openStore(ctx.client, namespace, s3, access);
      if (!('putStream' in store))
        return stall(store, store.reason === 'StorageCredentials' ? SECRET_RECHECK_MS : undefined);

      try {
        const policy: PolicyRef = { namespace, name: obj.metadata.name, uid: obj.metadata.uid ?? '' };
        // status says a backup is in progress, yet none runs here: it was interrupted (or finished unrecorded)
        if (kept.lastBackup?.phase === 'InProgress') {
          const fresh = await ctx.client.get<BackupPolicyObject>(resource, obj.metadata.name, namespace);
          const last = (fresh?.status as BackupPolicyStatus | undefined)?.lastBackup;
          if (fresh && last?.phase === 'InProgress') {
            const listing = (await listBackups(store, policy)).find((b) => b.id === last.id);
            const settled = settleInterrupted(last, listing, ctx.now());
            kept.lastBackup = base.lastBackup = settled;
            // finished but unrecorded: its token or scheduled time is done, never taken again
            Object.assign(kept, consumedRequest(settled));
            Object.assign(base, consumedRequest(settled));
            if (settled.phase === 'Completed' && settled.completedAt)
              kept.lastSuccessfulBackupTime = base.lastSuccessfulBackupTime = settled.completedAt;
            if (settled.phase === 'Failed') {
              const message = settled.message ?? '';
              metrics.failedOnce(labels);
              ctx.log.info('backup interrupted', { policy: keyOf(obj.metadata), backup: last.id });
              await ctx.event(obj, 'Warning', 'BackupFailed', 'Backup', message);
              await report(ctx, fresh, { ...base }, false);
              throw new FailureReported({
                reason: settled.reason ?? 'Interrupted',
                message,
                transient: true,
              });
            }
          }
        }
        const since = new Date(kept.lastScheduleTime ?? obj.metadata.creationTimestamp ?? now.toISOString());
        const plan: Plan = planBackup({
          schedule: spec.schedule,
          timeZone: spec.timeZone,
          suspend: spec.suspend,
          token: obj.metadata.annotations?.[BACKUP_NOW_ANNOTATION],
          handledToken: kept.backupNowToken,
          since,
          now,
        });

        if (!plan.run) {
          // the bucket is the source of truth: discover its backups once per generation
          let backups = kept.backups;
          if (!backups || previous?.observedGeneration !== generation) {
            try {
              backups = backupRecords(await listBackups(store, policy));
            } catch (e) {
              if (!(e instanceof ObjectStoreError)) throw e;
              ctx.log.info('backup store not listed', { policy: keyOf(obj.metadata), code: e.code });
            }
          }
          const drill = spec.drill
            ? await drillStep(ctx, obj, { store, policy, keyring, state: drillState }, (state) =>
                report(ctx, obj, { ...base, drillState: state, backups, next: plan.next }, true),
              )
            : undefined;
          await report(
            ctx,
            obj,
            { ...base, ...(drill ? { drillState: drill.state } : {}), backups, next: plan.next },
            drill !== undefined,
          );
          return { requeueAfterMs: earliest(requeueAfterMs(plan, now), drill?.requeueAfterMs) };
        }

        // A backup is a write outside Kubernetes: decide it on the policy as stored. The cache
        // may not have seen the status of the backup just taken (an owned rule object's event
        // requeues the key while it runs), and acting on it would take that token or scheduled
        // time twice; the informer's update enqueues the key again.
        const stored = await ctx.client.get<BackupPolicyObject>(resource, obj.metadata.name, namespace);
        if (!stored) return undefined;
        if (stored.metadata.resourceVersion !== obj.metadata.resourceVersion) return { requeueAfterMs: 1000 };
        const run = plan.run;
        const startedAt = ctx.now();
        const trigger = run.trigger;
        // InProgress in status before anything is written: kubectl shows it, and a crash leaves it
        // for the next reconcile to settle (settleInterrupted)
        const backupId = newBackupId(startedAt, randomBytes(4).toString('hex'));
        await report(
          ctx,
          obj,
          {
            ...base,
            lastBackup: {
              id: backupId,
              phase: 'InProgress',
              trigger,
              startedAt: metaTime(startedAt),
              // what it acts on, for settleInterrupted when the operator stops before it is recorded
              ...(run.trigger === 'OnDemand'
                ? { token: run.token }
                : { scheduledAt: metaTime(run.scheduledAt) }),
            },
            next: plan.next,
          },
          true,
        );
        let lastBackup: LastBackup;
        let input: StatusInput;
        try {
          const objects = await collectObjects(ctx.client, obj, grants);
          const models = spec.modelArtifacts ? await modelItems(ctx.client, objects, access) : undefined;
          // model files first (their upload runs alongside the objects'); each object's item is
          // paired with the digest of its model's copy once every item is written
          let digests: Map<string, string> | undefined;
          const digestOf = (o: KubeObject) => () => (digests ??= models?.digests())?.get(ownerOf(o));
          const items: ItemInput[] = [
            ...(models?.items ?? []),
            ...objects.map((o): ItemInput => ({ type: 'resource', object: o, modelDigest: digestOf(o) })),
          ];
          const result = await writeBackup(store, policy, items, {
            keyring,
            now: () => ctx.now(),
            backupId,
            ...(models ? { notCopied: models.notCopied } : {}),
          });
          const done = ctx.now();
          const bytes = result.manifest.counts.storedBytes;
          lastBackup = finishedBackup(result.manifest, trigger, startedAt, done);
          const complete = lastBackup.phase === 'Completed';
          // a PartiallyFailed backup is restorable, but not the success the alerts wait for
          if (complete) metrics.completed(labels, done, bytes, (done.getTime() - startedAt.getTime()) / 1000);
          ctx.log.info(complete ? 'backup completed' : 'backup partially failed', {
            policy: keyOf(obj.metadata),
            backup: result.backupId,
            items: lastBackup.items,
            bytes,
            failed: result.manifest.failures.count,
          });
          integrations.events.publish(backupEvent(resource, obj, lastBackup));
          await ctx.event(
            obj,
            complete ? 'Normal' : 'Warning',
            complete ? 'BackupCompleted' : 'BackupPartiallyFailed',
            'Backup',
            complete
              ? `backup ${result.backupId} completed: ${lastBackup.items} items, ${bytes} bytes`
              : `backup ${result.backupId} completed without ${result.manifest.failures.count} model file(s): ${lastBackup.message ?? ''}`.slice(
                  0,
                  1024,
                ),
          );
          // retention only from a listing that succeeded (an unreachable store is never "no backups")
          let backups = kept.backups;
          try {
            const listing = await listBackups(store, policy);
            const retention = spec.retention;
            const doomed = keepNewestWhole(
              listing,
              selectForDeletion({
                backups: listing,
                keepLast: retention?.keepLast ?? 7,
                ttlHours: retention?.ttlHours,
                now: done,
              }),
            );
            const deleted = new Set<string>();
            for (const v of doomed) {
              await deleteBackup(store, policy, v.id);
              deleted.add(v.id);
              ctx.log.info('backup deleted by retention', {
                policy: keyOf(obj.metadata),
                backup: v.id,
                why: v.reason,
              });
            }
            backups = backupRecords(listing.filter((b) => !deleted.has(b.id)));
          } catch (e) {
            if (!(e instanceof ObjectStoreError)) throw e;
            ctx.log.info('retention skipped: the store could not be listed', {
              policy: keyOf(obj.metadata),
              code: e.code,
            });
          }
          input = {
            ...base,
            lastBackup,
            lastSuccessfulBackupTime: complete ? metaTime(done) : kept.lastSuccessfulBackupTime,
            backups,
            next: plan.next,
            ...(run.trigger === 'OnDemand'
              ? { backupNowToken: run.token }
              : { lastScheduleTime: metaTime(run.scheduledAt) }),
          };
        } catch (e) {
          const failure =
            e instanceof ObjectStoreError
              ? storeFailure(e)
              : e instanceof BackupError
                ? { reason: e.reason, message: e.message }
                : classifyFailure(e);
          lastBackup = {
            id: backupId,
            phase: 'Failed',
            trigger,
            startedAt: metaTime(startedAt),
            completedAt: metaTime(ctx.now()),
            reason: failure.reason,
            message: failure.message.slice(0, 4096),
          };
          metrics.failedOnce(labels);
          integrations.events.publish(backupEvent(resource, obj, lastBackup));
          ctx.log.info('backup failed', { policy: keyOf(obj.metadata), reason: failure.reason });
          await ctx.event(obj, 'Warning', 'BackupFailed', 'Backup', failure.message);
          // neither the token nor lastScheduleTime moves: the retry (with backoff) takes it again
          await report(ctx, obj, { ...base, lastBackup, next: plan.next }, true);
          throw new FailureReported({ reason: failure.reason, message: failure.message, transient: true });
        }
        await report(ctx, obj, input, true);
        // something may still be due (a scheduled time behind an on-demand one): look again at once
        return {
          requeueAfterMs:
            run.trigger === 'OnDemand'
              ? 1000
              : earliest(requeueAfterMs(plan, ctx.now()), drillRequeueMs(drillState, ctx.now())),
        };
      } finally {
        store.close();
      }
    },

    async forget(key) {
      const [namespace = '', name = ''] = key.split('/');
      metrics.forget({ namespace, [POLICY_LABEL]: name });
    },
  };
}

/** The earliest of two requeue delays (either may be absent). */
function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/** When the drill wants to be looked at again, from its state alone (a backup reconcile). */
function drillRequeueMs(state: DrillState, now: Date): number | undefined {
  if (state.activeDrill) return 1000;
  if (!state.nextDrillTime) return undefined;
  return untilMs(state.nextDrillTime, now);
}
