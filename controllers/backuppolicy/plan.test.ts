import { describe, expect, it } from 'vitest';
import { MAX_REQUEUE_MS, pendingToken, planBackup, requeueAfterMs } from './plan.ts';

const at = (s: string) => new Date(s);

describe('planBackup', () => {
  const daily = { schedule: '0 1 * * *', since: at('2026-12-01T12:00:00Z') };

  it('runs nothing before the first fire time and says when it is', () => {
    const plan = planBackup({ ...daily, now: at('2026-12-01T20:00:00Z') });
    expect(plan.run).toBeUndefined();
    expect(plan.next).toEqual(at('2026-12-02T01:00:00Z'));
  });

  it('runs the latest due time only, counting the superseded ones as missed', () => {
    const plan = planBackup({ ...daily, now: at('2026-12-04T02:00:00Z') });
    expect(plan.run).toEqual({ trigger: 'Schedule', scheduledAt: at('2026-12-04T01:00:00Z') });
    expect(plan.missed).toBe(2);
  });

  it('follows timeZone', () => {
    const plan = planBackup({ ...daily, timeZone: 'Europe/Berlin', now: at('2026-12-01T20:00:00Z') });
    expect(plan.next).toEqual(at('2026-12-02T00:00:00Z'));
  });

  it('takes no scheduled backup while suspended, but still an on-demand one', () => {
    const now = at('2026-12-04T02:00:00Z');
    expect(planBackup({ ...daily, suspend: true, now })).toEqual({ missed: 0 });
    expect(planBackup({ ...daily, suspend: true, now, token: 't1' }).run).toEqual({
      trigger: 'OnDemand',
      token: 't1',
    });
  });

  it('acts on a token once: the handled token runs nothing, a new one runs before a due schedule', () => {
    const now = at('2026-12-04T02:00:00Z');
    expect(
      planBackup({ ...daily, since: at('2026-12-04T01:00:00Z'), now, token: 't1', handledToken: 't1' }).run,
    ).toBeUndefined();
    expect(planBackup({ ...daily, now, token: 't2', handledToken: 't1' }).run).toEqual({
      trigger: 'OnDemand',
      token: 't2',
    });
  });
});

describe('pendingToken', () => {
  it('ignores an empty or blank annotation and the handled token', () => {
    expect(pendingToken(undefined, undefined)).toBeUndefined();
    expect(pendingToken('  ', undefined)).toBeUndefined();
    expect(pendingToken('a', 'a')).toBeUndefined();
    expect(pendingToken(' b ', 'a')).toBe('b');
  });
});

describe('requeueAfterMs', () => {
  it('waits until just after the next fire time, at most an hour, at least a second', () => {
    const now = at('2026-12-01T00:59:00Z');
    expect(requeueAfterMs({ missed: 0, next: at('2026-12-01T01:00:00Z') }, now)).toBe(60_500);
    expect(requeueAfterMs({ missed: 0, next: at('2026-12-02T01:00:00Z') }, now)).toBe(MAX_REQUEUE_MS);
    expect(requeueAfterMs({ missed: 0, next: now }, now)).toBe(1000);
    expect(requeueAfterMs({ missed: 0 }, now)).toBeUndefined();
  });
});
