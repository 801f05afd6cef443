import { describe, expect, it } from 'vitest';
import { summarize } from '../conditions.ts';
import type { TopicDescription } from './client.ts';
import type { TopicClaim, TopicOutcome, TopicOwner, TopicSpec } from './topics.ts';
import {
  KAFKA_READY,
  UNMANAGED_MESSAGE,
  compareClaims,
  describeAction,
  diffConfigs,
  isKafkaManaged,
  kafkaReadyCondition,
  kafkaStalled,
  planTopic,
  resolveClaims,
  summarizeTopics,
  topicClaims,
  validateTopicSpec,
} from './topics.ts';

const spec = (over: Partial<TopicSpec> = {}): TopicSpec => ({
  name: 'ymera.logs.fraud',
  partitions: 3,
  replicationFactor: 1,
  config: { 'retention.ms': '86400000', 'cleanup.policy': 'delete' },
  ...over,
});

const observed = (over: Partial<TopicDescription> = {}): TopicDescription => ({
  name: 'ymera.logs.fraud',
  partitions: 3,
  replicationFactor: 1,
  configs: { 'retention.ms': '86400000', 'cleanup.policy': 'delete' },
  ...over,
});

describe('planTopic', () => {
  it('creates a missing topic with the spec as it is', () => {
    expect(planTopic(spec(), undefined)).toEqual({
      name: 'ymera.logs.fraud',
      actions: [
        {
          type: 'create',
          name: 'ymera.logs.fraud',
          partitions: 3,
          replicationFactor: 1,
          configs: { 'retention.ms': '86400000', 'cleanup.policy': 'delete' },
        },
      ],
    });
  });

  it('leaves the replication factor to the broker when the spec has none', () => {
    const plan = planTopic(spec({ replicationFactor: undefined, config: undefined }), undefined);
    expect(plan.actions).toEqual([{ type: 'create', name: 'ymera.logs.fraud', partitions: 3, configs: {} }]);
  });

  it('does nothing for a topic in sync', () => {
    expect(planTopic(spec(), observed())).toEqual({ name: 'ymera.logs.fraud', actions: [] });
  });

  it('adopts an existing topic: aligns configs and raises partitions, keeps the topic', () => {
    const plan = planTopic(
      spec({ partitions: 6 }),
      observed({ partitions: 2, configs: { 'segment.ms': '1000' } }),
    );
    expect(plan.problem).toBeUndefined();
    expect(plan.actions).toEqual([
      {
        type: 'alterConfigs',
        name: 'ymera.logs.fraud',
        set: { 'cleanup.policy': 'delete', 'retention.ms': '86400000' },
        delete: ['segment.ms'],
      },
      { type: 'createPartitions', name: 'ymera.logs.fraud', total: 6 },
    ]);
  });

  it('reverts drift: changed values are set back, configs the spec lacks are deleted', () => {
    const plan = planTopic(
      spec(),
      observed({
        configs: { 'retention.ms': '1000', 'cleanup.policy': 'delete', 'max.message.bytes': '2048' },
      }),
    );
    expect(plan.actions).toEqual([
      {
        type: 'alterConfigs',
        name: 'ymera.logs.fraud',
        set: { 'retention.ms': '86400000' },
        delete: ['max.message.bytes'],
      },
    ]);
  });

  it('increases partitions', () => {
    expect(planTopic(spec({ partitions: 5 }), observed()).actions).toEqual([
      { type: 'createPartitions', name: 'ymera.logs.fraud', total: 5 },
    ]);
  });

  it('reports a partition decrease as NotSupported and still reverts config drift', () => {
    const plan = planTopic(spec({ partitions: 1 }), observed({ configs: {} }));
    expect(plan.problem?.reason).toBe('NotSupported');
    expect(plan.problem?.message).toContain('has 3 partitions and the spec asks for 1');
    expect(plan.actions.map((a) => a.type)).toEqual(['alterConfigs']);
  });

  it('reports a replication factor change as NotSupported', () => {
    const plan = planTopic(spec({ replicationFactor: 3 }), observed());
    expect(plan.problem).toEqual({
      reason: 'NotSupported',
      message: expect.stringContaining('has replication factor 1 and the spec asks for 3'),
    });
    expect(plan.actions).toEqual([]);
  });

  it('accepts any replication factor when the spec does not set one', () => {
    expect(planTopic(spec({ replicationFactor: undefined }), observed({ replicationFactor: 3 }))).toEqual({
      name: 'ymera.logs.fraud',
      actions: [],
    });
  });

  it('names both problems when partitions shrink and the replication factor changes', () => {
    const plan = planTopic(spec({ partitions: 1, replicationFactor: 2 }), observed());
    expect(plan.problem?.message.split('; ')).toHaveLength(2);
  });

  it('plans nothing for an invalid spec', () => {
    const plan = planTopic(spec({ partitions: 0 }), undefined);
    expect(plan).toEqual({
      name: 'ymera.logs.fraud',
      actions: [],
      problem: {
        reason: 'InvalidSpec',
        message: expect.stringContaining('partitions must be an integer >= 1'),
      },
    });
  });
});

