// LearningPipeline against the local cluster: the sample's three steps run
// as Jobs in dependency order (the GPU step on a GPU node) and the run
// succeeds; a failing step is retried retry.limit times, then fails the run
// and skips its dependents; an event on the trigger topic starts exactly one
// run; a model that passes its gate is promoted into the InferenceService
// with its sha256 pinned (reported by the step on a PVC, hashed by the
// operator from MinIO), one that fails it or whose sha256 is unknown is not;
// mode Record leaves the InferenceService to Git and says when it serves the
// model, mode Patch reports a revert instead of fighting it; an operator
// killed mid-run resumes it without duplicate Jobs.
//
// kwok pods run nothing: a Job's pod succeeds after ~2s; the annotations
// ymera.io/simulate (fail), ymera.io/simulate-delay and
// ymera.io/simulate-termination-message (the metrics a step "writes") are put
// on step pods through spec.steps[].podAnnotations (test/e2e/cluster/README.md).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import type { KafkaClients } from '../../operator/kafka/platformatic.ts';
import type { CloudEvent } from '../../operator/kafka/events.ts';
import {
  createKafkaClients,
  groupCommittedOffsets,
  readTopic,
  topicEndOffsets,
} from '../../operator/kafka/platformatic.ts';
import { consumerGroupId } from '../../operator/kafka/trigger-filter.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { PrometheusClient } from '../../operator/prometheus/client.ts';
import { ruleFileOf } from '../../operator/prometheus/rule-objects.ts';
import {
  artifactsSecret,
  artifactsStore,
  artifactsVolume,
  removePipelineNamespace,
  s3Artifacts,
} from './learningpipeline-fixtures.ts';
import { loadSamples, toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import { eventsAbout, kafkaBrokers, prometheusStack } from './support.ts';
import { eventually, freshNamespace, getJson, kubectlOk, podsWith, startOperator } from './support.ts';

interface RunStep {
  name: string;
  phase: string;
  attempts?: number;
  job?: string;
  message?: string;
}
interface Run {
  id: string;
  trigger: string;
  cause?: string;
  phase: string;
  progress?: string;
  steps?: RunStep[];
  message?: string;
}
interface Pipeline {
  metadata: { name: string; uid: string; generation?: number };
  status?: {
    observedGeneration?: number;
    phase?: string;
    progress?: string;
    runs?: Run[];
    conditions?: Condition[];
    latestModel?: {
      version: string;
      uri: string;
      sha256?: string;
      sha256Error?: string;
      metrics?: Record<string, number>;
      gate?: { passed: boolean; message?: string };
      promoted?: boolean;
    };
    promotion?: {
      mode: string;
      target: string;
      model: ServiceModel;
      inEffect: boolean;
      effectiveTime?: string;
    };
  };
}
interface ServiceModel {
  uri: string;
  version: string;
  sha256?: string;
}
interface Service {
  metadata: {
    generation: number;
    managedFields?: { manager: string; operation: string; fieldsV1?: Record<string, unknown> }[];
  };
  spec: { model: ServiceModel };
}
interface Job {
  metadata: { name: string; labels: Record<string, string> };
  status?: { succeeded?: number };
}
interface Pod {
  metadata: { name: string; labels: Record<string, string> };
  spec: { nodeName?: string };
}
const unique = randomUUID().slice(0, 8);

let ns: string;
let op: OperatorProcess;
let kafka: KafkaClients;
const pv = `e2e-lpipe-artifacts-${unique}`;

const ref = (name: string) => ['-n', ns, `learningpipeline.ymera.io/${name}`];
const getPipeline = (name: string) => getJson<Pipeline>(['get', ...ref(name)]);
const condition = (p: Pipeline | undefined, type: string) =>
  p?.status?.conditions?.find((c) => c.type === type);
const stepOf = (run: Run | undefined, name: string) => run?.steps?.find((s) => s.name === name);
const getService = (name: string) =>
  getJson<Service>(['get', '-n', ns, '--show-managed-fields', `inferenceservice.ymera.io/${name}`]);

/** A small InferenceService serving v1 of a demo model. */
const service = (name: string) => ({
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'InferenceService',
  metadata: { name, namespace: ns },
  spec: { model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' } },
});

/** pipeline() on the PVC (the operator cannot read it), promoting to `target`; b reports `report`. */
function pvcPipeline(name: string, target: string, mode: string, report?: string) {
  const p = pipeline(
    name,
    { model: { name: 'demo', outputArtifact: 'model' }, promotion: { target, policy: 'Auto', mode } },
    report ? { b: { podAnnotations: { 'ymera.io/simulate-termination-message': report } } } : {},
  );
  (p.spec as Record<string, unknown>).artifacts = { pvc: { claimName: 'ml-artifacts', path: name } };
  return p;
}

/** The Events about one pipeline, once every one of `reasons` is among them (Events follow the status). */
function eventsWith(name: string, reasons: string[]) {
  return eventually(`Events ${reasons.join(', ')} about ${name}`, async () => {
    const events = await eventsAbout(ns, name, 'LearningPipeline');
    const seen = new Set(events.map((e) => e.reason));
    return reasons.every((r) => seen.has(r)) ? events : undefined;
  });
}

/** The CloudEvents about one pipeline, once `ready` holds for them. */
async function cloudEventsOf(name: string, ready: (events: CloudEvent[]) => boolean) {
  let seen: string[] = [];
  try {
    return await eventually(
      `the CloudEvents of ${name}`,
      async () => {
        // the shared topic keeps other runs' events (24 h): read it to its end, not a fixed count
        const messages = await readTopic({
          brokers: kafkaBrokers(),
          topic: 'ymera.events.learningpipeline',
          timeoutMs: 20_000,
        });
        const mine = messages
          .filter((m) => m.key === `${ns}/${name}`)
          .map((m) => JSON.parse(m.value) as CloudEvent);
        seen = mine.map((e) => e.type);
        return ready(mine) ? mine : undefined;
      },
      120_000,
    );
  } catch (e) {
    // what the reader saw and what the operator said about publishing: a timeout must say why
    const publisher = (op?.logs() ?? '')
      .split('\n')
      .filter((l) => /platform event/i.test(l))
      .slice(-10);
    // events stuck in the publisher's buffer (depth > 0) vs sent but not read
    const figures = await Promise.all(
      ['ymera_kafka_events_buffer_depth', 'ymera_kafka_events_published_total'].map(async (m) =>
        op ? `${m} ${await op.metric(m).catch(() => NaN)}` : '',
      ),
    );
    throw new Error(
      `${e instanceof Error ? e.message : String(e)}; read ${JSON.stringify(seen)}; ${figures.join(', ')}; operator: ${publisher.join(' | ') || 'no publisher warnings'}`,
    );
  }
}

async function jobsOf(pipeline: string): Promise<Job[]> {
  return (
    (
      await getJson<{ items: Job[] }>([
        'get',
        'jobs',
        '-n',
        ns,
        '-l',
        `ymera.io/learningpipeline=${pipeline}`,
      ])
    )?.items ?? []
  );
}

/** Waits until the pipeline's run `pick` is finished and returns the pipeline. */
function untilRunFinished(name: string, pick: (runs: Run[]) => Run | undefined, timeoutMs = 120_000) {
  return eventually(
    `a run of ${name} to finish`,
    async () => {
      const p = await getPipeline(name);
      const run = pick(p?.status?.runs ?? []);
      return run && ['Succeeded', 'Failed', 'Cancelled'].includes(run.phase)
        ? { pipeline: p as Pipeline, run }
        : undefined;
    },
    timeoutMs,
  );
}

/** A small pipeline: a → b → c on S3 artifacts, with optional per-step settings. */
function pipeline(
  name: string,
  extra: Record<string, unknown> = {},
  stepExtra: Record<string, Record<string, unknown>> = {},
) {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'LearningPipeline',
    metadata: { name, namespace: ns },
    spec: {
      artifacts: {
        s3: {
          endpoint: 'http://127.0.0.1:9000',
          bucket: 'ymera-artifacts',
          prefix: `e2e/${name}`,
          forcePathStyle: true,
        },
      },
      steps: [
        { name: 'a', image: 'busybox', outputs: [{ name: 'data', path: 'a/data' }], ...stepExtra.a },
        {
          name: 'b',
          image: 'busybox',
          dependsOn: ['a'],
          inputs: ['data'],
          outputs: [{ name: 'model', path: 'b/model.onnx' }],
          ...stepExtra.b,
        },
        {
          name: 'c',
          image: 'busybox',
          dependsOn: ['b'],
          outputs: [{ name: 'metrics', path: 'c/metrics.json' }],
          ...stepExtra.c,
        },
      ],
      ...extra,
    },
  };
}

beforeAll(async () => {
  ns = await freshNamespace('e2e-lpipe');
  kafka = createKafkaClients({ brokers: kafkaBrokers(), clientId: 'ymera-e2e-lpipe', timeoutMs: 5_000 });
  // the sample's artifacts PVC
  await kubectlOk(['apply', '-f', '-'], toYaml(artifactsVolume(ns, pv)));
  op = await startOperator('op-lpipe', [`--watch-namespaces=${ns}`]);
});

afterAll(async () => {
  await removePipelineNamespace(ns, op, pv);
  await kafka?.close();
});

describe('LearningPipeline', () => {
  it('runs the sample: steps in order as Jobs, the GPU step on a GPU node, promotion of a model past its gate', async () => {
    const samples = loadSamples(ns, '');
    const service = samples.find((s) => s.kind === 'InferenceService')?.object as unknown as Record<
      string,
      unknown
    > & {
      spec: { logging?: unknown };
    };
    const sample = samples.find((s) => s.kind === 'LearningPipeline')?.object as unknown as Record<
      string,
      unknown
    > & {
      metadata: { name: string };
      spec: { triggers?: unknown; steps: { name: string; podAnnotations?: Record<string, string> }[] };
    };
    delete sample.spec.triggers; // the trigger has its own test
    delete service.spec.logging;
    const evaluate = sample.spec.steps.find((s) => s.name === 'evaluate');
    if (!evaluate) throw new Error('the sample has no evaluate step');
    evaluate.podAnnotations = { 'ymera.io/simulate-termination-message': '{"auc":0.95,"loss":0.12}' };
    // the operator cannot read the PVC: the trainer reports its model's digest, with the sweep's
    // objective (every trial alike: the first one wins; the sweep itself: learningpipeline-sweep.e2e)
    const train = sample.spec.steps.find((s) => s.name === 'train');
    if (!train) throw new Error('the sample has no train step');
    const digest = createHash('sha256').update(`model of ${unique}`).digest('hex');
    train.podAnnotations = {
      'ymera.io/simulate-termination-message': JSON.stringify({ val_auc: 0.9, sha256: digest }),
    };
    await kubectlOk(['apply', '-f', '-'], toYaml([service, sample]));
    const name = sample.metadata.name;

    const { pipeline: p, run } = await untilRunFinished(name, (runs) =>
      runs.find((r) => r.trigger === 'Created'),
    );
    expect(run.phase).toBe('Succeeded');
    expect(run.progress).toBe('3/3');
    expect(p.status?.phase).toBe('Succeeded');
    expect(p.status?.progress).toBe('3/3');
    expect(run.steps?.map((s) => [s.name, s.phase, s.attempts])).toEqual([
      ['prepare', 'Succeeded', 1],
      ['train', 'Succeeded', 1],
      ['evaluate', 'Succeeded', 1],
    ]);
    expect(condition(p, 'Ready')).toMatchObject({ status: 'True' });
    expect(condition(p, 'Succeeded')).toMatchObject({ status: 'True' });
    // the schedule (02:00 Europe/Berlin) is next due within a day: 01:00 UTC in winter
    const next = new Date((p.status as { nextScheduleTime?: string }).nextScheduleTime ?? 0);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(24 * 3600 * 1000);
    expect(next.getUTCMinutes()).toBe(0);

    // one Job per step, the sweep step one per trial; the GPU one on a GPU node, the others not
    const jobs = await jobsOf(name);
    expect(jobs.map((j) => j.metadata.labels['ymera.io/step']).sort()).toEqual([
      'evaluate',
      'prepare',
      ...Array<string>(6).fill('train'),
    ]);
    const pods = await podsWith<Pod>(ns, `ymera.io/run=${run.id}`);
    const nodeOf = (step: string) =>
      pods.find((x) => x.metadata.labels['ymera.io/step'] === step)?.spec.nodeName;
    expect(nodeOf('train')).toMatch(/^gpu-node-/);
    expect(nodeOf('prepare')).toMatch(/^cpu-node-/);
    expect(nodeOf('evaluate')).toMatch(/^cpu-node-/);

    // the model is registered with the gate's metrics and promoted into the InferenceService
    const promoted = await eventually('the model to be promoted', async () => {
      const got = await getPipeline(name);
      return got?.status?.latestModel?.promoted ? got : undefined;
    });
    expect(promoted.status?.latestModel).toMatchObject({
      version: run.id,
      // the sweep's winner (on a PVC the operator cannot copy it: the URI resolves to its directory)
      uri: `pvc://ml-artifacts/fraud-detector/${run.id}/trials/train-0/train/model.onnx`,
      sha256: digest,
      metrics: { auc: 0.95, loss: 0.12 },
      gate: { passed: true },
    });
    expect(condition(promoted, 'Promoted')).toMatchObject({ status: 'True', reason: 'ModelPromoted' });
    const target = await getService('fraud-detector');
    expect(target?.spec.model).toMatchObject({
      uri: promoted.status?.latestModel?.uri,
      version: run.id,
      sha256: digest,
    });
    // server-side applied: the operator's Apply entry owns spec.model's uri, version and sha256, nothing else
    const applied = target?.metadata.managedFields?.find(
      (m) => m.manager === 'ymera-operator' && m.operation === 'Apply',
    );
    expect(applied?.fieldsV1).toEqual({
      'f:spec': { 'f:model': { 'f:uri': {}, 'f:version': {}, 'f:sha256': {} } },
    });
    expect(promoted.status?.promotion).toMatchObject({
      mode: 'Patch',
      target: 'fraud-detector',
      model: { uri: promoted.status?.latestModel?.uri, version: run.id, sha256: digest },
      inEffect: true,
    });
    await eventsWith(name, ['RunStarted', 'RunSucceeded', 'ModelRegistered', 'ModelPromoted']);
    // and the same moments as CloudEvents on Kafka
    const cloudEvents = await cloudEventsOf(name, (mine) =>
      mine.some((e) => e.type.endsWith('.model.promoted')),
    );
    const types = cloudEvents.map((e) => e.type.replace('io.ymera.learningpipeline.', ''));
    expect(types).toEqual(
      expect.arrayContaining(['run.started', 'run.finished', 'model.registered', 'model.promoted']),
    );
    expect(cloudEvents.find((e) => e.type.endsWith('.run.finished'))?.data).toMatchObject({
      run: run.id,
      phase: 'Succeeded',
    });
    expect(cloudEvents.find((e) => e.type.endsWith('.model.promoted'))?.data).toMatchObject({
      mode: 'Patch',
      sha256: digest,
      model: { version: run.id, sha256: digest },
    });
  });

  it('retries a failing step retry.limit times, then fails the run and skips its dependents', async () => {
    const name = 'fails';
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        pipeline(
          name,
          {},
          {
            b: {
              podAnnotations: { 'ymera.io/simulate': 'fail', 'ymera.io/simulate-exit-code': '3' },
              retry: { limit: 2, backoff: { durationSeconds: 1, factor: 2, maxDurationSeconds: 5 } },
            },
          },
        ),
      ]),
    );
    const { pipeline: p, run } = await untilRunFinished(name, (runs) => runs[0]);
    expect(run.phase).toBe('Failed');
    expect(stepOf(run, 'a')?.phase).toBe('Succeeded');
    expect(stepOf(run, 'b')).toMatchObject({ phase: 'Failed', attempts: 3 });
    expect(stepOf(run, 'b')?.message).toMatch(/exited with code 3/);
    expect(stepOf(run, 'c')).toMatchObject({ phase: 'Skipped' });
    expect(stepOf(run, 'c')?.message).toMatch(/dependency b failed/);
    expect(condition(p, 'Ready')).toMatchObject({ status: 'False', reason: 'RunFailed' });
    const jobs = await jobsOf(name);
    expect(
      jobs
        .filter((j) => j.metadata.labels['ymera.io/step'] === 'b')
        .map((j) => j.metadata.labels['ymera.io/attempt'])
        .sort(),
    ).toEqual(['1', '2', '3']);
    expect(jobs.some((j) => j.metadata.labels['ymera.io/step'] === 'c')).toBe(false);
    // recorded after the status, in order: the retries came before the failure
    const events = await eventsWith(name, ['StepFailed', 'RunFailed']);
    expect(events.filter((e) => e.reason === 'StepRetrying')).toHaveLength(2);
    // counted after the status too
    const failed = await eventually('the failed run to be counted', async () => {
      const v = await op.metric('ymera_pipeline_run_failed_total', { namespace: ns, learningpipeline: name });
      return v !== undefined && v >= 1 ? v : undefined;
    });
    expect(failed).toBe(1);
  });

  it('fires the generated failed-run alert in the real Prometheus from the operator’s own metrics', async () => {
    const prometheus = prometheusStack();
    const job = `ymera-e2e-lpipe-${unique}`;
    const metricsHost = new URL(op.metricsUrl).host;
    const target = path.join(prometheus.targetsDir, `lpipe-${unique}.json`);
    const rulesFile = path.join(prometheus.rulesDir, `lpipe-${unique}.yml`);
    const client = new PrometheusClient({ url: prometheus.url, timeoutMs: 5_000 });
    const reload = async () => {
      const res = await fetch(new URL('/-/reload', prometheus.url), { method: 'POST' });
      if (!res.ok) throw new Error(`reload: HTTP ${res.status}`);
    };
    try {
      writeFileSync(target, JSON.stringify([{ targets: [metricsHost], labels: { job } }]));
      await eventually(
        'the operator to be scraped',
        async () => (await client.queryValue(`up{job="${job}"}`)) === 1,
        30_000,
      );

      const name = 'fails-alert';
      await kubectlOk(
        ['apply', '-f', '-'],
        toYaml([
          pipeline(
            name,
            {},
            { a: { podAnnotations: { 'ymera.io/simulate': 'fail', 'ymera.io/simulate-delay': '4s' } } },
          ),
        ]),
      );
      // the rules file the operator wrote for this pipeline (a ConfigMap: no prometheus-operator here)
      const configMap = await eventually('the rules ConfigMap', async () =>
        getJson<KubeObject>(['get', 'configmap', '-n', ns, `${name}-learningpipeline-rules`]),
      );
      writeFileSync(rulesFile, ruleFileOf(configMap) ?? '');
      await reload();
      await untilRunFinished(name, (runs) => runs[0]);
      const alert = await eventually(
        'YmeraPipelineRunFailed to fire',
        async () =>
          (await client.alerts()).find(
            (a) =>
              a.labels.alertname === 'YmeraPipelineRunFailed' &&
              a.labels.namespace === ns &&
              a.labels.learningpipeline === name &&
              a.state === 'firing',
          ),
        60_000,
      );
      expect(alert.annotations.summary).toContain(name);
    } finally {
      rmSync(target, { force: true });
      rmSync(rulesFile, { force: true });
      await reload().catch(() => undefined);
    }
  });

  it('starts exactly one run for an event on the trigger topic, and none for others', async () => {
    const topic = `${ns}.lpipe-drift-${unique}`; // the name policy: topics start with the namespace
    await kafka.admin.createTopic({ name: topic, partitions: 1, replicationFactor: 1 });
    const name = 'on-drift';
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        pipeline(name, { triggers: { kafka: { topic, filter: { type: 'drift', 'model.name': 'fraud' } } } }),
      ]),
    );
    await eventually('the trigger to listen', async () => {
      const p = await getPipeline(name);
      return condition(p, 'TriggerReady')?.status === 'True' ? p : undefined;
    });
    // the run on creation first, so that Forbid does not skip the event's run
    await untilRunFinished(name, (runs) => runs.find((r) => r.trigger === 'Created'));
    const cloudEvent = {
      specversion: '1.0',
      id: `drift-${unique}`,
      source: '/e2e',
      type: 'drift',
      time: new Date().toISOString(),
      data: { model: { name: 'fraud' }, score: 0.4 },
    };
    const send = (value: unknown) => kafka.producer.send(topic, [{ key: 'k', value: JSON.stringify(value) }]);
    await send({ ...cloudEvent, id: `other-${unique}`, data: { model: { name: 'other' } } });
    await send(cloudEvent);
    await send(cloudEvent); // a producer retry: the same event twice
    const { run } = await untilRunFinished(name, (runs) => runs.find((r) => r.trigger === 'Event'));
    expect(run.phase).toBe('Succeeded');
    expect(run.cause).toContain(`drift-${unique}`);
    // the consumer commits an event once handled durably: wait until it committed past the duplicate
    const end = await topicEndOffsets(kafkaBrokers(), topic);
    const uid = (await getPipeline(name))?.metadata.uid ?? '';
    await eventually('the trigger consumer to commit past the duplicate', async () => {
      const committed = await groupCommittedOffsets(kafkaBrokers(), consumerGroupId(ns, name, uid), topic);
      return [...end].every(([p, o]) => (committed.get(p) ?? -1n) >= o);
    });
    const runs = (await getPipeline(name))?.status?.runs ?? [];
    expect(runs.filter((r) => r.trigger === 'Event')).toHaveLength(1);
  });

  it('records a model that fails its gate and does not promote it', async () => {
    const name = 'below-gate';
    const service = {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      metadata: { name: 'gated', namespace: ns },
      spec: { model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' } },
    };
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        service,
        pipeline(
          name,
          {
            model: { name: 'demo', outputArtifact: 'model' },
            promotion: {
              target: 'gated',
              policy: 'Auto',
              gate: { metricsArtifact: 'metrics', metric: 'auc', min: 0.9 },
            },
          },
          { c: { podAnnotations: { 'ymera.io/simulate-termination-message': '{"auc":0.61}' } } },
        ),
      ]),
    );
    const p = await eventually('the model to be registered', async () => {
      const got = await getPipeline(name);
      return got?.status?.latestModel ? got : undefined;
    });
    expect(p.status?.latestModel).toMatchObject({
      metrics: { auc: 0.61 },
      gate: { passed: false },
      promoted: false,
    });
    expect(p.status?.latestModel?.gate?.message).toMatch(/auc 0.61 < min 0.9/);
    expect(condition(p, 'Promoted')).toMatchObject({ status: 'False', reason: 'GateFailed' });
    const target = await getJson<{ spec: { model: { version: string } } }>([
      'get',
      '-n',
      ns,
      'inferenceservice.ymera.io/gated',
    ]);
    expect(target?.spec.model.version).toBe('v1');
    await eventsWith(name, ['GateFailed']);
  });

  it('reads gate metrics from the S3 artifact and promotes under Manual only when asked', async () => {
    const name = 'manual';
    const base = pipeline(
      name,
      {
        model: { name: 'demo', outputArtifact: 'model' },
        promotion: {
          target: 'manual-target',
          policy: 'Manual',
          gate: { metricsArtifact: 'metrics', metric: 'auc', min: 0.9 },
        },
      },
      // c "writes" its metrics to S3 (the test does, once the run id is known) and leaves no
      // termination message; a and b take a while so the upload is long done before c ends
      {
        a: { podAnnotations: { 'ymera.io/simulate-delay': '5s' } },
        c: { podAnnotations: { 'ymera.io/simulate-delay': '8s' } },
      },
    );
    base.spec.artifacts = s3Artifacts(`e2e/${ns}/${name}`) as typeof base.spec.artifacts;
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        artifactsSecret(ns),
        {
          apiVersion: 'ymera.io/v1alpha1',
          kind: 'InferenceService',
          metadata: { name: 'manual-target', namespace: ns },
          spec: { model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' } },
        },
        base,
      ]),
    );
    // upload as soon as the run id is known, long before c ends: c cannot finish without them
    const run = await eventually('the run to start', async () => {
      const r = (await getPipeline(name))?.status?.runs?.[0];
      return r?.id ? r : undefined;
    });
    expect(stepOf(run, 'c')?.phase).not.toBe('Succeeded');
    const store = artifactsStore();
    await store.put(`e2e/${ns}/${name}/${run.id}/c/metrics.json`, Buffer.from('{"auc":0.97}'));
    // the model step's upload (b "wrote" it); the operator hashes the object itself
    const modelBytes = randomBytes(3 * 1024 * 1024 + 17);
    const digest = createHash('sha256').update(modelBytes).digest('hex');
    await store.put(`e2e/${ns}/${name}/${run.id}/b/model.onnx`, modelBytes);
    store.close();

    const waiting = await eventually('the model to be registered', async () => {
      const got = await getPipeline(name);
      return got?.status?.latestModel ? got : undefined;
    });
    expect(waiting.status?.latestModel).toMatchObject({
      version: run.id,
      uri: `s3://ymera-artifacts/e2e/${ns}/${name}/${run.id}/b/model.onnx`,
      sha256: digest,
      metrics: { auc: 0.97 },
      gate: { passed: true },
      promoted: false,
    });
    expect(condition(waiting, 'Promoted')).toMatchObject({ status: 'False', reason: 'AwaitingApproval' });
    const before = await getJson<{ spec: { model: { version: string } } }>([
      'get',
      '-n',
      ns,
      'inferenceservice.ymera.io/manual-target',
    ]);
    expect(before?.spec.model.version).toBe('v1');

    await kubectlOk(['annotate', '--overwrite', ...ref(name), `ymera.io/promote=${run.id}`]);
    const promoted = await eventually('the model to be promoted', async () => {
      const got = await getPipeline(name);
      return got?.status?.latestModel?.promoted ? got : undefined;
    });
    expect(condition(promoted, 'Promoted')).toMatchObject({ status: 'True' });
    const after = await getService('manual-target');
    expect(after?.spec.model).toEqual({
      format: 'onnx',
      version: run.id,
      uri: promoted.status?.latestModel?.uri,
      sha256: digest,
    });
  });

  it('does not promote a model whose sha256 is unknown, and says how to provide it', async () => {
    const name = 'no-digest';
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([service('no-digest-target'), pvcPipeline(name, 'no-digest-target', 'Patch')]),
    );
    const p = await eventually('the model to be registered', async () => {
      const got = await getPipeline(name);
      return got?.status?.latestModel && condition(got, 'Promoted') ? got : undefined;
    });
    expect(p.status?.latestModel?.sha256).toBeUndefined();
    expect(p.status?.latestModel?.sha256Error).toMatch(/step b reported no sha256/);
    expect(condition(p, 'Promoted')).toMatchObject({ status: 'False', reason: 'ModelDigestUnknown' });
    expect(condition(p, 'Promoted')?.message).toContain('/dev/termination-log');
    expect((await getService('no-digest-target'))?.spec.model).toEqual({
      format: 'onnx',
      uri: 's3://ymera-models/demo/v1/model.onnx',
      version: 'v1',
    });
  });

  it('mode Record: never writes the InferenceService, records the spec.model to commit, then sees it in effect', async () => {
    const name = 'gitops';
    const target = 'gitops-target';
    const digest = createHash('sha256').update(`gitops ${unique}`).digest('hex');
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([service(target), pvcPipeline(name, target, 'Record', JSON.stringify({ sha256: digest }))]),
    );
    const before = await eventually('the target to exist', () => getService(target));
    const recorded = await eventually('the promotion to be recorded', async () => {
      const got = await getPipeline(name);
      return got?.status?.promotion ? got : undefined;
    });
    const version = recorded.status?.latestModel?.version ?? '';
    const model = { uri: `pvc://ml-artifacts/${name}/${version}/b/model.onnx`, version, sha256: digest };
    expect(recorded.status?.promotion).toMatchObject({ mode: 'Record', target, model, inEffect: false });
    expect(recorded.status?.latestModel).toMatchObject({ promoted: true, sha256: digest });
    expect(condition(recorded, 'Promoted')).toMatchObject({ status: 'True', reason: 'Recorded' });
    expect(condition(recorded, 'Promoted')?.message).toContain(
      `commit spec.model {uri: ${model.uri}, version: ${version}, sha256: ${digest}}`,
    );
    const events = await eventually('the PromotionRecorded Event', async () => {
      const all = await eventsAbout(ns, name);
      return all.some((e) => e.reason === 'PromotionRecorded') ? all : undefined;
    });
    expect(events.find((e) => e.reason === 'PromotionRecorded')?.note).toContain(digest);
    const cloudEvents = await cloudEventsOf(name, (all) =>
      all.some((e) => e.type.endsWith('.model.promoted')),
    );
    expect(cloudEvents.find((e) => e.type.endsWith('.model.promoted'))?.data).toMatchObject({
      mode: 'Record',
      target,
      model,
    });
    // the InferenceService was not written: same generation, same model, no ymera-operator Apply entry
    const untouched = await getService(target);
    expect(untouched?.metadata.generation).toBe(before.metadata.generation);
    expect(untouched?.spec.model).toEqual(before.spec.model);
    expect(
      untouched?.metadata.managedFields?.some(
        (m) => m.operation === 'Apply' && m.manager === 'ymera-operator',
      ),
    ).toBe(false);

    // the Git bot commits it and Argo CD syncs: the target now has the recorded spec.model
    await kubectlOk(
      ['apply', '--server-side', '--force-conflicts', '--field-manager=argocd-controller', '-f', '-'],
      toYaml([{ ...service(target), spec: { model } }]),
    );
    const inEffect = await eventually('the promotion to be in effect', async () => {
      const got = await getPipeline(name);
      return got?.status?.promotion?.inEffect ? got : undefined;
    });
    expect(inEffect.status?.promotion?.effectiveTime).toBeDefined();
    expect(condition(inEffect, 'Promoted')).toMatchObject({ status: 'True', reason: 'ModelPromoted' });
    await eventually('the PromotionInEffect Event', async () =>
      (await eventsAbout(ns, name)).some((e) => e.reason === 'PromotionInEffect'),
    );
  });

  it('mode Patch: a revert by another field manager (Argo CD self-heal) is reported, not fought', async () => {
    const name = 'reverted';
    const target = 'reverted-target';
    const digest = createHash('sha256').update(`reverted ${unique}`).digest('hex');
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([service(target), pvcPipeline(name, target, 'Patch', JSON.stringify({ sha256: digest }))]),
    );
    const promoted = await eventually('the model to be promoted', async () => {
      const got = await getPipeline(name);
      return got?.status?.promotion?.inEffect ? got : undefined;
    });
    expect((await getService(target))?.spec.model).toMatchObject({ sha256: digest });
    // Argo CD syncs Git's spec.model back, taking the fields over
    await kubectlOk(
      ['apply', '--server-side', '--force-conflicts', '--field-manager=argocd-controller', '-f', '-'],
      toYaml([service(target)]),
    );
    const reverted = await getService(target);
    expect(reverted?.spec.model).toMatchObject({ version: 'v1', sha256: digest }); // the pin outlived the revert
    // the target's changes do not enqueue the pipeline (a resync would): nudge it
    await kubectlOk(['annotate', '--overwrite', ...ref(name), `e2e/nudge=${Date.now()}`]);
    const seen = await eventually('the revert to be reported', async () => {
      const got = await getPipeline(name);
      return condition(got, 'Promoted')?.reason === 'PromotionReverted' ? got : undefined;
    });
    expect(condition(seen, 'Promoted')).toMatchObject({ status: 'False' });
    expect(condition(seen, 'Promoted')?.message).toContain('not applied again');
    expect(seen.status?.promotion).toMatchObject({
      mode: 'Patch',
      inEffect: false,
      model: { sha256: digest },
    });
    expect(seen.status?.latestModel?.version).toBe(promoted.status?.latestModel?.version);
    // the reconcile that saw the revert did not apply the model again; it gave up the sha256 pin
    // Argo CD left behind (v1's file would not match it): exactly Git's spec.model stands
    const after = await getService(target);
    expect(after?.spec.model).toEqual({ format: 'onnx', ...service(target).spec.model });
    expect(
      after?.metadata.managedFields?.some((m) => m.manager === 'ymera-operator' && m.operation === 'Apply'),
    ).toBe(false);
    await eventsWith(name, ['PromotionReverted']);
  });

  it('resumes a run after the operator is killed mid-run, without duplicate Jobs', async () => {
    const name = 'survives';
    const slow = { podAnnotations: { 'ymera.io/simulate-delay': '6s' } };
    await kubectlOk(['apply', '-f', '-'], toYaml([pipeline(name, {}, { a: slow, b: slow, c: slow })]));
    await eventually('step b to run', async () => {
      const run = (await getPipeline(name))?.status?.runs?.[0];
      return stepOf(run, 'b')?.phase === 'Running' ? run : undefined;
    });
    await op.stop('SIGKILL');
    // the cluster goes on without an operator: b finishes while nobody watches
    await eventually('step b to finish with no operator running', async () =>
      (await jobsOf(name)).some(
        (j) => j.metadata.labels['ymera.io/step'] === 'b' && (j.status?.succeeded ?? 0) > 0,
      ),
    );
    op = await startOperator('op-lpipe-2', [`--watch-namespaces=${ns}`]);
    const { run } = await untilRunFinished(name, (runs) => runs[0], 180_000);
    expect(run.phase).toBe('Succeeded');
    expect(run.steps?.map((s) => s.attempts)).toEqual([1, 1, 1]);
    const jobs = await jobsOf(name);
    expect(jobs.map((j) => j.metadata.labels['ymera.io/step']).sort()).toEqual(['a', 'b', 'c']);
    expect((await getPipeline(name))?.status?.runs).toHaveLength(1);
  });

  it('starts a run when ymera.io/run changes, and skips one while a run is active under Forbid', async () => {
    const name = 'on-request';
    const slow = { podAnnotations: { 'ymera.io/simulate-delay': '5s' } };
    await kubectlOk(['apply', '-f', '-'], toYaml([pipeline(name, { suspend: true }, { a: slow })]));
    await eventually('the pipeline to be reconciled', async () => {
      const p = await getPipeline(name);
      return p?.status?.observedGeneration === p?.metadata.generation ? p : undefined;
    });
    expect((await getPipeline(name))?.status?.runs ?? []).toHaveLength(0); // suspended: no run on creation
    await kubectlOk(['annotate', '--overwrite', ...ref(name), 'ymera.io/run=first']);
    await eventually('the requested run to start', async () => {
      const runs = (await getPipeline(name))?.status?.runs ?? [];
      return runs.length === 1 ? runs : undefined;
    });
    await kubectlOk(['annotate', '--overwrite', ...ref(name), 'ymera.io/run=second']);
    await eventually('the second request to be skipped', async () => {
      const events = await eventsAbout(ns, name);
      return events.some((e) => e.reason === 'RunSkipped') ? events : undefined;
    });
    const { run } = await untilRunFinished(name, (runs) => runs[0]);
    expect(run).toMatchObject({
      trigger: 'Manual',
      phase: 'Succeeded',
      cause: 'annotation ymera.io/run=first',
    });
    expect((await getPipeline(name))?.status?.runs).toHaveLength(1);
  });
});
