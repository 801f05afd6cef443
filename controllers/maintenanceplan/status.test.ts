import { describe, expect, it } from 'vitest';
import type { NodePrediction } from './predict.ts';
import type { MaintenancePlanSpec } from './schema.ts';
import type { NodeInfo } from './status.ts';
import {
  advanceRuns,
  advanceShadow,
  atRiskNote,
  evaluatedStatus,
  evaluationWaitMs,
  failedStatus,
  leftCordonedCondition,
  MAX_PREDICTIONS,
  runsFromStatus,
  selectNodes,
} from './status.ts';

const spec: MaintenancePlanSpec = {
  nodeSelector: {},
  signals: [
    { name: 'gpu-temp', query: 'q1' },
    { name: 'ecc', query: 'q2' },
  ],
  predictor: { model: { uri: 'file:///m.onnx' }, threshold: 0.8, consecutive: 2 },
  window: { schedule: '0 2 * * 6', durationMinutes: 60 },
};
const now = new Date('2026-12-04T23:00:00.500Z');
const scored = (node: string, risk: number): NodePrediction => ({
  node,
  state: 'Scored',
  risk,
  topSignals: [
    { signal: 'ecc', contribution: risk - 0.1 },
    { signal: 'gpu-temp', contribution: -0.01 },
  ],
});
const unknown = (node: string, signal = 'ecc'): NodePrediction => ({
  node,
  state: 'Unknown',
  problems: [{ signal, reason: 'Missing' }],
  message: `${signal} missing`,
});
const cond = (s: { conditions?: { type: string }[] } | undefined, type: string) =>
  s?.conditions?.find((c) => c.type === type) as
    { status: string; reason: string; message: string } | undefined;

describe('selectNodes', () => {
  const nodes: NodeInfo[] = [
    { name: 'gpu-b', labels: { gpu: 'true' } },
    { name: 'cp', labels: { 'node-role.kubernetes.io/control-plane': '' } },
    { name: 'gpu-a', labels: { gpu: 'true' } },
  ];
  it('leaves control-plane nodes out unless the selector names the control-plane label', () => {
    expect(selectNodes(nodes, {})).toEqual(['gpu-a', 'gpu-b']);
    expect(
      selectNodes(nodes, {
        matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }],
      }),
    ).toEqual(['cp', 'gpu-a', 'gpu-b']);
  });
});

describe('advanceRuns', () => {
  it('counts evaluations in a row at or over the threshold; Unknown or a low risk resets the run', () => {
    let runs = new Map<string, number>();
    const step = (p: NodePrediction[]) => {
      const e = advanceRuns(p, runs, 0.8, 2);
      runs = new Map(e.map((x) => [x.node, x.consecutive]));
      return Object.fromEntries(e.map((x) => [x.node, [x.consecutive, x.atRisk, x.becameAtRisk]]));
    };
    expect(step([scored('a', 0.9), scored('b', 0.9), scored('c', 0.2)])).toEqual({
      a: [1, false, false],
      b: [1, false, false],
      c: [0, false, false],
    });
    expect(step([scored('a', 0.8), unknown('b'), scored('c', 0.95)])).toEqual({
      a: [2, true, true],
      b: [0, false, false],
      c: [1, false, false],
    });
    // at risk stays at risk, but only the crossing evaluation "became" at risk (one Event)
    expect(step([scored('a', 0.99), scored('b', 0.9), scored('c', 0.5)])).toEqual({
      a: [3, true, false],
      b: [1, false, false],
      c: [0, false, false],
    });
  });

  it('resumes runs from status after a restart', () => {
    const runs = runsFromStatus({
      predictions: [{ node: 'a', state: 'Scored', risk: 0.9, consecutive: 1, atRisk: false }],
    });
    expect(advanceRuns([scored('a', 0.9)], runs, 0.8, 2)[0]).toMatchObject({ consecutive: 2, atRisk: true });
  });
});

