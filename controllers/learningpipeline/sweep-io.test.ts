import { describe, expect, it } from 'vitest';
import { KubeApiError } from '../../operator/kube/client.ts';
import type { PodObject } from '../../operator/kube/workloads.ts';
import { OnceSet, earlyStoppingForbiddenMessage, isLogForbidden, trialPodFinished } from './sweep-io.ts';

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
