// Pure: the rollout decision. Given the revisions in status, the revision the
// spec asks for, what was observed of the canary and (when due) the outcome
// of one analysis check, decide the live revisions and what happened. All
// the decision needs is persisted in status (revisions, canary progress), so
// it is deterministic given its inputs and `now`.
import { metaTime } from '../../operator/conditions.ts';
import type { PodFailure } from '../../operator/kube/workloads.ts';
import { isSchedulingFailure } from '../../operator/kube/workloads.ts';

export interface Revisions {
  stable?: string;
  canary?: string;
  lastRolledBack?: string;
}

export interface CanaryProgress {
  revision: string;
  startTime: string;
  passedChecks: number;
  failedChecks: number;
  lastCheckTime?: string;
  lastCheckMessage?: string;
  /** Judged good: scaling up to the full count before it becomes stable. */
  promoting?: boolean;
}

/** What was observed of one revision's Deployment and pods. */
export interface RevisionHealth {
  /** Replicas the Deployment asks for (0 when it does not exist yet). */
  replicas: number;
  readyReplicas: number;
  /** The first reason its pods cannot serve, if any. */
  failure?: PodFailure;
}

export type CheckOutcome = 'pass' | 'fail' | 'inconclusive';

export interface CheckResult {
  outcome: CheckOutcome;
  message: string;
}

export interface AnalysisSettings {
  intervalMs: number;
  count: number;
  failureLimit: number;
}

export interface RolloutInput {
  /** Revision of the current spec. */
  desired: string;
  previous: Revisions;
  progress?: CanaryProgress;
  /** Whether a revision's serving spec is still known (the spec's, or its Deployment's annotation). */
  known: (revision: string) => boolean;
  canary?: RevisionHealth;
  autoRollback: boolean;
  /** Set when rollout.analysis is configured and Prometheus is available to the operator. */
  analysis?: AnalysisSettings;
  /** The check run in this reconcile (only when analysisDue said so). */
  check?: CheckResult;
  /** How long a canary must stay up and healthy before promotion without analysis. */
  soakMs: number;
  /** Replicas the service runs without a canary: a promoted canary first scales up to it. */
  fullReplicas: number;
  now: Date;
}

export type RolloutAction =
  'none' | 'started' | 'promoting' | 'promoted' | 'rolledBack' | 'abandoned' | 'replaced';

export interface RolloutDecision {
  revisions: Revisions;
  progress?: CanaryProgress;
  action: RolloutAction;
  /** Why the canary is unhealthy (with the rollback when action is rolledBack). */
  failure?: { reason: string; message: string; revision: string };
}

const clean = (r: Revisions): Revisions =>
  Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Revisions;

/** The live revisions before any promotion or rollback: what the controller observes and checks. */
export function plannedRevisions(
  desired: string,
  previous: Revisions,
  known: (revision: string) => boolean,
): { stable: string; canary?: string } {
  const stable = previous.stable && known(previous.stable) ? previous.stable : desired;
  if (desired === stable || desired === previous.lastRolledBack) return { stable };
  return { stable, canary: desired };
}

/** Whether an analysis check is due now for this canary. */
export function analysisDue(
  progress: CanaryProgress | undefined,
  revision: string,
  analysis: AnalysisSettings | undefined,
  now: Date,
): boolean {
  if (!analysis) return false;
  if (!progress || progress.revision !== revision) return false; // the canary starts first
  const since = Date.parse(progress.lastCheckTime ?? progress.startTime);
  return now.getTime() - since >= analysis.intervalMs;
}

/** Milliseconds until the next check is due (undefined without analysis or canary). */
export function nextCheckInMs(
  progress: CanaryProgress | undefined,
  analysis: AnalysisSettings | undefined,
  now: Date,
) {
  if (!analysis || !progress) return undefined;
  const since = Date.parse(progress.lastCheckTime ?? progress.startTime);
  return Math.max(0, since + analysis.intervalMs - now.getTime());
}

