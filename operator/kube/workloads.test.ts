import { describe, expect, it } from 'vitest';
import type { PodObject } from './workloads.ts';
import { deploymentFailure, firstPodFailure, isPodReady, podFailure } from './workloads.ts';

const pod = (name: string, status: PodObject['status']): PodObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  status,
});

describe('pod failures', () => {
  it('names crash loops, image pulls, OOM kills, failed containers and failed pods', () => {
    expect(
      podFailure(
        pod('a', {
          phase: 'Running',
          containerStatuses: [
            {
              name: 'runtime',
              restartCount: 3,
              state: { waiting: { reason: 'CrashLoopBackOff' } },
              lastState: { terminated: { exitCode: 1, reason: 'Error' } },
            },
          ],
        }),
      ),
    ).toEqual({
      reason: 'CrashLoopBackOff',
      message: 'container runtime of pod a is crash-looping (restarts: 3, last exit code 1)',
      pod: 'a',
    });
    const pull = (reason: string) =>
      podFailure(
        pod('b', {
          phase: 'Pending',
          containerStatuses: [{ name: 'runtime', state: { waiting: { reason } } }],
        }),
      );
    expect(pull('ImagePullBackOff')?.reason).toBe('ImagePullBackOff');
    expect(pull('ErrImagePull')?.reason).toBe('ImagePullBackOff');
    expect(
      podFailure(
        pod('c', {
          phase: 'Running',
          containerStatuses: [
            {
              name: 'runtime',
              state: { running: {} },
              lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
            },
          ],
        }),
      )?.reason,
    ).toBe('OOMKilled');
    expect(
      podFailure(
        pod('d', {
          phase: 'Failed',
          containerStatuses: [{ name: 'runtime', state: { terminated: { exitCode: 1, reason: 'Error' } } }],
        }),
      ),
    ).toMatchObject({ reason: 'ContainerFailed', message: expect.stringContaining('exited with code 1') });
    expect(podFailure(pod('e', { phase: 'Failed', reason: 'Evicted' }))?.reason).toBe('PodFailed');
  });

  it('tells missing GPUs apart from other scheduling failures', () => {
    const unschedulable = (message: string) =>
      pod('g', {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }],
      });
    expect(
      podFailure(
        unschedulable(
          '0/4 nodes are available: 2 Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint.',
        ),
      ),
    ).toMatchObject({
      reason: 'InsufficientGPU',
      message: expect.stringContaining('nvidia.com/gpu'),
    });
    expect(podFailure(unschedulable('0/4 nodes are available: 4 Insufficient memory.'))?.reason).toBe(
      'Unschedulable',
    );
  });

  it('sees nothing wrong with running, starting or deleted pods', () => {
    const running = pod('r', {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'runtime', ready: true, state: { running: {} } }],
    });
    expect(podFailure(running)).toBeUndefined();
    expect(isPodReady(running)).toBe(true);
    expect(podFailure(pod('p', { phase: 'Pending' }))).toBeUndefined();
    const deleted = {
      ...pod('x', { phase: 'Failed' }),
      metadata: { name: 'x', deletionTimestamp: '2026-01-01T00:00:00Z' },
    };
    expect(podFailure(deleted)).toBeUndefined();
  });

  it('prefers a crash over a scheduling failure, deterministically', () => {
    const gpu = pod('a', {
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: '1 Insufficient nvidia.com/gpu',
        },
      ],
    });
    const crash = pod('b', {
      containerStatuses: [{ name: 'runtime', state: { waiting: { reason: 'CrashLoopBackOff' } } }],
    });
    expect(firstPodFailure([gpu, crash])?.reason).toBe('CrashLoopBackOff');
    expect(firstPodFailure([gpu])?.reason).toBe('InsufficientGPU');
    expect(firstPodFailure([])).toBeUndefined();
  });

  it('reports a Deployment past its progress deadline', () => {
    expect(
      deploymentFailure({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        status: {
          conditions: [
            {
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: 'timed out',
            },
          ],
        },
      })?.reason,
    ).toBe('ProgressDeadlineExceeded');
  });

  it('reports pods refused at creation from the ReplicaFailure condition, naming quota and admission', () => {
    const refused = (message: string) =>
      deploymentFailure({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        status: {
          conditions: [
            { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: 'progressing' },
            { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message },
          ],
        },
      });
    expect(
      refused(
        'pods "d-1" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1',
      ),
    ).toEqual({
      reason: 'QuotaExceeded',
      message:
        'Deployment d cannot create pods: pods "d-1" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1',
    });
    expect(
      refused("pods \"d-1\" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'b' denied request: no")
        ?.reason,
    ).toBe('AdmissionDenied');
    expect(refused('something else')?.reason).toBe('FailedCreate');
  });
});
