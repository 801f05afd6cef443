import { describe, expect, it } from 'vitest';
import { scheduleIntervalSeconds } from './interval.ts';

describe('scheduleIntervalSeconds', () => {
  it('is the period of a regular schedule', () => {
    expect(scheduleIntervalSeconds('* * * * *')).toBe(60);
    expect(scheduleIntervalSeconds('*/15 * * * *')).toBe(900);
    expect(scheduleIntervalSeconds('0 1 * * *')).toBe(86_400);
    expect(scheduleIntervalSeconds('@hourly')).toBe(3600);
    expect(scheduleIntervalSeconds('0 4 * * 0')).toBe(7 * 86_400);
  });

  it('is the longest gap of an irregular one', () => {
    // weekdays at 01:00: Friday to Monday
    expect(scheduleIntervalSeconds('0 1 * * 1-5')).toBe(3 * 86_400);
    // 09:00 and 17:00: 16 hours overnight
    expect(scheduleIntervalSeconds('0 9,17 * * *')).toBe(16 * 3600);
    // the 1st of each month: 31 days at most
    expect(scheduleIntervalSeconds('0 0 1 * *')).toBe(31 * 86_400);
    // once a year: 366 days in a leap year
    expect(scheduleIntervalSeconds('0 0 1 1 *')).toBe(366 * 86_400);
    // February 29th: every 4 years
    expect(scheduleIntervalSeconds('0 0 29 2 *')).toBe((3 * 365 + 366) * 86_400);
  });

  it('counts a daylight-saving change in the time zone (a day of 25 hours)', () => {
    expect(scheduleIntervalSeconds('30 2 * * *', 'Europe/Berlin')).toBeGreaterThanOrEqual(86_400);
    expect(scheduleIntervalSeconds('0 12 * * *', 'America/New_York')).toBe(25 * 3600);
  });
});
