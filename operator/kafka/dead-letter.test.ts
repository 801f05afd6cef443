import { describe, expect, it } from 'vitest';
import {
  DLQ_HEADER,
  PoisonTracker,
  classifyMessage,
  deadLetterRecord,
  deadLetterTopicOf,
  headersRecord,
  notAgain,
} from './dead-letter.ts';
import { compileEventSchema } from './event-schema.ts';

const compiled = compileEventSchema({ type: 'object', required: ['model'] });
if ('error' in compiled) throw new Error(compiled.error);
const validate = compiled.validate;

describe('classifyMessage', () => {
  it('without a schema behaves as a plain trigger: the filter decides, nothing is dead-lettered', () => {
    expect(classifyMessage('not json', undefined, undefined)).toEqual({ kind: 'match', payload: undefined });
    expect(classifyMessage('not json', { type: 'drift' }, undefined)).toEqual({ kind: 'skip' });
    expect(classifyMessage('{"type":"drift"}', { type: 'drift' }, undefined)).toEqual({
      kind: 'match',
      payload: { type: 'drift' },
    });
  });

  it('with a schema, dead-letters a value that is not JSON (or empty) as malformed, even when the filter could not select it', () => {
    expect(classifyMessage('{oops', { type: 'drift' }, validate)).toEqual({
      kind: 'dead',
      reason: { class: 'malformed', message: 'event value is not valid JSON' },
    });
    expect(classifyMessage(undefined, undefined, validate)).toEqual({
      kind: 'dead',
      reason: { class: 'malformed', message: 'event has no value' },
    });
  });

  it('with a schema, validates only what the filter selects', () => {
    expect(classifyMessage('{"type":"other"}', { type: 'drift' }, validate)).toEqual({ kind: 'skip' });
    expect(classifyMessage('{"type":"drift"}', { type: 'drift' }, validate)).toEqual({
      kind: 'dead',
      reason: { class: 'schema', message: "event must have required property 'model'" },
    });
    expect(classifyMessage('{"type":"drift","model":"m"}', { type: 'drift' }, validate)).toEqual({
      kind: 'match',
      payload: { type: 'drift', model: 'm' },
    });
  });

  it('never dead-letters a dead letter again (a trigger reading a dead-letter topic would loop forever)', () => {
    const headers = { [DLQ_HEADER.topic]: 'ns.drift', other: 'x' };
    expect(classifyMessage('{oops', undefined, validate, headers)).toEqual({
      kind: 'loop',
      origin: 'ns.drift',
      reason: { class: 'malformed', message: 'event value is not valid JSON' },
    });
    // a valid dead letter still triggers; only re-dead-lettering is refused
    expect(classifyMessage('{"model":"m"}', undefined, validate, headers)).toEqual({
      kind: 'match',
      payload: { model: 'm' },
    });
    // the processing path (handling threw too often) checks the same way
    const processing = { class: 'processing' as const, message: 'processing failed 3 times: boom' };
    expect(notAgain(processing, headers)).toEqual({ kind: 'loop', reason: processing, origin: 'ns.drift' });
    expect(notAgain(processing, { other: 'x' })).toEqual({ kind: 'dead', reason: processing });
  });
});

describe('deadLetterRecord', () => {
  it('keeps key, value and original headers, and adds reason and origin', () => {
    const record = deadLetterRecord(
      {
        topic: 'ns.in',
        partition: 2,
        offset: 41n,
        key: 'k',
        value: '{oops',
        headers: { traceparent: 't-1', [DLQ_HEADER.reason]: 'an older reason' },
      },
      { class: 'malformed', message: 'event value is not valid JSON' },
      'ns/pipe',
      new Date('2026-12-05T00:00:00Z'),
    );
    expect(record).toEqual({
      key: 'k',
      value: '{oops',
      headers: {
        traceparent: 't-1',
        'ymera.dlq.reason': 'event value is not valid JSON',
        'ymera.dlq.reason-class': 'malformed',
        'ymera.dlq.original-topic': 'ns.in',
        'ymera.dlq.original-partition': '2',
        'ymera.dlq.original-offset': '41',
        'ymera.dlq.pipeline': 'ns/pipe',
        'ymera.dlq.time': '2026-12-05T00:00:00.000Z',
      },
    });
  });

  it('defaults the topic to <topic>.dlq', () => {
    expect(deadLetterTopicOf('ns.in')).toBe('ns.in.dlq');
    expect(deadLetterTopicOf('ns.in', 'ns.rejects')).toBe('ns.rejects');
  });

  it('reads Kafka headers given as strings or buffers', () => {
    expect(
      headersRecord(
        new Map<unknown, unknown>([
          ['a', 'x'],
          [Buffer.from('b'), Buffer.from('y')],
        ]),
      ),
    ).toEqual({
      a: 'x',
      b: 'y',
    });
    expect(headersRecord(undefined)).toEqual({});
  });
});

describe('PoisonTracker', () => {
  it('gives a processing reason once a message failed maxAttempts times, and forgets it', () => {
    const t = new PoisonTracker();
    expect(t.exhausted(0, 5n, 3)).toBeUndefined();
    t.failed(0, 5n, 'boom');
    t.failed(0, 5n, 'boom');
    expect(t.exhausted(0, 5n, 3)).toBeUndefined();
    expect(t.failed(0, 5n, 'bang')).toBe(3);
    expect(t.exhausted(0, 5n, 3)).toEqual({
      class: 'processing',
      message: 'processing failed 3 times: bang',
    });
    expect(t.exhausted(1, 5n, 3)).toBeUndefined();
    t.forget(0, 5n);
    expect(t.exhausted(0, 5n, 3)).toBeUndefined();
  });

  it('is bounded: the oldest entry goes first', () => {
    const t = new PoisonTracker(2);
    t.failed(0, 1n, 'a');
    t.failed(0, 2n, 'b');
    t.failed(0, 3n, 'c');
    expect(t.exhausted(0, 1n, 1)).toBeUndefined();
    expect(t.exhausted(0, 3n, 1)).toBeDefined();
  });
});
