import { describe, expect, it } from 'vitest';
import { analysisQueries, analysisSettings, judge, rateWindow } from './analysis.ts';

describe('canary analysis', () => {
  it('scopes every query to the canary revision', () => {
    const q = analysisQueries('ml', 'fraud', 'abc123', 60_000);
    expect(q.errorRatePercent).toBe(
      '100 * sum(rate(ymera_inference_requests_total{namespace="ml",inferenceservice="fraud",revision="abc123",code=~"5.."}[60s])) / sum(rate(ymera_inference_requests_total{namespace="ml",inferenceservice="fraud",revision="abc123"}[60s]))',
    );
    expect(q.p95LatencyMs).toContain(
      'histogram_quantile(0.95, sum by (le) (rate(ymera_inference_request_duration_seconds_bucket{',
    );
    expect(rateWindow(10_000)).toBe('30s');
  });

  it('reads the settings with their defaults', () => {
    expect(analysisSettings({ model: { uri: 'file:///m', version: '1' } })).toBeUndefined();
    expect(
      analysisSettings({
        model: { uri: 'file:///m', version: '1' },
        rollout: { analysis: { interval: '30s' } },
      }),
    ).toEqual({
      intervalMs: 30_000,
      count: 5,
      failureLimit: 2,
    });
  });

  it('judges error rate and p95 against the thresholds', () => {
    const spec = { maxErrorRatePercent: 1, maxP95LatencyMs: 80 };
    expect(judge({ requestRate: 10, errorRatePercent: 0.5, p95LatencyMs: 40 }, spec)).toEqual({
      outcome: 'pass',
      message: 'check passed: error rate 0.50% (max 1%), p95 40 ms (max 80 ms)',
    });
    expect(judge({ requestRate: 10, errorRatePercent: 20, p95LatencyMs: 40 }, spec).outcome).toBe('fail');
    expect(judge({ requestRate: 10, errorRatePercent: 0, p95LatencyMs: 120 }, spec)).toEqual({
      outcome: 'fail',
      message: 'check failed: p95 latency 120 ms > 80 ms',
    });
    expect(
      judge({ requestRate: 0, errorRatePercent: undefined, p95LatencyMs: undefined }, spec).outcome,
    ).toBe('inconclusive');
    expect(
      judge({ requestRate: undefined, errorRatePercent: undefined, p95LatencyMs: undefined }, {}).outcome,
    ).toBe('inconclusive');
  });
});
