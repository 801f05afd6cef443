import { describe, expect, it } from 'vitest';
import { DEFAULT_TOPIC_POLICY } from '../../operator/kafka/topic-policy.ts';
import type { TopicSpec } from '../../operator/kafka/topics.ts';
import { createdTopicsOf, legacyAdopted, topicsNeedFinalizer, withLegacyAdoption } from './topics.ts';

const t = (name: string, extra: Partial<TopicSpec> = {}): TopicSpec => ({ name, partitions: 1, ...extra });
const need = (topics: TopicSpec[], created: string[], annotations?: Record<string, string>) =>
  topicsNeedFinalizer(DEFAULT_TOPIC_POLICY, 'ml', annotations, topics, created);

describe('topicsNeedFinalizer', () => {
  it('is true only while deleting the resource would delete a topic', () => {
    expect(need([], [])).toBe(false);
    expect(need([t('ml.logs')], [])).toBe(false); // not created (yet): nothing to clean up
    expect(need([t('ml.logs')], ['ml.logs'])).toBe(true);
    expect(need([t('ml.logs', { deletionPolicy: 'Retain' })], ['ml.logs'])).toBe(false);
    expect(need([t('ml.logs', { adopt: true })], [])).toBe(false);
    expect(need([t('ml.logs', { adopt: true, deletionPolicy: 'Delete' })], [])).toBe(true);
  });

  it('is false for forbidden names and for resources that opted out of Kafka management', () => {
    expect(need([t('other.logs', { adopt: true, deletionPolicy: 'Delete' })], ['other.logs'])).toBe(false);
    expect(need([t('ml.logs')], ['ml.logs'], { 'ymera.io/kafka-managed': 'false' })).toBe(false);
  });
});

describe('createdTopicsOf', () => {
  it('reads status.createdTopics defensively', () => {
    const obj = (status: unknown) => ({ apiVersion: 'v', kind: 'K', metadata: { name: 'n' }, status });
    expect(createdTopicsOf(obj({ createdTopics: ['a', 1, 'b'] }))).toEqual(['a', 'b']);
    expect(createdTopicsOf(obj(undefined))).toEqual([]);
    expect(createdTopicsOf(obj({ createdTopics: 'a' }))).toEqual([]);
  });
});

describe('withLegacyAdoption', () => {
  const obj = (status: unknown) => ({ apiVersion: 'v', kind: 'K', metadata: { name: 'n' }, status });
  const ready = { conditions: [{ type: 'KafkaReady', status: 'True' }] };

  it('treats topics in sync before createdTopics existed as adopted (kept on delete, not TopicExists)', () => {
    expect(withLegacyAdoption(obj(ready), [t('ml.a'), t('ml.b', { adopt: false })])).toEqual([
      t('ml.a', { adopt: true }),
      t('ml.b', { adopt: false }),
    ]);
  });

  it('changes nothing once there is a record, or when Kafka was never in sync', () => {
    expect(withLegacyAdoption(obj({ ...ready, createdTopics: [] }), [t('ml.a')])).toEqual([t('ml.a')]);
    expect(
      withLegacyAdoption(obj({ conditions: [{ type: 'KafkaReady', status: 'False' }] }), [t('ml.a')]),
    ).toEqual([t('ml.a')]);
    expect(withLegacyAdoption(obj(undefined), [t('ml.a')])).toEqual([t('ml.a')]);
  });

  it('keeps a recorded adoption when KafkaReady later turns False (an outage must not stall it with TopicExists)', () => {
    const outage = { conditions: [{ type: 'KafkaReady', status: 'False' }], adoptedTopics: ['ml.a'] };
    expect(withLegacyAdoption(obj(outage), [t('ml.a'), t('ml.c')])).toEqual([
      t('ml.a', { adopt: true }),
      t('ml.c'),
    ]);
    expect(legacyAdopted(obj(ready), ['ml.a', 'ml.b'])).toEqual(['ml.a', 'ml.b']);
    expect(legacyAdopted(obj(outage), ['ml.a', 'ml.b'])).toEqual(['ml.a']);
  });
});
