import { describe, expect, it } from 'vitest';
import type { InferenceServiceObject } from './desired.ts';
import { servingSpecOf } from './desired.ts';
import type { StatusObservation } from './status.ts';
import { inferenceServiceStatus } from './status.ts';

const now = new Date('2026-01-01T00:00:00Z');
const obj: InferenceServiceObject = {
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'fraud', namespace: 'ml', uid: 'u', generation: 3 },
  spec: { model: { uri: 's3://m/fraud.onnx', version: 'v3' }, scaling: { minReplicas: 2 } },
};
const obs = (over: Partial<StatusObservation>): StatusObservation => ({
  generation: 3,
  errors: [],
  blockers: [],
  extra: [],
  desired: 'r1',
  decision: { revisions: { stable: 'r1' }, action: 'none' },
  health: { r1: { replicas: 2, readyReplicas: 2 } },
  stableServing: servingSpecOf(obj.spec),
  traffic: [{ revision: 'r1', percent: 100 }],
  ...over,
});
type C = { type: string; status: string; reason: string; message: string };
const c = (s: { conditions: C[] }, type: string) => s.conditions.find((x) => x.type === type);

describe('InferenceService status', () => {
  it('is Ready and Serving when the stable revision has minReplicas ready pods', () => {
    const s = inferenceServiceStatus(obj, obs({}), undefined, now);
    expect(s).toMatchObject({
      observedGeneration: 3,
      phase: 'Serving',
      url: 'http://fraud.ml.svc.cluster.local/v2/models/fraud',
      revisions: { stable: 'r1' },
      traffic: [{ revision: 'r1', percent: 100 }],
      canaryPercent: 0,
      replicas: 2,
      readyReplicas: 2,
      model: { version: 'v3', uri: 's3://m/fraud.onnx' },
    });
    expect(c(s, 'Ready')).toMatchObject({ status: 'True', reason: 'Reconciled' });
    expect(c(s, 'ModelLoaded')?.status).toBe('True');
    expect(c(s, 'RolloutComplete')?.status).toBe('True');
    expect(c(s, 'CanaryHealthy')).toMatchObject({ status: 'True', reason: 'NoCanary' });
    expect(c(s, 'Reconciling')).toBeUndefined();
    expect(c(s, 'Stalled')).toBeUndefined();
  });

  it('is not Ready while fewer than minReplicas are ready', () => {
    const s = inferenceServiceStatus(
      obj,
      obs({ health: { r1: { replicas: 2, readyReplicas: 1 } } }),
      undefined,
      now,
    );
    expect(c(s, 'Ready')).toMatchObject({ status: 'False', reason: 'Progressing' });
    expect(c(s, 'Reconciling')?.status).toBe('True');
    expect(s.phase).toBe('Degraded');
  });

  it('stays Ready, Degraded, while no more pods are down than the disruption budget allows', () => {
    const ready = inferenceServiceStatus(obj, obs({}), undefined, now);
    const crashed = {
      reason: 'ContainerFailed',
      message: 'container runtime of pod p2 exited with code 137 (Error)',
      pod: 'p2',
    };
    const s = inferenceServiceStatus(
      obj,
      obs({ health: { r1: { replicas: 2, readyReplicas: 1, failure: crashed } } }),
      ready,
      now,
    );
    expect(c(s, 'Ready')).toMatchObject({ status: 'True', reason: 'Reconciled' });
    expect(c(s, 'Ready')?.message).toMatch(
      /1 of 2 ready pod\(s\); 1 down, within the disruption budget \(1\): container runtime of pod p2/,
    );
    expect(c(s, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Progressing' });
    expect(c(s, 'Stalled')).toBeUndefined();
    expect(s.phase).toBe('Degraded');
    // more down than the budget: not Ready any more
    const none = inferenceServiceStatus(
      obj,
      obs({ health: { r1: { replicas: 2, readyReplicas: 0, failure: crashed } } }),
      s,
      now,
    );
    expect(c(none, 'Ready')).toMatchObject({ status: 'False', reason: 'ContainerFailed' });
    // the budget keeps a service Ready, it never makes one Ready: a first rollout needs every pod
    const first = inferenceServiceStatus(
      obj,
      obs({ health: { r1: { replicas: 2, readyReplicas: 1 } } }),
      none,
      now,
    );
    expect(c(first, 'Ready')).toMatchObject({ status: 'False', reason: 'Progressing' });
    // nor does it carry over to another stable revision
    const other = inferenceServiceStatus(
      obj,
      obs({
        desired: 'r2',
        decision: { revisions: { stable: 'r2' }, action: 'none' },
        health: { r2: { replicas: 2, readyReplicas: 1 } },
      }),
      ready,
      now,
    );
    expect(c(other, 'Ready')?.status).toBe('False');
  });

  it('says InsufficientGPU instead of a silent Pending, and keeps reconciling', () => {
    const failure = {
      reason: 'InsufficientGPU',
      message: 'pod p cannot be scheduled: no node has enough free nvidia.com/gpu',
    };
    const s = inferenceServiceStatus(
      obj,
      obs({ health: { r1: { replicas: 2, readyReplicas: 0, failure } } }),
      undefined,
      now,
    );
    expect(c(s, 'Ready')).toMatchObject({ status: 'False', reason: 'InsufficientGPU' });
    expect(c(s, 'ModelLoaded')).toMatchObject({ status: 'False', reason: 'InsufficientGPU' });
    expect(c(s, 'Reconciling')?.reason).toBe('InsufficientGPU');
    expect(s.phase).toBe('Pending');
    expect(s.lastFailure).toMatchObject({
      reason: 'InsufficientGPU',
      revision: 'r1',
      time: '2026-01-01T00:00:00Z',
    });
  });

  it('is Failed and Stalled when the only revision crash-loops', () => {
    const failure = { reason: 'CrashLoopBackOff', message: 'crash' };
    const s = inferenceServiceStatus(
      obj,
      obs({ health: { r1: { replicas: 2, readyReplicas: 0, failure } } }),
      undefined,
      now,
    );
    expect(c(s, 'Stalled')?.reason).toBe('CrashLoopBackOff');
    expect(s.phase).toBe('Failed');
  });

  it('shows a canary with its share of traffic while the stable revision keeps Ready', () => {
    const progress = { revision: 'r2', startTime: '2026-01-01T00:00:00Z', passedChecks: 0, failedChecks: 0 };
    const s = inferenceServiceStatus(
      obj,
      obs({
        desired: 'r2',
        decision: { revisions: { stable: 'r1', canary: 'r2' }, progress, action: 'started' },
        // the canary took one of the two replicas: the stable revision needs its share
        health: { r1: { replicas: 1, readyReplicas: 1 }, r2: { replicas: 1, readyReplicas: 0 } },
        stableTarget: 1,
        traffic: [
          { revision: 'r1', percent: 67 },
          { revision: 'r2', percent: 33 },
        ],
      }),
      undefined,
      now,
    );
    expect(s).toMatchObject({
      phase: 'Canary',
      canaryPercent: 33,
      canary: progress,
      replicas: 2,
      readyReplicas: 1,
    });
    expect(c(s, 'Ready')?.status).toBe('True');
    expect(c(s, 'Reconciling')?.reason).toBe('Progressing');
    expect(c(s, 'CanaryHealthy')?.status).toBe('Unknown');
    expect(c(s, 'RolloutComplete')).toMatchObject({ status: 'False', reason: 'Progressing' });
  });

  it('explains a rollback in lastFailure and conditions, and holds until the spec changes', () => {
    const failure = {
      reason: 'CrashLoopBackOff',
      message: 'container runtime of pod p is crash-looping',
      revision: 'r2',
    };
    const s = inferenceServiceStatus(
      obj,
      obs({
        desired: 'r2',
        decision: { revisions: { stable: 'r1', lastRolledBack: 'r2' }, action: 'rolledBack', failure },
      }),
      undefined,
      now,
    );
    expect(s.lastFailure).toEqual({
      reason: 'RolledBack',
      message: 'revision r2 was rolled back (CrashLoopBackOff): container runtime of pod p is crash-looping',
      revision: 'r2',
      time: '2026-01-01T00:00:00Z',
    });
    expect(s.revisions).toEqual({ stable: 'r1', lastRolledBack: 'r2' });
    expect(s.phase).toBe('Degraded');
    expect(c(s, 'Ready')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(c(s, 'Stalled')?.reason).toBe('RolledBack');
    expect(c(s, 'CanaryHealthy')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(c(s, 'RolloutComplete')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    // the next reconcile keeps the failure time
    const later = inferenceServiceStatus(
      obj,
      obs({ desired: 'r2', decision: { revisions: { stable: 'r1', lastRolledBack: 'r2' }, action: 'none' } }),
      s as Parameters<typeof inferenceServiceStatus>[2],
      new Date('2026-01-01T00:05:00Z'),
    );
    expect(later.lastFailure).toEqual(s.lastFailure);
  });

  it('records what was decided even when children failed, and names them in Ready', () => {
    const failure = { reason: 'CrashLoopBackOff', message: 'pod p is crash-looping', revision: 'r2' };
    const applyError = {
      reason: 'AdmissionDenied',
      message: "ConfigMap/fraud-inferenceservice-rules: ValidatingAdmissionPolicy 'p' denied request",
      transient: false,
    };
    const s = inferenceServiceStatus(
      obj,
      obs({
        desired: 'r2',
        decision: { revisions: { stable: 'r1', lastRolledBack: 'r2' }, action: 'rolledBack', failure },
        applyError,
      }),
      { conditions: [], revisions: { stable: 'r1', canary: 'r2' }, canary: { revision: 'r2' } },
      now,
    );
    // the rollback is in status, so the next reconcile does not bring the canary back
    expect(s.revisions).toEqual({ stable: 'r1', lastRolledBack: 'r2' });
    expect(s.canary).toBeUndefined();
    expect(s.lastFailure).toMatchObject({ reason: 'RolledBack', revision: 'r2' });
    expect(c(s, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'AdmissionDenied',
      message: applyError.message,
    });
    expect(c(s, 'Stalled')).toMatchObject({ status: 'True', reason: 'AdmissionDenied' });
    expect(c(s, 'Reconciling')).toBeUndefined();
    // a transient failure is retried: Reconciling rather than Stalled
    const transient = {
      reason: 'ChildApplyFailed',
      message: 'Service/fraud: range is full',
      transient: true,
    };
    const retry = inferenceServiceStatus(obj, obs({ applyError: transient }), undefined, now);
    expect(c(retry, 'Reconciling')).toMatchObject({ status: 'True', reason: 'ChildApplyFailed' });
    expect(c(retry, 'Stalled')).toBeUndefined();
  });

  it('says a rollback is pending while its Deployment or traffic children could not be changed', () => {
    const pendingRollback = { revision: 'r2', stable: 'r1', reason: 'CrashLoopBackOff', message: 'pod p' };
    const s = inferenceServiceStatus(
      obj,
      obs({
        desired: 'r2',
        decision: { revisions: { stable: 'r1', lastRolledBack: 'r2' }, action: 'none' },
        applyError: {
          reason: 'PermissionDenied',
          message: 'Deployment/fraud-r2 (prune): forbidden',
          transient: false,
        },
        pendingRollback,
      }),
      undefined,
      now,
    );
    expect(s.pendingRollback).toEqual(pendingRollback);
    expect(c(s, 'RolloutComplete')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(c(s, 'RolloutComplete')?.message).toMatch(/r2 is being rolled back to r1/);
    expect(c(s, 'Ready')?.message).toMatch(/Deployment\/fraud-r2 \(prune\)/);
    const done = inferenceServiceStatus(
      obj,
      obs({ desired: 'r2', decision: { revisions: { stable: 'r1', lastRolledBack: 'r2' }, action: 'none' } }),
      s as Parameters<typeof inferenceServiceStatus>[2],
      now,
    );
    expect(done.pendingRollback).toBeUndefined();
  });

  it('keeps the serving spec of the stable revision in status.stable', () => {
    const s = inferenceServiceStatus(obj, obs({}), undefined, now);
    expect(s.stable).toEqual({ revision: 'r1', ...servingSpecOf(obj.spec) });
  });

  it('reports an invalid spec as Stalled/InvalidSpec', () => {
    const s = inferenceServiceStatus(
      obj,
      obs({ errors: [{ field: 'spec.model.uri', message: 'bad' }], decision: undefined }),
      undefined,
      now,
    );
    expect(c(s, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(c(s, 'Stalled')?.message).toMatch(/spec\.model\.uri/);
  });

  it('does not churn: the same observation gives the same status', () => {
    const first = inferenceServiceStatus(obj, obs({}), undefined, now);
    const again = inferenceServiceStatus(
      obj,
      obs({}),
      first as Parameters<typeof inferenceServiceStatus>[2],
      new Date('2026-01-02T00:00:00Z'),
    );
    expect(again).toEqual(first);
  });
});
