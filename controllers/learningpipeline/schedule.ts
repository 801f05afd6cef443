// Pure: which scheduled time (if any) is due now, with CronJob's semantics:
// only the most recent missed time is started; older ones, and one older
// than startingDeadlineSeconds, count as missed. Time zones through croner.
import { Cron } from 'croner';

export interface ScheduleInput {
  schedule: string;
  timeZone?: string;
  /** Scheduled times at or before this were handled (lastScheduleTime, else the creation time). */
  since: Date;
  now: Date;
  startingDeadlineSeconds?: number;
}

export interface ScheduleOutcome {
  /** The scheduled time to start a run for now. */
  due?: Date;
  /** Scheduled times that will never get their run (superseded by a later one, or past the deadline). */
  missed: number;
  /**
   * What lastScheduleTime becomes: the latest time whose fate is decided.
   * When `due` cannot start yet (concurrencyPolicy Forbid), store `heldAt`
   * instead so the due time is tried again and the misses are not counted twice.
   */
  handledUpTo?: Date;
  heldAt?: Date;
  /** The next scheduled time after now. */
  next?: Date;
}

// after this many, the rest are counted without being enumerated (a pipeline suspended for months)
const MAX_ENUMERATED = 1000;

export function scheduleOutcome(input: ScheduleInput): ScheduleOutcome {
  const cron = new Cron(input.schedule, { paused: true, timezone: input.timeZone });
  try {
    const next = cron.nextRun(input.now) ?? undefined;
    const times: Date[] = [];
    let cursor: Date | null = cron.nextRun(input.since);
    while (cursor && cursor.getTime() <= input.now.getTime() && times.length < MAX_ENUMERATED) {
      times.push(cursor);
      cursor = cron.nextRun(cursor);
    }
    if (cursor && cursor.getTime() <= input.now.getTime()) {
      // too many to walk: jump to the latest one and count the rest as missed
      const latest = cron.previousRuns(1, input.now)[0];
      if (latest) times.push(latest);
    }
    const latest = times.at(-1);
    if (!latest) return { missed: 0, ...(next ? { next } : {}) };
    let missed = times.length - 1;
    const late = (input.now.getTime() - latest.getTime()) / 1000;
    const deadline = input.startingDeadlineSeconds;
    const base = { handledUpTo: latest, ...(next ? { next } : {}) };
    if (deadline !== undefined && late > deadline) {
      missed += 1;
      return { ...base, missed };
    }
    return { ...base, missed, due: latest, heldAt: times.at(-2) ?? input.since };
  } finally {
    cron.stop();
  }
}

/** Run ID of a scheduled run: the scheduled minute in UTC, e.g. s-202611210200. */
export function scheduledRunId(time: Date): string {
  return `s-${time.toISOString().slice(0, 16).replace(/[-T:]/g, '')}`;
}
