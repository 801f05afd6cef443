// The I/O half of topic management: observe the topics a resource declares,
// run the plan from topics.ts, and report one result that maps onto the
// KafkaReady condition. It never throws for Kafka trouble: an outage is the
// result KafkaUnavailable, so the caller keeps reconciling everything else
// and requeues with backoff. The name policy (topic-policy.ts) is checked
// before any Kafka call: a forbidden topic is never described, created,
// changed or deleted.
import type { Logger } from '../logger.ts';
import type { TopicPolicy } from './topic-policy.ts';
import {
  DEFAULT_TOPIC_POLICY,
  deletesTopic,
  retainedReason,
  topicAllowed,
  topicNotAllowedMessage,
} from './topic-policy.ts';
import type { KafkaAdmin, TopicDescription } from './client.ts';
import { KafkaRequestError, KafkaUnavailableError, SPEC_REJECTIONS, asKafkaError } from './client.ts';
import type {
  KafkaTopicsResult,
  TopicAction,
  TopicClaim,
  TopicOutcome,
  TopicOwner,
  TopicSpec,
} from './topics.ts';
import {
  UNMANAGED_MESSAGE,
  claimLabel,
  describeAction,
  isKafkaManaged,
  planTopic,
  resolveClaims,
  summarizeTopics,
  topicClaims,
  validateTopicSpec,
} from './topics.ts';

export type TopicReconcileInput = {
  /** The custom resource declaring the topics. */
  owner: TopicOwner;
  topics: readonly TopicSpec[];
  /**
   * Claims of every resource that declares topics (all kinds, from the
   * informer caches, including resources being deleted, whose claim holds
   * until their finalizer ran). The owner's own claims are added if missing.
   */
  claims: readonly TopicClaim[];
  /** Topics the resource created earlier (status.createdTopics). */
  created?: readonly string[];
  /**
   * Persists the new list of created topics before a topic is created, so
   * creation is never unrecorded (and the finalizer is in place first).
   */
  recordCreated?: (created: string[]) => Promise<void>;
};

export type TopicFinalizeInput = {
  owner: TopicOwner;
  /** The topics the resource declares. */
  topics: readonly TopicSpec[];
  claims: readonly TopicClaim[];
  /** Topics the resource created (status.createdTopics). */
  created?: readonly string[];
};

export type TopicReconcilerOptions = {
  admin: KafkaAdmin;
  logger?: Logger;
  /** Which topic names each namespace may use; default: its own "<namespace>." prefix. */
  policy?: TopicPolicy;
};

const fieldOf = (spec: TopicSpec) => spec.field ?? 'topic';

function unavailableMessage(error: KafkaUnavailableError | KafkaRequestError): string {
  return error instanceof KafkaUnavailableError
    ? `Kafka is unavailable: ${error.message}`
    : `Kafka refused the request: ${error.message}`;
}

export class TopicReconciler {
  readonly #admin: KafkaAdmin;
  readonly #log: Logger | undefined;
  readonly policy: TopicPolicy;

  constructor(options: TopicReconcilerOptions) {
    this.#admin = options.admin;
    this.#log = options.logger;
    this.policy = options.policy ?? DEFAULT_TOPIC_POLICY;
  }

