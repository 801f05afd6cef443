import { describe, expect, it } from 'vitest';
import type { DrainPlanInput, PlanNode, PlanPod } from './drain-plan.ts';
import {
  drainPlan,
  drainPlanHold,
  planNode,
  planPdb,
  planPod,
  podRequests,
  selectorMatches,
} from './drain-plan.ts';

const GI = 2 ** 30;
const now = new Date('2026-12-05T02:10:00Z');
const pod = (name: string, nodeName: string, extra: Partial<PlanPod> = {}): PlanPod => ({
  namespace: 'ns',
  name,
  nodeName,
  labels: { app: 'web' },
  ownerKinds: ['ReplicaSet'],
  phase: 'Running',
  requests: { cpu: 1, memory: GI },
  ...extra,
});
const node = (name: string, extra: Partial<PlanNode> = {}): PlanNode => ({
  name,
  ready: true,
  unschedulable: false,
  taints: [],
  allocatable: { cpu: 4, memory: 8 * GI, pods: 110 },
  ...extra,
});
const input = (over: Partial<DrainPlanInput> = {}): DrainPlanInput => ({
  node: 'a',
  pods: [],
  nodes: [node('a'), node('b')],
  pdbs: [],
  drain: undefined,
  unavailable: new Set(['a']),
  now,
  ...over,
});

describe('selectorMatches', () => {
  it('follows matchLabels and the four operators; an empty selector matches everything', () => {
    const labels = { app: 'web', tier: 'front' };
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { app: 'web' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { app: 'db' } }, labels)).toBe(false);
    expect(
      selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }] }, labels),
    ).toBe(true);
    expect(
      selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, labels),
    ).toBe(false);
    expect(
      selectorMatches({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['y'] }] }, labels),
    ).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'Exists' }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, labels)).toBe(
      true,
    );
  });
});

