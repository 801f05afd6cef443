// Kafka trigger consumption for LearningPipelines: one consumer group per
// pipeline, at-least-once. Matching messages wait in `pending` until the
// controller acks them (after it wrote the run to status); offsets are
// committed per partition only up to the lowest un-acked one, so whatever
// was not handled is redelivered after a restart or a rebalance. Every
// consumer failure (missing topic, broker outage, fenced member) tears the
// consumer down and starts a new one with backoff; nothing here throws into
// the controller.
//
// Dead letters: a message that fails the pipeline's schema (or is not JSON
// while a schema is declared), or whose handling threw `maxAttempts` times,
// is produced to the subscription's dead-letter topic with the reason and
// its original headers. Its offset stays held (not committed past) until
// that produce succeeded; a failing produce is retried with backoff and
// reported in the state, so nothing is dropped and nothing stalls the
// consumption of the messages after it.
import {
  Admin,
  Consumer,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  stringDeserializer,
} from '@platformatic/kafka';
import type { Deserializers, Message, MessagesStream } from '@platformatic/kafka';
import { Counter, Gauge, Registry } from 'prom-client';
import { exponentialBackoff } from '../backoff.ts';
import { deepEqual } from '../equality.ts';
import type { Logger } from '../logger.ts';
import type { RawKafkaProducer, RawOutgoingMessage } from './client.ts';
import { KafkaRequestError, KafkaUnavailableError } from './client.ts';
import type { DeadLetterReason } from './dead-letter.ts';
import {
  PoisonTracker,
  classifyMessage,
  deadLetterRecord,
  deadLetterTopicOf,
  headersRecord,
  notAgain,
  rawHeaders,
} from './dead-letter.ts';
import type { EventValidator } from './event-schema.ts';
import { compileEventSchema } from './event-schema.ts';
import { ensureEventTopic } from './events.ts';
import type { KafkaClients } from './platformatic.ts';
import {
  classifyKafkaError,
  consumeWithin,
  createKafkaClients,
  hostPort,
  withTimeout,
} from './platformatic.ts';
import type { TriggerEvent } from './trigger-filter.ts';
import { triggerEventOf } from './trigger-filter.ts';

export interface TriggerSubscription {
  /** The pipeline's work-queue key (namespace/name). */
  key: string;
  topic: string;
  groupId: string;
  filter?: Record<string, string>;
  /** JSON Schema every selected event must match (compiled here; the controller checks it first). */
  schema?: Record<string, unknown>;
  /** Where invalid and unprocessable events go; default `<topic>.dlq`. */
  deadLetterTopic?: string;
  /**
   * Set when there is no allowed dead-letter topic (why, for logs): what would
   * be dead-lettered is held instead (offset not committed past; read again
   * after a restart), never dropped.
   */
  deadLetterOff?: string;
}

export interface TriggerState {
  /** Joined the group and assigned/fetching. */
  ready: boolean;
  message: string;
  /** Set while producing to the dead-letter topic fails (offsets are held meanwhile). */
  deadLetterError?: string;
  /** Dead letters waiting to be produced. */
  deadLetterBacklog: number;
}

export interface TriggerSource {
  /** Idempotent; (re)starts the consumer if topic/group/filter changed; never throws. */
  ensure(sub: TriggerSubscription): void;
  /** Matching events received and not yet acked, oldest first, deduped by id. */
  pending(key: string): TriggerEvent[];
  /** The event was handled durably: its offset may be committed. */
  ack(key: string, eventId: string): void;
  /** Undefined when there is no subscription. */
  state(key: string): TriggerState | undefined;
  /** Closes the consumer; un-acked events are redelivered to the next member of the group. No-op for a key without one. */
  stop(key: string): Promise<void>;
  /** After stop, on pipeline deletion; unknown group = success; KafkaUnavailableError when Kafka is away. */
  deleteGroup(groupId: string): Promise<void>;
  close(): Promise<void>;
}

export type TriggerConsumersOptions = {
  brokers: readonly string[];
  logger?: Logger;
  /** New pending events arrived for `key`: enqueue the pipeline. */
  onEvent: (key: string) => void;
  clientId?: string;
  /** Restart backoff after a failure; default 500ms doubling up to 30s. */
  retry?: { baseMs: number; maxMs: number };
  /** How long acks are batched before a commit; default 250ms. */
  commitIntervalMs?: number;
  /** Pending events per key before consumption pauses; default 1000. */
  maxPending?: number;
  /** Bound of one join, commit, close or admin call; default 15s. */
  timeoutMs?: number;
  /** Where dead letters are produced (default: clients of `brokers`); topics are created when missing. */
  deadLetter?: { producer: RawKafkaProducer; ensureTopic: (topic: string) => Promise<void> };
  /** Metrics registry (default: a private one). */
  registry?: Registry;
  /** Times handling one message may throw before it is dead-lettered; default 3. */
  maxAttempts?: number;
};

