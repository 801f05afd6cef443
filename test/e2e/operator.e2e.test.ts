// The operator process against the local cluster: every sample is reconciled
// to a truthful status, children are owned and repaired, finalizers run, and
// the garbage collector removes children of deleted resources.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sample } from './samples.ts';
import { loadSamples, resourceRef, toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  startOperator,
  untilEvent,
} from './support.ts';

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}
interface Resource {
  metadata: { name: string; generation: number; finalizers?: string[]; uid: string };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

const condition = (r: Resource | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);

describe('operator reconciles the samples', () => {
  let ns: string;
  let op: OperatorProcess;
  let samples: Sample[];

  beforeAll(async () => {
    ns = await freshNamespace('e2e-op');
    op = await startOperator('op-samples');
    samples = loadSamples(ns, '-op');
    await kubectlOk(['apply', '-f', '-'], toYaml(samples.map((s) => s.object)));
  });

  afterAll(async () => {
    // delete the samples while the operator still runs, so finalizers are removed
    for (const s of samples ?? [])
      await kubectl(['delete', '--wait=true', '--timeout=60s', ...resourceRef(s)]);
    await op?.stop();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('gives every sample observedGeneration, kstatus conditions, and a finalizer only where it holds external state', async () => {
    expect(samples.length).toBeGreaterThanOrEqual(5);
    for (const s of samples) {
      const r = await eventually(`${s.kind} ${s.name} to be reconciled`, async () => {
        const got = await getJson<Resource>(['get', ...resourceRef(s)]);
        return got?.status?.observedGeneration === got?.metadata.generation && condition(got, 'Ready')
          ? got
          : undefined;
      });
      // the InferenceService created its logging topic, the LearningPipeline's trigger has a consumer
      // group in Kafka; the others hold nothing outside Kubernetes
      // (an OptimizationLoop in mode Apply, as the sample, writes to its target: the finalizer
      // restores the target's baseline on delete)
      const external =
        s.kind === 'InferenceService' || s.kind === 'LearningPipeline' || s.kind === 'OptimizationLoop';
      if (external) expect(r.metadata.finalizers, s.kind).toContain('ymera.io/cleanup');
      else expect(r.metadata.finalizers ?? [], s.kind).not.toContain('ymera.io/cleanup');
      // these two do their work: checked below and in learningpipeline.e2e.test.ts
      if (s.kind === 'InferenceService' || s.kind === 'LearningPipeline') continue;
      // the Restore waits for its BackupPolicy (the samples are renamed: it names one that is not
      // there); restores themselves are checked in restore.e2e.test.ts
      if (s.kind === 'Restore') {
        expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'PolicyNotFound' });
        expect(condition(r, 'Reconciling')).toMatchObject({ status: 'True', reason: 'PolicyNotFound' });
        expect(condition(r, 'Stalled')).toBeUndefined();
        continue;
      }
      // the BackupPolicy works, and says what stops it: the sample's key Secret is not in the
      // test namespace (backups, restores and drills are checked in backup*.e2e and restore*.e2e)
      if (s.kind === 'BackupPolicy') {
        expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'KeyUnavailable' });
        expect(condition(r, 'Stalled')).toMatchObject({
          status: 'True',
          reason: 'KeyUnavailable',
          observedGeneration: r.metadata.generation,
        });
        expect(condition(r, 'Stalled')?.message).toContain('spec.encryption.keySecret');
        continue;
      }
      // the MaintenancePlan predicts, but the sample's model credentials Secret is not in the
      // operator's namespace: Stalled, naming the field (predictions: maintenanceplan.e2e.test.ts)
      if (s.kind === 'MaintenancePlan') {
        expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'CredentialsNotFound' });
        expect(condition(r, 'Stalled')).toMatchObject({
          status: 'True',
          reason: 'CredentialsNotFound',
          observedGeneration: r.metadata.generation,
        });
        expect(condition(r, 'Stalled')?.message).toContain('spec.predictor.model.credentialsSecret');
        continue;
      }
      // the OptimizationLoop tunes, but the sample's target InferenceService is not in the test
      // namespace: it holds, saying so (tuning is checked in optimizationloop*.e2e)
      if (s.kind === 'OptimizationLoop') {
        expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'TargetNotFound' });
        expect(condition(r, 'Holding')).toMatchObject({ status: 'True', reason: 'TargetNotFound' });
        continue;
      }
      // kstatus abnormal-true polarity: Stalled present while True, Reconciling absent when stalled
      expect(condition(r, 'Reconciling')).toBeUndefined();
      for (const type of ['Ready', 'Stalled']) {
        const c = condition(r, type);
        expect(c, `${s.kind} ${type}`).toBeDefined();
        expect(c?.observedGeneration).toBe(r.metadata.generation);
        expect(c?.reason).toMatch(/^[A-Z][A-Za-z]+$/);
      }
      // nothing is run yet for the other kinds: they say so instead of claiming Ready
      expect(condition(r, 'Ready')?.status, `${s.kind} must not claim Ready`).toBe('False');
      expect(condition(r, 'Ready')?.reason).toBe('NotImplemented');
    }
  });

  it('serves the InferenceService sample: Ready once its pods are, with kstatus conditions', async () => {
    const s = samples.find((x) => x.kind === 'InferenceService') as Sample;
    const r = await eventually(`${s.name} to be Ready`, async () => {
      const got = await getJson<Resource>(['get', ...resourceRef(s)]);
      return got?.status?.observedGeneration === got?.metadata.generation &&
        condition(got, 'Ready')?.status === 'True'
        ? got
        : undefined;
    });
    // converged: no Reconciling, no Stalled; every condition is about this generation
    expect(condition(r, 'Reconciling')).toBeUndefined();
    expect(condition(r, 'Stalled')).toBeUndefined();
    for (const type of ['Ready', 'ModelLoaded', 'CanaryHealthy', 'RolloutComplete', 'KafkaReady']) {
      const c = condition(r, type);
      expect(c, type).toMatchObject({ status: 'True', observedGeneration: r.metadata.generation });
      expect(c?.reason).toMatch(/^[A-Z][A-Za-z]+$/);
    }
  });

  it('marks what only the controller can judge as Stalled/InvalidSpec, naming the field', async () => {
    const pipeline = samples.find((x) => x.kind === 'LearningPipeline') as Sample;
    const cyclic = structuredClone(pipeline.object) as Sample['object'] & {
      spec: { steps: { name: string; dependsOn?: string[] }[] };
    };
    cyclic.metadata.name = `${pipeline.name}-cyclic`;
    const first = cyclic.spec.steps[0];
    const last = cyclic.spec.steps[cyclic.spec.steps.length - 1];
    if (!first || !last) throw new Error('sample pipeline has no steps');
    first.dependsOn = [last.name]; // closes the chain into a cycle; CEL only checks that names exist
    await kubectlOk(['apply', '-f', '-'], toYaml([cyclic]));
    const ref = ['-n', ns, `learningpipeline.ymera.io/${cyclic.metadata.name}`];
    const r = await eventually('the cycle to be reported', async () => {
      const got = await getJson<Resource>(['get', ...ref]);
      return condition(got, 'Stalled')?.reason === 'InvalidSpec' ? got : undefined;
    });
    expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition(r, 'Stalled')?.message).toMatch(/spec\.steps/);
    expect(condition(r, 'Stalled')?.message).toMatch(/cycle/i);
    // the Event is recorded after the status: wait for it
    const invalid = await untilEvent(ns, cyclic.metadata.name, 'InvalidSpec', 'LearningPipeline');
    expect(invalid.type).toBe('Warning');
    await kubectlOk(['delete', '--wait=true', '--timeout=60s', ...ref]);
  });

  it('records an Event a user sees in kubectl describe', async () => {
    const infsvc = samples.find((s) => s.kind === 'InferenceService');
    expect(infsvc).toBeDefined();
    // by kind and reason: other controllers write Events about the same-named HPA/PDB
    const reconciled = await untilEvent(ns, infsvc!.name, 'Reconciled', 'InferenceService');
    expect(reconciled.reportingController).toBe('ymera.io/inferenceservice-controller');
    const describe = await kubectlOk(['describe', ...resourceRef(infsvc as Sample)]);
    expect(describe).toMatch(/Reconciled/);
  });

  it('follows spec changes with observedGeneration and keeps lastTransitionTime when status is unchanged', async () => {
    const s = samples.find((x) => x.kind === 'InferenceService') as Sample;
    const before = await getJson<Resource>(['get', ...resourceRef(s)]);
    const ready = condition(before, 'Ready');
    await kubectlOk(['annotate', ...resourceRef(s), 'e2e/touched=1', '--overwrite']);
    await kubectlOk([
      'patch',
      ...resourceRef(s),
      '--type=merge',
      '-p',
      '{"spec":{"model":{"version":"e2e-2"}}}',
    ]);
    const after = await eventually('observedGeneration to follow the new generation', async () => {
      const got = await getJson<Resource>(['get', ...resourceRef(s)]);
      return got &&
        got.metadata.generation > (before?.metadata.generation ?? 0) &&
        got.status?.observedGeneration === got.metadata.generation
        ? got
        : undefined;
    });
    expect(condition(after, 'Ready')?.lastTransitionTime).toBe(ready?.lastTransitionTime);
  });

  it('owns its children and repairs them when they drift or disappear', async () => {
    const s = samples.find((x) => x.kind === 'InferenceService') as Sample;
    const owner = await getJson<Resource>(['get', ...resourceRef(s)]);
    const cmName = `${s.name}-config`;
    const cm = await eventually('the runtime ConfigMap', () =>
      getJson<{
        metadata: { ownerReferences: { uid: string; controller: boolean }[]; labels: Record<string, string> };
        data: Record<string, string>;
      }>(['get', 'configmap', '-n', ns, cmName]),
    );
    expect(cm.metadata.ownerReferences[0]?.uid).toBe(owner?.metadata.uid);
    expect(cm.metadata.ownerReferences[0]?.controller).toBe(true);
    expect(cm.metadata.labels['app.kubernetes.io/managed-by']).toBe('ymera-operator');
    expect(cm.metadata.labels['ymera.io/inferenceservice']).toBe(s.name);
    // only runtime.json: the data also holds one key per live revision, and a canary started
    // by the spec change above may be promoted (its key pruned) while this test runs
    const original = cm.data['runtime.json'];
    expect(original).toBeDefined();

    // the SLO becomes burn-rate rules (a ConfigMap here: no PrometheusRule CRD on this cluster)
    const rules = await eventually('the SLO rules ConfigMap', () =>
      getJson<{ metadata: { labels: Record<string, string> }; data: Record<string, string> }>([
        'get',
        'configmap',
        '-n',
        ns,
        `${s.name}-inferenceservice-rules`,
      ]),
    );
    expect(rules.metadata.labels['ymera.io/prometheus-rules']).toBe('true');
    expect(Object.values(rules.data).join('\n')).toMatch(/YmeraInferenceErrorBudgetBurn/);

    await kubectlOk([
      'patch',
      'configmap',
      '-n',
      ns,
      cmName,
      '--type=merge',
      '-p',
      '{"data":{"runtime.json":"{}"}}',
    ]);
    await eventually('the edited ConfigMap to be reverted', async () => {
      const got = await getJson<{ data: Record<string, string> }>(['get', 'configmap', '-n', ns, cmName]);
      return got?.data['runtime.json'] === original;
    });

    await kubectlOk(['delete', 'configmap', '-n', ns, cmName]);
    await eventually('the deleted ConfigMap to come back', () =>
      getJson(['get', 'configmap', '-n', ns, cmName]),
    );
  });

  it('runs the finalizer on delete and the garbage collector removes the children', async () => {
    const s = samples.find((x) => x.kind === 'InferenceService') as Sample;
    const cmName = `${s.name}-config`;
    await eventually('the ConfigMap child', () => getJson(['get', 'configmap', '-n', ns, cmName]));
    await kubectlOk(['delete', '--wait=true', '--timeout=60s', ...resourceRef(s)]);
    expect(await getJson(['get', ...resourceRef(s)])).toBeUndefined();
    await eventually(
      'the garbage collector to delete the ConfigMap',
      async () => (await getJson(['get', 'configmap', '-n', ns, cmName])) === undefined,
    );
    // recorded as the finalizer goes (the sample holds a Kafka topic): it may land after the object is gone
    await untilEvent(ns, s.name, 'Deleted', 'InferenceService');
  });

  it('exposes per-controller metrics and probes', async () => {
    expect(await op.metric('ymera_reconcile_total', { controller: 'inferenceservice' })).toBeGreaterThan(0);
    expect(await op.metric('ymera_reconcile_total', { controller: 'learningpipeline' })).toBeGreaterThan(0);
    expect(await op.metric('ymera_leader_is_leader')).toBe(1);
    expect((await fetch(`${op.healthUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${op.healthUrl}/readyz`)).status).toBe(200);
  });
});