describe('drainPlan', () => {
  it('lists the pods to evict, skipped and blocking pods, and PDBs that allow no disruption over them', () => {
    const plan = drainPlan(
      input({
        pods: [
          pod('web-1', 'a'),
          pod('web-2', 'a'),
          pod('ds', 'a', { ownerKinds: ['DaemonSet'] }),
          pod('static', 'a', { annotations: { 'kubernetes.io/config.mirror': 'x' } }),
          pod('pinned', 'a', {
            labels: { app: 'train' },
            annotations: { 'ymera.io/do-not-disrupt': 'true' },
          }),
          pod('elsewhere', 'b'),
        ],
        pdbs: [
          { namespace: 'ns', name: 'web', selector: { matchLabels: { app: 'web' } }, disruptionsAllowed: 0 },
          {
            namespace: 'ns',
            name: 'relaxed',
            selector: { matchLabels: { app: 'web' } },
            disruptionsAllowed: 1,
          },
          {
            namespace: 'other',
            name: 'web',
            selector: { matchLabels: { app: 'web' } },
            disruptionsAllowed: 0,
          },
          {
            namespace: 'ns',
            name: 'train',
            selector: { matchLabels: { app: 'train' } },
            disruptionsAllowed: 0,
          },
        ],
      }),
    );
    expect(plan).toMatchObject({
      computedTime: '2026-12-05T02:10:00Z',
      pods: 2,
      podNames: ['ns/web-1', 'ns/web-2'],
      skippedPods: 2,
      blockingPods: 1,
      blockingPodNames: ['ns/pinned: annotated ymera.io/do-not-disrupt: "true"'],
      blockingPdbs: 1,
      blockingPdbNames: ['ns/web (2 pods, 0 disruptions allowed)'],
    });
  });

  it('bounds the names and keeps exact counts', () => {
    const pods = Array.from({ length: 25 }, (_, i) => pod(`p${i}`, 'a', { requests: { cpu: 0, memory: 0 } }));
    const plan = drainPlan(input({ pods }));
    expect(plan.pods).toBe(25);
    expect(plan.podNames).toHaveLength(10);
  });

  it('finds room on the other ready, schedulable, untainted nodes after what their pods request', () => {
    // 3 cpu to place; b has 4 - 2 = 2 free, c 4 free but unschedulable, d tainted, e NotReady
    const pods = [
      pod('w1', 'a'),
      pod('w2', 'a'),
      pod('w3', 'a'),
      pod('busy', 'b', { requests: { cpu: 2, memory: GI } }),
      pod('done', 'b', { phase: 'Succeeded', requests: { cpu: 4, memory: GI } }),
    ];
    const nodes = [
      node('a'),
      node('b'),
      node('c', { unschedulable: true }),
      node('d', { taints: [{ key: 'gpu', effect: 'NoSchedule' }] }),
      node('e', { ready: false }),
    ];
    const tight = drainPlan(input({ pods, nodes }));
    expect(tight.room).toMatchObject({ fits: false, nodes: 1 });
    expect(tight.room.message).toMatch(
      /^no room for cpu: 3 pods to evict request cpu 3, memory 3Gi; 1 other/,
    );
    expect(drainPlanHold(tight)).toMatch(/^the other nodes have no room for its pods/);

    const roomy = drainPlan(
      input({ pods, nodes: [...nodes, node('f', { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] })] }),
    );
    expect(roomy.room).toMatchObject({ fits: true, nodes: 2 });
    expect(drainPlanHold(roomy)).toBeUndefined();
    // a node scheduled for maintenance is not room
    expect(
      drainPlan(input({ pods, nodes: [...nodes, node('f')], unavailable: new Set(['a', 'f']) })).room.fits,
    ).toBe(false);
  });

  it('counts free pod slots too, and an empty node always fits', () => {
    const full = node('b', { allocatable: { cpu: 100, memory: 100 * GI, pods: 1 } });
    expect(
      drainPlan(input({ pods: [pod('w1', 'a'), pod('w2', 'a')], nodes: [node('a'), full] })).room,
    ).toMatchObject({
      fits: false,
      message: expect.stringMatching(/^no room for pods:/),
    });
    expect(drainPlan(input({ nodes: [node('a')] })).room.fits).toBe(true);
  });
});

describe('from API objects', () => {
  it('reads requests (containers summed, the largest init container if larger), nodes and PDBs', () => {
    expect(
      podRequests({
        containers: [
          { resources: { requests: { cpu: '500m', memory: '1Gi' } } },
          { resources: { requests: { cpu: '250m' } } },
        ],
        initContainers: [{ resources: { requests: { cpu: '2', memory: '512Mi' } } }],
      }),
    ).toEqual({ cpu: 2, memory: GI });
    expect(
      planPod({
        metadata: {
          namespace: 'ns',
          name: 'p',
          labels: { app: 'x' },
          ownerReferences: [{ kind: 'DaemonSet' }],
        },
        spec: { nodeName: 'a', volumes: [{ emptyDir: {} }] },
      }),
    ).toMatchObject({
      nodeName: 'a',
      ownerKinds: ['DaemonSet'],
      emptyDir: true,
      requests: { cpu: 0, memory: 0 },
    });
    expect(
      planNode({
        metadata: { name: 'a' },
        spec: { unschedulable: true },
        status: {
          allocatable: { cpu: '8', memory: '32Gi', pods: '110' },
          conditions: [{ type: 'Ready', status: 'True' }],
        },
      }),
    ).toEqual({
      name: 'a',
      ready: true,
      unschedulable: true,
      taints: [],
      allocatable: { cpu: 8, memory: 32 * GI, pods: 110 },
    });
    expect(planPdb({ metadata: { namespace: 'ns', name: 'b' }, spec: { selector: {} } })).toEqual({
      namespace: 'ns',
      name: 'b',
      selector: {},
      disruptionsAllowed: 0,
    });
  });
});
