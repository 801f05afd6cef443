// Pure: a Restore's status from where it stands. Succeeded is the outcome
// (Unknown until it is final); Ready mirrors it; Stalled is True on a final
// failure (nothing more happens without a new Restore) and while waiting on
// something the user must change; Reconciling is True while waiting on
// something that may come by itself (the policy, a backup, the store) and
// while running (kstatus abnormal-true polarity: absent otherwise).
import type { Condition } from '../../operator/conditions.ts';
import { ConditionType, Reason, removeCondition, setCondition } from '../../operator/conditions.ts';
import type { ItemErrorReport, RestoreReport } from './engine.ts';
import type { RestorePhase, RestoreStatus } from './schema.ts';
import { MAX_ERRORS_LISTED, MAX_PLAN_LISTED } from './schema.ts';

export type RestoreVerdict = {
  phase: RestorePhase;
  reason: string;
  message: string;
  /** Pending on something only the user can change (a bad spec, a missing key). */
  stalled?: boolean;
};

export type RestoreStatusInput = RestoreVerdict & {
  generation: number;
  backupId?: string | undefined;
  startTime?: string | undefined;
  completionTime?: string | undefined;
  report?: RestoreReport | undefined;
};

export const isFinal = (phase: string | undefined) => phase === 'Succeeded' || phase === 'Failed';

/** The plan and counts of a report, as status records them (bounded). */
export function reportFields(report: RestoreReport): Partial<RestoreStatus> {
  const errors: ItemErrorReport[] = report.errors.slice(0, MAX_ERRORS_LISTED);
  return {
    manifestSha256: report.manifestSha256,
    plan: {
      ...report.plan,
      objects: report.objects.slice(0, MAX_PLAN_LISTED).map((o) => ({
        action: o.action,
        kind: o.kind,
        ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
        name: o.name,
        ...(o.reason ? { reason: o.reason.slice(0, 1024) } : {}),
      })),
    },
    ...(report.dryRun
      ? {}
      : {
          restoredObjects: report.counts.restored,
          skippedObjects: report.counts.skipped,
          failedObjects: report.counts.failed,
        }),
    ...(errors.length > 0 ? { errors } : {}),
  };
}

/** The verdict of a finished restore (or dry run). */
export function reportVerdict(report: RestoreReport): RestoreVerdict {
  const c = report.counts;
  if (report.dryRun) {
    const p = report.plan;
    return {
      phase: 'Succeeded',
      reason: 'DryRun',
      message: `dry run of backup ${report.backupId}: would create ${p.create}, skip ${p.skip}, overwrite ${p.overwrite}; ${p.conflict} in conflict; nothing was written`,
    };
  }
  const summary = `backup ${report.backupId}: restored ${c.restored}, skipped ${c.skipped}, failed ${c.failed}`;
  if (c.failed > 0) {
    const first = report.errors[0];
    return {
      phase: 'Failed',
      reason: 'ObjectsFailed',
      message: `${summary}; first: ${first ? `${first.what}: ${first.message}` : 'unknown'}`,
    };
  }
  return { phase: 'Succeeded', reason: Reason.Succeeded, message: summary };
}

export function restoreStatus(
  input: RestoreStatusInput,
  previous: RestoreStatus | undefined,
  now: Date,
): RestoreStatus {
  const g = input.generation;
  let conditions: Condition[] = (previous?.conditions ?? []) as Condition[];
  const set = (type: string, status: 'True' | 'False' | 'Unknown', reason: string) => {
    conditions = setCondition(
      conditions,
      { type, status, reason, message: input.message, observedGeneration: g },
      now,
    );
  };
  const drop = (type: string) => {
    conditions = removeCondition(conditions, type);
  };
  const { phase, reason } = input;
  if (phase === 'Succeeded') {
    set('Succeeded', 'True', reason);
    set(ConditionType.Ready, 'True', reason);
    drop(ConditionType.Stalled);
    drop(ConditionType.Reconciling);
  } else if (phase === 'Failed') {
    set('Succeeded', 'False', reason);
    set(ConditionType.Ready, 'False', reason);
    set(ConditionType.Stalled, 'True', reason);
    drop(ConditionType.Reconciling);
  } else {
    set('Succeeded', 'Unknown', reason);
    set(ConditionType.Ready, 'False', reason);
    if (input.stalled) {
      set(ConditionType.Stalled, 'True', reason);
      drop(ConditionType.Reconciling);
    } else {
      set(ConditionType.Reconciling, 'True', reason);
      drop(ConditionType.Stalled);
    }
  }
  const { conditions: _c, observedGeneration: _o, phase: _p, message: _m, ...kept } = previous ?? {};
  return {
    ...kept,
    observedGeneration: g,
    conditions,
    phase,
    message: input.message.slice(0, 4096),
    ...(input.backupId ? { backupId: input.backupId } : {}),
    ...(input.startTime ? { startTime: input.startTime } : {}),
    ...(input.completionTime ? { completionTime: input.completionTime } : {}),
    ...(input.report ? reportFields(input.report) : {}),
  };
}
