import { describe, expect, it } from 'vitest';
import type { RolloutInput } from './rollout.ts';
import { rollbackChildren } from './desired.ts';
import {
  analysisDue,
  decideRollout,
  nextCheckInMs,
  plannedRevisions,
  rollbackInEffect,
  rollbackNotice,
} from './rollout.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const base = (over: Partial<RolloutInput> = {}): RolloutInput => ({
  desired: 'new',
  previous: { stable: 'old' },
  known: () => true,
  autoRollback: true,
  soakMs: 10_000,
  fullReplicas: 1,
  now: t0,
  ...over,
});
const started = { revision: 'new', startTime: '2026-01-01T00:00:00Z', passedChecks: 0, failedChecks: 0 };
const ready = { replicas: 1, readyReplicas: 1 };

describe('rollout decision', () => {
  it('makes the first revision stable directly', () => {
    expect(decideRollout(base({ previous: {} }))).toEqual({ revisions: { stable: 'new' }, action: 'none' });
  });

  it('starts a canary for a changed revision while the stable keeps serving', () => {
    const d = decideRollout(base());
    expect(d).toEqual({ revisions: { stable: 'old', canary: 'new' }, progress: started, action: 'started' });
    expect(plannedRevisions('new', { stable: 'old' }, () => true)).toEqual({ stable: 'old', canary: 'new' });
  });

  it('promotes a canary that is ready and has soaked; not before', () => {
    const early = decideRollout(base({ progress: started, canary: ready, now: at(5) }));
    expect(early.action).toBe('none');
    expect(early.revisions.canary).toBe('new');
    const notReady = decideRollout(
      base({ progress: started, canary: { replicas: 1, readyReplicas: 0 }, now: at(30) }),
    );
    expect(notReady.action).toBe('none');
    const d = decideRollout(base({ progress: started, canary: ready, now: at(10) }));
    expect(d).toEqual({
      revisions: { stable: 'old', canary: 'new' },
      progress: { ...started, promoting: true },
      action: 'promoting',
    });
  });

  it('scales a judged-good canary up to the full count before it becomes stable', () => {
    const promoting = { ...started, promoting: true };
    const scaling = decideRollout(
      base({ fullReplicas: 4, progress: promoting, canary: { replicas: 4, readyReplicas: 2 }, now: at(20) }),
    );
    expect(scaling.action).toBe('none');
    expect(scaling.progress?.promoting).toBe(true);
    const stillSmall = decideRollout(
      base({ fullReplicas: 4, progress: promoting, canary: ready, now: at(20) }),
    );
    expect(stillSmall.action).toBe('none');
    const d = decideRollout(
      base({ fullReplicas: 4, progress: promoting, canary: { replicas: 4, readyReplicas: 4 }, now: at(21) }),
    );
    expect(d).toEqual({ revisions: { stable: 'new' }, action: 'promoted' });
    // a failure while scaling up still rolls back
    const failure = { reason: 'OOMKilled', message: 'oom' };
    expect(
      decideRollout(
        base({
          fullReplicas: 4,
          progress: promoting,
          canary: { replicas: 4, readyReplicas: 3, failure },
          now: at(21),
        }),
      ).action,
    ).toBe('rolledBack');
  });

  it('rolls back a crash-looping canary, records it, and does not retry the same revision', () => {
    const failure = { reason: 'CrashLoopBackOff', message: 'container runtime is crash-looping', pod: 'p' };
    const d = decideRollout(
      base({ progress: started, canary: { replicas: 1, readyReplicas: 0, failure }, now: at(3) }),
    );
    expect(d).toEqual({
      revisions: { stable: 'old', lastRolledBack: 'new' },
      action: 'rolledBack',
      failure: { reason: 'CrashLoopBackOff', message: failure.message, pod: 'p', revision: 'new' },
    });
    const again = decideRollout(base({ previous: d.revisions, now: at(20) }));
    expect(again).toEqual({ revisions: { stable: 'old', lastRolledBack: 'new' }, action: 'none' });
    expect(plannedRevisions('new', d.revisions, () => true)).toEqual({ stable: 'old' });
    // a new spec change is tried again
    expect(decideRollout(base({ desired: 'newer', previous: d.revisions })).action).toBe('started');
  });

  it('keeps a failing canary without autoRollback and reports the failure', () => {
    const failure = { reason: 'ImagePullBackOff', message: 'cannot pull' };
    const d = decideRollout(
      base({
        autoRollback: false,
        progress: started,
        canary: { replicas: 1, readyReplicas: 0, failure },
        now: at(3),
      }),
    );
    expect(d.action).toBe('none');
    expect(d.revisions).toEqual({ stable: 'old', canary: 'new' });
    expect(d.failure?.reason).toBe('ImagePullBackOff');
  });

  it('waits on a canary that cannot be scheduled instead of rolling it back', () => {
    const failure = { reason: 'InsufficientGPU', message: 'no GPU' };
    const d = decideRollout(
      base({ progress: started, canary: { replicas: 1, readyReplicas: 0, failure }, now: at(30) }),
    );
    expect(d.action).toBe('none');
    expect(d.failure?.reason).toBe('InsufficientGPU');
  });

  it('abandons the canary when the spec goes back to the stable revision', () => {
    const d = decideRollout(
      base({ desired: 'old', previous: { stable: 'old', canary: 'new' }, progress: started }),
    );
    expect(d).toEqual({ revisions: { stable: 'old' }, action: 'abandoned' });
  });

  it('restarts the progress when the canary revision changes mid-rollout', () => {
    const d = decideRollout(
      base({
        desired: 'newer',
        previous: { stable: 'old', canary: 'new' },
        progress: { ...started, passedChecks: 3 },
        now: at(50),
      }),
    );
    expect(d.action).toBe('started');
    expect(d.progress).toEqual({
      revision: 'newer',
      startTime: '2026-01-01T00:00:50Z',
      passedChecks: 0,
      failedChecks: 0,
    });
  });

  it('replaces a stable revision that can no longer be rebuilt', () => {
    const d = decideRollout(base({ known: (r) => r === 'new' }));
    expect(d).toEqual({ revisions: { stable: 'new' }, action: 'replaced' });
  });

  describe('with analysis', () => {
    const analysis = { intervalMs: 60_000, count: 2, failureLimit: 2 };
    it('is due every interval after the canary started', () => {
      expect(analysisDue(started, 'new', analysis, at(59))).toBe(false);
      expect(analysisDue(started, 'new', analysis, at(60))).toBe(true);
      expect(
        analysisDue({ ...started, lastCheckTime: '2026-01-01T00:01:00Z' }, 'new', analysis, at(100)),
      ).toBe(false);
      expect(analysisDue(started, 'other', analysis, at(600))).toBe(false);
      expect(analysisDue(started, 'new', undefined, at(600))).toBe(false);
      expect(nextCheckInMs(started, analysis, at(45))).toBe(15_000);
    });

    it('promotes after count passing checks', () => {
      const pass = { outcome: 'pass' as const, message: 'ok' };
      const one = decideRollout(
        base({ analysis, progress: started, canary: ready, check: pass, now: at(60) }),
      );
      expect(one.action).toBe('none');
      expect(one.progress).toMatchObject({
        passedChecks: 1,
        failedChecks: 0,
        lastCheckTime: '2026-01-01T00:01:00Z',
      });
      const two = decideRollout(
        base({ analysis, progress: one.progress, canary: ready, check: pass, now: at(120) }),
      );
      expect(two.action).toBe('promoting');
      expect(two.progress).toMatchObject({ passedChecks: 2, promoting: true });
      const three = decideRollout(base({ analysis, progress: two.progress, canary: ready, now: at(125) }));
      expect(three.action).toBe('promoted');
    });

    it('does not count inconclusive checks', () => {
      const none = { outcome: 'inconclusive' as const, message: 'no requests' };
      const d = decideRollout(base({ analysis, progress: started, canary: ready, check: none, now: at(60) }));
      expect(d.progress).toMatchObject({ passedChecks: 0, failedChecks: 0, lastCheckMessage: 'no requests' });
      expect(d.action).toBe('none');
    });

    it('rolls back after failureLimit failed checks', () => {
      const fail = { outcome: 'fail' as const, message: 'error rate 50% > 1%' };
      const one = decideRollout(
        base({ analysis, progress: started, canary: ready, check: fail, now: at(60) }),
      );
      expect(one.action).toBe('none');
      const two = decideRollout(
        base({ analysis, progress: one.progress, canary: ready, check: fail, now: at(120) }),
      );
      expect(two.action).toBe('rolledBack');
      expect(two.failure).toMatchObject({ reason: 'AnalysisFailed', revision: 'new' });
      expect(two.failure?.message).toMatch(/error rate 50% > 1%/);
    });
  });
});