describe('evaluatedStatus', () => {
  it('records risks, top signals, runs and abstentions naming the missing signal', () => {
    const evaluated = advanceRuns(
      [scored('a', 0.93456), scored('b', 0.1), unknown('c', 'gpu-temp')],
      new Map([['a', 1]]),
      0.8,
      2,
    );
    const { status } = evaluatedStatus({ generation: 3, spec, selected: 3, evaluated, now }, undefined);
    expect(status).toMatchObject({
      observedGeneration: 3,
      selectedNodes: 3,
      nodesAtRisk: 1,
      nodesUnknown: 1,
      lastEvaluationTime: '2026-12-04T23:00:00Z',
    });
    expect(status.predictions).toEqual([
      {
        node: 'a',
        state: 'Scored',
        risk: 0.93,
        consecutive: 2,
        atRisk: true,
        topSignals: [
          { name: 'ecc', contribution: 0.835 },
          { name: 'gpu-temp', contribution: -0.01 },
        ],
      },
      { node: 'c', state: 'Unknown', consecutive: 0, atRisk: false, message: 'gpu-temp missing' },
      expect.objectContaining({ node: 'b', risk: 0.1, atRisk: false }),
    ]);
    expect(cond(status, 'PredictionsComplete')).toMatchObject({ status: 'False', reason: 'SignalsMissing' });
    expect(cond(status, 'PredictionsComplete')?.message).toMatch(
      /c \(gpu-temp missing\).*signals affected: gpu-temp/,
    );
    expect(cond(status, 'Ready')).toMatchObject({ status: 'True', reason: 'Predicting' });
    expect(cond(status, 'Acting')).toMatchObject({ status: 'False', reason: 'Shadow' });
    expect(cond(status, 'MassFlag')).toMatchObject({ status: 'False' });
    expect(status.conditions?.every((c) => c.observedGeneration === 3)).toBe(true);
  });

  it('keeps status bounded to the most relevant nodes', () => {
    const many = Array.from({ length: 50 }, (_, i) => scored(`n${String(i).padStart(2, '0')}`, i / 100));
    const { status } = evaluatedStatus(
      { generation: 1, spec, selected: 50, evaluated: advanceRuns(many, new Map(), 0.8, 2), now },
      undefined,
    );
    expect(status.predictions).toHaveLength(MAX_PREDICTIONS);
    expect(status.predictions?.[0]).toMatchObject({ node: 'n49', risk: 0.49 });
  });

  it('trips the mass-flag condition when too many nodes are at risk at once', () => {
    const evaluated = advanceRuns(
      [scored('a', 0.9), scored('b', 0.9), scored('c', 0.1), scored('d', 0.1)],
      new Map([
        ['a', 1],
        ['b', 1],
      ]),
      0.8,
      2,
    );
    const { status, massFlag } = evaluatedStatus(
      { generation: 1, spec, selected: 4, evaluated, now },
      undefined,
    );
    expect(massFlag.stop).toBe(true);
    expect(cond(status, 'MassFlag')).toMatchObject({ status: 'True', reason: 'TooManyAtRisk' });
    expect(cond(status, 'MassFlag')?.message).toMatch(/2 of 4 selected nodes \(50%\)/);
  });

  it('in Act mode without the act outcome says nothing was evaluated to act on, and still predicts', () => {
    const evaluated = advanceRuns([scored('a', 0.1)], new Map(), 0.8, 2);
    const { status } = evaluatedStatus(
      { generation: 1, spec: { ...spec, mode: 'Act' }, selected: 1, evaluated, now },
      undefined,
    );
    expect(cond(status, 'Acting')).toMatchObject({ status: 'False', reason: 'NotEvaluated' });
    expect(cond(status, 'Ready')).toMatchObject({ status: 'False', reason: 'NotEvaluated' });
    expect(status.predictions).toHaveLength(1);
  });

  it('in Act mode records the plan: Acting, phase, scheduled, history and the next window', () => {
    const evaluated = advanceRuns([scored('a', 0.9)], new Map([['a', 1]]), 0.8, 2);
    const act = {
      acting: { status: 'True' as const, reason: 'Maintaining', message: '1 node(s) under maintenance' },
      phase: 'InProgress' as const,
      scheduled: [{ node: 'a', id: 'a@1', actions: ['Cordon' as const], state: 'InProgress' as const }],
      history: [{ node: 'b', startTime: '2026-12-05T00:00:00Z', result: 'Succeeded' as const }],
      nextWindowTime: '2026-12-12T02:00:00Z',
    };
    const { status } = evaluatedStatus(
      { generation: 1, spec: { ...spec, mode: 'Act' }, selected: 1, evaluated, now, act },
      undefined,
    );
    expect(cond(status, 'Acting')).toMatchObject({ status: 'True', reason: 'Maintaining' });
    expect(cond(status, 'Ready')).toMatchObject({ status: 'True', reason: 'Acting' });
    expect(status).toMatchObject({
      phase: 'InProgress',
      scheduled: act.scheduled,
      history: act.history,
      nextWindowTime: '2026-12-12T02:00:00Z',
    });
  });

  it('writes an event note with the risk and the top signals', () => {
    const [e] = advanceRuns([scored('a', 0.9)], new Map([['a', 1]]), 0.8, 2);
    expect(atRiskNote('gpus', e!, 0.8, 2)).toBe(
      'MaintenancePlan gpus: failure risk 0.9 ≥ 0.8 for 2 evaluations in a row; top signals (change in risk vs the fleet median): ecc +0.8, gpu-temp -0.01',
    );
  });
});

