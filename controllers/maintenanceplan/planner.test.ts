import { describe, expect, it } from 'vitest';
import type { PlanInput, ScheduledEntry } from './planner.ts';
import { approvedIds, maintenanceId, maxUnavailableCount, planMaintenance, windowState } from './planner.ts';

const now = new Date('2026-12-05T02:10:00Z');
const nodes = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10'];

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    now,
    selected: nodes,
    atRisk: [],
    massFlag: false,
    // Saturdays 02:00 UTC for an hour: 2026-12-05 is a Saturday, so open now
    window: { schedule: '0 2 * * 6', timeZone: 'UTC', durationMinutes: 60 },
    maxUnavailable: 1,
    cooldownMinutes: 60,
    approval: 'Auto',
    approveAnnotation: undefined,
    suspend: false,
    actions: ['Cordon', 'Drain', 'Uncordon'],
    scheduled: [],
    history: [],
    ...over,
  };
}

const running = (node: string): ScheduledEntry => ({
  node,
  id: maintenanceId(node, new Date('2026-12-05T02:00:00Z')),
  actions: ['Cordon', 'Drain', 'Uncordon'],
  state: 'InProgress',
  startTime: '2026-12-05T02:00:00Z',
  progress: 'Draining',
});

describe('windowState', () => {
  it('is open from the cron time for durationMinutes, and names the next start', () => {
    const w = { schedule: '0 2 * * 6', timeZone: 'UTC', durationMinutes: 60 };
    expect(windowState(w, now)).toEqual({
      open: true,
      start: new Date('2026-12-05T02:00:00Z'),
      end: new Date('2026-12-05T03:00:00Z'),
      next: new Date('2026-12-12T02:00:00Z'),
    });
    expect(windowState(w, new Date('2026-12-05T03:00:00Z')).open).toBe(false);
    expect(windowState(w, new Date('2026-12-05T02:00:00Z')).open).toBe(true);
    expect(windowState(w, new Date('2026-12-05T01:59:59Z'))).toEqual({
      open: false,
      next: new Date('2026-12-05T02:00:00Z'),
    });
  });

  it('reads the schedule in its time zone', () => {
    // 02:00 in Berlin (UTC+1 in December) is 01:00 UTC
    const w = { schedule: '0 2 * * *', timeZone: 'Europe/Berlin', durationMinutes: 30 };
    expect(windowState(w, new Date('2026-12-05T01:10:00Z')).open).toBe(true);
    expect(windowState(w, new Date('2026-12-05T02:10:00Z')).open).toBe(false);
  });

  it('an every-minute schedule whose duration covers now is open (the e2e window)', () => {
    expect(windowState({ schedule: '* * * * *', durationMinutes: 5 }, new Date()).open).toBe(true);
  });
});

describe('maxUnavailableCount', () => {
  it('takes a count as is and a percentage of the selected nodes rounded down, at least 1', () => {
    expect(maxUnavailableCount(2, 10)).toBe(2);
    expect(maxUnavailableCount('20%', 10)).toBe(2);
    expect(maxUnavailableCount('25%', 10)).toBe(2);
    expect(maxUnavailableCount('5%', 10)).toBe(1);
    expect(maxUnavailableCount(undefined, 10)).toBe(1);
  });
});

describe('approvedIds', () => {
  it('is an exact list: "*" and blanks approve nothing', () => {
    expect([...approvedIds(' a@1 , b@2,,*')]).toEqual(['a@1', 'b@2']);
    expect(approvedIds('*').size).toBe(0);
    expect(approvedIds(undefined).size).toBe(0);
  });
});

