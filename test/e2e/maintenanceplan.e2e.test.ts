// MaintenancePlan predictions in shadow mode against the real Prometheus and
// the shipped ONNX predictor (controllers/maintenanceplan/model): a small
// exporter on 127.0.0.1 serves the 16 per-node GPU signals of the kwok nodes
// (values from the model's held-out fixtures) and Prometheus scrapes it
// through a file_sd target. A node whose signals degrade is at risk after
// `consecutive` evaluations, with its top signal in status, a risk gauge and
// an Event on the Node; a node whose series disappears abstains naming the
// signal; no node is written to. Prometheus scrapes every 1s (stack config)
// and the plan evaluates every 5s: every assertion waits for its condition.
// The exporter is the shared one (gpu-signals.ts).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import type { GpuExporter } from './gpu-signals.ts';
import { fixtureRow as row, modelDir, modelMeta as meta, startGpuExporter } from './gpu-signals.ts';
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

interface Plan {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    selectedNodes?: number;
    nodesAtRisk?: number;
    nodesUnknown?: number;
    lastEvaluationTime?: string;
    shadow?: { flags?: { node: string }[]; pending: number; truePositives: number; falsePositives: number };
    predictions?: {
      node: string;
      state: 'Scored' | 'Unknown';
      risk?: number;
      consecutive: number;
      atRisk: boolean;
      message?: string;
      topSignals?: { name: string; contribution: number }[];
    }[];
  };
}
interface NodeObj {
  metadata: { name: string; labels?: Record<string, string>; managedFields?: { manager?: string }[] };
  spec?: { unschedulable?: boolean; taints?: unknown[] };
}

const condition = (p: Plan, type: string) => p.status?.conditions?.find((c) => c.type === type);
const prediction = (p: Plan, node: string) => p.status?.predictions?.find((x) => x.node === node);

