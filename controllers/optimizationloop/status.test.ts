import { describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import type { Status } from './state.ts';
import { carriedOver, loopStatus } from './status.ts';

const now = new Date('2026-12-07T10:00:00Z');
const t = '2026-12-07T09:00:00Z';
const cond = (type: string, status: 'True' | 'False', reason: string, message = reason): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: t,
});
const get = (s: { conditions?: Condition[] }, type: string) => s.conditions?.find((c) => c.type === type);

describe('loopStatus', () => {
  it('Ready=True while recommending, with what the loop is doing and what holds it', () => {
    const loop: Status = {
      trial: { id: 3, purpose: 'Candidate', phase: 'Measuring', params: {}, phaseTime: t, startTime: t },
      conditions: [
        cond('Holding', 'True', 'Inconclusive', 'no data for the objective (empty or NaN); measuring again'),
      ],
    };
    const s = loopStatus({ generation: 4, mode: 'Recommend', loop }, now);
    expect(s.observedGeneration).toBe(4);
    expect(get(s, 'Ready')).toMatchObject({
      status: 'True',
      reason: 'Recommending',
      message: 'trial 3 Measuring; holding: no data for the objective (empty or NaN); measuring again',
      observedGeneration: 4,
    });
    expect(get(s, 'Holding')).toMatchObject({ status: 'True', lastTransitionTime: t });
    expect(get(s, 'Stalled')).toBeUndefined();
  });

  it('a stop that needs a user stalls; a suspension is Ready (what the spec asks for), neither Stalled nor Reconciling', () => {
    const failed = loopStatus(
      {
        generation: 1,
        mode: 'Apply',
        loop: { conditions: [cond('Stopped', 'True', 'MaxFailedTrials', '3 trials failed')] },
      },
      now,
    );
    expect(get(failed, 'Ready')).toMatchObject({ status: 'False', reason: 'MaxFailedTrials' });
    expect(get(failed, 'Stalled')).toMatchObject({ status: 'True', reason: 'MaxFailedTrials' });
    const suspended = loopStatus(
      {
        generation: 1,
        mode: 'Apply',
        loop: { conditions: [cond('Stopped', 'True', 'Suspended', 'suspended')] },
      },
      now,
    );
    expect(get(suspended, 'Ready')).toMatchObject({
      status: 'True',
      reason: 'Suspended',
      message: 'suspended',
    });
    expect(get(suspended, 'Stalled')).toBeUndefined();
    expect(get(suspended, 'Reconciling')).toBeUndefined();
  });

  it('failures outrank the loop: permanent ones stall, an outage is Reconciling', () => {
    const invalid = loopStatus(
      {
        generation: 2,
        mode: 'Apply',
        loop: {},
        failure: { reason: 'NotImplemented', message: 'mode Apply is not implemented', transient: false },
      },
      now,
    );
    expect(get(invalid, 'Ready')).toMatchObject({ status: 'False', reason: 'NotImplemented' });
    expect(get(invalid, 'Stalled')).toMatchObject({ status: 'True' });
    const down = loopStatus(
      {
        generation: 2,
        mode: 'Recommend',
        loop: {},
        failure: { reason: 'PrometheusUnavailable', message: 'refused', transient: true },
      },
      now,
    );
    expect(get(down, 'Ready')).toMatchObject({ status: 'Unknown', reason: 'PrometheusUnavailable' });
    expect(get(down, 'Reconciling')).toMatchObject({ status: 'True' });
  });
});

describe('carriedOver', () => {
  const previous = {
    observedGeneration: 1,
    baseline: { params: { 'spec.a': 1, 'spec.b': 2 }, trial: 0 },
    trialsCompleted: 4,
    failedTrials: 3,
    conditions: [
      cond('Ready', 'False', 'MaxFailedTrials'),
      cond('Stopped', 'True', 'MaxFailedTrials'),
      cond('Converged', 'True', 'MaxTrials'),
      cond('ConstraintViolated', 'True', 'TrialViolated'),
    ],
  };

  it('keeps everything within a generation', () => {
    expect(carriedOver(previous, ['spec.a', 'spec.b'], 1)).toBe(previous);
  });

  it('a new generation with the same paths keeps the baseline and history but restarts a stopped or converged loop', () => {
    const next = carriedOver(previous, ['spec.b', 'spec.a'], 2);
    expect(next.baseline).toEqual(previous.baseline);
    expect(next.trialsCompleted).toBe(4);
    expect(next.failedTrials).toBe(0); // a new failure budget
    expect(next.conditions?.map((c) => c.type)).toEqual(['Ready', 'ConstraintViolated']);
  });

  it('other paths start from scratch', () => {
    const next = carriedOver(previous, ['spec.a'], 2);
    expect(next.baseline).toBeUndefined();
    expect(next.trialsCompleted).toBeUndefined();
    expect(next.conditions?.map((c) => c.type)).toEqual(['Ready']);
  });
});