describe('failedStatus', () => {
  it('stalls naming the cause and keeps the last predictions', () => {
    const previous = {
      observedGeneration: 1,
      lastEvaluationTime: '2026-12-04T22:00:00Z',
      predictions: [{ node: 'a', state: 'Scored' as const, risk: 0.2, consecutive: 0, atRisk: false }],
    };
    const r = { reason: 'ModelLoadFailed', message: 'spec.predictor.model file:///m.onnx: Sha256Mismatch' };
    const status = failedStatus({ generation: 2, spec, now }, { stalled: r, predictor: r }, previous);
    expect(status.observedGeneration).toBe(2);
    expect(status.predictions).toEqual(previous.predictions);
    expect(cond(status, 'Stalled')).toMatchObject({ status: 'True', reason: 'ModelLoadFailed' });
    expect(cond(status, 'Ready')).toMatchObject({ status: 'False', reason: 'ModelLoadFailed' });
    expect(cond(status, 'PredictorReady')).toMatchObject({ status: 'False' });
  });

  it('is Reconciling, not Stalled, while Prometheus is unreachable', () => {
    const status = failedStatus(
      { generation: 1, spec, now },
      { reconciling: { reason: 'PrometheusUnavailable', message: 'connection refused' } },
      undefined,
    );
    expect(cond(status, 'Reconciling')).toMatchObject({ status: 'True', reason: 'PrometheusUnavailable' });
    expect(cond(status, 'Stalled')).toBeUndefined();
  });
});

describe('advanceShadow', () => {
  const at = (iso: string) => new Date(iso);
  it('scores flags against NotReady transitions within the horizon as precision and recall', () => {
    // day 0: the plan starts; node a flagged, later NotReady within the horizon; b flagged, never fails
    let s = advanceShadow(undefined, {
      now: at('2026-12-01T00:00:00Z'),
      horizonHours: 24,
      flagged: [],
      notReady: [],
    });
    s = advanceShadow(s, {
      now: at('2026-12-02T01:00:00Z'),
      horizonHours: 24,
      flagged: ['a', 'b'],
      notReady: [],
    });
    expect(s).toMatchObject({ pending: 2, truePositives: 0, falsePositives: 0 });
    expect(s.precision).toBeUndefined();
    const failed = { node: 'a', since: at('2026-12-02T05:00:00Z') };
    s = advanceShadow(s, {
      now: at('2026-12-02T06:00:00Z'),
      horizonHours: 24,
      flagged: [],
      notReady: [failed],
    });
    // the same NotReady seen again is one failure, not two
    s = advanceShadow(s, {
      now: at('2026-12-02T07:00:00Z'),
      horizonHours: 24,
      flagged: [],
      notReady: [failed],
    });
    expect(s.failures).toEqual([{ node: 'a', at: '2026-12-02T05:00:00Z' }]);
    expect(s).toMatchObject({
      truePositives: 1,
      pending: 1,
      failuresObserved: 1,
      failuresCaught: 1,
      recall: 1,
    });
    // b's horizon passes without a failure: a false positive
    s = advanceShadow(s, { now: at('2026-12-03T02:00:00Z'), horizonHours: 24, flagged: [], notReady: [] });
    expect(s).toMatchObject({ truePositives: 1, falsePositives: 1, pending: 0, precision: 0.5, recall: 1 });
    expect(s.since).toBe('2026-12-01T00:00:00Z');
    // older than two horizons: dropped, status stays bounded
    s = advanceShadow(s, { now: at('2026-12-05T00:00:00Z'), horizonHours: 24, flagged: [], notReady: [] });
    expect(s.flags).toEqual([]);
    expect(s.failures).toEqual([]);
  });
});

describe('evaluationWaitMs', () => {
  const last = { observedGeneration: 2, lastEvaluationTime: '2026-12-04T23:00:00Z' };
  it('waits out the interval since the last evaluation, whatever triggered the reconcile', () => {
    expect(evaluationWaitMs(last, 2, 5000, new Date('2026-12-04T23:00:01.500Z'))).toBe(3500);
    expect(evaluationWaitMs(last, 2, 5000, new Date('2026-12-04T23:00:04.500Z'))).toBe(0);
  });
  it('evaluates at once when never evaluated or the spec changed', () => {
    expect(evaluationWaitMs(undefined, 1, 5000, now)).toBe(0);
    expect(evaluationWaitMs(last, 3, 5000, new Date('2026-12-04T23:00:01Z'))).toBe(0);
  });
});

describe('leftCordonedCondition', () => {
  it('is True naming the nodes left cordoned after a failed maintenance, False when none is', () => {
    expect(leftCordonedCondition(['n1', 'n2'])).toMatchObject({
      type: 'NodesLeftCordoned',
      status: 'True',
      reason: 'MaintenanceFailed',
      message: expect.stringMatching(/^n1, n2 stay cordoned after a failed maintenance/),
    });
    expect(leftCordonedCondition([])).toMatchObject({ status: 'False', reason: 'None' });
  });
});
