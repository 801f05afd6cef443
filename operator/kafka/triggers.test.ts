import { describe, expect, it } from 'vitest';
import type { TriggerEvent } from './trigger-filter.ts';
import { triggerEventOf } from './trigger-filter.ts';
import { DLQ_HEADER, deadLetterRecord, rawHeaders } from './dead-letter.ts';
import { bytesOrString } from './platformatic.ts';
import { PartitionOffsets, RECENT_ACKS, TriggerLedger, rawDeserializers } from './triggers.ts';

/** The commit points only, as `partition@offset`, sorted by partition. */
const points = (o: PartitionOffsets): string[] =>
  o
    .commitable()
    .sort((a, b) => a.partition - b.partition)
    .map((c) => `${c.partition}@${c.offset}`);

/** Delivers and holds each offset, like a matching event with its own id. */
const deliverHeld = (o: PartitionOffsets, partition: number, ...offsets: bigint[]): void => {
  for (const off of offsets) {
    expect(o.deliver(partition, off, 0)).toBe(true);
    o.hold(partition, off);
  }
};

const ev = (id: string, partition = 0, offset = 0n): TriggerEvent => ({
  id,
  cause: `event ${id}`,
  topic: 't',
  partition,
  offset: offset.toString(),
});

/** A delivery as Subscription#message does it: deliver, then hold when it matched. */
const receive = (l: TriggerLedger, partition: number, offset: bigint, event?: TriggerEvent) => {
  if (!l.offsets.deliver(partition, offset, 0)) return 'redelivered';
  return event ? l.matched(event, partition, offset) : 'not matching';
};