describe('validateTopicSpec', () => {
  it.each([
    [{ name: '' }, 'topic name'],
    [{ name: '..' }, 'topic name'],
    [{ name: 'has space' }, 'topic name'],
    [{ name: 'x'.repeat(250) }, 'topic name'],
    [{ partitions: 1.5 }, 'partitions'],
    [{ replicationFactor: 0 }, 'replicationFactor'],
    [{ config: { 'Bad Key': 'v' } }, 'config name'],
  ])('rejects %j', (over, field) => {
    expect(validateTopicSpec(spec(over as Partial<TopicSpec>))).toContain(field);
  });

  it('accepts a valid spec', () => {
    expect(validateTopicSpec(spec())).toBeUndefined();
  });
});

describe('diffConfigs', () => {
  it('is empty when equal and sorted otherwise', () => {
    expect(diffConfigs({ a: '1' }, { a: '1' })).toEqual({ set: {}, delete: [] });
    expect(diffConfigs({ b: '2', a: '1' }, { z: '0', c: '3' })).toEqual({
      set: { a: '1', b: '2' },
      delete: ['c', 'z'],
    });
  });
});

describe('describeAction', () => {
  it('describes each action', () => {
    expect(describeAction({ type: 'create', name: 't', partitions: 2, configs: {} })).toBe(
      'created topic t (2 partitions)',
    );
    expect(describeAction({ type: 'createPartitions', name: 't', total: 4 })).toBe(
      'raised partitions of t to 4',
    );
    expect(describeAction({ type: 'alterConfigs', name: 't', set: { a: '1' }, delete: ['b'] })).toBe(
      'set configs of t: a=1, -b',
    );
  });
});

describe('isKafkaManaged', () => {
  it('is false only for the explicit opt-out', () => {
    expect(isKafkaManaged(undefined)).toBe(true);
    expect(isKafkaManaged({})).toBe(true);
    expect(isKafkaManaged({ 'ymera.io/kafka-managed': 'true' })).toBe(true);
    expect(isKafkaManaged({ 'ymera.io/kafka-managed': 'false' })).toBe(false);
    expect(isKafkaManaged({ 'ymera.io/kafka-managed': ' False ' })).toBe(false);
  });
});

const claim = (name: string, uid: string, creationTimestamp?: string): TopicClaim => ({
  topic: 'shared',
  kind: 'InferenceService',
  namespace: 'ns',
  name,
  uid,
  ...(creationTimestamp ? { creationTimestamp } : {}),
});

describe('claims', () => {
  it('gives the topic to the oldest claimant', () => {
    const older = claim('old', 'uid-z', '2026-01-01T00:00:00Z');
    const newer = claim('new', 'uid-a', '2026-01-02T00:00:00Z');
    const resolved = resolveClaims([newer, older]).get('shared');
    expect(resolved?.owner).toBe(older);
    expect(resolved?.conflicting).toEqual([newer]);
  });

  it('breaks a creationTimestamp tie by uid', () => {
    const a = claim('a', 'uid-b', '2026-01-01T00:00:00Z');
    const b = claim('b', 'uid-a', '2026-01-01T00:00:00Z');
    expect(resolveClaims([a, b]).get('shared')?.owner).toBe(b);
    expect(compareClaims(a, b)).toBe(1);
  });

  it('ranks a claim without a timestamp after those with one', () => {
    const unsaved = claim('unsaved', 'uid-0');
    const saved = claim('saved', 'uid-9', '2026-01-01T00:00:00Z');
    expect(resolveClaims([unsaved, saved]).get('shared')?.owner).toBe(saved);
  });

  it('counts one resource claiming a topic twice once, and resolves topics independently', () => {
    const a = claim('a', 'uid-a', '2026-01-01T00:00:00Z');
    const other: TopicClaim = { ...a, topic: 'other' };
    const resolved = resolveClaims([a, { ...a }, other]);
    expect(resolved.get('shared')?.conflicting).toEqual([]);
    expect(resolved.get('other')?.owner).toEqual(other);
  });

  it('builds claims from a resource, none when it opted out', () => {
    const owner: TopicOwner = {
      kind: 'LearningPipeline',
      metadata: { name: 'p', namespace: 'ml', uid: 'u1', creationTimestamp: '2026-01-01T00:00:00Z' },
    };
    expect(topicClaims(owner, ['t1', 't1', 't2'])).toEqual([
      {
        topic: 't1',
        kind: 'LearningPipeline',
        namespace: 'ml',
        name: 'p',
        uid: 'u1',
        creationTimestamp: '2026-01-01T00:00:00Z',
      },
      {
        topic: 't2',
        kind: 'LearningPipeline',
        namespace: 'ml',
        name: 'p',
        uid: 'u1',
        creationTimestamp: '2026-01-01T00:00:00Z',
      },
    ]);
    const unmanaged = {
      ...owner,
      metadata: { ...owner.metadata, annotations: { 'ymera.io/kafka-managed': 'false' } },
    };
    expect(topicClaims(unmanaged, ['t1'])).toEqual([]);
  });
});

const outcome = (
  name: string,
  status: TopicOutcome['status'],
  message = `${name}: ${status}`,
): TopicOutcome => ({
  name,
  status,
  message,
  changes: [],
});

