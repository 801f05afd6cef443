import { describe, expect, it } from 'vitest';
import { podFailure } from '../../operator/kube/workloads.ts';
import type { PodObject } from '../../operator/kube/workloads.ts';
import { loadFailureMessage } from '../../runtime/termination.ts';
import { servingFailure } from './failure.ts';

const pod = (containerStatus: Record<string, unknown>): PodObject =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'fraud-abc', namespace: 'ml' },
    status: {
      phase: 'Running',
      containerStatuses: [{ name: 'runtime', restartCount: 2, ...containerStatus }],
    },
  }) as PodObject;

const line = loadFailureMessage('Sha256Mismatch', 'sha256 mismatch: expected 00, got ab; refusing to serve');

describe('servingFailure', () => {
  it('names a crash loop whose last exit was a model load failure', () => {
    const f = servingFailure(
      podFailure(
        pod({
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: { terminated: { exitCode: 3, reason: 'Error', message: line } },
        }),
      ),
    );
    expect(f).toEqual({
      reason: 'ModelLoadFailed',
      message:
        'pod fraud-abc cannot load its model (Sha256Mismatch): sha256 mismatch: expected 00, got ab; refusing to serve',
      pod: 'fraud-abc',
      terminationMessage: line,
    });
  });

  it('names the first failed start too, before any back-off', () => {
    const f = servingFailure(podFailure(pod({ state: { terminated: { exitCode: 3, message: line } } })));
    expect(f?.reason).toBe('ModelLoadFailed');
  });

  it('leaves other failures as they are, with what the container said in the message', () => {
    const crash = podFailure(
      pod({
        state: { waiting: { reason: 'CrashLoopBackOff' } },
        lastState: { terminated: { exitCode: 1, message: 'panic: boom' } },
      }),
    );
    expect(servingFailure(crash)).toBe(crash);
    expect(crash).toMatchObject({ reason: 'CrashLoopBackOff', terminationMessage: 'panic: boom' });
    expect(crash?.message).toMatch(/last exit code 1\): panic: boom$/);
    const oom = podFailure(pod({ lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } } }));
    expect(servingFailure(oom)).toBe(oom);
    expect(servingFailure(undefined)).toBeUndefined();
  });
});
