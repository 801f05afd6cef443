import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { AlertingRule, RecordingRule } from '../rules.ts';
import { isAlertingRule, isRecordingRule, validateRuleGroups } from '../rules.ts';
import type { InferenceServiceLike } from './inferenceservice.ts';
import {
  budgetSpent,
  burnRateThreshold,
  ERROR_BUDGET_ALERT,
  errorBudget,
  errorRatioRecord,
  inferenceServiceRuleGroups,
  LATENCY_ALERT,
  latencyRecord,
  ratioWindows,
  SRE_BURN_RATE_WINDOWS,
  validateWindows,
} from './inferenceservice.ts';
import { allExprs, ymeraSelectors } from './test-support.ts';

const svc = (
  slo: InferenceServiceLike['spec']['slo'],
  name = 'fraud',
  namespace = 'ml',
): InferenceServiceLike => ({
  metadata: { name, namespace },
  spec: { slo },
});

const alerts = (s: InferenceServiceLike) =>
  inferenceServiceRuleGroups(s).flatMap((g) => g.rules.filter(isAlertingRule)) as AlertingRule[];
const records = (s: InferenceServiceLike) =>
  inferenceServiceRuleGroups(s).flatMap((g) => g.rules.filter(isRecordingRule)) as RecordingRule[];

describe('burn-rate math', () => {
  it('turns availability into an error budget without float noise', () => {
    expect(errorBudget(99.9)).toBe(0.001);
    expect(errorBudget(99.95)).toBe(0.0005);
    expect(errorBudget(99)).toBe(0.01);
    expect(errorBudget(50)).toBe(0.5);
    expect(() => errorBudget(100)).toThrow(RangeError);
    expect(() => errorBudget(0)).toThrow(RangeError);
  });

  it('uses the SRE workbook thresholds: 14.4x, 6x, 3x and 1x the budget', () => {
    expect(SRE_BURN_RATE_WINDOWS.map((w) => burnRateThreshold(99.9, w.burnRate))).toEqual([
      0.0144, 0.006, 0.003, 0.001,
    ]);
    expect(burnRateThreshold(99.5, 14.4)).toBe(0.072);
  });

  it('spends 2% of a 30-day budget in 1h, 5% in 6h, 10% in 1d and 10% in 3d', () => {
    expect(SRE_BURN_RATE_WINDOWS.map((w) => budgetSpent(w))).toEqual([0.02, 0.05, 0.1, 0.1]);
    // a burn rate of 1 spends exactly the budget over the period
    expect(budgetSpent({ longSeconds: 30 * 86400, shortSeconds: 1, burnRate: 1, severity: 'warning' })).toBe(
      1,
    );
  });

  it('pairs each long window with a short one of 1/12 its length, pages on the fast pairs', () => {
    for (const w of SRE_BURN_RATE_WINDOWS) expect(w.longSeconds / w.shortSeconds).toBe(12);
    expect(SRE_BURN_RATE_WINDOWS.map((w) => [w.longSeconds, w.shortSeconds, w.severity])).toEqual([
      [3600, 300, 'critical'],
      [21600, 1800, 'critical'],
      [86400, 7200, 'warning'],
      [259200, 21600, 'warning'],
    ]);
    expect(ratioWindows(SRE_BURN_RATE_WINDOWS)).toEqual([300, 1800, 3600, 7200, 21600, 86400, 259200]);
  });

  it('rejects window tables that cannot work', () => {
    expect(validateWindows(SRE_BURN_RATE_WINDOWS)).toEqual([]);
    expect(
      validateWindows([{ longSeconds: 300, shortSeconds: 300, burnRate: 2, severity: 'warning' }]),
    ).toEqual(['window 0: the short window must be shorter than the long one']);
    expect(
      validateWindows([{ longSeconds: 3600, shortSeconds: 0.5, burnRate: 0, severity: 'warning' }]),
    ).toHaveLength(2);
    expect(() =>
      inferenceServiceRuleGroups(svc({ availabilityPercent: 99 }), {
        windows: [{ longSeconds: 60, shortSeconds: 120, burnRate: 1, severity: 'critical' }],
      }),
    ).toThrow(/invalid burn-rate windows/);
  });
});

