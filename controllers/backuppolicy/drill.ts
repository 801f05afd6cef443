// Pure: restore drills. A drill restores the latest Completed backup into a
// scratch namespace, waits for its InferenceServices to be Ready, compares
// what came back with the manifest (the sha256 of every object's clean form,
// the model digest every InferenceService serves), records the recovery time
// (start to all Ready) and removes the scratch namespace unless asked to keep
// it. It spans several reconciles (a restore, then a wait for pods), so its
// progress lives in status.activeDrill and survives an operator restart.
//
// Tenancy: a drill creates and empties a namespace, which the policy's
// author may not be allowed to do. By default the scratch namespace must be
// named `<policy namespace>-<suffix>` (a tenant can only reach names derived
// from its own), and it is used only when it does not exist yet or was
// created by a drill of this same policy (a label says so); a namespace
// someone else made is never written to or deleted. A cluster admin may
// allow other names (the same grant that lets a policy back up other
// namespaces).
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { ObjectOutcome } from '../restore/engine.ts';
import { planBackup } from './plan.ts';
import type { Plan, PlanInput } from './plan.ts';

/** On-demand drill, acted on once per value (like ymera.io/backup-now). */
export const DRILL_NOW_ANNOTATION = 'ymera.io/drill-now';
/** On the scratch namespace: `<policy namespace>.<policy name>` of the drill that created it. */
export const DRILL_NAMESPACE_LABEL = 'ymera.io/drill-of';
/** Default time a drill waits for the restored InferenceServices to become Ready. */
export const DEFAULT_DRILL_TIMEOUT_MINUTES = 15;

export type DrillTrigger = 'Schedule' | 'OnDemand';

/** As a backup's plan input; `since` is status.lastDrillScheduleTime, else the policy's creation time. */
export type DrillPlanInput = PlanInput;

export type DrillPlan = Pick<Plan, 'run' | 'next'>;

/**
 * Whether a drill is due now (scheduled, or an unhandled ymera.io/drill-now
 * token): the backup's plan on the drill's schedule, without the missed
 * count; an on-demand drill says no next time (the reconcile after it does).
 */
export function planDrill(input: DrillPlanInput): DrillPlan {
  const { run, next } = planBackup(input);
  if (run?.trigger === 'OnDemand') return { run };
  return { ...(run ? { run } : {}), ...(next ? { next } : {}) };
}

/** The value of DRILL_NAMESPACE_LABEL for a policy (label values allow dots). */
export function drillOwnerLabel(policyNamespace: string, policyName: string): string {
  const value = `${policyNamespace}.${policyName}`;
  if (value.length <= 63) return value;
  // too long for a label value: a readable prefix and a hash of the whole
  return `${value.slice(0, 46)}-${createHash('sha256').update(value).digest('hex').slice(0, 16)}`;
}

export type NamespaceVerdict = { ok: true } | { ok: false; reason: string; message: string };

/**
 * Whether a drill of `policy` may use `target` as its scratch namespace.
 * `existing` is the namespace as it is now (undefined: absent); `granted`
 * says whether a cluster admin allowed the name for this policy's namespace.
 */
export function drillNamespaceVerdict(input: {
  policyNamespace: string;
  policyName: string;
  target: string;
  granted: boolean;
  existing?: Pick<KubeObject, 'metadata'> | undefined;
}): NamespaceVerdict {
  const { policyNamespace, target } = input;
  if (!input.granted && !target.startsWith(`${policyNamespace}-`))
    return {
      ok: false,
      reason: 'NamespaceNotAllowed',
      message: `spec.drill.targetNamespace: a drill of a policy in ${policyNamespace} may use only namespaces named ${policyNamespace}-<suffix> (e.g. ${policyNamespace}-drill) unless the cluster admin allows more; ${target} is not allowed`,
    };
  const existing = input.existing;
  if (existing) {
    const owner = existing.metadata.labels?.[DRILL_NAMESPACE_LABEL];
    if (owner !== drillOwnerLabel(policyNamespace, input.policyName))
      return {
        ok: false,
        reason: 'NamespaceNotOwned',
        message: `spec.drill.targetNamespace: namespace ${target} exists and was not created by a drill of this policy (label ${DRILL_NAMESPACE_LABEL}); a drill never writes to or deletes a namespace it did not create`,
      };
    if (existing.metadata.deletionTimestamp)
      return {
        ok: false,
        reason: 'NamespaceTerminating',
        message: `namespace ${target} is still being deleted (previous drill); the drill starts when it is gone`,
      };
  }
  return { ok: true };
}

/** What the drill compares, per object the restore engine reported. */
export type RestoredObject = Pick<
  ObjectOutcome,
  'kind' | 'name' | 'result' | 'sha256' | 'restoredSha256' | 'modelDigest' | 'message'
>;

