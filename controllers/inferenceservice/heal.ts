// Self-healing I/O (the decision is healing.ts): read the per-pod figures
// from Prometheus, evict the chosen pod through the Eviction API (policy/v1,
// so PodDisruptionBudgets hold: a 429 is "not now"), and count replacements.
import { Counter, Registry } from 'prom-client';
import type { ReconcileContext } from '../../operator/controller.ts';
import { isNotFound, KubeApiError } from '../../operator/kube/client.ts';
import { core, objectPath } from '../../operator/kube/resources.ts';
import type { PrometheusClient, QueryResult } from '../../operator/prometheus/client.ts';
import type { HealingReason, HealingSignals, HealingSpec } from './healing.ts';
import { healingQueries } from './healing.ts';

export const PODS_REPLACED_TOTAL = 'ymera_inferenceservice_pods_replaced_total';

/** Per-pod values of a vector result (the `pod` label); other shapes give nothing. */
export function byPod(result: QueryResult): Map<string, number> {
  const out = new Map<string, number>();
  if (result.resultType !== 'vector') return out;
  for (const s of result.samples) {
    const pod = s.labels.pod;
    if (pod) out.set(pod, s.value);
  }
  return out;
}

/** Reads the figures healing needs; throws PrometheusUnavailableError/PrometheusQueryError. */
export async function readSignals(
  prometheus: PrometheusClient,
  namespace: string,
  name: string,
  spec: HealingSpec,
): Promise<HealingSignals> {
  const queries = healingQueries(namespace, name, spec);
  const read = async (expr: string | undefined) =>
    expr === undefined ? new Map<string, number>() : byPod(await prometheus.query(expr));
  const [memoryMinBytes, errorMinRatio, errorRatio, requestRate] = await Promise.all([
    read(queries.memoryMinBytes),
    read(queries.errorMinRatio),
    read(queries.errorRatio),
    read(queries.requestRate),
  ]);
  return { memoryMinBytes, errorMinRatio, errorRatio, requestRate };
}

export type EvictionOutcome =
  { outcome: 'evicted' | 'gone' } | { outcome: 'blocked' | 'forbidden'; message: string };

/**
 * Evicts one pod; a 429 (a PodDisruptionBudget allows no disruption now)
 * comes back as blocked, a 403 (the operator lacks pods/eviction create) as
 * forbidden.
 */
export async function evictPod(
  ctx: ReconcileContext,
  namespace: string,
  pod: string,
): Promise<EvictionOutcome> {
  try {
    await ctx.client.request('POST', objectPath(core.pod, pod, namespace, 'eviction'), {
      body: {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name: pod, namespace },
      },
    });
    return { outcome: 'evicted' };
  } catch (e) {
    if (isNotFound(e)) return { outcome: 'gone' };
    if (e instanceof KubeApiError && e.status === 429) return { outcome: 'blocked', message: e.message };
    if (e instanceof KubeApiError && e.status === 403) return { outcome: 'forbidden', message: e.message };
    throw e;
  }
}

export class HealingMetrics {
  private readonly replaced: Counter<'reason'>;
  constructor(registry: Registry = new Registry()) {
    this.replaced = new Counter({
      name: PODS_REPLACED_TOTAL,
      help: 'InferenceService pods replaced by self-healing (spec.healing), by reason (MemoryGrowth, ErrorRateOutlier).',
      labelNames: ['reason'],
      registers: [registry],
    });
    // both series from the start, so that rate() and increase() see the first replacement
    for (const reason of ['MemoryGrowth', 'ErrorRateOutlier'] satisfies HealingReason[])
      this.replaced.inc({ reason }, 0);
  }
  replacedPod(reason: HealingReason): void {
    this.replaced.inc({ reason });
  }
}