describe('inferenceServiceRuleGroups', () => {
  it('generates nothing without an SLO', () => {
    expect(inferenceServiceRuleGroups(svc(undefined))).toEqual([]);
    expect(inferenceServiceRuleGroups(svc({}))).toEqual([]);
  });

  it('records the error ratio for every window and alerts per severity', () => {
    const s = svc({ availabilityPercent: 99.9 });
    expect(records(s).map((r) => r.record)).toEqual([
      'ymera:inference_request_errors:ratio_rate5m',
      'ymera:inference_request_errors:ratio_rate30m',
      'ymera:inference_request_errors:ratio_rate1h',
      'ymera:inference_request_errors:ratio_rate2h',
      'ymera:inference_request_errors:ratio_rate6h',
      'ymera:inference_request_errors:ratio_rate1d',
      'ymera:inference_request_errors:ratio_rate3d',
    ]);
    const ratio5m = records(s)[0]?.expr ?? '';
    expect(ratio5m).toContain(
      'rate(ymera_inference_requests_total{inferenceservice="fraud",namespace="ml",code=~"5.."}[5m])',
    );
    expect(ratio5m).toContain(
      'rate(ymera_inference_requests_total{inferenceservice="fraud",namespace="ml"}[5m])',
    );
    // revisions are added up: the SLO is the service's, not a revision's
    expect(ratio5m).toContain('sum by (namespace, inferenceservice)');

    const [page, ticket] = alerts(s);
    expect(page?.alert).toBe(ERROR_BUDGET_ALERT);
    expect(page?.labels).toEqual({ severity: 'critical', slo: 'availability' });
    expect(page?.for).toBe('2m');
    expect(page?.expr).toBe(
      [
        '(',
        '  ymera:inference_request_errors:ratio_rate1h{inferenceservice="fraud",namespace="ml"} > 0.0144',
        'and',
        '  ymera:inference_request_errors:ratio_rate5m{inferenceservice="fraud",namespace="ml"} > 0.0144',
        ')',
        'or',
        '(',
        '  ymera:inference_request_errors:ratio_rate6h{inferenceservice="fraud",namespace="ml"} > 0.006',
        'and',
        '  ymera:inference_request_errors:ratio_rate30m{inferenceservice="fraud",namespace="ml"} > 0.006',
        ')',
      ].join('\n'),
    );
    expect(ticket?.labels).toEqual({ severity: 'warning', slo: 'availability' });
    expect(ticket?.expr).toContain('ratio_rate1d{inferenceservice="fraud",namespace="ml"} > 0.003');
    expect(ticket?.expr).toContain('ratio_rate2h{inferenceservice="fraud",namespace="ml"} > 0.003');
    expect(ticket?.expr).toContain('ratio_rate3d{inferenceservice="fraud",namespace="ml"} > 0.001');
    expect(ticket?.expr).toContain('ratio_rate6h{inferenceservice="fraud",namespace="ml"} > 0.001');
    expect(page?.annotations?.summary).toBe('InferenceService ml/fraud is burning its error budget fast');
    expect(page?.annotations?.description).toContain('more than 1.44% (14.4x the budget)');
    // no latency rules without p95LatencyMs
    expect(alerts(s).map((a) => a.alert)).not.toContain(LATENCY_ALERT);
  });

  it('alerts on p95 latency above the objective, in seconds', () => {
    const s = svc({ p95LatencyMs: 250 });
    expect(records(s)).toEqual([
      {
        record: latencyRecord(300),
        expr: 'histogram_quantile(0.95, sum by (namespace, inferenceservice, le) (rate(ymera_inference_request_duration_seconds_bucket{inferenceservice="fraud",namespace="ml"}[5m])))',
      },
    ]);
    expect(alerts(s)).toMatchObject([
      {
        alert: LATENCY_ALERT,
        expr: 'ymera:inference_request_duration_seconds:p95_rate5m{inferenceservice="fraud",namespace="ml"} > 0.25',
        for: '10m',
        labels: { severity: 'warning', slo: 'latency' },
      },
    ]);
  });

  it('puts recording rules before the alerts that read them', () => {
    const rules =
      inferenceServiceRuleGroups(svc({ availabilityPercent: 99, p95LatencyMs: 100 }))[0]?.rules ?? [];
    const firstAlert = rules.findIndex(isAlertingRule);
    expect(rules.slice(firstAlert).every(isAlertingRule)).toBe(true);
    for (const alert of rules.filter(isAlertingRule)) {
      for (const { metric } of ymeraSelectors(alert.expr)) {
        expect(rules.findIndex((r) => isRecordingRule(r) && r.record === metric)).toBeLessThan(firstAlert);
      }
    }
  });

  it('scopes every series it reads to the namespace and name of the InferenceService', () => {
    const groups = inferenceServiceRuleGroups(
      svc({ availabilityPercent: 99.5, p95LatencyMs: 80 }, 'a"b', 'team-x'),
    );
    const selectors = allExprs(groups).flatMap(ymeraSelectors);
    expect(selectors.length).toBeGreaterThan(20);
    for (const sel of selectors) {
      expect(sel.labels, sel.metric).toMatchObject({ namespace: 'team-x', inferenceservice: 'a\\"b' });
    }
  });

  it('lets callers shorten for: and choose windows (the e2e tests do)', () => {
    const s = svc({ availabilityPercent: 99, p95LatencyMs: 10 });
    const groups = inferenceServiceRuleGroups(s, {
      for: { critical: '0s', latency: '5s' },
      windows: [{ longSeconds: 60, shortSeconds: 10, burnRate: 2, severity: 'critical' }],
      latencyWindowSeconds: 30,
    });
    const rules = groups[0]?.rules ?? [];
    expect(rules.filter(isRecordingRule).map((r) => r.record)).toEqual([
      errorRatioRecord(10),
      errorRatioRecord(60),
      latencyRecord(30),
    ]);
    expect(rules.filter(isAlertingRule).map((r) => [r.labels?.severity, r.for])).toEqual([
      ['critical', '0s'],
      ['warning', '5s'],
    ]);
    expect(rules.find((r) => isAlertingRule(r) && r.labels?.severity === 'critical')?.expr).toContain(
      '> 0.02',
    );
  });

  it('turns the sample InferenceService into valid, scoped rules', () => {
    const sample = parse(
      readFileSync(new URL('../../../config/samples/inferenceservice.yaml', import.meta.url), 'utf8'),
    );
    const groups = inferenceServiceRuleGroups(sample as InferenceServiceLike);
    expect(validateRuleGroups(groups)).toEqual([]);
    expect(groups.map((g) => g.name)).toEqual(['ymera-inferenceservice-fraud-detector-slo']);
    expect(groups[0]?.rules.filter(isAlertingRule).map((r) => `${r.alert}/${r.labels?.severity}`)).toEqual([
      `${ERROR_BUDGET_ALERT}/critical`,
      `${ERROR_BUDGET_ALERT}/warning`,
      `${LATENCY_ALERT}/warning`,
    ]);
  });

  it('refuses an object without a namespace (the scope would be cluster-wide)', () => {
    expect(() =>
      inferenceServiceRuleGroups({ metadata: { name: 'x' }, spec: { slo: { p95LatencyMs: 1 } } }),
    ).toThrow(/no namespace/);
  });
});
