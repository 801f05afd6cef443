// Pure: which runs to start now. Gathers the requests (creation, the
// ymera.io/run annotation, the schedule, Kafka events), drops those already
// acted on, and applies suspend and concurrencyPolicy. Run IDs derive from
// the request, so deciding twice (after a crash between creating Jobs and
// writing status, or a redelivered event) yields the same run, never two.
import { createHash } from 'node:crypto';
import type { TriggerEvent } from '../../operator/kafka/trigger-filter.ts';
import { isRunFinished } from './runs.ts';
import { scheduledRunId, scheduleOutcome } from './schedule.ts';
import type { LearningPipelineRun, LearningPipelineSpec, LearningPipelineStatus } from './schema.ts';
import { MAX_ACTIVE_RUNS, PROMOTE_ANNOTATION, RUN_ANNOTATION } from './schema.ts';

/**
 * Set by a Restore on what it restores (controllers/restore/plan.ts
 * RESTORED_FROM_ANNOTATION, the same string: kept here so this pure module
 * does not import the restore code).
 */
export const RESTORED_FROM_ANNOTATION = 'ymera.io/restored-from-backup';

export type Handled = NonNullable<LearningPipelineStatus['handled']>;

export interface RunRequest {
  id: string;
  trigger: LearningPipelineRun['trigger'];
  cause: string;
  /** The Kafka event behind it, acknowledged once status records the outcome. */
  eventId?: string;
}

export interface RequestInput {
  uid: string;
  spec: Pick<
    LearningPipelineSpec,
    'suspend' | 'schedule' | 'timeZone' | 'startingDeadlineSeconds' | 'concurrencyPolicy'
  >;
  annotations: Record<string, string>;
  handled: Handled | undefined;
  lastScheduleTime: Date | undefined;
  createdAt: Date;
  now: Date;
  /** Matching trigger events not yet acknowledged. */
  events: readonly TriggerEvent[];
  /** The runs in status: a request whose run is among them was acted on already. */
  runs: readonly LearningPipelineRun[];
}

export interface RequestPlan {
  start: RunRequest[];
  /** Active runs to cancel (concurrencyPolicy Replace). */
  cancel: string[];
  /** Requests not started because a run is active (Forbid), with why. */
  skipped: { request: RunRequest; reason: string }[];
  /** Kafka events whose fate this plan decides (acknowledge after status is written). */
  ack: string[];
  handled: Handled;
  lastScheduleTime?: Date;
  /** Scheduled times that will never run (for the schedule-missed metric). */
  missed: number;
  nextScheduleTime?: Date;
}

const hash = (...parts: string[]) =>
  createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 10);

export const creationRunId = (uid: string) => `c-${hash(uid, 'created')}`;
export const manualRunId = (uid: string, value: string) => `m-${hash(uid, 'manual', value)}`;
export const eventRunId = (uid: string, eventId: string) => `e-${hash(uid, 'event', eventId)}`;

export function planRequests(input: RequestInput): RequestPlan {
  const { spec, now } = input;
  const suspended = spec.suspend ?? false;
  const handled: Handled = { ...input.handled };
  const plan: RequestPlan = { start: [], cancel: [], skipped: [], ack: [], handled, missed: 0 };
  let active = input.runs.filter((r) => !isRunFinished(r)).map((r) => r.id);
  const known = new Set(input.runs.map((r) => r.id));

  // Returns whether the request may start now (and records cancellations for Replace).
  const admit = (request: RunRequest): 'start' | 'duplicate' | 'busy' => {
    if (known.has(request.id) || plan.start.some((r) => r.id === request.id)) return 'duplicate';
    const running = active.length + plan.start.length;
    if (running === 0) return 'start';
    switch (spec.concurrencyPolicy ?? 'Forbid') {
      case 'Allow':
        return running < MAX_ACTIVE_RUNS ? 'start' : 'busy';
      case 'Replace':
        plan.cancel.push(...active);
        active = [];
        for (const earlier of plan.start.splice(0)) {
          plan.skipped.push({ request: earlier, reason: `replaced by run ${request.id}` });
        }
        return 'start';
      default:
        return 'busy';
    }
  };
  const busyReason = () =>
    (spec.concurrencyPolicy ?? 'Forbid') === 'Allow'
      ? `${MAX_ACTIVE_RUNS} runs are already active (the most concurrencyPolicy Allow runs at once)`
      : 'a run is active and concurrencyPolicy is Forbid';
  const consider = (request: RunRequest) => {
    const verdict = admit(request);
    if (verdict === 'start') plan.start.push(request);
    else if (verdict === 'busy') plan.skipped.push({ request, reason: busyReason() });
  };

  // 0. restored from a backup: its creation run (and the run and promote annotations it was
  //    backed up with) happened before the backup; acting on them again would retrain and
  //    promote. Later requests work as usual.
  if (!handled.creation && input.annotations[RESTORED_FROM_ANNOTATION] !== undefined) {
    handled.creation = true;
    const run = input.annotations[RUN_ANNOTATION];
    if (run) handled.runRequest = run.slice(0, 256);
    const promote = input.annotations[PROMOTE_ANNOTATION];
    if (promote) handled.promoteRequest = promote.slice(0, 256);
  }

  // 1. creation: once, unless suspended at the time
  if (!handled.creation) {
    handled.creation = true;
    if (!suspended) consider({ id: creationRunId(input.uid), trigger: 'Created', cause: 'pipeline created' });
  }

  // 2. the run annotation: a changed value is one request (also while suspended: it is explicit)
  const requested = input.annotations[RUN_ANNOTATION];
  if (requested !== undefined && requested !== '' && requested !== handled.runRequest) {
    if (input.handled?.creation === undefined && !suspended) {
      // set at creation: the creation run is the run it asks for
    } else {
      consider({
        id: manualRunId(input.uid, requested),
        trigger: 'Manual',
        cause: `annotation ${RUN_ANNOTATION}=${requested}`,
      });
    }
    handled.runRequest = requested.slice(0, 256);
  }

  // 3. the schedule, with CronJob's semantics
  if (spec.schedule) {
    const outcome = scheduleOutcome({
      schedule: spec.schedule,
      timeZone: spec.timeZone,
      since: input.lastScheduleTime ?? input.createdAt,
      now,
      startingDeadlineSeconds: spec.startingDeadlineSeconds,
    });
    if (!suspended && outcome.next) plan.nextScheduleTime = outcome.next;
    if (suspended) {
      // suspended time is not missed time: it is skipped on purpose
      if (outcome.handledUpTo) plan.lastScheduleTime = outcome.handledUpTo;
    } else {
      plan.missed += outcome.missed;
      if (outcome.due) {
        const request: RunRequest = {
          id: scheduledRunId(outcome.due),
          trigger: 'Schedule',
          cause: `scheduled for ${outcome.due.toISOString()}`,
        };
        const verdict = admit(request);
        if (verdict === 'busy') {
          // wait for the active run, as a CronJob does: tried again until superseded or past the deadline
          plan.lastScheduleTime = outcome.heldAt;
        } else {
          if (verdict === 'start') plan.start.push(request);
          plan.lastScheduleTime = outcome.handledUpTo;
        }
      } else if (outcome.handledUpTo) {
        plan.lastScheduleTime = outcome.handledUpTo;
      }
    }
  }

  // 4. Kafka events, oldest first
  for (const event of input.events) {
    plan.ack.push(event.id);
    if (suspended) continue;
    consider({
      id: eventRunId(input.uid, event.id),
      trigger: 'Event',
      cause: event.cause,
      eventId: event.id,
    });
  }
  return plan;
}
