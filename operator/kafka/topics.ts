// Kafka topics as desired state, modelled on Strimzi's unidirectional topic
// operator: the custom resource is the single source of truth and Kafka is
// made to match it, never the other way round. Everything here is pure; the
// I/O lives in topic-reconciler.ts.
//
// Decisions (also what the tests pin down):
// - Which configs are managed: every dynamic topic config (source
//   DYNAMIC_TOPIC_CONFIG, i.e. set on the topic itself rather than inherited
//   from the broker) is managed. A dynamic config the spec does not list is
//   deleted, so the topic falls back to the broker default. This needs no
//   bookkeeping (it survives operator restarts and adoption) and it is what
//   Strimzi does: out-of-band changes are reverted on the next reconcile.
// - An existing topic the resource did not create (status.createdTopics) is
//   left alone (TopicExists) unless the spec says adopt: true; an adopted
//   topic only gets the configs the spec names set and partitions raised,
//   its other configs are never removed. Its data is never touched.
// - Topic names are bounded per namespace (topic-policy.ts): a forbidden
//   name gets TopicNotAllowed and no Kafka call at all.
// - Partitions can only grow and the replication factor cannot change:
//   such a spec is reported as NotSupported (the rest is still applied), not
//   retried as an error.
// - One topic, several claimants: the oldest resource (creationTimestamp,
//   then uid) owns it; the others get KafkaReady=False reason TopicConflict
//   naming the owner and leave it alone, also on deletion. Only claims the
//   name policy allows count, so another namespace cannot block a topic.
// - The annotation ymera.io/kafka-managed: "false" opts a resource out:
//   its topics are not created, changed or deleted, and it claims nothing.
import type { ConditionInput, ReasonMessage } from '../conditions.ts';
import { Reason } from '../conditions.ts';
import type { ObjectMeta } from '../kube/resources.ts';
import type { TopicDescription } from './client.ts';
import type { DeletionPolicy } from './topic-policy.ts';

export const KAFKA_MANAGED_ANNOTATION = 'ymera.io/kafka-managed';
/** Condition type written by every resource that declares topics. */
export const KAFKA_READY = 'KafkaReady';

/** What a controller declares for one topic (the CRD's kafkaTopicSettings plus the name). */
export interface TopicSpec {
  name: string;
  partitions: number;
  /** Omitted: the broker's default on create, and any value is accepted afterwards. */
  replicationFactor?: number;
  /** Topic configs, e.g. { "retention.ms": "604800000" }. */
  config?: Record<string, string>;
  /** Manage the topic although it existed before (only the named configs are set). */
  adopt?: boolean;
  /** Default: delete the topic with the resource only if the resource created it. */
  deletionPolicy?: DeletionPolicy;
  /** Where the name is declared, for messages (e.g. spec.logging.kafka.topic). */
  field?: string;
}

/** The custom resource that declares topics: its kind and metadata are all that matter here. */
export interface TopicOwner {
  kind: string;
  metadata: Pick<ObjectMeta, 'name' | 'namespace' | 'uid' | 'creationTimestamp' | 'annotations'>;
}

export type TopicAction =
  | {
      type: 'create';
      name: string;
      partitions: number;
      replicationFactor?: number;
      configs: Record<string, string>;
    }
  | { type: 'alterConfigs'; name: string; set: Record<string, string>; delete: string[] }
  | { type: 'createPartitions'; name: string; total: number };

export interface TopicPlan {
  name: string;
  /** To run in order; empty when the topic is in sync. */
  actions: TopicAction[];
  /** Part of the spec that is not applied; the actions still are (except for InvalidSpec). */
  problem?: { reason: 'NotSupported' | 'InvalidSpec'; message: string };
}

/** False only for the explicit opt-out annotation ("false", any case). */
export function isKafkaManaged(annotations: Record<string, string> | undefined): boolean {
  return annotations?.[KAFKA_MANAGED_ANNOTATION]?.trim().toLowerCase() !== 'false';
}

const TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;
const CONFIG_NAME = /^[a-z0-9][a-z0-9._-]*$/;

