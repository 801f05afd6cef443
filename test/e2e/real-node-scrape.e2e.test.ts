// Prometheus scrapes pods of the real node (job kubernetes-pods of
// test/e2e/stack/prometheus.sh): a pod on real-node-1 annotated the way the
// operator annotates InferenceService pods (controllers/inferenceservice/desired.ts)
// and labelled like one serves the runtime's own metrics exposition
// (runtime/metrics.ts, rendered here, served by busybox httpd); Prometheus
// discovers it through the API server, scrapes it at its pod IP on the bridge,
// and the operator's queries (canary analysis, the HPA's per-pod metrics) find
// its series. The same pod on a kwok node is discovered and dropped: fake pods
// answer nothing.
//
// Needs the real node (test/e2e/stack/node.sh) and its busybox image
// (YMERA_BUSYBOX_IMAGE, exported by node.sh env); skipped, saying why, when
// either is missing.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analysisQueries } from '../../controllers/inferenceservice/analysis.ts';
import { HPA_METRICS } from '../../controllers/inferenceservice/desired.ts';
import { PrometheusClient } from '../../operator/prometheus/client.ts';
import { createMetrics } from '../../runtime/metrics.ts';
import { eventually, freshNamespace, kubectl, kubectlOk, prometheusStack, repo } from './support.ts';

const NODE = process.env.YMERA_REAL_NODE ?? 'real-node-1';
const busybox = process.env.YMERA_BUSYBOX_IMAGE ?? '';

function nodeExists(): boolean {
  try {
    execFileSync('kubectl', ['get', 'node', NODE, '-o', 'name'], { stdio: 'ignore', env: process.env });
    return true;
  } catch {
    return false;
  }
}
const skipReason = !nodeExists()
  ? ` (skipped: node ${NODE} is absent; test/e2e/stack/node.sh brings it up)`
  : !busybox
    ? ' (skipped: YMERA_BUSYBOX_IMAGE is unset; test/e2e/stack/node.sh env exports it)'
    : '';

interface Target {
  labels: Record<string, string>;
  discoveredLabels: Record<string, string>;
  health: string;
  lastError: string;
  scrapeUrl: string;
}

const SERVICE = 'fraud';
const REVISION = 'r1';
const PORT = 8080;

/** A restricted pod that serves `metrics` at :PORT/metrics, annotated and labelled like a runtime pod. */
function metricsPod(name: string, placement: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      labels: { 'ymera.io/inferenceservice': SERVICE, 'ymera.io/revision': REVISION },
      annotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(PORT),
        'prometheus.io/path': '/metrics',
      },
    },
    spec: {
      ...placement,
      automountServiceAccountToken: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65535,
        runAsGroup: 65535,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'main',
          image: busybox || 'busybox',
          // the image exists only in the node's containerd: there is no registry
          imagePullPolicy: 'Never',
          command: ['sh', '-c', `cp /metrics-src/metrics /www/metrics && exec httpd -f -p ${PORT} -h /www`],
          ports: [{ name: 'http', containerPort: PORT }],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          volumeMounts: [
            { name: 'src', mountPath: '/metrics-src', readOnly: true },
            { name: 'www', mountPath: '/www' },
          ],
        },
      ],
      volumes: [
        { name: 'src', configMap: { name: 'runtime-metrics' } },
        { name: 'www', emptyDir: {} },
      ],
    },
  });
}

