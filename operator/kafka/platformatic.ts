// KafkaAdmin and KafkaProducer on @platformatic/kafka (pure JavaScript, no
// native client). Every call is bounded by a timeout, passes through one
// circuit breaker per cluster, and its errors are mapped by
// classifyKafkaError onto KafkaUnavailableError / KafkaRequestError.
import {
  Admin,
  ConfigResourceTypes,
  ConfigSources,
  Consumer,
  IncrementalAlterConfigOperationTypes,
  ListOffsetTimestamps,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializer,
} from '@platformatic/kafka';
import type {
  ConsumeOptions,
  IncrementalAlterConfigsOptions,
  MessagesStream,
  Serializers,
} from '@platformatic/kafka';
import { randomUUID } from 'node:crypto';
import type { CircuitBreakerOptions, CircuitState } from '../backoff.ts';
import { CircuitBreaker } from '../backoff.ts';
import type { Logger } from '../logger.ts';
import type {
  ConfigChanges,
  KafkaAdmin,
  NewTopic,
  RawKafkaProducer,
  RawOutgoingMessage,
  TopicDescription,
} from './client.ts';
import { KafkaRequestError, KafkaUnavailableError } from './client.ts';

export type KafkaClientOptions = {
  /** Bootstrap brokers, "host:port". */
  brokers: readonly string[];
  clientId?: string;
  /** Upper bound of one operation, retries included; default 10s. */
  timeoutMs?: number;
  /** Default: open after 3 consecutive unavailability errors, one trial call after 10s. */
  breaker?: Omit<CircuitBreakerOptions, 'isFailure' | 'onStateChange'>;
  logger?: Logger;
};

export type KafkaClients = {
  admin: KafkaAdmin;
  producer: RawKafkaProducer;
  /** Shared by admin and producer: one outage state per cluster. */
  readonly breaker: CircuitBreaker;
  close(): Promise<void>;
};

// Node socket errors that mean "nobody answered", whatever wraps them.
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// Retriable by Kafka's own flag but a definite answer about the topic, not an outage.
const ANSWERS_DESPITE_RETRIABLE = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'UNKNOWN_TOPIC_ID']);

type ErrorNode = {
  code?: unknown;
  apiId?: unknown;
  canRetry?: unknown;
  message?: unknown;
  serverErrorMessage?: unknown;
};

/** Every error in a library error tree (AggregateError.errors and cause chains), outermost first. */
function errorNodes(error: unknown, out: ErrorNode[] = [], depth = 0): ErrorNode[] {
  if (error === null || typeof error !== 'object' || depth > 10 || out.length > 200) return out;
  out.push(error as ErrorNode);
  const nested = (error as { errors?: unknown }).errors;
  if (Array.isArray(nested)) for (const e of nested) errorNodes(e, out, depth + 1);
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined) errorNodes(cause, out, depth + 1);
  return out;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Maps any error from @platformatic/kafka (or a socket) onto the two error
 * classes callers handle. A broker's definite answer anywhere in the tree
 * wins (the request reached Kafka); otherwise network failures, timeouts and
 * errors Kafka marks retriable (NOT_CONTROLLER, LEADER_NOT_AVAILABLE, ...)
 * mean unavailable; anything else is a refused request.
 */