/** Why Kafka would reject this spec, naming the field; undefined when valid. */
export function validateTopicSpec(spec: TopicSpec): string | undefined {
  const n = spec.name;
  if (
    typeof n !== 'string' ||
    n.length === 0 ||
    n.length > 249 ||
    !TOPIC_NAME.test(n) ||
    n === '.' ||
    n === '..'
  ) {
    return `topic name ${JSON.stringify(n)} is invalid: 1-249 characters of [a-zA-Z0-9._-], not "." or ".."`;
  }
  if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
    return `topic ${n}: partitions must be an integer >= 1 (got ${spec.partitions})`;
  }
  const rf = spec.replicationFactor;
  if (rf !== undefined && (!Number.isInteger(rf) || rf < 1)) {
    return `topic ${n}: replicationFactor must be an integer >= 1 (got ${rf})`;
  }
  for (const [key, value] of Object.entries(spec.config ?? {})) {
    if (!CONFIG_NAME.test(key)) return `topic ${n}: config name ${JSON.stringify(key)} is invalid`;
    if (typeof value !== 'string') return `topic ${n}: config ${key} must be a string`;
  }
  return undefined;
}

/**
 * Config changes that make `actual` equal `desired`; keys sorted so plans
 * are deterministic. `prune: false` (an adopted topic) never deletes a
 * config the spec does not name.
 */
export function diffConfigs(
  desired: Record<string, string>,
  actual: Record<string, string>,
  prune = true,
): { set: Record<string, string>; delete: string[] } {
  const set: Record<string, string> = {};
  for (const key of Object.keys(desired).sort()) {
    if (actual[key] !== desired[key]) set[key] = desired[key] as string;
  }
  const remove = prune
    ? Object.keys(actual)
        .filter((key) => !Object.hasOwn(desired, key))
        .sort()
    : [];
  return { set, delete: remove };
}

/**
 * What to do to make the topic match the spec; `observed` undefined = the
 * topic does not exist. `prune: false` for a topic the resource adopted
 * rather than created: configs the spec does not name stay.
 */
export function planTopic(
  spec: TopicSpec,
  observed: TopicDescription | undefined,
  options: { prune?: boolean } = {},
): TopicPlan {
  const invalid = validateTopicSpec(spec);
  if (invalid) return { name: spec.name, actions: [], problem: { reason: 'InvalidSpec', message: invalid } };
  const desiredConfigs = spec.config ?? {};
  if (!observed) {
    return {
      name: spec.name,
      actions: [
        {
          type: 'create',
          name: spec.name,
          partitions: spec.partitions,
          ...(spec.replicationFactor !== undefined ? { replicationFactor: spec.replicationFactor } : {}),
          configs: { ...desiredConfigs },
        },
      ],
    };
  }
  const actions: TopicAction[] = [];
  const unsupported: string[] = [];
  const diff = diffConfigs(desiredConfigs, observed.configs, options.prune ?? true);
  if (Object.keys(diff.set).length > 0 || diff.delete.length > 0) {
    actions.push({ type: 'alterConfigs', name: spec.name, ...diff });
  }
  if (spec.partitions > observed.partitions) {
    actions.push({ type: 'createPartitions', name: spec.name, total: spec.partitions });
  } else if (spec.partitions < observed.partitions) {
    unsupported.push(
      `topic ${spec.name} has ${observed.partitions} partitions and the spec asks for ${spec.partitions}: ` +
        'Kafka cannot remove partitions (raise partitions back, or delete the topic and its data)',
    );
  }
  const rf = spec.replicationFactor;
  if (rf !== undefined && rf !== observed.replicationFactor) {
    unsupported.push(
      `topic ${spec.name} has replication factor ${observed.replicationFactor} and the spec asks for ${rf}: ` +
        'changing the replication factor of an existing topic is not supported',
    );
  }
  return {
    name: spec.name,
    actions,
    ...(unsupported.length > 0
      ? { problem: { reason: 'NotSupported' as const, message: unsupported.join('; ') } }
      : {}),
  };
}

