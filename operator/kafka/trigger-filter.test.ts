import { describe, expect, it } from 'vitest';
import { consumerGroupId, matchesFilter, parsePayload, triggerEventOf } from './trigger-filter.ts';

const ce = (extra: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id: 'evt-1',
  source: '/monitors/drift',
  type: 'com.acme.alert',
  time: '2026-03-01T10:00:00Z',
  data: { type: 'drift', model: { name: 'fraud', version: 3 } },
  ...extra,
});

describe('parsePayload', () => {
  it('parses JSON and gives undefined for anything else', () => {
    expect(parsePayload('{"a":1}')).toEqual({ a: 1 });
    expect(parsePayload('42')).toBe(42);
    expect(parsePayload('not json')).toBeUndefined();
    expect(parsePayload('')).toBeUndefined();
    expect(parsePayload(undefined)).toBeUndefined();
  });
});

describe('matchesFilter', () => {
  it('matches everything with an empty or absent filter, non-JSON payloads included', () => {
    for (const payload of [undefined, null, 'text', 7, [], { a: 1 }]) {
      expect(matchesFilter(payload, undefined)).toBe(true);
      expect(matchesFilter(payload, {})).toBe(true);
    }
  });

  it('never matches a payload that is not a JSON object when the filter is not empty', () => {
    for (const payload of [undefined, null, 'drift', 7, true, ['drift']]) {
      expect(matchesFilter(payload, { type: 'drift' })).toBe(false);
    }
  });

  it('compares top-level and dotted-path fields by their string form', () => {
    const payload = { type: 'drift', model: { name: 'fraud', version: 3, live: true }, n: null };
    expect(matchesFilter(payload, { type: 'drift' })).toBe(true);
    expect(matchesFilter(payload, { 'model.name': 'fraud' })).toBe(true);
    expect(matchesFilter(payload, { 'model.version': '3' })).toBe(true);
    expect(matchesFilter(payload, { 'model.live': 'true' })).toBe(true);
    expect(matchesFilter(payload, { type: 'drift', 'model.name': 'fraud' })).toBe(true);
  });

  it('requires every entry and an exact match', () => {
    const payload = { type: 'drift', model: { name: 'fraud', tags: ['a'] }, n: null };
    expect(matchesFilter(payload, { type: 'drift', 'model.name': 'churn' })).toBe(false);
    expect(matchesFilter(payload, { type: 'Drift' })).toBe(false);
    expect(matchesFilter(payload, { type: 'drift ' })).toBe(false);
    expect(matchesFilter(payload, { 'model.missing': 'x' })).toBe(false);
    expect(matchesFilter(payload, { 'type.deeper': 'drift' })).toBe(false);
    // objects, arrays and null have no string form to compare
    expect(matchesFilter(payload, { model: '[object Object]' })).toBe(false);
    expect(matchesFilter(payload, { 'model.tags': 'a' })).toBe(false);
    expect(matchesFilter(payload, { n: 'null' })).toBe(false);
  });

  it('does not follow inherited properties', () => {
    expect(matchesFilter({}, { constructor: 'x' })).toBe(false);
    expect(matchesFilter({ a: {} }, { 'a.toString': 'x' })).toBe(false);
  });

  it('looks CloudEvent fields up on the envelope, then under data', () => {
    expect(matchesFilter(ce(), { type: 'com.acme.alert' })).toBe(true); // envelope
    expect(matchesFilter(ce(), { type: 'drift' })).toBe(true); // data
    expect(matchesFilter(ce(), { source: '/monitors/drift' })).toBe(true);
    expect(matchesFilter(ce(), { 'model.name': 'fraud', 'model.version': '3' })).toBe(true);
    expect(matchesFilter(ce(), { 'data.model.name': 'fraud' })).toBe(true); // explicit path
    expect(matchesFilter(ce(), { type: 'other' })).toBe(false);
    expect(matchesFilter(ce({ data: 'opaque' }), { 'model.name': 'fraud' })).toBe(false);
  });

  it('does not look under data of a payload that is not a CloudEvent', () => {
    expect(matchesFilter({ data: { type: 'drift' } }, { type: 'drift' })).toBe(false);
    expect(matchesFilter({ data: { type: 'drift' } }, { 'data.type': 'drift' })).toBe(true);
  });
});

describe('triggerEventOf', () => {
  const at = { topic: 'alerts', partition: 2, offset: 12345678901234567890n };

  it('identifies a CloudEvent by source and id, whatever its offset', () => {
    const value = JSON.stringify(ce());
    const first = triggerEventOf({ ...at, value });
    expect(first).toEqual({
      id: 'ce:/monitors/drift/evt-1',
      cause: 'event evt-1 (com.acme.alert) on alerts',
      topic: 'alerts',
      partition: 2,
      offset: '12345678901234567890',
      time: '2026-03-01T10:00:00Z',
    });
    const retry = triggerEventOf({ ...at, partition: 0, offset: 7n, value });
    expect(retry.id).toBe(first.id);
    expect(retry.offset).toBe('7');
  });

  it('accepts an already parsed payload', () => {
    expect(triggerEventOf({ ...at, value: 'ignored' }, ce()).id).toBe('ce:/monitors/drift/evt-1');
  });

  it('identifies other messages by their Kafka coordinates', () => {
    for (const value of ['{"type":"drift"}', 'plain text', undefined]) {
      expect(triggerEventOf({ ...at, offset: 42n, value, key: 'k' })).toEqual({
        id: 'kafka:alerts/2/42',
        cause: 'message alerts/2@42',
        topic: 'alerts',
        partition: 2,
        offset: '42',
      });
    }
  });

  it('falls back to Kafka coordinates for a CloudEvent without source or id', () => {
    expect(triggerEventOf({ ...at, offset: 1n, value: JSON.stringify(ce({ id: '' })) }).id).toBe(
      'kafka:alerts/2/1',
    );
    const noSource = ce();
    delete (noSource as Partial<typeof noSource>).source;
    expect(triggerEventOf({ ...at, offset: 1n, value: JSON.stringify(noSource) }).id).toBe(
      'kafka:alerts/2/1',
    );
  });

  it('leaves out type and time a CloudEvent does not have, and bounds the cause', () => {
    const bare = triggerEventOf({
      ...at,
      value: JSON.stringify({ specversion: '1.0', id: 'x', source: 's' }),
    });
    expect(bare.cause).toBe('event x on alerts');
    expect(bare).not.toHaveProperty('time');
    const long = triggerEventOf({ ...at, value: JSON.stringify(ce({ id: 'i'.repeat(1000) })) });
    expect(long.id).toBe(`ce:/monitors/drift/${'i'.repeat(1000)}`);
    expect(long.cause).toHaveLength(256);
    expect(long.cause.endsWith('…')).toBe(true);
  });
});

describe('consumerGroupId', () => {
  it('names the group after the pipeline and the first 8 chars of its uid', () => {
    expect(consumerGroupId('ml', 'fraud-train', '0123456789ab-cdef')).toBe(
      'ymera.lpipe.ml.fraud-train.01234567',
    );
  });

  it('differs for a re-created pipeline of the same name', () => {
    expect(consumerGroupId('ml', 'p', 'aaaaaaaa-1')).not.toBe(consumerGroupId('ml', 'p', 'bbbbbbbb-1'));
  });
});
