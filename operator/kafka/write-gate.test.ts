import { describe, expect, it } from 'vitest';
import type { KafkaAdmin, KafkaProducer } from './client.ts';
import { gatedAdmin, gatedProducer, KafkaWriteRefusedError } from './write-gate.ts';

/** An admin and a producer that record what reached them (the gate is what is tested, not Kafka). */
function recording() {
  const calls: string[] = [];
  const admin: KafkaAdmin = {
    listTopics: async () => (calls.push('list'), ['t']),
    describeTopics: async (names) => (calls.push('describe'), new Map(names.map((n) => [n, undefined]))),
    createTopic: async (t) => void calls.push(`create ${t.name}`),
    alterTopicConfigs: async (n) => void calls.push(`alter ${n}`),
    createPartitions: async (n) => void calls.push(`partitions ${n}`),
    deleteTopic: async (n) => void calls.push(`delete ${n}`),
  };
  const producer: KafkaProducer = { send: async (topic) => void calls.push(`send ${topic}`) };
  return { calls, admin, producer };
}

describe('the Kafka write gate', () => {
  it('passes every call while open, and after the lease is lost refuses writes before they leave', async () => {
    const { calls, admin, producer } = recording();
    const state: { refusal?: string } = {};
    const gate = () => state.refusal;
    const a = gatedAdmin(admin, gate);
    const p = gatedProducer(producer, gate);
    await a.createTopic({ name: 'ns.t', partitions: 1 });
    await p.send('ymera.events.x', [{ value: '{}' }]);
    expect(calls).toEqual(['create ns.t', 'send ymera.events.x']);

    state.refusal = 'this replica does not hold the leader lease';
    calls.length = 0;
    for (const write of [
      () => a.createTopic({ name: 'ns.t', partitions: 1 }),
      () => a.alterTopicConfigs('ns.t', { set: {}, delete: [] }),
      () => a.createPartitions('ns.t', 3),
      () => a.deleteTopic('ns.t'),
      () => p.send('ymera.events.x', [{ value: '{}' }]),
    ]) {
      await expect(write()).rejects.toBeInstanceOf(KafkaWriteRefusedError);
    }
    expect(calls).toEqual([]);
    // reads still work (they change nothing)
    expect(await a.listTopics()).toEqual(['t']);
    await expect(a.deleteTopic('ns.t')).rejects.toThrow(/deleting topic ns.t not sent: .*leader lease/);
  });
});