/**
 * Key, value and header values stay bytes: a dead letter must carry the
 * original (Avro, protobuf…) unchanged; only classification reads them as UTF-8.
 */
type RawMessage = Message<Buffer, Buffer, string, Buffer>;
const raw = (data?: Buffer): Buffer | undefined => data;
export const rawDeserializers: Deserializers<Buffer, Buffer, string, Buffer> = {
  key: raw,
  value: raw,
  headerKey: stringDeserializer,
  headerValue: raw,
};

type Resolved = Required<Omit<TriggerConsumersOptions, 'logger' | 'deadLetter' | 'registry'>> & {
  deadLetter: NonNullable<TriggerConsumersOptions['deadLetter']>;
  metrics: TriggerMetrics;
};

/** Dead-letter metrics; labels: the pipeline, the trigger (its topic) and the reason class. */
export class TriggerMetrics {
  readonly deadLetters: Counter<'namespace' | 'pipeline' | 'trigger' | 'reason'>;
  readonly failures: Counter<'namespace' | 'pipeline' | 'trigger'>;
  readonly backlog: Gauge<'namespace' | 'pipeline' | 'trigger'>;
  readonly loops: Counter<'namespace' | 'pipeline' | 'trigger'>;

  constructor(registry: Registry) {
    const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
    const registers = [registry];
    this.deadLetters =
      existing('ymera_trigger_dead_letters_total') ??
      new Counter({
        name: 'ymera_trigger_dead_letters_total',
        help: 'Trigger events produced to the dead-letter topic, by reason class (malformed, schema, processing)',
        labelNames: ['namespace', 'pipeline', 'trigger', 'reason'],
        registers,
      });
    this.failures =
      existing('ymera_trigger_dead_letter_failures_total') ??
      new Counter({
        name: 'ymera_trigger_dead_letter_failures_total',
        help: 'Failed attempts to produce a dead letter (the message is not committed past; retried with backoff)',
        labelNames: ['namespace', 'pipeline', 'trigger'],
        registers,
      });
    this.backlog =
      existing('ymera_trigger_dead_letter_backlog') ??
      new Gauge({
        name: 'ymera_trigger_dead_letter_backlog',
        help: 'Dead letters waiting to be produced (their offsets are held)',
        labelNames: ['namespace', 'pipeline', 'trigger'],
        registers,
      });
    this.loops =
      existing('ymera_trigger_dead_letter_loops_total') ??
      new Counter({
        name: 'ymera_trigger_dead_letter_loops_total',
        help: 'Events that would be dead-lettered but are dead letters already (not produced again, to avoid a loop)',
        labelNames: ['namespace', 'pipeline', 'trigger'],
        registers,
      });
  }
}

type DeadLetter = {
  generation: number;
  partition: number;
  offset: bigint;
  record: RawOutgoingMessage;
  reason: DeadLetterReason;
};

export const RECENT_ACKS = 2_000;

/**
 * Offsets of the partitions one consumer owns. `position` is one past the
 * last offset delivered; offsets below it were handled unless held (a
 * pending event). The commit point is the lowest held offset, else position.
 */
export class PartitionOffsets {
  readonly #parts = new Map<
    number,
    { position: bigint; committed: bigint; epoch: number; held: Set<bigint> }
  >();

  /** An assigned partition starts at the stream's fetch position; a known one keeps its state. */
  assign(partition: number, start: bigint): void {
    if (!this.#parts.has(partition)) {
      // committed -1: commit the start at once, so a fresh group keeps its
      // "latest" position across a restart instead of skipping ahead again.
      this.#parts.set(partition, { position: start, committed: -1n, epoch: -1, held: new Set() });
    }
  }

