import { describe, expect, it } from 'vitest';
import { scheduledRunId, scheduleOutcome } from './schedule.ts';

const d = (s: string) => new Date(s);
const iso = (x: Date | undefined) => x?.toISOString();

describe('scheduleOutcome', () => {
  it('has nothing due before the first time, and names the next one', () => {
    const o = scheduleOutcome({
      schedule: '0 2 * * *',
      since: d('2026-11-20T10:00:00Z'),
      now: d('2026-11-21T01:00:00Z'),
    });
    expect(o.due).toBeUndefined();
    expect(o.missed).toBe(0);
    expect(iso(o.next)).toBe('2026-11-21T02:00:00.000Z');
  });

  it('makes a time due once it has passed, and only once', () => {
    const o = scheduleOutcome({
      schedule: '0 2 * * *',
      since: d('2026-11-20T10:00:00Z'),
      now: d('2026-11-21T02:00:30Z'),
    });
    expect(iso(o.due)).toBe('2026-11-21T02:00:00.000Z');
    expect(iso(o.handledUpTo)).toBe('2026-11-21T02:00:00.000Z');
    expect(iso(o.next)).toBe('2026-11-22T02:00:00.000Z');
    const again = scheduleOutcome({
      schedule: '0 2 * * *',
      since: o.handledUpTo!,
      now: d('2026-11-21T02:01:00Z'),
    });
    expect(again.due).toBeUndefined();
  });

  it('starts only the latest of several missed times and counts the others', () => {
    const o = scheduleOutcome({
      schedule: '0 * * * *',
      since: d('2026-11-21T00:00:00Z'),
      now: d('2026-11-21T05:10:00Z'),
    });
    expect(iso(o.due)).toBe('2026-11-21T05:00:00.000Z');
    expect(o.missed).toBe(4);
    expect(iso(o.heldAt)).toBe('2026-11-21T04:00:00.000Z');
  });

  it('counts a time older than startingDeadlineSeconds as missed instead of starting it', () => {
    const base = { schedule: '0 * * * *', since: d('2026-11-21T04:30:00Z'), startingDeadlineSeconds: 300 };
    expect(iso(scheduleOutcome({ ...base, now: d('2026-11-21T05:04:00Z') }).due)).toBe(
      '2026-11-21T05:00:00.000Z',
    );
    const late = scheduleOutcome({ ...base, now: d('2026-11-21T05:06:00Z') });
    expect(late.due).toBeUndefined();
    expect(late.missed).toBe(1);
    expect(iso(late.handledUpTo)).toBe('2026-11-21T05:00:00.000Z');
  });

  it('reads the schedule in the time zone, across a DST change', () => {
    // 02:30 Europe/Berlin: CET (+01:00) before 2026-10-25, CEST (+02:00) the day before
    const tz = { schedule: '30 2 * * *', timeZone: 'Europe/Berlin' };
    const summer = scheduleOutcome({
      ...tz,
      since: d('2026-10-23T12:00:00Z'),
      now: d('2026-10-24T01:00:00Z'),
    });
    expect(iso(summer.due)).toBe('2026-10-24T00:30:00.000Z');
    const winter = scheduleOutcome({
      ...tz,
      since: d('2026-10-25T12:00:00Z'),
      now: d('2026-10-26T02:00:00Z'),
    });
    expect(iso(winter.due)).toBe('2026-10-26T01:30:00.000Z');
  });

  it('does not walk years of minutes one by one', () => {
    const o = scheduleOutcome({
      schedule: '* * * * *',
      since: d('2024-01-01T00:00:00Z'),
      now: d('2026-11-21T00:00:30Z'),
    });
    expect(iso(o.due)).toBe('2026-11-21T00:00:00.000Z');
    expect(o.missed).toBeGreaterThanOrEqual(1000);
  });

  it('names scheduled runs by their UTC minute', () => {
    expect(scheduledRunId(d('2026-11-21T02:00:00Z'))).toBe('s-202611210200');
  });
});
