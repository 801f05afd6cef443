// OptimizationLoop in Apply mode tuning an InferenceService's batching
// (maxBatchSize, maxDelayMs) against the real Prometheus, on the real API
// server with the InferenceService controller rolling it out on kwok nodes.
// A small exporter on 127.0.0.1 (scraped through a file_sd target) serves a
// throughput and a p95 latency that are known functions of the batching it
// reads from the InferenceService's spec every second; the known optimum
// under the p95 constraint is found by brute force below. The loop writes
// the values itself (server-side apply, field manager ymera-optimizationloop),
// rolls a step into the violating region back at once, reaches the optimum
// within 10% in at most maxTrials, and restores the baseline on suspend.
// kwok's pods export no runtime gauges, so liveness here is the status
// fallback of inferenceServiceLive (observe.ts), not the per-pod gauges.
// The loop's types and helpers come from optimizationloop-fixtures.ts, the
// exporter's plumbing from exporter.ts; what it serves is this file's (it reads
// an InferenceService, not a Deployment).
// Every assertion waits for its condition.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusClient } from '../../operator/prometheus/client.ts';
import type { Loop, ManagedField } from './optimizationloop-fixtures.ts';
import { condition, LOOP_MANAGER } from './optimizationloop-fixtures.ts';
import type { Exporter } from './exporter.ts';
import { startExporter } from './exporter.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  eventsAbout,
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  prometheusStack,
  repo,
  startOperator,
  untilObserved,
} from './support.ts';

const SIZE = 'spec.batching.maxBatchSize';
const DELAY = 'spec.batching.maxDelayMs';
const SIZES = [4, 8, 16, 32];
const DELAYS = [5, 10];
const BASELINE = { [SIZE]: 4, [DELAY]: 5 };
const P95_LIMIT = 90;
/** The known service: throughput grows with the batch size and the delay, and so does p95. */
const throughput = (size: number, delay: number) => 100 + 100 * Math.log2(size) + 10 * delay;
const p95 = (size: number, delay: number) => 5 * size + 4 * delay;
/** The best feasible point by brute force: (8, 10), throughput 500, p95 80 (16 and up break p95 < 90). */
const OPTIMUM = Math.max(
  ...SIZES.flatMap((s) => DELAYS.filter((d) => p95(s, d) < P95_LIMIT).map((d) => throughput(s, d))),
);
const WINDOW_MS = 30_000; // the shortest evaluationWindow admission allows
const MAX_TRIALS = 10;

type Params = Record<string, number>;
interface InfSvc {
  metadata: { generation: number; managedFields?: ManagedField[] };
  spec: { batching?: { maxBatchSize?: number; maxDelayMs?: number } };
  status?: {
    observedGeneration?: number;
    phase?: string;
    stable?: { batching?: { maxBatchSize?: number; maxDelayMs?: number } };
  };
}

const batchingOf = (r: InfSvc | undefined): Params => ({
  [SIZE]: r?.spec.batching?.maxBatchSize ?? Number.NaN,
  [DELAY]: r?.spec.batching?.maxDelayMs ?? Number.NaN,
});
const same = (a: Params, b: Params | undefined) => !!b && a[SIZE] === b[SIZE] && a[DELAY] === b[DELAY];
/** The managers owning a batching field. */
const ownersOf = (r: InfSvc, field: 'maxBatchSize' | 'maxDelayMs') =>
  (r.metadata.managedFields ?? [])
    .filter(
      (mf) =>
        !!(
          (mf.fieldsV1?.['f:spec'] as Record<string, unknown> | undefined)?.['f:batching'] as
            Record<string, unknown> | undefined
        )?.[`f:${field}`],
    )
    .map((mf) => mf.manager);