  /** Per partition, one past the last offset read (for tests: "has it read up to here?"). */
  positions(): Map<number, bigint> {
    return new Map([...this.#parts].map(([p, part]) => [p, part.position]));
  }

  /** Forgets partitions not in `keep`; returns the ones removed. */
  retain(keep: ReadonlySet<number>): number[] {
    const gone = [...this.#parts.keys()].filter((p) => !keep.has(p));
    for (const p of gone) this.#parts.delete(p);
    return gone;
  }

  /** False for an offset already delivered (a redelivery after a rejoin rewound the stream). */
  deliver(partition: number, offset: bigint, epoch: number): boolean {
    let part = this.#parts.get(partition);
    if (!part) {
      part = { position: offset, committed: -1n, epoch: -1, held: new Set() };
      this.#parts.set(partition, part);
    }
    if (offset < part.position) return false;
    part.position = offset + 1n;
    part.epoch = epoch;
    return true;
  }

  hold(partition: number, offset: bigint): void {
    this.#parts.get(partition)?.held.add(offset);
  }

  release(partition: number, offset: bigint): void {
    this.#parts.get(partition)?.held.delete(offset);
  }

  /** Per partition, the offset to commit when it moved past the last commit. */
  commitable(): { partition: number; offset: bigint; leaderEpoch: number }[] {
    const out = [];
    for (const [partition, part] of this.#parts) {
      let point = part.position;
      for (const o of part.held) if (o < point) point = o;
      if (point > part.committed) out.push({ partition, offset: point, leaderEpoch: part.epoch });
    }
    return out;
  }

  committed(partition: number, offset: bigint): void {
    const part = this.#parts.get(partition);
    if (part && offset > part.committed) part.committed = offset;
  }
}

type Pending = { event: TriggerEvent; at: Array<[number, bigint]> };

/**
 * The I/O-free bookkeeping of one subscription: matching events waiting for
 * an ack (deduped by id, each holding the offsets it was delivered at), the
 * partitions' offsets, and a bounded memory of recently acked ids.
 */
export class TriggerLedger {
  readonly pending = new Map<string, Pending>();
  readonly #recentAcks = new Set<string>();
  readonly #recentLimit: number;
  #offsets = new PartitionOffsets();

  constructor(recentLimit = RECENT_ACKS) {
    this.#recentLimit = recentLimit;
  }

  get offsets(): PartitionOffsets {
    return this.#offsets;
  }

  /** The member lost everything it held (a failed consumer): pending events and offsets go. */
  reset(): void {
    this.pending.clear();
    this.#offsets = new PartitionOffsets();
  }

  /** Remembers the id as acked; true when it released a pending event. */
  ack(eventId: string): boolean {
    this.#recentAcks.delete(eventId);
    this.#recentAcks.add(eventId);
    if (this.#recentAcks.size > this.#recentLimit) {
      this.#recentAcks.delete(this.#recentAcks.values().next().value as string);
    }
    const entry = this.pending.get(eventId);
    if (!entry) return false;
    this.pending.delete(eventId);
    for (const [p, o] of entry.at) this.offsets.release(p, o);
    return true;
  }

  /**
   * A delivered matching event: 'acked' when it was handled recently (nothing
   * held), 'duplicate' when its id already waits (the offset is held too),
   * 'new' when it starts waiting.
   */
  matched(event: TriggerEvent, partition: number, offset: bigint): 'acked' | 'duplicate' | 'new' {
    // Already handled (a producer retry, or redelivered after a restart).
    if (this.#recentAcks.has(event.id)) return 'acked';
    this.offsets.hold(partition, offset);
    const existing = this.pending.get(event.id);
    if (existing) {
      existing.at.push([partition, offset]);
      return 'duplicate';
    }
    this.pending.set(event.id, { event, at: [[partition, offset]] });
    return 'new';
  }

  /** A partition moved to another member: its pending events are that member's now. */
  dropPartition(partition: number): void {
    for (const [id, entry] of this.pending) {
      entry.at = entry.at.filter(([p]) => p !== partition);
      if (entry.at.length === 0) this.pending.delete(id);
    }
  }
}

type Stream = MessagesStream<Buffer, Buffer, string, Buffer>;

/** One subscription: a consumer that is restarted on failure until stopped. */
class Subscription {
  readonly sub: TriggerSubscription;
  state: TriggerState;
  readonly #ledger = new TriggerLedger();
  readonly pending = this.#ledger.pending;
  readonly #opts: Resolved;
  readonly #log: Logger | undefined;
  readonly #validate: EventValidator | undefined;
  readonly #deadLetterTopic: string;
  readonly #labels: { namespace: string; pipeline: string; trigger: string };
  readonly #poison = new PoisonTracker();
  /** Dead letters in delivery order; produced one at a time. */
  #deadLetters: DeadLetter[] = [];
  #deadLetterAttempt = 0;
  #deadLetterTimer: NodeJS.Timeout | undefined;
  #deadLettering = false;
  #deadLetterTopicReady = false;
  #consumer: Consumer<Buffer, Buffer, string, Buffer> | undefined;
  #stream: Stream | undefined;
  /** Bumped per consumer; callbacks of an older consumer are ignored. */
  #generation = 0;
  #attempt = 0;
  #stopped = false;
  #closing: Promise<void> = Promise.resolve();
  #retryTimer: NodeJS.Timeout | undefined;
  #commitTimer: NodeJS.Timeout | undefined;
  #committing: Promise<void> | undefined;
  #paused = false;
  #notify = false;
  /** The topic was missing at some point: all its messages are newer than the subscription. */
  #topicWasMissing = false;

  constructor(sub: TriggerSubscription, opts: Resolved, log: Logger | undefined, after: Promise<void>) {
    this.sub = { ...sub, ...(sub.filter ? { filter: { ...sub.filter } } : {}) };
    this.#opts = opts;
    this.#deadLetterTopic = deadLetterTopicOf(sub.topic, sub.deadLetterTopic);
    this.#log = log?.child({ key: sub.key, topic: sub.topic, groupId: sub.groupId });
    const slash = sub.key.indexOf('/');
    this.#labels = {
      namespace: slash >= 0 ? sub.key.slice(0, slash) : '',
      pipeline: sub.key.slice(slash + 1),
      trigger: sub.topic,
    };
    this.state = {
      ready: false,
      message: `starting consumer for Kafka topic ${sub.topic}`,
      deadLetterBacklog: 0,
    };
    if (sub.schema) {
      const compiled = compileEventSchema(sub.schema);
      // The controller refuses an invalid schema before subscribing; this guards direct callers.
      if ('error' in compiled) throw new Error(`trigger schema: ${compiled.error}`);
      this.#validate = compiled.validate;
    }
    // A previous consumer of the same key must have left before this one joins.
    void after.then(() => this.#start());
  }

  sameAs(sub: TriggerSubscription): boolean {
    return (
      sub.topic === this.sub.topic &&
      sub.groupId === this.sub.groupId &&
      sameFilter(sub.filter, this.sub.filter) &&
      deepEqual(sub.schema ?? null, this.sub.schema ?? null) &&
      deadLetterTopicOf(sub.topic, sub.deadLetterTopic) === this.#deadLetterTopic &&
      sub.deadLetterOff === this.sub.deadLetterOff
    );
  }

  positions(): Map<number, bigint> {
    return this.#ledger.offsets.positions();
  }

  ack(eventId: string): void {
    if (!this.#ledger.ack(eventId)) return;
    if (this.#paused && this.pending.size < this.#opts.maxPending) {
      this.#paused = false;
      this.#stream?.resume();
      this.#log?.info('trigger consumption resumed', { pending: this.pending.size });
    }
    this.#scheduleCommit();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return this.#closing;
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#commitTimer);
    clearTimeout(this.#deadLetterTimer);
    // Commit what was handled, so the next member does not see it again.
    await this.#flush();
    this.#teardown();
    this.pending.clear();
    this.#dropDeadLetters();
    await this.#closing;
    this.#log?.info('trigger consumer stopped');
  }

  async #start(): Promise<void> {
    if (this.#stopped) return;
    const generation = ++this.#generation;
    const { topic, groupId } = this.sub;
    const consumer = new Consumer<Buffer, Buffer, string, Buffer>({
      clientId: this.#opts.clientId,
      groupId,
      bootstrapBrokers: [...this.#opts.brokers],
      deserializers: rawDeserializers,
      autocommit: false,
      timeout: 5_000,
      connectTimeout: 3_000,
      retries: 2,
      retryDelay: 500,
      // Short: after a broker restart a member that could not leave blocks the
      // next join until its session expires.
      sessionTimeout: 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 3_000,
      heartbeatStallTimeout: 15_000,
      maxWaitTime: 1_000,
    });
    this.#consumer = consumer;
    // The library emits 'error' when a rejoin fails; unhandled it would crash the process.
    consumer.on('error', (e: unknown) => this.#fail(generation, e));
    consumer.on('consumer:heartbeat:stalled', (p) =>
      this.#fail(generation, p.lastError ?? new KafkaUnavailableError('consumer heartbeats stalled')),
    );
    try {
      // A stream of an older generation (torn down while it joined) fails with
      // "Client is closed": its error goes to #fail, which ignores it.
      const stream = await consumeWithin(
        consumer,
        {
          topics: [topic],
          mode: MessagesStreamModes.COMMITTED,
          // A new group starts at the end: old events must not trigger a new pipeline.
          fallbackMode: this.#topicWasMissing
            ? MessagesStreamFallbackModes.EARLIEST
            : MessagesStreamFallbackModes.LATEST,
          autocommit: false,
        },
        this.#opts.timeoutMs,
        `join consumer group ${groupId}`,
        (e: unknown) => this.#fail(generation, e),
      );
      if (generation !== this.#generation) {
        void stream.close().catch(() => undefined);
        return;
      }
      this.#stream = stream;
      stream.on('offsets', () => this.#assigned(generation));
      stream.on('data', (m: RawMessage) => this.#message(generation, m));
      stream.on('close', () => this.#fail(generation, new KafkaUnavailableError('consumer stream closed')));
    } catch (error) {
      this.#fail(generation, error);
    }
  }

  /** Called when the stream (re)computed its positions after a join. */
  #assigned(generation: number): void {
    if (generation !== this.#generation || this.#stopped) return;
    try {
      const { topic, groupId } = this.sub;
      const mine = new Set(
        (this.#consumer?.assignments ?? []).filter((a) => a.topic === topic).flatMap((a) => a.partitions),
      );
      for (const p of this.#ledger.offsets.retain(mine)) this.#ledger.dropPartition(p);
      for (const p of mine) {
        const start = this.#stream?.offsetsToFetch.get(`${topic}:${p}`);
        if (typeof start === 'bigint') this.#ledger.offsets.assign(p, start);
      }
      const partitions = [...mine].sort((a, b) => a - b);
      const message =
        partitions.length > 0
          ? `consuming Kafka topic ${topic} as group ${groupId}`
          : `joined group ${groupId}; no partition of Kafka topic ${topic} is assigned to this member`;
      if (!this.state.ready) this.#log?.info('trigger consumer ready', { partitions });
      this.state = { ...this.state, ready: true, message };
      this.#attempt = 0;
      this.#topicWasMissing = false;
      this.#scheduleCommit();
    } catch (error) {
      this.#fail(generation, error);
    }
  }

  #message(generation: number, m: RawMessage): void {
    if (generation !== this.#generation || this.#stopped) return;
    const { partition, offset } = m;
    try {
      if (!this.#ledger.offsets.deliver(partition, offset, m.leaderEpoch)) return;
      // Threw maxAttempts times already: set it aside instead of restarting forever.
      const exhausted = this.#poison.exhausted(partition, offset, this.#opts.maxAttempts);
      if (exhausted) {
        this.#poison.forget(partition, offset);
        this.#deadLetter(m, exhausted);
        return;
      }
      const verdict = classifyMessage(
        m.value?.toString('utf8'),
        this.sub.filter,
        this.#validate,
        headersRecord(m.headers),
      );
      if (verdict.kind === 'match') this.#matched(m, verdict.payload);
      else if (verdict.kind === 'dead' || verdict.kind === 'loop') this.#deadLetter(m, verdict.reason);
      this.#scheduleCommit();
    } catch (error) {
      // A bug here must not lose the message: restart and read it again (a bounded number of times).
      this.#poison.failed(partition, offset, error instanceof Error ? error.message : String(error));
      this.#fail(generation, error);
    }
  }

  /** Holds the message's offset and queues its dead letter. */
  #deadLetter(m: RawMessage, reason: DeadLetterReason): void {
    const { topic, partition, offset } = m;
    const again = notAgain(reason, headersRecord(m.headers));
    if (again.kind === 'loop') {
      // not held: committing past it is what ends the loop
      this.#opts.metrics.loops.inc(this.#labels);
      this.#log?.warn('trigger event rejected but it is a dead letter already; not dead-lettering it again', {
        originalTopic: again.origin,
        partition,
        offset: offset.toString(),
        reasonClass: reason.class,
        reason: reason.message,
      });
      return;
    }
    this.#ledger.offsets.hold(partition, offset);
    const record = deadLetterRecord(
      {
        topic,
        partition,
        offset,
        key: m.key ?? undefined,
        value: m.value ?? undefined,
        headers: rawHeaders(m.headers),
      },
      reason,
      this.sub.key,
      new Date(),
    );
    this.#deadLetters.push({ generation: this.#generation, partition, offset, record, reason });
    this.#setBacklog();
    if (this.sub.deadLetterOff !== undefined) {
      this.#log?.warn('trigger event rejected; held, as there is no allowed dead-letter topic', {
        why: this.sub.deadLetterOff,
        partition,
        offset: offset.toString(),
        reasonClass: reason.class,
        reason: reason.message,
      });
      if (this.#deadLetters.length === 1) this.#notifyController();
      return;
    }
    this.#log?.warn('trigger event rejected; sending it to the dead-letter topic', {
      deadLetterTopic: this.#deadLetterTopic,
      partition,
      offset: offset.toString(),
      reasonClass: reason.class,
      reason: reason.message,
    });
    void this.#produceDeadLetters();
  }

  #setBacklog(): void {
    this.state = { ...this.state, deadLetterBacklog: this.#deadLetters.length };
    this.#opts.metrics.backlog.set(this.#labels, this.#deadLetters.length);
  }

  /** Produces queued dead letters in order; on failure keeps them (offsets held) and retries with backoff. */
  async #produceDeadLetters(): Promise<void> {
    if (this.#deadLettering || this.#deadLetterTimer !== undefined) return;
    if (this.sub.deadLetterOff !== undefined) return;
    this.#deadLettering = true;
    try {
      while (!this.#stopped && this.#deadLetters.length > 0) {
        const next = this.#deadLetters[0] as DeadLetter;
        if (next.generation !== this.#generation) {
          // Its consumer is gone and the offset was not committed: the next one reads it again.
          this.#deadLetters.shift();
          continue;
        }
        try {
          if (!this.#deadLetterTopicReady) {
            await this.#opts.deadLetter.ensureTopic(this.#deadLetterTopic);
            this.#deadLetterTopicReady = true;
          }
          await this.#opts.deadLetter.producer.send(this.#deadLetterTopic, [next.record]);
        } catch (error) {
          const message = `producing to dead-letter topic ${this.#deadLetterTopic} failed: ${classifyKafkaError(error).message}`;
          this.#opts.metrics.failures.inc(this.#labels);
          // It may have been deleted since: ensure it again on the next attempt.
          this.#deadLetterTopicReady = false;
          const first = this.state.deadLetterError === undefined;
          if (this.state.deadLetterError !== message)
            this.#log?.warn('dead letter not produced; retrying', { reason: message });
          this.state = { ...this.state, deadLetterError: message };
          // the controller reports it in a condition
          if (first) this.#notifyController();
          const delay = exponentialBackoff({
            attempt: this.#deadLetterAttempt++,
            baseMs: this.#opts.retry.baseMs,
            maxMs: this.#opts.retry.maxMs,
            jitter: 0.2,
          });
          this.#deadLetterTimer = setTimeout(() => {
            this.#deadLetterTimer = undefined;
            void this.#produceDeadLetters();
          }, delay);
          return;
        }
        // the queue may have been dropped (a consumer failure) while this one was in flight
        if (this.#deadLetters[0] === next) this.#deadLetters.shift();
        this.#deadLetterAttempt = 0;
        this.#opts.metrics.deadLetters.inc({ ...this.#labels, reason: next.reason.class });
        if (this.state.deadLetterError !== undefined) {
          const { deadLetterError: _cleared, ...rest } = this.state;
          this.state = rest;
          this.#log?.info('dead-letter topic reachable again', { deadLetterTopic: this.#deadLetterTopic });
          this.#notifyController();
        }
        this.#setBacklog();
        if (next.generation === this.#generation) {
          this.#ledger.offsets.release(next.partition, next.offset);
          this.#scheduleCommit();
        }
      }
    } finally {
      this.#deadLettering = false;
      this.#setBacklog();
    }
  }

  /** Forgets queued dead letters (their consumer is gone; the messages are redelivered). */
  #dropDeadLetters(): void {
    this.#deadLetters = [];
    clearTimeout(this.#deadLetterTimer);
    this.#deadLetterTimer = undefined;
    this.#deadLetterAttempt = 0;
    this.#setBacklog();
  }

  #matched(m: RawMessage, payload: unknown): void {
    const { topic, partition, offset } = m;
    const event = triggerEventOf({ topic, partition, offset, value: m.value?.toString('utf8') }, payload);
    if (this.#ledger.matched(event, partition, offset) !== 'new') return;
    this.#log?.debug('trigger event received', { eventId: event.id, partition, offset });
    if (this.pending.size >= this.#opts.maxPending && !this.#paused) {
      // Bounded memory: stop fetching until acks make room; nothing is dropped.
      this.#paused = true;
      this.#stream?.pause();
      this.#log?.warn('trigger consumption paused: too many pending events', {
        pending: this.pending.size,
      });
    }
    this.#notifyController();
  }

  /** Enqueues the pipeline (once per microtask). */
  #notifyController(): void {
    if (this.#notify) return;
    this.#notify = true;
    queueMicrotask(() => {
      this.#notify = false;
      if (this.#stopped) return;
      try {
        this.#opts.onEvent(this.sub.key);
      } catch (error) {
        this.#log?.error('trigger onEvent callback failed', { err: error });
      }
    });
  }

  #scheduleCommit(): void {
    if (this.#commitTimer !== undefined || this.#stopped) return;
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined;
      void this.#flush();
    }, this.#opts.commitIntervalMs);
  }

  /** Commits every partition's commit point; one commit at a time, failures retried later. */
  async #flush(): Promise<void> {
    while (this.#committing) await this.#committing;
    const consumer = this.#consumer;
    const offsets = this.#ledger.offsets.commitable();
    if (!consumer || offsets.length === 0 || !this.state.ready) return;
    const generation = this.#generation;
    const topic = this.sub.topic;
    const run = async () => {
      try {
        await withTimeout(
          consumer.commit({ offsets: offsets.map((o) => ({ topic, ...o })) }),
          this.#opts.timeoutMs,
          `commit offsets of group ${this.sub.groupId}`,
        );
        if (generation !== this.#generation) return;
        for (const o of offsets) this.#ledger.offsets.committed(o.partition, o.offset);
        this.#log?.debug('trigger offsets committed', {
          offsets: offsets.map((o) => `${o.partition}@${o.offset}`),
        });
      } catch (error) {
        // Not fatal: the next flush retries; a fenced member is restarted by the stream.
        this.#log?.debug('trigger offset commit failed', { err: classifyKafkaError(error).message });
        if (!this.#stopped && generation === this.#generation) this.#scheduleCommit();
      }
    };
    this.#committing = run().finally(() => (this.#committing = undefined));
    await this.#committing;
  }

  #fail(generation: number, error: unknown): void {
    if (generation !== this.#generation || this.#stopped) return;
    const message = this.#describe(error);
    const changed = message !== this.state.message;
    this.state = { ...this.state, ready: false, message };
    if (changed) this.#log?.warn('trigger consumer failed; retrying', { reason: message });
    else this.#log?.debug('trigger consumer failed again', { reason: message });
    // Bounded tighter than a graceful stop: a broken consumer must not delay the retry for long.
    this.#teardown(5_000);
    // Pending events were delivered to this member only; the next one gets them again.
    this.#ledger.reset();
    this.#dropDeadLetters();
    const delay = exponentialBackoff({
      attempt: this.#attempt++,
      baseMs: this.#opts.retry.baseMs,
      maxMs: this.#opts.retry.maxMs,
      jitter: 0.2,
    });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#closing.then(() => this.#start());
    }, delay);
  }

  #describe(error: unknown): string {
    const { topic } = this.sub;
    const mapped = classifyKafkaError(error);
    const text = `${mapped.message} ${error instanceof Error ? error.message : ''}`;
    if (
      /unknown topic/i.test(text) ||
      (mapped instanceof KafkaRequestError && /UNKNOWN_TOPIC/.test(mapped.kafkaCode))
    ) {
      this.#topicWasMissing = true;
      return `Kafka topic ${topic} does not exist; waiting for it to be created`;
    }
    if (mapped instanceof KafkaUnavailableError) return `Kafka is unavailable: ${mapped.message}`;
    return `consuming Kafka topic ${topic} failed: ${mapped.message}`;
  }

  /** Closes the current consumer in the background; #closing settles when it is gone. */
  #teardown(closeTimeoutMs = this.#opts.timeoutMs): void {
    this.#generation++;
    const consumer = this.#consumer;
    this.#consumer = undefined;
    this.#stream = undefined;
    this.#paused = false;
    if (!consumer) return;
    const previous = this.#closing;
    this.#closing = previous.then(() => closeConsumer(consumer, closeTimeoutMs, this.#log));
  }
}

/** Leaves the group when possible; drops the sockets in any case. */
async function closeConsumer(
  consumer: Consumer<Buffer, Buffer, string, Buffer>,
  timeoutMs: number,
  log: Logger | undefined,
): Promise<void> {
  try {
    await withTimeout(consumer.close(true), timeoutMs, 'close consumer');
  } catch (error) {
    log?.debug('consumer did not leave its group cleanly', { err: classifyKafkaError(error).message });
    // Without a member id close() skips LeaveGroup and only closes connections.
    consumer.memberId = null;
    await withTimeout(consumer.close(true), timeoutMs, 'close consumer').catch(() => undefined);
  }
}

function sameFilter(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  return deepEqual(a ?? {}, b ?? {});
}

/** Kafka trigger consumers of all pipelines, keyed by the pipeline's work-queue key. */
export class TriggerConsumers implements TriggerSource {
  readonly #subs = new Map<string, Subscription>();
  /** Last close of each key, so a restarted consumer joins after the old one left. */
  readonly #stopping = new Map<string, Promise<void>>();
  readonly #opts: Resolved;
  readonly #log: Logger | undefined;
  #admin: Admin | undefined;
  /** Clients made here for dead letters when none were given. */
  readonly #ownClients: KafkaClients | undefined;

