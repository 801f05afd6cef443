// MaintenancePlan in Act mode on kwok nodes of its own (created here, without
// the type=kwok label, so no other test schedules onto them and the shared
// nodes are never cordoned): the real Prometheus scrapes the test exporter,
// a node whose signals degrade is at risk, and in an open window (every
// minute, 5 minutes long: always open) under Auto approval it is cordoned
// with the plan's marker, its pods are evicted through the Eviction API (a
// PDB at its limit answers 429 first; the drain waits until the test relaxes
// the PDB), and it is uncordoned. A degraded node an admin cordoned is
// maintained too but stays cordoned. The operator runs as the chart's
// ServiceAccount with rbac.maintenancePlan (operator-identity.ts).
import path from 'node:path';
import { readTopic } from '../../operator/kafka/platformatic.ts';
import type { CloudEvent } from '../../operator/kafka/events.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuExporter } from './gpu-signals.ts';
import { fixtureRow, modelDir, modelMeta, startGpuExporter } from './gpu-signals.ts';
import type { OperatorProcess } from './support.ts';
import {
  assertNoForeignOperator,
  eventsAbout,
  eventually,
  freshNamespace,
  getJson,
  kafkaBrokers,
  kubectl,
  kubectlOk,
  operatorEnv,
  startOperator,
  untilObserved,
} from './support.ts';

const MARKER = 'ymera.io/cordoned-by-maintenance-plan';

interface Plan {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    phase?: string;
    lastEvaluationTime?: string;
    scheduled?: {
      node: string;
      state: string;
      progress?: string;
      message?: string;
      id?: string;
      startTime?: string;
    }[];
    history?: { node: string; result: string; message?: string; startTime?: string }[];
  };
}
interface NodeObj {
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean };
}
interface PodList {
  items: {
    metadata: { name: string; deletionTimestamp?: string };
    spec: { nodeName?: string };
    status?: { phase?: string };
  }[];
}

