import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  MAINTENANCE_ACTIONS_TOTAL,
  MAINTENANCE_DURATION,
  MAINTENANCE_STARTED_TIMESTAMP,
  MASS_FLAG,
  NODE_FAILURE_RISK,
  PREDICTOR_READY,
  PlanMetrics,
  drainResult,
} from './metrics.ts';

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name);
  return metric ? ((await metric.get()).values as Sample[]) : [];
}

async function value(registry: Registry, name: string, labels: Record<string, string>) {
  return (await samples(registry, name)).find((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;
}

const drain = [{ type: 'Cordon' as const }, { type: 'Drain' as const }, { type: 'Uncordon' as const }];

describe('drainResult', () => {
  it('counts the end of a drain once: success, timeout, or failure (node gone)', () => {
    expect(drainResult({ kind: 'uncordon', result: 'Succeeded', message: 'drained' }, {}, drain)).toEqual([
      { action: 'drain', result: 'success' },
    ]);
    expect(
      drainResult(
        { kind: 'uncordon', result: 'Failed', message: 'drain timed out after 300s with pods left: a/b' },
        { progress: 'Draining' },
        drain,
      ),
    ).toEqual([{ action: 'drain', result: 'timeout' }]);
    expect(
      drainResult(
        { kind: 'finish', result: 'Failed', message: 'the node is gone' },
        { progress: 'Draining' },
        drain,
      ),
    ).toEqual([{ action: 'drain', result: 'failure' }]);
  });

  it('with a Job: the drain ends well when the Job is created, and the Job counts its own end', () => {
    const withJob = [...drain, { type: 'Job' as const }];
    expect(drainResult({ kind: 'createJob' }, { progress: 'Draining' }, withJob)).toEqual([
      { action: 'drain', result: 'success' },
    ]);
    const running = { progress: 'JobRunning' as const };
    expect(
      drainResult({ kind: 'uncordon', result: 'Succeeded', message: 'drained; done' }, running, withJob, {
        phase: 'Succeeded',
      }),
    ).toEqual([{ action: 'job', result: 'success' }]);
    expect(
      drainResult({ kind: 'finish', result: 'Failed', message: 'Job failed' }, running, withJob, {
        phase: 'Failed',
      }),
    ).toEqual([{ action: 'job', result: 'failure' }]);
    expect(
      drainResult({ kind: 'finish', result: 'Failed', message: 'did not finish' }, running, withJob, {
        phase: 'Running',
      }),
    ).toEqual([{ action: 'job', result: 'timeout' }]);
  });

  it('counts nothing for a drain already ended (finish after uncordon), other steps, or a plan without Drain', () => {
    expect(
      drainResult({ kind: 'finish', result: 'Succeeded', message: 'drained' }, { progress: 'Done' }, drain),
    ).toEqual([]);
    expect(drainResult({ kind: 'cordon' }, {}, drain)).toEqual([]);
    expect(
      drainResult({ kind: 'finish', result: 'Succeeded', message: 'no drain' }, {}, [{ type: 'Cordon' }]),
    ).toEqual([]);
  });
});

describe('PlanMetrics', () => {
  it('counts actions by type and result (evictions per pod, zero counts skipped)', async () => {
    const registry = new Registry();
    const m = new PlanMetrics(registry);
    m.acted('p', [{ action: 'cordon', result: 'success' }]);
    m.acted('p', [
      { action: 'evict', result: 'success', count: 2 },
      { action: 'evict', result: 'failure', count: 0 },
    ]);
    m.acted('p', [
      { action: 'evict', result: 'failure', count: 1 },
      { action: 'drain', result: 'timeout' },
    ]);
    const at = (action: string, result: string) =>
      value(registry, MAINTENANCE_ACTIONS_TOTAL, { maintenanceplan: 'p', action, result });
    expect(await at('cordon', 'success')).toBe(1);
    expect(await at('evict', 'success')).toBe(2);
    expect(await at('evict', 'failure')).toBe(1);
    expect(await at('drain', 'timeout')).toBe(1);
    expect(await at('uncordon', 'success')).toBeUndefined();
  });

  it('observes the duration of a finished maintenance by result', async () => {
    const registry = new Registry();
    const m = new PlanMetrics(registry);
    m.finished('p', {
      node: 'n1',
      startTime: '2026-12-05T02:00:00Z',
      completionTime: '2026-12-05T02:04:00Z',
      result: 'Succeeded',
    });
    const all = await samples(registry, MAINTENANCE_DURATION);
    const sum = all.find((s) => s.metricName === `${MAINTENANCE_DURATION}_sum`);
    const count = all.find((s) => s.metricName === `${MAINTENANCE_DURATION}_count`);
    expect(sum).toMatchObject({ value: 240, labels: { maintenanceplan: 'p', result: 'Succeeded' } });
    expect(count?.value).toBe(1);
  });

  it('exports from status what the alerts read, and removes a finished maintenance', async () => {
    const registry = new Registry();
    const m = new PlanMetrics(registry);
    m.status('p', {
      conditions: [
        {
          type: 'MassFlag',
          status: 'True',
          reason: 'TooManyAtRisk',
          message: 'x',
          lastTransitionTime: '2026-12-05T02:00:00Z',
        },
        {
          type: 'PredictorReady',
          status: 'False',
          reason: 'ModelLoadFailed',
          message: 'x',
          lastTransitionTime: '2026-12-05T02:00:00Z',
        },
      ],
      scheduled: [
        { node: 'n1', state: 'InProgress', startTime: '2026-12-05T02:00:00Z', actions: ['Cordon'] },
        { node: 'n2', state: 'Scheduled', actions: ['Cordon'] },
      ],
    });
    expect(await value(registry, MASS_FLAG, { maintenanceplan: 'p' })).toBe(1);
    expect(await value(registry, PREDICTOR_READY, { maintenanceplan: 'p' })).toBe(0);
    expect(await samples(registry, MAINTENANCE_STARTED_TIMESTAMP)).toEqual([
      expect.objectContaining({
        labels: { maintenanceplan: 'p', node: 'n1' },
        value: Date.parse('2026-12-05T02:00:00Z') / 1000,
      }),
    ]);
    m.status('p', { conditions: [], scheduled: [] });
    expect(await value(registry, MASS_FLAG, { maintenanceplan: 'p' })).toBe(0);
    expect(await samples(registry, MAINTENANCE_STARTED_TIMESTAMP)).toEqual([]);
  });

  it('forgets every series of a deleted plan', async () => {
    const registry = new Registry();
    const m = new PlanMetrics(registry);
    m.record('p', new Map([['n1', 0.9]]), 0);
    m.status('p', {
      scheduled: [{ node: 'n1', state: 'InProgress', startTime: '2026-12-05T02:00:00Z', actions: [] }],
    });
    m.forget('p');
    expect(await samples(registry, NODE_FAILURE_RISK)).toEqual([]);
    expect(await samples(registry, MAINTENANCE_STARTED_TIMESTAMP)).toEqual([]);
    expect(await samples(registry, MASS_FLAG)).toEqual([]);
  });
});