export function classifyKafkaError(error: unknown): KafkaUnavailableError | KafkaRequestError {
  if (error instanceof KafkaUnavailableError || error instanceof KafkaRequestError) return error;
  const nodes = errorNodes(error);
  const answer = nodes.find((n) => {
    const id = str(n.apiId);
    return id !== undefined && (n.canRetry !== true || ANSWERS_DESPITE_RETRIABLE.has(id));
  });
  if (answer) {
    const id = str(answer.apiId) as string;
    const detail = str(answer.serverErrorMessage) ?? str(answer.message) ?? id;
    return new KafkaRequestError(id, `${id}: ${detail}`, { cause: error });
  }
  const socket = nodes.find((n) => typeof n.code === 'string' && SOCKET_CODES.has(n.code));
  const network = nodes.find((n) => n.code === 'PLT_KFK_NETWORK' || n.code === 'PLT_KFK_TIMEOUT');
  const retriable = nodes.find((n) => str(n.apiId) !== undefined && n.canRetry === true);
  const outage = socket ?? network ?? retriable;
  if (outage) {
    const detail =
      socket !== undefined
        ? (str(socket.message) ?? String(socket.code))
        : (str(outage.serverErrorMessage) ?? str(outage.message) ?? 'no answer from Kafka');
    return new KafkaUnavailableError(detail, { cause: error });
  }
  // Library-side refusals (validation, unknown topic in metadata) carry a code, not an apiId.
  const deepest = [...nodes].reverse().find((n) => str(n.message) !== undefined);
  const code = str(nodes.find((n) => str(n.code) !== undefined)?.code) ?? 'UNKNOWN';
  const message = str(deepest?.message) ?? String(error);
  return new KafkaRequestError(code, message, { cause: error });
}

/** Rejects with KafkaUnavailableError when `promise` does not settle within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KafkaUnavailableError(`${what} timed out after ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * consumer.consume() bounded by `ms`, with `onError` listening on the stream
 * from the tick it is made. The stream computes its offsets on the next tick;
 * when the consumer was closed meanwhile (a teardown racing the group join)
 * that fails at once, and an 'error' with no listener yet is an uncaught
 * exception that ends the process. The promise form of consume() can only
 * attach listeners after that tick. A stream that arrives after the timeout
 * is closed, its errors still going to `onError`.
 */
export function consumeWithin<K, V, HK, HV>(
  consumer: Consumer<K, V, HK, HV>,
  options: ConsumeOptions<K, V, HK, HV>,
  ms: number,
  what: string,
  onError: (error: unknown) => void,
): Promise<MessagesStream<K, V, HK, HV>> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new KafkaUnavailableError(`${what} timed out after ${ms}ms`));
    }, ms);
    const done = (error: Error | null, stream?: MessagesStream<K, V, HK, HV>) => {
      stream?.on('error', onError);
      clearTimeout(timer);
      if (settled) {
        void stream?.close().catch(onError);
        return;
      }
      settled = true;
      if (stream) resolve(stream);
      else reject(error ?? new KafkaUnavailableError(`${what} returned no stream`));
    };
    try {
      consumer.consume(options, done);
    } catch (error) {
      done(error instanceof Error ? error : new Error(String(error)));
    }
  });
}

