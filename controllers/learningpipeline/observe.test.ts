import { describe, expect, it } from 'vitest';
import type { PodObject } from '../../operator/kube/workloads.ts';
import type { JobObject } from './observe.ts';
import {
  ATTEMPT_LABEL,
  EARLY_STOPPED_ANNOTATION,
  RUN_LABEL,
  STEP_LABEL,
  TRIAL_LABEL,
  TRIAL_PARAMS_ANNOTATION,
} from './jobs.ts';
import {
  attemptOf,
  attemptsByRun,
  podExitMessage,
  podStuckMessage,
  trialOf,
  trialsByRun,
} from './observe.ts';

const job = (name: string, labels: Record<string, string>, status: JobObject['status'] = {}): JobObject => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name, labels },
  status,
});
const labels = (run: string, step: string, attempt: string) => ({
  'ymera.io/run': run,
  'ymera.io/step': step,
  'ymera.io/attempt': attempt,
});

describe('attemptOf', () => {
  it('reads a running, a completed and a failed attempt', () => {
    expect(attemptOf(job('j1', labels('r', 'a', '1')))).toMatchObject({
      runId: 'r',
      step: 'a',
      attempt: 1,
      state: 'Active',
    });
    const done = attemptOf(
      job('j2', labels('r', 'a', '2'), {
        completionTime: '2026-11-21T10:00:05Z',
        conditions: [{ type: 'Complete', status: 'True' }],
      }),
    );
    expect(done).toMatchObject({ state: 'Succeeded', finishedAt: new Date('2026-11-21T10:00:05Z') });
    const failed = attemptOf(
      job('j3', labels('r', 'b', '1'), {
        conditions: [
          {
            type: 'Failed',
            status: 'True',
            reason: 'DeadlineExceeded',
            message: 'x',
            lastTransitionTime: '2026-11-21T10:01:00Z',
          },
        ],
      }),
    );
    expect(failed).toMatchObject({
      state: 'Failed',
      message: 'timed out (timeoutSeconds)',
      finishedAt: new Date('2026-11-21T10:01:00Z'),
    });
  });

  it('treats FailureTarget (pods still terminating) as failed', () => {
    const a = attemptOf(
      job('j', labels('r', 'a', '1'), {
        conditions: [{ type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded' }],
      }),
    );
    expect(a?.state).toBe('Failed');
  });

  it('ignores Jobs without our labels or with a bad attempt number', () => {
    expect(attemptOf(job('x', {}))).toBeUndefined();
    expect(attemptOf(job('x', labels('r', 'a', 'zero')))).toBeUndefined();
    expect(attemptOf(job('x', labels('r', 'a', '0')))).toBeUndefined();
  });
});

describe('attemptsByRun', () => {
  it('groups attempts by run and leaves out Jobs being deleted', () => {
    const deleting = job('d', labels('r1', 'a', '2'));
    deleting.metadata.deletionTimestamp = '2026-11-21T10:00:00Z';
    const grouped = attemptsByRun([
      job('a', labels('r1', 'a', '1')),
      job('b', labels('r2', 'a', '1')),
      deleting,
    ]);
    expect([...grouped.keys()].sort()).toEqual(['r1', 'r2']);
    expect(grouped.get('r1')?.map((a) => a.job)).toEqual(['a']);
  });
});

describe('pod messages', () => {
  const pod = (containerStatuses: unknown[], phase = 'Failed'): PodObject =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      status: { phase, containerStatuses },
    }) as PodObject;

  it('names the container and exit code of a failed attempt', () => {
    expect(
      podExitMessage(pod([{ name: 'train', state: { terminated: { exitCode: 3, reason: 'Error' } } }])),
    ).toBe('container train exited with code 3 (Error)');
    expect(podExitMessage(pod([{ name: 'train', state: { terminated: { exitCode: 0 } } }]))).toBeUndefined();
  });

  it('says why a running attempt waits', () => {
    const waiting = pod(
      [
        {
          name: 'train',
          ready: false,
          state: { waiting: { reason: 'ImagePullBackOff', message: 'no such image' } },
        },
      ],
      'Pending',
    );
    expect(podStuckMessage(waiting)).toMatch(/ImagePullBackOff/);
  });
});

describe('trialOf', () => {
  const job = (over: Partial<JobObject['metadata']> = {}, status?: JobObject['status']): JobObject => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: 'p-r1-train-t2',
      labels: { [RUN_LABEL]: 'r1', [STEP_LABEL]: 'train', [TRIAL_LABEL]: '2' },
      annotations: { [TRIAL_PARAMS_ANNOTATION]: '{"lr":0.01,"kernel":"rbf"}' },
      ...over,
    },
    ...(status ? { status } : {}),
  });

  it('reads index, hyperparameters and state from the Job', () => {
    expect(trialOf(job())).toEqual({
      runId: 'r1',
      step: 'train',
      index: 2,
      job: 'p-r1-train-t2',
      params: { lr: 0.01, kernel: 'rbf' },
      state: 'Active',
    });
    expect(trialOf(job({}, { conditions: [{ type: 'Complete', status: 'True' }] }))?.state).toBe('Succeeded');
  });

  it('carries the Job resourceVersion, the precondition of an early stop', () => {
    expect(trialOf(job({ resourceVersion: '42' }))?.resourceVersion).toBe('42');
  });

  it('tells an early-stopped trial from a failed one', () => {
    const failed = { conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded' }] };
    expect(trialOf(job({}, failed))).toMatchObject({
      state: 'Failed',
      message: 'timed out (timeoutSeconds)',
    });
    const stopped = job(
      { annotations: { [TRIAL_PARAMS_ANNOTATION]: '{"lr":1}', [EARLY_STOPPED_ANNOTATION]: 'worse' } },
      failed,
    );
    expect(trialOf(stopped)).toMatchObject({ state: 'Failed', stoppedEarly: true });
  });

  it('ignores attempt Jobs and trials without readable hyperparameters; attempts ignore trials', () => {
    expect(trialOf(job({ annotations: { [TRIAL_PARAMS_ANNOTATION]: '[1]' } }))).toBeUndefined();
    expect(
      trialOf(job({ labels: { [RUN_LABEL]: 'r1', [STEP_LABEL]: 'train', [ATTEMPT_LABEL]: '1' } })),
    ).toBeUndefined();
    expect(attemptOf(job())).toBeUndefined();
    expect(
      trialsByRun([job()])
        .get('r1')
        ?.get('train')
        ?.map((t) => t.index),
    ).toEqual([2]);
  });
});