/** Short human-readable description of an action, for logs and Events. */
export function describeAction(action: TopicAction): string {
  switch (action.type) {
    case 'create':
      return `created topic ${action.name} (${action.partitions} partitions)`;
    case 'createPartitions':
      return `raised partitions of ${action.name} to ${action.total}`;
    case 'alterConfigs': {
      const parts = [
        ...Object.entries(action.set).map(([k, v]) => `${k}=${v}`),
        ...action.delete.map((k) => `-${k}`),
      ];
      return `set configs of ${action.name}: ${parts.join(', ')}`;
    }
  }
}

// --- claims -----------------------------------------------------------------------

/** One resource declaring one topic (built from the informer caches with topicClaims). */
export interface TopicClaim {
  topic: string;
  kind: string;
  namespace?: string;
  name: string;
  uid: string;
  creationTimestamp?: string;
}

export interface ClaimResolution {
  topic: string;
  /** The oldest claim: this resource manages the topic. */
  owner: TopicClaim;
  /** Every other claimant, oldest first; they get TopicConflict. */
  conflicting: TopicClaim[];
}

/** The claims of one resource: none when it opted out of Kafka management. */
export function topicClaims(owner: TopicOwner, topics: readonly string[]): TopicClaim[] {
  if (!isKafkaManaged(owner.metadata.annotations)) return [];
  const m = owner.metadata;
  return [...new Set(topics)].map((topic) => ({
    topic,
    kind: owner.kind,
    ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
    name: m.name,
    uid: m.uid ?? '',
    ...(m.creationTimestamp !== undefined ? { creationTimestamp: m.creationTimestamp } : {}),
  }));
}

