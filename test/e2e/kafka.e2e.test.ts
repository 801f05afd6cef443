// Topic reconciliation and platform events against a real single-node Kafka
// broker (test/e2e/stack/kafka.sh), including the broker going away and
// coming back in the middle of the file. No Kubernetes objects are involved:
// owners and claims are the plain data the controllers hand over.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../operator/logger.ts';
import type { KafkaClients } from '../../operator/kafka/platformatic.ts';
import { createKafkaClients, readTopic } from '../../operator/kafka/platformatic.ts';
import { EventPublisher, EventType, ensureEventTopic, toCloudEvent } from '../../operator/kafka/events.ts';
import type { CloudEvent, PlatformEvent } from '../../operator/kafka/events.ts';
import { TopicReconciler } from '../../operator/kafka/topic-reconciler.ts';
import type { TopicClaim, TopicOwner, TopicSpec } from '../../operator/kafka/topics.ts';
import { KAFKA_READY, kafkaReadyCondition, topicClaims } from '../../operator/kafka/topics.ts';
import { eventually, repo } from './support.ts';

const kafkaSh = path.join(repo, 'test/e2e/stack/kafka.sh');
const kafka = (cmd: 'up' | 'down' | 'env') =>
  execFileSync('bash', [kafkaSh, cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], cwd: repo });

// Topic names unique to this run: the broker's data outlives test runs. The
// owners live in namespace "e2e", so their topics start with "e2e." (the name policy).
const run = randomUUID().slice(0, 8);
const topic = (name: string) => `e2e.${run}-${name}`;

let brokers: string[];
let clients: KafkaClients; // what the operator uses
let outOfBand: KafkaClients; // a person with Kafka tools, changing things behind the operator's back
let reconciler: TopicReconciler;
const logLines: string[] = [];

let clock = Date.parse('2026-01-01T00:00:00Z');
function owner(name: string, annotations?: Record<string, string>): TopicOwner {
  clock += 60_000; // each owner is a minute younger than the previous one
  return {
    kind: 'InferenceService',
    metadata: {
      name,
      namespace: 'e2e',
      uid: randomUUID(),
      creationTimestamp: new Date(clock).toISOString(),
      ...(annotations ? { annotations } : {}),
    },
  };
}

const describeTopic = async (name: string) => (await outOfBand.admin.describeTopics([name])).get(name);
/** Waits until the broker describes the topic as `expected` (it may lag behind the call that changed it). */
const untilTopic = (name: string, expected: Record<string, unknown>) =>
  eventually(
    `topic ${name} to match ${JSON.stringify(expected)}`,
    async () => {
      const d = await describeTopic(name);
      expect(d).toMatchObject(expected);
      return d;
    },
    15_000,
  );
// the operator's bound of one Kafka call, retries included
const CLIENT_TIMEOUT_MS = 5_000;

beforeAll(async () => {
  kafka('up');
  const env = /YMERA_KAFKA_BROKERS=(\S+)/.exec(kafka('env'));
  brokers = (env?.[1] ?? '127.0.0.1:9092').split(',');
  const logger = createLogger({ level: 'info', sink: { write: (l: string) => logLines.push(l) } });
  // A short cool-down so the test sees the breaker heal within seconds, yet long enough
  // that a stalled machine does not half-open it before the test sees it open.
  clients = createKafkaClients({
    brokers,
    clientId: 'ymera-e2e',
    timeoutMs: CLIENT_TIMEOUT_MS,
    breaker: { failureThreshold: 2, coolDownMs: 5_000 },
    logger,
  });
  outOfBand = createKafkaClients({ brokers, clientId: 'ymera-e2e-human', timeoutMs: 10_000 });
  reconciler = new TopicReconciler({ admin: clients.admin, logger });
}, 180_000);

afterAll(async () => {
  // Leave a running broker behind, like the cluster; remove this run's topics.
  try {
    for (const t of await outOfBand.admin.listTopics()) {
      if (t.startsWith(`e2e.${run}-`) || t.startsWith(`e2e-${run}-`)) await outOfBand.admin.deleteTopic(t);
    }
  } finally {
    await clients?.close();
    await outOfBand?.close();
  }
});