describe('MaintenancePlan in Act mode: cordon, drain through PDBs, uncordon', () => {
  const run = `act${Math.random().toString(36).slice(2, 8)}`;
  const plan = `e2e-${run}`;
  const drained = `${run}-a`;
  const adminCordoned = `${run}-b`;
  const healthy = `${run}-c`;
  const nodes = [drained, adminCordoned, healthy];
  let ns: string;
  let op: OperatorProcess | undefined;
  let exporter: GpuExporter | undefined;
  const ref = [`maintenanceplan.ymera.io/${plan}`];
  const until = (what: string, check: (p: Plan) => boolean, timeoutMs = 90_000) =>
    untilObserved<Plan>(ref, `${plan}: ${what}`, check, timeoutMs);
  const node = async (name: string) => (await getJson<NodeObj>(['get', 'node', name]))!;
  const podsOn = async (name: string) =>
    (await getJson<PodList>(['get', 'pods', '-n', ns, '-l', 'app=web']))!.items.filter(
      (p) => p.spec.nodeName === name && !p.metadata.deletionTimestamp,
    );

  beforeAll(async () => {
    // the plan is cluster-scoped: any other operator on the cluster would act on it as well
    await assertNoForeignOperator();
    ns = await freshNamespace('e2e-mplan-act');
    for (const name of nodes)
      await kubectlOk(
        ['create', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name,
            annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
            labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'ymera.io/e2e-act': run },
          },
          status: {
            capacity: { cpu: '8', memory: '32Gi', pods: '110' },
            allocatable: { cpu: '8', memory: '32Gi', pods: '110' },
          },
        }),
      );
    await eventually('kwok to make the test nodes Ready', async () => {
      for (const name of nodes) {
        const n = await getJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
          'get',
          'node',
          name,
        ]);
        if (n?.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') return false;
      }
      return true;
    });
    // two pods on the node to drain, and a PDB that allows no disruption (yet)
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
              replicas: 2,
              selector: { matchLabels: { app: 'web' } },
              template: {
                metadata: { labels: { app: 'web' } },
                spec: {
                  nodeSelector: { 'kubernetes.io/hostname': drained },
                  containers: [{ name: 'web', image: 'registry.invalid/web:1' }],
                },
              },
            },
          },
          {
            apiVersion: 'policy/v1',
            kind: 'PodDisruptionBudget',
            metadata: { name: 'web' },
            spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
          },
        ],
      }),
    );
    await eventually('two web pods running on the node to drain', async () => {
      const pods = await podsOn(drained);
      return pods.length === 2 && pods.every((p) => p.status?.phase === 'Running');
    });
    await eventually('the PDB to allow no disruption', async () => {
      const pdb = await getJson<{ status?: { currentHealthy?: number; disruptionsAllowed?: number } }>([
        'get',
        'pdb',
        'web',
        '-n',
        ns,
      ]);
      return pdb?.status?.currentHealthy === 2 && pdb.status.disruptionsAllowed === 0;
    });
    await kubectlOk(['cordon', adminCordoned]);

    exporter = await startGpuExporter(run, nodes);
    op = await startOperator('op-mplan-act', [
      `--watch-namespaces=${ns}`,
      `--prometheus-url=${exporter.promUrl}`,
    ]);
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'MaintenancePlan',
        metadata: { name: plan },
        spec: {
          nodeSelector: { matchLabels: { 'ymera.io/e2e-act': run } },
          signals: exporter.signals,
          predictor: {
            model: { uri: `file://${path.join(modelDir, 'gpu-failure.onnx')}`, sha256: modelMeta.sha256 },
            threshold: 0.8,
            consecutive: 2,
            interval: '5s',
            // two of three nodes degrade on purpose: not a mass event here
            maxFlaggedPercent: 100,
          },
          // a window opens every minute and lasts 5: it is open now
          window: { schedule: '* * * * *', timeZone: 'UTC', durationMinutes: 5 },
          maxUnavailable: 2,
          mode: 'Act',
          approval: 'Auto',
          actions: [
            { type: 'Cordon' },
            { type: 'Drain', drain: { timeoutSeconds: 300 } },
            { type: 'Uncordon' },
          ],
        },
      }),
    );
  });

  afterAll(async () => {
    await kubectl(['delete', ...ref, '--wait=true', '--timeout=30s']);
    await op?.stop();
    await exporter?.close();
    for (const name of nodes) await kubectl(['delete', 'node', name, '--wait=false']);
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('cordons a degraded node with its marker, and waits out the 429 of a PDB at its limit', async () => {
    exporter!.values.set(drained, { ...fixtureRow('memory').features });
    exporter!.values.set(adminCordoned, { ...fixtureRow('memory').features });
    const p = await until('the eviction refused by the PDB', (x) =>
      (x.status?.scheduled ?? []).some((e) => e.node === drained && /429/.test(e.message ?? '')),
    );
    expect(p.status?.phase).toBe('InProgress');
    expect(p.status?.scheduled?.find((e) => e.node === drained)).toMatchObject({
      state: 'InProgress',
      progress: 'Draining',
    });
    const n = await node(drained);
    expect(n.spec?.unschedulable).toBe(true);
    expect(n.metadata.annotations?.[MARKER]).toBe(plan);
    // the PDB held: both pods are still there
    expect(await podsOn(drained)).toHaveLength(2);
  });

  it('resumes the drain after an operator restart, drains once the PDB allows it, then uncordons', async () => {
    const before = (
      await until('the drain running', (x) =>
        (x.status?.scheduled ?? []).some((e) => e.node === drained && e.progress === 'Draining'),
      )
    ).status!.scheduled!.find((e) => e.node === drained)!;
    await op?.stop();
    op = await startOperator('op-mplan-act', [
      `--watch-namespaces=${ns}`,
      `--prometheus-url=${exporter!.promUrl}`,
    ]);
    // the new process picks the same maintenance up (same id and start) and still meets the PDB
    const lastEvaluation = (await getJson<Plan>(['get', ...ref]))?.status?.lastEvaluationTime;
    const resumed = await until(
      'an evaluation by the restarted operator',
      (x) => x.status?.lastEvaluationTime !== lastEvaluation,
    );
    expect(resumed.status?.scheduled?.find((e) => e.node === drained)).toMatchObject({
      id: before.id,
      startTime: before.startTime,
      state: 'InProgress',
    });
    expect((await node(drained)).spec?.unschedulable).toBe(true);
    expect(await podsOn(drained)).toHaveLength(2);
    await kubectlOk(['patch', 'pdb', 'web', '-n', ns, '--type=merge', '-p', '{"spec":{"minAvailable":0}}']);
    const p = await until(
      'the drained node in history',
      (x) => (x.status?.history ?? []).some((h) => h.node === drained),
      120_000,
    );
    expect(p.status?.history?.find((h) => h.node === drained)).toMatchObject({
      result: 'Succeeded',
      startTime: before.startTime,
    });
    const n = await node(drained);
    expect(n.spec?.unschedulable).toBeFalsy();
    expect(n.metadata.annotations?.[MARKER]).toBeUndefined();
    const events = await eventsAbout('default', drained, 'Node');
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['Cordoned', 'Uncordoned']));
    // this test's operator did every step: a stray operator elsewhere on the shared cluster (one
    // once finished this drain, publishing no CloudEvents and counting no uncordon here) shows up
    // as another reporting instance
    const reporters = events
      .filter((e) => e.reportingController === 'ymera.io/maintenanceplan-controller')
      .map((e) => e.reportingInstance);
    expect(new Set(reporters)).toEqual(new Set([op!.identity]));
  });

  it('leaves a node an admin cordoned cordoned', async () => {
    const p = await until('the admin-cordoned node in history', (x) =>
      (x.status?.history ?? []).some((h) => h.node === adminCordoned),
    );
    expect(p.status?.history?.find((h) => h.node === adminCordoned)?.message).toContain(
      'not cordoned by this plan',
    );
    const n = await node(adminCordoned);
    expect(n.spec?.unschedulable).toBe(true);
    expect(n.metadata.annotations?.[MARKER]).toBeUndefined();
    // the healthy node was never touched
    expect((await node(healthy)).spec?.unschedulable).toBeFalsy();
  });

  it('tells the maintenance as CloudEvents on Kafka, counts it, remembers it on the node and writes alert rules', async () => {
    const lifecycle = [
      'node.atrisk',
      'maintenance.scheduled',
      'maintenance.started',
      'maintenance.cordoned',
      'maintenance.drained',
      'maintenance.completed',
    ];
    const seen = await eventually('the maintenance lifecycle of the drained node on Kafka', async () => {
      // the shared topic keeps other runs' events: read it to its end, keep this plan's
      const types = (await readTopic({ brokers: kafkaBrokers(), topic: 'ymera.events.maintenanceplan' }))
        .filter((m) => m.key === plan)
        .map((m) => JSON.parse(m.value) as CloudEvent)
        .filter((e) => e.data.node === drained)
        .map((e) => e.type.replace('io.ymera.maintenanceplan.', ''));
      return lifecycle.every((t) => types.includes(t)) && types;
    }).catch((e: unknown) => {
      // what the operator said about Kafka, to tell a publish failure from a missing event
      const kafka = (op?.logs() ?? '').split('\n').filter((l) => /platform event|kafka/i.test(l));
      throw new Error(`${(e as Error).message}\noperator: ${kafka.slice(-20).join('\n')}`);
    });
    // in order (a fact re-sent after the restart may repeat: its first occurrence counts)
    const firsts = lifecycle.map((t) => seen.indexOf(t));
    expect(firsts).toEqual([...firsts].sort((x, y) => x - y));
    // the restarted operator drained and uncordoned the node
    expect(
      await op?.metric('ymera_maintenance_actions_total', { maintenanceplan: plan, action: 'uncordon' }),
    ).toBe(1);
    expect(
      Date.parse((await node(drained)).metadata.annotations?.['ymera.io/last-maintenance'] ?? ''),
    ).not.toBeNaN();
    const [rulesNs, rulesName] = [operatorEnv().POD_NAMESPACE, `${plan}-maintenanceplan-rules`];
    const rules = await eventually(
      "the plan's alert rules in the operator's namespace",
      async () =>
        (await kubectl(['get', 'configmap', rulesName, '-n', rulesNs])).code === 0 ||
        (await kubectl(['get', 'prometheusrule', rulesName, '-n', rulesNs])).code === 0,
    );
    expect(rules).toBe(true);
  });
});