function createdAt(claim: TopicClaim): number {
  const t = claim.creationTimestamp === undefined ? NaN : Date.parse(claim.creationTimestamp);
  // No timestamp yet (not persisted): it cannot be older than anything that has one.
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

/** Older first; uid breaks ties (creationTimestamp has one-second resolution). */
export function compareClaims(a: TopicClaim, b: TopicClaim): number {
  const ta = createdAt(a);
  const tb = createdAt(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0;
}

/** Who owns each claimed topic. A resource claiming a topic twice counts once. */
export function resolveClaims(claims: readonly TopicClaim[]): Map<string, ClaimResolution> {
  const byTopic = new Map<string, TopicClaim[]>();
  for (const claim of claims) {
    const list = byTopic.get(claim.topic) ?? [];
    if (!list.some((c) => c.uid === claim.uid)) list.push(claim);
    byTopic.set(claim.topic, list);
  }
  const out = new Map<string, ClaimResolution>();
  for (const [topic, list] of byTopic) {
    const [owner, ...conflicting] = [...list].sort(compareClaims);
    if (owner) out.set(topic, { topic, owner, conflicting });
  }
  return out;
}

export function claimLabel(claim: Pick<TopicClaim, 'kind' | 'namespace' | 'name'>): string {
  return `${claim.kind} ${claim.namespace ? `${claim.namespace}/` : ''}${claim.name}`;
}

// --- results and conditions --------------------------------------------------------

export type TopicStatus =
  | 'Ready'
  | 'NotSupported'
  | 'TopicConflict'
  | 'TopicNotAllowed'
  | 'TopicExists'
  | 'InvalidSpec'
  | 'KafkaUnavailable'
  /** Finalizer: the topic is gone. */
  | 'Deleted'
  /** Finalizer: the topic belongs to an older claimant and stays. */
  | 'Retained';

export interface TopicOutcome {
  name: string;
  status: TopicStatus;
  /** Stable for a given state (condition messages must not churn). */
  message: string;
  /** What this reconcile changed, for logs and Events; empty when in sync. */
  changes: string[];
}

export type KafkaTopicsStatus =
  | 'Ready'
  | 'NotSupported'
  | 'TopicConflict'
  | 'TopicNotAllowed'
  | 'TopicExists'
  | 'InvalidSpec'
  | 'KafkaUnavailable'
  /** The resource opted out with ymera.io/kafka-managed: "false". */
  | 'Unmanaged'
  /** Finalizer done: nothing left in Kafka that this resource owns. */
  | 'Deleted';

export interface KafkaTopicsResult {
  status: KafkaTopicsStatus;
  message: string;
  topics: TopicOutcome[];
  /** KafkaUnavailable while the circuit is open: when a call will be tried again. */
  retryAfterMs?: number;
  /** Declared topics this resource created (for status.createdTopics); absent on the finalizer path. */
  created?: string[];
}

// Worst first: the summary takes the status of the worst topic.
const SEVERITY: readonly TopicStatus[] = [
  'KafkaUnavailable',
  'TopicNotAllowed',
  'InvalidSpec',
  'TopicConflict',
  'TopicExists',
  'NotSupported',
  'Ready',
  'Retained',
  'Deleted',
];

export const UNMANAGED_MESSAGE = `Kafka topics are not managed (annotation ${KAFKA_MANAGED_ANNOTATION}: "false")`;

/** Folds per-topic outcomes into one result; `deleting` for the finalizer path. */
export function summarizeTopics(
  outcomes: readonly TopicOutcome[],
  options: { deleting?: boolean; retryAfterMs?: number } = {},
): KafkaTopicsResult {
  const topics = [...outcomes];
  const worst = [...topics].sort((a, b) => SEVERITY.indexOf(a.status) - SEVERITY.indexOf(b.status))[0];
  const retry = options.retryAfterMs !== undefined ? { retryAfterMs: options.retryAfterMs } : {};
  if (!worst || worst.status === 'Ready' || worst.status === 'Retained' || worst.status === 'Deleted') {
    if (options.deleting) {
      return { status: 'Deleted', message: 'Kafka topics cleaned up', topics };
    }
    const names = topics.map((t) => t.name);
    const message =
      names.length === 0
        ? 'No Kafka topics declared'
        : `Kafka topic${names.length > 1 ? 's' : ''} ${names.join(', ')} in sync`;
    return { status: 'Ready', message, topics };
  }
  const bad = topics.filter((t) => t.status === worst.status);
  // KafkaUnavailable is one cause for every topic: say it once.
  const message =
    worst.status === 'KafkaUnavailable'
      ? (bad[0] as TopicOutcome).message
      : [...new Set(bad.map((t) => t.message))].join('; ');
  return { status: worst.status, message, topics, ...(worst.status === 'KafkaUnavailable' ? retry : {}) };
}

export type KafkaReadyCondition = Omit<ConditionInput, 'observedGeneration'>;

/** The KafkaReady condition for a reconcile result (an `extra` of summarize()). */
export function kafkaReadyCondition(result: KafkaTopicsResult): KafkaReadyCondition {
  const c = (status: 'True' | 'False', reason: string): KafkaReadyCondition => ({
    type: KAFKA_READY,
    status,
    reason,
    message: result.message,
  });
  switch (result.status) {
    case 'Ready':
    case 'Unmanaged':
      return c('True', Reason.Reconciled);
    case 'Deleted':
      return c('False', Reason.Deleting);
    case 'NotSupported':
      return c('False', Reason.NotSupported);
    case 'TopicConflict':
      return c('False', Reason.TopicConflict);
    case 'TopicNotAllowed':
      return c('False', Reason.TopicNotAllowed);
    case 'TopicExists':
      return c('False', Reason.TopicExists);
    case 'InvalidSpec':
      return c('False', Reason.InvalidSpec);
    case 'KafkaUnavailable':
      return c('False', Reason.KafkaUnavailable);
  }
}

/**
 * The Stalled input for results that only a change to the resource can fix
 * (NotSupported, InvalidSpec, TopicConflict, TopicNotAllowed, TopicExists); null otherwise, including
 * KafkaUnavailable, which heals by itself.
 */
export function kafkaStalled(result: KafkaTopicsResult): ReasonMessage | null {
  switch (result.status) {
    case 'NotSupported':
      return { reason: Reason.NotSupported, message: result.message };
    case 'InvalidSpec':
      return { reason: Reason.InvalidSpec, message: result.message };
    case 'TopicConflict':
    case 'TopicNotAllowed':
    case 'TopicExists':
      return { reason: result.status, message: result.message };
    default:
      return null;
  }
}
