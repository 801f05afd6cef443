// MaintenancePlan's guards, end to end, on kwok nodes of this file's own
// (created here without the type=kwok label, so no other test schedules onto
// them): the real Prometheus scrapes the test exporter (gpu-signals.ts), and
// one operator process (the chart's ServiceAccount) runs four plans, each
// selecting its own nodes:
// - a pod annotated ymera.io/do-not-disrupt blocks the drain; past
//   drain.timeoutSeconds the plan aborts and uncordons (AbortAndUncordon);
// - approval Manual: nothing is cordoned until the ymera.io/approve
//   annotation repeats the scheduled id; a wildcard or another id approves
//   nothing;
// - a mass flag (more than maxFlaggedPercent of the selected nodes at risk at
//   once) stops the plan with the MassFlag condition and cordons nothing;
// - the shadow scorecard: a flag followed by a NotReady of its node within the
//   horizon is a true positive; one whose horizon passed without one is a
//   false positive. The horizon is at least an hour (schema), so the false
//   positive's flag is seeded in status as flagged 61 minutes ago (what an
//   operator restarting finds); the NotReady is real API state (kwok stops
//   faking the node, its Ready condition is set False).
// "Never" assertions (never cordoned before approval, never cordoned by a
// mass flag) are checked on a watch of the nodes (watch-record.ts): every
// transition is an event, so none can slip between two polls.
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
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
import { recordWatch } from './watch-record.ts';

const MARKER = 'ymera.io/cordoned-by-maintenance-plan';

interface Plan {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    phase?: string;
    nodesAtRisk?: number;
    lastEvaluationTime?: string;
    predictions?: { node: string; atRisk: boolean; consecutive: number }[];
    scheduled?: { node: string; id?: string; state: string; progress?: string; message?: string }[];
    history?: { node: string; result: string; message?: string }[];
    shadow?: {
      since: string;
      flags?: { node: string; at: string }[];
      failures?: { node: string; at: string }[];
      truePositives: number;
      falsePositives: number;
      pending: number;
      failuresObserved: number;
      failuresCaught: number;
      precision?: number;
      recall?: number;
    };
  };
}
type NodeObj = KubeObject & {
  spec?: { unschedulable?: boolean };
  status?: { conditions?: { type: string; status: string }[] };
};
interface PodList {
  items: {
    metadata: { name: string; uid: string; deletionTimestamp?: string };
    spec: { nodeName?: string };
    status?: { phase?: string };
  }[];
}

