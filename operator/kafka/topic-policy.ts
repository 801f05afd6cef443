// Which Kafka topics a namespace may name, and what the operator may do to a
// topic: pure rules, modelled on Strimzi's topic operator, so that a custom
// resource can only reach the topics its own namespace owns.
//
// - Names: a namespaced resource may use topics whose name starts with
//   "<namespace>." plus what the cluster admin allow-lists for that namespace
//   (operator flag --kafka-topic-allow / chart kafka.topicAllowList): exact
//   names, or prefixes written "foo*". The entry namespace "*" applies to
//   every namespace. Cluster-scoped resources (made by cluster admins) are
//   not restricted.
// - Creation is recorded (status.createdTopics); only a topic the resource
//   created is deleted with it, unless the spec says deletionPolicy: Delete
//   for a topic it adopted. deletionPolicy: Retain keeps even a created one.
// - An existing topic the resource did not create is managed only with
//   adopt: true, and then only the configs the spec names are set; the
//   others are never removed.

/** Namespace ("*" = every namespace) → allowed exact names and "prefix*" patterns. */
export type TopicAllowList = Readonly<Record<string, readonly string[]>>;

export interface TopicPolicy {
  allow: TopicAllowList;
}

/** The default: every namespace gets its own "<namespace>." prefix and nothing else. */
export const DEFAULT_TOPIC_POLICY: TopicPolicy = { allow: {} };

/** The operator flag an admin uses to grant more names (named in messages). */
export const TOPIC_ALLOW_FLAG = '--kafka-topic-allow';

const NAMESPACE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?|\*)$/;
const PATTERN = /^[a-zA-Z0-9._-]+\*?$/;

/**
 * Parses "ns=pattern,ns=pattern,*=pattern" (patterns: an exact topic name or
 * "prefix*"). Throws an Error naming the bad entry and the format.
 */
export function parseTopicAllowList(text: string): TopicAllowList {
  const out: Record<string, string[]> = {};
  for (const entry of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const eq = entry.indexOf('=');
    const ns = eq > 0 ? entry.slice(0, eq).trim() : '';
    const pattern = eq > 0 ? entry.slice(eq + 1).trim() : '';
    if (!NAMESPACE.test(ns) || ns.length > 63 || !PATTERN.test(pattern) || pattern.length > 249) {
      throw new Error(
        `entry ${JSON.stringify(entry)} must be <namespace>=<topic> or <namespace>=<prefix>* ` +
          '(namespace: an RFC 1123 label or *, topic characters [a-zA-Z0-9._-])',
      );
    }
    const list = out[ns] ?? [];
    if (!list.includes(pattern)) list.push(pattern);
    out[ns] = list;
  }
  return out;
}

function matches(pattern: string, topic: string): boolean {
  return pattern.endsWith('*') ? topic.startsWith(pattern.slice(0, -1)) : topic === pattern;
}

/** The admin-granted patterns that apply to a namespace. */
export function grantedPatterns(policy: TopicPolicy, namespace: string): string[] {
  return [...new Set([...(policy.allow[namespace] ?? []), ...(policy.allow['*'] ?? [])])];
}

/** Whether a resource in `namespace` (undefined: cluster-scoped) may name `topic`. */
export function topicAllowed(policy: TopicPolicy, namespace: string | undefined, topic: string): boolean {
  if (namespace === undefined || namespace === '') return true;
  if (topic.startsWith(`${namespace}.`)) return true;
  return grantedPatterns(policy, namespace).some((p) => matches(p, topic));
}

/**
 * Why `topic` is not allowed, naming the field, the namespace and what is
 * allowed; undefined when it is allowed.
 */
export function topicNotAllowedMessage(
  policy: TopicPolicy,
  namespace: string | undefined,
  topic: string,
  field: string,
): string | undefined {
  if (topicAllowed(policy, namespace, topic)) return undefined;
  const ns = namespace as string;
  const granted = grantedPatterns(policy, ns);
  return (
    `${field}: topic ${JSON.stringify(topic)} is not allowed in namespace ${ns}: ` +
    `topics must start with "${ns}."` +
    (granted.length > 0 ? ` or match the cluster admin's allow-list (${granted.join(', ')})` : '') +
    `; a cluster admin can grant more names with the operator flag ${TOPIC_ALLOW_FLAG} (chart value kafka.topicAllowList)`
  );
}

// --- what the operator may do to a topic ---------------------------------------------

export type DeletionPolicy = 'Delete' | 'Retain';

/** What decides the fate of one declared topic at deletion. */
export interface TopicOwnership {
  /** The resource created the topic (recorded in status.createdTopics). */
  created: boolean;
  /** spec adopt: true. */
  adopt?: boolean;
  deletionPolicy?: DeletionPolicy;
}

/**
 * Whether deleting the resource deletes the topic: a created topic unless
 * Retain; an adopted one only with Delete; never a topic the resource neither
 * created nor adopted. (Name policy and claims are checked by the caller.)
 */
export function deletesTopic(o: TopicOwnership): boolean {
  if (o.deletionPolicy === 'Retain') return false;
  if (o.created) return true;
  return o.adopt === true && o.deletionPolicy === 'Delete';
}

/** Why a topic stays when its resource is deleted (for the finalizer's result). */
export function retainedReason(topic: string, o: TopicOwnership): string {
  if (o.deletionPolicy === 'Retain') return `topic ${topic} stays (deletionPolicy: Retain)`;
  if (o.adopt)
    return `topic ${topic} stays: it was adopted, not created (set deletionPolicy: Delete to delete it)`;
  return `topic ${topic} stays: this resource did not create it`;
}
