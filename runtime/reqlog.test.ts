import { describe, expect, it } from 'vitest';
import { createLogger } from '../operator/logger.ts';
import type { OutgoingMessage } from '../operator/kafka/client.ts';
import { LogBuffer, RequestLogger, recordValue } from './reqlog.ts';

const quiet = createLogger({ level: 'error', sink: { write: () => true } });

describe('LogBuffer', () => {
  it('samples by rate', () => {
    const seq = [0.1, 0.6, 0.49];
    const b = new LogBuffer({ capacity: 10, sampleRate: 0.5, random: () => seq.shift()! });
    expect([b.sample(), b.sample(), b.sample()]).toEqual([true, false, true]);
    expect(new LogBuffer({ capacity: 1, sampleRate: 0 }).sample()).toBe(false);
    expect(new LogBuffer({ capacity: 1, sampleRate: 1, random: () => 0.99999 }).sample()).toBe(true);
  });

  it('is bounded and counts drops', () => {
    const b = new LogBuffer({ capacity: 2, sampleRate: 1 });
    const r = { meta: {}, request: '{}', response: '{}' };
    expect([b.push(r), b.push(r), b.push(r)]).toEqual([true, true, false]);
    expect(b.dropped).toBe(1);
    expect(b.take(5)).toHaveLength(2);
    expect(b.size).toBe(0);
  });
});

describe('recordValue', () => {
  it('splices request and response JSON into the meta object', () => {
    const v = recordValue({
      meta: { id: 'a', status: 200 },
      request: '{"inputs":[]}',
      response: '{"outputs":[]}',
    });
    expect(JSON.parse(v)).toEqual({
      id: 'a',
      status: 200,
      request: { inputs: [] },
      response: { outputs: [] },
    });
    expect(JSON.parse(recordValue({ meta: {}, request: 'null', response: '{}' }))).toEqual({
      request: null,
      response: {},
    });
  });
});

describe('RequestLogger', () => {
  it('sends in the background, counts failures as drops, and flushes on close', async () => {
    const sent: OutgoingMessage[][] = [];
    let fail = true;
    const drops: number[] = [];
    const rl = new RequestLogger({
      producer: {
        send: async (_t, m) => {
          if (fail) throw new Error('down');
          sent.push([...m]);
        },
      },
      topic: 't',
      buffer: new LogBuffer({ capacity: 10, sampleRate: 1 }),
      logger: quiet,
      onSent: () => undefined,
      onDropped: (_r, n) => drops.push(n),
      intervalMs: 5,
    });
    rl.offer({ meta: { id: 'x' }, request: '{}', response: '{}' });
    await new Promise((r) => setTimeout(r, 30));
    expect(drops).toEqual([1]);
    fail = false;
    rl.offer({ meta: { id: 'y' }, request: '{}', response: '{}' });
    await rl.close(1000);
    expect(sent.flat().map((m) => m.key)).toEqual(['y']);
    expect(rl.sample()).toBe(false);
  });
});
