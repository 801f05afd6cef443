import { createHash } from 'node:crypto';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { KafkaProducer, OutgoingMessage } from './client.ts';
import { KafkaUnavailableError } from './client.ts';
import type { PlatformEvent, QueuedEvent } from './events.ts';
import {
  CLOUDEVENTS_CONTENT_TYPE,
  EventBuffer,
  EventPublisher,
  EventType,
  RecentIds,
  cloudEventType,
  eventId,
  eventSource,
  eventTopic,
  toCloudEvent,
  toKafkaMessage,
  validateEvent,
} from './events.ts';

const pipeline = {
  group: 'ymera.io',
  version: 'v1alpha1',
  kind: 'LearningPipeline',
  plural: 'learningpipelines',
  namespaced: true,
};

const event = (over: Partial<PlatformEvent> = {}): PlatformEvent => ({
  resource: pipeline,
  object: { metadata: { name: 'fraud-train', namespace: 'ml', uid: '7f3c-uid' } },
  type: EventType.RunStarted,
  discriminator: 'run-42',
  data: { run: 'run-42', trigger: 'Schedule' },
  time: '2026-03-01T10:00:00.000Z',
  ...over,
});

const NOW = new Date('2026-03-01T12:00:00.000Z');

describe('toCloudEvent', () => {
  it('builds a CloudEvents 1.0 structured event', () => {
    const ce = toCloudEvent(event(), NOW);
    expect(ce).toEqual({
      specversion: '1.0',
      id: eventId('7f3c-uid', 'io.ymera.learningpipeline.run.started', 'run-42'),
      source: '/apis/ymera.io/v1alpha1/namespaces/ml/learningpipelines/fraud-train',
      type: 'io.ymera.learningpipeline.run.started',
      subject: 'ml/fraud-train',
      time: '2026-03-01T10:00:00.000Z',
      datacontenttype: 'application/json',
      data: { run: 'run-42', trigger: 'Schedule' },
    });
  });

  it('gives the same fact the same id, whenever it is published', () => {
    const a = toCloudEvent(event(), NOW);
    const b = toCloudEvent(event({ data: { other: true } }), new Date('2027-01-01T00:00:00Z'));
    expect(b.id).toBe(a.id);
    expect(a.id).toMatch(/^[0-9a-f]{64}$/);
    expect(a.id).toBe(
      createHash('sha256')
        .update(JSON.stringify(['7f3c-uid', 'io.ymera.learningpipeline.run.started', 'run-42']))
        .digest('hex'),
    );
  });

  it('gives a different id for another discriminator, type or object', () => {
    const base = toCloudEvent(event(), NOW).id;
    expect(toCloudEvent(event({ discriminator: 'run-43' }), NOW).id).not.toBe(base);
    expect(toCloudEvent(event({ type: EventType.RunFinished }), NOW).id).not.toBe(base);
    expect(
      toCloudEvent(
        event({ object: { metadata: { name: 'fraud-train', namespace: 'ml', uid: 'other' } } }),
        NOW,
      ).id,
    ).not.toBe(base);
    // no separator games: ("a|b", "c") and ("a", "b|c") must differ
    expect(eventId('a|b', 't', 'c')).not.toBe(eventId('a', 'b|t', 'c'));
  });

  it('uses now when no occurrence time is given, and numbers as discriminators', () => {
    const ce = toCloudEvent(event({ time: undefined, discriminator: 7 }), NOW);
    expect(ce.time).toBe('2026-03-01T12:00:00.000Z');
    expect(ce.id).toBe(eventId('7f3c-uid', ce.type, '7'));
  });

  it('has no namespace segment for a cluster-scoped kind', () => {
    const plan = { ...pipeline, kind: 'MaintenancePlan', plural: 'maintenanceplans', namespaced: false };
    const ce = toCloudEvent(
      event({
        resource: plan,
        object: { metadata: { name: 'gpu-nodes', uid: 'u' } },
        type: 'maintenance.scheduled',
      }),
      NOW,
    );
    expect(ce.source).toBe('/apis/ymera.io/v1alpha1/maintenanceplans/gpu-nodes');
    expect(ce.subject).toBe('gpu-nodes');
    expect(ce.type).toBe('io.ymera.maintenanceplan.maintenance.scheduled');
  });

  it.each([
    [{ type: 'Run Started' }, 'lower-case dotted'],
    [{ object: { metadata: { name: 'x', namespace: 'ml' } } }, 'no uid'],
    [{ object: { metadata: { name: 'x', uid: 'u' } } }, 'no namespace'],
    [{ discriminator: '' }, 'discriminator'],
    [{ time: 'yesterday' }, 'time'],
  ])('rejects %j', (over, why) => {
    expect(validateEvent(event(over as Partial<PlatformEvent>))).toContain(why);
    expect(() => toCloudEvent(event(over as Partial<PlatformEvent>), NOW)).toThrow(TypeError);
  });
});

