// Dead letters of LearningPipeline Kafka triggers, the pure part: what a
// delivered message is for a pipeline (skip, trigger, or dead letter and
// why), the dead-letter record (the original key and value, the original
// headers plus the reason and where it came from), the default dead-letter
// topic, and the bounded memory of messages whose processing keeps failing.
import type { RawOutgoingMessage } from './client.ts';
import type { EventValidator } from './event-schema.ts';
import { matchesFilter, parsePayload } from './trigger-filter.ts';

/** Reason classes: the metric label and the `ymera.dlq.reason-class` header. */
export type DeadLetterClass = 'malformed' | 'schema' | 'processing';

export interface DeadLetterReason {
  class: DeadLetterClass;
  message: string;
}

export type Verdict =
  | { kind: 'skip' }
  | { kind: 'match'; payload: unknown }
  | { kind: 'dead'; reason: DeadLetterReason }
  /** It would be dead-lettered, but it is a dead letter already (from `origin`): never again. */
  | { kind: 'loop'; reason: DeadLetterReason; origin: string };

/** The suffix of the default dead-letter topic (`<topic>.dlq`). */
export const DEAD_LETTER_SUFFIX = '.dlq';
/** Header names the dead-letter record adds to the original headers. */
export const DLQ_HEADER = {
  reason: 'ymera.dlq.reason',
  reasonClass: 'ymera.dlq.reason-class',
  topic: 'ymera.dlq.original-topic',
  partition: 'ymera.dlq.original-partition',
  offset: 'ymera.dlq.original-offset',
  pipeline: 'ymera.dlq.pipeline',
  time: 'ymera.dlq.time',
} as const;

export function deadLetterTopicOf(topic: string, configured?: string): string {
  return configured ?? `${topic}${DEAD_LETTER_SUFFIX}`;
}

/**
 * What a message is for a pipeline. Without a schema nothing changes from a
 * plain trigger: the filter decides (a non-JSON value matches an empty
 * filter). With a schema the topic's contract is JSON: a value that is not
 * JSON is `malformed`; a JSON value the filter selects must validate, else
 * `schema`; what the filter does not select is someone else's event.
 */
export function classifyMessage(
  value: string | undefined,
  filter: Record<string, string> | undefined,
  validate: EventValidator | undefined,
  headers: Record<string, string> = {},
): Verdict {
  const verdict = classifyValue(value, filter, validate);
  return verdict.kind === 'dead' ? notAgain(verdict.reason, headers) : verdict;
}

/**
 * A dead letter read back (its trigger topic is a dead-letter topic, its own
 * or another pipeline's) is never produced again: that could loop forever.
 */
export function notAgain(
  reason: DeadLetterReason,
  headers: Record<string, string>,
): { kind: 'dead'; reason: DeadLetterReason } | { kind: 'loop'; reason: DeadLetterReason; origin: string } {
  const origin = headers[DLQ_HEADER.topic];
  return origin === undefined ? { kind: 'dead', reason } : { kind: 'loop', reason, origin };
}

function classifyValue(
  value: string | undefined,
  filter: Record<string, string> | undefined,
  validate: EventValidator | undefined,
): Verdict {
  const payload = parsePayload(value);
  if (validate) {
    if (payload === undefined) {
      const message =
        value === undefined || value === '' ? 'event has no value' : 'event value is not valid JSON';
      return { kind: 'dead', reason: { class: 'malformed', message } };
    }
    if (!matchesFilter(payload, filter)) return { kind: 'skip' };
    const error = validate(payload);
    if (error) return { kind: 'dead', reason: { class: 'schema', message: error } };
    return { kind: 'match', payload };
  }
  return matchesFilter(payload, filter) ? { kind: 'match', payload } : { kind: 'skip' };
}

export interface OriginalMessage {
  topic: string;
  partition: number;
  offset: bigint;
  key?: string | Buffer | undefined;
  value?: string | Buffer | undefined;
  headers: Record<string, string | Buffer>;
}

/** The dead-letter record: original key, value and headers, plus why and from where. */
export function deadLetterRecord(
  original: OriginalMessage,
  reason: DeadLetterReason,
  pipeline: string,
  now: Date,
): RawOutgoingMessage {
  return {
    ...(original.key !== undefined ? { key: original.key } : {}),
    value: original.value ?? '',
    headers: {
      ...original.headers,
      [DLQ_HEADER.reason]: reason.message,
      [DLQ_HEADER.reasonClass]: reason.class,
      [DLQ_HEADER.topic]: original.topic,
      [DLQ_HEADER.partition]: String(original.partition),
      [DLQ_HEADER.offset]: original.offset.toString(),
      [DLQ_HEADER.pipeline]: pipeline,
      [DLQ_HEADER.time]: now.toISOString(),
    },
  };
}

/** Kafka headers (a Map of string or Buffer values, or absent) as a plain string record. */
export function headersRecord(headers: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!(headers instanceof Map)) return out;
  for (const [k, v] of headers as Map<unknown, unknown>) {
    const key = typeof k === 'string' ? k : Buffer.isBuffer(k) ? k.toString('utf8') : String(k);
    out[key] = typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  }
  return out;
}

/** Kafka headers as they came (values unchanged, bytes stay bytes), for the dead letter. */
export function rawHeaders(headers: unknown): Record<string, string | Buffer> {
  const out: Record<string, string | Buffer> = {};
  if (!(headers instanceof Map)) return out;
  for (const [k, v] of headers as Map<unknown, unknown>) {
    const key = typeof k === 'string' ? k : Buffer.isBuffer(k) ? k.toString('utf8') : String(k);
    out[key] = typeof v === 'string' || Buffer.isBuffer(v) ? v : String(v);
  }
  return out;
}

/**
 * Per partition/offset, how often handling a message threw (the consumer
 * restarts and reads it again). Bounded: the oldest entries go first.
 */
export class PoisonTracker {
  readonly #failures = new Map<string, { count: number; last: string }>();
  readonly #limit: number;

  constructor(limit = 1_000) {
    this.#limit = limit;
  }

  failed(partition: number, offset: bigint, error: string): number {
    const key = `${partition}:${offset}`;
    const entry = this.#failures.get(key) ?? { count: 0, last: '' };
    this.#failures.delete(key);
    entry.count += 1;
    entry.last = error;
    this.#failures.set(key, entry);
    if (this.#failures.size > this.#limit)
      this.#failures.delete(this.#failures.keys().next().value as string);
    return entry.count;
  }

  /** A processing reason once `maxAttempts` failed; undefined while retries remain. */
  exhausted(partition: number, offset: bigint, maxAttempts: number): DeadLetterReason | undefined {
    const entry = this.#failures.get(`${partition}:${offset}`);
    if (!entry || entry.count < maxAttempts) return undefined;
    return {
      class: 'processing',
      message: `processing failed ${entry.count} times: ${entry.last}`,
    };
  }

  forget(partition: number, offset: bigint): void {
    this.#failures.delete(`${partition}:${offset}`);
  }
}