export type DrillCheckInput = {
  /** The restore engine's per-object outcomes (controllers/restore/engine.ts). */
  objects: readonly RestoredObject[];
  /** The model digest each restored InferenceService serves (status.model.sha256), by name. */
  servedDigests: ReadonlyMap<string, string | undefined>;
};

export type DrillCheck = {
  passed: boolean;
  objectsChecked: number;
  modelsChecked: number;
  /** What did not match, bounded. */
  mismatches: string[];
  /** InferenceServices whose model digest could not be verified (no pin), bounded. */
  unverified: string[];
};

const MAX_MISMATCHES = 10;
const hex = (digest: string) => digest.replace(/^sha256:/, '');

/** What a drill records right after its restore (kept in status.activeDrill across reconciles). */
export type ObjectCheck = {
  objectsChecked: number;
  mismatches: string[];
  /** The InferenceServices restored and the model digest the backup paired each with. */
  models: { name: string; digest: string }[];
};

/**
 * Compares every object the restore engine wrote with the manifest: its hash
 * as written (the engine's restoredSha256: clean form, restore marks off,
 * source namespace back) with the manifest's; and lists the model digests to
 * check once the InferenceServices are Ready.
 */
export function checkRestoredObjects(objects: readonly RestoredObject[]): ObjectCheck {
  const mismatches: string[] = [];
  const models: ObjectCheck['models'] = [];
  for (const o of objects) {
    const id = `${o.kind}/${o.name}`;
    if (o.result !== 'Restored') {
      mismatches.push(`${id}: not restored (${o.result}${o.message ? `: ${o.message}` : ''})`);
      continue;
    }
    if (o.restoredSha256 !== o.sha256)
      mismatches.push(
        `${id}: content differs from the backup (sha256 ${(o.restoredSha256 ?? '').slice(0, 12)}…, backup ${o.sha256.slice(0, 12)}…)`,
      );
    if (o.kind === 'InferenceService' && o.modelDigest)
      models.push({ name: o.name, digest: hex(o.modelDigest) });
  }
  return { objectsChecked: objects.length, mismatches: mismatches.slice(0, MAX_MISMATCHES), models };
}

export type ModelCheck = {
  mismatches: string[];
  /** InferenceServices that pin no digest (spec.model.sha256): their Ready proves no particular model. */
  unverified: string[];
};

/**
 * Compares the model each Ready InferenceService serves with the backup's
 * digest. status.model.sha256 is the digest the runtime verified before
 * serving (the spec's pin); an InferenceService without a pin serves
 * whatever is at its uri, so its digest is reported as not verifiable
 * rather than guessed.
 */
export function checkServedModels(
  models: ObjectCheck['models'],
  servedDigests: ReadonlyMap<string, string | undefined>,
): ModelCheck {
  const mismatches: string[] = [];
  const unverified: string[] = [];
  for (const { name, digest } of models) {
    const served = servedDigests.get(name);
    if (!served) unverified.push(name);
    else if (hex(served) !== digest)
      mismatches.push(
        `InferenceService/${name}: serves model sha256 ${hex(served).slice(0, 12)}…, the backup paired ${digest.slice(0, 12)}…`,
      );
  }
  return { mismatches, unverified };
}

/** The drill's verdict from both checks. */
export function drillVerdict(objects: ObjectCheck, models: ModelCheck): DrillCheck {
  const mismatches = [...objects.mismatches, ...models.mismatches].slice(0, MAX_MISMATCHES);
  return {
    passed: objects.mismatches.length === 0 && models.mismatches.length === 0,
    objectsChecked: objects.objectsChecked,
    modelsChecked: objects.models.length - models.unverified.length,
    mismatches,
    unverified: models.unverified.slice(0, MAX_MISMATCHES),
  };
}

/** Both checks at once (objects restored, InferenceServices Ready). */
export function checkDrill(input: DrillCheckInput): DrillCheck {
  const objects = checkRestoredObjects(input.objects);
  return drillVerdict(objects, checkServedModels(objects.models, input.servedDigests));
}

/** One line for status and the Event: what was checked, what did not match, and the RTO. */
export function drillMessage(check: DrillCheck, backupId: string, rtoSeconds: number | undefined): string {
  const rto =
    rtoSeconds === undefined ? '' : `; recovery took ${rtoSeconds.toFixed(1)} s (restore start to all Ready)`;
  const unverified =
    check.unverified.length > 0
      ? `; model digest not verifiable for ${check.unverified.join(', ')} (no spec.model.sha256 pin, so Ready proves no particular model)`
      : '';
  const what = `backup ${backupId}: ${check.objectsChecked} objects and ${check.modelsChecked} model digests checked`;
  if (check.passed) return `${what}, all match${unverified}${rto}`;
  return `${what}; ${check.mismatches.length} mismatched: ${check.mismatches.join('; ')}${unverified}${rto}`;
}
