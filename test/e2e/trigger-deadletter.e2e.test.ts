// LearningPipeline Kafka triggers with a declared JSON Schema, through the
// operator process, the real API server and the real broker: an event that
// is not JSON and one that fails the schema land in the dead-letter topic
// with their reason and original headers (counted in the metric), the next
// good event still starts exactly one run, and the group commits past all of
// them; an unusable schema, or a dead-letter topic of another namespace,
// Stalls the pipeline with a message naming the field.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import type { KafkaClients } from '../../operator/kafka/platformatic.ts';
import {
  createKafkaClients,
  groupCommittedOffsets,
  readTopic,
  topicEndOffsets,
} from '../../operator/kafka/platformatic.ts';
import { consumerGroupId } from '../../operator/kafka/trigger-filter.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventually,
  freshNamespace,
  getJson,
  kafkaBrokers,
  kubectl,
  kubectlOk,
  startOperator,
} from './support.ts';

interface Run {
  id: string;
  trigger: string;
  cause?: string;
  phase: string;
}
interface Pipeline {
  metadata: { name: string; uid: string; generation?: number };
  status?: { observedGeneration?: number; runs?: Run[]; conditions?: Condition[] };
}

const unique = randomUUID().slice(0, 8);
let ns: string;
let op: OperatorProcess;
let kafka: KafkaClients;
const topics: string[] = [];

const getPipeline = (name: string) =>
  getJson<Pipeline>(['get', '-n', ns, `learningpipeline.ymera.io/${name}`]);
const condition = (p: Pipeline | undefined, type: string) =>
  p?.status?.conditions?.find((c) => c.type === type);

const driftSchema = {
  type: 'object',
  required: ['type', 'model'],
  properties: {
    type: { const: 'drift' },
    model: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
  },
};

/** A one-step pipeline on S3 artifacts (kwok pods succeed after ~2 s). */
function pipeline(name: string, kafkaTrigger: Record<string, unknown>) {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'LearningPipeline',
    metadata: { name, namespace: ns },
    spec: {
      // the run on creation must not make the event's run wait or be skipped
      concurrencyPolicy: 'Allow',
      artifacts: {
        s3: {
          endpoint: 'http://127.0.0.1:9000',
          bucket: 'ymera-artifacts',
          prefix: `e2e/${name}`,
          forcePathStyle: true,
        },
      },
      triggers: { kafka: kafkaTrigger },
      steps: [{ name: 'a', image: 'busybox' }],
    },
  };
}

async function metric(text: string): Promise<number | undefined> {
  const body = await (await fetch(op.metricsUrl)).text();
  const line = body.split('\n').find((l) => l.startsWith(text));
  return line === undefined ? undefined : Number(line.slice(text.length).trim());
}

beforeAll(async () => {
  ns = await freshNamespace('e2e-dlq');
  kafka = createKafkaClients({ brokers: kafkaBrokers(), clientId: 'ymera-e2e-dlq', timeoutMs: 5_000 });
  // exactly one topic of another team granted (not its <topic>.dlq)
  op = await startOperator(`op-dlq-${unique}`, [
    `--watch-namespaces=${ns}`,
    `--kafka-topic-allow=${ns}=shared-${unique}.drift`,
  ]);
});

