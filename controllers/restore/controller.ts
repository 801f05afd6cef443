// Restore controller: a one-shot restore of a BackupPolicy's backup into the
// Restore's own namespace. Resolves the backup once (spec.backupId, or the
// latest Completed one) and pins it in status.backupId; verifies the whole
// backup before writing anything (engine.ts); records the plan, counts and
// per-item errors; a Restore that reached Succeeded or Failed never runs
// again (an operator restart reads the final phase and stops).
// Decisions are pure (plan.ts, tenancy.ts, status.ts); this file is the I/O.
import type { ReconcileContext, Reconciler } from '../../operator/controller.ts';
import { metaTime } from '../../operator/conditions.ts';
import { classifyFailure, FailureReported } from '../../operator/failure.ts';
import type { Integrations } from '../../operator/integrations.ts';
import { EventType } from '../../operator/kafka/events.ts';
import { isConflict } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { keyOf } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { DEFAULT_STORAGE_ACCESS } from '../../operator/storage/egress.ts';
import { ObjectStoreError } from '../../operator/storage/s3.ts';
import { openStore, storeFailure } from '../backuppolicy/controller.ts';
import { Keyring } from '../backuppolicy/crypto.ts';
import { readKeyring } from '../backuppolicy/keys.ts';
import type { BackupPolicySpec } from '../backuppolicy/schema.ts';
import { crd as backupPolicyCrd } from '../backuppolicy/schema.ts';
import { listBackups } from '../backuppolicy/store.ts';
import { restoreBackup } from './engine.ts';
import type { RestoreResult } from './engine.ts';
import { RestoreMetrics } from './metrics.ts';
import { modelTargetFor } from './models.ts';
import { RESTORE_LABEL, labelValue } from './plan.ts';
import type { RestoreSpec, RestoreStatus } from './schema.ts';
import { crd } from './schema.ts';
import type { RestoreStatusInput, RestoreVerdict } from './status.ts';
import { isFinal, reportVerdict, restoreStatus } from './status.ts';
import { tenancyRefusal } from './tenancy.ts';
import { namespaceGranted } from '../../operator/namespace-grants.ts';
import { validateRestore } from './validate.ts';

export type RestoreObject = KubeObject & { spec: RestoreSpec };
type PolicyObject = KubeObject & { spec: BackupPolicySpec };

/** Waiting for something that may come by itself (the policy, a first backup). */
const WAIT_MS = 30_000;

