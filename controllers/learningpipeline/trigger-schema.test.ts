import { describe, expect, it } from 'vitest';
import { resolveTriggerSchema, triggerDeadLetterTopic, triggerTopics } from './trigger-schema.ts';

const schema = { type: 'object', required: ['model'] };

describe('resolveTriggerSchema', () => {
  it('has nothing to do without a schema', () => {
    expect(resolveTriggerSchema(undefined, undefined, 'ns')).toEqual({});
  });

  it('takes an inline schema, and stalls on an invalid one naming the field', () => {
    expect(resolveTriggerSchema({ inline: schema }, undefined, 'ns')).toEqual({ schema });
    const bad = resolveTriggerSchema({ inline: { type: 'objekt' } }, undefined, 'ns');
    expect(bad).toEqual({
      blocker: {
        reason: 'InvalidSchema',
        message: expect.stringMatching(
          /^spec\.triggers\.kafka\.schema\.inline: invalid JSON Schema: /,
        ) as unknown,
        transient: false,
      },
    });
  });

  it('reads a ConfigMap key, naming the field, the ConfigMap and the key when something is wrong', () => {
    const ref = { configMapKeyRef: { name: 'schemas', key: 'drift.json' } };
    expect(resolveTriggerSchema(ref, { data: { 'drift.json': JSON.stringify(schema) } }, 'ns')).toEqual({
      schema,
    });
    expect(resolveTriggerSchema(ref, undefined, 'ns')).toEqual({
      blocker: {
        reason: 'SchemaNotFound',
        message: 'spec.triggers.kafka.schema.configMapKeyRef: ConfigMap ns/schemas does not exist',
        transient: false,
      },
    });
    expect(resolveTriggerSchema(ref, { data: {} }, 'ns')).toEqual({
      blocker: {
        reason: 'SchemaNotFound',
        message: 'spec.triggers.kafka.schema.configMapKeyRef: ConfigMap ns/schemas has no key "drift.json"',
        transient: false,
      },
    });
    const notJson = resolveTriggerSchema(ref, { data: { 'drift.json': '{' } }, 'ns');
    expect('blocker' in notJson && notJson.blocker.reason).toBe('InvalidSchema');
    expect('blocker' in notJson && notJson.blocker.message).toMatch(
      /^spec\.triggers\.kafka\.schema\.configMapKeyRef: key "drift\.json" of ConfigMap ns\/schemas is not JSON/,
    );
    const invalid = resolveTriggerSchema(ref, { data: { 'drift.json': '{"type":7}' } }, 'ns');
    expect('blocker' in invalid && invalid.blocker.message).toMatch(
      /^spec\.triggers\.kafka\.schema\.configMapKeyRef: invalid JSON Schema/,
    );
  });

  it('says where the ConfigMap text is not JSON, never what it says (it may be a secret)', () => {
    const ref = { configMapKeyRef: { name: 'schemas', key: 'drift.json' } };
    const text = 'password: hunter2-very-secret';
    const r = resolveTriggerSchema(ref, { data: { 'drift.json': text } }, 'ns');
    expect(r).toEqual({
      blocker: {
        reason: 'InvalidSchema',
        message:
          'spec.triggers.kafka.schema.configMapKeyRef: key "drift.json" of ConfigMap ns/schemas is not JSON (position 0)',
        transient: false,
      },
    });
    const later = resolveTriggerSchema(
      ref,
      { data: { 'drift.json': '{"type": tru, "x": "hunter2"}' } },
      'ns',
    );
    expect('blocker' in later && later.blocker.message).toMatch(/ is not JSON \(position 12\)$/);
    expect(JSON.stringify(later)).not.toContain('hunter2');
  });
});

describe('triggerDeadLetterTopic', () => {
  it('is <topic>.dlq unless configured', () => {
    expect(triggerDeadLetterTopic({ topic: 'ns.drift' })).toBe('ns.drift.dlq');
    expect(triggerDeadLetterTopic({ topic: 'ns.drift', deadLetter: {} })).toBe('ns.drift.dlq');
    expect(triggerDeadLetterTopic({ topic: 'ns.drift', deadLetter: { topic: 'ns.bad' } })).toBe('ns.bad');
  });
});

describe('triggerTopics', () => {
  // the cluster admin granted exactly one topic of another team (--kafka-topic-allow team=shared.drift)
  const policy = { allow: { team: ['shared.drift'] } };

  it('keeps consuming when only the default dead-letter topic is not allowed, saying how to allow it', () => {
    const r = triggerTopics(policy, 'team', { topic: 'shared.drift' });
    expect(r).not.toHaveProperty('forbidden');
    expect(r).toEqual({
      deadLetterOff: expect.stringContaining('"shared.drift.dlq" is not allowed') as unknown,
    });
    const message = (r as { deadLetterOff: string }).deadLetterOff;
    expect(message).toContain('spec.triggers.kafka.deadLetter.topic');
    expect(message).toContain('--kafka-topic-allow');
    expect(message).toContain('team=shared.drift.dlq');
  });

  it('uses the default dead-letter topic when it is allowed', () => {
    expect(triggerTopics(policy, 'team', { topic: 'team.drift' })).toEqual({
      deadLetterTopic: 'team.drift.dlq',
    });
  });

  it('stalls on an explicit dead-letter topic that is not allowed, naming the field', () => {
    expect(
      triggerTopics(policy, 'team', { topic: 'shared.drift', deadLetter: { topic: 'other.dlq' } }),
    ).toEqual({
      forbidden: expect.stringMatching(
        /^spec\.triggers\.kafka\.deadLetter\.topic: topic "other\.dlq" is not allowed/,
      ) as unknown,
    });
    expect(
      triggerTopics(policy, 'team', { topic: 'shared.drift', deadLetter: { topic: 'team.dlq' } }),
    ).toEqual({
      deadLetterTopic: 'team.dlq',
    });
  });

  it('stalls on a trigger topic that is not allowed, naming the field', () => {
    expect(triggerTopics(policy, 'team', { topic: 'other.drift' })).toEqual({
      forbidden: expect.stringMatching(
        /^spec\.triggers\.kafka\.topic: topic "other\.drift" is not allowed/,
      ) as unknown,
    });
  });
});