describe('topic reconciliation against a real broker', () => {
  const a = owner('a-oldest');
  const logs = topic('logs');
  const base: TopicSpec = {
    name: logs,
    partitions: 2,
    replicationFactor: 1,
    config: { 'retention.ms': '3600000' },
  };
  const claimsOf = (...owners: TopicOwner[]): TopicClaim[] => owners.flatMap((o) => topicClaims(o, [logs]));
  // a's status.createdTopics after it created the topic
  const created = [logs];

  it('creates a missing topic, then finds it in sync', async () => {
    const recorded: string[][] = [];
    const first = await reconciler.reconcile({
      owner: a,
      topics: [base],
      claims: claimsOf(a),
      recordCreated: async (list) => void recorded.push(list),
    });
    expect(first).toMatchObject({ status: 'Ready', message: `Kafka topic ${logs} in sync`, created });
    expect(recorded).toEqual([created]); // recorded before the create
    expect(first.topics[0]?.changes).toEqual([`created topic ${logs} (2 partitions)`]);
    expect(await eventually('topic visible', () => describeTopic(logs), 10_000)).toEqual({
      name: logs,
      partitions: 2,
      replicationFactor: 1,
      configs: { 'retention.ms': '3600000' },
    });
    const again = await reconciler.reconcile({ owner: a, topics: [base], claims: claimsOf(a), created });
    expect(again).toEqual({ ...first, topics: [{ ...first.topics[0], changes: [] }] });
    expect(kafkaReadyCondition(again)).toMatchObject({
      type: KAFKA_READY,
      status: 'True',
      reason: 'Reconciled',
    });
    expect(logLines.some((l) => l.includes('"msg":"kafka topic created"') && l.includes(logs))).toBe(true);
  });

  it('reverts configuration drift made out of band', async () => {
    await outOfBand.admin.alterTopicConfigs(logs, {
      set: { 'retention.ms': '1000', 'max.message.bytes': '2048' },
    });
    await eventually(
      'drift visible',
      async () => (await describeTopic(logs))?.configs['max.message.bytes'] === '2048',
      10_000,
    );
    const r = await reconciler.reconcile({ owner: a, topics: [base], claims: claimsOf(a), created });
    expect(r.status).toBe('Ready');
    expect(r.topics[0]?.changes).toEqual([
      `set configs of ${logs}: retention.ms=3600000, -max.message.bytes`,
    ]);
    const reverted = await untilTopic(logs, { configs: { 'retention.ms': '3600000' } });
    expect(reverted.configs).toEqual({ 'retention.ms': '3600000' });
  });

  it('raises partitions', async () => {
    const r = await reconciler.reconcile({
      owner: a,
      topics: [{ ...base, partitions: 4 }],
      claims: claimsOf(a),
      created,
    });
    expect(r.status).toBe('Ready');
    await eventually('4 partitions', async () => (await describeTopic(logs))?.partitions === 4, 10_000);
  });

  it('reports a partition decrease and a replication factor change as NotSupported, without retry churn', async () => {
    const fewer = { ...base, partitions: 1 };
    const r1 = await reconciler.reconcile({ owner: a, topics: [fewer], claims: claimsOf(a), created });
    const r2 = await reconciler.reconcile({ owner: a, topics: [fewer], claims: claimsOf(a), created });
    expect(r1.status).toBe('NotSupported');
    expect(r1.message).toContain('has 4 partitions and the spec asks for 1');
    expect(r2).toEqual(r1); // same message every time: no status churn, no error
    expect(kafkaReadyCondition(r1)).toMatchObject({ status: 'False', reason: 'NotSupported' });
    expect((await describeTopic(logs))?.partitions).toBe(4);

    const rf = await reconciler.reconcile({
      owner: a,
      topics: [{ ...base, partitions: 4, replicationFactor: 2 }],
      claims: claimsOf(a),
      created,
    });
    expect(rf.status).toBe('NotSupported');
    expect(rf.message).toContain('replication factor 1 and the spec asks for 2');
  });

  it('reports what the broker refuses as InvalidSpec', async () => {
    const b = owner('b-invalid');
    const rf3 = { name: topic('rf3'), partitions: 1, replicationFactor: 3 };
    const r = await reconciler.reconcile({ owner: b, topics: [rf3], claims: topicClaims(b, [rf3.name]) });
    expect(r.status).toBe('InvalidSpec');
    expect(r.message).toContain('INVALID_REPLICATION_FACTOR');
    const badConfig = { name: topic('badcfg'), partitions: 1, config: { 'retention.ms': 'forever' } };
    const r2 = await reconciler.reconcile({
      owner: b,
      topics: [badConfig],
      claims: topicClaims(b, [badConfig.name]),
    });
    expect(r2.status).toBe('InvalidSpec');
    expect(r2.message).toContain('INVALID_CONFIG');
    expect(await describeTopic(rf3.name)).toBeUndefined();
  });

  it('gives a topic claimed twice to the older resource; the newer gets TopicConflict and writes nothing', async () => {
    const newer = owner('z-newer');
    const claims = claimsOf(newer, a); // order of the informer cache does not matter
    const before = await describeTopic(logs);
    const r = await reconciler.reconcile({
      owner: newer,
      topics: [{ ...base, partitions: 8, config: { 'retention.ms': '1' }, adopt: true }],
      claims,
    });
    expect(r.status).toBe('TopicConflict');
    expect(r.message).toBe(
      `topic ${logs} is already claimed by InferenceService e2e/a-oldest, which declared it first; this resource leaves it alone`,
    );
    expect(kafkaReadyCondition(r)).toMatchObject({ status: 'False', reason: 'TopicConflict' });
    expect(await describeTopic(logs)).toEqual(before);

    // even a forbidden older claim (another namespace) does not block the topic for its rightful owner
    const intruder: TopicOwner = {
      kind: 'InferenceService',
      metadata: {
        name: 'intruder',
        namespace: 'other',
        uid: randomUUID(),
        creationTimestamp: '2000-01-01T00:00:00Z',
      },
    };
    const withIntruder = [...claims, ...topicClaims(intruder, [logs])];
    expect(
      (
        await reconciler.reconcile({
          owner: a,
          topics: [{ ...base, partitions: 4 }],
          claims: withIntruder,
          created,
        })
      ).status,
    ).toBe('Ready');

    const fin = await reconciler.finalize({ owner: newer, topics: [base], claims, created: [logs] });
    expect(fin.status).toBe('Deleted');
    expect(fin.topics[0]?.status).toBe('Retained');
    expect(await describeTopic(logs)).toBeDefined();

    // the older one keeps managing it
    expect(
      (await reconciler.reconcile({ owner: a, topics: [{ ...base, partitions: 4 }], claims, created }))
        .status,
    ).toBe('Ready');
  });

  it('refuses a topic outside the namespace without any Kafka call', async () => {
    const foreign = `other.${run}-foreign`;
    const r = await reconciler.reconcile({
      owner: owner('reacher'),
      topics: [{ name: foreign, partitions: 1, field: 'spec.logging.kafka.topic' }],
      claims: [],
    });
    expect(r.status).toBe('TopicNotAllowed');
    expect(r.message).toContain(
      'spec.logging.kafka.topic: topic "' + foreign + '" is not allowed in namespace e2e',
    );
    expect(kafkaReadyCondition(r)).toMatchObject({ status: 'False', reason: 'TopicNotAllowed' });
    expect(await describeTopic(foreign)).toBeUndefined();
  });

  it('deletes the topic through the finalizer, and a second time finds nothing to do', async () => {
    const fin = await reconciler.finalize({ owner: a, topics: [base], claims: claimsOf(a), created });
    expect(fin).toMatchObject({ status: 'Deleted', topics: [{ name: logs, status: 'Deleted' }] });
    await eventually('topic gone', async () => !(await outOfBand.admin.listTopics()).includes(logs), 15_000);
    expect(
      (await reconciler.finalize({ owner: a, topics: [base], claims: claimsOf(a), created })).status,
    ).toBe('Deleted');
    const never = topic('never-existed');
    expect(
      (
        await reconciler.finalize({
          owner: a,
          topics: [{ name: never, partitions: 1 }],
          claims: [],
          created: [never],
        })
      ).status,
    ).toBe('Deleted');
  });

  it('leaves an existing topic alone without adopt, and with adopt sets only the named configs and keeps it on delete', async () => {
    const existing = topic('existing');
    await outOfBand.admin.createTopic({
      name: existing,
      partitions: 1,
      configs: { 'segment.ms': '600000', 'retention.ms': '1000' },
    });
    await eventually('created out of band', () => describeTopic(existing), 10_000);
    await outOfBand.producer.send(existing, [{ key: 'k', value: 'kept' }]);

    const adopter = owner('adopter');
    const spec: TopicSpec = { name: existing, partitions: 3, config: { 'retention.ms': '7200000' } };
    const refused = await reconciler.reconcile({
      owner: adopter,
      topics: [spec],
      claims: topicClaims(adopter, [existing]),
    });
    expect(refused.status).toBe('TopicExists');
    expect(refused.message).toContain('set adopt: true');
    expect(kafkaReadyCondition(refused)).toMatchObject({ status: 'False', reason: 'TopicExists' });
    expect((await describeTopic(existing))?.configs).toEqual({
      'segment.ms': '600000',
      'retention.ms': '1000',
    });

    const r = await reconciler.reconcile({
      owner: adopter,
      topics: [{ ...spec, adopt: true }],
      claims: topicClaims(adopter, [existing]),
    });
    expect(r.status).toBe('Ready');
    expect(r.created).toEqual([]); // adopted, not created
    expect(r.topics[0]?.changes).toEqual([
      `set configs of ${existing}: retention.ms=7200000`,
      `raised partitions of ${existing} to 3`,
    ]);
    const after = await untilTopic(existing, {
      partitions: 3,
      configs: { 'segment.ms': '600000', 'retention.ms': '7200000' },
    });
    expect(after.configs).toEqual({ 'segment.ms': '600000', 'retention.ms': '7200000' });
    const messages = await readTopic({ brokers, topic: existing, count: 1, timeoutMs: 15_000 });
    expect(messages.map((m) => m.value)).toEqual(['kept']);

    const fin = await reconciler.finalize({
      owner: adopter,
      topics: [{ ...spec, adopt: true }],
      claims: topicClaims(adopter, [existing]),
      created: r.created ?? [],
    });
    expect(fin.topics[0]).toMatchObject({ status: 'Retained' });
    expect(await describeTopic(existing)).toBeDefined();
  });

  it('leaves topics of a resource annotated ymera.io/kafka-managed: "false" alone', async () => {
    const hands = topic('hands-off');
    const unmanaged = owner('unmanaged', { 'ymera.io/kafka-managed': 'false' });
    const spec: TopicSpec = { name: hands, partitions: 2, config: { 'retention.ms': '5000' } };
    const r = await reconciler.reconcile({ owner: unmanaged, topics: [spec], claims: [] });
    expect(r.status).toBe('Unmanaged');
    expect(kafkaReadyCondition(r)).toMatchObject({ status: 'True' });
    expect(await describeTopic(hands)).toBeUndefined(); // not created

    await outOfBand.admin.createTopic({ name: hands, partitions: 1, configs: { 'segment.ms': '600000' } });
    await eventually('created out of band', () => describeTopic(hands), 10_000);
    await reconciler.reconcile({ owner: unmanaged, topics: [spec], claims: [] });
    expect((await reconciler.finalize({ owner: unmanaged, topics: [spec], claims: [] })).status).toBe(
      'Unmanaged',
    );
    expect(await describeTopic(hands)).toEqual({
      name: hands,
      partitions: 1,
      replicationFactor: 1,
      configs: { 'segment.ms': '600000' },
    }); // not altered, not deleted
  });
});

