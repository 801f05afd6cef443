// Pure: the longest gap between two fire times of a cron schedule, which
// the generated alert doubles ("no Completed backup within twice the
// schedule interval"). Irregular schedules (weekdays only, the 1st of the
// month, February 29th) are judged by their longest gap, so the alert never
// fires during a gap the schedule itself leaves.
import { Cron } from 'croner';

// A fixed start, so the same schedule always gives the same interval (the
// rules do not change from one reconcile to the next): a Monday at 00:00 UTC.
const REFERENCE = new Date('2024-01-01T00:00:00Z');
// A year covers weekly and monthly patterns and both daylight-saving changes;
// a sparse schedule (under 100 fire times a year) is followed for 8 years, so
// leap days count (February 29th fires every 4 years, sometimes 8).
const YEAR_MS = 366 * 24 * 3600_000;
const MAX_SPAN_MS = 8 * YEAR_MS;
const SPARSE = 100;
// bounds the walk of a minutely schedule (8 days of it, past a weekend; computed once per schedule)
const MAX_FIRES = 12_000;

const cache = new Map<string, number | undefined>();
const CACHE_LIMIT = 512;

/** Seconds of the longest gap between fire times, or undefined when the schedule fires less than twice. */
export function scheduleIntervalSeconds(schedule: string, timeZone?: string): number | undefined {
  const key = `${schedule}\u0000${timeZone ?? ''}`;
  if (cache.has(key)) return cache.get(key);
  const value = compute(schedule, timeZone);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(key, value);
  return value;
}

function compute(schedule: string, timeZone: string | undefined): number | undefined {
  const cron = new Cron(schedule, { paused: true, ...(timeZone ? { timezone: timeZone } : {}) });
  try {
    const first = cron.nextRun(REFERENCE);
    if (!first) return undefined;
    let previous = first;
    let longest = 0;
    let fires = 1;
    for (;;) {
      const next = cron.nextRun(previous);
      if (!next) break;
      longest = Math.max(longest, next.getTime() - previous.getTime());
      previous = next;
      fires++;
      const span = previous.getTime() - first.getTime();
      if ((span >= YEAR_MS && fires >= SPARSE) || span >= MAX_SPAN_MS || fires >= MAX_FIRES) break;
    }
    return fires >= 2 ? Math.round(longest / 1000) : undefined;
  } finally {
    cron.stop();
  }
}
