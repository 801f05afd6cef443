// MaintenancePlan in Act mode maintains the REAL node (real-node-1, a real
// kubelet with containerd and runc, test/e2e/stack/node.sh) while the service
// whose pods it drains stays Ready.
//
// What is real: the node and its kubelet; the two pods of the Deployment that
// run there (busybox httpd in containerd, Ready by the kubelet's HTTP
// readiness probe) and their termination when evicted; the Eviction API and
// the PodDisruptionBudget it enforces (kube-apiserver); the scheduler, the
// ReplicaSet, disruption and EndpointSlice controllers (kube-controller-
// manager); Prometheus scraping the signals; the operator process with the
// chart's RBAC and the shipped ONNX predictor.
// What is faked: the GPU signals (the test exporter, gpu-signals.ts, serves
// failing values for real-node-1); the second node, a kwok node of this
// file's own, and the two replicas on it (kwok marks them Running and Ready,
// nothing runs). real-node-1 is the only real node, so the evicted pods'
// replacements land on the kwok node: their readiness is kwok's, and the
// EndpointSlice controller counts them as ready endpoints like any others
// (traffic to them would lead nowhere; the readiness logic is what is shown).
//
// The Deployment spreads 4 replicas over the two nodes (2 + 2, topology
// spread with maxSkew 1); a PDB keeps 3 available, so the two real pods are
// evicted one at a time. "Stays Ready" is checked on a watch of the Service's
// EndpointSlices (watch-record.ts): in every state the watch delivered,
// from before the cordon to after the uncordon, at least one endpoint is
// ready; polling could miss a short gap, the watch cannot.
//
// Other tests share real-node-1: afterAll deletes the plan, stops the
// operator, uncordons the node if this plan's marker is still on it, and waits
// until this file's real pods are gone, whatever failed before.
//
// Skipped, saying why, without the real node (YMERA_REAL_NODE unset).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { core } from '../../operator/kube/resources.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { GpuExporter } from './gpu-signals.ts';
import { fixtureRow, modelDir, modelMeta, startGpuExporter } from './gpu-signals.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventsAbout,
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  startOperator,
  untilObserved,
} from './support.ts';
import type { WatchRecord } from './watch-record.ts';
import { endpointSliceType, recordWatch, states } from './watch-record.ts';

const REAL = process.env.YMERA_REAL_NODE;
const skipReason = !REAL
  ? ' (skipped: YMERA_REAL_NODE is unset, the stack runs without the real node; see test/e2e/cluster/README.md "The real node")'
  : '';
const busybox = process.env.YMERA_BUSYBOX_IMAGE ?? '';
const MARKER = 'ymera.io/cordoned-by-maintenance-plan';
const LAST_MAINTENANCE = 'ymera.io/last-maintenance';
// real pods on 2 shared cores: start, probe and termination take seconds
const TIMEOUT = 240_000;

interface Plan {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    scheduled?: { node: string; state: string; progress?: string; message?: string }[];
    history?: { node: string; result: string; message?: string }[];
  };
}
type NodeObj = KubeObject & { spec?: { unschedulable?: boolean } };
type PodObj = KubeObject & {
  metadata: { deletionTimestamp?: string; ownerReferences?: { kind: string }[] };
  spec: { nodeName?: string };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; reason?: string }[];
    containerStatuses?: { containerID?: string; ready?: boolean }[];
  };
};
type SliceObj = KubeObject & { endpoints?: { conditions?: { ready?: boolean } }[] };

const isReady = (p: PodObj) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