export function hostPort(broker: string): string {
  // The library wants "host:port"; tolerate a scheme someone copied from a URL.
  return broker.replace(/^[a-z]+:\/\//i, '');
}

/** Admin and producer for one Kafka cluster, sharing a circuit breaker. */
export function createKafkaClients(options: KafkaClientOptions): KafkaClients {
  if (options.brokers.length === 0) throw new Error('createKafkaClients: no brokers given');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const log = options.logger;
  const clientId = options.clientId ?? 'ymera-operator';
  const bootstrapBrokers = options.brokers.map(hostPort);
  // The library retries once, quickly; the breaker and the work queue do the rest.
  const base = {
    clientId,
    bootstrapBrokers,
    timeout: timeoutMs,
    requestTimeout: timeoutMs,
    connectTimeout: Math.min(timeoutMs, 3_000),
    retries: 1,
    retryDelay: 250,
  };
  let lastFailure = 'Kafka is unreachable';
  const breaker = new CircuitBreaker({
    failureThreshold: 3,
    coolDownMs: 10_000,
    ...options.breaker,
    isFailure: (e) => e instanceof KafkaUnavailableError,
    onStateChange: (from: CircuitState, to: CircuitState) => {
      const fields = { from, to, brokers: bootstrapBrokers, lastFailure };
      if (to === 'open') log?.warn('kafka circuit opened; calls fail fast until the next trial', fields);
      else log?.info('kafka circuit state changed', fields);
    },
  });

  async function call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (!breaker.allowRequest()) {
      // The last real failure, not "circuit open": keeps condition messages stable.
      throw new KafkaUnavailableError(lastFailure, { retryAfterMs: breaker.retryAfterMs() });
    }
    try {
      const result = await withTimeout(fn(), timeoutMs, `kafka ${op}`);
      breaker.recordSuccess();
      return result;
    } catch (error) {
      const mapped = classifyKafkaError(error);
      if (mapped instanceof KafkaUnavailableError) {
        lastFailure = mapped.message;
        breaker.recordFailure();
        log?.debug('kafka call failed: unavailable', { op, err: mapped.message });
      } else {
        // Kafka answered: the cluster is healthy even if it said no.
        breaker.recordSuccess();
      }
      throw mapped;
    }
  }

  const admin = new Admin(base);
  let producer: Producer<string | Buffer, string | Buffer, string, string | Buffer> | undefined;
  // The library de-duplicates concurrent createPartitions calls under one key
  // whatever the topic, so two topics at once would share one result.
  let partitionsChain: Promise<unknown> = Promise.resolve();

  const kafkaAdmin: KafkaAdmin = {
    listTopics: () => call('listTopics', () => admin.listTopics()),

    describeTopics: (names) =>
      call('describeTopics', async () => {
        const wanted = [...new Set(names)];
        const out = new Map<string, TopicDescription | undefined>(wanted.map((n) => [n, undefined]));
        // Listing first: asking metadata for an unknown topic fails the whole request.
        const all = new Set(await admin.listTopics());
        const existing = wanted.filter((n) => all.has(n));
        if (existing.length === 0) return out;
        const metadata = await admin.metadata({ topics: [...existing], forceUpdate: true });
        const configs = await admin.describeConfigs({
          resources: existing.map((n) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName: n })),
        });
        const byName = new Map(configs.map((c) => [c.resourceName, c.configs]));
        for (const name of existing) {
          const topic = metadata.topics.get(name);
          if (!topic) continue;
          const dynamic: Record<string, string> = {};
          for (const c of byName.get(name) ?? []) {
            if (c.configSource !== ConfigSources.DYNAMIC_TOPIC_CONFIG || c.isSensitive) continue;
            if (typeof c.value === 'string') dynamic[c.name] = c.value;
          }
          out.set(name, {
            name,
            partitions: topic.partitionsCount,
            replicationFactor: Math.max(0, ...topic.partitions.map((p) => p.replicas.length)),
            configs: dynamic,
          });
        }
        return out;
      }),

    createTopic: (topic: NewTopic) =>
      call('createTopic', async () => {
        await admin.createTopics({
          topics: [
            { topic: topic.name, partitions: topic.partitions, replicas: topic.replicationFactor ?? -1 },
          ],
          configs: Object.entries(topic.configs ?? {}).map(([name, value]) => ({ name, value })),
        });
      }),

    alterTopicConfigs: (name: string, changes: ConfigChanges) =>
      call('alterTopicConfigs', async () => {
        const configs: IncrementalAlterConfigsOptions['resources'][number]['configs'] = [
          ...Object.entries(changes.set ?? {}).map(([key, value]) => ({
            name: key,
            configOperation: IncrementalAlterConfigOperationTypes.SET,
            value,
          })),
          ...(changes.delete ?? []).map((key) => ({
            name: key,
            configOperation: IncrementalAlterConfigOperationTypes.DELETE,
          })),
        ];
        if (configs.length === 0) return;
        await admin.incrementalAlterConfigs({
          resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: name, configs }],
        });
      }),

    createPartitions: (name: string, total: number) => {
      const run = partitionsChain.then(() =>
        call('createPartitions', () => admin.createPartitions({ topics: [{ name, count: total }] })),
      );
      partitionsChain = run.catch(() => undefined);
      return run;
    },

    deleteTopic: (name: string) =>
      call('deleteTopic', async () => {
        try {
          await admin.deleteTopics({ topics: [name] });
        } catch (error) {
          const mapped = classifyKafkaError(error);
          // Already gone is what deletion wants.
          if (mapped instanceof KafkaRequestError && mapped.kafkaCode === 'UNKNOWN_TOPIC_OR_PARTITION')
            return;
          throw mapped;
        }
      }),
  };

  const kafkaProducer: RawKafkaProducer = {
    send: (topic: string, messages: readonly RawOutgoingMessage[]) =>
      call('send', async () => {
        if (messages.length === 0) return;
        producer ??= new Producer<string | Buffer, string | Buffer, string, string | Buffer>({
          ...base,
          serializers: bytesOrStringSerializers,
          acks: ProduceAcks.ALL,
          autocreateTopics: false,
        });
        await producer.send({
          messages: messages.map((m) => ({
            topic,
            value: m.value,
            ...(m.key !== undefined ? { key: m.key } : {}),
            ...(m.headers !== undefined ? { headers: m.headers } : {}),
          })),
        });
      }),
  };

  return {
    admin: kafkaAdmin,
    producer: kafkaProducer,
    breaker,
    async close() {
      await Promise.allSettled([admin.close(), producer?.close(true)]);
    },
  };
}