const condition = (p: Plan, type: string) => p.status?.conditions?.find((c) => c.type === type);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('MaintenancePlan guards: do-not-disrupt, Manual approval, mass flag, shadow scorecard', () => {
  const run = `grd${Math.random().toString(36).slice(2, 8)}`;
  const nodes = {
    dnd: `${run}-dnd`,
    manual: `${run}-man`,
    massA: `${run}-mass-a`,
    massB: `${run}-mass-b`,
    massC: `${run}-mass-c`,
    tp: `${run}-tp`,
    fp: `${run}-fp`,
  };
  /** Each plan selects its group by the label ymera.io/e2e-guard. */
  const groups: Record<string, string[]> = {
    dnd: [nodes.dnd],
    manual: [nodes.manual],
    mass: [nodes.massA, nodes.massB, nodes.massC],
    shadow: [nodes.tp, nodes.fp],
  };
  const plans = {
    dnd: `e2e-${run}-dnd`,
    manual: `e2e-${run}-manual`,
    mass: `e2e-${run}-mass`,
    shadow: `e2e-${run}-shadow`,
  };
  let ns = '';
  let op: OperatorProcess | undefined;
  let exporter: GpuExporter | undefined;
  let watched: WatchRecord<NodeObj> | undefined;
  const ref = (plan: string) => [`maintenanceplan.ymera.io/${plan}`];
  const until = (plan: string, what: string, check: (p: Plan) => boolean, timeoutMs = 120_000) =>
    untilObserved<Plan>(ref(plan), `${plan}: ${what}`, check, timeoutMs);
  /** Waits for an evaluation that started after `afterMs` (status times are whole seconds; 2 s of margin for the informer). */
  const evaluatedAfter = (plan: string, afterMs: number) =>
    until(plan, `an evaluation after ${iso(afterMs)}`, (p) => {
      const t = Date.parse(p.status?.lastEvaluationTime ?? '');
      return Number.isFinite(t) && t >= afterMs + 2000;
    });
  const node = async (name: string) => (await getJson<NodeObj>(['get', 'node', name]))!;
  const degrade = (...names: string[]) => {
    for (const n of names) exporter!.values.set(n, { ...fixtureRow('memory').features });
  };
  const seenStates = (name: string) => [
    ...watched!.initial.filter((n) => n.metadata.name === name),
    ...watched!.events.filter((e) => e.object.metadata.name === name).map((e) => e.object),
  ];
  let barrier = 0;
  /**
   * Every state of the node up to now, in order (unschedulable, marker): a
   * write of our own to the node, once the watch shows it, proves the watch
   * has delivered everything before it.
   */
  const cordonHistory = async (name: string) => {
    const token = `${++barrier}`;
    await kubectlOk(['annotate', '--overwrite', 'node', name, `e2e.ymera.io/barrier=${token}`]);
    await eventually(`the node watch to deliver ${name}'s barrier ${token}`, async () => {
      watched!.complete();
      return seenStates(name).some((n) => n.metadata.annotations?.['e2e.ymera.io/barrier'] === token);
    });
    return seenStates(name).map((n) => ({
      unschedulable: n.spec?.unschedulable === true,
      marker: n.metadata.annotations?.[MARKER],
    }));
  };
  const planObject = (name: string, group: string, spec: Record<string, unknown>) => ({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'MaintenancePlan',
    metadata: { name },
    spec: {
      nodeSelector: { matchLabels: { 'ymera.io/e2e-guard': `${run}-${group}` } },
      signals: exporter!.signals,
      predictor: {
        model: { uri: `file://${path.join(modelDir, 'gpu-failure.onnx')}`, sha256: modelMeta.sha256 },
        threshold: 0.8,
        consecutive: 2,
        interval: '5s',
      },
      // a window opens every minute and lasts 5: it is open now
      window: { schedule: '* * * * *', timeZone: 'UTC', durationMinutes: 5 },
      maxUnavailable: 1,
      mode: 'Act',
      approval: 'Auto',
      ...spec,
    },
  });

  beforeAll(async () => {
    ns = await freshNamespace('e2e-mplan-guards');
    watched = await recordWatch<NodeObj>(core.node, { labelSelector: `ymera.io/e2e-guard-run=${run}` });
    for (const [group, names] of Object.entries(groups))
      for (const name of names)
        await kubectlOk(
          ['create', '-f', '-'],
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Node',
            metadata: {
              name,
              annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
              labels: {
                'kubernetes.io/hostname': name,
                'kubernetes.io/os': 'linux',
                'ymera.io/e2e-guard': `${run}-${group}`,
                'ymera.io/e2e-guard-run': run,
              },
            },
            status: {
              capacity: { cpu: '8', memory: '32Gi', pods: '110' },
              allocatable: { cpu: '8', memory: '32Gi', pods: '110' },
            },
          }),
        );
    await eventually('kwok to make the test nodes Ready', async () => {
      for (const name of Object.values(nodes))
        if ((await node(name)).status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True')
          return false;
      return true;
    });
    // a pod that must not be disrupted, on the node whose drain it blocks
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'precious' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'precious' } },
          template: {
            metadata: { labels: { app: 'precious' }, annotations: { 'ymera.io/do-not-disrupt': 'true' } },
            spec: {
              nodeSelector: { 'kubernetes.io/hostname': nodes.dnd },
              containers: [{ name: 'main', image: 'registry.invalid/precious:1' }],
            },
          },
        },
      }),
    );
    await eventually('the do-not-disrupt pod running on its node', async () => {
      const pods = (await getJson<PodList>(['get', 'pods', '-n', ns, '-l', 'app=precious']))!.items;
      return (
        pods.length === 1 && pods[0]!.spec.nodeName === nodes.dnd && pods[0]!.status?.phase === 'Running'
      );
    });

    exporter = await startGpuExporter(run, Object.values(nodes));
    const drain = (timeoutSeconds: number) => [
      { type: 'Cordon' },
      { type: 'Drain', drain: { timeoutSeconds } },
      { type: 'Uncordon' },
    ];
    const objects = [
      planObject(plans.dnd, 'dnd', { actions: drain(20) }),
      planObject(plans.manual, 'manual', { approval: 'Manual', actions: drain(120) }),
      // the default maxFlaggedPercent (30): 2 of 3 nodes at once is a mass flag
      planObject(plans.mass, 'mass', { actions: drain(120) }),
      planObject(plans.shadow, 'shadow', {
        mode: 'Shadow',
        predictor: {
          model: { uri: `file://${path.join(modelDir, 'gpu-failure.onnx')}`, sha256: modelMeta.sha256 },
          threshold: 0.8,
          consecutive: 2,
          interval: '5s',
          // the smallest horizon the schema allows
          horizonHours: 1,
        },
      }),
    ];
    for (const o of objects) await kubectlOk(['create', '-f', '-'], JSON.stringify(o));
    // The false-positive path needs a flag whose horizon (at least 1 h) has passed: the
    // scorecard lives in status, so an operator that flagged the fp node 61 minutes ago
    // and then restarted finds exactly this. Written before any operator runs, so it is
    // the status the first evaluation starts from.
    const hourAgo = Date.now() - 61 * 60_000;
    await kubectlOk([
      'patch',
      ...ref(plans.shadow),
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          shadow: {
            since: iso(hourAgo),
            flags: [{ node: nodes.fp, at: iso(hourAgo) }],
            truePositives: 0,
            falsePositives: 0,
            pending: 1,
            failuresObserved: 0,
            failuresCaught: 0,
          },
        },
      }),
    ]);
    op = await startOperator('op-mplan-guards', [
      `--watch-namespaces=${ns}`,
      '--cluster-scoped-kinds=true', // cluster-scoped plans: this namespaced test operator reconciles them
      `--prometheus-url=${exporter.promUrl}`,
    ]);
  });

  afterAll(async () => {
    await kubectl(['delete', ...Object.values(plans).flatMap(ref), '--wait=true', '--timeout=30s']);
    await op?.stop();
    await watched?.stop();
    await exporter?.close();
    for (const name of Object.values(nodes)) await kubectl(['delete', 'node', name, '--wait=false']);
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  // Plans are cluster-scoped: any operator process reconciles them, also one started by hand
  // outside the e2e lock (another install). It would evaluate these plans with run counters of
  // its own (e.g. flag a node twice) or act on these nodes: name it instead of failing obscurely.
  afterEach(async () => {
    const ours = new Set<string>([...Object.values(nodes), ...Object.values(plans)]);
    const events =
      (
        await getJson<{
          items: {
            reportingController?: string;
            reportingInstance?: string;
            regarding?: { name?: string };
          }[];
        }>(['get', 'events.events.k8s.io', '-n', 'default'])
      )?.items ?? [];
    const foreign = new Set(
      events
        .filter(
          (e) =>
            ours.has(e.regarding?.name ?? '') &&
            e.reportingController === 'ymera.io/maintenanceplan-controller',
        )
        .map((e) => e.reportingInstance)
        .filter((i) => i !== op?.identity),
    );
    if (foreign.size)
      throw new Error(
        `another operator process (${[...foreign].join(', ')}) reconciled this file's MaintenancePlans; run operators only under the e2e lock`,
      );
  });

  it('a pod annotated ymera.io/do-not-disrupt blocks the drain; on timeout the plan aborts and uncordons', async () => {
    const [pod] = (await getJson<PodList>(['get', 'pods', '-n', ns, '-l', 'app=precious']))!.items;
    degrade(nodes.dnd);
    const blocked = await until(plans.dnd, 'the drain blocked by the do-not-disrupt pod', (p) =>
      (p.status?.scheduled ?? []).some(
        (e) => e.node === nodes.dnd && /^drain blocked by /.test(e.message ?? ''),
      ),
    );
    expect(blocked.status?.scheduled?.find((e) => e.node === nodes.dnd)?.message).toBe(
      `drain blocked by ${ns}/${pod!.metadata.name}: annotated ymera.io/do-not-disrupt: "true"`,
    );
    const cordoned = await node(nodes.dnd);
    expect(cordoned.spec?.unschedulable).toBe(true);
    expect(cordoned.metadata.annotations?.[MARKER]).toBe(plans.dnd);

    const p = await until(plans.dnd, 'the aborted maintenance in history', (x) =>
      (x.status?.history ?? []).some((h) => h.node === nodes.dnd),
    );
    const h = p.status!.history!.find((x) => x.node === nodes.dnd)!;
    expect(h.result).toBe('Failed');
    expect(h.message).toBe(
      `drain timed out after 20s with pods left: ${ns}/${pod!.metadata.name}; uncordoned`,
    );
    // the node is schedulable again and carries no marker; the pod was never evicted
    const after = await node(nodes.dnd);
    expect(after.spec?.unschedulable).toBeFalsy();
    expect(after.metadata.annotations?.[MARKER]).toBeUndefined();
    const [still] = (await getJson<PodList>(['get', 'pods', '-n', ns, '-l', 'app=precious']))!.items;
    expect(still?.metadata.uid).toBe(pod!.metadata.uid);
    expect(still?.metadata.deletionTimestamp).toBeUndefined();
    expect(still?.spec.nodeName).toBe(nodes.dnd);
    const reasons = (await eventsAbout('default', nodes.dnd, 'Node')).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Cordoned', 'Uncordoned', 'MaintenanceFailed']));
    // the cooldown after a maintenance (failed ones too) keeps the still-degraded node from a new one
    const later = await evaluatedAfter(plans.dnd, Date.now());
    expect(later.status?.scheduled ?? []).toEqual([]);
    expect(later.status?.predictions?.find((x) => x.node === nodes.dnd)?.atRisk).toBe(true);
    expect((await node(nodes.dnd)).spec?.unschedulable).toBeFalsy();
  });

  it('approval Manual: a wildcard or another id approves nothing; the scheduled id does', async () => {
    degrade(nodes.manual);
    const waiting = await until(plans.manual, 'the maintenance awaiting approval', (p) =>
      (p.status?.scheduled ?? []).some((e) => e.node === nodes.manual && e.state === 'AwaitingApproval'),
    );
    const entry = waiting.status!.scheduled!.find((e) => e.node === nodes.manual)!;
    expect(entry.id).toMatch(new RegExp(`^${nodes.manual}@\\d{14}$`));
    expect(entry.message).toBe(`awaiting approval: annotate the plan ymera.io/approve=${entry.id}`);
    expect(waiting.status?.phase).toBe('AwaitingApproval');

    for (const wrong of ['*', `${nodes.manual}@20000101000000`, `${entry.id}0, *`]) {
      await kubectlOk(['annotate', '--overwrite', ...ref(plans.manual), `ymera.io/approve=${wrong}`]);
      const p = await evaluatedAfter(plans.manual, Date.now());
      expect(
        p.status?.scheduled?.find((e) => e.node === nodes.manual),
        wrong,
      ).toMatchObject({
        id: entry.id,
        state: 'AwaitingApproval',
      });
      expect(condition(p, 'Acting'), wrong).toMatchObject({ status: 'False', reason: 'Waiting' });
    }
    // never cordoned while waiting: the watch saw every change of the node
    expect((await cordonHistory(nodes.manual)).filter((s) => s.unschedulable || s.marker)).toEqual([]);

    await kubectlOk(['annotate', '--overwrite', ...ref(plans.manual), `ymera.io/approve=${entry.id}`]);
    const done = await until(plans.manual, 'the approved maintenance in history', (p) =>
      (p.status?.history ?? []).some((h) => h.node === nodes.manual),
    );
    expect(done.status?.history?.find((h) => h.node === nodes.manual)?.result).toBe('Succeeded');
    // it was cordoned (with the marker) by the approved maintenance, then uncordoned
    const states = await cordonHistory(nodes.manual);
    expect(states.some((s) => s.unschedulable && s.marker === plans.manual)).toBe(true);
    expect(states.at(-1)).toMatchObject({ unschedulable: false, marker: undefined });
  });

  it('a mass flag stops the plan with the MassFlag condition and cordons nothing', async () => {
    // both in the same scrape: they cross the threshold in the same evaluation
    degrade(nodes.massA, nodes.massB);
    const flagged = await until(plans.mass, 'MassFlag', (p) => condition(p, 'MassFlag')?.status === 'True');
    expect(condition(flagged, 'MassFlag')).toMatchObject({
      reason: 'TooManyAtRisk',
      message:
        '2 of 3 selected nodes (67%) are at risk at once, more than 30%: suspected model drift or an outage, no maintenance is started',
    });
    // evaluations go on while the nodes stay at risk; the plan still starts nothing
    const later = await until(plans.mass, 'a later evaluation with both nodes still at risk', (p) =>
      [nodes.massA, nodes.massB].every(
        (n) => (p.status?.predictions?.find((x) => x.node === n)?.consecutive ?? 0) >= 3,
      ),
    );
    expect(condition(later, 'MassFlag')?.status).toBe('True');
    expect(later.status?.nodesAtRisk).toBe(2);
    expect(later.status?.phase).toBe('Idle');
    expect(later.status?.scheduled ?? []).toEqual([]);
    expect(condition(later, 'Acting')).toMatchObject({ status: 'False', reason: 'Waiting' });
    expect(condition(later, 'Acting')?.message).toContain('MassFlag');
    for (const n of groups.mass!)
      expect((await cordonHistory(n)).filter((s) => s.unschedulable || s.marker)).toEqual([]);
    const events = await eventsAbout('default', plans.mass, 'MaintenancePlan');
    expect(events.filter((e) => e.reason === 'TooManyAtRisk')).toHaveLength(1);
  });

  it('shadow scorecard: a flag whose horizon passed without a NotReady is a false positive', async () => {
    const p = await until(
      plans.shadow,
      'the old flag resolved',
      (x) => x.status?.shadow?.falsePositives === 1,
    );
    expect(p.status?.shadow).toMatchObject({ truePositives: 0, falsePositives: 1, pending: 0, precision: 0 });
    expect(p.status?.shadow?.flags?.map((f) => f.node)).toEqual([nodes.fp]);
    expect(p.status?.shadow?.failures ?? []).toEqual([]);
  });

  it('shadow scorecard: a flag followed by a NotReady of its node within the horizon is a true positive', async () => {
    degrade(nodes.tp);
    const flagged = await until(plans.shadow, 'the tp node flagged', (x) =>
      (x.status?.shadow?.flags ?? []).some((f) => f.node === nodes.tp),
    );
    expect(flagged.status?.shadow).toMatchObject({ truePositives: 0, falsePositives: 1, pending: 1 });
    const flagAt = Date.parse(flagged.status!.shadow!.flags!.find((f) => f.node === nodes.tp)!.at);
    // the node fails: kwok stops faking it (its heartbeat with it) and its Ready condition goes
    // False, after the flag (a failure in the flag's own second would not count)
    await eventually('a second past the flag', async () => Date.now() >= flagAt + 1000);
    await kubectlOk(['annotate', 'node', nodes.tp, 'kwok.x-k8s.io/node-']);
    const failedAt = iso(Date.now());
    await kubectlOk([
      'patch',
      'node',
      nodes.tp,
      '--subresource=status',
      '--type=strategic',
      '-p',
      JSON.stringify({
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'False',
              reason: 'E2EFailure',
              message: 'the e2e test failed this node',
              lastHeartbeatTime: failedAt,
              lastTransitionTime: failedAt,
            },
          ],
        },
      }),
    ]);
    const p = await until(plans.shadow, 'the true positive', (x) => x.status?.shadow?.truePositives === 1);
    const shadow = p.status!.shadow!;
    expect(shadow, JSON.stringify(p.status)).toMatchObject({
      truePositives: 1,
      falsePositives: 1,
      pending: 0,
      precision: 0.5,
    });
    expect(shadow.failures?.[0]).toEqual({ node: nodes.tp, at: failedAt });
    // the plan has watched for more than a horizon (since 61 minutes ago): the failure counts
    // for recall too, and the flag before it caught it (the node controller may record a
    // second transition, Ready Unknown, when the heartbeat it no longer gets runs out)
    expect(shadow.failuresObserved).toBeGreaterThanOrEqual(1);
    expect(shadow.failuresCaught).toBe(shadow.failuresObserved);
    expect(shadow.recall).toBe(1);
    // Shadow mode: no node of the plan was ever cordoned
    for (const n of groups.shadow!)
      expect((await cordonHistory(n)).filter((s) => s.unschedulable || s.marker)).toEqual([]);
  });
});
