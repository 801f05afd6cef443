// Pure: whether a backup is due now, and when to look again. Scheduled
// backups follow CronJob's semantics through the LearningPipeline schedule
// code (only the latest missed time runs); the reconcile is requeued for the
// next fire time instead of polling. An on-demand token (the
// ymera.io/backup-now annotation) is acted on once: status records the
// token only after its backup completed, so a restart or a failure retries
// it and an unchanged token never runs twice.
import { scheduleOutcome } from '../learningpipeline/schedule.ts';

export type PlanInput = {
  schedule: string;
  timeZone?: string | undefined;
  suspend?: boolean | undefined;
  /** The ymera.io/backup-now annotation's value. */
  token?: string | undefined;
  /** status.backupNowToken: the token last acted on. */
  handledToken?: string | undefined;
  /** status.lastScheduleTime, else the policy's creation time. */
  since: Date;
  now: Date;
};

export type Run = { trigger: 'OnDemand'; token: string } | { trigger: 'Schedule'; scheduledAt: Date };

export type Plan = {
  run?: Run;
  /** The next scheduled time after now (absent while suspended). */
  next?: Date;
  /** Scheduled times superseded by a later one (never run). */
  missed: number;
};

/** The longest requeue: timers that far out are re-armed (and a clock jump noticed) at least this often. */
export const MAX_REQUEUE_MS = 60 * 60_000;

export function pendingToken(token: string | undefined, handled: string | undefined): string | undefined {
  const t = token?.trim();
  return t && t !== handled ? t : undefined;
}

export function planBackup(input: PlanInput): Plan {
  const token = pendingToken(input.token, input.handledToken);
  if (input.suspend) return { missed: 0, ...(token ? { run: { trigger: 'OnDemand', token } } : {}) };
  const outcome = scheduleOutcome({
    schedule: input.schedule,
    since: input.since,
    now: input.now,
    ...(input.timeZone ? { timeZone: input.timeZone } : {}),
  });
  const next = outcome.next ? { next: outcome.next } : {};
  // on demand first: the scheduled one (still due: lastScheduleTime did not move) runs right after
  if (token) return { run: { trigger: 'OnDemand', token }, missed: 0, ...next };
  if (outcome.due)
    return { run: { trigger: 'Schedule', scheduledAt: outcome.due }, missed: outcome.missed, ...next };
  return { missed: outcome.missed, ...next };
}

/** How long to wait before looking again: until the next fire time, capped. */
export function requeueAfterMs(plan: Plan, now: Date): number | undefined {
  if (!plan.next) return undefined;
  return untilMs(plan.next, now);
}

/** Milliseconds until `next` (just past it), at least 1 s, at most MAX_REQUEUE_MS. */
export function untilMs(next: Date, now: Date): number {
  return Math.min(MAX_REQUEUE_MS, Math.max(1000, next.getTime() - now.getTime() + 500));
}
