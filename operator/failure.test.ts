import { describe, expect, it } from 'vitest';
import type { Condition } from './conditions.ts';
import { childFailure, ChildrenFailedError } from './child-failures.ts';
import { alreadyReported, classifyFailure, failedStatus } from './failure.ts';
import { KafkaUnavailableError } from './kafka/client.ts';
import { KubeApiError } from './kube/client.ts';

// Messages as kube-apiserver 1.36 words them
const quota = new KubeApiError(
  403,
  'Forbidden',
  'services "s3" is forbidden: exceeded quota: svc, requested: services=1, used: services=2, limited: services=2',
);
const policy = new KubeApiError(
  403,
  'Forbidden',
  "deployments.apps \"d\" is forbidden: ValidatingAdmissionPolicy 'deny' with binding 'deny' denied request: no blocked label",
);
const webhook = new KubeApiError(
  400,
  'BadRequest',
  'admission webhook "v.example.com" denied the request: nope',
);
const rangeFull = new KubeApiError(
  500,
  'InternalError',
  'Internal error occurred: failed to allocate a serviceIP: range is full',
);
const invalid = new KubeApiError(
  422,
  'Invalid',
  'Service "s" is invalid: spec.ports[0].port: Invalid value: 0',
);

/** applyChildren's error for one child that failed with `e`. */
const child = (kind: string, name: string, e: unknown) =>
  new ChildrenFailedError([childFailure('apply', kind, name, e)], { applied: [], pruned: [] });

describe('classifyFailure', () => {
  it('names a quota refusal QuotaExceeded with the API message, not retryable alone', () => {
    expect(classifyFailure(child('Service', 's3', quota))).toEqual({
      reason: 'QuotaExceeded',
      message:
        'Service/s3: services "s3" is forbidden: exceeded quota: svc, requested: services=1, used: services=2, limited: services=2',
      transient: false,
    });
  });

  it('names policy and webhook denials AdmissionDenied', () => {
    expect(classifyFailure(child('Deployment', 'd', policy))).toMatchObject({
      reason: 'AdmissionDenied',
      transient: false,
    });
    expect(classifyFailure(webhook)).toMatchObject({ reason: 'AdmissionDenied', transient: false });
  });

  it('calls a 5xx on a child apply ChildApplyFailed and retryable; elsewhere APIServerUnavailable', () => {
    expect(classifyFailure(child('Service', 's', rangeFull))).toMatchObject({
      reason: 'ChildApplyFailed',
      transient: true,
    });
    expect(classifyFailure(rangeFull)).toMatchObject({ reason: 'APIServerUnavailable', transient: true });
    expect(classifyFailure(new KubeApiError(0, 'NetworkError', 'GET /api: ECONNREFUSED'))).toMatchObject({
      reason: 'APIServerUnavailable',
      transient: true,
    });
  });

  it('calls a refused (4xx) child ChildApplyFailed, not retryable', () => {
    expect(classifyFailure(child('Service', 's', invalid))).toMatchObject({
      reason: 'ChildApplyFailed',
      transient: false,
    });
  });

  it('tells conflicts, throttling, RBAC refusals and dependencies apart', () => {
    expect(classifyFailure(new KubeApiError(409, 'Conflict', 'x'))).toMatchObject({
      reason: 'Conflict',
      transient: true,
    });
    expect(classifyFailure(new KubeApiError(429, 'TooManyRequests', 'x'))).toMatchObject({
      reason: 'Throttled',
      transient: true,
    });
    expect(
      classifyFailure(
        new KubeApiError(403, 'Forbidden', 'cannot create resource "services" in API group ""'),
      ),
    ).toMatchObject({ reason: 'PermissionDenied', transient: false });
    expect(classifyFailure(new KafkaUnavailableError('broker down'))).toMatchObject({
      reason: 'DependencyUnavailable',
      transient: true,
    });
    expect(classifyFailure(new TypeError('undefined is not a function'))).toMatchObject({
      reason: 'ReconcileError',
      transient: true,
    });
  });

  it('hides credentials in the message and cuts long ones', () => {
    const leaky = new KubeApiError(
      500,
      'InternalError',
      `GET http://user:hunter2@s3.local/x: Bearer abc.def ${'y'.repeat(5000)}`,
    );
    const { message } = classifyFailure(leaky);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('abc.def');
    expect(message.length).toBeLessThanOrEqual(1024);
  });
});

const t0 = new Date('2026-12-01T00:00:00Z');
const t1 = new Date('2026-12-01T00:01:00Z');

describe('failedStatus', () => {
  const previous = {
    observedGeneration: 1,
    url: 'http://fraud.ns.svc',
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Reconciled',
        message: 'ok',
        observedGeneration: 1,
        lastTransitionTime: '2026-11-30T00:00:00Z',
      },
      {
        type: 'KafkaReady',
        status: 'True',
        reason: 'TopicsReady',
        message: 't',
        observedGeneration: 1,
        lastTransitionTime: '2026-11-30T00:00:00Z',
      },
    ] satisfies Condition[],
  };

  it('writes Ready=False with the failure, Stalled for a permanent one, the new generation, and keeps the rest', () => {
    const failure = { reason: 'QuotaExceeded', message: 'exceeded quota', transient: false };
    const s = failedStatus(previous, failure, 2, t0);
    const conditions = s.conditions as Condition[];
    expect(s.observedGeneration).toBe(2);
    expect(s.url).toBe('http://fraud.ns.svc');
    expect(conditions.find((c) => c.type === 'Ready')).toEqual({
      type: 'Ready',
      status: 'False',
      reason: 'QuotaExceeded',
      message: 'exceeded quota',
      observedGeneration: 2,
      lastTransitionTime: '2026-12-01T00:00:00Z',
    });
    expect(conditions.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'QuotaExceeded',
    });
    expect(conditions.find((c) => c.type === 'Reconciling')).toBeUndefined();
    // what was last observed of Kafka is still true of generation 1
    expect(conditions.find((c) => c.type === 'KafkaReady')).toMatchObject({
      status: 'True',
      observedGeneration: 1,
    });
  });

  it('says Reconciling for a retryable failure, on an object that never had a status', () => {
    const s = failedStatus(
      undefined,
      { reason: 'ChildApplyFailed', message: 'range is full', transient: true },
      1,
      t0,
    );
    const conditions = s.conditions as Condition[];
    expect(conditions.map((c) => `${c.type}=${c.status}:${c.reason}`)).toEqual([
      'Ready=False:ChildApplyFailed',
      'Reconciling=True:ChildApplyFailed',
    ]);
  });

  it('is the same status for the same failure (no churn), and alreadyReported tells the retry from a new failure', () => {
    const failure = { reason: 'ChildApplyFailed', message: 'range is full', transient: true };
    const first = failedStatus(previous, failure, 2, t0);
    expect(failedStatus(first, failure, 2, t1)).toEqual(first);
    expect(alreadyReported(previous, failure)).toBe(false);
    expect(alreadyReported(first, failure)).toBe(true);
    expect(alreadyReported(first, { ...failure, message: 'other' })).toBe(false);
  });
});
