// InferenceService serving against the local cluster: GPU services land on
// the GPU nodes and CPU services do not, the children (Deployment per
// revision, Service, HPA, PDB) are kept in line, a changed model rolls out
// as a canary and is promoted, a broken revision is rolled back with status
// and Events explaining why, a GPU request no node can meet says so, and
// deleting the resource removes every child and its logging topic.
//
// kwok pods run nothing: failures are simulated with the kwok stage
// annotation ymera.io/simulate, put on the pods through spec.runtime.podAnnotations
// (see test/e2e/cluster/README.md).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { RUNTIME_IMAGE } from '../../operator/version.ts';
import { LOAD_FAILED_EXIT_CODE } from '../../runtime/termination.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import type { CloudEvent } from '../../operator/kafka/events.ts';
import type { KafkaClients } from '../../operator/kafka/platformatic.ts';
import { createKafkaClients, readTopic } from '../../operator/kafka/platformatic.ts';
import { loadSamples, toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  eventsAbout,
  eventually,
  freshNamespace,
  getJson,
  kafkaBrokers,
  kubectl,
  kubectlOk,
  podsWith,
  repo,
  startOperator,
  untilObserved,
} from './support.ts';

interface InfSvcStatus {
  observedGeneration?: number;
  phase?: string;
  url?: string;
  conditions?: Condition[];
  revisions?: { stable?: string; canary?: string; lastRolledBack?: string };
  traffic?: { revision: string; percent: number }[];
  canaryPercent?: number;
  replicas?: number;
  readyReplicas?: number;
  model?: { version: string };
  lastFailure?: { reason: string; message: string; revision?: string; time: string };
}
interface InfSvc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; generation?: number; uid?: string };
  spec: Record<string, unknown> & {
    model: { uri: string; version: string };
    logging?: { kafka: { topic: string } };
  };
  status?: InfSvcStatus;
}
interface Pod {
  metadata: { name: string; labels: Record<string, string> };
  spec: { nodeName?: string };
}
interface Deployment {
  metadata: { name: string; labels: Record<string, string> };
  spec: { replicas?: number; template: { spec: { containers: { image: string }[] } } };
}

const condition = (r: InfSvc | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);

