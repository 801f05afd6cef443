// InferenceService self-healing (spec.healing) on the real API server, the
// real Prometheus and kwok pods. kwok's pods export nothing and this
// Prometheus has no cAdvisor, so a small exporter on 127.0.0.1 (scraped
// through a file_sd target) serves what the kubelet and the runtime would:
// container_memory_working_set_bytes{namespace,pod,container="runtime"} and
// ymera_inference_requests_total{namespace,inferenceservice,revision,pod,code}
// for the pods that exist now (listed from the API server every second).
// Shown: a pod whose working set stays past 90% of its limit is evicted and
// replaced (and the others are not), an error-rate outlier is replaced, a
// PodDisruptionBudget with no disruption allowed blocks it (the Healing
// condition says so) until the budget allows it, and a service without
// spec.healing is left alone.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import { PrometheusClient } from '../../operator/prometheus/client.ts';
import type { Exporter } from './exporter.ts';
import { startExporter } from './exporter.ts';
import { toYaml } from './samples.ts';
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
  startOperator,
  untilObserved,
  podsWith,
} from './support.ts';

const MiB = 1048576;
const NORMAL = 40 * MiB;
const LEAKING = 95 * MiB;

interface Pod {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}
interface Replacement {
  pod: string;
  reason: string;
  message: string;
  time: string;
}
interface InfSvc {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    readyReplicas?: number;
    healing?: { pending?: { pod: string }; replacements?: Replacement[]; lastReplacementTime?: string };
  };
}

const condition = (r: InfSvc | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);
const ready = (p: Pod) =>
  !p.metadata.deletionTimestamp &&
  p.status?.phase === 'Running' &&
  !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

