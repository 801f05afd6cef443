import { createHash } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { KafkaProducer, OutgoingMessage } from './client.ts';
import { KafkaRequestError, KafkaUnavailableError } from './client.ts';
import { Logger } from '../logger.ts';
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
  permanentSendError,
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

  it('drops the oldest event not in flight, or the new one when all others are in flight', () => {
    const b = new EventBuffer(2);
    b.push(queued('a'));
    b.push(queued('b'));
    expect(b.push(queued('c'), new Set(['a']))).toEqual({ dropped: queued('b') });
    expect(b.nextBatch(5).map((e) => e.id)).toEqual(['a', 'c']);
    expect(b.push(queued('d'), new Set(['a', 'c']))).toEqual({ dropped: queued('d') });
    expect(b.size).toBe(2);
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

/** A RecordingProducer whose sends wait until release(): a send held in flight. */
function heldProducer(): { producer: RecordingProducer; release: () => void } {
  const producer = new RecordingProducer();
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const send = producer.send.bind(producer);
  producer.send = async (topic, messages) => {
    await gate;
    return send(topic, messages);
  };
  return { producer, release };
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
    const { producer, release } = heldProducer();
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

describe('permanentSendError', () => {
  it.each([
    'MESSAGE_TOO_LARGE',
    'RECORD_LIST_TOO_LARGE',
    'TOPIC_AUTHORIZATION_FAILED',
    'INVALID_RECORD',
    'INVALID_TOPIC_EXCEPTION',
  ])('treats %s as permanent', (code) => {
    expect(permanentSendError(new KafkaRequestError(code, `${code}: refused`))).toBe(code);
  });

  it.each(['REQUEST_TIMED_OUT', 'NOT_LEADER_OR_FOLLOWER', 'UNKNOWN_TOPIC_OR_PARTITION', 'SOMETHING_NEW'])(
    'treats %s as transient',
    (code) => {
      expect(permanentSendError(new KafkaRequestError(code, `${code}: later`))).toBeUndefined();
    },
  );

  it('treats unavailable and unknown errors as transient', () => {
    expect(permanentSendError(new KafkaUnavailableError('connect ECONNREFUSED'))).toBeUndefined();
    expect(permanentSendError(new Error('MESSAGE_TOO_LARGE'))).toBeUndefined();
  });
});

/** A Logger whose JSON lines land in `lines`. */
function capturingLogger(level: 'debug' | 'info' = 'info') {
  const lines: Record<string, unknown>[] = [];
  const logger = new Logger({
    level,
    sink: { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Record<string, unknown>) },
  });
  return { logger, lines };
}

const ofKind = (kind: string, discriminator: string): PlatformEvent =>
  event({ resource: { ...pipeline, kind, plural: `${kind.toLowerCase()}s` }, discriminator });

const sentRuns = (producer: RecordingProducer) =>
  producer.sent.flatMap((s) => s.messages.map((m) => JSON.parse(m.value).id as string));

const idOf = (e: PlatformEvent) => toCloudEvent(e, NOW).id;

describe('EventPublisher: refused and failing sends', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('drops only the event Kafka refuses for good, delivering the rest of its batch and other topics', async () => {
    const producer = new RecordingProducer();
    const send = producer.send.bind(producer);
    // The broker refuses any batch holding the oversized event, and nothing else.
    producer.send = async (topic, messages) => {
      producer.attempts++;
      if (messages.some((m) => JSON.parse(m.value).data.big === true)) {
        throw new KafkaRequestError('MESSAGE_TOO_LARGE', 'MESSAGE_TOO_LARGE: too large');
      }
      producer.attempts--;
      return send(topic, messages);
    };
    const registry = new Registry();
    const { logger, lines } = capturingLogger();
    const p = new EventPublisher({
      producer,
      registry,
      logger,
      retry: { baseMs: 10_000, maxMs: 10_000, jitter: 0 },
      now: () => NOW,
    });
    const good1 = event({ discriminator: 'g1' });
    const big = event({ discriminator: 'big', data: { big: true, secret: 'payload-xyz' } });
    const good2 = event({ discriminator: 'g2' });
    const other = ofKind('InferenceService', 'o1');
    for (const e of [good1, big, good2, other]) expect(p.publish(e)).toBe('queued');

    await until('the good events are delivered', () => p.depth === 0);
    expect(sentRuns(producer).sort()).toEqual([good1, good2, other].map(idOf).sort());
    expect(await metric(registry, 'ymera_kafka_events_dropped_total', { reason: 'rejected' })).toBe(1);
    expect(await metric(registry, 'ymera_kafka_events_published_total')).toBe(3);
    const rejected = lines.find((l) => l.msg === 'platform event rejected by Kafka; dropped');
    expect(rejected).toMatchObject({
      level: 'error',
      eventType: 'io.ymera.learningpipeline.run.started',
      eventId: idOf(big),
      topic: 'ymera.events.learningpipeline',
      kafkaCode: 'MESSAGE_TOO_LARGE',
    });
    expect(JSON.stringify(lines)).not.toContain('payload-xyz');
    await p.close(100);
  });

  it('drops the events of a topic the operator may not create or write, and still sends the other topics', async () => {
    const producer = new RecordingProducer();
    const registry = new Registry();
    const p = new EventPublisher({
      producer,
      registry,
      ensureTopic: async (topic) => {
        if (topic === 'ymera.events.learningpipeline') {
          throw new KafkaRequestError('TOPIC_AUTHORIZATION_FAILED', 'TOPIC_AUTHORIZATION_FAILED: denied');
        }
      },
      retry: { baseMs: 10_000, maxMs: 10_000, jitter: 0 },
      now: () => NOW,
    });
    p.publish(event({ discriminator: 'a' }));
    p.publish(event({ discriminator: 'b' }));
    p.publish(ofKind('InferenceService', 'c'));
    await until('the buffer is empty', () => p.depth === 0);
    expect(sentRuns(producer)).toEqual([idOf(ofKind('InferenceService', 'c'))]);
    expect(await metric(registry, 'ymera_kafka_events_dropped_total', { reason: 'rejected' })).toBe(2);
    await p.close(100);
  });

  it('keeps retrying a transient request error instead of dropping the event', async () => {
    const producer = new RecordingProducer();
    const send = producer.send.bind(producer);
    let refusals = 2;
    producer.send = async (topic, messages) => {
      if (refusals-- > 0) {
        producer.attempts++;
        throw new KafkaRequestError('NOT_LEADER_OR_FOLLOWER', 'NOT_LEADER_OR_FOLLOWER: moved');
      }
      return send(topic, messages);
    };
    const registry = new Registry();
    const p = new EventPublisher({
      producer,
      registry,
      retry: { baseMs: 5, maxMs: 5, jitter: 0 },
      now: () => NOW,
    });
    p.publish(event({ discriminator: 'a' }));
    p.publish(event({ discriminator: 'b' }));
    await until('delivered after the leader moved', () => p.depth === 0);
    expect(sentRuns(producer)).toEqual([
      idOf(event({ discriminator: 'a' })),
      idOf(event({ discriminator: 'b' })),
    ]);
    expect(await metric(registry, 'ymera_kafka_events_dropped_total', { reason: 'rejected' })).toBe(0);
    await p.close(100);
  });

  it('survives a logger that throws in the send loop: no rejection out of close(), later events still sent', async () => {
    const producer = new RecordingProducer();
    const { logger, lines } = capturingLogger('debug');
    // Logger swallows sink errors; a logger (or metric) that throws itself is the case here.
    const debug = logger.debug.bind(logger);
    let throwOnce = true;
    logger.debug = (msg, fields) => {
      if (throwOnce && msg === 'platform events sent') {
        throwOnce = false;
        throw new Error('logger broken');
      }
      debug(msg, fields);
    };
    const p = new EventPublisher({
      producer,
      registry: new Registry(),
      logger,
      retry: { baseMs: 5, maxMs: 5, jitter: 0 },
      now: () => NOW,
    });
    p.publish(event({ discriminator: 'a' }));
    await until('the loop failure is logged', () =>
      lines.some((l) => l.msg === 'platform event send loop failed; retrying'),
    );
    p.publish(event({ discriminator: 'b' }));
    await until('b sent', () => producer.sent.length === 2);
    await expect(p.close(100)).resolves.toBeUndefined();
  });

  it('makes one more immediate try at flush when the send in flight fails, instead of waiting out its backoff', async () => {
    const producer = new RecordingProducer();
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const send = producer.send.bind(producer);
    let first = true;
    producer.send = async (topic, messages) => {
      if (first) {
        first = false;
        producer.attempts++;
        await gate;
        throw new KafkaUnavailableError('request timed out');
      }
      return send(topic, messages);
    };
    const registry = new Registry();
    const p = new EventPublisher({
      producer,
      registry,
      retry: { baseMs: 30_000, maxMs: 30_000, jitter: 0 },
      now: () => NOW,
    });
    p.publish(event());
    await until('the first send is in flight', () => producer.attempts === 1);
    const closed = p.close(2_000);
    release(); // the in-flight send fails; its backoff is 30 s
    await closed;
    expect(producer.sent.length).toBe(1);
    expect(await metric(registry, 'ymera_kafka_events_dropped_total', { reason: 'shutdown' })).toBe(0);
  });

  it('backs off after a failure even when a publish during the send left a 0 ms timer pending', async () => {
    vi.useFakeTimers();
    const producer = new RecordingProducer();
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    producer.send = async () => {
      producer.attempts++;
      await gate;
      throw new KafkaUnavailableError('connect ECONNREFUSED 127.0.0.1:9092');
    };
    const { logger, lines } = capturingLogger();
    let warned = () => {};
    const retrying = new Promise<void>((r) => (warned = r));
    const warn = logger.warn.bind(logger);
    logger.warn = (msg, fields) => {
      warn(msg, fields);
      if (msg === 'platform events not sent; retrying') warned();
    };
    const p = new EventPublisher({
      producer,
      registry: new Registry(),
      logger,
      retry: { baseMs: 10_000, maxMs: 10_000, jitter: 0 },
      now: () => NOW,
    });
    p.publish(event({ discriminator: 'a' }));
    await vi.advanceTimersByTimeAsync(0); // a's timer fired: a is in flight, held by the gate
    expect(producer.attempts).toBe(1);
    p.publish(event({ discriminator: 'b' })); // schedules a 0 ms timer
    release(); // the send fails in microtasks, before that timer fires
    await retrying;
    await vi.advanceTimersByTimeAsync(9_000);
    expect(producer.attempts).toBe(1); // no retry without backoff
    await vi.advanceTimersByTimeAsync(1_000);
    expect(producer.attempts).toBe(2);
    expect(lines.filter((l) => l.msg === 'platform events not sent; retrying').length).toBe(2);
    producer.send = async () => {};
    vi.useRealTimers(); // close() polls on real time
    await p.close(100);
  });

  it('does not count an event in flight as dropped for overflow; the oldest waiting one is dropped instead', async () => {
    const { producer, release } = heldProducer();
    const registry = new Registry();
    const p = new EventPublisher({ producer, registry, capacity: 2, now: () => NOW });
    const [a, b, c] = ['a', 'b', 'c'].map((d) => event({ discriminator: d })) as [
      PlatformEvent,
      PlatformEvent,
      PlatformEvent,
    ];
    p.publish(a);
    await new Promise((r) => setTimeout(r, 10)); // a's timer fired: a is in flight, held by the gate
    p.publish(b);
    p.publish(c); // full: b is dropped, not a
    release();
    await until('delivered', () => p.depth === 0);
    expect(sentRuns(producer)).toEqual([idOf(a), idOf(c)]);
    expect(await metric(registry, 'ymera_kafka_events_dropped_total', { reason: 'overflow' })).toBe(1);
    expect(await metric(registry, 'ymera_kafka_events_published_total')).toBe(2);
    await p.close(100);
  });
});