describe('planMaintenance', () => {
  it('starts an at-risk node in an open window under Auto approval', () => {
    const out = planMaintenance(input({ atRisk: [{ node: 'n3', risk: 0.93 }] }));
    expect(out.start).toEqual(['n3']);
    expect(out.phase).toBe('InProgress');
    expect(out.scheduled).toEqual([
      expect.objectContaining({
        node: 'n3',
        id: 'n3@20261205021000',
        state: 'InProgress',
        startTime: '2026-12-05T02:10:00Z',
        windowStart: '2026-12-05T02:00:00Z',
        risk: 0.93,
      }),
    ]);
  });

  it('outside a window schedules for the next one and starts nothing', () => {
    const out = planMaintenance(
      input({ now: new Date('2026-12-05T04:00:00Z'), atRisk: [{ node: 'n3', risk: 0.9 }] }),
    );
    expect(out.start).toEqual([]);
    expect(out.phase).toBe('Scheduled');
    expect(out.scheduled[0]).toMatchObject({ state: 'Scheduled', windowStart: '2026-12-12T02:00:00Z' });
    expect(out.holdReason).toContain('waiting for the next window at 2026-12-12T02:00:00Z');
  });

  it('holds maxUnavailable across the plan: running maintenance (from status) uses the budget', () => {
    const out = planMaintenance(
      input({
        atRisk: [
          { node: 'n1', risk: 0.9 },
          { node: 'n2', risk: 0.95 },
        ],
        scheduled: [running('n1')],
      }),
    );
    expect(out.start).toEqual([]);
    expect(out.scheduled.map((e) => [e.node, e.state])).toEqual([
      ['n1', 'InProgress'],
      ['n2', 'Scheduled'],
    ]);
    expect(out.scheduled[1]?.message).toContain('maxUnavailable 1 reached');
    expect(out.unavailable).toBe(1);
  });

  it('a percentage budget starts the riskiest nodes first', () => {
    const out = planMaintenance(
      input({
        maxUnavailable: '20%',
        atRisk: [
          { node: 'n1', risk: 0.81 },
          { node: 'n2', risk: 0.99 },
          { node: 'n3', risk: 0.9 },
        ],
      }),
    );
    expect(out.start).toEqual(['n2', 'n3']);
    expect(out.maxUnavailable).toBe(2);
  });

  it('keeps a running maintenance even when its node is no longer at risk', () => {
    const out = planMaintenance(input({ scheduled: [running('n1')] }));
    expect(out.scheduled.map((e) => e.node)).toEqual(['n1']);
    expect(out.phase).toBe('InProgress');
  });

  it('drops a waiting maintenance whose node recovered', () => {
    const waiting: ScheduledEntry = { node: 'n4', id: 'n4@1', actions: ['Cordon'], state: 'Scheduled' };
    expect(planMaintenance(input({ scheduled: [waiting] })).scheduled).toEqual([]);
  });

  it('does not schedule a node cooling down after a maintenance', () => {
    const out = planMaintenance(
      input({
        atRisk: [{ node: 'n1', risk: 0.9 }],
        history: [
          {
            node: 'n1',
            startTime: '2026-12-05T01:30:00Z',
            completionTime: '2026-12-05T01:40:00Z',
            result: 'Succeeded',
          },
        ],
      }),
    );
    expect(out.start).toEqual([]);
    expect(out.coolingDown).toEqual([{ node: 'n1', until: new Date('2026-12-05T02:40:00Z') }]);
    // past the cooldown it is scheduled again
    const later = planMaintenance(
      input({
        now: new Date('2026-12-05T02:41:00Z'),
        atRisk: [{ node: 'n1', risk: 0.9 }],
        history: [
          {
            node: 'n1',
            startTime: '2026-12-05T01:30:00Z',
            completionTime: '2026-12-05T01:40:00Z',
            result: 'Succeeded',
          },
        ],
      }),
    );
    expect(later.start).toEqual(['n1']);
  });

  it('the mass-flag stop starts and schedules nothing', () => {
    const out = planMaintenance(input({ massFlag: true, atRisk: [{ node: 'n1', risk: 0.9 }] }));
    expect(out.start).toEqual([]);
    expect(out.scheduled).toEqual([]);
    expect(out.holdReason).toContain('MassFlag');
  });

  it('suspend starts nothing but keeps the schedule', () => {
    const out = planMaintenance(input({ suspend: true, atRisk: [{ node: 'n1', risk: 0.9 }] }));
    expect(out.start).toEqual([]);
    expect(out.scheduled[0]).toMatchObject({ node: 'n1', state: 'Scheduled' });
    expect(out.holdReason).toContain('spec.suspend');
  });

  it('does not schedule unselected nodes', () => {
    expect(planMaintenance(input({ atRisk: [{ node: 'other', risk: 0.9 }] })).scheduled).toEqual([]);
  });

  describe('Manual approval', () => {
    const atRisk = [{ node: 'n1', risk: 0.9 }];

    it('waits with an id the annotation must repeat', () => {
      const out = planMaintenance(input({ approval: 'Manual', atRisk }));
      expect(out.start).toEqual([]);
      expect(out.phase).toBe('AwaitingApproval');
      expect(out.scheduled[0]).toMatchObject({ state: 'AwaitingApproval', id: 'n1@20261205021000' });
      expect(out.scheduled[0]?.message).toContain('ymera.io/approve=n1@20261205021000');
    });

    it('starts once the annotation names the id (kept from status), not for "*" or the node name', () => {
      const first = planMaintenance(input({ approval: 'Manual', atRisk }));
      const later = new Date('2026-12-05T02:20:00Z');
      const again = (approveAnnotation: string) =>
        planMaintenance(
          input({ now: later, approval: 'Manual', atRisk, scheduled: first.scheduled, approveAnnotation }),
        );
      expect(again('*').start).toEqual([]);
      expect(again('n1').start).toEqual([]);
      expect(again('n1@20261205021000').start).toEqual(['n1']);
    });

    it('an old approval does not approve a later maintenance of the same node', () => {
      const out = planMaintenance(
        input({
          now: new Date('2026-12-12T02:10:00Z'),
          approval: 'Manual',
          atRisk,
          approveAnnotation: 'n1@20261205021000',
          history: [
            {
              node: 'n1',
              startTime: '2026-12-05T02:20:00Z',
              completionTime: '2026-12-05T02:30:00Z',
              result: 'Succeeded',
            },
          ],
        }),
      );
      expect(out.start).toEqual([]);
      expect(out.scheduled[0]).toMatchObject({ state: 'AwaitingApproval', id: 'n1@20261212021000' });
    });
  });
});

describe('planMaintenance holds', () => {
  it('keeps a held node Scheduled with the reason while the next one starts', () => {
    const out = planMaintenance(
      input({
        maxUnavailable: 2,
        atRisk: [
          { node: 'n1', risk: 0.95 },
          { node: 'n2', risk: 0.9 },
        ],
        holds: new Map([['n1', 'the other nodes have no room for its pods (no room for cpu: …)']]),
      }),
    );
    expect(out.start).toEqual(['n2']);
    expect(out.scheduled.find((e) => e.node === 'n1')).toMatchObject({
      state: 'Scheduled',
      message: 'waiting: the other nodes have no room for its pods (no room for cpu: …)',
    });
    expect(out.holdReason).toMatch(/^n1 waits: the other nodes have no room/);
  });
});