describe('InferenceService self-healing', { timeout: 600_000 }, () => {
  const run = `heal${Math.random().toString(36).slice(2, 8)}`;
  const prom = prometheusStack();
  let ns: string;
  let op: OperatorProcess | undefined;
  let exporter: Exporter | undefined;
  /** The serving pods that exist now (refreshed every second). */
  let pods: Pod[] = [];
  /** Working set per pod name; others get NORMAL. */
  const memory = new Map<string, number>();
  /** Request and 5xx rates per pod, for the services listed in `traffic`. */
  const errorRatio = new Map<string, number>();
  const traffic = new Set<string>();
  const RPS = 10;
  const counters = new Map<string, { ok: number; err: number; last: number }>();

  const ref = (name: string) => ['-n', ns, `inferenceservice.ymera.io/${name}`];
  const until = (name: string, what: string, check: (r: InfSvc) => boolean, timeoutMs = 180_000) =>
    untilObserved<InfSvc>(ref(name), `${name}: ${what}`, check, timeoutMs);
  const readyPodsOf = async (name: string, count: number) =>
    eventually(`${count} ready pods of ${name}`, async () => {
      const list = await listPods();
      // the serving pods (not the PDB test's blocker, which carries the service's labels)
      const own = list.filter(
        (p) => p.metadata.labels?.['ymera.io/inferenceservice'] === name && !p.metadata.labels['e2e/blocker'],
      );
      return own.length === count && own.every(ready) ? own.map((p) => p.metadata.name).sort() : undefined;
    });
  const listPods = () => podsWith<Pod>(ns, 'app.kubernetes.io/component=inference-server');
  const replacedEvents = async (name: string) =>
    (await eventsAbout(ns, name, 'InferenceService')).filter((e) => e.reason === 'PodReplaced');

  const service = (name: string, replicas: number, healing?: Record<string, unknown>) => ({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, namespace: ns },
    spec: {
      model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
      runtime: { resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '100Mi' } } },
      scaling: { minReplicas: replicas },
      rollout: { canaryPercent: 0 },
      ...(healing ? { healing } : {}),
    },
  });
  const createReady = async (...services: ReturnType<typeof service>[]) => {
    await kubectlOk(['apply', '-f', '-'], toYaml(services));
    for (const s of services)
      await until(s.metadata.name, 'Ready', (x) => condition(x, 'Ready')?.status === 'True');
  };

  function exposition(): string {
    const lines = [
      '# TYPE container_memory_working_set_bytes gauge',
      '# TYPE ymera_inference_requests_total counter',
    ];
    const now = Date.now() / 1000;
    for (const p of pods) {
      if (p.metadata.deletionTimestamp) continue;
      const pod = p.metadata.name;
      lines.push(
        `container_memory_working_set_bytes{namespace="${ns}",pod="${pod}",container="runtime"} ${memory.get(pod) ?? NORMAL}`,
      );
      const svc = p.metadata.labels?.['ymera.io/inferenceservice'] ?? '';
      if (!traffic.has(svc) || !ready(p)) continue;
      const c = counters.get(pod) ?? { ok: 0, err: 0, last: now };
      const dt = now - c.last;
      const bad = errorRatio.get(pod) ?? 0;
      c.ok += RPS * (1 - bad) * dt;
      c.err += RPS * bad * dt;
      c.last = now;
      counters.set(pod, c);
      const labels = `namespace="${ns}",inferenceservice="${svc}",revision="${p.metadata.labels?.['ymera.io/revision'] ?? ''}",pod="${pod}"`;
      lines.push(`ymera_inference_requests_total{${labels},code="200"} ${c.ok}`);
      lines.push(`ymera_inference_requests_total{${labels},code="500"} ${c.err}`);
    }
    return lines.join('\n') + '\n';
  }

  beforeAll(async () => {
    ns = await freshNamespace('e2e-heal');
    exporter = await startExporter(run, exposition, async () => (pods = await listPods()));
    const client = new PrometheusClient({ url: prom.url });
    await eventually(
      'Prometheus to scrape the test exporter',
      async () => (await client.queryValue(`up{job="${run}"}`)) === 1,
      60_000,
    );
    op = await startOperator('op-heal', [`--watch-namespaces=${ns}`, `--prometheus-url=${prom.url}`]);
  });

  afterAll(async () => {
    if (process.env.YMERA_E2E_DUMP && op) writeFileSync(process.env.YMERA_E2E_DUMP, op.logs());
    if (ns) await deleteInferenceServices(ns);
    await exporter?.stop();
    await op?.stop();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('replaces a pod whose working set stays over 90% of its limit, and only that one; not without spec.healing', async () => {
    await createReady(
      service('mem', 3, { memory: { percentOfLimit: 90, forSeconds: 10 }, minIntervalSeconds: 0 }),
      service('plain', 2),
    );
    const before = await readyPodsOf('mem', 3);
    const plainBefore = await readyPodsOf('plain', 2);
    const victim = before[1] as string;
    // both services leak from now on: one pod each past 90% of the 100Mi limit
    memory.set(victim, LEAKING);
    memory.set(plainBefore[0] as string, LEAKING);

    const healed = await until(
      'mem',
      'the leaking pod replaced',
      (x) => !!x.status?.healing?.replacements?.some((r) => r.pod === victim),
    );
    const entry = healed.status?.healing?.replacements?.[0] as Replacement;
    expect(entry).toMatchObject({ pod: victim, reason: 'MemoryGrowth' });
    expect(entry.message).toContain(
      `pod ${victim}: memory working set stayed over 90.0% of its 100.0MiB limit for 10s`,
    );
    const event = await eventually('a PodReplaced Event', async () =>
      (await replacedEvents('mem')).find((e) => e.note.includes(victim)),
    );
    expect(event.type).toBe('Normal');
    expect(event.note).toContain('MemoryGrowth');

    // waits for the replacement to be Ready; the others stay
    const after = await until(
      'mem',
      'the replacement Ready and the healing done',
      (x) =>
        x.status?.readyReplicas === 3 &&
        !x.status.healing?.pending &&
        condition(x, 'Healing')?.reason === 'Watching',
    );
    expect(after.status?.healing?.replacements).toHaveLength(1);
    const now = await readyPodsOf('mem', 3);
    expect(now).not.toContain(victim);
    expect(now.filter((p) => before.includes(p))).toEqual(before.filter((p) => p !== victim));
    expect(await op?.metric('ymera_inferenceservice_pods_replaced_total', { reason: 'MemoryGrowth' })).toBe(
      1,
    );

    // the service without spec.healing leaked as long (and longer): left alone
    const plain = await getJson<InfSvc>(['get', ...ref('plain')]);
    expect(plain?.status?.healing).toBeUndefined();
    expect(condition(plain, 'Healing')).toBeUndefined();
    expect(await readyPodsOf('plain', 2)).toEqual(plainBefore);
    expect(await replacedEvents('plain')).toEqual([]);
  });

  it('replaces a pod whose 5xx ratio stays over maxRatio while the others are healthy', async () => {
    traffic.add('err');
    await createReady(
      service('err', 3, {
        errorRate: { maxRatio: 0.05, forSeconds: 10, minRequestsPerSecond: 1 },
        minIntervalSeconds: 0,
      }),
    );
    const before = await readyPodsOf('err', 3);
    const victim = before[0] as string;
    errorRatio.set(victim, 0.5);

    const healed = await until(
      'err',
      'the failing pod replaced',
      (x) => !!x.status?.healing?.replacements?.some((r) => r.pod === victim),
    );
    expect(healed.status?.healing?.replacements?.[0]).toMatchObject({
      pod: victim,
      reason: 'ErrorRateOutlier',
    });
    expect(healed.status?.healing?.replacements?.[0]?.message).toMatch(
      /5xx ratio stayed over 0\.050 for 10s .* while the other 2 pod\(s\) stayed under it/,
    );
    await eventually('a PodReplaced Event', async () =>
      (await replacedEvents('err')).find(
        (e) => e.note.includes(victim) && e.note.includes('ErrorRateOutlier'),
      ),
    );
    const after = await until(
      'err',
      'the replacement Ready',
      (x) => x.status?.readyReplicas === 3 && !x.status.healing?.pending,
    );
    expect(after.status?.healing?.replacements).toHaveLength(1);
    const now = await readyPodsOf('err', 3);
    expect(now).not.toContain(victim);
    expect(now.filter((p) => before.includes(p))).toEqual(before.filter((p) => p !== victim));
  });

  it('does not evict past a PodDisruptionBudget that allows no disruption, and says so', async () => {
    await createReady(
      service('pdb', 2, { memory: { percentOfLimit: 90, forSeconds: 10 }, minIntervalSeconds: 0 }),
    );
    const before = await readyPodsOf('pdb', 2);
    // a pod the service's PDB also counts that cannot start (another owner, no node to run on): the
    // budget (maxUnavailable 1) is spent, disruptionsAllowed 0
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'pdb-blocker', namespace: ns },
          spec: {
            replicas: 1,
            selector: { matchLabels: { 'e2e/blocker': 'pdb' } },
            template: {
              metadata: {
                labels: {
                  'e2e/blocker': 'pdb',
                  'ymera.io/inferenceservice': 'pdb',
                  'app.kubernetes.io/component': 'inference-server',
                  'ymera.io/revision': 'blocker',
                },
              },
              spec: {
                nodeSelector: { 'e2e/no-such-node': 'true' },
                containers: [{ name: 'c', image: 'busybox' }],
              },
            },
          },
        },
      ]),
    );
    await eventually('the PodDisruptionBudget to allow no disruption', async () => {
      const pdb = await getJson<{ status?: { disruptionsAllowed?: number; expectedPods?: number } }>([
        'get',
        'pdb',
        '-n',
        ns,
        'pdb',
      ]);
      return pdb?.status?.expectedPods === 3 && pdb.status.disruptionsAllowed === 0;
    });
    const victim = before[0] as string;
    memory.set(victim, LEAKING);

    const blocked = await until(
      'pdb',
      'Healing says the eviction is blocked',
      (x) => condition(x, 'Healing')?.reason === 'DisruptionBlocked',
    );
    expect(condition(blocked, 'Healing')?.status).toBe('False');
    expect(condition(blocked, 'Healing')?.message).toContain(`pod ${victim}: memory working set stayed over`);
    expect(condition(blocked, 'Healing')?.message).toContain('PodDisruptionBudget');
    expect(blocked.status?.healing?.replacements ?? []).toEqual([]);
    expect(await readyPodsOf('pdb', 2)).toEqual(before);
    expect(await replacedEvents('pdb')).toEqual([]);

    // once the budget allows it, the same pod is replaced
    await kubectlOk(['delete', 'deployment', '-n', ns, 'pdb-blocker', '--wait=true']);
    const healed = await until(
      'pdb',
      'the leaking pod replaced',
      (x) => !!x.status?.healing?.replacements?.some((r) => r.pod === victim),
    );
    expect(healed.status?.healing?.replacements?.[0]?.reason).toBe('MemoryGrowth');
  });
});