describe('rollback in effect', () => {
  const crash = { reason: 'CrashLoopBackOff', message: 'pod p: back-off', pod: 'p' };
  const rolledBack = () =>
    decideRollout(base({ progress: started, canary: { replicas: 1, readyReplicas: 0, failure: crash } }));
  const depends = rollbackChildren('fraud', 'new');

  it('is in effect only when the revision Deployment and the traffic children did not fail', () => {
    expect(rollbackInEffect([], depends)).toBe(true);
    // another child (the rules) failing does not keep the rollback from taking effect
    expect(rollbackInEffect([{ kind: 'ConfigMap', name: 'fraud-inferenceservice-rules' }], depends)).toBe(
      true,
    );
    expect(rollbackInEffect([{ kind: 'Deployment', name: 'fraud-new' }], depends)).toBe(false);
    expect(rollbackInEffect([{ kind: 'Service', name: 'fraud' }], depends)).toBe(false);
    expect(rollbackInEffect([{ kind: 'Service', name: 'fraud-new' }], depends)).toBe(false);
    expect(rollbackInEffect([{ kind: 'HTTPRoute', name: 'fraud' }], depends)).toBe(false);
    // the stable revision's Deployment is not the rollback's
    expect(rollbackInEffect([{ kind: 'Deployment', name: 'fraud-old' }], depends)).toBe(true);
  });

  it('announces a rollback when it is decided and in effect', () => {
    const d = rolledBack();
    expect(d.action).toBe('rolledBack');
    expect(rollbackNotice(d, undefined, () => true)).toEqual({
      announce: { revision: 'new', stable: 'old', reason: 'CrashLoopBackOff', message: 'pod p: back-off' },
    });
  });

  it('keeps a rollback that is not in effect pending, and announces it once it is', () => {
    const pending = rollbackNotice(rolledBack(), undefined, () => false);
    expect(pending).toEqual({
      pending: { revision: 'new', stable: 'old', reason: 'CrashLoopBackOff', message: 'pod p: back-off' },
    });
    // the next reconciles decide nothing new (the revision is held back)
    const held = decideRollout(base({ previous: { stable: 'old', lastRolledBack: 'new' } }));
    expect(held.action).toBe('none');
    expect(rollbackNotice(held, pending.pending, () => false)).toEqual(pending);
    const inEffect = (revision: string) => revision === 'new';
    expect(rollbackNotice(held, pending.pending, inEffect)).toEqual({ announce: pending.pending });
  });

  it('has nothing to tell without a rollback', () => {
    expect(rollbackNotice(decideRollout(base()), undefined, () => true)).toEqual({});
  });
});
