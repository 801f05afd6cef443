// The operator with Kafka and Prometheus rules against the real broker and
// API server: an InferenceService's logging topic is created and kept in
// line, conflicts and impossible changes become conditions, a broker outage
// shows as KafkaUnavailable and heals by itself while everything else is
// still reconciled, lifecycle CloudEvents reach Kafka, and deletion removes
// the topic unless the resource opted out. Tenancy: a namespace cannot
// reach another namespace's topics, an existing topic is adopted only on
// request (keeping the configs the spec does not name) and is not deleted
// with the resource, the finalizer sits only where there is a topic to
// delete, and a deletion with Kafka unreachable says how to force it.
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
  eventsAbout,
  eventually,
  freePort,
  freshNamespace,
  getJson,
  kafkaBrokers,
  kubectl,
  kubectlOk,
  repo,
  startOperator,
} from './support.ts';

interface Resource {
  metadata: { name: string; generation: number; finalizers?: string[]; annotations?: Record<string, string> };
  status?: { observedGeneration?: number; conditions?: Condition[]; createdTopics?: string[] };
}
type InfSvc = Sample['object'] & {
  metadata: { annotations?: Record<string, string>; finalizers?: string[] };
  spec: {
    logging?: {
      kafka: { topic: string; partitions?: number; config?: Record<string, string>; adopt?: boolean };
    };
  };
};
const FINALIZER = 'ymera.io/cleanup';

const kafkaSh = path.join(repo, 'test/e2e/stack/kafka.sh');
const condition = (r: Resource | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);

