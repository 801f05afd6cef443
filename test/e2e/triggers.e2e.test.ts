// LearningPipeline Kafka trigger consumption (operator/kafka/triggers.ts)
// against the real single-node broker: filtering, ack-driven commits,
// redelivery of un-acked events, CloudEvent de-duplication, new groups
// starting at the end, topics created late, and a broker outage (last,
// since it stops the broker).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Consumer, MessagesStreamModes, stringDeserializers } from '@platformatic/kafka';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaUnavailableError } from '../../operator/kafka/client.ts';
import type { KafkaClients } from '../../operator/kafka/platformatic.ts';
import {
  consumeWithin,
  createKafkaClients,
  groupCommittedOffsets,
  listGroupIds,
  readTopic,
  topicEndOffsets,
} from '../../operator/kafka/platformatic.ts';
import type { TriggerEvent } from '../../operator/kafka/trigger-filter.ts';
import type { TriggerSubscription } from '../../operator/kafka/triggers.ts';
import { TriggerConsumers } from '../../operator/kafka/triggers.ts';
import { createLogger } from '../../operator/logger.ts';
import { eventually, repo } from './support.ts';

const kafkaSh = path.join(repo, 'test/e2e/stack/kafka.sh');
const kafka = (cmd: 'up' | 'down' | 'env') =>
  execFileSync('bash', [kafkaSh, cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], cwd: repo });

const run = randomUUID().slice(0, 8);
const topicName = (name: string) => `e2e-${run}-trig-${name}`;
const groupName = (name: string) => `ymera.lpipe.e2e.${name}.${run}`;

let brokers: string[];
let clients: KafkaClients;
let triggers: TriggerConsumers;
const notified: string[] = [];
const registry = new Registry();
const logLines: string[] = [];

beforeAll(async () => {
  kafka('up');
  const env = /YMERA_KAFKA_BROKERS=(\S+)/.exec(kafka('env'));
  brokers = (env?.[1] ?? '127.0.0.1:9092').split(',');
  clients = createKafkaClients({ brokers, clientId: 'ymera-e2e-triggers', timeoutMs: 10_000 });
  triggers = new TriggerConsumers({
    brokers,
    clientId: 'ymera-e2e-triggers',
    logger: createLogger({ level: 'debug', sink: { write: (l: string) => logLines.push(l) } }),
    onEvent: (key) => notified.push(key),
    retry: { baseMs: 200, maxMs: 2_000 },
    commitIntervalMs: 100,
    registry,
  });
}, 180_000);

afterAll(async () => {
  // TRIG_LOG=<file> keeps the consumers' log lines for diagnosis.
  if (process.env.TRIG_LOG) (await import('node:fs')).writeFileSync(process.env.TRIG_LOG, logLines.join(''));
  try {
    kafka('up'); // whatever happened above, leave a running broker behind
    await triggers?.close();
    for (const t of await clients.admin.listTopics()) {
      if (t.startsWith(`e2e-${run}-trig-`)) await clients.admin.deleteTopic(t);
    }
  } finally {
    await clients?.close();
  }
}, 120_000);

async function createTopic(name: string, partitions = 1): Promise<void> {
  await clients.admin.createTopic({ name, partitions });
  await eventually('topic visible', async () => (await clients.admin.listTopics()).includes(name), 15_000);
}

const send = (topic: string, ...values: unknown[]) =>
  clients.producer.send(
    topic,
    values.map((v) => ({ key: 'k', value: typeof v === 'string' ? v : JSON.stringify(v) })),
  );

const waitReady = (key: string, timeoutMs = 30_000) =>
  eventually(`${key} ready`, async () => triggers.state(key)?.ready, timeoutMs, 100);

/** Waits until the consumer has read every message now on its topic (so no extra one is still on its way). */
async function readUpToEnd(sub: TriggerSubscription): Promise<void> {
  const end = await topicEndOffsets(brokers, sub.topic);
  await eventually(
    `${sub.key} to read ${sub.topic} up to ${[...end].map(([p, o]) => `${p}@${o}`).join(',')}`,
    async () => {
      const read = triggers.positions(sub.key);
      return [...end].every(([p, o]) => o === 0n || (read.get(p) ?? -1n) >= o);
    },
    20_000,
    100,
  );
}

/** Waits until the consumer read all that is on its topic and `n` events are pending; returns them. */
async function pendingAfter(sub: TriggerSubscription, n: number): Promise<TriggerEvent[]> {
  await readUpToEnd(sub);
  return eventually(
    `${n} pending for ${sub.key}`,
    async () => {
      const pending = triggers.pending(sub.key);
      return pending.length >= n ? pending : undefined;
    },
    20_000,
    100,
  );
}