  /** Creates, adopts and aligns the owner's topics. */
  async reconcile(input: TopicReconcileInput): Promise<KafkaTopicsResult> {
    const { owner } = input;
    if (!isKafkaManaged(owner.metadata.annotations)) {
      return { status: 'Unmanaged', message: UNMANAGED_MESSAGE, topics: [] };
    }
    const outcomes = new Map<string, TopicOutcome>();
    const todo: TopicSpec[] = [];
    for (const spec of input.topics) {
      if (outcomes.has(spec.name) || todo.some((t) => t.name === spec.name)) {
        outcomes.set(spec.name, {
          name: spec.name,
          status: 'InvalidSpec',
          message: `topic ${spec.name} is declared twice`,
          changes: [],
        });
        continue;
      }
      const invalid = validateTopicSpec(spec);
      if (invalid) {
        outcomes.set(spec.name, { name: spec.name, status: 'InvalidSpec', message: invalid, changes: [] });
        continue;
      }
      const forbidden = topicNotAllowedMessage(
        this.policy,
        owner.metadata.namespace,
        spec.name,
        fieldOf(spec),
      );
      if (forbidden) {
        outcomes.set(spec.name, {
          name: spec.name,
          status: 'TopicNotAllowed',
          message: forbidden,
          changes: [],
        });
        continue;
      }
      const conflict = this.#conflict(owner, spec.name, input.claims);
      if (conflict) {
        outcomes.set(spec.name, conflict);
        continue;
      }
      todo.push(spec);
    }

    const declared = new Set(input.topics.map((t) => t.name));
    const created = new Set((input.created ?? []).filter((n) => declared.has(n)));
    let retryAfterMs: number | undefined;
    if (todo.length > 0) {
      let observed: Map<string, TopicDescription | undefined> | undefined;
      try {
        observed = await this.#admin.describeTopics(todo.map((t) => t.name));
      } catch (error) {
        const e = asKafkaError(error);
        retryAfterMs = e instanceof KafkaUnavailableError ? e.retryAfterMs : undefined;
        for (const t of todo) outcomes.set(t.name, this.#failed(t.name, e, []));
      }
      if (observed) {
        let down: KafkaUnavailableError | undefined;
        for (const spec of todo) {
          if (down) {
            // The breaker would refuse anyway; report instead of piling up calls.
            outcomes.set(spec.name, this.#failed(spec.name, down, []));
            continue;
          }
          const outcome = await this.#apply(
            owner,
            spec,
            observed.get(spec.name),
            created,
            input.recordCreated,
          );
          if (outcome.error instanceof KafkaUnavailableError) {
            down = outcome.error;
            retryAfterMs = down.retryAfterMs;
          }
          outcomes.set(spec.name, outcome.outcome);
        }
      }
    }
    const ordered = [...declared].map((n) => outcomes.get(n) as TopicOutcome);
    return {
      ...summarizeTopics(ordered, retryAfterMs !== undefined ? { retryAfterMs } : {}),
      created: [...declared].filter((n) => created.has(n)),
    };
  }

  /**
   * Finalizer step: deletes the topics this resource created (or adopted
   * with deletionPolicy: Delete); an unknown topic counts as deleted. Topics
   * it may not name, topics owned by an older claimant and adopted or
   * Retain topics stay. The finalizer may be removed when the result is
   * Deleted or Unmanaged.
   */
  async finalize(input: TopicFinalizeInput): Promise<KafkaTopicsResult> {
    const { owner } = input;
    if (!isKafkaManaged(owner.metadata.annotations)) {
      return { status: 'Unmanaged', message: UNMANAGED_MESSAGE, topics: [] };
    }
    const outcomes: TopicOutcome[] = [];
    let down: KafkaUnavailableError | KafkaRequestError | undefined;
    let retryAfterMs: number | undefined;
    const created = new Set(input.created ?? []);
    const seen = new Set<string>();
    for (const spec of input.topics) {
      const name = spec.name;
      if (seen.has(name)) continue;
      seen.add(name);
      if (!topicAllowed(this.policy, owner.metadata.namespace, name)) {
        const message = `topic ${name} stays: ${topicNotAllowedMessage(this.policy, owner.metadata.namespace, name, fieldOf(spec))}`;
        outcomes.push({ name, status: 'Retained', message, changes: [] });
        continue;
      }
      const ownership = {
        created: created.has(name),
        ...(spec.adopt !== undefined ? { adopt: spec.adopt } : {}),
        ...(spec.deletionPolicy ? { deletionPolicy: spec.deletionPolicy } : {}),
      };
      if (!deletesTopic(ownership)) {
        outcomes.push({ name, status: 'Retained', message: retainedReason(name, ownership), changes: [] });
        continue;
      }
      const conflict = this.#conflict(owner, name, input.claims);
      if (conflict) {
        outcomes.push({
          ...conflict,
          status: 'Retained',
          message: `topic ${name} stays: ${conflict.message}`,
        });
        continue;
      }
      if (down) {
        outcomes.push(this.#failed(name, down, []));
        continue;
      }
      try {
        await this.#admin.deleteTopic(name);
        this.#log?.info('kafka topic deleted', { topic: name, owner: claimLabel(ownerClaim(owner, name)) });
        outcomes.push({
          name,
          status: 'Deleted',
          message: `topic ${name} deleted`,
          changes: [`deleted ${name}`],
        });
      } catch (error) {
        down = asKafkaError(error);
        if (down instanceof KafkaUnavailableError) retryAfterMs = down.retryAfterMs;
        outcomes.push(this.#failed(name, down, []));
      }
    }
    return summarizeTopics(outcomes, {
      deleting: true,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }

  #conflict(owner: TopicOwner, topic: string, claims: readonly TopicClaim[]): TopicOutcome | undefined {
    const mine = ownerClaim(owner, topic);
    // a claim the name policy forbids counts for nothing: another namespace cannot block a topic
    const valid = claims.filter((c) => c.topic === topic && topicAllowed(this.policy, c.namespace, topic));
    const resolution = resolveClaims([...valid, mine]).get(topic);
    const winner = resolution?.owner;
    if (!winner || winner.uid === mine.uid) return undefined;
    return {
      name: topic,
      status: 'TopicConflict',
      message: `topic ${topic} is already claimed by ${claimLabel(winner)}, which declared it first; this resource leaves it alone`,
      changes: [],
    };
  }

  #failed(name: string, error: KafkaUnavailableError | KafkaRequestError, changes: string[]): TopicOutcome {
    if (error instanceof KafkaRequestError && SPEC_REJECTIONS.has(error.kafkaCode)) {
      return { name, status: 'InvalidSpec', message: `topic ${name}: ${error.message}`, changes };
    }
    // A refusal that is not about the spec (authorization, a broker bug) is
    // reported like an outage: nothing the resource can change fixes it.
    return { name, status: 'KafkaUnavailable', message: unavailableMessage(error), changes };
  }

  async #apply(
    owner: TopicOwner,
    spec: TopicSpec,
    observed: TopicDescription | undefined,
    created: Set<string>,
    record: ((created: string[]) => Promise<void>) | undefined,
  ): Promise<{ outcome: TopicOutcome; error?: KafkaUnavailableError | KafkaRequestError }> {
    const who = claimLabel(ownerClaim(owner, spec.name));
    // an existing topic this resource did not create: hands off unless adopted
    const exists = (): TopicOutcome | undefined =>
      created.has(spec.name) || spec.adopt
        ? undefined
        : {
            name: spec.name,
            status: 'TopicExists',
            message:
              `topic ${spec.name} already exists and was not created by ${who}: nothing is changed; ` +
              `set adopt: true next to ${fieldOf(spec)} to manage it (only the configs the spec names are set, the others are kept)`,
            changes: [],
          };
    const planFor = (o: TopicDescription | undefined) =>
      planTopic(spec, o, { prune: created.has(spec.name) });
    if (observed) {
      const refused = exists();
      if (refused) return { outcome: refused };
    }
    let plan = planFor(observed);
    const changes: string[] = [];
    for (let attempt = 0; ; attempt++) {
      try {
        for (const action of plan.actions) {
          if (action.type === 'create' && !created.has(spec.name)) {
            // recorded first: a crash after the create must not leave a topic nobody deletes
            await record?.([...created, spec.name]);
            created.add(spec.name);
          }
          await this.#run(action);
          const change = describeAction(action);
          changes.push(change);
          this.#log?.info(`kafka ${action.type === 'create' ? 'topic created' : 'topic updated'}`, {
            topic: spec.name,
            owner: who,
            change,
          });
        }
        break;
      } catch (error) {
        const e = asKafkaError(error);
        // Created by someone else since we looked: not ours; adopt it only when the spec says so.
        if (e instanceof KafkaRequestError && e.kafkaCode === 'TOPIC_ALREADY_EXISTS' && attempt === 0) {
          created.delete(spec.name);
          const refused = exists();
          if (refused) return { outcome: refused };
          try {
            const again = await this.#admin.describeTopics([spec.name]);
            plan = planFor(again.get(spec.name));
            continue;
          } catch (inner) {
            const e2 = asKafkaError(inner);
            return { outcome: this.#failed(spec.name, e2, changes), error: e2 };
          }
        }
        return { outcome: this.#failed(spec.name, e, changes), error: e };
      }
    }
    if (plan.problem) {
      this.#log?.warn('kafka topic spec not applicable', {
        topic: spec.name,
        owner: who,
        reason: plan.problem.reason,
      });
      return {
        outcome: { name: spec.name, status: plan.problem.reason, message: plan.problem.message, changes },
      };
    }
    const adopted = !created.has(spec.name) ? ' (adopted: configs the spec does not name are kept)' : '';
    return {
      outcome: { name: spec.name, status: 'Ready', message: `topic ${spec.name} in sync${adopted}`, changes },
    };
  }

  async #run(action: TopicAction): Promise<void> {
    switch (action.type) {
      case 'create':
        return this.#admin.createTopic({
          name: action.name,
          partitions: action.partitions,
          ...(action.replicationFactor !== undefined ? { replicationFactor: action.replicationFactor } : {}),
          configs: action.configs,
        });
      case 'alterConfigs':
        return this.#admin.alterTopicConfigs(action.name, { set: action.set, delete: action.delete });
      case 'createPartitions':
        return this.#admin.createPartitions(action.name, action.total);
    }
  }
}

function ownerClaim(owner: TopicOwner, topic: string): TopicClaim {
  // topicClaims is empty only for unmanaged owners, which never get here.
  return (
    topicClaims(owner, [topic])[0] ?? {
      topic,
      kind: owner.kind,
      name: owner.metadata.name,
      uid: owner.metadata.uid ?? '',
    }
  );
}
