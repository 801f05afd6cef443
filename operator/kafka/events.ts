// Platform events: lifecycle facts of ymera resources (a run started, a model
// was promoted, a rollback happened, a backup completed, ...) published to
// Kafka as CloudEvents 1.0 in structured JSON mode, one topic per kind
// (ymera.events.<kind>), keyed by namespace/name so one resource's events
// stay ordered in one partition.
//
// The event id is a hash of (uid, type, discriminator), so the same fact
// published again, e.g. after an operator restart, carries the same id and
// consumers de-duplicate on it. publish() never blocks or throws into a
// reconcile: events go to a bounded in-memory buffer that a background loop
// sends with exponential backoff; when the buffer is full the oldest event
// not in flight is dropped, counted and logged. An event Kafka refuses for
// good (too large, not authorized, invalid) is isolated from its batch and
// dropped (reason rejected), so it cannot block the events behind it.
import { createHash } from 'node:crypto';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import { exponentialBackoff } from '../backoff.ts';
import type { Logger } from '../logger.ts';
import type { ObjectMeta, ResourceType } from '../kube/resources.ts';
import { collectionPath, keyOf } from '../kube/resources.ts';
import type { KafkaAdmin, KafkaProducer, OutgoingMessage } from './client.ts';
import { KafkaRequestError } from './client.ts';

/**
 * Kafka's answers that sending the same record again cannot change: the
 * record or batch is too large or malformed, the topic name is invalid, or
 * the operator may not write the topic. Every other error (unavailable,
 * timeouts, NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION while a
 * topic is created, codes not listed here) is treated as transient.
 */
const PERMANENT_SEND_CODES = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);

/** The Kafka code when `error` is a definite refusal a retry cannot fix; undefined when transient. */
export function permanentSendError(error: unknown): string | undefined {
  if (error instanceof KafkaRequestError && PERMANENT_SEND_CODES.has(error.kafkaCode)) return error.kafkaCode;
  return undefined;
}

export const EVENT_TOPIC_PREFIX = 'ymera.events';
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=UTF-8';
const TYPE_PREFIX = 'io.ymera';

/** Event names the controllers publish (the part after io.ymera.<kind>.). */
export const EventType = {
  /** Ready's reason changed (e.g. became valid, hit a conflict). */
  StatusChanged: 'status.changed',
  /** The finalizer ran: the resource and its external state are gone. */
  Deleted: 'deleted',
  RunStarted: 'run.started',
  RunFinished: 'run.finished',
  StepFailed: 'step.failed',
  StepRetried: 'step.retried',
  /** A LearningPipeline sweep step ended: its best trial, or why it failed. */
  SweepCompleted: 'sweep.completed',
  ModelRegistered: 'model.registered',
  ModelPromoted: 'model.promoted',
  RolloutCompleted: 'rollout.completed',
  RollbackPerformed: 'rollback.performed',
  /** InferenceService self-healing evicted a pod (spec.healing). */
  PodReplaced: 'pod.replaced',
  MaintenanceScheduled: 'maintenance.scheduled',
  MaintenanceCompleted: 'maintenance.completed',
  TrialCompleted: 'trial.completed',
  BackupCompleted: 'backup.completed',
  RestoreCompleted: 'restore.completed',
  DrillCompleted: 'drill.completed',
} as const;

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: Record<string, unknown>;
}

export interface PlatformEvent {
  /** The kind's REST coordinates (resourceTypeOf(definition)). */
  resource: Pick<ResourceType, 'group' | 'version' | 'kind' | 'plural' | 'namespaced'>;
  object: { metadata: Pick<ObjectMeta, 'name' | 'namespace' | 'uid'> };
  /** Lower-case dotted name under the kind, e.g. "run.started" (see EventType). */
  type: string;
  /**
   * What makes this occurrence unique for this object: a run id, a backup
   * id, the generation. Same object + type + discriminator = same event id.
   */
  discriminator: string | number;
  data?: Record<string, unknown>;
  /** When it happened; default now. Pass the occurrence time so a re-send is identical. */
  time?: Date | string;
  /** Default: namespace/name of the object. */
  subject?: string;
}

const EVENT_NAME = /^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*$/;

/** io.ymera.<kind lower-case>.<type>, e.g. io.ymera.learningpipeline.run.started. */
export function cloudEventType(kind: string, type: string): string {
  return `${TYPE_PREFIX}.${kind.toLowerCase()}.${type}`;
}

