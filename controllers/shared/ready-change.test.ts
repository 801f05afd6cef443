import { describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import { changedReady, publishReadyChange } from './ready-change.ts';

const ready = (status: Condition['status'], reason: string, message = 'm'): Condition => ({
  type: 'Ready',
  status,
  reason,
  message,
  observedGeneration: 3,
  lastTransitionTime: '2026-11-21T10:00:00Z',
});

describe('changedReady', () => {
  it('returns the new Ready when status or reason changed, and nothing for a message-only change', () => {
    expect(changedReady(undefined, [ready('True', 'Idle')])?.reason).toBe('Idle');
    expect(changedReady([ready('True', 'Idle')], [ready('False', 'Idle')])?.status).toBe('False');
    expect(changedReady([ready('True', 'Idle')], [ready('True', 'Running')])?.reason).toBe('Running');
    expect(changedReady([ready('True', 'Idle', 'a')], [ready('True', 'Idle', 'b')])).toBeUndefined();
    expect(changedReady([ready('True', 'Idle')], [])).toBeUndefined();
  });
});

describe('publishReadyChange', () => {
  it('publishes status.changed keyed by generation, status and reason', () => {
    const published: unknown[] = [];
    const resource = {
      group: 'ymera.io',
      version: 'v1alpha1',
      kind: 'LearningPipeline',
      plural: 'learningpipelines',
      namespaced: true,
    };
    publishReadyChange(
      { publish: (e) => published.push(e) },
      resource,
      { apiVersion: 'ymera.io/v1alpha1', kind: 'LearningPipeline', metadata: { name: 'p', generation: 3 } },
      ready('False', 'RunFailed', 'why'),
    );
    expect(published).toEqual([
      expect.objectContaining({
        type: 'status.changed',
        discriminator: '3:False:RunFailed',
        data: { generation: 3, ready: false, reason: 'RunFailed', message: 'why' },
      }),
    ]);
  });
});