describe('InferenceService serving', () => {
  let ns: string;
  let op: OperatorProcess;
  let kafka: KafkaClients;

  const ref = (name: string) => ['-n', ns, `inferenceservice.ymera.io/${name}`];
  const get = (name: string) => getJson<InfSvc>(['get', ...ref(name)]);
  const until = (name: string, what: string, check: (r: InfSvc) => boolean, timeoutMs = 90_000) =>
    untilObserved<InfSvc>(ref(name), `${name}: ${what}`, check, timeoutMs);
  const pods = (name: string) => podsWith<Pod>(ns, `ymera.io/inferenceservice=${name}`);
  const deployments = async (name: string) =>
    (
      await getJson<{ items: Deployment[] }>([
        'get',
        'deployments',
        '-n',
        ns,
        '-l',
        `ymera.io/inferenceservice=${name}`,
      ])
    )?.items ?? [];
  const events = (name: string) => eventsAbout(ns, name, 'InferenceService');
  const cloudEvents = async (name: string) => {
    const messages = await readTopic({
      brokers: kafkaBrokers(),
      topic: 'ymera.events.inferenceservice',
      // to the end of the topic: it keeps earlier runs' events, more than any fixed count
      timeoutMs: 30_000,
    });
    return messages.filter((m) => m.key === `${ns}/${name}`).map((m) => JSON.parse(m.value) as CloudEvent);
  };

  /** A small CPU service (no GPU), no analysis: promoted once its pods are ready and soaked. */
  const cpuService = (name: string, extra: Record<string, unknown> = {}): InfSvc => ({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, namespace: ns },
    spec: {
      model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
      runtime: { resources: { requests: { cpu: '100m', memory: '128Mi' } } },
      scaling: { minReplicas: 2 },
      rollout: { canaryPercent: 50 },
      ...extra,
    },
  });

  beforeAll(async () => {
    ns = await freshNamespace('e2e-infsvc');
    kafka = createKafkaClients({ brokers: kafkaBrokers(), clientId: 'ymera-e2e-infsvc', timeoutMs: 5_000 });
    op = await startOperator('op-infsvc', [`--watch-namespaces=${ns}`]);
  });

  afterAll(async () => {
    if (ns) await deleteInferenceServices(ns);
    await op?.stop();
    await kafka?.close();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('puts the GPU sample on GPU nodes with its Service, HPA and PDB, and reports Ready', async () => {
    const sample = loadSamples(ns, '-gpu').find((s) => s.kind === 'InferenceService');
    if (!sample) throw new Error('no InferenceService sample');
    await kubectlOk(['apply', '-f', '-'], toYaml([sample.object]));
    const name = sample.name;
    const r = await until(name, 'Ready', (x) => condition(x, 'Ready')?.status === 'True');
    expect(r.status).toMatchObject({
      phase: 'Serving',
      url: `http://${name}.${ns}.svc.cluster.local/v2/models/${name}`,
      model: { version: 'v3' },
      replicas: 2,
      readyReplicas: 2,
      canaryPercent: 0,
    });
    const stable = r.status?.revisions?.stable as string;
    expect(stable).toMatch(/^[0-9a-f]{10}$/);
    expect(r.status?.traffic).toEqual([{ revision: stable, percent: 100 }]);
    for (const type of ['ModelLoaded', 'RolloutComplete', 'CanaryHealthy'])
      expect(condition(r, type)?.status, type).toBe('True');

    const placed = await pods(name);
    expect(placed).toHaveLength(2);
    for (const p of placed) {
      expect(p.spec.nodeName).toMatch(/^gpu-node-/);
      expect(p.metadata.labels['ymera.io/revision']).toBe(stable);
    }
    const [d] = await deployments(name);
    expect(d?.metadata.name).toBe(`${name}-${stable}`);
    const svc = await getJson<{ spec: { selector: Record<string, string> } }>([
      'get',
      'service',
      '-n',
      ns,
      name,
    ]);
    expect(svc?.spec.selector).toEqual({
      'ymera.io/inferenceservice': name,
      'app.kubernetes.io/component': 'inference-server',
    });
    const hpa = await getJson<{
      spec: { minReplicas: number; maxReplicas: number; scaleTargetRef: { name: string } };
    }>(['get', 'horizontalpodautoscalers.autoscaling', '-n', ns, name]);
    expect(hpa?.spec).toMatchObject({
      minReplicas: 2,
      maxReplicas: 6,
      scaleTargetRef: { name: d?.metadata.name },
    });
    expect(await getJson(['get', 'poddisruptionbudget', '-n', ns, name])).toBeDefined();

    // kubectl get shows the printer columns
    const table = await kubectlOk(['get', ...ref(name)]);
    expect(table.split('\n')[0]).toMatch(/NAME\s+READY\s+PHASE\s+URL\s+MODEL\s+CANARY%\s+REPLICAS\s+AGE/);
    expect(table).toContain(`http://${name}.${ns}.svc.cluster.local/v2/models/${name}`);
  });

  it('keeps a CPU service off the GPU nodes', async () => {
    await kubectlOk(['apply', '-f', '-'], toYaml([cpuService('cpu')]));
    await until('cpu', 'Ready', (x) => condition(x, 'Ready')?.status === 'True');
    const placed = await pods('cpu');
    expect(placed).toHaveLength(2);
    for (const p of placed) expect(p.spec.nodeName).toMatch(/^cpu-node-/);
    expect(await getJson(['get', 'horizontalpodautoscalers.autoscaling', '-n', ns, 'cpu'])).toBeUndefined();
  });

  it('repairs a deleted Service and an edited Deployment', async () => {
    await kubectlOk(['delete', 'service', '-n', ns, 'cpu']);
    await eventually('the Service to come back', () => getJson(['get', 'service', '-n', ns, 'cpu']));
    const [d] = await deployments('cpu');
    const name = d?.metadata.name as string;
    await kubectlOk(['scale', 'deployment', '-n', ns, name, '--replicas=5']);
    await kubectlOk([
      'patch',
      'deployment',
      '-n',
      ns,
      name,
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"example.com/not-ours:1"}]',
    ]);
    const repaired = await eventually('the Deployment to be reverted', async () => {
      const got = await getJson<Deployment>(['get', 'deployment', '-n', ns, name]);
      return got?.spec.replicas === 2 &&
        got.spec.template.spec.containers[0]?.image !== 'example.com/not-ours:1'
        ? got
        : undefined;
    });
    expect(repaired.spec.template.spec.containers[0]?.image).toBe(RUNTIME_IMAGE);
  });

  it('rolls a new model out as a canary and promotes it when healthy', async () => {
    const before = await get('cpu');
    const oldRev = before?.status?.revisions?.stable as string;
    await kubectlOk(['patch', ...ref('cpu'), '--type=merge', '-p', '{"spec":{"model":{"version":"v2"}}}']);
    const canary = await until('cpu', 'a canary', (x) => x.status?.revisions?.canary !== undefined, 30_000);
    const newRev = canary.status?.revisions?.canary as string;
    expect(newRev).not.toBe(oldRev);
    expect(canary.status?.revisions?.stable).toBe(oldRev);
    expect(canary.status?.phase).toBe('Canary');
    expect(canary.status?.canaryPercent).toBe(50);
    expect(canary.status?.traffic).toEqual([
      { revision: oldRev, percent: 50 },
      { revision: newRev, percent: 50 },
    ]);
    expect(condition(canary, 'Ready')?.status).toBe('True'); // the stable revision keeps serving
    expect(condition(canary, 'RolloutComplete')).toMatchObject({ status: 'False', reason: 'Progressing' });
    expect((await deployments('cpu')).map((d) => d.metadata.labels['ymera.io/revision']).sort()).toEqual(
      [oldRev, newRev].sort(),
    );

    const done = await until(
      'cpu',
      'the canary to be promoted',
      (x) => x.status?.revisions?.stable === newRev && condition(x, 'RolloutComplete')?.status === 'True',
    );
    expect(done.status).toMatchObject({ phase: 'Serving', model: { version: 'v2' }, canaryPercent: 0 });
    expect(done.status?.revisions?.canary).toBeUndefined();
    await eventually('the old revision to be pruned', async () => {
      const left = await deployments('cpu');
      return left.length === 1 && left[0]?.metadata.labels['ymera.io/revision'] === newRev;
    });
    // Events and CloudEvents follow the status write: wait for them
    await eventually('the CanaryStarted and Promoted Events', async () => {
      const reasons = (await events('cpu')).map((e) => e.reason);
      return reasons.includes('CanaryStarted') && reasons.includes('Promoted');
    });
    await eventually('the rollout.completed CloudEvent', async () =>
      (await cloudEvents('cpu')).some((e) => e.type === 'io.ymera.inferenceservice.rollout.completed'),
    );
  });

  /** A new model version whose pods kwok makes misbehave (ymera.io/simulate, and more stage annotations). */
  const rollOutSimulated = (
    name: string,
    version: string,
    simulate: string,
    more: Record<string, string> = {},
  ) =>
    kubectlOk([
      'patch',
      ...ref(name),
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: {
          model: { version },
          runtime: { podAnnotations: { 'ymera.io/simulate': simulate, ...more } },
        },
      }),
    ]);

  it('rolls back a crash-looping revision automatically and does not retry it', async () => {
    const before = await get('cpu');
    const stable = before?.status?.revisions?.stable as string;
    await rollOutSimulated('cpu', 'v3-broken', 'crashloop');
    const r = await until(
      'cpu',
      'the rollback',
      (x) =>
        x.status?.revisions?.lastRolledBack !== undefined && x.status.revisions.lastRolledBack !== stable,
    );
    const bad = r.status?.revisions?.lastRolledBack as string;
    expect(r.status?.revisions).toEqual({ stable, lastRolledBack: bad });
    expect(r.status?.lastFailure).toMatchObject({ reason: 'RolledBack', revision: bad });
    expect(r.status?.lastFailure?.message).toMatch(/CrashLoopBackOff/);
    expect(r.status?.model?.version).toBe('v2');
    expect(condition(r, 'RolloutComplete')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(condition(r, 'CanaryHealthy')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    const warning = await eventually('a RolledBack event', async () =>
      (await events('cpu')).find((e) => e.reason === 'RolledBack' && e.type === 'Warning'),
    );
    expect(warning.note).toMatch(new RegExp(`Revision ${bad} was rolled back.*CrashLoopBackOff`));
    await eventually('the canary Deployment to be pruned', async () => {
      const left = await deployments('cpu');
      return left.length === 1 && left[0]?.metadata.labels['ymera.io/revision'] === stable;
    });
    // the same revision is not tried again while the spec stays as it is: after a reconcile of the
    // poked object (counted once it ended), still only the stable revision runs
    const reconciles = async () =>
      (await op.metric('ymera_reconcile_total', { controller: 'inferenceservice' })) ?? 0;
    const counted = await reconciles();
    await kubectlOk(['annotate', ...ref('cpu'), `e2e/poke=${Date.now()}`, '--overwrite']);
    await eventually('a reconcile after the poke', async () => (await reconciles()) > counted);
    expect((await deployments('cpu')).map((d) => d.metadata.labels['ymera.io/revision'])).toEqual([stable]);
    expect((await get('cpu'))?.status?.revisions?.canary).toBeUndefined();
    const rollback = await eventually('the rollback.performed CloudEvent', async () =>
      (await cloudEvents('cpu')).find((e) => e.type === 'io.ymera.inferenceservice.rollback.performed'),
    );
    expect(rollback.data).toMatchObject({ revision: bad, stable, reason: 'CrashLoopBackOff' });
  });

  it('rolls back a revision whose pods fail', async () => {
    const before = await get('cpu');
    const stable = before?.status?.revisions?.stable as string;
    const previousBad = before?.status?.revisions?.lastRolledBack;
    await rollOutSimulated('cpu', 'v4-fails', 'fail');
    const r = await until(
      'cpu',
      'the rollback of the failing revision',
      (x) => x.status?.revisions?.lastRolledBack !== previousBad,
    );
    expect(r.status?.revisions?.stable).toBe(stable);
    expect(r.status?.lastFailure?.revision).toBe(r.status?.revisions?.lastRolledBack);
    expect(r.status?.lastFailure?.message).toMatch(/ContainerFailed|PodFailed/);
  });

  it("rolls back a revision whose model cannot be loaded, in the runtime's own words", async () => {
    // What the real runtime leaves in its termination message when the model fails its
    // sha256 check; kwok's pods run nothing, so their crash loop carries this line.
    const dir = await mkdtemp(path.join(tmpdir(), 'ymera-e2e-'));
    const terminationLog = path.join(dir, 'termination-log');
    await writeFile(terminationLog, '');
    const runtime = spawn(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        path.join(repo, 'runtime/server.ts'),
        ...['--model', pathToFileURL(path.join(repo, 'runtime/models/fraud.onnx')).href],
        ...['--sha256', 'f'.repeat(64), '--port', '0'],
      ],
      { env: { ...process.env, YMERA_TERMINATION_LOG: terminationLog }, stdio: 'ignore' },
    );
    const exitCode = await new Promise<number | null>((resolve) => runtime.on('exit', resolve));
    expect(exitCode).toBe(LOAD_FAILED_EXIT_CODE);
    const line = await readFile(terminationLog, 'utf8');
    expect(line).toMatch(/^ModelLoadFailed \(Sha256Mismatch\): /);

    const before = await get('cpu');
    const stable = before?.status?.revisions?.stable as string;
    const previousBad = before?.status?.revisions?.lastRolledBack;
    await rollOutSimulated('cpu', 'v5-bad-sha', 'crashloop', {
      'ymera.io/simulate-exit-code': String(LOAD_FAILED_EXIT_CODE),
      'ymera.io/simulate-termination-message': line,
    });
    const r = await until(
      'cpu',
      'the rollback of the revision that cannot load its model',
      (x) => x.status?.revisions?.lastRolledBack !== previousBad,
    );
    const bad = r.status?.revisions?.lastRolledBack as string;
    expect(r.status?.revisions?.stable).toBe(stable);
    expect(r.status?.lastFailure).toMatchObject({ reason: 'RolledBack', revision: bad });
    expect(r.status?.lastFailure?.message).toMatch(
      new RegExp(
        `revision ${bad} was rolled back \\(ModelLoadFailed\\): pod \\S+ cannot load its model \\(Sha256Mismatch\\): model sha256 mismatch: expected f{64}`,
      ),
    );
    const warning = await eventually('a RolledBack event naming the load failure', async () =>
      (await events('cpu')).find((e) => e.reason === 'RolledBack' && e.note.includes(bad)),
    );
    expect(warning.note).toMatch(/ModelLoadFailed.*Sha256Mismatch/);
    const published = await eventually('the rollback CloudEvent', async () =>
      (await cloudEvents('cpu')).find(
        (e) =>
          e.type === 'io.ymera.inferenceservice.rollback.performed' &&
          (e.data as { revision?: string }).revision === bad,
      ),
    );
    expect(published.data).toMatchObject({ revision: bad, stable, reason: 'ModelLoadFailed' });
  });

  it('says InsufficientGPU when no node has the GPUs asked for', async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        cpuService('greedy', {
          runtime: { gpu: { count: 16, product: 'NVIDIA-A100-SXM4-80GB' } },
          scaling: { minReplicas: 1 },
        }),
      ]),
    );
    const r = await until(
      'greedy',
      'InsufficientGPU',
      (x) => condition(x, 'Ready')?.reason === 'InsufficientGPU',
    );
    expect(condition(r, 'Ready')?.status).toBe('False');
    expect(condition(r, 'Ready')?.message).toMatch(/nvidia\.com\/gpu/);
    expect(condition(r, 'ModelLoaded')).toMatchObject({ status: 'False', reason: 'InsufficientGPU' });
    expect(r.status?.phase).toBe('Pending');
    await kubectlOk(['delete', ...ref('greedy'), '--wait=true', '--timeout=60s']);
  });

  it('removes every child and the logging topic when the InferenceService is deleted', async () => {
    const sample = loadSamples(ns, '-gpu').find((s) => s.kind === 'InferenceService');
    const name = sample?.name as string;
    const topic = (sample?.object as unknown as InfSvc).spec.logging?.kafka.topic as string;
    expect((await kafka.admin.describeTopics([topic])).get(topic)).toBeDefined();
    await kubectlOk(['delete', ...ref(name), '--wait=true', '--timeout=60s']);
    const kinds = [
      'deployments',
      'services',
      'horizontalpodautoscalers.autoscaling',
      'poddisruptionbudgets',
      'configmaps',
    ];
    await eventually('the garbage collector to delete every child', async () => {
      for (const kind of kinds) {
        const left = await getJson<{ items: unknown[] }>([
          'get',
          kind,
          '-n',
          ns,
          '-l',
          `ymera.io/inferenceservice=${name}`,
        ]);
        if ((left?.items.length ?? 0) > 0) return false;
      }
      return (await pods(name)).length === 0;
    });
    await eventually(
      'the topic to be deleted',
      async () => (await kafka.admin.describeTopics([topic])).get(topic) === undefined,
    );
  });
});