describe('MaintenancePlan predictions in shadow mode with the real Prometheus', () => {
  const run = `mplan${Math.random().toString(36).slice(2, 8)}`;
  const plan = `e2e-${run}`;
  const nodes = ['cpu-node-1', 'cpu-node-2', 'gpu-node-1', 'gpu-node-2'];
  const degrading = 'cpu-node-1';
  const abstaining = 'cpu-node-2';
  let exporter: GpuExporter | undefined;
  /** What the exporter serves: per node, per signal (a signal left out has no series). */
  const values = () => exporter!.values;
  let ns: string;
  let op: OperatorProcess | undefined;
  let nodesBefore: NodeObj[] = [];
  let spec: Record<string, unknown> & {
    predictor: Record<string, unknown> & { model: Record<string, unknown> };
  };
  const ref = [`maintenanceplan.ymera.io/${plan}`];
  const until = (what: string, check: (p: Plan) => boolean, timeoutMs = 90_000) =>
    untilObserved<Plan>(ref, `${plan}: ${what}`, check, timeoutMs);

  beforeAll(async () => {
    ns = await freshNamespace('e2e-mplan');
    exporter = await startGpuExporter(run, nodes);
    nodesBefore = await Promise.all(nodes.map(async (n) => (await getJson<NodeObj>(['get', 'node', n]))!));
    op = await startOperator('op-mplan', [
      `--watch-namespaces=${ns}`,
      '--cluster-scoped-kinds=true', // cluster-scoped plans: this namespaced test operator reconciles them
      `--prometheus-url=${exporter.promUrl}`,
    ]);
    spec = {
      nodeSelector: { matchLabels: { type: 'kwok' } },
      signals: exporter.signals,
      predictor: {
        model: { uri: `file://${path.join(modelDir, 'gpu-failure.onnx')}`, sha256: meta.sha256 },
        threshold: 0.8,
        consecutive: 2,
        interval: '5s',
      },
      window: { schedule: '0 2 * * 6', durationMinutes: 60 },
    };
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'MaintenancePlan',
        metadata: { name: plan },
        spec,
      }),
    );
  });

  afterAll(async () => {
    await kubectl(['delete', ...ref, `maintenanceplan.ymera.io/${plan}-bad`, '--wait=true', '--timeout=30s']);
    await exporter?.close();
    await op?.stop();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('scores every selected node with the shipped model, in shadow mode', async () => {
    const p = await until(
      'all four kwok nodes scored',
      (x) => x.status?.predictions?.filter((y) => y.state === 'Scored').length === 4,
    );
    expect(p.status?.selectedNodes).toBe(4); // the real node (no type=kwok label) is not selected
    for (const n of nodes) expect(prediction(p, n)?.risk).toBeCloseTo(row('healthy').risk, 2);
    expect(condition(p, 'Ready')).toMatchObject({ status: 'True', reason: 'Predicting' });
    expect(condition(p, 'PredictionsComplete')).toMatchObject({ status: 'True' });
    expect(condition(p, 'Acting')).toMatchObject({ status: 'False', reason: 'Shadow' });
    expect(condition(p, 'PredictorReady')).toMatchObject({ status: 'True' });
    await eventually('the risk gauge of every node', async () => {
      for (const node of nodes)
        if ((await op?.metric('ymera_node_failure_risk', { node, maintenanceplan: plan })) === undefined)
          return false;
      return true;
    });
  });

  it('flags a node whose signals degrade after consecutive evaluations, naming its top signal, with an Event on the Node', async () => {
    const failing = row('memory');
    values().set(degrading, { ...failing.features });
    const p = await until('the degraded node at risk', (x) => prediction(x, degrading)?.atRisk === true);
    const got = prediction(p, degrading)!;
    expect(got.consecutive).toBeGreaterThanOrEqual(2);
    expect(got.risk).toBeGreaterThanOrEqual(0.8);
    expect(p.status?.nodesAtRisk).toBe(1);
    expect(p.status?.predictions?.[0]?.node).toBe(degrading); // at-risk nodes first
    // the top signal raises the risk, and is one whose value moved away from the healthy fleet's
    const top = got.topSignals?.[0];
    expect(top?.contribution).toBeGreaterThan(0);
    expect(failing.features[top!.name]).not.toBe(row('healthy').features[top!.name]);
    // the shadow scorecard recorded the flag; it resolves within the horizon (24h), so it is pending
    const flag = await until('the flag in the shadow scorecard', (x) =>
      (x.status?.shadow?.flags ?? []).some((f) => f.node === degrading),
    );
    expect(flag.status?.shadow).toMatchObject({ pending: 1, truePositives: 0, falsePositives: 0 });
    // one node of four is no mass event
    expect(condition(p, 'MassFlag')).toMatchObject({ status: 'False' });
    const event = await eventually('a FailureRiskHigh Event on the Node', async () =>
      (await eventsAbout('default', degrading, 'Node')).find(
        (e) => e.reason === 'FailureRiskHigh' && e.note.includes(plan),
      ),
    );
    expect(event.type).toBe('Warning');
    expect(event.note).toContain(top!.name);
    await eventually('the risk gauge over the threshold', async () => {
      const v = await op?.metric('ymera_node_failure_risk', { node: degrading, maintenanceplan: plan });
      return v !== undefined && v >= 0.8;
    });
  });

  it('makes a node whose series disappears abstain, naming the missing signal', async () => {
    const { 'gpu-temp': _gone, ...rest } = values().get(abstaining)!;
    values().set(abstaining, rest);
    const p = await until(
      'the node without gpu-temp Unknown',
      (x) => prediction(x, abstaining)?.state === 'Unknown',
    );
    expect(prediction(p, abstaining)).toMatchObject({ atRisk: false, consecutive: 0 });
    expect(prediction(p, abstaining)?.message).toBe('gpu-temp missing');
    expect(prediction(p, abstaining)?.risk).toBeUndefined();
    expect(p.status?.nodesUnknown).toBe(1);
    expect(condition(p, 'PredictionsComplete')).toMatchObject({ status: 'False', reason: 'SignalsMissing' });
    expect(condition(p, 'PredictionsComplete')?.message).toContain('gpu-temp');
    // an abstaining node has no risk series (not a frozen last value)
    await eventually(
      'the abstaining node to lose its risk gauge',
      async () =>
        (await op?.metric('ymera_node_failure_risk', { node: abstaining, maintenanceplan: plan })) ===
        undefined,
    );
  });

  it('writes nothing to the nodes', async () => {
    // at least one more evaluation after the node was flagged, so an action would have happened
    const flagged = await until(
      'the degraded node still at risk',
      (x) => (prediction(x, degrading)?.consecutive ?? 0) >= 3,
    );
    expect(flagged.status?.nodesAtRisk).toBe(1);
    for (const before of nodesBefore) {
      const now = (await getJson<NodeObj>(['get', 'node', before.metadata.name]))!;
      expect(now.spec?.unschedulable, before.metadata.name).toBe(before.spec?.unschedulable);
      expect(now.spec?.taints, before.metadata.name).toEqual(before.spec?.taints);
      expect(now.metadata.labels).toEqual(before.metadata.labels);
      expect((now.metadata.managedFields ?? []).map((m) => m.manager)).not.toContain('ymera-operator');
    }
  });

  it('evaluates once per interval, not faster, whatever triggers a reconcile', async () => {
    // every evaluation time seen while reconciles are triggered in between (an annotation
    // changes the object but not its generation)
    const seen = new Set<string>();
    const record = async () => {
      const t = (await getJson<Plan>(['get', ...ref]))?.status?.lastEvaluationTime;
      if (t) seen.add(t);
      return seen.size;
    };
    for (let i = 0; i < 6; i++) {
      await kubectlOk(['annotate', '--overwrite', ...ref, `e2e.ymera.io/poke=${run}-${i}`]);
      for (let j = 0; j < 4; j++) {
        await record();
        await new Promise((r) => setTimeout(r, 300)); // spacing the observations, not synchronisation
      }
    }
    await eventually('two evaluations seen', async () => (await record()) >= 2);
    const times = [...seen].map((t) => Date.parse(t)).sort((a, b) => a - b);
    // 5s apart, give or take the whole-second truncation of status times
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(4000);
  });

  it('stalls on a model whose sha256 does not match, naming spec.predictor.model', async () => {
    const bad = `${plan}-bad`;
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'MaintenancePlan',
        metadata: { name: bad },
        spec: {
          ...spec,
          predictor: { ...spec.predictor, model: { ...spec.predictor.model, sha256: 'a'.repeat(64) } },
        },
      }),
    );
    const p = await untilObserved<Plan>(
      [`maintenanceplan.ymera.io/${bad}`],
      `${bad}: Stalled`,
      (x) => condition(x, 'Stalled')?.status === 'True',
    );
    expect(condition(p, 'Stalled')?.reason).toBe('ModelLoadFailed');
    expect(condition(p, 'Stalled')?.message).toMatch(
      /^spec\.predictor\.model file:\/\/.*gpu-failure\.onnx: Sha256Mismatch/,
    );
    expect(condition(p, 'Ready')).toMatchObject({ status: 'False', reason: 'ModelLoadFailed' });
    expect(condition(p, 'PredictorReady')).toMatchObject({ status: 'False' });
    expect(p.status?.predictions).toBeUndefined();
  });
});
