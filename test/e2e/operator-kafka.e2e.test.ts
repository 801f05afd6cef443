// The operator with Kafka and Prometheus rules against the real broker and
// API server: an InferenceService's logging topic is created and kept in
// line, conflicts and impossible changes become conditions, a broker outage
// shows as KafkaUnavailable and heals by itself while everything else is
// still reconciled, lifecycle CloudEvents reach Kafka, and deletion removes
// the topic unless the resource opted out.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import type { CloudEvent } from '../../operator/kafka/events.ts';
import type { KafkaClients } from '../../operator/kafka/platformatic.ts';
import { createKafkaClients, readTopic } from '../../operator/kafka/platformatic.ts';
import type { Sample } from './samples.ts';
import { loadSamples, resourceRef, toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  eventually,
  freshNamespace,
  getJson,
  kafkaBrokers,
  kubectl,
  kubectlOk,
  repo,
  startOperator,
} from './support.ts';

interface Resource {
  metadata: { name: string; generation: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}
type InfSvc = Sample['object'] & {
  metadata: { annotations?: Record<string, string> };
  spec: { logging: { kafka: { topic: string; partitions?: number; config?: Record<string, string> } } };
};

const kafkaSh = path.join(repo, 'test/e2e/stack/kafka.sh');
const condition = (r: Resource | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);

describe('operator with Kafka', () => {
  let ns: string;
  let op: OperatorProcess;
  let kafka: KafkaClients;

  const infsvc = (suffix: string): InfSvc => {
    const sample = loadSamples(ns, suffix).find((s) => s.kind === 'InferenceService');
    if (!sample) throw new Error('no InferenceService sample');
    return sample.object as InfSvc;
  };
  const ref = (o: InfSvc) => [
    '-n',
    o.metadata.namespace ?? '',
    `inferenceservice.ymera.io/${o.metadata.name}`,
  ];
  const kafkaReady = async (o: InfSvc, reason: string) =>
    eventually(`KafkaReady reason ${reason} on ${o.metadata.name}`, async () => {
      const r = await getJson<Resource>(['get', ...ref(o)]);
      return condition(r, 'KafkaReady')?.reason === reason ? r : undefined;
    });
  const topicOf = async (name: string) => (await kafka.admin.describeTopics([name])).get(name);

  beforeAll(async () => {
    expect(process.env.YMERA_KAFKA_BROKERS, 'the stack must export YMERA_KAFKA_BROKERS').toBeTruthy();
    ns = await freshNamespace('e2e-kafka');
    kafka = createKafkaClients({ brokers: kafkaBrokers(), clientId: 'ymera-e2e-check', timeoutMs: 5_000 });
    op = await startOperator('op-kafka', [`--watch-namespaces=${ns}`]);
  });

  afterAll(async () => {
    execFileSync('bash', [kafkaSh, 'up'], { stdio: 'ignore' }); // never leave the broker down
    if (ns) await deleteInferenceServices(ns);
    await op?.stop();
    await kafka?.close();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('creates the logging topic with the declared partitions and configs, and reports KafkaReady', async () => {
    const svc = infsvc('-a');
    svc.spec.logging.kafka.config = { 'retention.ms': '3600000' };
    await kubectlOk(['apply', '-f', '-'], toYaml([svc]));
    const r = await kafkaReady(svc, 'Reconciled');
    expect(condition(r, 'KafkaReady')?.status).toBe('True');
    const topic = await topicOf(svc.spec.logging.kafka.topic);
    expect(topic?.partitions).toBe(3);
    expect(topic?.configs['retention.ms']).toBe('3600000');
  });

  it('reverts a config changed behind its back', async () => {
    const svc = infsvc('-a');
    const name = svc.spec.logging.kafka.topic;
    await kafka.admin.alterTopicConfigs(name, { set: { 'retention.ms': '60000' } });
    // any change to the resource triggers a reconcile; so would the periodic resync
    await kubectlOk(['annotate', ...ref(svc), `e2e/poke=${Date.now()}`, '--overwrite']);
    await eventually(
      'the drift to be reverted',
      async () => (await topicOf(name))?.configs['retention.ms'] === '3600000',
    );
  });

  it('gives a younger resource claiming the same topic ResourceConflict, naming the owner', async () => {
    const first = infsvc('-a');
    const second = infsvc('-b');
    second.spec.logging.kafka.topic = first.spec.logging.kafka.topic;
    await kubectlOk(['apply', '-f', '-'], toYaml([second]));
    const r = await kafkaReady(second, 'ResourceConflict');
    expect(condition(r, 'KafkaReady')?.message).toContain(first.metadata.name);
    expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'ResourceConflict' });
    expect(condition(r, 'Stalled')?.status).toBe('True');
    await kubectlOk(['delete', '--wait=true', '--timeout=60s', ...ref(second)]);
    // the loser's deletion must not take the winner's topic with it
    expect(await topicOf(first.spec.logging.kafka.topic)).toBeDefined();
  });

  it('reports fewer partitions as NotSupported instead of looping on errors', async () => {
    const svc = infsvc('-a');
    await kubectlOk([
      'patch',
      ...ref(svc),
      '--type=merge',
      '-p',
      '{"spec":{"logging":{"kafka":{"partitions":1}}}}',
    ]);
    const r = await kafkaReady(svc, 'NotSupported');
    expect(condition(r, 'KafkaReady')?.message).toMatch(/partition/i);
    expect((await topicOf(svc.spec.logging.kafka.topic))?.partitions).toBe(3);
    await kubectlOk([
      'patch',
      ...ref(svc),
      '--type=merge',
      '-p',
      '{"spec":{"logging":{"kafka":{"partitions":3}}}}',
    ]);
    await kafkaReady(svc, 'Reconciled');
  });

  it('publishes lifecycle CloudEvents keyed by namespace/name', async () => {
    const svc = infsvc('-a');
    const messages = await readTopic({
      brokers: kafkaBrokers(),
      topic: 'ymera.events.inferenceservice',
      count: 10_000,
      timeoutMs: 4_000,
    });
    const ours = messages.filter((m) => m.key === `${ns}/${svc.metadata.name}`);
    expect(ours.length).toBeGreaterThan(0);
    const event = JSON.parse(ours[0]?.value ?? '{}') as CloudEvent;
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'io.ymera.inferenceservice.status.changed',
      subject: `${ns}/${svc.metadata.name}`,
      datacontenttype: 'application/json',
    });
    expect(event.source).toBe(
      `/apis/ymera.io/v1alpha1/namespaces/${ns}/inferenceservices/${svc.metadata.name}`,
    );
    expect(event.id).toMatch(/^[0-9a-f]{16,}$/);
    expect(new Set(ours.map((m) => (JSON.parse(m.value) as CloudEvent).id)).size).toBe(ours.length);
  });