describe('OptimizationLoop tuning an InferenceService in Apply mode', { timeout: 720_000 }, () => {
  const run = `otune${Math.random().toString(36).slice(2, 8)}`;
  const prom = prometheusStack();
  let ns: string;
  let op: OperatorProcess | undefined;
  let exporter: Exporter | undefined;
  /** The batching the InferenceService's spec holds now (read from the API server). */
  let live: Params = { ...BASELINE };

  const until = (what: string, check: (l: Loop) => boolean, timeoutMs = 600_000) =>
    untilObserved<Loop>(['optimizationloop.ymera.io/tune', '-n', ns], what, check, timeoutMs);
  const isvc = () =>
    getJson<InfSvc>(['get', 'inferenceservice.ymera.io', 'svc', '-n', ns, '--show-managed-fields']);
  const spec = (suspend: boolean) => ({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'OptimizationLoop',
    metadata: { name: 'tune', namespace: ns },
    spec: {
      target: { kind: 'InferenceService', name: 'svc' },
      parameters: [
        { path: SIZE, values: SIZES },
        { path: DELAY, values: DELAYS },
      ],
      objective: {
        query: `avg_over_time(ymera_e2e_otune_throughput{run="${run}"}[$window])`,
        goal: 'Maximize',
      },
      constraints: [
        {
          name: 'p95-latency',
          query: `max_over_time(ymera_e2e_otune_p95_ms{run="${run}"}[$window])`,
          operator: 'LessThan',
          threshold: P95_LIMIT,
        },
      ],
      algorithm: 'HillClimb',
      // this seed tries a violating step (16, 10) before the last candidate, at about 400 s of ~570 s
      seed: 13,
      initialDelay: '2s',
      evaluationWindow: `${WINDOW_MS / 1000}s`,
      minImprovementPercent: 2,
      maxTrials: MAX_TRIALS,
      maxFailedTrials: 3,
      safety: { maxStepPercent: 34, maxChangesPerHour: 60 },
      mode: 'Apply',
      onStop: 'Restore',
      suspend,
    },
  });

  beforeAll(async () => {
    ns = await freshNamespace('e2e-otune');
    // The CRDs this checkout generated (the cluster is shared; another checkout may have applied its own).
    for (const file of ['optimizationloops.ymera.io.yaml', 'inferenceservices.ymera.io.yaml']) {
      await kubectlOk([
        'apply',
        '--server-side',
        '--force-conflicts',
        '--field-manager=ymera-e2e',
        '-f',
        path.join(repo, 'crds', file),
      ]);
    }
    await kubectlOk([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/optimizationloops.ymera.io',
      'crd/inferenceservices.ymera.io',
    ]);
    op = await startOperator('op-otune', [`--watch-namespaces=${ns}`, `--prometheus-url=${prom.url}`]);
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: 'svc', namespace: ns },
        spec: {
          model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
          runtime: { resources: { requests: { cpu: '100m', memory: '128Mi' } } },
          batching: { maxBatchSize: BASELINE[SIZE], maxDelayMs: BASELINE[DELAY] },
          scaling: { minReplicas: 1, maxReplicas: 1 },
          rollout: { canaryPercent: 0 },
        },
      }),
    );
    // the exporter serves the batching the InferenceService's spec holds
    exporter = await startExporter(
      run,
      () => {
        const size = live[SIZE]!;
        const delay = live[DELAY]!;
        return (
          [
            '# TYPE ymera_e2e_otune_throughput gauge',
            `ymera_e2e_otune_throughput{run="${run}"} ${throughput(size, delay)}`,
            '# TYPE ymera_e2e_otune_p95_ms gauge',
            `ymera_e2e_otune_p95_ms{run="${run}"} ${p95(size, delay)}`,
          ].join('\n') + '\n'
        );
      },
      async () => {
        const b = batchingOf(await isvc());
        if (Number.isFinite(b[SIZE]) && Number.isFinite(b[DELAY])) live = b;
      },
    );
    const client = new PrometheusClient({ url: prom.url });
    await eventually(
      'Prometheus to scrape the test exporter',
      async () =>
        (await client.queryValue(`ymera_e2e_otune_throughput{run="${run}"}`)) ===
        throughput(BASELINE[SIZE], BASELINE[DELAY]),
      60_000,
    );
    await eventually(
      'the InferenceService to serve',
      async () => (await isvc())?.status?.phase === 'Serving',
      120_000,
    );
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(spec(false)));
  });

  afterAll(async () => {
    if (process.env.YMERA_E2E_DUMP && op) writeFileSync(process.env.YMERA_E2E_DUMP, op.logs());
    if (ns)
      await kubectl([
        'delete',
        'optimizationloop.ymera.io',
        '--all',
        '-n',
        ns,
        '--wait=true',
        '--timeout=30s',
      ]);
    if (ns) await deleteInferenceServices(ns);
    await exporter?.stop();
    await op?.stop();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('rolls a step into the violating region back to the last known good values at once', async () => {
    const l = await until(
      'a trial violated',
      (x) => !!x.status?.trials?.some((t) => t.verdict === 'Violated'),
    );
    const violated = l.status!.trials!.find((t) => t.verdict === 'Violated')!;
    expect(p95(violated.params[SIZE]!, violated.params[DELAY]!)).toBeGreaterThanOrEqual(P95_LIMIT);
    expect(violated.reason).toMatch(/p95-latency/);
    expect(condition(l, 'ConstraintViolated')).toMatchObject({ status: 'True', reason: 'TrialViolated' });
    const good = l.status!.lastKnownGood!.params;
    expect(p95(good[SIZE]!, good[DELAY]!)).toBeLessThan(P95_LIMIT);
    // written in the reconcile that judged (before its status): one window plus one reconcile after
    // the violating window ended at the latest
    const judged = Date.parse(violated.completionTime!);
    await eventually(
      'the last known good batching back on the InferenceService',
      async () => same(batchingOf(await isvc()), good),
      WINDOW_MS + 15_000,
    );
    expect(Date.now() - judged).toBeLessThan(2 * WINDOW_MS + 15_000);
    await eventually('a TrialViolated Warning', async () =>
      (await eventsAbout(ns, 'tune')).find((e) => e.reason === 'TrialViolated' && e.type === 'Warning'),
    );
  });

  it('reaches the known optimum within 10% in at most maxTrials, writing only the batching', async () => {
    const l = await until('converged', (x) => condition(x, 'Converged')?.status === 'True');
    expect(l.status?.baseline?.params).toEqual(BASELINE);
    const best = l.status!.lastKnownGood!.params;
    expect(p95(best[SIZE]!, best[DELAY]!)).toBeLessThan(P95_LIMIT);
    expect(throughput(best[SIZE]!, best[DELAY]!)).toBeGreaterThanOrEqual(0.9 * OPTIMUM);
    expect(l.status?.lastKnownGood?.measurement?.objective).toBeCloseTo(
      throughput(best[SIZE]!, best[DELAY]!),
      0,
    );
    expect(l.status?.trialsCompleted ?? 0).toBeLessThanOrEqual(MAX_TRIALS);
    const candidates = (l.status?.trials ?? []).filter((t) => t.purpose !== 'Baseline');
    expect(candidates.length).toBeLessThanOrEqual(MAX_TRIALS);
    // the target holds the best values, written by the loop alone, and it owns nothing else
    await eventually('the best values on the InferenceService', async () =>
      same(batchingOf(await isvc()), best),
    );
    const r = (await isvc())!;
    expect(ownersOf(r, 'maxBatchSize')).toEqual([LOOP_MANAGER]);
    expect(ownersOf(r, 'maxDelayMs')).toEqual([LOOP_MANAGER]);
    const mine = r.metadata.managedFields!.filter((mf) => mf.manager === LOOP_MANAGER);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.fieldsV1).toEqual({
      'f:spec': { 'f:batching': { 'f:maxBatchSize': {}, 'f:maxDelayMs': {} } },
    });
    await eventually('a TrialAdopted Event', async () =>
      (await eventsAbout(ns, 'tune')).find((e) => e.reason === 'TrialAdopted'),
    );
  });

  it('restores the baseline on suspend', async () => {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(spec(true)));
    const l = await until('suspended', (x) => condition(x, 'Stopped')?.reason === 'Suspended', 60_000);
    expect(l.status?.phase).toBe('Stopped');
    await eventually(
      'the baseline back on the InferenceService and rolled out',
      async () => {
        const r = await isvc();
        return (
          same(batchingOf(r), BASELINE) &&
          r?.status?.observedGeneration === r?.metadata.generation &&
          r?.status?.phase === 'Serving'
        );
      },
      90_000,
    );
  });
});