export function decideRollout(input: RolloutInput): RolloutDecision {
  const { desired, previous, now } = input;
  const lastRolledBack = previous.lastRolledBack;
  if (!previous.stable || !input.known(previous.stable)) {
    // first revision, or the stable one can no longer be rebuilt: the spec's revision is stable directly
    return {
      revisions: clean({ stable: desired, lastRolledBack }),
      action: previous.stable ? 'replaced' : 'none',
    };
  }
  const stable = previous.stable;
  if (desired === stable) {
    return { revisions: clean({ stable, lastRolledBack }), action: previous.canary ? 'abandoned' : 'none' };
  }
  if (desired === lastRolledBack) {
    // the same bad revision is not retried until the spec changes again
    return { revisions: clean({ stable, lastRolledBack }), action: 'none' };
  }

  const fresh = !input.progress || input.progress.revision !== desired;
  let progress: CanaryProgress = fresh
    ? { revision: desired, startTime: metaTime(now), passedChecks: 0, failedChecks: 0 }
    : { ...(input.progress as CanaryProgress) };
  if (input.check && !fresh) {
    progress = {
      ...progress,
      passedChecks: progress.passedChecks + (input.check.outcome === 'pass' ? 1 : 0),
      failedChecks: progress.failedChecks + (input.check.outcome === 'fail' ? 1 : 0),
      lastCheckTime: metaTime(now),
      lastCheckMessage: input.check.message.slice(0, 1024),
    };
  }
  const action: RolloutAction = fresh ? 'started' : 'none';
  const canaryRevisions = clean({ stable, canary: desired, lastRolledBack });

  const health = input.canary;
  let failure: { reason: string; message: string } | undefined;
  if (health?.failure && !isSchedulingFailure(health.failure)) failure = health.failure;
  else if (input.analysis && progress.failedChecks >= input.analysis.failureLimit) {
    failure = {
      reason: 'AnalysisFailed',
      message: `canary failed ${progress.failedChecks} of ${progress.passedChecks + progress.failedChecks} analysis checks (limit ${input.analysis.failureLimit})${progress.lastCheckMessage ? `: ${progress.lastCheckMessage}` : ''}`,
    };
  }
  if (failure && !fresh) {
    if (input.autoRollback) {
      return {
        revisions: clean({ stable, lastRolledBack: desired }),
        action: 'rolledBack',
        failure: { ...failure, revision: desired },
      };
    }
    return { revisions: canaryRevisions, progress, action, failure: { ...failure, revision: desired } };
  }

  const ready = health !== undefined && health.replicas > 0 && health.readyReplicas >= health.replicas;
  const soaked = now.getTime() - Date.parse(progress.startTime) >= input.soakMs;
  const analysed = !input.analysis || progress.passedChecks >= input.analysis.count;
  if (!fresh && progress.promoting && ready && (health?.replicas ?? 0) >= input.fullReplicas) {
    return { revisions: clean({ stable: desired, lastRolledBack }), action: 'promoted' };
  }
  if (!fresh && !progress.promoting && ready && soaked && analysed) {
    // judged good: scale up to the full count first; promotion follows once those pods are ready
    return { revisions: canaryRevisions, progress: { ...progress, promoting: true }, action: 'promoting' };
  }
  const scheduling = health?.failure && isSchedulingFailure(health.failure) ? health.failure : undefined;
  return {
    revisions: canaryRevisions,
    progress,
    action,
    ...(scheduling ? { failure: { ...scheduling, revision: desired } } : {}),
  };
}

/** A rollback to announce (the RolledBack Event and the rollback.performed CloudEvent). */
export interface RollbackNotice {
  /** The rolled-back revision. */
  revision: string;
  /** The revision traffic goes back to. */
  stable: string;
  reason: string;
  message: string;
}

/** A child that failed to apply or to be pruned, as far as the rollback cares. */
export interface FailedChild {
  kind: string;
  name: string;
}

/**
 * Whether a rollback is in effect after this reconcile's apply: none of the
 * children it depends on failed, i.e. the rolled-back revision's Deployment
 * (and Service) were pruned and the children that route traffic (the Service,
 * the HTTPRoute) carry the split without it. `depends` lists those children.
 */
export function rollbackInEffect(failed: readonly FailedChild[], depends: readonly FailedChild[]): boolean {
  return !failed.some((f) => depends.some((d) => d.kind === f.kind && d.name === f.name));
}

/**
 * When to tell users about a rollback: only once it is in effect. A rollback
 * decided now, or one decided earlier and still pending (from status), is
 * announced when `inEffect` says so, and otherwise stays pending. A newer
 * decision replaces an older pending one.
 */
export function rollbackNotice(
  decision: RolloutDecision,
  pending: RollbackNotice | undefined,
  inEffect: (revision: string) => boolean,
): { announce?: RollbackNotice; pending?: RollbackNotice } {
  const decided =
    decision.action === 'rolledBack' && decision.failure
      ? {
          revision: decision.failure.revision,
          stable: decision.revisions.stable ?? '',
          reason: decision.failure.reason,
          message: decision.failure.message.slice(0, 32768),
        }
      : undefined;
  const notice = decided ?? pending;
  if (!notice) return {};
  return inEffect(notice.revision) ? { announce: notice } : { pending: notice };
}
