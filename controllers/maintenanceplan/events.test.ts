import { describe, expect, it } from 'vitest';
import { toCloudEvent } from '../../operator/kafka/events.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { MaintenanceEventType, massFlagEvent, nodeAtRiskEvent, planEvents, stepEvents } from './events.ts';
import type { ScheduledEntry } from './planner.ts';
import { crd } from './schema.ts';
import type { Evaluated } from './status.ts';

const resource = resourceTypeOf(crd);
const plan = { metadata: { name: 'gpu-fleet', uid: 'u-1' } };
const now = new Date('2026-12-05T02:10:00Z');
const ce = (e: Parameters<typeof toCloudEvent>[0]) => toCloudEvent(e, now);

const scored = (over: Partial<Evaluated> = {}): Evaluated =>
  ({
    node: 'gpu-1',
    state: 'Scored',
    risk: 0.93,
    topSignals: [{ signal: 'xid_errors', contribution: 0.41 }],
    consecutive: 3,
    atRisk: true,
    becameAtRisk: true,
    ...over,
  }) as Evaluated;

const entry = (over: Partial<ScheduledEntry> = {}): ScheduledEntry => ({
  node: 'gpu-1',
  id: 'gpu-1@20261205T021000',
  risk: 0.93,
  actions: ['Cordon', 'Drain', 'Uncordon'],
  state: 'Scheduled',
  windowStart: '2026-12-05T02:00:00Z',
  ...over,
});

describe('nodeAtRiskEvent', () => {
  it('is a node.atrisk CloudEvent of the cluster-scoped plan with the risk and the signals behind it', () => {
    const e = nodeAtRiskEvent(resource, plan, scored(), { threshold: 0.8, consecutive: 3 }, now);
    expect(ce(e!)).toMatchObject({
      type: 'io.ymera.maintenanceplan.node.atrisk',
      source: '/apis/ymera.io/v1alpha1/maintenanceplans/gpu-fleet',
      subject: 'gpu-fleet',
      time: '2026-12-05T02:10:00.000Z',
      data: {
        node: 'gpu-1',
        risk: 0.93,
        threshold: 0.8,
        consecutive: 3,
        topSignals: [{ signal: 'xid_errors', contribution: 0.41 }],
      },
    });
  });

  it('is only sent on the evaluation that crosses the threshold', () => {
    const settings = { threshold: 0.8, consecutive: 3 };
    expect(nodeAtRiskEvent(resource, plan, scored({ becameAtRisk: false }), settings, now)).toBeUndefined();
  });
});

describe('planEvents', () => {
  it('tells a newly scheduled maintenance once, with its id, and its start once', () => {
    const first = planEvents(resource, plan, [], [entry()], now).map(ce);
    expect(first.map((e) => e.type)).toEqual(['io.ymera.maintenanceplan.maintenance.scheduled']);
    expect(first[0]?.data).toEqual({
      node: 'gpu-1',
      id: 'gpu-1@20261205T021000',
      risk: 0.93,
      actions: ['Cordon', 'Drain', 'Uncordon'],
      windowStart: '2026-12-05T02:00:00Z',
      state: 'Scheduled',
    });
    // the next evaluation: the same entry again says nothing
    expect(planEvents(resource, plan, [entry()], [entry()], now)).toEqual([]);
    const started = entry({ state: 'InProgress', startTime: '2026-12-05T02:11:00Z' });
    const second = planEvents(resource, plan, [entry()], [started], now).map(ce);
    expect(second.map((e) => e.type)).toEqual(['io.ymera.maintenanceplan.maintenance.started']);
    expect(second[0]).toMatchObject({
      time: '2026-12-05T02:11:00.000Z',
      data: { startTime: started.startTime },
    });
    expect(planEvents(resource, plan, [started], [started], now)).toEqual([]);
  });

  it('gives the same event id to the same fact (a re-send after a restart) and another to another maintenance', () => {
    const id = (e: ScheduledEntry) => ce(planEvents(resource, plan, [], [e], now)[0]!).id;
    expect(id(entry())).toBe(id(entry()));
    expect(id(entry())).not.toBe(id(entry({ id: 'gpu-1@20261212T021000' })));
  });
});

describe('stepEvents', () => {
  const running = entry({ state: 'InProgress', startTime: '2026-12-05T02:11:00Z' });

  it('tells the cordon, the drain and the completion with what status.history says', () => {
    const events = stepEvents(
      resource,
      plan,
      running,
      {
        actions: [
          { action: 'cordon', result: 'success' },
          { action: 'drain', result: 'success' },
          { action: 'uncordon', result: 'success' },
        ],
        finished: {
          node: 'gpu-1',
          startTime: '2026-12-05T02:11:00Z',
          completionTime: '2026-12-05T02:15:00Z',
          result: 'Succeeded',
          risk: 0.93,
          message: 'drained; uncordoned',
        },
      },
      now,
    ).map(ce);
    expect(events.map((e) => e.type.replace('io.ymera.maintenanceplan.', ''))).toEqual([
      'maintenance.cordoned',
      'maintenance.drained',
      'maintenance.completed',
    ]);
    expect(events[2]).toMatchObject({
      time: '2026-12-05T02:15:00.000Z',
      data: {
        node: 'gpu-1',
        id: running.id,
        result: 'Succeeded',
        uncordoned: true,
        message: 'drained; uncordoned',
      },
    });
    expect(events[2]?.data).not.toHaveProperty('reason');
  });

  it('tells an aborted maintenance and whether the drain timed out', () => {
    const finished = {
      node: 'gpu-1',
      startTime: '2026-12-05T02:11:00Z',
      completionTime: '2026-12-05T02:16:00Z',
      result: 'Failed' as const,
      message: 'drain timed out after 300s with pods left: web/a; uncordoned',
    };
    const [timedOut] = stepEvents(
      resource,
      plan,
      running,
      {
        actions: [
          { action: 'drain', result: 'timeout' },
          { action: 'uncordon', result: 'success' },
        ],
        finished,
      },
      now,
    ).map(ce);
    expect(timedOut).toMatchObject({
      type: `io.ymera.maintenanceplan.${MaintenanceEventType.Aborted}`,
      data: { result: 'Failed', reason: 'DrainTimeout', uncordoned: true },
    });
    const [gone] = stepEvents(
      resource,
      plan,
      running,
      {
        actions: [{ action: 'drain', result: 'failure' }],
        finished: { ...finished, message: 'the node is gone' },
      },
      now,
    ).map(ce);
    expect(gone?.data).toMatchObject({ reason: 'Failed', uncordoned: false });
  });

  it('says nothing for a step that only evicted (a 429 retried)', () => {
    expect(
      stepEvents(
        resource,
        plan,
        running,
        { actions: [{ action: 'evict', result: 'failure', count: 2 }] },
        now,
      ),
    ).toEqual([]);
  });
});

describe('massFlagEvent', () => {
  it('tells how many selected nodes were flagged and why nothing starts', () => {
    const e = ce(massFlagEvent(resource, plan, { flagged: 4, selected: 10, message: '4 of 10 ...' }, now));
    expect(e).toMatchObject({
      type: 'io.ymera.maintenanceplan.massflag.stopped',
      data: { flagged: 4, selected: 10, message: '4 of 10 ...' },
    });
  });
});