/** Deterministic id: sha256 over (uid, full type, discriminator) as JSON, so no separator is ambiguous. */
export function eventId(uid: string, type: string, discriminator: string | number): string {
  return createHash('sha256')
    .update(JSON.stringify([uid, type, String(discriminator)]))
    .digest('hex');
}

/** /apis/<group>/<version>/namespaces/<ns>/<plural>/<name> (no namespace segment for cluster-scoped kinds). */
export function eventSource(
  resource: PlatformEvent['resource'],
  metadata: { name: string; namespace?: string },
) {
  return `${collectionPath({ ...resource }, metadata.namespace)}/${encodeURIComponent(metadata.name)}`;
}

/** ymera.events.<kind lower-case>. */
export function eventTopic(kind: string, prefix = EVENT_TOPIC_PREFIX): string {
  return `${prefix}.${kind.toLowerCase()}`;
}

/** Why the event cannot be published; undefined when it can. */
export function validateEvent(event: PlatformEvent): string | undefined {
  if (!EVENT_NAME.test(event.type))
    return `event type ${JSON.stringify(event.type)} must be lower-case dotted words`;
  if (!event.object.metadata.uid) return `${event.resource.kind} ${event.object.metadata.name} has no uid`;
  if (event.resource.namespaced && !event.object.metadata.namespace) {
    return `${event.resource.kind} ${event.object.metadata.name} has no namespace`;
  }
  if (String(event.discriminator) === '') return 'event discriminator must not be empty';
  if (event.time !== undefined && Number.isNaN(new Date(event.time).getTime()))
    return 'event time is invalid';
  return undefined;
}

/** The CloudEvent for `event`; throws TypeError when validateEvent() objects. */
export function toCloudEvent(event: PlatformEvent, now: Date): CloudEvent {
  const invalid = validateEvent(event);
  if (invalid) throw new TypeError(invalid);
  const meta = event.object.metadata;
  const type = cloudEventType(event.resource.kind, event.type);
  return {
    specversion: '1.0',
    id: eventId(meta.uid as string, type, event.discriminator),
    source: eventSource(event.resource, meta),
    type,
    subject: event.subject ?? keyOf(meta),
    time: new Date(event.time ?? now).toISOString(),
    datacontenttype: 'application/json',
    data: event.data ?? {},
  };
}

/** The Kafka record of a CloudEvent in structured mode (CloudEvents Kafka binding). */
export function toKafkaMessage(event: CloudEvent): OutgoingMessage {
  return {
    key: event.subject,
    value: JSON.stringify(event),
    headers: { 'content-type': CLOUDEVENTS_CONTENT_TYPE },
  };
}

// --- buffering (pure) ----------------------------------------------------------------

export interface QueuedEvent {
  id: string;
  type: string;
  topic: string;
  message: OutgoingMessage;
}

/**
 * FIFO of events waiting to be sent, bounded to `capacity`. When full the
 * oldest event not in flight is dropped: the newer facts (a run finished)
 * matter more than older ones (it started), and an event being sent is
 * likely delivered, so dropping it would count a loss that did not happen.
 * An id already waiting is not queued twice.
 */
