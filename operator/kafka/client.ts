// What the operator needs from Kafka, and nothing more: topic administration
// for the topic reconciler and a producer for platform events. The
// implementation (platformatic.ts) bounds every call with a timeout, maps
// the library's errors onto the two classes below and sits behind a circuit
// breaker, so callers only ever see KafkaUnavailableError or KafkaRequestError.

/** A topic as the broker reports it. */
export interface TopicDescription {
  name: string;
  partitions: number;
  /** Replicas of the first partition (Kafka keeps them equal unless reassigned by hand). */
  replicationFactor: number;
  /**
   * Dynamic topic configs only (source DYNAMIC_TOPIC_CONFIG): what was set
   * on this topic, not broker defaults. Sensitive values are left out.
   */
  configs: Record<string, string>;
}

export interface NewTopic {
  name: string;
  partitions: number;
  /** Omitted: the broker's default.replication.factor. */
  replicationFactor?: number;
  configs?: Record<string, string>;
}

export interface ConfigChanges {
  /** Configs to set (added or overwritten). */
  set?: Record<string, string>;
  /** Configs to remove from the topic (back to the broker default). */
  delete?: readonly string[];
}

export interface KafkaAdmin {
  /** Names of all non-internal topics. */
  listTopics(): Promise<string[]>;
  /** One entry per requested name; undefined when the topic does not exist. */
  describeTopics(names: readonly string[]): Promise<Map<string, TopicDescription | undefined>>;
  /** Rejects with KafkaRequestError code TOPIC_ALREADY_EXISTS if it exists. */
  createTopic(topic: NewTopic): Promise<void>;
  alterTopicConfigs(name: string, changes: ConfigChanges): Promise<void>;
  /** Raises the partition count to `total` (Kafka cannot lower it). */
  createPartitions(name: string, total: number): Promise<void>;
  /** Deleting a topic that does not exist succeeds. */
  deleteTopic(name: string): Promise<void>;
}

export interface OutgoingMessage {
  key?: string;
  value: string;
  headers?: Record<string, string>;
}

/** Strings are sent as UTF-8, Buffers as they are (a dead letter keeps the original bytes). */
export interface RawOutgoingMessage {
  key?: string | Buffer;
  value: string | Buffer;
  headers?: Record<string, string | Buffer>;
}

export interface KafkaProducer {
  /** Resolves once the broker acknowledged every message (acks=all). */
  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
}

/** A producer that also sends bytes unchanged (dead letters). */
export interface RawKafkaProducer {
  send(topic: string, messages: readonly RawOutgoingMessage[]): Promise<void>;
}

/**
 * The Kafka cluster could not be reached or did not answer in time (or the
 * circuit breaker is open after repeated failures). Transient: retry later.
 */
export class KafkaUnavailableError extends Error {
  /** Set while the circuit is open: when the next trial call is allowed. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'KafkaUnavailableError';
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The cluster answered and refused the request (e.g. INVALID_CONFIG,
 * INVALID_REPLICATION_FACTOR, TOPIC_ALREADY_EXISTS). Retrying the same
 * request will not help.
 */
export class KafkaRequestError extends Error {
  /** Kafka's error name (e.g. "INVALID_CONFIG"), or the client's error code. */
  readonly kafkaCode: string;
  constructor(kafkaCode: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'KafkaRequestError';
    this.kafkaCode = kafkaCode;
  }
}

export function isKafkaUnavailable(error: unknown): error is KafkaUnavailableError {
  return error instanceof KafkaUnavailableError;
}

/** Kafka error names that mean the spec asks for something the cluster refuses. */
export const SPEC_REJECTIONS: ReadonlySet<string> = new Set([
  'INVALID_CONFIG',
  'INVALID_PARTITIONS',
  'INVALID_REPLICATION_FACTOR',
  'INVALID_REPLICA_ASSIGNMENT',
  'INVALID_TOPIC_EXCEPTION',
  'POLICY_VIOLATION',
  'UNSUPPORTED_VERSION',
]);

/**
 * Errors from a KafkaAdmin/KafkaProducer are already one of the two classes;
 * anything else (a bug, a test double) is treated as a refused request so it
 * surfaces with its message instead of being mistaken for an outage.
 */
export function asKafkaError(error: unknown): KafkaUnavailableError | KafkaRequestError {
  if (error instanceof KafkaUnavailableError || error instanceof KafkaRequestError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new KafkaRequestError('UNKNOWN', message, { cause: error });
}