describe.skipIf(skipReason !== '')(`MaintenancePlan drains the real node${skipReason}`, () => {
  const run = `real${Math.random().toString(36).slice(2, 8)}`;
  const plan = `e2e-${run}`;
  const fake = `${run}-kwok`;
  const real = REAL!;
  let ns = '';
  let op: OperatorProcess | undefined;
  let exporter: GpuExporter | undefined;
  let slices: WatchRecord<SliceObj> | undefined;
  let pods: WatchRecord<PodObj> | undefined;
  let realNode: WatchRecord<NodeObj> | undefined;
  const ref = [`maintenanceplan.ymera.io/${plan}`];
  const until = (what: string, check: (p: Plan) => boolean) =>
    untilObserved<Plan>(ref, `${plan}: ${what}`, check, TIMEOUT);
  const node = async (name: string) => (await getJson<NodeObj>(['get', 'node', name]))!;
  const webPods = async () =>
    (await getJson<{ items: PodObj[] }>(['get', 'pods', '-n', ns, '-l', 'app=web']))!.items.filter(
      (p) => !p.metadata.deletionTimestamp,
    );
  /** Pods on the real node that are not this file's (and not a DaemonSet's): a drain would evict them too. */
  const foreignOnReal = async () =>
    (await getJson<{ items: PodObj[] }>([
      'get',
      'pods',
      '-A',
      `--field-selector=spec.nodeName=${real}`,
    ]))!.items.filter(
      (p) =>
        p.metadata.namespace !== ns &&
        !(p.metadata.ownerReferences ?? []).some((o) => o.kind === 'DaemonSet') &&
        p.status?.phase !== 'Succeeded' &&
        p.status?.phase !== 'Failed',
    );

  beforeAll(async () => {
    const n = await node(real);
    if (n.spec?.unschedulable)
      throw new Error(
        `${real} is cordoned before the test: another test left it so (nothing here touched it)`,
      );
    if (n.metadata.annotations?.[MARKER])
      throw new Error(`${real} carries ${MARKER}=${n.metadata.annotations[MARKER]} from an earlier run`);
    ns = await freshNamespace('e2e-mplan-real');
    await kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    // pods of earlier tests still terminating on the real node would be drained with ours
    await eventually(
      `no other test's pods on ${real}`,
      async () => (await foreignOnReal()).length === 0,
      120_000,
    );
    await kubectlOk(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: fake,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { 'kubernetes.io/hostname': fake, 'kubernetes.io/os': 'linux' },
        },
        status: {
          capacity: { cpu: '8', memory: '32Gi', pods: '110' },
          allocatable: { cpu: '8', memory: '32Gi', pods: '110' },
        },
      }),
    );
    await eventually('kwok to make the fake node Ready', async () => {
      const f = await getJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
        'get',
        'node',
        fake,
      ]);
      return f?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    });
    const hostnames = [real, fake];
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'web' },
            spec: {
              replicas: 4,
              selector: { matchLabels: { app: 'web' } },
              template: {
                metadata: { labels: { app: 'web' } },
                spec: {
                  affinity: {
                    nodeAffinity: {
                      requiredDuringSchedulingIgnoredDuringExecution: {
                        nodeSelectorTerms: [
                          {
                            matchExpressions: [
                              { key: 'kubernetes.io/hostname', operator: 'In', values: hostnames },
                            ],
                          },
                        ],
                      },
                    },
                  },
                  // 2 + 2; a cordoned node (its unschedulable taint) leaves the spread, so the
                  // evicted pods' replacements may all go to the other node
                  topologySpreadConstraints: [
                    {
                      maxSkew: 1,
                      topologyKey: 'kubernetes.io/hostname',
                      whenUnsatisfiable: 'DoNotSchedule',
                      nodeTaintsPolicy: 'Honor',
                      labelSelector: { matchLabels: { app: 'web' } },
                    },
                  ],
                  tolerations: [{ key: 'ymera.io/real-node', operator: 'Exists', effect: 'NoSchedule' }],
                  automountServiceAccountToken: false,
                  // busybox as PID 1 ignores SIGTERM: an evicted pod need not take 30 s
                  terminationGracePeriodSeconds: 1,
                  securityContext: {
                    runAsNonRoot: true,
                    runAsUser: 65535,
                    runAsGroup: 65535,
                    seccompProfile: { type: 'RuntimeDefault' },
                  },
                  containers: [
                    {
                      name: 'web',
                      image: busybox,
                      // the image exists only in the node's containerd: there is no registry
                      imagePullPolicy: 'Never',
                      command: [
                        'sh',
                        '-c',
                        'mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www',
                      ],
                      ports: [{ containerPort: 8080 }],
                      readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 2 },
                      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
                    },
                  ],
                },
              },
            },
          },
          {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: 'web' },
            spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
          },
          {
            apiVersion: 'policy/v1',
            kind: 'PodDisruptionBudget',
            metadata: { name: 'web' },
            spec: { minAvailable: 3, selector: { matchLabels: { app: 'web' } } },
          },
        ],
      }),
    );
    await eventually(
      `2 web pods Ready on ${real} and 2 on ${fake}`,
      async () => {
        const ready = (await webPods()).filter(isReady);
        return (
          ready.filter((p) => p.spec.nodeName === real).length === 2 &&
          ready.filter((p) => p.spec.nodeName === fake).length === 2
        );
      },
      TIMEOUT,
    );
    await eventually('the PDB to allow one disruption', async () => {
      const pdb = await getJson<{ status?: { currentHealthy?: number; disruptionsAllowed?: number } }>([
        'get',
        'pdb',
        'web',
        '-n',
        ns,
      ]);
      return pdb?.status?.currentHealthy === 4 && pdb.status.disruptionsAllowed === 1;
    });
    await eventually('4 ready endpoints', async () => {
      const list = await getJson<{ items: SliceObj[] }>([
        'get',
        'endpointslices',
        '-n',
        ns,
        '-l',
        'kubernetes.io/service-name=web',
      ]);
      return (
        (list?.items ?? []).flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready).length === 4
      );
    });
    // from here on, every change of the Service's endpoints and of the pods is recorded
    slices = await recordWatch<SliceObj>(endpointSliceType, {
      namespace: ns,
      labelSelector: 'kubernetes.io/service-name=web',
    });
    pods = await recordWatch<PodObj>(core.pod, { namespace: ns, labelSelector: 'app=web' });
    realNode = await recordWatch<NodeObj>(core.node, { fieldSelector: `metadata.name=${real}` });

    exporter = await startGpuExporter(run, hostnames);
    op = await startOperator('op-mplan-real', [
      `--watch-namespaces=${ns}`,
      '--cluster-scoped-kinds=true', // cluster-scoped plans: this namespaced test operator reconciles them
      `--prometheus-url=${exporter.promUrl}`,
    ]);
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'MaintenancePlan',
        metadata: { name: plan },
        spec: {
          nodeSelector: {
            matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: hostnames }],
          },
          signals: exporter.signals,
          predictor: {
            model: { uri: `file://${path.join(modelDir, 'gpu-failure.onnx')}`, sha256: modelMeta.sha256 },
            threshold: 0.8,
            consecutive: 2,
            interval: '5s',
          },
          // a window opens every minute and lasts 5: it is open now
          window: { schedule: '* * * * *', timeZone: 'UTC', durationMinutes: 5 },
          maxUnavailable: 1,
          // the real node is shared across runs: a maintenance an earlier run finished is remembered
          // on the node (ymera.io/last-maintenance) and its default 24 h cooldown would hold this one
          cooldownMinutes: 0,
          mode: 'Act',
          approval: 'Auto',
          actions: [
            { type: 'Cordon' },
            { type: 'Drain', drain: { timeoutSeconds: 180 } },
            { type: 'Uncordon' },
          ],
        },
      }),
    );
  }, TIMEOUT * 2);

  afterAll(async () => {
    await slices?.stop();
    await pods?.stop();
    await realNode?.stop();
    await kubectl(['delete', ...ref, '--wait=true', '--timeout=30s']);
    await op?.stop();
    await exporter?.close();
    // whatever failed: the real node is left schedulable, without our marker, and without our pods
    const n = await getJson<NodeObj>(['get', 'node', real]);
    // the cooldown's memory this run wrote on the shared node goes too
    if (n?.metadata.annotations?.[LAST_MAINTENANCE])
      await kubectl([
        'patch',
        'node',
        real,
        '--type=merge',
        '-p',
        JSON.stringify({ metadata: { annotations: { [LAST_MAINTENANCE]: null } } }),
      ]);
    if (n?.metadata.annotations?.[MARKER] === plan)
      await kubectl([
        'patch',
        'node',
        real,
        '--type=merge',
        '-p',
        JSON.stringify({ metadata: { annotations: { [MARKER]: null } }, spec: { unschedulable: null } }),
      ]);
    if (ns) {
      await kubectl(['delete', 'namespace', ns, '--wait=false']);
      await eventually(
        `this file's pods to leave ${real}`,
        async () =>
          (
            await getJson<{ items: PodObj[] }>([
              'get',
              'pods',
              '-n',
              ns,
              `--field-selector=spec.nodeName=${real}`,
            ])
          )?.items.length === 0,
        120_000,
      ).catch(() => undefined);
    }
    await kubectl(['delete', 'node', fake, '--wait=false']);
  }, TIMEOUT);

  it('cordons the real node, evicts its real pods through the Eviction API, recreates them elsewhere, uncordons; the Service keeps a ready endpoint throughout', async () => {
    const realPods = (await webPods()).filter((p) => p.spec.nodeName === real);
    expect(realPods).toHaveLength(2);
    // they really run: containerd container ids, Ready by the kubelet's probe
    for (const p of realPods)
      expect(p.status?.containerStatuses?.[0]?.containerID).toMatch(/^containerd:\/\//);

    exporter!.values.set(real, { ...fixtureRow('memory').features });
    const p = await until('the maintenance of the real node in history', (x) =>
      (x.status?.history ?? []).some((h) => h.node === real),
    );
    expect(p.status?.history?.find((h) => h.node === real)).toMatchObject({
      result: 'Succeeded',
      message: 'drained; uncordoned',
    });
    const after = await node(real);
    expect(after.spec?.unschedulable).toBeFalsy();
    expect(after.metadata.annotations?.[MARKER]).toBeUndefined();
    const reasons = (await eventsAbout('default', real, 'Node')).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Cordoned', 'Uncordoned', 'MaintenanceSucceeded']));

    // the replicas are back to 4 Ready, all on the other node; none is left on the real node
    await eventually(
      '4 web pods Ready on the other node',
      async () => {
        const all = await webPods();
        return all.length === 4 && all.every((x) => x.spec.nodeName === fake && isReady(x));
      },
      TIMEOUT,
    );

    // each real pod left through the Eviction API (its DisruptionTarget condition says so),
    // not by a plain delete, and was really terminated by the kubelet (gone from the API)
    const seenOf = (uid?: string) => {
      pods!.complete();
      return pods!.events.filter((e) => e.object.metadata.uid === uid);
    };
    await eventually('the watch to deliver the deletion of both real pods', async () =>
      realPods.every((rp) => seenOf(rp.metadata.uid).at(-1)?.type === 'DELETED'),
    );
    for (const rp of realPods) {
      const seen = seenOf(rp.metadata.uid);
      expect(
        seen.some((e) =>
          e.object.status?.conditions?.some(
            (c) =>
              c.type === 'DisruptionTarget' && c.status === 'True' && c.reason === 'EvictionByEvictionAPI',
          ),
        ),
        rp.metadata.name,
      ).toBe(true);
    }

    // the real node: cordoned with this plan's marker, then uncordoned (every change seen)
    const nodeStates = await eventually('the node watch to deliver the uncordon', async () => {
      realNode!.complete();
      const seen = [...realNode!.initial, ...realNode!.events.map((e) => e.object)].map((x) => ({
        unschedulable: x.spec?.unschedulable === true,
        marker: x.metadata.annotations?.[MARKER],
      }));
      return seen.at(-1)?.unschedulable === false && seen.length > 1 ? seen : undefined;
    });
    expect(nodeStates[0]).toEqual({ unschedulable: false, marker: undefined });
    expect(nodeStates).toContainEqual({ unschedulable: true, marker: plan });
    expect(nodeStates.at(-1)).toEqual({ unschedulable: false, marker: undefined });

    // the Service had a ready endpoint in every state the watch delivered
    const readyCounts = () => {
      slices!.complete();
      return states(slices!).map(
        (byName) =>
          [...byName.values()].flatMap((x) => x.endpoints ?? []).filter((e) => e.conditions?.ready).length,
      );
    };
    await eventually(
      'the endpoint watch to deliver 4 ready endpoints again',
      async () => readyCounts().at(-1) === 4,
    );
    const counts = readyCounts();
    expect(slices!.events.length).toBeGreaterThan(0);
    expect(counts[0]).toBe(4);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
    expect(counts.at(-1)).toBe(4);
  });
});