describe('naming and the Kafka record', () => {
  it('names types, sources and topics after the kind', () => {
    expect(cloudEventType('BackupPolicy', 'backup.completed')).toBe('io.ymera.backuppolicy.backup.completed');
    expect(eventTopic('InferenceService')).toBe('ymera.events.inferenceservice');
    expect(eventTopic('InferenceService', 'test.events')).toBe('test.events.inferenceservice');
    expect(
      eventSource({ ...pipeline, plural: 'backuppolicies' }, { name: 'nightly', namespace: 'ops' }),
    ).toBe('/apis/ymera.io/v1alpha1/namespaces/ops/backuppolicies/nightly');
  });

  it('keys the record by namespace/name and marks it as a structured CloudEvent', () => {
    const ce = toCloudEvent(event(), NOW);
    const msg = toKafkaMessage(ce);
    expect(msg.key).toBe('ml/fraud-train');
    expect(msg.headers).toEqual({ 'content-type': CLOUDEVENTS_CONTENT_TYPE });
    expect(JSON.parse(msg.value)).toEqual(ce);
  });
});

const queued = (id: string, topic = 't1'): QueuedEvent => ({
  id,
  type: 'x',
  topic,
  message: { key: 'k', value: id },
});

describe('EventBuffer', () => {
  it('drops the oldest event when full and reports it', () => {
    const b = new EventBuffer(2);
    expect(b.push(queued('a'))).toEqual({});
    expect(b.push(queued('b'))).toEqual({});
    expect(b.push(queued('c'))).toEqual({ dropped: queued('a') });
    expect(b.size).toBe(2);
    expect(b.nextBatch(10).map((e) => e.id)).toEqual(['b', 'c']);
  });

  it('does not queue an id twice', () => {
    const b = new EventBuffer(5);
    b.push(queued('a'));
    expect(b.push(queued('a'))).toBe('duplicate');
    expect(b.size).toBe(1);
  });

  it('batches the head run of one topic, up to max', () => {
    const b = new EventBuffer(10);
    for (const [id, topic] of [
      ['a', 't1'],
      ['b', 't1'],
      ['c', 't2'],
      ['d', 't1'],
    ] as const) {
      b.push(queued(id, topic));
    }
    expect(b.nextBatch(10).map((e) => e.id)).toEqual(['a', 'b']);
    expect(b.nextBatch(1).map((e) => e.id)).toEqual(['a']);
    b.remove(['a', 'b']);
    expect(b.nextBatch(10).map((e) => e.id)).toEqual(['c']);
  });

  it('removes by id even when the head changed meanwhile', () => {
    const b = new EventBuffer(2);
    b.push(queued('a'));
    b.push(queued('b'));
    const inFlight = b.nextBatch(2).map((e) => e.id); // a, b
    b.push(queued('c')); // drops a
    b.remove(inFlight);
    expect(b.nextBatch(5).map((e) => e.id)).toEqual(['c']);
  });

  it('rejects a capacity below one', () => {
    expect(() => new EventBuffer(0)).toThrow(RangeError);
  });
});

describe('RecentIds', () => {
  it('forgets the oldest id beyond capacity', () => {
    const r = new RecentIds(2);
    r.add('a');
    r.add('b');
    r.add('a'); // refreshed: b is now the oldest
    r.add('c');
    expect(r.has('a')).toBe(true);
    expect(r.has('b')).toBe(false);
    expect(r.has('c')).toBe(true);
  });
});

// A KafkaProducer that records or refuses sends: the retry and overflow
// accounting is the publisher's logic, checked here without a broker
// (the real broker is in test/e2e/kafka.e2e.test.ts).
class RecordingProducer implements KafkaProducer {
  down = false;
  sent: { topic: string; messages: OutgoingMessage[] }[] = [];
  attempts = 0;
  async send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    this.attempts++;
    if (this.down) throw new KafkaUnavailableError('connect ECONNREFUSED 127.0.0.1:9092');
    this.sent.push({ topic, messages: [...messages] });
  }
}

async function metric(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((s) => Object.entries(labels).every(([k, val]) => s.labels[k] === val));
  return v?.value ?? 0;
}

