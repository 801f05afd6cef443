import { describe, expect, it } from 'vitest';
import { KubeApiError } from '../../operator/kube/client.ts';
import type { PodObject } from '../../operator/kube/workloads.ts';
import type { LearningPipelineSweep } from './schema.ts';
import {
  OnceSet,
  earlyStoppingForbiddenMessage,
  finishedFromStatus,
  isLogForbidden,
  trialPodFinished,
} from './sweep-io.ts';
import { planSweep } from './sweep.ts';

describe('early stopping without pods/log', () => {
  it('tells a refused log read (403) from a log that is not there', () => {
    expect(isLogForbidden(new KubeApiError(403, 'Forbidden', 'pods "x" is forbidden'))).toBe(true);
    expect(isLogForbidden(new KubeApiError(404, 'NotFound', 'no pod'))).toBe(false);
    expect(isLogForbidden(new KubeApiError(400, 'BadRequest', 'container not started'))).toBe(false);
    expect(isLogForbidden(new Error('socket hang up'))).toBe(false);
  });

  it('names the chart value that grants it', () => {
    expect(earlyStoppingForbiddenMessage('train')).toMatch(
      /^step train: early stopping is off .*rbac\.learningPipelineEarlyStopping=true/,
    );
  });

  it('warns once per sweep, however many reconciles see the refusal', () => {
    const once = new OnceSet(2);
    expect(once.mark('ns/p/r1/train')).toBe(true);
    expect(once.mark('ns/p/r1/train')).toBe(false);
    expect(once.has('ns/p/r1/train')).toBe(true);
    expect(once.mark('ns/p/r2/train')).toBe(true);
    // bounded: the oldest is forgotten
    expect(once.mark('ns/p/r3/train')).toBe(true);
    expect(once.has('ns/p/r1/train')).toBe(false);
  });

  it('holds reads back for a while after a refusal, not for good, and still warns only once', () => {
    const once = new OnceSet(10);
    const minute = 60_000;
    expect(once.refusedWithin('k', 0, 10 * minute)).toBe(false);
    expect(once.mark('k', 0)).toBe(true);
    expect(once.refusedWithin('k', 9 * minute, 10 * minute)).toBe(true);
    // a grant made meanwhile: the read is tried again after the wait
    expect(once.refusedWithin('k', 10 * minute, 10 * minute)).toBe(false);
    // refused again: held back again, but not told again
    expect(once.mark('k', 10 * minute)).toBe(false);
    expect(once.refusedWithin('k', 19 * minute, 10 * minute)).toBe(true);
  });
});

describe('trialPodFinished', () => {
  const pod = (status: PodObject['status']): PodObject =>
    ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, status }) as PodObject;
  it('a trial whose pod ended is not stopped (its result stands)', () => {
    expect(trialPodFinished(undefined)).toBe(false);
    expect(trialPodFinished(pod({ phase: 'Running', containerStatuses: [] }))).toBe(false);
    expect(trialPodFinished(pod({ phase: 'Succeeded' }))).toBe(true);
    expect(
      trialPodFinished(
        pod({ phase: 'Running', containerStatuses: [{ name: 'c', state: { terminated: { exitCode: 0 } } }] }),
      ),
    ).toBe(true);
    expect(
      trialPodFinished(pod({ phase: 'Running', containerStatuses: [{ name: 'c', state: { running: {} } }] })),
    ).toBe(false);
  });
});

describe('finishedFromStatus', () => {
  const sweep: LearningPipelineSweep = {
    parameters: [{ name: 'k', categorical: ['a', 'b', 'c', 'd', 'e'] }],
    objective: { metric: 'acc', goal: 'Maximize' },
    maxTrials: 3,
    parallelTrials: 1,
    maxFailedTrials: 1,
  };
  const recorded = [
    { index: 0, parameters: { k: 'a' }, phase: 'Succeeded' as const, job: 'p-r1-train-t0', objective: 0.7 },
    { index: 1, parameters: { k: 'b' }, phase: 'Failed' as const, job: 'p-r1-train-t1', reason: 'exit 1' },
    { index: 2, parameters: { k: 'c' }, phase: 'EarlyStopped' as const, job: 'p-r1-train-t2' },
  ];

  it('keeps trials whose Job was deleted by hand in the accounting, so maxTrials holds', () => {
    const gone = finishedFromStatus(sweep, recorded, new Set([2]));
    expect(gone).toEqual([
      { index: 0, job: 'p-r1-train-t0', params: { k: 'a' }, state: 'Succeeded', metrics: { acc: 0.7 } },
      { index: 1, job: 'p-r1-train-t1', params: { k: 'b' }, state: 'Failed', message: 'exit 1' },
    ]);
    // trial 2's Job is still there; with 0 and 1 from status the budget of 3 is spent: no trial 3
    const stopped = {
      index: 2,
      job: 'p-r1-train-t2',
      params: { k: 'c' },
      state: 'Failed' as const,
      stoppedEarly: true,
    };
    const plan = planSweep({ sweep, step: 'train', trials: [...gone, stopped], seed: 1 });
    expect(plan.start).toEqual([]);
    expect(plan.phase).toBe('Succeeded');
    expect(plan.status).toMatchObject({ started: 3, succeeded: 1, failed: 1, earlyStopped: 1 });
  });
});
