import { describe, expect, it } from 'vitest';
import { LAST_MAINTENANCE_ANNOTATION, lastMaintenanceFromNodes, latestPerNode } from './cooldown.ts';
import type { HistoryEntry, PlanInput } from './planner.ts';
import { planMaintenance } from './planner.ts';

const now = new Date('2026-12-05T02:10:00Z');
const node = (name: string, last?: string) => ({
  metadata: { name, ...(last !== undefined ? { annotations: { [LAST_MAINTENANCE_ANNOTATION]: last } } : {}) },
});

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    now,
    selected: ['n1', 'n2', 'n3'],
    atRisk: [{ node: 'n1', risk: 0.95 }],
    massFlag: false,
    // Saturdays 02:00 UTC for an hour: open now
    window: { schedule: '0 2 * * 6', timeZone: 'UTC', durationMinutes: 60 },
    maxUnavailable: 1,
    cooldownMinutes: 24 * 60,
    approval: 'Auto',
    approveAnnotation: undefined,
    suspend: false,
    actions: ['Cordon', 'Drain', 'Uncordon'],
    scheduled: [],
    history: [],
    ...over,
  };
}

describe('lastMaintenanceFromNodes', () => {
  it('reads the annotation of each node and ignores nodes without one or with a value that is no time', () => {
    const got = lastMaintenanceFromNodes([
      node('n1', '2026-12-05T01:40:00Z'),
      node('n2'),
      node('n3', 'yesterday'),
    ]);
    expect([...got]).toEqual([['n1', Date.parse('2026-12-05T01:40:00Z')]]);
  });
});

describe('latestPerNode', () => {
  it('keeps the later time of each node over all sources', () => {
    const got = latestPerNode(
      new Map([
        ['a', 1],
        ['b', 5],
      ]),
      undefined,
      new Map([
        ['a', 3],
        ['c', 2],
      ]),
    );
    expect(Object.fromEntries(got)).toEqual({ a: 3, b: 5, c: 2 });
  });
});

describe('the cooldown outlives status.history', () => {
  // n1 was maintained 30 minutes ago; since then 10 other maintenances pushed it out of history (historyLimit 10)
  const others: HistoryEntry[] = Array.from({ length: 10 }, (_, i) => ({
    node: `other-${i}`,
    startTime: '2026-12-05T01:50:00Z',
    completionTime: '2026-12-05T02:00:00Z',
    result: 'Succeeded',
  }));
  const nodes = [node('n1', '2026-12-05T01:40:00Z'), node('n2'), node('n3')];

  it('keeps a node that fell out of history cooling down, from the annotation on the node', () => {
    const out = planMaintenance(input({ history: others, lastMaintenance: lastMaintenanceFromNodes(nodes) }));
    expect(out.start).toEqual([]);
    expect(out.scheduled).toEqual([]);
    expect(out.coolingDown).toEqual([{ node: 'n1', until: new Date('2026-12-06T01:40:00Z') }]);
  });

  it('acts on the node again once the cooldown has passed', () => {
    const out = planMaintenance(
      input({
        now: new Date('2026-12-12T02:10:00Z'), // the next Saturday's window
        history: others,
        lastMaintenance: lastMaintenanceFromNodes(nodes),
      }),
    );
    expect(out.start).toEqual(['n1']);
    expect(out.coolingDown).toEqual([]);
  });

  it('still reads history when the node has no annotation (maintained before the annotation existed)', () => {
    const out = planMaintenance(
      input({
        history: [
          {
            node: 'n1',
            startTime: '2026-12-05T01:30:00Z',
            completionTime: '2026-12-05T01:45:00Z',
            result: 'Succeeded',
          },
        ],
        lastMaintenance: lastMaintenanceFromNodes([node('n1')]),
      }),
    );
    expect(out.coolingDown).toEqual([{ node: 'n1', until: new Date('2026-12-06T01:45:00Z') }]);
  });
});
