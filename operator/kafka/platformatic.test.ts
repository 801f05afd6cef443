// Error mapping, fed with the library's own error classes built the way its
// clients build them (see the shapes logged against a real broker in
// test/e2e/kafka.e2e.test.ts).
import {
  MultipleErrors,
  NetworkError,
  ProtocolError,
  ResponseError,
  TimeoutError,
  UserError,
} from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { KafkaRequestError, KafkaUnavailableError, asKafkaError } from './client.ts';
import { classifyKafkaError, createKafkaClients, withTimeout } from './platformatic.ts';

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), {
    code: 'ECONNREFUSED',
    syscall: 'connect',
  });

// What Admin.listTopics rejects with when no broker listens.
const brokerDown = () =>
  new MultipleErrors('Listing topics failed.', [
    new MultipleErrors('metadata failed 2 times.', [
      new MultipleErrors('Cannot connect to any broker.', [
        new NetworkError('Connection to 127.0.0.1:9092 failed.', { cause: refused() }),
      ]),
    ]),
  ]);

// What a request rejects with when the broker answers with an error code.
const answered = (code: number, serverMessage: string | null = null) =>
  new MultipleErrors('Creating topics failed.', [
    new ResponseError(19, 7, { '/topics/0': [code, serverMessage] }, {}),
  ]);

describe('classifyKafkaError', () => {
  it('maps a refused connection deep in the tree to KafkaUnavailableError with the socket message', () => {
    const e = classifyKafkaError(brokerDown());
    expect(e).toBeInstanceOf(KafkaUnavailableError);
    expect(e.message).toBe('connect ECONNREFUSED 127.0.0.1:9092');
  });

  it('maps library timeouts and network errors to KafkaUnavailableError', () => {
    expect(classifyKafkaError(new TimeoutError('Request timed out after 5000ms'))).toBeInstanceOf(
      KafkaUnavailableError,
    );
    expect(classifyKafkaError(new NetworkError('Connection closed'))).toBeInstanceOf(KafkaUnavailableError);
  });

  it('maps errors Kafka marks retriable (NOT_CONTROLLER) to KafkaUnavailableError', () => {
    expect(classifyKafkaError(answered(41))).toBeInstanceOf(KafkaUnavailableError);
  });

  it('maps a definite answer to KafkaRequestError with the Kafka error name', () => {
    const exists = classifyKafkaError(answered(36));
    expect(exists).toBeInstanceOf(KafkaRequestError);
    expect((exists as KafkaRequestError).kafkaCode).toBe('TOPIC_ALREADY_EXISTS');

    const invalid = classifyKafkaError(answered(40, 'Invalid value abc for configuration retention.ms'));
    expect((invalid as KafkaRequestError).kafkaCode).toBe('INVALID_CONFIG');
    expect(invalid.message).toBe('INVALID_CONFIG: Invalid value abc for configuration retention.ms');
  });

  it('treats an unknown topic as an answer even though Kafka marks it retriable', () => {
    // after the library's own retry: two response errors for one request
    const e = classifyKafkaError(
      new MultipleErrors('Deleting topics failed.', [
        new MultipleErrors('deleteTopics failed 2 times.', [answered(3), answered(3)]),
      ]),
    );
    expect((e as KafkaRequestError).kafkaCode).toBe('UNKNOWN_TOPIC_OR_PARTITION');
  });

  it('prefers an answer over a network error in the same tree', () => {
    const e = classifyKafkaError(
      new MultipleErrors('x', [new NetworkError('Connection closed'), answered(38)]),
    );
    expect((e as KafkaRequestError).kafkaCode).toBe('INVALID_REPLICATION_FACTOR');
  });

  it('maps library-side refusals to KafkaRequestError with the library code', () => {
    const e = classifyKafkaError(new UserError('Unknown topic nope.'));
    expect(e).toBeInstanceOf(KafkaRequestError);
    expect((e as KafkaRequestError).kafkaCode).toBe('PLT_KFK_USER');
    expect(e.message).toBe('Unknown topic nope.');
  });

  it('passes already mapped errors through and wraps plain ones', () => {
    const mapped = new KafkaUnavailableError('x');
    expect(classifyKafkaError(mapped)).toBe(mapped);
    expect(classifyKafkaError(new ProtocolError('POLICY_VIOLATION'))).toBeInstanceOf(KafkaRequestError);
    expect(asKafkaError(new TypeError('bug'))).toMatchObject({ kafkaCode: 'UNKNOWN', message: 'bug' });
  });
});

describe('withTimeout', () => {
  it('rejects with KafkaUnavailableError when the call hangs', async () => {
    const hang = new Promise<never>(() => {});
    await expect(withTimeout(hang, 20, 'kafka listTopics')).rejects.toThrow(
      new KafkaUnavailableError('kafka listTopics timed out after 20ms'),
    );
  });

  it('passes a result through', async () => {
    await expect(withTimeout(Promise.resolve(3), 1000, 'x')).resolves.toBe(3);
  });
});

describe('createKafkaClients', () => {
  it('refuses an empty broker list', () => {
    expect(() => createKafkaClients({ brokers: [] })).toThrow(/no brokers/);
  });
});
