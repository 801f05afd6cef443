import { describe, expect, it } from 'vitest';
import {
  counterDelta,
  histogramDelta,
  histogramQuantile,
  increasesPerWindow,
  isWrite,
  parseMetrics,
  scaleTable,
  throughputRatio,
  totals,
} from './operator-figures.ts';

const before = parseMetrics(`
# HELP rest_client_requests_total Requests.
# TYPE rest_client_requests_total counter
rest_client_requests_total{verb="LIST",resource="deployments",code="200"} 2
rest_client_requests_total{verb="WATCH",resource="deployments",code="200"} 2
rest_client_requests_total{verb="APPLY",resource="deployments",code="200"} 5
ymera_reconcile_duration_seconds_bucket{le="0.1",controller="inferenceservice"} 4
ymera_reconcile_duration_seconds_bucket{le="1",controller="inferenceservice"} 5
ymera_reconcile_duration_seconds_bucket{le="+Inf",controller="inferenceservice"} 5
`);
const after = parseMetrics(`
rest_client_requests_total{verb="LIST",resource="deployments",code="200"} 2
rest_client_requests_total{verb="WATCH",resource="deployments",code="200"} 3
rest_client_requests_total{verb="APPLY",resource="deployments",code="200"} 105
rest_client_requests_total{verb="APPLY",resource="deployments",code="409"} 3
rest_client_requests_total{verb="PATCH",resource="inferenceservices/status",code="200"} 100
ymera_reconcile_duration_seconds_bucket{le="0.1",controller="inferenceservice"} 94
ymera_reconcile_duration_seconds_bucket{le="1",controller="inferenceservice"} 104
ymera_reconcile_duration_seconds_bucket{le="+Inf",controller="inferenceservice"} 105
`);

describe('parseMetrics', () => {
  it('reads names, labels (with escapes) and values, skipping comments', () => {
    const s = parseMetrics('# HELP x y\nx{a="1",b="q\\"uote"} 2.5\ny 3\n');
    expect(s).toEqual([
      { name: 'x', labels: { a: '1', b: 'q"uote' }, value: 2.5 },
      { name: 'y', labels: {}, value: 3 },
    ]);
  });
});

describe('counterDelta', () => {
  it('sums the increase by verb and resource over the other labels, dropping cells that did not move', () => {
    expect(counterDelta(before, after, 'rest_client_requests_total', 'verb', 'resource')).toEqual({
      WATCH: { deployments: 1 },
      APPLY: { deployments: 103 },
      PATCH: { 'inferenceservices/status': 100 },
    });
  });
});

describe('totals', () => {
  it('splits reads from writes and sums by verb', () => {
    const t = totals(counterDelta(before, after, 'rest_client_requests_total', 'verb', 'resource'));
    expect(t).toEqual({ reads: 1, writes: 203, byVerb: { WATCH: 1, APPLY: 103, PATCH: 100 } });
  });
  it('leaves out what the filter excludes', () => {
    const t = totals({ UPDATE: { leases: 10, pods: 1 } }, (_v, r) => r !== 'leases');
    expect(t.writes).toBe(1);
  });
  it('counts HTTP methods and client-go verbs alike', () => {
    expect(['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY', 'CREATE', 'UPDATE'].every(isWrite)).toBe(true);
    expect(['GET', 'LIST', 'WATCH'].some(isWrite)).toBe(false);
  });
});

describe('scaleTable', () => {
  it('divides every cell, rounded to 3 decimals', () => {
    expect(scaleTable({ APPLY: { deployments: 1000, services: 1 } }, 300)).toEqual({
      APPLY: { deployments: 3.333, services: 0.003 },
    });
  });
});

describe('histogramQuantile', () => {
  it('interpolates linearly within the bucket holding the rank, like PromQL', () => {
    const buckets = histogramDelta(before, after, 'ymera_reconcile_duration_seconds');
    expect(buckets).toEqual([
      { le: 0.1, count: 90 },
      { le: 1, count: 99 },
      { le: Infinity, count: 100 },
    ]);
    // rank 50 of 100 in the first bucket (0..0.1, 90 observations)
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.0556, 4);
    // rank 95: 5 of the 9 observations in (0.1, 1]
    expect(histogramQuantile(0.95, buckets)).toBeCloseTo(0.1 + 0.9 * (5 / 9), 6);
  });
  it('answers the highest finite bound when the rank falls in +Inf', () => {
    expect(
      histogramQuantile(0.99, [
        { le: 1, count: 1 },
        { le: Infinity, count: 10 },
      ]),
    ).toBe(1);
  });
  it('is undefined without observations and refuses a quantile outside [0, 1]', () => {
    expect(histogramQuantile(0.99, [{ le: Infinity, count: 0 }])).toBeUndefined();
    expect(() => histogramQuantile(1.5, [])).toThrow(/within \[0, 1\]/);
  });
});

describe('throughputRatio', () => {
  it('is our objects per second over theirs', () => {
    expect(throughputRatio({ objects: 1000, seconds: 200 }, { objects: 1000, seconds: 160 })).toBe(0.8);
  });
  it('is undefined when a side did not finish', () => {
    expect(
      throughputRatio({ objects: 1000, seconds: null }, { objects: 1000, seconds: 160 }),
    ).toBeUndefined();
  });
});

describe('increasesPerWindow', () => {
  it('splits a cumulative series into per-window increases, the last one partial', () => {
    const samples = [
      { t: 0, value: 10 },
      { t: 30, value: 40 },
      { t: 60, value: 70 },
      { t: 90, value: 70 },
      { t: 120, value: 70 },
      { t: 150, value: 71 },
    ];
    expect(increasesPerWindow(samples, 60)).toEqual([60, 0, 1]);
  });
  it('is empty without samples', () => {
    expect(increasesPerWindow([], 60)).toEqual([]);
  });
});