  it('shows a broker outage as KafkaUnavailable, keeps reconciling the rest, and heals by itself', async () => {
    const svc = infsvc('-a');
    execFileSync('bash', [kafkaSh, 'down'], { stdio: 'ignore' });
    try {
      await kubectlOk(['annotate', ...ref(svc), `e2e/poke=${Date.now()}`, '--overwrite']);
      const r = await kafkaReady(svc, 'KafkaUnavailable');
      expect(condition(r, 'Reconciling')).toMatchObject({ status: 'True', reason: 'KafkaUnavailable' });
      expect(condition(r, 'Stalled')).toBeUndefined();
      // the rest of the reconcile goes on: a deleted child comes back during the outage
      await kubectlOk(['delete', 'configmap', '-n', ns, `${svc.metadata.name}-config`]);
      await eventually('the ConfigMap to be recreated while Kafka is down', () =>
        getJson(['get', 'configmap', '-n', ns, `${svc.metadata.name}-config`]),
      );
    } finally {
      execFileSync('bash', [kafkaSh, 'up'], { stdio: 'ignore' });
    }
    await kafkaReady(svc, 'Reconciled'); // no user action: the requeue finds the broker back
  });

  it('leaves topics alone with ymera.io/kafka-managed: "false"', async () => {
    const svc = infsvc('-c');
    svc.metadata.annotations = { 'ymera.io/kafka-managed': 'false' };
    await kubectlOk(['apply', '-f', '-'], toYaml([svc]));
    await kafkaReady(svc, 'Reconciled');
    expect(await topicOf(svc.spec.logging.kafka.topic)).toBeUndefined();
  });

  it('deletes the topic through the finalizer when the resource is deleted', async () => {
    const svc = infsvc('-a');
    const name = svc.spec.logging.kafka.topic;
    expect(await topicOf(name)).toBeDefined();
    await kubectlOk(['delete', '--wait=true', '--timeout=60s', ...ref(svc)]);
    await eventually('the topic to be deleted', async () => (await topicOf(name)) === undefined);
    expect(
      await getJson([
        'get',
        ...resourceRef({
          kind: 'InferenceService',
          name: svc.metadata.name,
          namespaced: true,
          file: '',
          object: svc,
        }),
      ]),
    ).toBeUndefined();
  });
});