describe('summarizeTopics and conditions', () => {
  it('is Ready with a stable message when every topic is in sync', () => {
    const r = summarizeTopics([outcome('a', 'Ready'), outcome('b', 'Ready')]);
    expect(r.status).toBe('Ready');
    expect(r.message).toBe('Kafka topics a, b in sync');
    expect(kafkaReadyCondition(r)).toEqual({
      type: KAFKA_READY,
      status: 'True',
      reason: 'Reconciled',
      message: 'Kafka topics a, b in sync',
    });
    expect(kafkaStalled(r)).toBeNull();
  });

  it('takes the worst status and joins the messages of that status', () => {
    const r = summarizeTopics([
      outcome('a', 'NotSupported'),
      outcome('b', 'TopicConflict'),
      outcome('c', 'TopicConflict'),
    ]);
    expect(r.status).toBe('TopicConflict');
    expect(r.message).toBe('b: TopicConflict; c: TopicConflict');
    expect(kafkaReadyCondition(r)).toMatchObject({ status: 'False', reason: 'TopicConflict' });
    expect(kafkaStalled(r)).toEqual({ reason: 'TopicConflict', message: r.message });
  });

  it('maps NotSupported to Ready=False/NotSupported and Stalled', () => {
    const r = summarizeTopics([outcome('a', 'Ready'), outcome('b', 'NotSupported')]);
    expect(kafkaReadyCondition(r)).toMatchObject({
      status: 'False',
      reason: 'NotSupported',
      message: 'b: NotSupported',
    });
    // what a controller writes: Ready=False with the same reason, KafkaReady as an extra
    const conditions = summarize(
      { generation: 3, stalled: kafkaStalled(r), extra: [kafkaReadyCondition(r)] },
      [],
      new Date('2026-01-01T00:00:00Z'),
    );
    expect(conditions.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'NotSupported',
    });
    expect(conditions.find((c) => c.type === KAFKA_READY)).toMatchObject({
      status: 'False',
      observedGeneration: 3,
    });
  });

  it('reports KafkaUnavailable once, with the retry hint, and never as Stalled', () => {
    const down = 'Kafka is unavailable: connect ECONNREFUSED 127.0.0.1:9092';
    const r = summarizeTopics(
      [outcome('a', 'KafkaUnavailable', down), outcome('b', 'KafkaUnavailable', down)],
      {
        retryAfterMs: 7000,
      },
    );
    expect(r).toMatchObject({ status: 'KafkaUnavailable', message: down, retryAfterMs: 7000 });
    expect(kafkaReadyCondition(r)).toMatchObject({
      status: 'False',
      reason: 'KafkaUnavailable',
      message: down,
    });
    expect(kafkaStalled(r)).toBeNull();
  });

  it('summarizes the finalizer path as Deleted unless Kafka is down', () => {
    expect(
      summarizeTopics([outcome('a', 'Deleted'), outcome('b', 'Retained')], { deleting: true }).status,
    ).toBe('Deleted');
    expect(summarizeTopics([outcome('a', 'KafkaUnavailable')], { deleting: true }).status).toBe(
      'KafkaUnavailable',
    );
  });

  it('reads an unmanaged resource as KafkaReady=True with the reason in the message', () => {
    const c = kafkaReadyCondition({ status: 'Unmanaged', message: UNMANAGED_MESSAGE, topics: [] });
    expect(c).toMatchObject({ status: 'True', reason: 'Reconciled' });
    expect(c.message).toContain('ymera.io/kafka-managed');
  });

  it('says so when no topic is declared', () => {
    expect(summarizeTopics([])).toEqual({ status: 'Ready', message: 'No Kafka topics declared', topics: [] });
  });
});

describe('adopting an existing topic', () => {
  const observed = {
    name: 't',
    partitions: 1,
    replicationFactor: 1,
    configs: { 'segment.ms': '600000', 'retention.ms': '1000', 'cleanup.policy': 'compact' },
  };

  it('never removes configs the spec does not name, and only sets the named ones', () => {
    const plan = planTopic(
      { name: 't', partitions: 2, config: { 'retention.ms': '7200000' }, adopt: true },
      observed,
      { prune: false },
    );
    expect(plan.actions).toEqual([
      { type: 'alterConfigs', name: 't', set: { 'retention.ms': '7200000' }, delete: [] },
      { type: 'createPartitions', name: 't', total: 2 },
    ]);
    // nothing named differs: nothing to do, the rest stays
    expect(
      planTopic({ name: 't', partitions: 1, config: { 'segment.ms': '600000' } }, observed, { prune: false })
        .actions,
    ).toEqual([]);
    expect(diffConfigs({}, observed.configs, false)).toEqual({ set: {}, delete: [] });
  });

  it('removes unnamed configs of a topic the resource created (it owns all of it)', () => {
    expect(planTopic({ name: 't', partitions: 1 }, observed).actions).toEqual([
      { type: 'alterConfigs', name: 't', set: {}, delete: ['cleanup.policy', 'retention.ms', 'segment.ms'] },
    ]);
  });
});
