// Pure: an InferenceService's spec.slo → Prometheus rules: multi-window,
// multi-burn-rate error-budget alerts (Google SRE workbook, "Alerting on
// SLOs") and a p95 latency alert.
//
// Metric contract with the serving runtime (it exposes these; the rules read them):
//
//   ymera_inference_requests_total{namespace, inferenceservice, revision, code}
//     counter of finished requests; `code` is the HTTP status as a string
//     ("200", "503"). 5xx answers count against availability, 4xx do not
//     (the client's fault). Both the "200" and "500" series should be exported
//     at 0 from start-up so that rate() sees the first error.
//   ymera_inference_request_duration_seconds_bucket{namespace, inferenceservice, revision, le}
//     histogram of request latency in seconds (with _sum and _count); its
//     buckets should include the SLO's p95LatencyMs for an exact p95.
//
// `namespace` and `inferenceservice` are the CR's namespace and name (the
// runtime sets them itself, or the scrape config relabels them from the
// pod's namespace and its ymera.io/inferenceservice label); `revision` is the
// serving revision (stable or canary). Every expression below is scoped to
// one CR by those two labels; the SLO rules add up all revisions.
import type { KubeObject } from '../../kube/resources.ts';
import type { AlertingRule, RecordingRule, RuleGroup } from '../rules.ts';
import { formatDuration, promqlNumber, selector } from '../rules.ts';
import type { InferenceServiceSpec } from '../../../controllers/inferenceservice/schema.ts';

export const INFERENCE_REQUESTS_TOTAL = 'ymera_inference_requests_total';
export const INFERENCE_REQUEST_DURATION = 'ymera_inference_request_duration_seconds';
/** Label naming the InferenceService (and, with `namespace`, scoping every expression). */
export const INFERENCE_SERVICE_LABEL = 'inferenceservice';

export const ERROR_BUDGET_ALERT = 'YmeraInferenceErrorBudgetBurn';
export const LATENCY_ALERT = 'YmeraInferenceLatencyHigh';

/** SLO period the budget is spent over; the burn rates below assume it. */
export const SLO_PERIOD_SECONDS = 30 * 24 * 3600;

export type Severity = 'critical' | 'warning';

/** An alert condition: the error ratio over both windows exceeds burnRate × budget. */
export interface BurnRateWindow {
  longSeconds: number;
  shortSeconds: number;
  burnRate: number;
  severity: Severity;
}

/**
 * The SRE workbook's recommendation for a 30-day SLO: page when 2% of the
 * budget goes in 1h or 5% in 6h, open a ticket when 10% goes in 1d or 3d.
 * The short window (1/12 of the long one) lets the alert reset soon after
 * the errors stop.
 */
export const SRE_BURN_RATE_WINDOWS: readonly BurnRateWindow[] = [
  { longSeconds: 3600, shortSeconds: 300, burnRate: 14.4, severity: 'critical' },
  { longSeconds: 6 * 3600, shortSeconds: 1800, burnRate: 6, severity: 'critical' },
  { longSeconds: 24 * 3600, shortSeconds: 2 * 3600, burnRate: 3, severity: 'warning' },
  { longSeconds: 3 * 24 * 3600, shortSeconds: 6 * 3600, burnRate: 1, severity: 'warning' },
];

export interface InferenceServiceRuleOptions {
  /** Burn-rate windows; default SRE_BURN_RATE_WINDOWS. */
  windows?: readonly BurnRateWindow[];
  /** `for` of the alerts by severity and of the latency alert (tests shorten them). */
  for?: Partial<Record<Severity | 'latency', string>>;
  /** Window of the p95 latency; default 5m. */
  latencyWindowSeconds?: number;
}

const DEFAULT_FOR: Record<Severity | 'latency', string> = {
  // the short window already filters blips; `for` only rides out a scrape gap
  critical: '2m',
  warning: '15m',
  latency: '10m',
};