describe.skipIf(skipReason !== '')(`Prometheus scrapes pods of the real node${skipReason}`, () => {
  let ns = '';
  let prom: PrometheusClient;
  let url = '';

  async function targets(): Promise<{ activeTargets: Target[]; droppedTargets: Target[] }> {
    const res = await fetch(`${url}/api/v1/targets`);
    return ((await res.json()) as { data: { activeTargets: Target[]; droppedTargets: Target[] } }).data;
  }

  beforeAll(async () => {
    execFileSync('bash', [path.join(repo, 'test/e2e/stack/prometheus.sh'), 'up'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    url = prometheusStack().url;
    prom = new PrometheusClient({ url, timeoutMs: 5000 });
    ns = await freshNamespace('e2e-scrape');
    await kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    // what the runtime of this service would export, after a few requests
    const metrics = createMetrics(
      { namespace: ns, inferenceservice: SERVICE, revision: REVISION },
      { queued: () => 0, inFlight: () => 0, requestsInFlight: () => 2 },
    );
    for (let i = 0; i < 5; i++) metrics.request(200, 0.004);
    metrics.request(500, 0.02);
    const configMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'runtime-metrics' },
      data: { metrics: await metrics.registry.metrics() },
    };
    await kubectlOk(['-n', ns, 'apply', '-f', '-'], JSON.stringify(configMap));
  });

  afterAll(async () => {
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('discovers the pod on real-node-1, scrapes it at its pod IP and labels it for the operator', async () => {
    await kubectlOk(
      ['-n', ns, 'apply', '-f', '-'],
      metricsPod('runtime', {
        nodeSelector: { 'ymera.io/node-pool': 'real' },
        tolerations: [{ key: 'ymera.io/real-node', operator: 'Exists', effect: 'NoSchedule' }],
      }),
    );
    await kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/runtime', '--timeout=120s']);
    const podIP = (
      await kubectlOk(['-n', ns, 'get', 'pod', 'runtime', '-o', 'jsonpath={.status.podIP}'])
    ).trim();
    const target = await eventually(
      'Prometheus to scrape the pod',
      async () =>
        (await targets()).activeTargets.find(
          (t) => t.labels.job === 'kubernetes-pods' && t.labels.namespace === ns && t.health === 'up',
        ),
      60_000,
    );
    expect(target.scrapeUrl).toBe(`http://${podIP}:${PORT}/metrics`);
    expect(target.labels).toMatchObject({
      namespace: ns,
      pod: 'runtime',
      node: NODE,
      inferenceservice: SERVICE,
      revision: REVISION,
    });

    // the series carry the labels the operator's queries select on
    const m = `namespace="${ns}",inferenceservice="${SERVICE}",revision="${REVISION}"`;
    const total = await eventually('the request counter in Prometheus', async () =>
      prom.queryValue(`sum(ymera_inference_requests_total{${m}})`),
    );
    expect(total).toBe(6);
    // the canary analysis' own PromQL gets a value (0: a static exposition), not "no data"
    const q = analysisQueries(ns, SERVICE, REVISION, 30_000);
    expect(await eventually('a request rate', async () => prom.queryValue(q.requestRate))).toBe(0);
    // the HPA's per-pod metric, as a metrics adapter selects it (namespace + pod)
    expect(await prom.queryValue(`sum(${HPA_METRICS.concurrency}{namespace="${ns}",pod="runtime"})`)).toBe(2);
    // series the runtime exports without those labels get them from the pod's metadata
    const cpu = await prom.query(
      `ymera_runtime_process_cpu_seconds_total{${m},pod="runtime",node="${NODE}"}`,
    );
    expect(cpu.resultType === 'vector' ? cpu.samples : []).toHaveLength(1);
  });

  it('drops the same pod on a kwok node: discovered, never scraped', async () => {
    await kubectlOk(
      ['-n', ns, 'apply', '-f', '-'],
      metricsPod('on-kwok', { nodeSelector: { type: 'kwok' } }),
    );
    const dropped = await eventually(
      'Prometheus to discover and drop the kwok pod',
      async () =>
        (await targets()).droppedTargets.find(
          (t) =>
            t.discoveredLabels.__meta_kubernetes_namespace === ns &&
            t.discoveredLabels.__meta_kubernetes_pod_name === 'on-kwok' &&
            t.discoveredLabels.__meta_kubernetes_pod_phase === 'Running',
        ),
      60_000,
    );
    expect(dropped.discoveredLabels.__meta_kubernetes_pod_node_name).not.toBe(NODE);
    const active = (await targets()).activeTargets.filter((t) => t.labels.namespace === ns);
    expect(active.map((t) => t.labels.pod)).toEqual(['runtime']);
  });
});