function subscription(name: string, filter?: Record<string, string>): TriggerSubscription {
  return {
    key: `e2e/${name}`,
    topic: topicName(name),
    groupId: groupName(name),
    ...(filter ? { filter } : {}),
  };
}

const drift = (n: number) => ({ type: 'drift', model: { name: 'fraud' }, n });

describe('Kafka trigger consumers against a real broker', () => {
  const main = subscription('main', { type: 'drift', 'model.name': 'fraud' });

  it('puts exactly the matching messages in pending, with ids, and notifies', async () => {
    await createTopic(main.topic);
    triggers.ensure(main);
    triggers.ensure(main); // idempotent
    expect(triggers.keys()).toEqual([main.key]);
    await waitReady(main.key);
    expect(triggers.state(main.key)?.message).toBe(
      `consuming Kafka topic ${main.topic} as group ${main.groupId}`,
    );

    await send(
      main.topic,
      drift(1),
      { type: 'drift', model: { name: 'churn' } },
      'not json',
      { type: 'other' },
      drift(2),
    );
    const pending = await pendingAfter(main, 2);
    expect(pending).toEqual([
      {
        id: `kafka:${main.topic}/0/0`,
        cause: `message ${main.topic}/0@0`,
        topic: main.topic,
        partition: 0,
        offset: '0',
      },
      {
        id: `kafka:${main.topic}/0/4`,
        cause: `message ${main.topic}/0@4`,
        topic: main.topic,
        partition: 0,
        offset: '4',
      },
    ]);
    expect(notified).toContain(main.key);
  });

  it('commits acked events: after a restart of the same group only the un-acked one comes back, with the same id', async () => {
    const [first, second] = triggers.pending(main.key);
    triggers.ack(main.key, first!.id);
    expect(triggers.pending(main.key)).toEqual([second]);

    await triggers.stop(main.key);
    expect(triggers.state(main.key)).toBeUndefined();
    expect(triggers.pending(main.key)).toEqual([]);
    triggers.ensure(main);
    await waitReady(main.key);
    expect(await pendingAfter(main, 1)).toEqual([second]); // at-least-once: redelivered

    // once it is acked too, a restart redelivers nothing; new events still arrive
    triggers.ack(main.key, second!.id);
    await triggers.stop(main.key);
    triggers.ensure(main);
    await waitReady(main.key);
    await send(main.topic, drift(3));
    expect((await pendingAfter(main, 1)).map((e) => e.offset)).toEqual(['5']);
  });

  it('restarts the consumer when the filter changes', async () => {
    triggers.ensure({ ...main, filter: { type: 'other' } });
    expect(triggers.state(main.key)?.ready).toBe(false);
    await waitReady(main.key);
    await send(main.topic, { type: 'other' }, drift(4));
    // offset 5 was not acked before the change, so it is read again and no longer matches
    expect((await pendingAfter(main, 1)).map((e) => e.offset)).toEqual(['6']);
    await triggers.stop(main.key);
  });

  it('keeps one pending entry for a CloudEvent produced twice, and acking it commits both copies', async () => {
    const sub = subscription('ce', { type: 'drift' });
    await createTopic(sub.topic);
    triggers.ensure(sub);
    await waitReady(sub.key);
    const event = {
      specversion: '1.0',
      id: 'alert-1',
      source: '/monitors/m1',
      type: 'com.acme.alert',
      time: '2026-03-01T10:00:00Z',
      datacontenttype: 'application/json',
      data: { type: 'drift' },
    };
    await send(sub.topic, event, event, { type: 'drift' });
    const pending = await pendingAfter(sub, 2);
    expect(pending).toEqual([
      {
        id: 'ce:/monitors/m1/alert-1',
        cause: `event alert-1 (com.acme.alert) on ${sub.topic}`,
        topic: sub.topic,
        partition: 0,
        offset: '0',
        time: '2026-03-01T10:00:00Z',
      },
      expect.objectContaining({ id: `kafka:${sub.topic}/0/2` }),
    ]);

    triggers.ack(sub.key, 'ce:/monitors/m1/alert-1');
    await triggers.stop(sub.key);
    triggers.ensure(sub);
    await waitReady(sub.key);
    expect((await pendingAfter(sub, 1)).map((e) => e.id)).toEqual([`kafka:${sub.topic}/0/2`]);
    await triggers.stop(sub.key);
  });

  it('starts a new group at the end of the topic, and keeps that position across a restart', async () => {
    const sub = subscription('fresh');
    await createTopic(sub.topic);
    await send(sub.topic, drift(1), drift(2));
    triggers.ensure(sub);
    await waitReady(sub.key);
    await readUpToEnd(sub);
    expect(triggers.pending(sub.key)).toEqual([]);
    // restarted before anything was acked: still nothing old, and the new event survives
    await send(sub.topic, drift(3));
    await pendingAfter(sub, 1);
    await triggers.stop(sub.key);
    triggers.ensure(sub);
    await waitReady(sub.key);
    expect((await pendingAfter(sub, 1)).map((e) => e.offset)).toEqual(['2']);
    await triggers.stop(sub.key);
  });

  it('waits for a topic that does not exist yet and picks it up once created', async () => {
    const sub = subscription('late');
    triggers.ensure(sub);
    const missing = await eventually(
      'missing topic reported',
      async () => {
        const s = triggers.state(sub.key);
        return s && !s.ready && s.message.includes('does not exist') ? s : undefined;
      },
      20_000,
      100,
    );
    expect(missing.message).toBe(`Kafka topic ${sub.topic} does not exist; waiting for it to be created`);

    await createTopic(sub.topic);
    await waitReady(sub.key);
    await send(sub.topic, 'plain text');
    expect((await pendingAfter(sub, 1)).map((e) => e.id)).toEqual([`kafka:${sub.topic}/0/0`]);
    await triggers.stop(sub.key);
  });

  it('deletes a consumer group after stop; an unknown group is a success', async () => {
    expect(await listGroupIds(brokers)).toContain(main.groupId); // it committed above
    await triggers.deleteGroup(main.groupId);
    await eventually(
      'the group to be gone from the broker',
      async () => !(await listGroupIds(brokers)).includes(main.groupId),
      15_000,
    );
    await triggers.deleteGroup(groupName('never-existed'));
    expect(await listGroupIds(brokers)).not.toContain(groupName('never-existed'));
  });

  it('holds the offset of a dead letter it cannot produce, says so, keeps consuming, and dead-letters it once it can', async () => {
    const base = {
      ...subscription('dlq-fail'),
      schema: { type: 'object', required: ['model'] },
    };
    // a name the broker refuses to create (over 249 characters): a real produce failure
    const refused = { ...base, deadLetterTopic: `${topicName('dlq-fail')}.${'x'.repeat(250)}` };
    await createTopic(base.topic);
    triggers.ensure(refused);
    await waitReady(refused.key);
    await send(base.topic, 'not json', drift(1));
    // the poison message does not stall the consumer: the good event behind it arrives
    const [good] = await pendingAfter(refused, 1);
    expect(good?.offset).toBe('1');
    triggers.ack(refused.key, good!.id);
    const failing = await eventually(
      'the dead-letter failure in the state',
      async () => {
        const s = triggers.state(refused.key);
        return s?.deadLetterError ? s : undefined;
      },
      20_000,
      100,
    );
    expect(failing.deadLetterError).toMatch(/^producing to dead-letter topic e2e-.*\.x+ failed: /);
    expect(failing.deadLetterBacklog).toBe(1);
    const failures = await registry.getSingleMetric('ymera_trigger_dead_letter_failures_total')?.get();
    expect(failures?.values.find((v) => v.labels.pipeline === 'dlq-fail')?.value).toBeGreaterThan(0);

    // a usable dead-letter topic: the restarted consumer reads the message again (its offset was
    // never committed past) and dead-letters it, and the group then commits past everything
    const dlq = topicName('dlq-fail-letters');
    triggers.ensure({ ...base, deadLetterTopic: dlq });
    await waitReady(base.key);
    const letters = await eventually(
      'the held message in the dead-letter topic',
      async () => {
        const read = await readTopic({ brokers, topic: dlq, timeoutMs: 5_000 }).catch(() => []);
        return read.length > 0 ? read : undefined;
      },
      30_000,
    );
    expect(
      letters.map((l) => [
        l.value,
        l.headers['ymera.dlq.original-offset'],
        l.headers['ymera.dlq.reason-class'],
      ]),
    ).toEqual([['not json', '0', 'malformed']]);
    expect(triggers.state(base.key)?.deadLetterError).toBeUndefined();
    // at-least-once: the good event, acked but not committed past, comes again (same id: same run)
    const [again] = await pendingAfter(base, 1);
    expect(again?.id).toBe(good?.id);
    triggers.ack(base.key, again!.id);
    const end = await topicEndOffsets(brokers, base.topic);
    await eventually('the group to commit past both', async () => {
      const committed = await groupCommittedOffsets(brokers, base.groupId, base.topic);
      return [...end].every(([p, o]) => (committed.get(p) ?? -1n) >= o);
    });
    const letters2 = await registry.getSingleMetric('ymera_trigger_dead_letters_total')?.get();
    expect(
      letters2?.values.find((v) => v.labels.pipeline === 'dlq-fail' && v.labels.reason === 'malformed')
        ?.value,
    ).toBe(1);
    await triggers.stop(base.key);
  });

  it('without an allowed dead-letter topic holds what it would dead-letter, and never dead-letters a dead letter again', async () => {
    const sub: TriggerSubscription = {
      ...subscription('dlq-off'),
      schema: { type: 'object', required: ['model'] },
      deadLetterOff: 'the default dead-letter topic is not allowed',
    };
    await createTopic(sub.topic);
    triggers.ensure(sub);
    await waitReady(sub.key);
    // offset 0: a dead letter read back that fails the schema again; 1: a malformed event; 2: a good one
    await clients.producer.send(sub.topic, [
      { key: 'k', value: 'not json', headers: { 'ymera.dlq.original-topic': 'elsewhere' } },
    ]);
    await send(sub.topic, 'not json', drift(2));
    const [good] = await pendingAfter(sub, 1);
    expect(good?.offset).toBe('2');
    // only the malformed event is held; the dead letter read back is not
    expect(triggers.state(sub.key)?.deadLetterBacklog).toBe(1);
    triggers.ack(sub.key, good!.id);
    // stop commits what was handled: past the dead letter (0), not past the held event (1)
    await triggers.stop(sub.key);
    const committed = await groupCommittedOffsets(brokers, sub.groupId, sub.topic);
    expect(committed.get(0)).toBe(1n);
    const loops = await registry.getSingleMetric('ymera_trigger_dead_letter_loops_total')?.get();
    expect(loops?.values.find((v) => v.labels.pipeline === 'dlq-off')?.value).toBe(1);
    // and nothing was produced anywhere
    expect(await clients.admin.listTopics()).not.toContain(`${sub.topic}.dlq`);
  });

  it('hands the error of a stream made for a consumer closed while it joined to the handler, not to the process', async () => {
    // The race behind an uncaught "Client is closed." that a broker outage
    // once raised: a teardown closes the consumer while its group join is in
    // flight, the join still makes the stream, and the stream fails on its
    // first tick. Closing from the join event makes that order certain.
    const topic = topicName('closed-mid-join');
    await createTopic(topic);
    const consumer = new Consumer<string, string, string, string>({
      clientId: 'ymera-e2e-triggers',
      groupId: groupName('closed-mid-join'),
      bootstrapBrokers: brokers,
      deserializers: stringDeserializers,
      autocommit: false,
    });
    consumer.on('error', () => undefined); // a failed rejoin must not end the test process
    const closing: Promise<void>[] = [];
    consumer.once('consumer:group:join', () => closing.push(consumer.close(true)));
    const errors: unknown[] = [];
    try {
      const stream = await consumeWithin(
        consumer,
        { topics: [topic], mode: MessagesStreamModes.LATEST, autocommit: false },
        30_000,
        'join',
        (e) => errors.push(e),
      );
      const seen = await eventually(
        'the stream error reached the handler',
        async () => errors[0],
        15_000,
        50,
      );
      expect(seen).toMatchObject({ message: expect.stringMatching(/closed/i) });
      expect(closing).toHaveLength(1);
      await eventually('the stream is destroyed', async () => stream.destroyed, 15_000, 50);
    } finally {
      await Promise.all(closing).catch(() => undefined);
      await consumer.close(true).catch(() => undefined);
    }
  });

  it('reports a broker outage, recovers by itself, and receives events produced after recovery', async () => {
    const sub = subscription('outage', { type: 'drift' });
    await createTopic(sub.topic);
    triggers.ensure(sub);
    await waitReady(sub.key);
    try {
      kafka('down');
      const down = await eventually(
        'not ready while the broker is down',
        async () => {
          const s = triggers.state(sub.key);
          return s && !s.ready ? s : undefined;
        },
        60_000,
        200,
      );
      expect(down.message).toMatch(/^Kafka is unavailable: /);
      await expect(triggers.deleteGroup(sub.groupId)).rejects.toBeInstanceOf(KafkaUnavailableError);
    } finally {
      kafka('up');
    }
    await waitReady(sub.key, 120_000);
    await eventually(
      'producer back',
      async () => {
        await send(sub.topic, drift(1));
        return true;
      },
      60_000,
      1_000,
    );
    const pending = await pendingAfter(sub, 1);
    expect(pending.length).toBeGreaterThanOrEqual(1);
    expect(pending.every((e) => e.topic === sub.topic)).toBe(true);
    expect(logLines.some((l) => l.includes('"msg":"trigger consumer failed; retrying"'))).toBe(true);
    await triggers.stop(sub.key);
  });
});