/** The minimal shape the generator reads: name, namespace and spec.slo. */
export type InferenceServiceLike = Pick<KubeObject, 'metadata'> & {
  spec: Pick<InferenceServiceSpec, 'slo'>;
};

/** Allowed failure ratio of an availability objective: 99.9 → 0.001. */
export function errorBudget(availabilityPercent: number): number {
  if (!(availabilityPercent > 0 && availabilityPercent < 100)) {
    throw new RangeError(`availabilityPercent must be within (0, 100) (got ${availabilityPercent})`);
  }
  // toPrecision: 100 - 99.9 is 0.0999999…; the budget must print as 0.001
  return Number(((100 - availabilityPercent) / 100).toPrecision(12));
}

/** Error ratio above which the budget burns `burnRate` times faster than sustainable. */
export function burnRateThreshold(availabilityPercent: number, burnRate: number): number {
  return Number((burnRate * errorBudget(availabilityPercent)).toPrecision(12));
}

/** Share of the period's budget spent when burning at `burnRate` for the long window: 14.4 × 1h / 30d = 0.02. */
export function budgetSpent(window: BurnRateWindow, periodSeconds = SLO_PERIOD_SECONDS): number {
  return Number(((window.burnRate * window.longSeconds) / periodSeconds).toPrecision(12));
}

/** Name of the recording rule holding the error ratio over a window, e.g. ymera:inference_request_errors:ratio_rate5m. */
export function errorRatioRecord(windowSeconds: number): string {
  return `ymera:inference_request_errors:ratio_rate${formatDuration(windowSeconds)}`;
}

export function latencyRecord(windowSeconds: number): string {
  return `ymera:inference_request_duration_seconds:p95_rate${formatDuration(windowSeconds)}`;
}

/** The labels that scope every expression to this InferenceService. */
export function scopeLabels(obj: Pick<KubeObject, 'metadata'>): Record<string, string> {
  if (!obj.metadata.namespace) throw new Error(`InferenceService ${obj.metadata.name} has no namespace`);
  return { namespace: obj.metadata.namespace, [INFERENCE_SERVICE_LABEL]: obj.metadata.name };
}

export function ruleGroupName(obj: Pick<KubeObject, 'metadata'>): string {
  return `ymera-inferenceservice-${obj.metadata.name}-slo`;
}

/** Every window the burn-rate alerts read, ascending, without duplicates. */
export function ratioWindows(windows: readonly BurnRateWindow[]): number[] {
  return [...new Set(windows.flatMap((w) => [w.shortSeconds, w.longSeconds]))].sort((a, b) => a - b);
}

/** Validates a window table: short shorter than long, positive burn rates, whole seconds. */
export function validateWindows(windows: readonly BurnRateWindow[]): string[] {
  const errors: string[] = [];
  for (const [i, w] of windows.entries()) {
    if (!Number.isInteger(w.shortSeconds) || !Number.isInteger(w.longSeconds) || w.shortSeconds <= 0) {
      errors.push(`window ${i}: windows must be positive whole seconds`);
    } else if (w.shortSeconds >= w.longSeconds) {
      errors.push(`window ${i}: the short window must be shorter than the long one`);
    }
    if (!(w.burnRate > 0)) errors.push(`window ${i}: burnRate must be positive`);
  }
  return errors;
}

const BY = `namespace, ${INFERENCE_SERVICE_LABEL}`;

/**
 * The rule groups of one InferenceService: none without spec.slo; with it,
 * recording rules for the error ratio per window and the burn-rate alerts
 * (availabilityPercent), and the p95 recording rule and alert (p95LatencyMs).
 */
