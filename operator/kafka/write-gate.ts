// The leader's write gate for Kafka, as kube/client.ts has one for the API
// server: once this replica no longer holds the lease, no topic is created,
// changed or deleted and no event is published, even by a reconcile that was
// in flight when the lease was lost (another leader may already be writing).
import type { KafkaAdmin, KafkaProducer } from './client.ts';

/** Why writes are refused now, or undefined while they are allowed. */
export type KafkaWriteGate = () => string | undefined;

export class KafkaWriteRefusedError extends Error {
  constructor(what: string, why: string) {
    super(`${what} not sent: ${why}`);
    this.name = 'KafkaWriteRefusedError';
  }
}

function check(gate: KafkaWriteGate, what: string): void {
  const why = gate();
  if (why !== undefined) throw new KafkaWriteRefusedError(what, why);
}

/** The admin with every mutating call checked against the gate first; reads pass through. */
export function gatedAdmin(admin: KafkaAdmin, gate: KafkaWriteGate): KafkaAdmin {
  return {
    listTopics: () => admin.listTopics(),
    describeTopics: (names) => admin.describeTopics(names),
    async createTopic(topic) {
      check(gate, `creating topic ${topic.name}`);
      return admin.createTopic(topic);
    },
    async alterTopicConfigs(name, changes) {
      check(gate, `changing the configs of topic ${name}`);
      return admin.alterTopicConfigs(name, changes);
    },
    async createPartitions(name, total) {
      check(gate, `adding partitions to topic ${name}`);
      return admin.createPartitions(name, total);
    },
    async deleteTopic(name) {
      check(gate, `deleting topic ${name}`);
      return admin.deleteTopic(name);
    },
  };
}

/** The producer with every send checked against the gate first. */
export function gatedProducer(producer: KafkaProducer, gate: KafkaWriteGate): KafkaProducer {
  return {
    async send(topic, messages) {
      check(gate, `publishing ${messages.length} message(s) to ${topic}`);
      return producer.send(topic, messages);
    },
  };
}
