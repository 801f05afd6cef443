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

interface DrainPlan {
  pods: number;
  podNames?: string[];
  blockingPdbs: number;
  blockingPdbNames?: string[];
  room: { fits: boolean; nodes: number; message: string };
}
interface Plan {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    phase?: string;
    lastEvaluationTime?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    scheduled?: {
      node: string;
      state: string;
      progress?: string;
      message?: string;
      id?: string;
      startTime?: string;
      job?: { namespace: string; name: string };
      drainPlan?: DrainPlan;
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

/** A kwok node of the test's own (no type=kwok label: nothing else schedules onto it). */
async function createNode(name: string, labels: Record<string, string>, cpu = '8'): Promise<void> {
  await kubectlOk(
    ['create', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...labels },
      },
      status: {
        capacity: { cpu, memory: '32Gi', pods: '110' },
        allocatable: { cpu, memory: '32Gi', pods: '110' },
      },
    }),
  );
}

async function nodesReady(names: readonly string[]): Promise<void> {
  await eventually('kwok to make the test nodes Ready', async () => {
    for (const name of names) {
      const n = await getJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
        'get',
        'node',
        name,
      ]);
      if (n?.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') return false;
    }
    return true;
  });
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
    ns = await freshNamespace('e2e-mplan-act');
    for (const name of nodes) await createNode(name, { 'ymera.io/e2e-act': run });
    await nodesReady(nodes);
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
      '--cluster-scoped-kinds=true', // cluster-scoped plans: this namespaced test operator reconciles them
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

