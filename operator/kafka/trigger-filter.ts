// Pure helpers for LearningPipeline Kafka triggers: which messages match a
// pipeline's filter, the identity of a trigger event (what a run ID is
// derived from, so a redelivered event maps to the same run) and the
// consumer group of a pipeline.
import { clip } from '../text.ts';

/** A message that matched a pipeline's trigger filter. */
export interface TriggerEvent {
  /**
   * Stable identity: `ce:<source>/<id>` for a CloudEvent (a producer retry at
   * another offset is the same event), else `kafka:<topic>/<partition>/<offset>`.
   */
  id: string;
  /** Short human description for status and run annotations (≤ 256 chars). */
  cause: string;
  topic: string;
  partition: number;
  /** Kafka offset as a decimal string (JSON has no bigint). */
  offset: string;
  /** The CloudEvent's `time`, when it has one. */
  time?: string;
}

export interface TriggerMessage {
  topic: string;
  partition: number;
  offset: bigint;
  value: string | undefined;
  key?: string;
}

const MAX_CAUSE = 256;

/** The JSON value of a message, or undefined when it is absent or not JSON. */
export function parsePayload(value: string | undefined): unknown {
  if (value === undefined || value === '') return undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

type Envelope = Record<string, unknown>;

function isObject(v: unknown): v is Envelope {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A CloudEvent envelope (structured mode): a JSON object with a string `specversion`. */
function cloudEvent(payload: unknown): Envelope | undefined {
  return isObject(payload) && typeof payload.specversion === 'string' ? payload : undefined;
}

function lookup(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const part of path) {
    if (!isObject(current) || !Object.hasOwn(current, part)) return undefined;
    current = current[part];
  }
  return current;
}

/** Scalars compare by their string form; objects, arrays and null never match. */
function scalarString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  return undefined;
}

/**
 * Whether a parsed message value satisfies every `path: value` of the filter.
 * Paths are dotted (`model.name`); a field matches when its string form
 * equals the filter value exactly. An empty or absent filter matches
 * anything, non-JSON payloads included (pass undefined for those).
 *
 * CloudEvents (a `specversion` field) are matched on the envelope first and,
 * when the field is absent there or differs, under `data`. So `{type: drift}`
 * matches a plain `{"type":"drift"}` and also a CloudEvent whose data has
 * `type: drift` although its envelope `type` is e.g. `com.acme.alert`.
 */
export function matchesFilter(payload: unknown, filter: Record<string, string> | undefined): boolean {
  if (filter === undefined) return true;
  const ce = cloudEvent(payload);
  for (const [key, expected] of Object.entries(filter)) {
    const path = key.split('.');
    if (scalarString(lookup(payload, path)) === expected) continue;
    if (ce === undefined || scalarString(lookup(ce.data, path)) !== expected) return false;
  }
  return true;
}

const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * The trigger event of a message. `payload` is its parsed value (parsed here
 * when not given). A CloudEvent needs a non-empty `source` and `id` to be
 * identified by them; otherwise the Kafka coordinates are the identity.
 */
export function triggerEventOf(
  message: TriggerMessage,
  payload: unknown = parsePayload(message.value),
): TriggerEvent {
  const offset = message.offset.toString();
  const base = { topic: message.topic, partition: message.partition, offset };
  const ce = cloudEvent(payload);
  const ceId = nonEmpty(ce?.id);
  const ceSource = nonEmpty(ce?.source);
  if (ce !== undefined && ceId !== undefined && ceSource !== undefined) {
    const type = nonEmpty(ce.type);
    const time = nonEmpty(ce.time);
    return {
      id: `ce:${ceSource}/${ceId}`,
      cause: clip(`event ${ceId}${type ? ` (${type})` : ''} on ${message.topic}`, MAX_CAUSE),
      ...base,
      ...(time !== undefined ? { time } : {}),
    };
  }
  return {
    id: `kafka:${message.topic}/${message.partition}/${offset}`,
    cause: clip(`message ${message.topic}/${message.partition}@${offset}`, MAX_CAUSE),
    ...base,
  };
}

/**
 * `ymera.lpipe.<namespace>.<name>.<uid[0:8]>`: one group per pipeline. The uid
 * part keeps a re-created pipeline of the same name from inheriting the old
 * group's offsets. Namespaces cannot contain dots, so the id is unambiguous.
 */
export function consumerGroupId(namespace: string, name: string, uid: string): string {
  return `ymera.lpipe.${namespace}.${name}.${uid.slice(0, 8)}`;
}