export function restoreReconciler(integrations: Integrations): Reconciler<RestoreObject> {
  const resource = resourceTypeOf(crd);
  const policies = resourceTypeOf(backupPolicyCrd);
  const metrics = new RestoreMetrics(integrations.registry);
  const access = integrations.storageAccess ?? DEFAULT_STORAGE_ACCESS;
  const grants = integrations.namespaceGrants ?? {};

  /**
   * Writes status to the latest object (a restore takes a while); retried
   * on conflict, so a final phase is not lost to a concurrent write (it is
   * what keeps a finished Restore from running again). Tells users about a
   * new verdict.
   */
  async function report(ctx: ReconcileContext, obj: RestoreObject, input: RestoreStatusInput): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current =
        attempt === 0 && input.phase === 'Pending'
          ? obj
          : ((await ctx.client.get<RestoreObject>(resource, obj.metadata.name, obj.metadata.namespace)) ??
            obj);
      const previous = current.status as RestoreStatus | undefined;
      const status = restoreStatus(input, previous, ctx.now());
      try {
        const wrote = await ctx.writeStatus(resource, current, status);
        if (wrote && (previous?.phase !== status.phase || previous?.message !== status.message)) {
          const warning = input.phase === 'Failed' || input.stalled === true;
          await ctx.event(current, warning ? 'Warning' : 'Normal', input.reason, 'Restore', input.message);
        }
        return;
      } catch (e) {
        if (!isConflict(e) || attempt >= 4) throw e;
      }
    }
  }

  return {
    name: 'restore',
    resource,
    owns: [],

    async reconcile(ctx, obj) {
      const previous = obj.status as RestoreStatus | undefined;
      // final: never again (an operator restart, a resync, a re-applied manifest)
      if (isFinal(previous?.phase)) return undefined;
      const spec = obj.spec;
      const namespace = obj.metadata.namespace ?? '';
      const generation = obj.metadata.generation ?? 0;
      const startTime = previous?.startTime;
      const base = { generation, backupId: previous?.backupId, startTime };

      const finish = async (verdict: RestoreVerdict, extra: Partial<RestoreStatusInput> = {}) => {
        const done = ctx.now();
        await report(ctx, obj, { ...base, ...verdict, completionTime: metaTime(done), ...extra });
        const started = extra.startTime ?? startTime;
        metrics.ended(
          {
            namespace,
            result: extra.report?.dryRun ? 'DryRun' : verdict.phase === 'Succeeded' ? 'Succeeded' : 'Failed',
          },
          started ? (done.getTime() - Date.parse(started)) / 1000 : 0,
        );
        integrations.events.publish({
          resource,
          object: obj,
          type: EventType.RestoreCompleted,
          discriminator: obj.metadata.uid ?? keyOf(obj.metadata),
          time: done,
          data: {
            phase: verdict.phase,
            reason: verdict.reason,
            message: verdict.message,
            backupPolicy: spec.backupPolicyRef.name,
            ...((extra.backupId ?? base.backupId) ? { backupId: extra.backupId ?? base.backupId } : {}),
            ...(extra.report
              ? {
                  dryRun: extra.report.dryRun,
                  manifestSha256: extra.report.manifestSha256,
                  restored: extra.report.counts.restored,
                  skipped: extra.report.counts.skipped,
                  failed: extra.report.counts.failed,
                }
              : {}),
          },
        });
        ctx.log.info('restore finished', {
          restore: keyOf(obj.metadata),
          phase: verdict.phase,
          reason: verdict.reason,
        });
        return undefined;
      };
      const fail = (reason: string, message: string) => finish({ phase: 'Failed', reason, message });
      /** Not final: waits for a change (stalled: the user's) and looks again. */
      const wait = async (reason: string, message: string, stalled: boolean) => {
        await report(ctx, obj, { ...base, phase: 'Pending', reason, message, stalled });
        return { requeueAfterMs: WAIT_MS };
      };

      // what the spec alone decides
      const errors = validateRestore(spec);
      if (errors.length > 0)
        return fail('InvalidSpec', errors.map((e) => `${e.field}: ${e.message}`).join('; '));
      const granted = (target: string) => namespaceGranted(grants, namespace, target);
      const refusedTarget = tenancyRefusal({
        restoreNamespace: namespace,
        targetNamespace: spec.targetNamespace,
        granted,
      });
      if (refusedTarget) return fail(refusedTarget.reason, refusedTarget.message);

      // the policy, its key and its store: may come later (GitOps applies in any order)
      const policyName = spec.backupPolicyRef.name;
      const policy = await ctx.client.get<PolicyObject>(policies, policyName, namespace);
      if (!policy)
        return wait(
          'PolicyNotFound',
          `spec.backupPolicyRef: BackupPolicy ${policyName} does not exist in namespace ${namespace}`,
          false,
        );
      const s3 = policy.spec.storage.s3;
      if (!s3)
        return fail(
          'NotImplemented',
          `spec.backupPolicyRef: BackupPolicy ${policyName} stores to a PVC; restoring from a PVC is not implemented`,
        );
      const keyring = policy.spec.encryption
        ? await readKeyring(ctx.client, namespace, policy.spec.encryption)
        : undefined;
      if (keyring && !(keyring instanceof Keyring))
        return wait(keyring.reason, `BackupPolicy ${policyName} ${keyring.message}`, true);
      const store = await openStore(ctx.client, namespace, s3, access);
      if (!('putStream' in store))
        return wait(store.reason, `BackupPolicy ${policyName} ${store.message}`, true);

      try {
        // the backup: resolved once, then pinned in status
        let backupId = previous?.backupId ?? spec.backupId;
        if (backupId === undefined) {
          const latest = (await listBackups(store, { namespace, name: policyName })).find(
            (b) => b.state === 'Completed',
          );
          if (!latest)
            return await wait(
              'NoBackup',
              `BackupPolicy ${policyName} has no Completed backup in its storage yet`,
              false,
            );
          backupId = latest.id;
        }
        const started = startTime ?? metaTime(ctx.now());
        if (previous?.phase !== 'Running' || previous.backupId !== backupId) {
          await report(ctx, obj, {
            generation,
            backupId,
            startTime: started,
            phase: 'Running',
            reason: 'Restoring',
            message: `verifying and restoring backup ${backupId} of BackupPolicy ${policyName}`,
          });
        }

        const result: RestoreResult = await restoreBackup(
          ctx.client,
          store,
          { namespace, name: policyName },
          backupId,
          keyring,
          {
            targetNamespace: spec.targetNamespace,
            kinds: spec.kinds,
            conflictPolicy: spec.conflictPolicy ?? 'Skip',
            dryRun: spec.dryRun ?? false,
            labels: { [RESTORE_LABEL]: labelValue(obj.metadata.name) },
            modelArtifacts: spec.modelArtifacts ?? false,
            modelTarget: modelTargetFor(ctx.client, namespace, access),
            admit: (plan) =>
              tenancyRefusal({
                restoreNamespace: namespace,
                targetNamespace: spec.targetNamespace,
                plan,
                granted,
              }),
            // a policy that encrypts never restores a backup stored in clear (anyone could have written it)
            requireEncryption: policy.spec.encryption !== undefined,
          },
        );
        const pinned = { backupId, startTime: started };
        if (!result.ok) {
          const what = result.item ? ` (item ${result.item})` : '';
          const keyed = ['WrongKey', 'KeyRequired', 'NotEncrypted'].includes(result.reason);
          const field = keyed ? `BackupPolicy ${policyName} spec.encryption: ` : '';
          const hint =
            result.reason === 'WrongKey'
              ? "; keep the key it was sealed with in the Secret and name it in the policy's spec.encryption.previousKeys"
              : '';
          return await finish(
            {
              phase: 'Failed',
              reason: result.reason,
              message: `nothing was restored${what}: ${field}${result.message}${hint}`,
            },
            pinned,
          );
        }
        return await finish(reportVerdict(result), { ...pinned, report: result });
      } catch (e) {
        // the store or the API server is unreachable: not a verdict, retried with backoff
        const failure =
          e instanceof ObjectStoreError ? { ...storeFailure(e), transient: true } : classifyFailure(e);
        if (!failure.transient) return fail(failure.reason, failure.message);
        await report(ctx, obj, {
          ...base,
          phase: previous?.phase === 'Running' ? 'Running' : 'Pending',
          reason: failure.reason,
          message: `${failure.message}; retrying`,
        });
        throw new FailureReported(failure);
      } finally {
        store.close();
      }
    },
  };
}
