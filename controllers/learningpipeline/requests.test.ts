import { describe, expect, it } from 'vitest';
import type { TriggerEvent } from '../../operator/kafka/trigger-filter.ts';
import type { RequestInput } from './requests.ts';
import { creationRunId, eventRunId, manualRunId, planRequests } from './requests.ts';
import type { LearningPipelineRun } from './schema.ts';

const now = new Date('2026-11-21T10:00:30Z');
const running: LearningPipelineRun = { id: 'm-old', trigger: 'Manual', phase: 'Running' };
const finished: LearningPipelineRun = { id: 'm-done', trigger: 'Manual', phase: 'Succeeded' };
const event = (id: string): TriggerEvent => ({
  id,
  topic: 't',
  partition: 0,
  offset: '1',
  cause: `event ${id}`,
});

function input(over: Partial<RequestInput> = {}): RequestInput {
  return {
    uid: 'uid-1',
    spec: { concurrencyPolicy: 'Forbid' },
    annotations: {},
    handled: { creation: true },
    lastScheduleTime: undefined,
    createdAt: new Date('2026-11-21T09:00:00Z'),
    now,
    events: [],
    runs: [],
    ...over,
  };
}

describe('planRequests', () => {
  it('starts one run on creation, with an ID that is the same every time', () => {
    const plan = planRequests(input({ handled: undefined }));
    expect(plan.start).toEqual([
      { id: creationRunId('uid-1'), trigger: 'Created', cause: 'pipeline created' },
    ]);
    expect(plan.handled.creation).toBe(true);
    expect(planRequests(input({ handled: undefined })).start[0]?.id).toBe(plan.start[0]?.id);
    expect(creationRunId('uid-2')).not.toBe(plan.start[0]?.id);
  });

  it('does not start on creation when suspended, and never again afterwards', () => {
    const plan = planRequests(input({ handled: undefined, spec: { suspend: true } }));
    expect(plan.start).toEqual([]);
    expect(plan.handled.creation).toBe(true);
  });

  it('starts no creation run for a pipeline restored from a backup, nor the run and promote it was backed up with; later requests run', () => {
    const restored = {
      'ymera.io/restored-from-backup': '20261204T194745Z-0a1b2c3d',
      'ymera.io/run': 'before-backup',
      'ymera.io/promote': 'v3',
    };
    const plan = planRequests(input({ handled: undefined, annotations: restored }));
    expect(plan.start).toEqual([]);
    expect(plan.handled).toEqual({ creation: true, runRequest: 'before-backup', promoteRequest: 'v3' });
    const later = planRequests(
      input({ handled: plan.handled, annotations: { ...restored, 'ymera.io/run': 'after-restore' } }),
    );
    expect(later.start.map((r) => r.id)).toEqual([manualRunId('uid-1', 'after-restore')]);
    // the annotation matters only at creation: a pipeline labelled later is not held back
    const existing = planRequests(
      input({ annotations: { ...restored, 'ymera.io/run': 'again' }, handled: { creation: true } }),
    );
    expect(existing.start.map((r) => r.trigger)).toEqual(['Manual']);
  });

  it('treats an annotation present at creation as the creation run', () => {
    const plan = planRequests(input({ handled: undefined, annotations: { 'ymera.io/run': 'now' } }));
    expect(plan.start.map((r) => r.trigger)).toEqual(['Created']);
    expect(plan.handled.runRequest).toBe('now');
  });

  it('starts a run for each new value of ymera.io/run, even while suspended, and none for a value already handled', () => {
    const first = planRequests(
      input({ annotations: { 'ymera.io/run': '2026-11-21T10:00' }, spec: { suspend: true } }),
    );
    expect(first.start).toEqual([
      {
        id: manualRunId('uid-1', '2026-11-21T10:00'),
        trigger: 'Manual',
        cause: 'annotation ymera.io/run=2026-11-21T10:00',
      },
    ]);
    const same = planRequests(
      input({ annotations: { 'ymera.io/run': '2026-11-21T10:00' }, handled: first.handled }),
    );
    expect(same.start).toEqual([]);
  });

  it('under Forbid skips a request while a run is active (and says why)', () => {
    const plan = planRequests(input({ annotations: { 'ymera.io/run': 'x' }, runs: [running] }));
    expect(plan.start).toEqual([]);
    expect(plan.skipped[0]?.reason).toMatch(/Forbid/);
    expect(plan.handled.runRequest).toBe('x');
  });

  it('under Replace cancels the active run and starts the new one', () => {
    const plan = planRequests(
      input({
        annotations: { 'ymera.io/run': 'x' },
        runs: [running, finished],
        spec: { concurrencyPolicy: 'Replace' },
      }),
    );
    expect(plan.cancel).toEqual(['m-old']);
    expect(plan.start).toHaveLength(1);
  });

  it('under Allow runs side by side up to the cap', () => {
    const many = Array.from({ length: 5 }, (_, i) => ({ ...running, id: `m-${i}` }));
    expect(
      planRequests(
        input({
          annotations: { 'ymera.io/run': 'x' },
          runs: [running],
          spec: { concurrencyPolicy: 'Allow' },
        }),
      ).start,
    ).toHaveLength(1);
    const capped = planRequests(
      input({ annotations: { 'ymera.io/run': 'x' }, runs: many, spec: { concurrencyPolicy: 'Allow' } }),
    );
    expect(capped.start).toEqual([]);
    expect(capped.skipped[0]?.reason).toMatch(/5 runs are already active/);
  });

  it('starts the due scheduled run and records it as handled', () => {
    const plan = planRequests(input({ spec: { schedule: '0 * * * *' } }));
    expect(plan.start).toEqual([
      { id: 's-202611211000', trigger: 'Schedule', cause: 'scheduled for 2026-11-21T10:00:00.000Z' },
    ]);
    expect(plan.lastScheduleTime?.toISOString()).toBe('2026-11-21T10:00:00.000Z');
    expect(plan.nextScheduleTime?.toISOString()).toBe('2026-11-21T11:00:00.000Z');
    expect(plan.missed).toBe(0);
  });

  it('holds a due scheduled run while another is active under Forbid, as a CronJob does', () => {
    const plan = planRequests(input({ spec: { schedule: '0 * * * *' }, runs: [running] }));
    expect(plan.start).toEqual([]);
    expect(plan.skipped).toEqual([]);
    // the due time stays due: lastScheduleTime stays before it
    expect(plan.lastScheduleTime?.getTime()).toBeLessThan(new Date('2026-11-21T10:00:00Z').getTime());
  });

  it('counts scheduled times past the deadline as missed', () => {
    const plan = planRequests(
      input({
        spec: { schedule: '0 * * * *', startingDeadlineSeconds: 10 },
        lastScheduleTime: new Date('2026-11-21T08:00:00Z'),
      }),
    );
    expect(plan.start).toEqual([]);
    expect(plan.missed).toBe(2); // 09:00 superseded, 10:00 past its 10s deadline
  });

  it('does not count suspended time as missed and names no next time while suspended', () => {
    const plan = planRequests(
      input({
        spec: { schedule: '0 * * * *', suspend: true },
        lastScheduleTime: new Date('2026-11-21T07:00:00Z'),
      }),
    );
    expect(plan.missed).toBe(0);
    expect(plan.start).toEqual([]);
    expect(plan.nextScheduleTime).toBeUndefined();
    expect(plan.lastScheduleTime?.toISOString()).toBe('2026-11-21T10:00:00.000Z');
  });

  it('starts one run per new event and acknowledges every event it decided on', () => {
    const plan = planRequests(
      input({ events: [event('a'), event('b')], spec: { concurrencyPolicy: 'Allow' } }),
    );
    expect(plan.start.map((r) => r.id)).toEqual([eventRunId('uid-1', 'a'), eventRunId('uid-1', 'b')]);
    expect(plan.start[0]?.eventId).toBe('a');
    expect(plan.ack).toEqual(['a', 'b']);
  });

  it('never starts two runs for one event: a redelivered event maps to the run it started', () => {
    const id = eventRunId('uid-1', 'a');
    const plan = planRequests(input({ events: [event('a')], runs: [{ ...running, id }] }));
    expect(plan.start).toEqual([]);
    expect(plan.skipped).toEqual([]);
    expect(plan.ack).toEqual(['a']);
  });

  it('drops events while suspended (acknowledged, no run)', () => {
    const plan = planRequests(input({ events: [event('a')], spec: { suspend: true } }));
    expect(plan.start).toEqual([]);
    expect(plan.ack).toEqual(['a']);
  });
});