/** Strings as UTF-8, Buffers unchanged (the string serializers drop a Buffer). */
export function bytesOrString(data?: string | Buffer): Buffer | undefined {
  return Buffer.isBuffer(data) ? data : stringSerializer(data);
}

const bytesOrStringSerializers: Serializers<string | Buffer, string | Buffer, string, string | Buffer> = {
  key: bytesOrString,
  value: bytesOrString,
  headerKey: stringSerializer,
  headerValue: bytesOrString,
};

export type ConsumedMessage = {
  key: string | undefined;
  value: string;
  headers: Record<string, string>;
  partition: number;
  offset: bigint;
};

/** The next offset of every partition of a topic (its high watermarks), by partition. */
export async function topicEndOffsets(
  brokers: readonly string[],
  topic: string,
): Promise<Map<number, bigint>> {
  return listTopicOffsets(brokers, topic, ListOffsetTimestamps.LATEST);
}

async function listTopicOffsets(
  brokers: readonly string[],
  topic: string,
  timestamp: bigint,
): Promise<Map<number, bigint>> {
  const consumer = new Consumer<string, string, string, string>({
    clientId: 'ymera-reader',
    groupId: `ymera-reader-${randomUUID()}`,
    bootstrapBrokers: brokers.map(hostPort),
  });
  try {
    const offsets = await consumer.listOffsets({ topics: [topic], timestamp });
    return new Map((offsets.get(topic) ?? []).map((o, partition) => [partition, o]));
  } catch (e) {
    throw classifyKafkaError(e);
  } finally {
    await consumer.close(true);
  }
}

/**
 * Reads a topic with a throw-away consumer group (for tests and tooling; the
 * operator consumes through its trigger consumers, triggers.ts). It starts at
 * `from` (offsets by partition, e.g. topicEndOffsets recorded before an
 * action) or at the earliest offset. With `count` it waits until that many
 * messages arrived; without, it reads up to the end of every partition as of
 * the call, so a topic holding more messages than any fixed count (the
 * broker keeps data across runs) still yields its newest ones. Joining the
 * group and then reading are each bounded by `timeoutMs`.
 */