describe('PartitionOffsets', () => {
  it('commits an assigned start at once, then nothing until it moves', () => {
    const o = new PartitionOffsets();
    o.assign(0, 10n);
    expect(o.commitable()).toEqual([{ partition: 0, offset: 10n, leaderEpoch: -1 }]);
    o.committed(0, 10n);
    expect(o.commitable()).toEqual([]);
  });

  it('reports one past the last offset read per partition, held or not', () => {
    const o = new PartitionOffsets();
    expect(o.positions()).toEqual(new Map());
    o.assign(0, 10n);
    o.assign(1, 0n);
    expect(o.positions()).toEqual(
      new Map([
        [0, 10n],
        [1, 0n],
      ]),
    );
    deliverHeld(o, 0, 10n);
    o.deliver(0, 11n, 0); // not matching: read, not held
    expect(o.positions()).toEqual(
      new Map([
        [0, 12n],
        [1, 0n],
      ]),
    );
  });

  it('keeps the state of a known partition when assigned again', () => {
    const o = new PartitionOffsets();
    o.assign(0, 10n);
    deliverHeld(o, 0, 10n, 11n);
    o.release(0, 10n);
    o.assign(0, 3n);
    expect(points(o)).toEqual(['0@11']);
    expect(o.deliver(0, 11n, 0)).toBe(false);
  });

  it('moves the commit point one by one with in-order acks, to one past the last delivered', () => {
    const o = new PartitionOffsets();
    o.assign(0, 10n);
    deliverHeld(o, 0, 10n, 11n, 12n);
    expect(points(o)).toEqual(['0@10']);
    o.release(0, 10n);
    expect(points(o)).toEqual(['0@11']);
    o.release(0, 11n);
    expect(points(o)).toEqual(['0@12']);
    o.release(0, 12n);
    expect(points(o)).toEqual(['0@13']);
  });

  it('holds the commit point at the lowest un-acked offset with out-of-order acks', () => {
    const o = new PartitionOffsets();
    o.assign(0, 10n);
    deliverHeld(o, 0, 10n, 11n, 12n, 13n);
    o.release(0, 13n);
    o.release(0, 11n);
    expect(points(o)).toEqual(['0@10']);
    o.release(0, 10n);
    expect(points(o)).toEqual(['0@12']);
    o.release(0, 12n);
    expect(points(o)).toEqual(['0@14']);
  });

  it('keeps an un-acked offset holding the commit point while later offsets are delivered', () => {
    const o = new PartitionOffsets();
    o.assign(0, 0n);
    deliverHeld(o, 0, 0n);
    o.committed(0, 0n);
    for (let i = 1n; i < 50n; i++) expect(o.deliver(0, i, 0)).toBe(true);
    expect(o.commitable()).toEqual([]);
    o.release(0, 0n);
    expect(points(o)).toEqual(['0@50']);
  });

  it('never moves the commit point backwards', () => {
    const o = new PartitionOffsets();
    o.assign(0, 0n);
    for (let i = 0n; i < 5n; i++) o.deliver(0, i, 0);
    expect(points(o)).toEqual(['0@5']);
    o.committed(0, 5n);
    // A stale commit result of a lower offset does not lower the committed mark.
    o.committed(0, 2n);
    expect(o.commitable()).toEqual([]);
    // A hold below the committed mark is never offered as a commit.
    o.hold(0, 3n);
    expect(o.commitable()).toEqual([]);
    o.release(0, 3n);
    o.deliver(0, 5n, 0);
    expect(points(o)).toEqual(['0@6']);
  });

  it('rejects offsets below the position (a rewound stream) without moving it back', () => {
    const o = new PartitionOffsets();
    o.assign(0, 10n);
    expect(o.deliver(0, 10n, 1)).toBe(true);
    expect(o.deliver(0, 11n, 1)).toBe(true);
    expect(o.deliver(0, 10n, 1)).toBe(false);
    expect(o.deliver(0, 5n, 1)).toBe(false);
    expect(points(o)).toEqual(['0@12']);
    expect(o.deliver(0, 12n, 1)).toBe(true);
  });

  it('jumps over gaps in offsets (compaction, transactions)', () => {
    const o = new PartitionOffsets();
    o.assign(0, 10n);
    o.deliver(0, 10n, 0);
    o.deliver(0, 17n, 0);
    expect(points(o)).toEqual(['0@18']);
  });

  it('reports the leader epoch of the last delivered message', () => {
    const o = new PartitionOffsets();
    o.assign(0, 0n);
    o.deliver(0, 0n, 3);
    o.deliver(0, 1n, 4);
    expect(o.commitable()).toEqual([{ partition: 0, offset: 2n, leaderEpoch: 4 }]);
  });

  it('starts an unassigned partition at its first delivered offset', () => {
    const o = new PartitionOffsets();
    expect(o.deliver(2, 40n, 7)).toBe(true);
    expect(o.commitable()).toEqual([{ partition: 2, offset: 41n, leaderEpoch: 7 }]);
  });

  it('ignores hold, release and committed on an unknown partition', () => {
    const o = new PartitionOffsets();
    o.hold(1, 5n);
    o.release(1, 5n);
    o.committed(1, 5n);
    expect(o.commitable()).toEqual([]);
    expect(o.deliver(1, 0n, 0)).toBe(true);
    expect(points(o)).toEqual(['1@1']);
  });

  it('keeps partitions independent', () => {
    const o = new PartitionOffsets();
    o.assign(0, 100n);
    o.assign(1, 0n);
    o.committed(0, 100n);
    o.committed(1, 0n);
    deliverHeld(o, 0, 100n, 101n);
    deliverHeld(o, 1, 0n, 1n, 2n);
    o.release(1, 0n);
    o.release(1, 1n);
    o.release(1, 2n);
    expect(points(o)).toEqual(['1@3']);
    o.committed(1, 3n);
    o.release(0, 101n);
    expect(o.commitable()).toEqual([]);
    o.release(0, 100n);
    expect(points(o)).toEqual(['0@102']);
    // The same offset held on another partition is a different hold.
    deliverHeld(o, 1, 3n);
    o.release(0, 3n);
    expect(points(o)).toEqual(['0@102']);
    o.committed(0, 102n);
    expect(o.commitable()).toEqual([]);
  });

  it('forgets partitions not retained and returns them', () => {
    const o = new PartitionOffsets();
    o.assign(0, 0n);
    o.assign(1, 0n);
    o.assign(2, 0n);
    expect(o.retain(new Set([1]))).toEqual([0, 2]);
    expect(points(o)).toEqual(['1@0']);
    expect(o.retain(new Set([1]))).toEqual([]);
    // A forgotten partition that comes back starts fresh.
    o.assign(0, 9n);
    expect(points(o)).toEqual(['0@9', '1@0']);
  });
});