export function inferenceServiceRuleGroups(
  obj: InferenceServiceLike,
  options: InferenceServiceRuleOptions = {},
): RuleGroup[] {
  const slo = obj.spec.slo;
  if (!slo || (slo.availabilityPercent === undefined && slo.p95LatencyMs === undefined)) return [];
  const scope = scopeLabels(obj);
  const sel = selector(scope);
  const who = `InferenceService ${scope.namespace}/${obj.metadata.name}`;
  const forOf = { ...DEFAULT_FOR, ...options.for };
  const records: RecordingRule[] = [];
  const alerts: AlertingRule[] = [];

  if (slo.availabilityPercent !== undefined) {
    const windows = options.windows ?? SRE_BURN_RATE_WINDOWS;
    const problems = validateWindows(windows);
    if (problems.length) throw new Error(`invalid burn-rate windows: ${problems.join('; ')}`);
    const budget = errorBudget(slo.availabilityPercent);
    for (const w of ratioWindows(windows)) {
      const range = formatDuration(w);
      const errors = selector(scope, [{ name: 'code', op: '=~', value: '5..' }]);
      records.push({
        record: errorRatioRecord(w),
        expr:
          `sum by (${BY}) (rate(${INFERENCE_REQUESTS_TOTAL}${errors}[${range}]))\n` +
          `/\n` +
          `sum by (${BY}) (rate(${INFERENCE_REQUESTS_TOTAL}${sel}[${range}]))`,
      });
    }
    for (const severity of ['critical', 'warning'] as const) {
      const mine = windows.filter((w) => w.severity === severity);
      if (!mine.length) continue;
      const conditions = mine.map((w) => {
        const threshold = promqlNumber(burnRateThreshold(slo.availabilityPercent as number, w.burnRate));
        return (
          `(\n  ${errorRatioRecord(w.longSeconds)}${sel} > ${threshold}\nand\n` +
          `  ${errorRatioRecord(w.shortSeconds)}${sel} > ${threshold}\n)`
        );
      });
      const describe = mine
        .map(
          (w) =>
            `more than ${percent(burnRateThreshold(slo.availabilityPercent as number, w.burnRate))} ` +
            `(${w.burnRate}x the budget) over both the last ${formatDuration(w.longSeconds)} and ` +
            `${formatDuration(w.shortSeconds)}, which spends ${percent(budgetSpent(w))} of the 30-day budget ` +
            `per ${formatDuration(w.longSeconds)}`,
        )
        .join('; or ');
      alerts.push({
        alert: ERROR_BUDGET_ALERT,
        expr: conditions.join('\nor\n'),
        for: forOf[severity],
        labels: { severity, slo: 'availability' },
        annotations: {
          summary: `${who} is burning its error budget ${severity === 'critical' ? 'fast' : 'steadily'}`,
          description:
            `The availability objective is ${slo.availabilityPercent}% (error budget ${percent(budget)} of requests). ` +
            `Failed (5xx) requests were ${describe}.`,
        },
      });
    }
  }

  if (slo.p95LatencyMs !== undefined) {
    const window = options.latencyWindowSeconds ?? 300;
    const record = latencyRecord(window);
    records.push({
      record,
      expr:
        `histogram_quantile(0.95, sum by (${BY}, le) ` +
        `(rate(${INFERENCE_REQUEST_DURATION}_bucket${sel}[${formatDuration(window)}])))`,
    });
    alerts.push({
      alert: LATENCY_ALERT,
      expr: `${record}${sel} > ${promqlNumber(slo.p95LatencyMs / 1000)}`,
      for: forOf.latency,
      labels: { severity: 'warning', slo: 'latency' },
      annotations: {
        summary: `${who} is slower than its p95 latency objective`,
        description: `The p95 request latency over ${formatDuration(window)} has been above the objective of ${slo.p95LatencyMs} ms for ${forOf.latency}.`,
      },
    });
  }

  // recording rules first: a group evaluates in order, so the alerts read this round's ratios
  return [{ name: ruleGroupName(obj), rules: [...records, ...alerts] }];
}

function percent(ratio: number): string {
  return `${Number((ratio * 100).toPrecision(6))}%`;
}