// The Job action and the drain plan, on two more kwok nodes of their own,
// under Manual approval so the plan can be read before anything is cordoned:
// node J carries a pod under a PDB that allows no disruption, node R a pod
// asking for more CPU than the rest of the cluster has free. While they await
// approval, status shows J's blocking PDB and R's lack of room. Approved, R
// waits (no room, said in its entry and in Acting) and is never cordoned; J is
// cordoned, drained once the PDB allows it, its Job runs pinned to it in the
// maintenance namespace the operator was allowed (--maintenance-job-namespaces,
// labelled Pod Security baseline), and it is uncordoned after the Job succeeded.
describe('MaintenancePlan in Act mode: drain plan before cordoning, the Job on the node', () => {
  const run = `job${Math.random().toString(36).slice(2, 8)}`;
  const plan = `e2e-${run}`;
  const jobNode = `${run}-j`;
  const fullNode = `${run}-r`;
  const failNode = `${run}-f`;
  /** The nodes of the first plan; failNode is the second plan's. */
  const planNodes = [jobNode, fullNode];
  const nodes = [...planNodes, failNode];
  const failPlan = `${plan}-fail`;
  let ns: string;
  let jobNs: string;
  let op: OperatorProcess | undefined;
  let exporter: GpuExporter | undefined;
  const ref = [`maintenanceplan.ymera.io/${plan}`];
  const until = (what: string, check: (p: Plan) => boolean, timeoutMs = 90_000) =>
    untilObserved<Plan>(ref, `${plan}: ${what}`, check, timeoutMs);
  const entry = (p: Plan, node: string) => p.status?.scheduled?.find((e) => e.node === node);
  const node = async (name: string) => (await getJson<NodeObj>(['get', 'node', name]))!;
  // what both plans of this block share: the exporter's signals, the model, an always-open window
  const predictorSpec = () => ({
    signals: exporter!.signals,
    predictor: {
      model: { uri: `file://${path.join(modelDir, 'gpu-failure.onnx')}`, sha256: modelMeta.sha256 },
      threshold: 0.8,
      consecutive: 2,
      interval: '5s',
      maxFlaggedPercent: 100,
    },
    window: { schedule: '* * * * *', timeZone: 'UTC', durationMinutes: 5 },
  });

  beforeAll(async () => {
    ns = await freshNamespace('e2e-mplan-job');
    jobNs = await freshNamespace('e2e-mplan-maint');
    await kubectlOk(['label', 'namespace', jobNs, 'pod-security.kubernetes.io/enforce=baseline']);
    await createNode(jobNode, { 'ymera.io/e2e-job': run });
    // R's own allocatable fits its pod; no other node of the cluster has that much CPU free
    await createNode(fullNode, { 'ymera.io/e2e-job': run }, '100000');
    await createNode(failNode, { 'ymera.io/e2e-job-fail': run });
    await nodesReady(nodes);
    const deployment = (name: string, nodeName: string, cpu?: string) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': nodeName },
            containers: [
              {
                name,
                image: `registry.invalid/${name}:1`,
                ...(cpu ? { resources: { requests: { cpu } } } : {}),
              },
            ],
          },
        },
      },
    });
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          deployment('svc', jobNode),
          deployment('big', fullNode, '60000'),
          {
            apiVersion: 'policy/v1',
            kind: 'PodDisruptionBudget',
            metadata: { name: 'svc' },
            spec: { minAvailable: 1, selector: { matchLabels: { app: 'svc' } } },
          },
        ],
      }),
    );
    await eventually('the svc and big pods running on their nodes', async () => {
      const pods = (await getJson<PodList>(['get', 'pods', '-n', ns]))!.items;
      const on = (n: string) => pods.filter((p) => p.spec.nodeName === n && p.status?.phase === 'Running');
      return on(jobNode).length === 1 && on(fullNode).length === 1;
    });
    await eventually('the svc PDB to allow no disruption', async () => {
      const pdb = await getJson<{ status?: { currentHealthy?: number; disruptionsAllowed?: number } }>([
        'get',
        'pdb',
        'svc',
        '-n',
        ns,
      ]);
      return pdb?.status?.currentHealthy === 1 && pdb.status.disruptionsAllowed === 0;
    });

    exporter = await startGpuExporter(run, nodes);
    op = await startOperator('op-mplan-job', [
      `--watch-namespaces=${ns}`,
      '--cluster-scoped-kinds=true', // cluster-scoped plans: this namespaced test operator reconciles them
      `--prometheus-url=${exporter.promUrl}`,
      `--maintenance-job-namespaces=${jobNs}`,
    ]);
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'MaintenancePlan',
        metadata: { name: plan },
        spec: {
          ...predictorSpec(),
          nodeSelector: { matchLabels: { 'ymera.io/e2e-job': run } },
          maxUnavailable: 2,
          mode: 'Act',
          approval: 'Manual',
          actions: [
            { type: 'Cordon' },
            { type: 'Drain', drain: { timeoutSeconds: 300 } },
            {
              type: 'Job',
              job: {
                image: 'registry.invalid/gpu-reset:1',
                args: ['--reset'],
                timeoutSeconds: 120,
                tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
              },
            },
            { type: 'Uncordon' },
          ],
        },
      }),
    );
  });

  afterAll(async () => {
    await kubectl(['delete', ...ref, `maintenanceplan.ymera.io/${failPlan}`, '--wait=true', '--timeout=30s']);
    await op?.stop();
    await exporter?.close();
    for (const name of nodes) await kubectl(['delete', 'node', name, '--wait=false']);
    for (const n of [ns, jobNs]) if (n) await kubectl(['delete', 'namespace', n, '--wait=false']);
  });

  it('shows the drain plan before cordoning: the blocking PDB, and no room for the big pod', async () => {
    exporter!.values.set(jobNode, { ...fixtureRow('memory').features });
    exporter!.values.set(fullNode, { ...fixtureRow('memory').features });
    const p = await until(
      'drain plans of both nodes',
      (x) => !!entry(x, jobNode)?.drainPlan && !!entry(x, fullNode)?.drainPlan,
    );
    const j = entry(p, jobNode)!;
    expect(j.state).toBe('AwaitingApproval');
    expect(j.drainPlan).toMatchObject({ pods: 1, blockingPdbs: 1, room: { fits: true } });
    expect(j.drainPlan?.podNames?.[0]).toMatch(new RegExp(`^${ns}/svc-`));
    expect(j.drainPlan?.blockingPdbNames).toEqual([`${ns}/svc (1 pods, 0 disruptions allowed)`]);
    const r = entry(p, fullNode)!;
    expect(r.drainPlan).toMatchObject({ pods: 1, blockingPdbs: 0, room: { fits: false } });
    expect(r.drainPlan?.room.message).toMatch(/^no room for cpu: 1 pods to evict request cpu 60000/);
    // nothing is cordoned before approval
    for (const n of planNodes) expect((await node(n)).spec?.unschedulable).toBeFalsy();
  });

  it('approved: the node without room waits with the reason, the other runs its Job on the node and is uncordoned', async () => {
    const p = await until('both awaiting approval with ids', (x) =>
      planNodes.every((n) => entry(x, n)?.state === 'AwaitingApproval' && !!entry(x, n)?.id),
    );
    const ids = planNodes.map((n) => entry(p, n)!.id!);
    await kubectlOk(['annotate', ...ref, '--overwrite', `ymera.io/approve=${ids.join(',')}`]);
    const held = await until('the node without room held back', (x) =>
      /^waiting: the other nodes have no room/.test(entry(x, fullNode)?.message ?? ''),
    );
    expect(entry(held, fullNode)?.state).toBe('Scheduled');
    expect(held.status?.conditions?.find((c) => c.type === 'Acting')?.message).toMatch(
      new RegExp(`${fullNode} waits: the other nodes have no room`),
    );
    // the PDB holds J's drain; relax it so the drain, then the Job, can run
    await until('J draining', (x) => entry(x, jobNode)?.progress === 'Draining');
    await kubectlOk(['patch', 'pdb', 'svc', '-n', ns, '--type=merge', '-p', '{"spec":{"minAvailable":0}}']);
    const done = await until(
      'J in history',
      (x) => (x.status?.history ?? []).some((h) => h.node === jobNode),
      120_000,
    );
    const h = done.status!.history!.find((x) => x.node === jobNode)!;
    expect(h.result).toBe('Succeeded');
    expect(h.message).toMatch(new RegExp(`Job ${jobNs}/maint-${jobNode}-[0-9a-f]{10} succeeded; uncordoned`));
    // one Job, pinned to the node, tolerating the cordon, complete
    const jobs = (await getJson<{
      items: {
        metadata: { name: string; annotations?: Record<string, string> };
        spec: {
          activeDeadlineSeconds?: number;
          template: { spec: { nodeName?: string; tolerations?: { key?: string }[] } };
        };
        status?: { conditions?: { type: string; status: string }[] };
      }[];
    }>(['get', 'jobs', '-n', jobNs]))!.items;
    expect(jobs).toHaveLength(1);
    const job = jobs[0]!;
    expect(job.metadata.annotations?.['ymera.io/maintenance-id']).toBe(ids[0]);
    expect(job.spec.template.spec.nodeName).toBe(jobNode);
    expect(job.spec.activeDeadlineSeconds).toBe(120);
    expect(job.spec.template.spec.tolerations?.map((t) => t.key)).toEqual([
      'node.kubernetes.io/unschedulable',
      'nvidia.com/gpu',
    ]);
    expect(job.status?.conditions?.find((c) => c.type === 'Complete')?.status).toBe('True');
    const n = await node(jobNode);
    expect(n.spec?.unschedulable).toBeFalsy();
    expect(n.metadata.annotations?.[MARKER]).toBeUndefined();
    const events = await eventsAbout('default', jobNode, 'Node');
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['Cordoned', 'MaintenanceJobCreated', 'Uncordoned', 'MaintenanceSucceeded']),
    );
    // R still waits for room and was never cordoned
    const after = await until('R still held', (x) => entry(x, fullNode)?.state === 'Scheduled');
    expect(entry(after, fullNode)?.message).toMatch(/no room/);
    expect((await node(fullNode)).spec?.unschedulable).toBeFalsy();
  });

  it('a failed Job leaves the node cordoned (job.onFailure LeaveCordoned) and says so until an admin uncordons it', async () => {
    // the Job's deadline (1 s) passes before kwok completes its pod (2 s): the Job fails with DeadlineExceeded
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'MaintenancePlan',
        metadata: { name: failPlan },
        spec: {
          ...predictorSpec(),
          nodeSelector: { matchLabels: { 'ymera.io/e2e-job-fail': run } },
          mode: 'Act',
          approval: 'Auto',
          actions: [
            { type: 'Cordon' },
            { type: 'Drain' },
            { type: 'Job', job: { image: 'registry.invalid/gpu-reset:1', timeoutSeconds: 1 } },
            { type: 'Uncordon' },
          ],
        },
      }),
    );
    exporter!.values.set(failNode, { ...fixtureRow('memory').features });
    const failRef = [`maintenanceplan.ymera.io/${failPlan}`];
    const p = await untilObserved<Plan>(
      failRef,
      `${failPlan}: the node left cordoned`,
      (x) =>
        (x.status?.history ?? []).some((h) => h.node === failNode) &&
        x.status?.conditions?.find((c) => c.type === 'NodesLeftCordoned')?.status === 'True',
      120_000,
    );
    const h = p.status!.history!.find((x) => x.node === failNode)!;
    expect(h.result).toBe('Failed');
    expect(h.message).toMatch(
      /failed: DeadlineExceeded.*; node left cordoned \(job.onFailure LeaveCordoned\)/,
    );
    expect(p.status?.conditions?.find((c) => c.type === 'NodesLeftCordoned')?.message).toMatch(
      new RegExp(`^${failNode} stay cordoned after a failed maintenance`),
    );
    const n = await node(failNode);
    expect(n.spec?.unschedulable).toBe(true);
    expect(n.metadata.annotations?.[MARKER]).toBe(failPlan);
    const events = await eventsAbout('default', failNode, 'Node');
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['LeftCordoned', 'MaintenanceFailed']),
    );
    // repaired: the admin uncordons it, and the condition clears
    await kubectlOk(['uncordon', failNode]);
    await untilObserved<Plan>(
      failRef,
      `${failPlan}: NodesLeftCordoned False`,
      (x) => x.status?.conditions?.find((c) => c.type === 'NodesLeftCordoned')?.status === 'False',
    );
  });
});