const until = async (what: string, check: () => boolean, ms = 2000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('EventPublisher', () => {
  it('returns at once, sends in the background and counts it', async () => {
    const producer = new RecordingProducer();
    const registry = new Registry();
    const ensured: string[] = [];
    const p = new EventPublisher({
      producer,
      registry,
      ensureTopic: async (t) => void ensured.push(t),
      now: () => NOW,
    });
    expect(p.publish(event())).toBe('queued');
    expect(producer.attempts).toBe(0); // nothing happened synchronously
    await until('send', () => producer.sent.length === 1);
    expect(producer.sent[0]?.topic).toBe('ymera.events.learningpipeline');
    expect(ensured).toEqual(['ymera.events.learningpipeline']);
    await until('counted', () => p.depth === 0);
    expect(await metric(registry, 'ymera_kafka_events_published_total')).toBe(1);
    expect(await metric(registry, 'ymera_kafka_events_buffer_depth')).toBe(0);
    // the same fact again in this process is not sent twice
    expect(p.publish(event())).toBe('duplicate');
    await p.close(100);
  });

  it('still sends after a scheduled send found the buffer already drained by the send in flight', async () => {
    // the order that left events in the buffer for good (seen as missing CloudEvents in e2e):
    // B is published while A is in flight, the in-flight loop sends B too, then B's timer fires on an empty buffer
    const producer = new RecordingProducer();
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const send = producer.send.bind(producer);
    producer.send = async (topic, messages) => {
      await gate;
      return send(topic, messages);
    };
    const p = new EventPublisher({ producer, registry: new Registry(), now: () => NOW });
    expect(p.publish(event({ discriminator: 'a' }))).toBe('queued');
    await new Promise((r) => setTimeout(r, 10)); // A's timer fired: A is in flight, held by the gate
    expect(p.publish(event({ discriminator: 'b' }))).toBe('queued'); // B's timer is now pending
    release(); // the loop sends A and B in microtasks, before B's timer fires on an empty buffer
    await until('A and B sent', () => producer.sent.length === 2);
    await new Promise((r) => setTimeout(r, 10)); // B's timer has fired
    expect(p.publish(event({ discriminator: 'c' }))).toBe('queued');
    await until('C sent', () => producer.sent.length === 3);
    expect(p.depth).toBe(0);
    await p.close(100);
  });

  it('keeps events through an outage, counts failed attempts and overflow, then delivers', async () => {
    const producer = new RecordingProducer();
    producer.down = true;
    const registry = new Registry();
    const p = new EventPublisher({
      producer,
      registry,
      capacity: 3,
      retry: { baseMs: 10, maxMs: 20, jitter: 0 },
      now: () => NOW,
    });
    for (const run of ['r1', 'r2', 'r3', 'r4', 'r5']) {
      expect(p.publish(event({ discriminator: run }))).toBe('queued');
    }
    expect(p.depth).toBe(3);
    expect(await metric(registry, 'ymera_kafka_events_dropped_total', { reason: 'overflow' })).toBe(2);
    expect(await metric(registry, 'ymera_kafka_events_buffer_depth')).toBe(3);
    await until('two failed attempts', () => producer.attempts >= 2);
    expect(await metric(registry, 'ymera_kafka_events_publish_failures_total')).toBeGreaterThanOrEqual(2);

    producer.down = false;
    await until('delivery', () => p.depth === 0);
    const runs = producer.sent.flatMap((s) => s.messages.map((m) => JSON.parse(m.value).data.run));
    expect(runs).toEqual(['run-42', 'run-42', 'run-42']); // data is the same; ids differ
    const ids = producer.sent.flatMap((s) => s.messages.map((m) => JSON.parse(m.value).id));
    expect(ids).toEqual(
      ['r3', 'r4', 'r5'].map((r) => eventId('7f3c-uid', 'io.ymera.learningpipeline.run.started', r)),
    );
    expect(await metric(registry, 'ymera_kafka_events_published_total')).toBe(3);
    await p.close(100);
  });

  it('counts an invalid event as dropped instead of throwing', async () => {
    const registry = new Registry();
    const p = new EventPublisher({ producer: new RecordingProducer(), registry });
    expect(p.publish(event({ type: 'Not Valid' }))).toBe('invalid');
    expect(await metric(registry, 'ymera_kafka_events_dropped_total', { reason: 'invalid' })).toBe(1);
    await p.close(10);
  });

  it('counts what is unsent at close as dropped (shutdown)', async () => {
    const producer = new RecordingProducer();
    producer.down = true;
    const registry = new Registry();
    const p = new EventPublisher({ producer, registry, retry: { baseMs: 1000, maxMs: 1000 } });
    p.publish(event());
    await p.close(50);
    expect(await metric(registry, 'ymera_kafka_events_dropped_total', { reason: 'shutdown' })).toBe(1);
    expect(p.publish(event({ discriminator: 'later' }))).toBe('closed');
  });

  it('shares metrics when two publishers use one registry', () => {
    const registry = new Registry();
    new EventPublisher({ producer: new RecordingProducer(), registry });
    expect(() => new EventPublisher({ producer: new RecordingProducer(), registry })).not.toThrow();
  });
});