export async function readTopic(options: {
  brokers: readonly string[];
  topic: string;
  count?: number;
  from?: ReadonlyMap<number, bigint>;
  timeoutMs?: number;
}): Promise<ConsumedMessage[]> {
  const { brokers, topic, count, from } = options;
  // without a count, stop once every partition is read up to its end as of now
  const end = count === undefined ? await topicEndOffsets(brokers, topic) : undefined;
  const start =
    from || end
      ? await listTopicOffsets(brokers, topic, ListOffsetTimestamps.EARLIEST).then(
          (earliest) =>
            new Map(
              [...earliest].map(([p, o]) => {
                const f = from?.get(p);
                return [p, f !== undefined && f > o ? f : o] as const;
              }),
            ),
        )
      : undefined;
  const pending = new Set<number>();
  for (const [p, o] of end ?? []) if (o > (start?.get(p) ?? 0n)) pending.add(p);
  if (end && pending.size === 0) return [];
  const consumer = new Consumer<string, string, string, string>({
    clientId: 'ymera-reader',
    groupId: `ymera-reader-${randomUUID()}`,
    bootstrapBrokers: brokers.map(hostPort),
    deserializers: stringDeserializers,
    maxWaitTime: 200,
    autocommit: false,
  });
  const got: ConsumedMessage[] = [];
  const timeoutMs = options.timeoutMs ?? 15_000;
  let firstError: unknown;
  let failRead: ((error: unknown) => void) | undefined;
  const onError = (e: unknown) => {
    firstError ??= e;
    failRead?.(e);
  };
  // A failed rejoin is emitted on the consumer; unheard, it would end the process.
  consumer.on('error', onError);
  try {
    const stream = await consumeWithin(
      consumer,
      start
        ? {
            topics: [topic],
            mode: MessagesStreamModes.MANUAL,
            offsets: [...start].map(([partition, offset]) => ({ topic, partition, offset })),
            autocommit: false,
          }
        : { topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false },
      timeoutMs,
      `read topic ${topic}`,
      onError,
    );
    await new Promise<void>((resolve, reject) => {
      if (firstError !== undefined) return reject(classifyKafkaError(firstError));
      const timer = setTimeout(resolve, timeoutMs);
      failRead = (e) => {
        clearTimeout(timer);
        reject(classifyKafkaError(e));
      };
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      stream.on('data', (m) => {
        got.push({
          key: m.key === undefined || m.key === null || m.key === '' ? undefined : m.key,
          value: m.value ?? '',
          headers: Object.fromEntries(m.headers),
          partition: m.partition,
          offset: m.offset,
        });
        if (count !== undefined && got.length >= count) done();
        const last = end?.get(m.partition);
        if (last !== undefined && m.offset >= last - 1n) {
          pending.delete(m.partition);
          if (pending.size === 0) done();
        }
      });
    });
    await stream.close();
  } finally {
    await consumer.close(true).catch(async () => {
      // without a member id close() skips LeaveGroup and only drops the sockets
      consumer.memberId = null;
      await consumer.close(true).catch(() => undefined);
    });
  }
  return got;
}

/**
 * A consumer group's committed offsets on one topic, by partition (empty when
 * the group committed nothing there or does not exist): for tests and tooling
 * that wait until a group has processed past a message.
 */
export async function groupCommittedOffsets(
  brokers: readonly string[],
  groupId: string,
  topic: string,
): Promise<Map<number, bigint>> {
  const admin = new Admin({ clientId: 'ymera-reader', bootstrapBrokers: brokers.map(hostPort) });
  try {
    const groups = await admin.listConsumerGroupOffsets({ groups: [groupId] });
    const out = new Map<number, bigint>();
    for (const g of groups)
      for (const t of g.topics)
        if (t.name === topic)
          for (const p of t.partitions)
            if (p.committedOffset >= 0n) out.set(p.partitionIndex, p.committedOffset);
    return out;
  } catch (e) {
    throw classifyKafkaError(e);
  } finally {
    await admin.close();
  }
}

/** The ids of the consumer groups the broker knows (for tests and tooling). */
export async function listGroupIds(brokers: readonly string[]): Promise<string[]> {
  const admin = new Admin({ clientId: 'ymera-reader', bootstrapBrokers: brokers.map(hostPort) });
  try {
    return [...(await admin.listGroups()).keys()];
  } catch (e) {
    throw classifyKafkaError(e);
  } finally {
    await admin.close();
  }
}
