// The JSON Schema a LearningPipeline's Kafka trigger declares, resolved and
// checked (pure): inline in the spec, or the text of a key of a ConfigMap in
// the pipeline's own namespace (the controller reads it; never another
// namespace). A problem names the spec field and is a user's to fix.
import { compileEventSchema } from '../../operator/kafka/event-schema.ts';
import { deadLetterTopicOf } from '../../operator/kafka/dead-letter.ts';
import type { TopicPolicy } from '../../operator/kafka/topic-policy.ts';
import { TOPIC_ALLOW_FLAG, topicAllowed, topicNotAllowedMessage } from '../../operator/kafka/topic-policy.ts';
import type { Blocker } from '../shared/skeleton-status.ts';
import { jsonErrorPosition } from './json-position.ts';

export interface TriggerSchemaSource {
  inline?: Record<string, unknown>;
  configMapKeyRef?: { name: string; key: string };
}

export const SCHEMA_FIELD = 'spec.triggers.kafka.schema';
export const DEAD_LETTER_FIELD = 'spec.triggers.kafka.deadLetter.topic';

/**
 * The usable schema (undefined when none is declared), or why there is none.
 * `configMap` is the ConfigMap configMapKeyRef names, undefined when it does not exist.
 */
export function resolveTriggerSchema(
  source: TriggerSchemaSource | undefined,
  configMap: { data?: Record<string, string> } | undefined,
  namespace: string,
): { schema?: Record<string, unknown> } | { blocker: Blocker } {
  if (!source) return {};
  let field: string;
  let schema: unknown;
  if (source.inline !== undefined) {
    field = `${SCHEMA_FIELD}.inline`;
    schema = source.inline;
  } else if (source.configMapKeyRef) {
    const { name, key } = source.configMapKeyRef;
    field = `${SCHEMA_FIELD}.configMapKeyRef`;
    const text = configMap?.data?.[key];
    if (configMap === undefined || text === undefined) {
      const what =
        configMap === undefined
          ? `ConfigMap ${namespace}/${name} does not exist`
          : `ConfigMap ${namespace}/${name} has no key ${JSON.stringify(key)}`;
      return {
        blocker: { reason: 'SchemaNotFound', message: `${field}: ${what}`, transient: false },
      };
    }
    try {
      schema = JSON.parse(text) as unknown;
    } catch {
      // never the parser's message: V8 quotes the text, which may be a secret pasted by mistake
      const at = jsonErrorPosition(text);
      const where = at === undefined ? '' : ` (position ${at})`;
      return {
        blocker: {
          reason: 'InvalidSchema',
          message: `${field}: key ${JSON.stringify(key)} of ConfigMap ${namespace}/${name} is not JSON${where}`,
          transient: false,
        },
      };
    }
  } else {
    return {};
  }
  const compiled = compileEventSchema(schema);
  if ('error' in compiled) {
    return { blocker: { reason: 'InvalidSchema', message: `${field}: ${compiled.error}`, transient: false } };
  }
  return { schema: schema as Record<string, unknown> };
}

/** The dead-letter topic of a trigger (configured, else `<topic>.dlq`). */
export function triggerDeadLetterTopic(trigger: { topic: string; deadLetter?: { topic?: string } }): string {
  return deadLetterTopicOf(trigger.topic, trigger.deadLetter?.topic);
}

export const TRIGGER_TOPIC_FIELD = 'spec.triggers.kafka.topic';

/** How a trigger may use Kafka under the namespace's topic policy. */
export type TriggerTopics =
  /** The trigger stalls: its topic, or the dead-letter topic it set explicitly, is not allowed. */
  | { forbidden: string }
  /** Dead letters go to `deadLetterTopic`. */
  | { deadLetterTopic: string }
  /**
   * The default `<topic>.dlq` is not allowed (e.g. only the exact topic was
   * granted): the trigger still consumes, and what would be dead-lettered is
   * held instead (offset not committed past, redelivered after a restart).
   */
  | { deadLetterOff: string };

/**
 * Reading another namespace's topic (or writing its dead letters there) is
 * cross-namespace reach: same name policy as declared topics. Only an
 * explicit deadLetter.topic stalls; a pipeline that never asked for dead
 * letters keeps consuming when its default dead-letter topic is not granted.
 */
export function triggerTopics(
  policy: TopicPolicy,
  namespace: string,
  trigger: { topic: string; deadLetter?: { topic?: string } },
): TriggerTopics {
  const forbidden = topicNotAllowedMessage(policy, namespace, trigger.topic, TRIGGER_TOPIC_FIELD);
  if (forbidden) return { forbidden };
  const deadLetterTopic = triggerDeadLetterTopic(trigger);
  if (trigger.deadLetter?.topic !== undefined) {
    const explicit = topicNotAllowedMessage(policy, namespace, deadLetterTopic, DEAD_LETTER_FIELD);
    return explicit ? { forbidden: explicit } : { deadLetterTopic };
  }
  if (topicAllowed(policy, namespace, deadLetterTopic)) return { deadLetterTopic };
  return {
    deadLetterOff:
      `the default dead-letter topic ${JSON.stringify(deadLetterTopic)} is not allowed in namespace ${namespace}; ` +
      `set ${DEAD_LETTER_FIELD} to an allowed topic, or a cluster admin grants ${namespace}=${deadLetterTopic} ` +
      `with ${TOPIC_ALLOW_FLAG} (chart value kafka.topicAllowList). Until then events that would be dead-lettered ` +
      'are held: not committed past, and read again after a restart',
  };
}