describe('operator with Kafka', () => {
  let ns: string;
  let op: OperatorProcess;
  let kafka: KafkaClients;

  const infsvc = (suffix: string): InfSvc & { spec: { logging: NonNullable<InfSvc['spec']['logging']> } } => {
    const sample = loadSamples(ns, suffix).find((s) => s.kind === 'InferenceService');
    if (!sample) throw new Error('no InferenceService sample');
    return sample.object as InfSvc & { spec: { logging: NonNullable<InfSvc['spec']['logging']> } };
  };
  const get = (o: InfSvc) => getJson<Resource>(['get', ...ref(o)]);
  // the cluster admin grants this namespace one more prefix
  const granted = () => `granted-${ns}-`;
  const opFlags = () => [`--watch-namespaces=${ns}`, `--kafka-topic-allow=${ns}=${granted()}*`];
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
  // a described topic may lag behind the status the reconciler wrote: wait until it matches
  const untilTopic = (name: string, expected: Record<string, unknown>) =>
    eventually(`topic ${name} to match ${JSON.stringify(expected)}`, async () => {
      const topic = await topicOf(name);
      expect(topic).toMatchObject(expected);
      return topic;
    });

  beforeAll(async () => {
    expect(process.env.YMERA_KAFKA_BROKERS, 'the stack must export YMERA_KAFKA_BROKERS').toBeTruthy();
    ns = await freshNamespace('e2e-kafka');
    kafka = createKafkaClients({ brokers: kafkaBrokers(), clientId: 'ymera-e2e-check', timeoutMs: 5_000 });
    op = await startOperator('op-kafka', opFlags());
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
    await untilTopic(svc.spec.logging.kafka.topic, {
      partitions: 3,
      configs: expect.objectContaining({ 'retention.ms': '3600000' }) as unknown,
    });
    // created by it: recorded, and the finalizer that will delete it is in place
    expect(r.status?.createdTopics).toEqual([svc.spec.logging.kafka.topic]);
    expect(r.metadata.finalizers).toContain(FINALIZER);
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

  it('gives a younger resource claiming the same topic TopicConflict, naming the owner, with no writes', async () => {
    const first = infsvc('-a');
    const second = infsvc('-b');
    const before = await topicOf(first.spec.logging.kafka.topic);
    second.spec.logging.kafka = {
      topic: first.spec.logging.kafka.topic,
      partitions: 6,
      config: { 'retention.ms': '60000', 'segment.ms': '600000' },
      adopt: true,
    };
    await kubectlOk(['apply', '-f', '-'], toYaml([second]));
    const r = await kafkaReady(second, 'TopicConflict');
    expect(condition(r, 'KafkaReady')?.message).toContain(`InferenceService ${ns}/${first.metadata.name}`);
    expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'TopicConflict' });
    expect(condition(r, 'Stalled')?.status).toBe('True');
    expect(r.metadata.finalizers ?? []).not.toContain(FINALIZER);
    expect(await topicOf(first.spec.logging.kafka.topic)).toEqual(before);
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
    // the shared topic keeps other runs' events: read it to its end and keep ours
    const ours = await eventually('a CloudEvent keyed by the InferenceService', async () => {
      const messages = await readTopic({
        brokers: kafkaBrokers(),
        topic: 'ymera.events.inferenceservice',
        timeoutMs: 20_000,
      });
      const mine = messages.filter((m) => m.key === `${ns}/${svc.metadata.name}`);
      return mine.length > 0 ? mine : undefined;
    });
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

  it('refuses a topic of another namespace: TopicNotAllowed naming field and namespace, no Kafka write, no finalizer', async () => {
    const svc = infsvc('-e');
    const foreign = `other-${ns}.stolen`;
    svc.spec.logging.kafka.topic = foreign;
    await kubectlOk(['apply', '-f', '-'], toYaml([svc]));
    const r = await kafkaReady(svc, 'TopicNotAllowed');
    const message = condition(r, 'KafkaReady')?.message ?? '';
    expect(message).toContain(
      `spec.logging.kafka.topic: topic "${foreign}" is not allowed in namespace ${ns}`,
    );
    expect(message).toContain(`topics must start with "${ns}."`);
    expect(message).toContain('--kafka-topic-allow');
    expect(condition(r, 'Stalled')).toMatchObject({ status: 'True', reason: 'TopicNotAllowed' });
    expect(r.metadata.finalizers ?? []).not.toContain(FINALIZER);
    expect(await topicOf(foreign)).toBeUndefined();
    await kubectlOk(['delete', '--wait=true', '--timeout=60s', ...ref(svc)]);
  });

  it('lets a namespace use a topic the admin allow-list grants it', async () => {
    const svc = infsvc('-i');
    const name = `${granted()}logs`;
    svc.spec.logging.kafka.topic = name;
    await kubectlOk(['apply', '-f', '-'], toYaml([svc]));
    const r = await kafkaReady(svc, 'Reconciled');
    expect(r.status?.createdTopics).toEqual([name]);
    await kubectlOk(['delete', '--wait=true', '--timeout=60s', ...ref(svc)]);
    await eventually('the granted topic to be deleted', async () => (await topicOf(name)) === undefined);
  });

  it("refuses a LearningPipeline trigger on another namespace's topic (reading is reach too)", async () => {
    const sample = loadSamples(ns, '-trig').find((x) => x.kind === 'LearningPipeline');
    const lp = sample?.object as Sample['object'] & { spec: { triggers: { kafka: { topic: string } } } };
    const foreign = `other-${ns}.drift`;
    lp.spec.triggers.kafka.topic = foreign;
    await kubectlOk(['apply', '-f', '-'], toYaml([lp]));
    const lpRef = ['-n', ns, `learningpipeline.ymera.io/${lp.metadata.name}`];
    const r = await eventually('TriggerReady reason TopicNotAllowed', async () => {
      const got = await getJson<Resource>(['get', ...lpRef]);
      return condition(got, 'TriggerReady')?.reason === 'TopicNotAllowed' ? got : undefined;
    });
    expect(condition(r, 'TriggerReady')?.message).toContain(
      `spec.triggers.kafka.topic: topic "${foreign}" is not allowed in namespace ${ns}`,
    );
    expect(r.metadata.finalizers ?? []).not.toContain(FINALIZER);
    await kubectlOk(['delete', '--wait=true', '--timeout=60s', ...lpRef]);
  });

  it('adopts an existing topic only with adopt: true, keeps the configs the spec does not name, and keeps the topic on delete', async () => {
    const svc = infsvc('-f');
    const name = svc.spec.logging.kafka.topic;
    await kafka.admin.createTopic({
      name,
      partitions: 1,
      configs: { 'segment.ms': '600000', 'retention.ms': '1000' },
    });
    await eventually('the pre-existing topic', () => topicOf(name));
    svc.spec.logging.kafka.config = { 'retention.ms': '7200000' };
    await kubectlOk(['apply', '-f', '-'], toYaml([svc]));
    const refused = await kafkaReady(svc, 'TopicExists');
    expect(condition(refused, 'KafkaReady')?.message).toContain('set adopt: true');
    expect(await topicOf(name)).toMatchObject({
      partitions: 1,
      configs: { 'segment.ms': '600000', 'retention.ms': '1000' },
    });

    await kubectlOk([
      'patch',
      ...ref(svc),
      '--type=merge',
      '-p',
      '{"spec":{"logging":{"kafka":{"adopt":true}}}}',
    ]);
    const adopted = await kafkaReady(svc, 'Reconciled');
    await untilTopic(name, {
      partitions: 3,
      configs: { 'segment.ms': '600000', 'retention.ms': '7200000' },
    });
    expect(adopted.status?.createdTopics).toBeUndefined();
    // nothing to clean up: an adopted topic stays (deletionPolicy defaults to keeping it)
    expect(adopted.metadata.finalizers ?? []).not.toContain(FINALIZER);
    await kubectlOk(['delete', '--wait=true', '--timeout=60s', ...ref(svc)]);
    expect(await topicOf(name)).toBeDefined();
    await kafka.admin.deleteTopic(name);
  });

  it('puts no finalizer on a resource without external state, and removes one left by an older operator', async () => {
    const svc = infsvc('-g');
    delete (svc as InfSvc).spec.logging;
    svc.metadata.finalizers = [FINALIZER]; // what every object got before
    await kubectlOk(['apply', '-f', '-'], toYaml([svc]));
    const r = await eventually('the finalizer to be removed', async () => {
      const got = await get(svc);
      return got?.status?.observedGeneration === got?.metadata.generation &&
        !(got?.metadata.finalizers ?? []).includes(FINALIZER)
        ? got
        : undefined;
    });
    expect(condition(r, 'KafkaReady')).toBeUndefined();
    await kubectlOk(['delete', '--wait=true', '--timeout=60s', ...ref(svc)]);
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

  it('ends a deletion with Kafka unreachable in CleanupBlocked with a Warning Event, and skip-cleanup forces it', async () => {
    const svc = infsvc('-h');
    const name = svc.spec.logging.kafka.topic;
    await kubectlOk(['apply', '-f', '-'], toYaml([svc]));
    const r = await kafkaReady(svc, 'Reconciled');
    expect(r.metadata.finalizers).toContain(FINALIZER);

    // the same cluster, an operator whose Kafka is a closed port (the shared broker keeps running)
    await op.stop();
    const closed = await freePort();
    const down = await startOperator('op-kafka-down', [
      `--watch-namespaces=${ns}`,
      `--kafka-brokers=127.0.0.1:${closed}`,
      '--finalize-timeout-seconds=3',
    ]);
    try {
      await kubectlOk(['delete', '--wait=false', ...ref(svc)]);
      const blocked = await eventually(
        'the CleanupBlocked condition',
        async () => {
          const got = await get(svc);
          return condition(got, 'Ready')?.reason === 'CleanupBlocked' ? got : undefined;
        },
        90_000,
      );
      const message = condition(blocked, 'Ready')?.message ?? '';
      expect(message).toContain(
        `kubectl annotate -n ${ns} inferenceservices.ymera.io/${svc.metadata.name} ymera.io/skip-cleanup=true`,
      );
      expect(message).toContain('remove the finalizer: kubectl patch');
      expect(condition(blocked, 'Stalled')).toMatchObject({ status: 'True', reason: 'CleanupBlocked' });
      expect(blocked.metadata.finalizers).toContain(FINALIZER);
      const warning = await eventually('the CleanupBlocked Event', async () =>
        (await eventsAbout(ns, svc.metadata.name)).find((e) => e.reason === 'CleanupBlocked'),
      );
      expect(warning.type).toBe('Warning');
      // the operator keeps retrying; the status keeps saying how to force it (not overwritten by
      // each retry's failure) and the Event is not repeated
      await eventually(
        'a later retry to fail as CleanupBlocked too',
        async () =>
          ((await down.metric('ymera_reconcile_failures_total', {
            controller: 'inferenceservice',
            reason: 'CleanupBlocked',
          })) ?? 0) >= 2,
        60_000,
      );
      expect(condition(await get(svc), 'Ready')).toMatchObject({ reason: 'CleanupBlocked', message });
      expect(
        (await eventsAbout(ns, svc.metadata.name)).filter((e) => e.reason === 'CleanupBlocked'),
      ).toHaveLength(1);

      await kubectlOk(['annotate', ...ref(svc), 'ymera.io/skip-cleanup=true']);
      await eventually('the resource to be gone', async () => (await get(svc)) === undefined);
      // recorded as the finalizer goes: it may land just after the object is gone
      await eventually('the CleanupSkipped Event', async () =>
        (await eventsAbout(ns, svc.metadata.name)).some((e) => e.reason === 'CleanupSkipped'),
      );
      expect(await topicOf(name)).toBeDefined(); // skipped cleanup: the topic stays
      await kafka.admin.deleteTopic(name);
    } finally {
      await down.stop();
      op = await startOperator('op-kafka', opFlags());
    }
  });
});
