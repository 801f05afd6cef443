// The response parsers, on answers shaped like Prometheus 2.x writes them.
import { describe, expect, it } from 'vitest';
import {
  parseAlertsData,
  parseApiResponse,
  parseQueryData,
  parseRulesData,
  parseSampleValue,
  PrometheusQueryError,
  PrometheusUnavailableError,
  singleValue,
} from './client.ts';

const ok = (data: unknown) => JSON.stringify({ status: 'success', data });

describe('parseApiResponse', () => {
  it('returns data of a successful answer', () => {
    expect(parseApiResponse(200, ok({ resultType: 'scalar', result: [1, '2'] }))).toEqual({
      resultType: 'scalar',
      result: [1, '2'],
    });
  });

  it('turns bad PromQL into a PrometheusQueryError carrying errorType and error', () => {
    const body = JSON.stringify({
      status: 'error',
      errorType: 'bad_data',
      error: 'invalid parameter "query": 1:5: parse error: unexpected right parenthesis \')\'',
    });
    let caught: unknown;
    try {
      parseApiResponse(400, body, 'query');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(PrometheusQueryError);
    const e = caught as PrometheusQueryError;
    expect(e.status).toBe(400);
    expect(e.errorType).toBe('bad_data');
    expect(e.error).toContain('parse error');
    expect(e.message).toContain('bad_data');
    // 422: the query parsed but could not be executed
    expect(() =>
      parseApiResponse(
        422,
        JSON.stringify({ status: 'error', errorType: 'execution', error: 'many-to-many' }),
      ),
    ).toThrow(PrometheusQueryError);
  });

  it('treats 5xx (timeouts and internal errors included) as Prometheus being unavailable', () => {
    const timeout = JSON.stringify({ status: 'error', errorType: 'timeout', error: 'query timed out' });
    expect(() => parseApiResponse(503, timeout)).toThrow(PrometheusUnavailableError);
    expect(() => parseApiResponse(503, timeout)).toThrow(/timeout: query timed out/);
    expect(() => parseApiResponse(502, '<html>Bad Gateway</html>')).toThrow(/HTTP 502: <html>Bad Gateway/);
    try {
      parseApiResponse(500, '');
    } catch (e) {
      expect((e as PrometheusUnavailableError).status).toBe(500);
    }
  });

  it('does not mistake a proxy answer for data', () => {
    expect(() => parseApiResponse(200, 'not json')).toThrow(PrometheusUnavailableError);
    expect(() => parseApiResponse(404, '404 page not found')).toThrow(PrometheusQueryError);
    expect(() =>
      parseApiResponse(200, JSON.stringify({ status: 'error', errorType: 'x', error: 'y' })),
    ).toThrow(PrometheusQueryError);
  });
});

describe('parseSampleValue', () => {
  it('reads numbers and the special values', () => {
    expect(parseSampleValue('1.5')).toBe(1.5);
    expect(parseSampleValue('1e+00')).toBe(1);
    expect(parseSampleValue('NaN')).toBeNaN();
    expect(parseSampleValue('+Inf')).toBe(Infinity);
    expect(parseSampleValue('-Inf')).toBe(-Infinity);
    expect(() => parseSampleValue('')).toThrow(TypeError);
    expect(() => parseSampleValue('abc')).toThrow(TypeError);
    expect(() => parseSampleValue(1)).toThrow(TypeError);
  });
});

describe('parseQueryData', () => {
  it('parses a vector', () => {
    const r = parseQueryData({
      resultType: 'vector',
      result: [
        { metric: { __name__: 'up', job: 'a' }, value: [1718000000.123, '1'] },
        { metric: { job: 'b' }, value: [1718000000.123, 'NaN'] },
      ],
    });
    expect(r.resultType).toBe('vector');
    if (r.resultType !== 'vector') return;
    expect(r.samples[0]).toEqual({
      labels: { __name__: 'up', job: 'a' },
      timestamp: 1718000000.123,
      value: 1,
    });
    expect(r.samples[1]?.value).toBeNaN();
  });

  it('parses a matrix', () => {
    const r = parseQueryData({
      resultType: 'matrix',
      result: [
        {
          metric: { job: 'a' },
          values: [
            [10, '1'],
            [20, '+Inf'],
          ],
        },
      ],
    });
    expect(r).toEqual({
      resultType: 'matrix',
      series: [
        {
          labels: { job: 'a' },
          points: [
            { timestamp: 10, value: 1 },
            { timestamp: 20, value: Infinity },
          ],
        },
      ],
    });
  });

  it('parses scalars and strings', () => {
    expect(parseQueryData({ resultType: 'scalar', result: [5, '0.25'] })).toEqual({
      resultType: 'scalar',
      timestamp: 5,
      value: 0.25,
    });
    expect(parseQueryData({ resultType: 'string', result: [5, 'hi'] })).toEqual({
      resultType: 'string',
      timestamp: 5,
      value: 'hi',
    });
  });

  it('rejects shapes it does not know', () => {
    expect(() => parseQueryData({ resultType: 'histogram', result: [] })).toThrow(/unknown resultType/);
    expect(() =>
      parseQueryData({ resultType: 'vector', result: [{ metric: {}, value: ['x', '1'] }] }),
    ).toThrow(TypeError);
    expect(() => parseQueryData(undefined)).toThrow(TypeError);
  });

  it('gives the single value of a query', () => {
    expect(singleValue({ resultType: 'vector', samples: [] })).toBeUndefined();
    expect(singleValue({ resultType: 'vector', samples: [{ labels: {}, timestamp: 1, value: 3 }] })).toBe(3);
    expect(singleValue({ resultType: 'scalar', timestamp: 1, value: 4 })).toBe(4);
    expect(() =>
      singleValue({
        resultType: 'vector',
        samples: [
          { labels: { a: '1' }, timestamp: 1, value: 3 },
          { labels: { a: '2' }, timestamp: 1, value: 3 },
        ],
      }),
    ).toThrow(/at most one/);
  });
});

describe('parseAlertsData and parseRulesData', () => {
  const alert = {
    labels: { alertname: 'YmeraInferenceErrorBudgetBurn', severity: 'critical', namespace: 'ml' },
    annotations: { summary: 's' },
    state: 'firing',
    activeAt: '2024-06-10T12:00:00.123Z',
    value: '2.5e-01',
  };

  it('parses /api/v1/alerts', () => {
    expect(parseAlertsData({ alerts: [alert] })).toEqual([
      {
        labels: alert.labels,
        annotations: { summary: 's' },
        state: 'firing',
        activeAt: '2024-06-10T12:00:00.123Z',
        value: 0.25,
      },
    ]);
    expect(parseAlertsData({ alerts: [] })).toEqual([]);
    expect(() => parseAlertsData({ alerts: [{ ...alert, state: 'burning' }] })).toThrow(
      /unknown alert state/,
    );
  });

  it('parses /api/v1/rules with alerting and recording rules', () => {
    const groups = parseRulesData({
      groups: [
        {
          name: 'ymera-inferenceservice-fraud-slo',
          file: '/rules/a.yml',
          interval: 1,
          evaluationTime: 0.001,
          lastEvaluation: '2024-06-10T12:00:00Z',
          rules: [
            {
              name: 'ymera:inference_request_errors:ratio_rate5m',
              query: 'sum(rate(x[5m]))',
              health: 'ok',
              evaluationTime: 0.0001,
              lastEvaluation: '2024-06-10T12:00:00Z',
              type: 'recording',
            },
            {
              state: 'firing',
              name: 'YmeraInferenceErrorBudgetBurn',
              query: 'x > 1',
              duration: 120,
              labels: { severity: 'critical' },
              annotations: {},
              alerts: [alert],
              health: 'err',
              lastError: 'boom',
              type: 'alerting',
            },
          ],
        },
      ],
    });
    expect(groups).toEqual([
      {
        name: 'ymera-inferenceservice-fraud-slo',
        file: '/rules/a.yml',
        intervalSeconds: 1,
        rules: [
          {
            type: 'recording',
            name: 'ymera:inference_request_errors:ratio_rate5m',
            query: 'sum(rate(x[5m]))',
            health: 'ok',
            labels: {},
          },
          {
            type: 'alerting',
            name: 'YmeraInferenceErrorBudgetBurn',
            query: 'x > 1',
            health: 'err',
            lastError: 'boom',
            labels: { severity: 'critical' },
            state: 'firing',
            durationSeconds: 120,
            alerts: parseAlertsData({ alerts: [alert] }),
          },
        ],
      },
    ]);
    expect(() => parseRulesData({ groups: [{ name: 'g', rules: [{ type: 'other' }] }] })).toThrow(
      /unknown rule type/,
    );
  });

  it('drops the zero activeAt of an inactive alert', () => {
    const [a] = parseAlertsData({
      alerts: [{ ...alert, state: 'inactive', activeAt: '0001-01-01T00:00:00Z' }],
    });
    expect(a?.activeAt).toBeUndefined();
  });
});