afterAll(async () => {
  if (ns) await kubectl(['delete', 'learningpipelines', '--all', '-n', ns, '--wait=true', '--timeout=60s']);
  await op?.stop();
  for (const t of topics) await kafka?.admin.deleteTopic(t).catch(() => undefined);
  await kafka?.close();
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('LearningPipeline trigger schema and dead-letter topic', () => {
  it('dead-letters a malformed event and one failing the schema, with reason and headers, while the next good event starts a run', async () => {
    const topic = `${ns}.drift-${unique}`;
    const dlq = `${topic}.dlq`;
    topics.push(topic, dlq);
    await kafka.admin.createTopic({ name: topic, partitions: 1, replicationFactor: 1 });
    // the schema from a ConfigMap of the pipeline's own namespace
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'drift-schema', namespace: ns },
          data: { 'schema.json': JSON.stringify(driftSchema) },
        },
      ]),
    );
    const name = 'validated';
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        pipeline(name, {
          topic,
          filter: { type: 'drift' },
          schema: { configMapKeyRef: { name: 'drift-schema', key: 'schema.json' } },
        }),
      ]),
    );
    const ready = await eventually('the trigger to listen with its dead-letter topic', async () => {
      const p = await getPipeline(name);
      return condition(p, 'TriggerReady')?.status === 'True' &&
        condition(p, 'DeadLetterReady')?.status === 'True'
        ? p
        : undefined;
    });
    expect(condition(ready, 'DeadLetterReady')?.message).toContain(dlq);

    await kafka.producer.send(topic, [
      { key: 'k1', value: '{"type":"drift", oops', headers: { traceparent: `00-${unique}-01` } },
      { key: 'k2', value: JSON.stringify({ type: 'drift' }), headers: { origin: 'e2e' } },
      { key: 'k3', value: JSON.stringify({ type: 'drift', model: { name: 'fraud' } }) },
    ]);

    // the good event (offset 2) starts a run although the two before it were rejected
    const run = await eventually(
      'the good event to start a run that finishes',
      async () => {
        const runs = (await getPipeline(name))?.status?.runs ?? [];
        const r = runs.find((x) => x.trigger === 'Event');
        return r && r.phase === 'Succeeded' ? r : undefined;
      },
      120_000,
    );
    expect(run.cause).toBe(`message ${topic}/0@2`);

    const letters = await eventually('both rejected events in the dead-letter topic', async () => {
      const read = await readTopic({ brokers: kafkaBrokers(), topic: dlq, timeoutMs: 10_000 }).catch(
        () => [],
      );
      return read.length >= 2 ? read : undefined;
    });
    expect(letters).toHaveLength(2);
    const [malformed, invalid] = letters;
    expect(malformed).toMatchObject({
      key: 'k1',
      value: '{"type":"drift", oops',
      headers: {
        traceparent: `00-${unique}-01`,
        'ymera.dlq.reason-class': 'malformed',
        'ymera.dlq.reason': 'event value is not valid JSON',
        'ymera.dlq.original-topic': topic,
        'ymera.dlq.original-partition': '0',
        'ymera.dlq.original-offset': '0',
        'ymera.dlq.pipeline': `${ns}/${name}`,
      },
    });
    expect(invalid).toMatchObject({
      key: 'k2',
      value: JSON.stringify({ type: 'drift' }),
      headers: {
        origin: 'e2e',
        'ymera.dlq.reason-class': 'schema',
        'ymera.dlq.reason': "event must have required property 'model'",
        'ymera.dlq.original-offset': '1',
      },
    });

    // nothing is left behind: the group commits past all three
    const end = await topicEndOffsets(kafkaBrokers(), topic);
    const uid = (await getPipeline(name))?.metadata.uid ?? '';
    await eventually('the trigger group to commit past the dead letters and the run', async () => {
      const committed = await groupCommittedOffsets(kafkaBrokers(), consumerGroupId(ns, name, uid), topic);
      return [...end].every(([p, o]) => (committed.get(p) ?? -1n) >= o);
    });
    const labels = `namespace="${ns}",pipeline="${name}",trigger="${topic}"`;
    await eventually('the dead letters counted by reason class', async () => {
      const m = await metric(`ymera_trigger_dead_letters_total{${labels},reason="malformed"}`);
      const s = await metric(`ymera_trigger_dead_letters_total{${labels},reason="schema"}`);
      return m === 1 && s === 1;
    });
    const runs = (await getPipeline(name))?.status?.runs ?? [];
    expect(runs.filter((r) => r.trigger === 'Event')).toHaveLength(1);
  });

  it('keeps a trigger on an exactly granted topic consuming when its default dead-letter topic is not granted', async () => {
    const topic = `shared-${unique}.drift`;
    topics.push(topic);
    await kafka.admin.createTopic({ name: topic, partitions: 1, replicationFactor: 1 });
    const name = 'granted-topic';
    await kubectlOk(['apply', '-f', '-'], toYaml([pipeline(name, { topic, filter: { type: 'drift' } })]));
    const listening = await eventually('the trigger to listen without a dead-letter topic', async () => {
      const p = await getPipeline(name);
      return condition(p, 'TriggerReady')?.status === 'True' &&
        condition(p, 'DeadLetterReady')?.reason === 'TopicNotAllowed' &&
        p?.status?.observedGeneration === p?.metadata.generation
        ? p
        : undefined;
    });
    expect(condition(listening, 'Stalled')?.status).not.toBe('True');
    const dl = condition(listening, 'DeadLetterReady');
    expect(dl?.status).toBe('False');
    expect(dl?.message).toContain(`the default dead-letter topic "${topic}.dlq" is not allowed`);
    expect(dl?.message).toContain(`${ns}=${topic}.dlq with --kafka-topic-allow`);
    await kafka.producer.send(topic, [
      { key: 'k', value: JSON.stringify({ type: 'drift', model: { name: 'm' } }) },
    ]);
    const run = await eventually(
      'the event to start a run',
      async () => (await getPipeline(name))?.status?.runs?.find((r) => r.trigger === 'Event'),
      60_000,
    );
    expect(run.cause).toBe(`message ${topic}/0@0`);
  });

  it('stalls on an invalid schema or a dead-letter topic of another namespace, naming the field', async () => {
    const topic = `${ns}.stall-${unique}`;
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        pipeline('bad-schema', { topic, schema: { inline: { type: 'objekt' } } }),
        pipeline('missing-schema', { topic, schema: { configMapKeyRef: { name: 'nope', key: 's.json' } } }),
        pipeline('foreign-dlq', { topic, deadLetter: { topic: 'other-team.rejects' } }),
      ]),
    );
    const stalled = (name: string) =>
      eventually(`${name} to stall`, async () => {
        const p = await getPipeline(name);
        const c = condition(p, 'Stalled');
        return c?.status === 'True' && p?.status?.observedGeneration === p?.metadata.generation
          ? c
          : undefined;
      });
    const bad = await stalled('bad-schema');
    expect(bad.reason).toBe('InvalidSchema');
    expect(bad.message).toMatch(/^spec\.triggers\.kafka\.schema\.inline: invalid JSON Schema: /);
    const missing = await stalled('missing-schema');
    expect(missing.reason).toBe('SchemaNotFound');
    expect(missing.message).toBe(
      `spec.triggers.kafka.schema.configMapKeyRef: ConfigMap ${ns}/nope does not exist`,
    );
    const foreign = await stalled('foreign-dlq');
    expect(foreign.reason).toBe('TopicNotAllowed');
    expect(foreign.message).toContain('spec.triggers.kafka.deadLetter.topic: topic "other-team.rejects"');
    // and admission refuses a schema given twice
    const both = await kubectl(
      ['apply', '-f', '-'],
      toYaml([
        pipeline('both', {
          topic,
          schema: { inline: driftSchema, configMapKeyRef: { name: 'drift-schema', key: 'schema.json' } },
        }),
      ]),
    );
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('set exactly one of inline or configMapKeyRef');
  });
});