describe('platform events and a broker outage', () => {
  const prefix = `e2e-${run}-events`;
  const pipeline = {
    group: 'ymera.io',
    version: 'v1alpha1',
    kind: 'LearningPipeline',
    plural: 'learningpipelines',
    namespaced: true,
  };
  const object = { metadata: { name: 'fraud-train', namespace: 'ml', uid: randomUUID() } };
  const started: PlatformEvent = {
    resource: pipeline,
    object,
    type: EventType.RunStarted,
    discriminator: 'run-1',
    data: { run: 'run-1', trigger: 'Schedule' },
    time: '2026-03-01T10:00:00.000Z',
  };
  const eventsTopic = `${prefix}.learningpipeline`;
  const publisher = (registry = new Registry()) =>
    new EventPublisher({
      producer: clients.producer,
      registry,
      ensureTopic: ensureEventTopic(clients.admin, { partitions: 1 }),
      topicPrefix: prefix,
      retry: { baseMs: 200, maxMs: 1_000 },
    });
  /** The topic's events: `count` of them, or all up to its end as of the call. */
  const read = async (count?: number) =>
    (await readTopic({ brokers, topic: eventsTopic, count, timeoutMs: 20_000 })).map((m) => ({
      ...m,
      event: JSON.parse(m.value) as CloudEvent,
    }));

  it('publishes CloudEvents that a real consumer reads back, and a re-send after a restart keeps the id', async () => {
    const registry = new Registry();
    const p = publisher(registry);
    expect(p.publish(started)).toBe('queued');
    expect(
      p.publish({ ...started, type: EventType.RunFinished, data: { run: 'run-1', phase: 'Succeeded' } }),
    ).toBe('queued');
    expect(await p.flush(15_000)).toBe(true);
    await p.close();

    const got = await read(2);
    expect(got).toHaveLength(2);
    const [first, second] = got;
    expect(first?.key).toBe('ml/fraud-train');
    expect(first?.headers['content-type']).toBe('application/cloudevents+json; charset=UTF-8');
    expect(first?.event).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(/^[0-9a-f]{64}$/),
      source: '/apis/ymera.io/v1alpha1/namespaces/ml/learningpipelines/fraud-train',
      type: 'io.ymera.learningpipeline.run.started',
      subject: 'ml/fraud-train',
      time: '2026-03-01T10:00:00.000Z',
      datacontenttype: 'application/json',
      data: { run: 'run-1', trigger: 'Schedule' },
    });
    expect(second?.event.type).toBe('io.ymera.learningpipeline.run.finished');
    expect(second?.event.id).not.toBe(first?.event.id);
    expect(
      Number((await registry.getSingleMetric('ymera_kafka_events_published_total')?.get())?.values[0]?.value),
    ).toBe(2);

    // an operator restart: a new publisher with no memory sends the same fact again
    const restarted = publisher();
    restarted.publish(started);
    expect(await restarted.flush(15_000)).toBe(true);
    await restarted.close();
    const all = await read(3);
    expect(all).toHaveLength(3);
    expect(all[2]?.event.id).toBe(first?.event.id);
    expect(all[2]?.value).toBe(first?.value);
    expect(new Set(all.map((m) => m.event.id)).size).toBe(2); // what a de-duplicating consumer keeps
  });

  it('sends every event published while other sends are in flight, across two topics, without a flush', async () => {
    // events published as an operator does (one at a time, while earlier ones are being sent) once left
    // the publisher stuck with a full buffer and nothing logged; waiting on depth, not flush(), shows it
    const p = publisher();
    const service = { ...pipeline, kind: 'InferenceService', plural: 'inferenceservices' };
    const expected = new Map<string, Set<string>>([
      [eventsTopic, new Set()],
      [`${prefix}.inferenceservice`, new Set()],
    ]);
    for (let i = 0; i < 120; i++) {
      const event = {
        ...started,
        resource: i % 2 === 0 ? pipeline : service,
        discriminator: `interleaved-${i}`,
      };
      expect(p.publish(event)).toBe('queued');
      expected.get(`${prefix}.${event.resource.kind.toLowerCase()}`)?.add(toCloudEvent(event, new Date()).id);
      await new Promise((r) => setTimeout(r, i % 7));
    }
    await eventually('the buffer to drain by itself', async () => p.depth === 0, 30_000, 50);
    await p.close();
    for (const [topic, ids] of expected) {
      const got = await readTopic({ brokers, topic, timeoutMs: 20_000 });
      const read = new Set(got.map((m) => (JSON.parse(m.value) as CloudEvent).id));
      expect([...ids].filter((id) => !read.has(id))).toEqual([]);
    }
  });

  it('reports KafkaUnavailable quickly while the broker is down, buffers events, and heals when it is back', async () => {
    const o = owner('outage');
    const t = topic('outage');
    const spec: TopicSpec = { name: t, partitions: 1, config: { 'retention.ms': '3600000' } };
    const claims = topicClaims(o, [t]);
    const p = publisher();
    try {
      kafka('down');

      // bounded by the client's timeout (plus slack for a loaded machine), not hanging on retries
      const t0 = Date.now();
      const down = await reconciler.reconcile({ owner: o, topics: [spec], claims });
      expect(Date.now() - t0).toBeLessThan(CLIENT_TIMEOUT_MS + 5_000);
      expect(down.status).toBe('KafkaUnavailable');
      expect(down.message).toMatch(/^Kafka is unavailable: /);
      expect(kafkaReadyCondition(down)).toMatchObject({
        type: KAFKA_READY,
        status: 'False',
        reason: 'KafkaUnavailable',
      });
      // a second failure opens the circuit: later calls fail at once and say when to retry
      await reconciler.reconcile({ owner: o, topics: [spec], claims });
      // (no call reaches the network: it does not wait for the client's timeout)
      const t1 = Date.now();
      const open = await reconciler.reconcile({ owner: o, topics: [spec], claims });
      expect(Date.now() - t1).toBeLessThan(CLIENT_TIMEOUT_MS);
      expect(open.status).toBe('KafkaUnavailable');
      expect(open.retryAfterMs).toBeGreaterThan(0);
      expect(open.message).toBe(down.message); // stable while down: no status churn
      expect(clients.breaker.state).toBe('open');

      // publish() does not block or throw while Kafka is away
      // (it does not wait for the producer's timeout)
      const t2 = Date.now();
      expect(p.publish({ ...started, discriminator: 'run-2', data: { run: 'run-2' } })).toBe('queued');
      expect(Date.now() - t2).toBeLessThan(CLIENT_TIMEOUT_MS);
      expect(p.depth).toBe(1);

      const fin = await reconciler.finalize({ owner: o, topics: [spec], claims, created: [t] });
      expect(fin.status).toBe('KafkaUnavailable'); // the finalizer stays until Kafka answers
    } finally {
      kafka('up');
    }

    const healed = await eventually(
      'reconcile to succeed after the broker restarted',
      async () => {
        const r = await reconciler.reconcile({ owner: o, topics: [spec], claims });
        return r.status === 'Ready' ? r : undefined;
      },
      30_000,
      500,
    );
    // whichever reconcile got through first made the changes (one may have half-succeeded while the
    // broker came back): what counts is that the topic now exists as declared
    expect(healed.status).toBe('Ready');
    await untilTopic(t, { name: t, partitions: 1, configs: { 'retention.ms': '3600000' } });
    expect(clients.breaker.state).toBe('closed');

    // the buffered event went out by itself
    await eventually('buffered event sent', async () => p.depth === 0, 30_000);
    await p.close();
    // the topic holds the earlier tests' events too: read it to its end, not a count of messages
    const events = await read();
    expect(events.map((m) => m.event.data.run)).toContain('run-2');
  });
});