export class EventBuffer {
  readonly capacity: number;
  #items: QueuedEvent[] = [];

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`buffer capacity must be a positive integer (got ${capacity})`);
    }
    this.capacity = capacity;
  }

  get size(): number {
    return this.#items.length;
  }

  has(id: string): boolean {
    return this.#items.some((e) => e.id === id);
  }

  /**
   * Adds at the tail; returns what was dropped to make room (the oldest
   * event whose id is not in `inFlight`: the new one itself when all others
   * are in flight), or 'duplicate'.
   */
  push(
    event: QueuedEvent,
    inFlight: ReadonlySet<string> = new Set(),
  ): { dropped?: QueuedEvent } | 'duplicate' {
    if (this.has(event.id)) return 'duplicate';
    this.#items.push(event);
    if (this.#items.length <= this.capacity) return {};
    // The new event is never in flight, so an index is always found.
    const i = this.#items.findIndex((e) => !inFlight.has(e.id));
    return { dropped: this.#items.splice(i, 1)[0] as QueuedEvent };
  }

  /** The longest run of events at the head that share one topic, at most `max`. */
  nextBatch(max: number): QueuedEvent[] {
    const first = this.#items[0];
    if (!first) return [];
    const batch: QueuedEvent[] = [];
    for (const e of this.#items) {
      if (e.topic !== first.topic || batch.length >= max) break;
      batch.push(e);
    }
    return batch;
  }

  /** Removes by id: the head may have been dropped for room while a batch was in flight. */
  remove(ids: Iterable<string>): void {
    const gone = new Set(ids);
    this.#items = this.#items.filter((e) => !gone.has(e.id));
  }

  drain(): QueuedEvent[] {
    const all = this.#items;
    this.#items = [];
    return all;
  }
}

/** Ids sent recently (bounded, oldest forgotten first): a reconcile that re-publishes the same fact sends it once. */
export class RecentIds {
  readonly #capacity: number;
  readonly #ids = new Set<string>();

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  add(id: string): void {
    this.#ids.delete(id);
    this.#ids.add(id);
    // Sets iterate in insertion order: the first key is the oldest.
    while (this.#ids.size > this.#capacity) this.#ids.delete(this.#ids.values().next().value as string);
  }
}

// --- publisher (I/O) -----------------------------------------------------------------

export type PublishResult = 'queued' | 'duplicate' | 'invalid' | 'closed';

export type EventPublisherOptions = {
  producer: KafkaProducer;
  /** Metrics are registered here (re-used if already registered). */
  registry: Registry;
  logger?: Logger;
  /** Called once per topic before its first send (e.g. ensureEventTopic). */
  ensureTopic?: (topic: string) => Promise<void>;
  /** Events held while Kafka is away; default 1000. */
  capacity?: number;
  /** Messages per send; default 100. */
  batchSize?: number;
  /** Retry delays; default 500ms doubling to 30s, 20% jitter. */
  retry?: { baseMs?: number; maxMs?: number; jitter?: number };
  topicPrefix?: string;
  now?: () => Date;
};

type PublisherMetrics = {
  published: Counter;
  failures: Counter;
  dropped: Counter<'reason'>;
  depth: Gauge;
};

function metricsOn(registry: Registry): PublisherMetrics {
  const registers = [registry];
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  return {
    published:
      existing<Counter>('ymera_kafka_events_published_total') ??
      new Counter({
        name: 'ymera_kafka_events_published_total',
        help: 'Platform events acknowledged by Kafka.',
        registers,
      }),
    failures:
      existing<Counter>('ymera_kafka_events_publish_failures_total') ??
      new Counter({
        name: 'ymera_kafka_events_publish_failures_total',
        help: 'Failed attempts to send a batch of platform events (transient failures are retried with backoff).',
        registers,
      }),
    dropped:
      existing<Counter<'reason'>>('ymera_kafka_events_dropped_total') ??
      new Counter({
        name: 'ymera_kafka_events_dropped_total',
        help:
          'Platform events given up on: overflow (buffer full), invalid, shutdown (unsent at close), ' +
          'rejected (Kafka refused the event for good: too large, invalid, or topic not authorized).',
        labelNames: ['reason'],
        registers,
      }),
    depth:
      existing<Gauge>('ymera_kafka_events_buffer_depth') ??
      new Gauge({
        name: 'ymera_kafka_events_buffer_depth',
        help: 'Platform events waiting to be sent.',
        registers,
      }),
  };
}

export class EventPublisher {
  readonly #producer: KafkaProducer;
  readonly #log: Logger | undefined;
  readonly #ensureTopic: ((topic: string) => Promise<void>) | undefined;
  readonly #buffer: EventBuffer;
  readonly #recent = new RecentIds(4096);
  readonly #ensured = new Set<string>();
  readonly #batchSize: number;
  readonly #retry: { baseMs: number; maxMs: number; jitter: number };
  readonly #prefix: string;
  readonly #now: () => Date;
  readonly #metrics: PublisherMetrics;
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;
  /** Ids of the batch being sent: overflow does not evict them. */
  readonly #inFlight = new Set<string>();
  /** Sends left to make one event at a time, after a batch was refused for good. */
  #isolating = 0;
  #attempt = 0;
  #dropped = 0;
  #closed = false;

  constructor(options: EventPublisherOptions) {
    this.#producer = options.producer;
    this.#log = options.logger;
    this.#ensureTopic = options.ensureTopic;
    this.#buffer = new EventBuffer(options.capacity ?? 1000);
    this.#batchSize = options.batchSize ?? 100;
    this.#retry = {
      baseMs: options.retry?.baseMs ?? 500,
      maxMs: options.retry?.maxMs ?? 30_000,
      jitter: options.retry?.jitter ?? 0.2,
    };
    this.#prefix = options.topicPrefix ?? EVENT_TOPIC_PREFIX;
    this.#now = options.now ?? (() => new Date());
    this.#metrics = metricsOn(options.registry);
  }

  /** Events waiting to be sent. */
  get depth(): number {
    return this.#buffer.size;
  }

  /** Queues `event` and returns at once; never throws. */
  publish(event: PlatformEvent): PublishResult {
    let ce: CloudEvent;
    try {
      ce = toCloudEvent(event, this.#now());
    } catch (error) {
      this.#metrics.dropped.inc({ reason: 'invalid' });
      this.#log?.error('platform event not published: invalid', { err: error, type: event.type });
      return 'invalid';
    }
    if (this.#closed) {
      this.#metrics.dropped.inc({ reason: 'shutdown' });
      return 'closed';
    }
    if (this.#recent.has(ce.id)) return 'duplicate';
    const pushed = this.#buffer.push(
      {
        id: ce.id,
        type: ce.type,
        topic: eventTopic(event.resource.kind, this.#prefix),
        message: toKafkaMessage(ce),
      },
      this.#inFlight,
    );
    if (pushed === 'duplicate') return 'duplicate';
    if (pushed.dropped) {
      this.#dropped++;
      this.#metrics.dropped.inc({ reason: 'overflow' });
      // One line per 100 drops: an outage must not flood the log as well.
      if (this.#dropped === 1 || this.#dropped % 100 === 0) {
        this.#log?.warn('platform event buffer full; dropped the oldest event not in flight', {
          droppedId: pushed.dropped.id,
          droppedType: pushed.dropped.type,
          droppedTotal: this.#dropped,
          capacity: this.#buffer.capacity,
        });
      }
    }
    this.#metrics.depth.set(this.#buffer.size);
    // While backing off, the pending timer sends it: no extra attempt per publish.
    if (this.#timer === undefined) this.#schedule(0);
    return 'queued';
  }

  /**
   * Sends now (skipping a pending backoff once) and waits until the buffer
   * is empty or `timeoutMs` passed. A send already in flight is waited for
   * first: if it fails, its backoff is skipped once too, so close() does not
   * drop events one more try could deliver (and a down broker is not spun on).
   */
  async flush(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let kicked = false;
    while (this.#buffer.size > 0 && Date.now() < deadline) {
      if (!kicked && this.#sending === undefined) {
        kicked = true;
        if (this.#timer !== undefined) clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#startSending();
      }
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    return this.#buffer.size === 0;
  }

  /** Flushes, then stops; what is still unsent is counted as dropped (reason shutdown). */
  async close(timeoutMs = 5_000): Promise<void> {
    await this.flush(timeoutMs);
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#sending;
    const left = this.#buffer.drain();
    if (left.length > 0) {
      this.#metrics.dropped.inc({ reason: 'shutdown' }, left.length);
      this.#log?.warn('platform events unsent at shutdown', { count: left.length });
    }
    this.#metrics.depth.set(0);
  }

  #schedule(delayMs: number): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#startSending();
    }, delayMs);
    // Pending events must not keep the process alive on shutdown.
    this.#timer.unref();
  }

  /**
   * Starts the send loop unless one is in flight (it picks up new events when
   * it loops). #sending is cleared when that very loop settles, never inside
   * it: a loop that finds the buffer empty returns synchronously, and clearing
   * in its own finally would run before the assignment here, leaving a settled
   * promise in #sending that made every later timer a no-op (events stuck in
   * the buffer for good, with nothing logged).
   */
  #startSending(): void {
    if (this.#sending !== undefined) return;
    // The loop never rejects: a throw outside its send (a logger or metric
    // failing) is logged and retried with backoff, never an unhandled
    // rejection (fatal on Node 24) nor a throw out of close().
    const loop = this.#send().catch((error: unknown) => this.#loopFailed(error));
    this.#sending = loop;
    void loop.finally(() => {
      if (this.#sending === loop) this.#sending = undefined;
    });
  }

  #loopFailed(error: unknown): void {
    this.#inFlight.clear();
    const delay = this.#nextBackoff();
    try {
      this.#log?.error('platform event send loop failed; retrying', {
        retryInMs: delay,
        err: error instanceof Error ? error.message : String(error),
      });
    } catch {
      // The logger itself may be what failed; the retry below still happens.
    }
    this.#reschedule(delay);
  }

  /** The delay before the next try after a failure; each failure in a row doubles it (reset on a success). */
  #nextBackoff(): number {
    return exponentialBackoff({ attempt: this.#attempt++, ...this.#retry });
  }

  /** Replaces a pending timer (e.g. a 0 ms one from a publish during the send) by `delayMs`. */
  #reschedule(delayMs: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#schedule(delayMs);
  }

  async #send(): Promise<void> {
    for (;;) {
      const batch = this.#buffer.nextBatch(this.#isolating > 0 ? 1 : this.#batchSize);
      const first = batch[0];
      if (!first || this.#closed) return;
      for (const e of batch) this.#inFlight.add(e.id);
      let failure: { error: unknown } | undefined;
      try {
        if (this.#ensureTopic && !this.#ensured.has(first.topic)) {
          await this.#ensureTopic(first.topic);
          this.#ensured.add(first.topic);
        }
        await this.#producer.send(
          first.topic,
          batch.map((e) => e.message),
        );
      } catch (error) {
        failure = { error };
      } finally {
        this.#inFlight.clear();
      }
      if (failure) {
        this.#metrics.failures.inc();
        const code = permanentSendError(failure.error);
        if (code !== undefined && batch.length > 1) {
          // One bad event must not hold back the rest: send this batch one
          // event at a time, now, and drop only what Kafka refuses alone.
          this.#isolating = batch.length;
          this.#log?.warn('platform events refused by Kafka; sending them one at a time', {
            topic: first.topic,
            count: batch.length,
            kafkaCode: code,
          });
          continue;
        }
        if (code !== undefined) {
          if (this.#isolating > 0) this.#isolating--;
          this.#buffer.remove([first.id]);
          this.#metrics.dropped.inc({ reason: 'rejected' });
          this.#metrics.depth.set(this.#buffer.size);
          // Never the payload: it is what Kafka refused and may be large.
          this.#log?.error('platform event rejected by Kafka; dropped', {
            eventType: first.type,
            eventId: first.id,
            topic: first.topic,
            kafkaCode: code,
          });
          continue;
        }
        const delay = this.#nextBackoff();
        this.#log?.warn('platform events not sent; retrying', {
          topic: first.topic,
          count: batch.length,
          attempt: this.#attempt,
          retryInMs: delay,
          err: failure.error instanceof Error ? failure.error.message : String(failure.error),
        });
        this.#reschedule(delay);
        return;
      }
      this.#attempt = 0;
      if (this.#isolating > 0) this.#isolating--;
      this.#buffer.remove(batch.map((e) => e.id));
      for (const e of batch) this.#recent.add(e.id);
      this.#metrics.published.inc(batch.length);
      this.#metrics.depth.set(this.#buffer.size);
      this.#log?.debug('platform events sent', { topic: first.topic, count: batch.length });
    }
  }
}

/**
 * An ensureTopic for EventPublisher: creates a missing event topic (3
 * partitions, broker-default replication, 7 days retention) and accepts
 * one that exists, whatever its settings.
 */
export function ensureEventTopic(
  admin: KafkaAdmin,
  settings: { partitions?: number; replicationFactor?: number; configs?: Record<string, string> } = {},
): (topic: string) => Promise<void> {
  return async (topic) => {
    const found = (await admin.describeTopics([topic])).get(topic);
    if (found) return;
    try {
      await admin.createTopic({
        name: topic,
        partitions: settings.partitions ?? 3,
        ...(settings.replicationFactor !== undefined
          ? { replicationFactor: settings.replicationFactor }
          : {}),
        configs: settings.configs ?? { 'retention.ms': String(7 * 24 * 3600 * 1000) },
      });
    } catch (error) {
      if (error instanceof KafkaRequestError && error.kafkaCode === 'TOPIC_ALREADY_EXISTS') return;
      throw error;
    }
  };
}
