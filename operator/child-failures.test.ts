import { describe, expect, it } from 'vitest';
import { childFailure, ChildrenFailedError, describeFailures } from './child-failures.ts';
import { isTransient, KubeApiError } from './kube/client.ts';

const denied = new KubeApiError(
  422,
  'Invalid',
  'configmaps "svc-inferenceservice-rules" is forbidden: ValidatingAdmissionPolicy \'no-rules\' denied request',
);
const throttled = new KubeApiError(429, 'TooManyRequests', 'slow down');
const empty = { applied: [], pruned: [] };

describe('childFailure', () => {
  it('keeps the API status, reason and message and classifies them', () => {
    expect(childFailure('apply', 'ConfigMap', 'svc-inferenceservice-rules', denied)).toEqual({
      action: 'apply',
      kind: 'ConfigMap',
      name: 'svc-inferenceservice-rules',
      message: denied.message,
      status: 422,
      reason: 'Invalid',
      transient: false,
    });
  });
  it('treats an error without an API answer as transient', () => {
    expect(childFailure('prune', 'Deployment', 'svc-abc', new Error('socket hang up'))).toMatchObject({
      status: 0,
      reason: 'Unknown',
      message: 'socket hang up',
      transient: true,
    });
  });
});

describe('ChildrenFailedError', () => {
  it('names every failed child with the API message', () => {
    const e = new ChildrenFailedError(
      [
        childFailure('apply', 'ConfigMap', 'svc-inferenceservice-rules', denied),
        childFailure(
          'prune',
          'Deployment',
          'svc-abc',
          new KubeApiError(403, 'Forbidden', 'no delete for you'),
        ),
      ],
      empty,
    );
    expect(e.message).toBe(
      `ConfigMap/svc-inferenceservice-rules: ${denied.message}; Deployment/svc-abc (prune): no delete for you`,
    );
    expect(e).toBeInstanceOf(KubeApiError);
    expect(e.failures).toHaveLength(2);
  });

  it('is permanent when every failure is, with the first failure status', () => {
    const e = new ChildrenFailedError(
      [
        childFailure('apply', 'ConfigMap', 'a', denied),
        childFailure('apply', 'Service', 'b', new KubeApiError(403, 'Forbidden', 'no')),
      ],
      empty,
    );
    expect(e.status).toBe(422);
    expect(isTransient(e)).toBe(false);
  });

  it('is transient when any failure is, so the reconcile retries with backoff', () => {
    const e = new ChildrenFailedError(
      [childFailure('apply', 'ConfigMap', 'a', denied), childFailure('apply', 'Service', 'b', throttled)],
      empty,
    );
    expect(e.status).toBe(429);
    expect(isTransient(e)).toBe(true);
  });

  it('carries what did succeed', () => {
    const pruned = [{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'svc-bad' } }];
    const e = new ChildrenFailedError([childFailure('apply', 'ConfigMap', 'a', denied)], {
      applied: [],
      pruned,
    });
    expect(e.result.pruned).toEqual(pruned);
  });

  it('needs a failure', () => {
    expect(() => new ChildrenFailedError([], empty)).toThrow(/at least one failure/);
  });

  it('joins nothing for no failures', () => {
    expect(describeFailures([])).toBe('');
  });
});
