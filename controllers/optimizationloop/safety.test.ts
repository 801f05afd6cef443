import { describe, expect, it } from 'vitest';
import type { ChangeRequest } from './safety.ts';
import {
  checkChange,
  notDuringCanary,
  recentChanges,
  windowsState,
  withinBounds,
  withinBudget,
  withinStep,
  withinWindow,
} from './safety.ts';
import type { OptimizationLoopSpec } from './schema.ts';

const spec: Pick<OptimizationLoopSpec, 'parameters' | 'safety'> = {
  parameters: [
    { path: 'spec.batching.maxBatchSize', min: 4, max: 64, step: 4 }, // 16 values: 25% = 3 steps = 12
    { path: 'spec.batching.maxDelayMs', values: [1, 2, 5, 10, 20] }, // 25% = 1 position
  ],
  safety: { maxStepPercent: 25, maxChangesPerHour: 2 },
};
const now = new Date('2026-12-07T10:00:00Z'); // a Monday
const req = (over: Partial<ChangeRequest> = {}): ChangeRequest => ({
  from: { 'spec.batching.maxBatchSize': 16, 'spec.batching.maxDelayMs': 5 },
  to: { 'spec.batching.maxBatchSize': 28, 'spec.batching.maxDelayMs': 10 },
  now,
  changes: [],
  canary: false,
  ...over,
});
const to = (size: number, delay = 5) => ({
  'spec.batching.maxBatchSize': size,
  'spec.batching.maxDelayMs': delay,
});

describe('safety policies, each alone', () => {
  it('withinBounds: only values of the range grid or the value list', () => {
    expect(withinBounds(spec, req())).toBeUndefined();
    expect(withinBounds(spec, req({ to: to(68) }))).toEqual({
      reason: 'OutOfBounds',
      message: 'spec.batching.maxBatchSize=68 is outside the allowed values (min 4, max 64, step 4)',
    });
    expect(withinBounds(spec, req({ to: to(10) }))?.reason).toBe('OutOfBounds'); // off the step grid
    expect(withinBounds(spec, req({ to: to(16, 3) }))?.message).toBe(
      'spec.batching.maxDelayMs=3 is outside the allowed values (one of 1, 2, 5, 10, 20)',
    );
    expect(withinBounds(spec, req({ to: { 'spec.batching.maxBatchSize': 16 } }))?.message).toBe(
      'spec.batching.maxDelayMs has no value in the proposed change',
    );
  });

  it('withinStep: at most maxStepPercent of the range (or of the value list) per trial', () => {
    expect(withinStep(spec, req())).toBeUndefined(); // +12 and one position
    expect(withinStep(spec, req({ to: to(32) }))).toEqual({
      reason: 'StepTooLarge',
      message:
        'spec.batching.maxBatchSize would move from 16 to 32, more than maxStepPercent (25%) of its range',
    });
    expect(withinStep(spec, req({ to: to(16, 20) }))?.reason).toBe('StepTooLarge'); // two positions
    expect(withinStep({ ...spec, safety: { maxStepPercent: 100 } }, req({ to: to(64, 20) }))).toBeUndefined();
  });

  it('notDuringCanary', () => {
    expect(notDuringCanary(spec, req())).toBeUndefined();
    expect(notDuringCanary(spec, req({ canary: true }))?.reason).toBe('CanaryInProgress');
  });

  it('withinWindow: open inside a window (in its time zone), else says when the next opens', () => {
    const weekdays = {
      ...spec,
      safety: { windows: [{ schedule: '0 9 * * 1-5', timeZone: 'Europe/Berlin', duration: '8h' }] },
    };
    // 10:00 UTC = 11:00 Berlin on a Monday: open; 16:30 UTC = 17:30 Berlin: closed until Tuesday 09:00 Berlin
    expect(withinWindow(weekdays, req())).toBeUndefined();
    expect(withinWindow(weekdays, req({ now: new Date('2026-12-07T16:30:00Z') }))).toEqual({
      reason: 'OutsideWindow',
      message: 'no window is open; the next opens at 2026-12-08T08:00:00.000Z',
      retryAt: new Date('2026-12-08T08:00:00Z'),
    });
    expect(withinWindow(spec, req({ now: new Date('2026-12-06T03:00:00Z') }))).toBeUndefined(); // no windows: any time
  });

  it('windowsState: any of several windows', () => {
    const windows = [
      { schedule: '0 2 * * *', duration: '1h' },
      { schedule: '0 9 * * *', duration: '2h' },
    ];
    expect(windowsState(windows, new Date('2026-12-07T02:30:00Z')).open).toBe(true);
    expect(windowsState(windows, new Date('2026-12-07T10:59:00Z')).open).toBe(true);
    expect(windowsState(windows, new Date('2026-12-07T11:00:00Z'))).toEqual({
      open: false,
      next: new Date('2026-12-08T02:00:00Z'),
    });
  });

  it('withinBudget: changes in the last rolling hour against maxChangesPerHour', () => {
    expect(withinBudget(spec, req({ changes: ['2026-12-07T09:30:00Z'] }))).toBeUndefined();
    expect(
      withinBudget(spec, req({ changes: ['2026-12-07T08:30:00Z', '2026-12-07T09:30:00Z'] })),
    ).toBeUndefined();
    expect(withinBudget(spec, req({ changes: ['2026-12-07T09:40:00Z', '2026-12-07T09:10:00Z'] }))).toEqual({
      reason: 'ChangeBudgetExhausted',
      message:
        '2 changes in the last hour, the budget is 2 (maxChangesPerHour); next change at 2026-12-07T10:10:00.000Z',
      retryAt: new Date('2026-12-07T10:10:00Z'),
    });
  });

  it('recentChanges keeps the last hour, sorted, and drops garbage', () => {
    expect(
      recentChanges(['2026-12-07T09:40:00Z', 'x', '2026-12-07T08:59:59Z', '2026-12-07T09:10:00Z'], now),
    ).toEqual(['2026-12-07T09:10:00Z', '2026-12-07T09:40:00Z']);
  });
});

describe('checkChange', () => {
  it('returns the first refusal of the chain (what is wrong with the change before when it may happen)', () => {
    const busy = req({ to: to(68), canary: true, changes: ['2026-12-07T09:40:00Z', '2026-12-07T09:50:00Z'] });
    expect(checkChange(spec, busy)?.reason).toBe('OutOfBounds');
    expect(checkChange(spec, { ...busy, to: to(20) })?.reason).toBe('CanaryInProgress');
    expect(checkChange(spec, { ...busy, to: to(20), canary: false })?.reason).toBe('ChangeBudgetExhausted');
    expect(checkChange(spec, req())).toBeUndefined();
  });
});