  constructor(options: TriggerConsumersOptions) {
    if (options.brokers.length === 0) throw new Error('TriggerConsumers: no brokers given');
    const clientId = options.clientId ?? 'ymera-operator-triggers';
    let deadLetter = options.deadLetter;
    if (!deadLetter) {
      this.#ownClients = createKafkaClients({
        brokers: options.brokers,
        clientId: `${clientId}-dlq`,
        ...(options.logger ? { logger: options.logger } : {}),
      });
      deadLetter = {
        producer: this.#ownClients.producer,
        ensureTopic: ensureEventTopic(this.#ownClients.admin, { partitions: 1 }),
      };
    }
    this.#opts = {
      brokers: options.brokers.map(hostPort),
      onEvent: options.onEvent,
      clientId,
      retry: options.retry ?? { baseMs: 500, maxMs: 30_000 },
      commitIntervalMs: options.commitIntervalMs ?? 250,
      maxPending: options.maxPending ?? 1_000,
      timeoutMs: options.timeoutMs ?? 15_000,
      maxAttempts: options.maxAttempts ?? 3,
      deadLetter,
      metrics: new TriggerMetrics(options.registry ?? new Registry()),
    };
    this.#log = options.logger?.named('triggers');
  }

  ensure(sub: TriggerSubscription): void {
    try {
      const current = this.#subs.get(sub.key);
      if (current?.sameAs(sub)) return;
      if (current) {
        this.#log?.info('trigger subscription changed; restarting consumer', {
          key: sub.key,
          topic: sub.topic,
          groupId: sub.groupId,
        });
        void this.stop(sub.key);
      }
      const after = this.#stopping.get(sub.key) ?? Promise.resolve();
      this.#subs.set(sub.key, new Subscription(sub, this.#opts, this.#log, after));
    } catch (error) {
      this.#log?.error('ensuring trigger consumer failed', { key: sub.key, err: error });
    }
  }

  pending(key: string): TriggerEvent[] {
    return [...(this.#subs.get(key)?.pending.values() ?? [])].map((p) => ({ ...p.event }));
  }

  ack(key: string, eventId: string): void {
    try {
      this.#subs.get(key)?.ack(eventId);
    } catch (error) {
      this.#log?.error('acking trigger event failed', { key, eventId, err: error });
    }
  }

  /**
   * Per partition, one past the last offset this key's consumer read (empty
   * without a consumer or before an assignment); for tests and debugging.
   */
  positions(key: string): Map<number, bigint> {
    return this.#subs.get(key)?.positions() ?? new Map();
  }

  state(key: string): TriggerState | undefined {
    const s = this.#subs.get(key)?.state;
    return s ? { ...s } : undefined;
  }

  async stop(key: string): Promise<void> {
    const sub = this.#subs.get(key);
    if (!sub) {
      await this.#stopping.get(key);
      return;
    }
    this.#subs.delete(key);
    const done = sub.stop().catch((error: unknown) => {
      this.#log?.warn('stopping trigger consumer failed', { key, err: classifyKafkaError(error).message });
    });
    this.#stopping.set(key, done);
    await done;
    if (this.#stopping.get(key) === done) this.#stopping.delete(key);
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.#admin ??= new Admin({
      clientId: this.#opts.clientId,
      bootstrapBrokers: [...this.#opts.brokers],
      timeout: 5_000,
      connectTimeout: 3_000,
      retries: 1,
      retryDelay: 250,
    });
    try {
      await withTimeout(
        this.#admin.deleteGroups({ groups: [groupId] }),
        this.#opts.timeoutMs,
        `delete consumer group ${groupId}`,
      );
      this.#log?.info('trigger consumer group deleted', { groupId });
    } catch (error) {
      const mapped = classifyKafkaError(error);
      // Never created (no event ever consumed) or already deleted: what deletion wants.
      if (mapped instanceof KafkaRequestError && mapped.kafkaCode === 'GROUP_ID_NOT_FOUND') return;
      throw mapped;
    }
  }

  /** The keys with a consumer (for tests and debugging). */
  keys(): string[] {
    return [...this.#subs.keys()];
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#subs.keys()].map((k) => this.stop(k)));
    await Promise.allSettled([...this.#stopping.values()]);
    await this.#admin?.close().catch(() => undefined);
    this.#admin = undefined;
    await this.#ownClients?.close().catch(() => undefined);
  }
}
