import { describe, expect, it } from 'vitest';
import type { Params } from '../controllers/optimizationloop/safety.ts';
import { validateOptimizationLoop } from '../controllers/optimizationloop/validate.ts';
import { createMetrics } from '../runtime/metrics.ts';
import type { LiveOptions, LoadWindow } from './tune-live.ts';
import {
  DELAY,
  SIZE,
  batchingFromMetrics,
  batchingOf,
  liveSpec,
  measurementOf,
  paramsOf,
  runLive,
} from './tune-live.ts';

const options: LiveOptions = {
  algorithm: 'Bayesian',
  seed: 1,
  maxTrials: 12,
  p95LimitMs: 20,
  maxBatchSizeMax: 128,
  delaysMs: [0, 1, 2, 5, 10, 20],
};
const spec = liveSpec(options);
const at = new Date('2026-12-07T00:00:00Z');

describe('tune bench, live part: helpers', () => {
  it('builds an admissible spec: throughput up, p95 at most the limit', () => {
    expect(validateOptimizationLoop(spec)).toEqual([]);
    expect(spec.objective.goal).toBe('Maximize');
    expect(spec.constraints).toEqual([
      { name: 'p95', query: 'p95', operator: 'LessThanOrEqual', threshold: 20 },
    ]);
    expect(spec.parameters.map((p) => p.path)).toEqual([SIZE, DELAY]);
  });

  it('turns a load window into the measurement the loop judges', () => {
    const w: LoadWindow = { requests: 40_010, errors: 10, seconds: 4, p95Ms: 12.5 };
    expect(measurementOf(spec, w, at)).toEqual({
      objective: 10_000, // answered requests per second: errors are not throughput
      samples: 40_000,
      constraints: [{ name: 'p95', value: 12.5, met: true }],
      time: at.toISOString(),
    });
    expect(measurementOf(spec, { ...w, p95Ms: 20.01 }, at).constraints).toEqual([
      { name: 'p95', value: 20.01, met: false },
    ]);
  });

  it('an empty window (nothing answered) has no objective and no p95: the loop holds', () => {
    const m = measurementOf(spec, { requests: 7, errors: 7, seconds: 4, p95Ms: 3 }, at);
    expect(m.objective).toBeUndefined();
    expect(m.samples).toBe(0);
    expect(m.constraints).toEqual([{ name: 'p95' }]);
    expect(
      measurementOf(spec, { requests: 0, errors: 0, seconds: 4, p95Ms: NaN }, at).objective,
    ).toBeUndefined();
  });

  it("reads the batching in effect from the runtime's own /metrics exposition", async () => {
    let now: { maxBatchSize: number; maxDelayMs: number } | undefined = undefined;
    const { registry } = createMetrics(
      { namespace: 'ns', inferenceservice: 'bench', revision: 'r1' },
      { queued: () => 0, inFlight: () => 0, requestsInFlight: () => 0, batching: () => now },
    );
    expect(batchingFromMetrics(await registry.metrics())).toBeUndefined(); // model not loaded yet
    now = { maxBatchSize: 48, maxDelayMs: 2.5 };
    expect(batchingFromMetrics(await registry.metrics())).toEqual({ maxBatchSize: 48, maxDelayMs: 2.5 });
    expect(batchingFromMetrics('ymera_runtime_batching_max_batch_size 8\n')).toBeUndefined();
  });

  it('maps the loop values to the runtime batching and back', () => {
    const b = { maxBatchSize: 17, maxDelayMs: 5 };
    expect(paramsOf(b)).toEqual({ [SIZE]: 17, [DELAY]: 5 });
    expect(batchingOf(paramsOf(b))).toEqual(b);
  });
});

describe('tune bench, live part: runLive drives the real state machine', () => {
  // a target with a known response: throughput saturates with maxBatchSize and gains from a short delay,
  // p95 grows with both (the limit, 20 ms, is broken above ~maxBatchSize 50 at delay 5)
  const truth = (v: Params) => ({
    throughput: 10_000 * (1 - Math.exp(-v[SIZE]! / 24)) + 200 * Math.min(v[DELAY]!, 5),
    p95Ms: 4 + 0.25 * v[SIZE]! + 0.5 * v[DELAY]!,
  });
  const start = paramsOf({ maxBatchSize: 32, maxDelayMs: 0 });
  const target = () => {
    let live: Params = { ...start };
    const log: string[] = [];
    return {
      log,
      target: {
        set: (v: Params) => {
          live = { ...v };
          log.push(`set ${v[SIZE]}/${v[DELAY]}`);
          return Promise.resolve();
        },
        measure: (v: Params) => {
          // the loop measures what it set: the values it passes are the ones live
          if (v[SIZE] !== live[SIZE] || v[DELAY] !== live[DELAY]) throw new Error('measured values not live');
          const t = truth(v);
          return Promise.resolve({ requests: t.throughput * 4, errors: 0, seconds: 4, p95Ms: t.p95Ms });
        },
      },
    };
  };

  it('improves on the start, keeps only values within the constraint, and ends by its maxTrials', async () => {
    const { target: t, log } = target();
    const run = await runLive(spec, start, t);
    expect(run.end).toBe('Converged');
    expect(run.trials).toBe(options.maxTrials);
    expect(run.history).toHaveLength(options.maxTrials);
    expect(truth(run.kept).p95Ms).toBeLessThanOrEqual(options.p95LimitMs);
    expect(truth(run.kept).throughput).toBeGreaterThan(truth(start).throughput * 1.05);
    expect(run.keptObjective).toBeCloseTo(truth(run.kept).throughput, 6);
    expect(run.baselineObjective).toBeCloseTo(truth(start).throughput, 6);
    // every trial's values were set before they were measured, and every violation was written back
    expect(run.writes).toBe(log.length);
    const violated = run.history.filter((h) => h.verdict === 'Violated').length;
    expect(run.failedTrials).toBe(violated);
    expect(run.windows.length).toBeGreaterThanOrEqual(run.trials + 1);
  });

  it('stops at the wall-time budget with the values kept so far', async () => {
    const { target: t } = target();
    let calls = 0;
    const run = await runLive(spec, start, t, { deadline: () => ++calls > 3 });
    expect(run.end).toBe('Budget');
    expect(run.trials).toBeLessThan(options.maxTrials);
    expect(run.kept).toEqual(start);
  });
});
