import { describe, expect, it } from 'vitest';
import type { PodInfo, StepInput } from './drain.ts';
import { evictionRetryMs, nextStep, triagePods } from './drain.ts';

const now = new Date('2026-12-05T02:10:00Z');
const actions: StepInput['actions'] = [
  { type: 'Cordon' },
  { type: 'Drain', drain: { timeoutSeconds: 60 } },
  { type: 'Uncordon' },
];
const pod = (name: string, extra: Partial<PodInfo> = {}): PodInfo => ({
  namespace: 'ns',
  name,
  ownerKinds: ['ReplicaSet'],
  phase: 'Running',
  ...extra,
});

function step(over: Partial<StepInput> = {}) {
  return nextStep({
    plan: 'p',
    entry: {
      node: 'n1',
      actions: ['Cordon', 'Drain', 'Uncordon'],
      state: 'InProgress',
      startTime: '2026-12-05T02:09:30Z',
    },
    actions,
    node: { unschedulable: false },
    pods: [],
    now,
    ...over,
  });
}

describe('triagePods', () => {
  it('skips DaemonSet, mirror and finished pods; do-not-disrupt and emptyDir block', () => {
    const t = triagePods(
      [
        pod('ds', { ownerKinds: ['DaemonSet'] }),
        pod('mirror', { annotations: { 'kubernetes.io/config.mirror': 'x' } }),
        pod('done', { phase: 'Succeeded' }),
        pod('keep', { annotations: { 'ymera.io/do-not-disrupt': 'true' } }),
        pod('karp', { annotations: { 'karpenter.sh/do-not-disrupt': 'true' } }),
        pod('notreally', { annotations: { 'ymera.io/do-not-disrupt': 'false' } }),
        pod('scratch', { emptyDir: true }),
        pod('gone', { terminating: true }),
        pod('web'),
      ],
      { timeoutSeconds: 60 },
    );
    expect(t.evict.map((p) => p.name)).toEqual(['notreally', 'web']);
    expect(t.blocking.map((b) => b.pod.name)).toEqual(['keep', 'karp', 'scratch']);
    expect(t.terminating.map((p) => p.name)).toEqual(['gone']);
    expect(triagePods([pod('scratch', { emptyDir: true })], { deleteEmptyDirData: true }).evict).toHaveLength(
      1,
    );
  });
});

describe('nextStep', () => {
  it('cordons first', () => {
    expect(step()).toEqual({ kind: 'cordon' });
  });

  it('evicts the pods once cordoned, with a backoff for a 429', () => {
    const s = step({
      entry: {
        node: 'n1',
        actions: [],
        state: 'InProgress',
        startTime: '2026-12-05T02:09:30Z',
        progress: 'Cordoned',
      },
      node: { unschedulable: true, cordonedBy: 'p' },
      pods: [pod('web')],
    });
    expect(s).toMatchObject({ kind: 'evict', pods: [{ name: 'web' }], retryMs: 7_500 });
  });

  it('uncordons a node it cordoned once drained, then finishes', () => {
    const entry = {
      node: 'n1',
      actions: [],
      state: 'InProgress' as const,
      startTime: '2026-12-05T02:09:30Z',
      progress: 'Draining' as const,
    };
    expect(step({ entry, node: { unschedulable: true, cordonedBy: 'p' } })).toMatchObject({
      kind: 'uncordon',
      result: 'Succeeded',
    });
    expect(step({ entry: { ...entry, progress: 'Done' }, node: { unschedulable: false } })).toMatchObject({
      kind: 'finish',
      result: 'Succeeded',
    });
  });

  it('never uncordons a node someone else cordoned', () => {
    const s = step({ node: { unschedulable: true } });
    expect(s).toMatchObject({ kind: 'finish', result: 'Succeeded' });
    expect(s.kind === 'finish' && s.message).toContain('not cordoned by this plan');
    // nor one another plan cordoned
    expect(step({ node: { unschedulable: true, cordonedBy: 'other' } }).kind).toBe('finish');
  });

  it('waits while a do-not-disrupt pod blocks, and aborts and uncordons at the timeout', () => {
    const blocked = [pod('keep', { annotations: { 'karpenter.sh/do-not-disrupt': 'true' } })];
    const entry = {
      node: 'n1',
      actions: [],
      state: 'InProgress' as const,
      startTime: '2026-12-05T02:09:30Z',
      progress: 'Draining' as const,
    };
    const node = { unschedulable: true, cordonedBy: 'p' };
    expect(step({ entry, node, pods: blocked })).toMatchObject({ kind: 'wait' });
    const late = new Date('2026-12-05T02:10:31Z');
    const s = step({ entry, node, pods: blocked, now: late });
    expect(s).toMatchObject({ kind: 'uncordon', result: 'Failed' });
    expect(s.kind === 'uncordon' && s.message).toContain('timed out after 60s with pods left: ns/keep');
  });

  it('at the timeout deletes the remaining pods only under onTimeout Force', () => {
    const entry = {
      node: 'n1',
      actions: [],
      state: 'InProgress' as const,
      startTime: '2026-12-05T02:00:00Z',
      progress: 'Draining' as const,
    };
    const node = { unschedulable: true, cordonedBy: 'p' };
    expect(step({ entry, node, pods: [pod('web')] })).toMatchObject({ kind: 'uncordon', result: 'Failed' });
    const force: StepInput['actions'] = [
      { type: 'Cordon' },
      { type: 'Drain', drain: { timeoutSeconds: 60, onTimeout: 'Force' } },
      { type: 'Uncordon' },
    ];
    expect(step({ entry, node, pods: [pod('web')], actions: force })).toMatchObject({
      kind: 'force',
      pods: [{ name: 'web' }],
    });
  });

  it('waits for evicted pods to terminate', () => {
    const entry = {
      node: 'n1',
      actions: [],
      state: 'InProgress' as const,
      startTime: '2026-12-05T02:09:30Z',
      progress: 'Draining' as const,
    };
    expect(
      step({
        entry,
        node: { unschedulable: true, cordonedBy: 'p' },
        pods: [pod('web', { terminating: true })],
      }),
    ).toMatchObject({ kind: 'wait' });
  });

  it('fails when the node is gone', () => {
    expect(step({ node: undefined })).toMatchObject({ kind: 'finish', result: 'Failed' });
  });
});

