// Canary analysis against Prometheus: the PromQL (pure), the verdict of one
// check from the measured values (pure), and the check itself (I/O).
import type { PrometheusClient } from '../../operator/prometheus/client.ts';
import { PrometheusUnavailableError } from '../../operator/prometheus/client.ts';
import {
  INFERENCE_REQUEST_DURATION,
  INFERENCE_REQUESTS_TOTAL,
  INFERENCE_SERVICE_LABEL,
} from '../../operator/prometheus/generators/inferenceservice.ts';
import { parseDuration } from '../../operator/schema/validation.ts';
import type { AnalysisSettings, CheckResult } from './rollout.ts';
import type { InferenceServiceSpec } from './schema.ts';

export type AnalysisSpec = NonNullable<NonNullable<InferenceServiceSpec['rollout']>['analysis']>;

export function analysisSettings(spec: InferenceServiceSpec): AnalysisSettings | undefined {
  const a = spec.rollout?.analysis;
  if (!a) return undefined;
  return {
    intervalMs: parseDuration(a.interval ?? '1m') ?? 60_000,
    count: a.count ?? 5,
    failureLimit: a.failureLimit ?? 2,
  };
}

/** The rate window: the interval, but at least 30s so that rate() sees two scrapes. */
export function rateWindow(intervalMs: number): string {
  return `${Math.max(30, Math.round(intervalMs / 1000))}s`;
}

function matcher(namespace: string, name: string, revision: string): string {
  const q = (v: string) => JSON.stringify(v);
  return `namespace=${q(namespace)},${INFERENCE_SERVICE_LABEL}=${q(name)},revision=${q(revision)}`;
}

export function analysisQueries(namespace: string, name: string, revision: string, intervalMs: number) {
  const m = matcher(namespace, name, revision);
  const w = rateWindow(intervalMs);
  return {
    /** Requests per second to the canary. */
    requestRate: `sum(rate(${INFERENCE_REQUESTS_TOTAL}{${m}}[${w}]))`,
    /** Percentage of the canary's requests answered with a 5xx. */
    errorRatePercent: `100 * sum(rate(${INFERENCE_REQUESTS_TOTAL}{${m},code=~"5.."}[${w}])) / sum(rate(${INFERENCE_REQUESTS_TOTAL}{${m}}[${w}]))`,
    /** p95 latency of the canary in milliseconds. */
    p95LatencyMs: `1000 * histogram_quantile(0.95, sum by (le) (rate(${INFERENCE_REQUEST_DURATION}_bucket{${m}}[${w}])))`,
  };
}

export interface Measured {
  requestRate: number | undefined;
  errorRatePercent: number | undefined;
  p95LatencyMs: number | undefined;
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));

/** Pure verdict of one check. No requests is inconclusive: nothing was measured. */
export function judge(measured: Measured, analysis: AnalysisSpec): CheckResult {
  const rate = measured.requestRate;
  if (rate === undefined || !Number.isFinite(rate) || rate <= 0) {
    return { outcome: 'inconclusive', message: 'no requests to the canary in the window yet' };
  }
  const maxError = analysis.maxErrorRatePercent ?? 1;
  const problems: string[] = [];
  const facts: string[] = [];
  const errors = measured.errorRatePercent;
  if (errors !== undefined && Number.isFinite(errors)) {
    facts.push(`error rate ${fmt(errors)}% (max ${fmt(maxError)}%)`);
    if (errors > maxError) problems.push(`error rate ${fmt(errors)}% > ${fmt(maxError)}%`);
  }
  const maxP95 = analysis.maxP95LatencyMs;
  if (maxP95 !== undefined) {
    const p95 = measured.p95LatencyMs;
    if (p95 !== undefined && Number.isFinite(p95)) {
      facts.push(`p95 ${fmt(p95)} ms (max ${maxP95} ms)`);
      if (p95 > maxP95) problems.push(`p95 latency ${fmt(p95)} ms > ${maxP95} ms`);
    } else {
      facts.push('p95 not measured');
    }
  }
  if (problems.length > 0) return { outcome: 'fail', message: `check failed: ${problems.join(', ')}` };
  return { outcome: 'pass', message: `check passed: ${facts.join(', ') || 'no errors'}` };
}

/** Runs one check; an unreachable Prometheus is inconclusive (reported, not counted). */
export async function runCheck(
  prometheus: PrometheusClient,
  target: { namespace: string; name: string; revision: string },
  analysis: AnalysisSpec,
  intervalMs: number,
): Promise<CheckResult & { unavailable?: boolean }> {
  const q = analysisQueries(target.namespace, target.name, target.revision, intervalMs);
  try {
    const [requestRate, errorRatePercent, p95LatencyMs] = await Promise.all([
      prometheus.queryValue(q.requestRate),
      prometheus.queryValue(q.errorRatePercent),
      analysis.maxP95LatencyMs !== undefined ? prometheus.queryValue(q.p95LatencyMs) : undefined,
    ]);
    return judge({ requestRate, errorRatePercent, p95LatencyMs }, analysis);
  } catch (e) {
    const unavailable = e instanceof PrometheusUnavailableError;
    return {
      outcome: 'inconclusive',
      message: `${unavailable ? 'Prometheus unavailable' : 'analysis query failed'}: ${(e as Error).message}`,
      unavailable,
    };
  }
}
