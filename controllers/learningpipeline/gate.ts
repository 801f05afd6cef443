// Pure: the promotion gate. A step reports its metrics as a flat JSON object
// of numbers in its termination message (/dev/termination-log, capped by the
// kubelet at 4096 bytes; a "sha256" string there is the model digest, not a
// metric); the gate checks one metric against min/max.
import type { PodObject } from '../../operator/kube/workloads.ts';

/** The kubelet keeps at most this much of a termination message. */
export const MAX_METRICS_BYTES = 4096;
/** As many as status.latestModel.metrics may hold. */
export const MAX_METRICS = 64;

export type MetricsResult = { metrics: Record<string, number> } | { error: string };

/** Parses a metrics JSON object: every value a finite number, at most MAX_METRICS keys. */
export function parseMetrics(text: string): MetricsResult {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_METRICS_BYTES) return { error: `metrics are ${size} bytes, more than ${MAX_METRICS_BYTES}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { error: `metrics are not valid JSON: ${(err as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { error: 'metrics must be a JSON object of numbers, e.g. {"auc": 0.95}' };
  }
  // a string sha256 is the model's digest (digest.ts), reported by a step that writes both
  const entries = Object.entries(parsed).filter(([k, v]) => !(k === 'sha256' && typeof v === 'string'));
  if (entries.length > MAX_METRICS) {
    return { error: `metrics have ${entries.length} keys, more than ${MAX_METRICS}` };
  }
  for (const [key, value] of entries) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
      return { error: `metric ${JSON.stringify(key)} must be a finite number, got ${got}` };
    }
  }
  // fromEntries defines own properties: a "__proto__" key stays a plain key
  return { metrics: Object.fromEntries(entries) as Record<string, number> };
}

export interface Gate {
  metric: string;
  min?: number;
  max?: number;
}

/** Whether the gate's metric lies within its bounds, with the comparison in words. */
export function evaluateGate(
  gate: Gate,
  metrics: Record<string, number> | undefined,
): { passed: boolean; message: string } {
  const { metric, min, max } = gate;
  const value = metrics && Object.hasOwn(metrics, metric) ? metrics[metric] : undefined;
  if (value === undefined) {
    return { passed: false, message: `metric ${metric} missing from the metrics artifact` };
  }
  if (min !== undefined && value < min) {
    return { passed: false, message: `${metric} ${value} < min ${min}` };
  }
  if (max !== undefined && value > max) {
    return { passed: false, message: `${metric} ${value} > max ${max}` };
  }
  const bounds = [
    ...(min !== undefined ? [`>= min ${min}`] : []),
    ...(max !== undefined ? [`<= max ${max}`] : []),
  ];
  return {
    passed: true,
    message: `${metric} ${value} ${bounds.length ? bounds.join(' and ') : '(no bounds)'}`,
  };
}

/**
 * The termination message of a terminated container: `container`, or by
 * default the first container of the pod spec (the kubelet sorts
 * containerStatuses by name, so their order says nothing).
 */
export function terminationMessageOf(pod: PodObject, container?: string): string | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  const name = container ?? firstContainerName(pod);
  const status = name !== undefined ? statuses.find((s) => s.name === name) : statuses[0];
  const message = status?.state?.terminated?.message;
  return message ? message : undefined;
}

function firstContainerName(pod: PodObject): string | undefined {
  const containers = pod.spec?.containers;
  if (!Array.isArray(containers)) return undefined;
  const first: unknown = containers[0];
  if (first && typeof first === 'object' && 'name' in first && typeof first.name === 'string')
    return first.name;
  return undefined;
}