describe('evictionRetryMs', () => {
  it('backs off from 2 s to 30 s', () => {
    expect(evictionRetryMs(0)).toBe(2_000);
    expect(evictionRetryMs(40_000)).toBe(10_000);
    expect(evictionRetryMs(600_000)).toBe(30_000);
  });
});

describe('nextStep with a Job action', () => {
  const withJob = (
    job: Partial<NonNullable<StepInput['actions'][number]['job']>> = {},
  ): StepInput['actions'] => [
    { type: 'Cordon' },
    { type: 'Drain', drain: { timeoutSeconds: 60 } },
    { type: 'Job', job: { image: 'fix:1', timeoutSeconds: 600, ...job } },
    { type: 'Uncordon' },
  ];
  const ours = { unschedulable: true, cordonedBy: 'p' };
  const draining = (over: Partial<StepInput> = {}) =>
    step({
      actions: withJob(),
      node: ours,
      entry: {
        node: 'n1',
        id: 'n1@20261205020930',
        actions: ['Cordon', 'Drain', 'Job', 'Uncordon'],
        state: 'InProgress',
        startTime: '2026-12-05T02:09:30Z',
        progress: 'Draining',
      },
      ...over,
    });
  const running = (over: Partial<StepInput> = {}) =>
    draining({
      entry: {
        node: 'n1',
        id: 'n1@20261205020930',
        actions: ['Cordon', 'Drain', 'Job', 'Uncordon'],
        state: 'InProgress',
        startTime: '2026-12-05T02:09:30Z',
        progress: 'JobRunning',
      },
      ...over,
    });

  it('creates the Job once the node is drained, not before', () => {
    expect(draining({ pods: [pod('web')] }).kind).toBe('evict');
    expect(draining({ job: { phase: 'Absent' } })).toEqual({ kind: 'createJob' });
  });

  it('after a restart that lost the status write, finds the Job and does not drain its pod', () => {
    const s = draining({ pods: [pod('maint-n1-abc', { ownerKinds: ['Job'] })], job: { phase: 'Running' } });
    expect(s).toMatchObject({ kind: 'wait', message: 'maintenance Job running' });
  });

  it('waits while the Job runs, then uncordons after it succeeded', () => {
    expect(running({ job: { phase: 'Running', startedAt: now.getTime() - 1000 } }).kind).toBe('wait');
    expect(running({ job: { phase: 'Succeeded', message: 'Job m/j succeeded' } })).toEqual({
      kind: 'uncordon',
      result: 'Succeeded',
      message: 'drained; Job m/j succeeded',
    });
  });

  it('on a failed Job leaves the node cordoned by default, uncordons with onFailure Uncordon', () => {
    const failed = { phase: 'Failed' as const, message: 'Job m/j failed: BackoffLimitExceeded' };
    const left = running({ job: failed });
    expect(left).toMatchObject({ kind: 'finish', result: 'Failed', leftCordoned: true });
    expect(left.kind === 'finish' && left.message).toMatch(
      /BackoffLimitExceeded; node left cordoned \(job.onFailure LeaveCordoned\)/,
    );
    expect(running({ actions: withJob({ onFailure: 'Uncordon' }), job: failed })).toMatchObject({
      kind: 'uncordon',
      result: 'Failed',
    });
  });

  it('fails a Job that vanished, is not ours, or outlived its deadline', () => {
    expect(running({ job: { phase: 'Absent' } })).toMatchObject({
      kind: 'finish',
      result: 'Failed',
      message: expect.stringMatching(/deleted before it finished/),
    });
    expect(
      running({ job: { phase: 'Foreign', message: 'Job m/j exists and is not this maintenance' } }),
    ).toMatchObject({ kind: 'finish', result: 'Failed' });
    const late = running({ job: { phase: 'Running', startedAt: now.getTime() - 600_000 - 121_000 } });
    expect(late).toMatchObject({
      kind: 'finish',
      message: expect.stringMatching(/within job.timeoutSeconds \(600s\)/),
    });
  });
});