describe('TriggerLedger', () => {
  it('holds a matching event until its ack, then releases it', () => {
    const l = new TriggerLedger();
    l.offsets.assign(0, 0n);
    expect(receive(l, 0, 0n, ev('a'))).toBe('new');
    expect([...l.pending.keys()]).toEqual(['a']);
    expect(points(l.offsets)).toEqual(['0@0']);
    expect(l.ack('a')).toBe(true);
    expect(l.pending.size).toBe(0);
    expect(points(l.offsets)).toEqual(['0@1']);
  });

  it('counts non-matching messages as handled', () => {
    const l = new TriggerLedger();
    l.offsets.assign(0, 0n);
    l.offsets.committed(0, 0n);
    expect(receive(l, 0, 0n)).toBe('not matching');
    expect(receive(l, 0, 1n)).toBe('not matching');
    expect(l.pending.size).toBe(0);
    expect(points(l.offsets)).toEqual(['0@2']);
    expect(receive(l, 0, 2n, ev('a'))).toBe('new');
    expect(receive(l, 0, 3n)).toBe('not matching');
    expect(points(l.offsets)).toEqual(['0@2']);
    l.ack('a');
    expect(points(l.offsets)).toEqual(['0@4']);
  });

  it('acks out of order: the commit point follows the lowest un-acked event', () => {
    const l = new TriggerLedger();
    l.offsets.assign(0, 0n);
    receive(l, 0, 0n, ev('a'));
    receive(l, 0, 1n, ev('b'));
    receive(l, 0, 2n);
    receive(l, 0, 3n, ev('c'));
    expect(l.ack('c')).toBe(true);
    expect(l.ack('b')).toBe(true);
    expect(points(l.offsets)).toEqual(['0@0']);
    expect([...l.pending.keys()]).toEqual(['a']);
    expect(l.ack('a')).toBe(true);
    expect(points(l.offsets)).toEqual(['0@4']);
  });

  it('keeps pending events oldest first', () => {
    const l = new TriggerLedger();
    for (const [i, id] of ['a', 'b', 'c', 'd'].entries()) receive(l, 0, BigInt(i), ev(id));
    l.ack('b');
    receive(l, 0, 4n, ev('e'));
    receive(l, 0, 5n, ev('a'));
    expect([...l.pending.keys()]).toEqual(['a', 'c', 'd', 'e']);
    expect(l.pending.get('a')?.event.offset).toBe('0');
  });

  it('holds both offsets of a CloudEvent delivered twice until its single ack', () => {
    const l = new TriggerLedger();
    l.offsets.assign(0, 0n);
    l.offsets.assign(1, 0n);
    const value = JSON.stringify({ specversion: '1.0', id: 'e1', source: '/s', type: 'x' });
    const first = triggerEventOf({ topic: 't', partition: 0, offset: 0n, value });
    const retry = triggerEventOf({ topic: 't', partition: 1, offset: 0n, value });
    const again = triggerEventOf({ topic: 't', partition: 0, offset: 2n, value });
    expect(first.id).toBe('ce:/s/e1');
    expect(receive(l, 0, 0n, first)).toBe('new');
    expect(receive(l, 0, 1n)).toBe('not matching');
    expect(receive(l, 1, 0n, retry)).toBe('duplicate');
    expect(receive(l, 0, 2n, again)).toBe('duplicate');
    expect(l.pending.size).toBe(1);
    const entry = l.pending.get('ce:/s/e1');
    expect(entry?.event).toEqual(first);
    expect(entry?.at).toEqual([
      [0, 0n],
      [1, 0n],
      [0, 2n],
    ]);
    expect(points(l.offsets)).toEqual(['0@0', '1@0']);
    expect(l.ack('ce:/s/e1')).toBe(true);
    expect(l.pending.size).toBe(0);
    expect(points(l.offsets)).toEqual(['0@3', '1@1']);
    // A second ack of the same id has nothing left to release.
    expect(l.ack('ce:/s/e1')).toBe(false);
  });

  it('skips an event acked recently: nothing held, nothing pending', () => {
    const l = new TriggerLedger();
    l.offsets.assign(0, 0n);
    receive(l, 0, 0n, ev('a'));
    l.ack('a');
    l.offsets.committed(0, 1n);
    expect(receive(l, 0, 1n, ev('a'))).toBe('acked');
    expect(l.pending.size).toBe(0);
    expect(points(l.offsets)).toEqual(['0@2']);
  });

  it('remembers the ack of an id that is not pending', () => {
    const l = new TriggerLedger();
    expect(l.ack('later')).toBe(false);
    expect(receive(l, 0, 0n, ev('later'))).toBe('acked');
    expect(l.pending.size).toBe(0);
  });

  it('ignores a redelivered offset before looking at its event', () => {
    const l = new TriggerLedger();
    l.offsets.assign(0, 0n);
    receive(l, 0, 0n, ev('a'));
    expect(receive(l, 0, 0n, ev('a'))).toBe('redelivered');
    expect(l.pending.get('a')?.at).toEqual([[0, 0n]]);
  });

  it('forgets the oldest acked id beyond its bound', () => {
    const l = new TriggerLedger(3);
    for (const id of ['a', 'b', 'c', 'd']) l.ack(id);
    let offset = 0n;
    const seen = (id: string) => receive(l, 0, offset++, ev(id));
    expect(seen('a')).toBe('new');
    expect(seen('b')).toBe('acked');
    expect(seen('c')).toBe('acked');
    expect(seen('d')).toBe('acked');
  });

  it('refreshes an id acked again, so the least recently acked one goes first', () => {
    const l = new TriggerLedger(3);
    for (const id of ['a', 'b', 'c', 'a', 'd']) l.ack(id);
    let offset = 0n;
    const seen = (id: string) => receive(l, 0, offset++, ev(id));
    expect(seen('b')).toBe('new');
    expect(seen('a')).toBe('acked');
    expect(seen('c')).toBe('acked');
    expect(seen('d')).toBe('acked');
  });

  it(`remembers ${RECENT_ACKS} acked ids by default`, () => {
    expect(RECENT_ACKS).toBe(2_000);
    const l = new TriggerLedger();
    for (let i = 0; i <= RECENT_ACKS; i++) l.ack(`id-${i}`);
    expect(receive(l, 0, 0n, ev('id-0'))).toBe('new');
    expect(receive(l, 0, 1n, ev('id-1'))).toBe('acked');
    expect(receive(l, 0, 2n, ev(`id-${RECENT_ACKS}`))).toBe('acked');
  });

  it('keeps partitions independent', () => {
    const l = new TriggerLedger();
    l.offsets.assign(0, 0n);
    l.offsets.assign(1, 0n);
    receive(l, 0, 0n, ev('a', 0, 0n));
    receive(l, 1, 0n, ev('b', 1, 0n));
    receive(l, 1, 1n);
    l.ack('b');
    expect(points(l.offsets)).toEqual(['0@0', '1@2']);
    l.ack('a');
    expect(points(l.offsets)).toEqual(['0@1', '1@2']);
  });

  it("drops a partition's positions from pending events when it moves away", () => {
    const l = new TriggerLedger();
    receive(l, 0, 0n, ev('both'));
    receive(l, 1, 0n, ev('both'));
    receive(l, 1, 1n, ev('only-1'));
    receive(l, 0, 1n, ev('only-0'));
    const gone = l.offsets.retain(new Set([0]));
    expect(gone).toEqual([1]);
    for (const p of gone) l.dropPartition(p);
    expect([...l.pending.keys()]).toEqual(['both', 'only-0']);
    expect(l.pending.get('both')?.at).toEqual([[0, 0n]]);
    expect(points(l.offsets)).toEqual(['0@0']);
    expect(l.ack('both')).toBe(true);
    expect(points(l.offsets)).toEqual(['0@1']);
    expect(l.ack('only-0')).toBe(true);
    expect(points(l.offsets)).toEqual(['0@2']);
  });
});

describe('dead letters of binary messages', () => {
  it('keep the original key, value and header bytes from consumer to producer', () => {
    // not UTF-8 (an Avro/protobuf payload): decoding it as a string would replace bytes
    const value = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x7b, 0xc3]);
    const key = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const header = Buffer.from([0x01, 0x9f, 0x92, 0x00]);
    const consumedValue = rawDeserializers.value(value);
    const consumedKey = rawDeserializers.key(key);
    const consumedHeader = rawDeserializers.headerValue(header);
    const record = deadLetterRecord(
      {
        topic: 'ns.drift',
        partition: 0,
        offset: 7n,
        key: consumedKey,
        value: consumedValue,
        headers: rawHeaders(new Map([['schema-id', consumedHeader]])),
      },
      { class: 'malformed', message: 'event value is not valid JSON' },
      'ns/p',
      new Date(0),
    );
    // what the producer writes to the dead-letter topic
    expect(bytesOrString(record.value)).toEqual(value);
    expect(bytesOrString(record.key)).toEqual(key);
    expect(bytesOrString(record.headers?.['schema-id'])).toEqual(header);
    expect(bytesOrString(record.headers?.[DLQ_HEADER.topic])).toEqual(Buffer.from('ns.drift'));
  });
});
