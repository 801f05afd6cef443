import { describe, expect, it } from 'vitest';
import {
  buildFeatures,
  columnMedians,
  describeProblems,
  explanationRows,
  groupByNode,
  isAtRisk,
  massFlagCheck,
  predict,
  recordRisk,
} from './predict.ts';
import type { Scorer, SignalSample } from './predict.ts';

const NOW = 1_800_000_000;
const fresh = (value: number): SignalSample => ({ value, timestamp: NOW - 30 });
const results = (bySignal: Record<string, Record<string, SignalSample>>) =>
  new Map(Object.entries(bySignal).map(([s, m]) => [s, new Map(Object.entries(m))]));

describe('buildFeatures', () => {
  it("builds one row per node in the signals' order", () => {
    const b = buildFeatures(
      ['temp', 'ecc'],
      ['n1', 'n2'],
      results({ ecc: { n1: fresh(3), n2: fresh(4) }, temp: { n1: fresh(70), n2: fresh(80) } }),
      { now: NOW, maxAgeSeconds: 300 },
    );
    expect(b.nodes).toEqual(['n1', 'n2']);
    expect([...b.data]).toEqual([70, 3, 80, 4]);
    expect(b.unknown).toEqual([]);
  });

  it('makes a node with a missing, stale or non-finite signal Unknown, naming each signal', () => {
    const b = buildFeatures(
      ['temp', 'ecc', 'xid'],
      ['ok', 'bad'],
      results({
        temp: { ok: fresh(70), bad: { value: 90, timestamp: NOW - 301 } },
        ecc: { ok: fresh(1), bad: fresh(Number.NaN) },
        xid: { ok: fresh(0) },
      }),
      { now: NOW, maxAgeSeconds: 300 },
    );
    expect(b.nodes).toEqual(['ok']);
    expect([...b.data]).toEqual([70, 1, 0]);
    expect(b.unknown).toEqual([
      {
        node: 'bad',
        problems: [
          { signal: 'temp', reason: 'Stale' },
          { signal: 'ecc', reason: 'NotFinite' },
          { signal: 'xid', reason: 'Missing' },
        ],
      },
    ]);
    expect(describeProblems(b.unknown[0]!.problems)).toBe('temp stale, ecc not a finite number, xid missing');
  });

  it('makes a node Unknown when its query returned two series for it', () => {
    const ecc = groupByNode(
      [
        { labels: { node: 'n1', gpu: '0' }, value: 1, timestamp: NOW },
        { labels: { node: 'n1', gpu: '1' }, value: 9, timestamp: NOW },
        { labels: { node: 'n2' }, value: 2, timestamp: NOW },
        { labels: { instance: 'x' }, value: 5, timestamp: NOW },
      ],
      'node',
    );
    expect([...ecc.keys()].sort()).toEqual(['n1', 'n2']);
    const b = buildFeatures(['ecc'], ['n1', 'n2'], new Map([['ecc', ecc]]), { now: NOW, maxAgeSeconds: 60 });
    expect(b.nodes).toEqual(['n2']);
    expect(b.unknown).toEqual([{ node: 'n1', problems: [{ signal: 'ecc', reason: 'Duplicate' }] }]);
  });
});

describe('contributions', () => {
  it('stacks each row with each signal set to the baseline after the rows themselves', () => {
    const rows = explanationRows(Float32Array.from([1, 2, 3, 4]), 2, 2, Float32Array.from([0, 0]));
    expect([...rows]).toEqual([1, 2, 3, 4, 0, 2, 1, 0, 0, 4, 3, 0]);
  });

  it('takes the median of each column', () => {
    expect([...columnMedians(Float32Array.from([1, 10, 3, 30, 2, 20]), 3, 2)]).toEqual([2, 20]);
    expect([...columnMedians(Float32Array.from([1, 10, 3, 30]), 2, 2)]).toEqual([2, 20]);
  });

  it('scores all nodes and all contributions in one scorer call, top signals by |contribution|', async () => {
    // risk = 0.1·a − 0.3·b + 0.05·c, clamped: a plain function stands for the model here
    const calls: number[] = [];
    const scorer: Scorer = async (data, rows, width) => {
      calls.push(rows);
      const out = new Float32Array(rows);
      for (let i = 0; i < rows; i++)
        out[i] = 0.1 * data[i * width]! - 0.3 * data[i * width + 1]! + 0.05 * data[i * width + 2]!;
      return out;
    };
    const b = buildFeatures(
      ['a', 'b', 'c'],
      ['n1', 'n2', 'gone'],
      results({
        a: { n1: fresh(5), n2: fresh(1) },
        b: { n1: fresh(1), n2: fresh(1) },
        c: { n1: fresh(2), n2: fresh(0) },
      }),
      { now: NOW, maxAgeSeconds: 60 },
    );
    const p = await predict(b, scorer, { baseline: [1, 0, 0], topK: 2 });
    expect(calls).toEqual([2 * (1 + 3)]);
    expect(p).toHaveLength(3);
    const n1 = p[0]!;
    expect(n1.state === 'Scored' && n1.node).toBe('n1');
    if (n1.state !== 'Scored') throw new Error('n1 not scored');
    expect(n1.risk).toBeCloseTo(0.5 - 0.3 + 0.1, 5);
    expect(n1.topSignals.map((s) => s.signal)).toEqual(['a', 'b']);
    expect(n1.topSignals[0]!.contribution).toBeCloseTo(0.4, 5);
    expect(n1.topSignals[1]!.contribution).toBeCloseTo(-0.3, 5);
    expect(p[2]).toEqual({
      node: 'gone',
      state: 'Unknown',
      problems: [
        { signal: 'a', reason: 'Missing' },
        { signal: 'b', reason: 'Missing' },
        { signal: 'c', reason: 'Missing' },
      ],
      message: 'a missing, b missing, c missing',
    });
  });

  it('never calls the scorer when every node abstains', async () => {
    const b = buildFeatures(['a'], ['n1'], results({}), { now: NOW, maxAgeSeconds: 60 });
    const p = await predict(b, async () => {
      throw new Error('scored an empty batch');
    });
    expect(p).toEqual([
      { node: 'n1', state: 'Unknown', problems: [{ signal: 'a', reason: 'Missing' }], message: 'a missing' },
    ]);
  });
});

describe('isAtRisk', () => {
  it('needs the last N evaluations at or over the threshold', () => {
    expect(isAtRisk([0.9, 0.85], 0.8, 3)).toBe(false);
    expect(isAtRisk([0.9, 0.85, 0.8], 0.8, 3)).toBe(true);
    expect(isAtRisk([0.9, 0.79, 0.9, 0.95], 0.8, 3)).toBe(false);
    expect(isAtRisk([0.1, 0.9, 0.9, 0.95], 0.8, 3)).toBe(true);
    expect(isAtRisk([0.9], 0.8, 1)).toBe(true);
  });

  it('treats an Unknown evaluation as breaking the run', () => {
    expect(isAtRisk([0.9, null, 0.9], 0.8, 2)).toBe(false);
    expect(isAtRisk([0.9, null, 0.9, 0.9], 0.8, 2)).toBe(true);
  });

  it('keeps a bounded history', () => {
    let h: (number | null)[] = [];
    for (const r of [0.1, 0.2, null, 0.9, 0.95]) h = recordRisk(h, r, 3);
    expect(h).toEqual([null, 0.9, 0.95]);
  });
});

describe('massFlagCheck', () => {
  it('stops when more than the share of selected nodes is flagged', () => {
    expect(massFlagCheck(3, 10)).toMatchObject({ stop: false, share: 0.3 });
    const m = massFlagCheck(4, 10);
    expect(m.stop).toBe(true);
    expect(m.message).toBe(
      '4 of 10 selected nodes (40%) are at risk at once, more than 30%: suspected model drift or an outage, no maintenance is started',
    );
    expect(massFlagCheck(2, 10, 0.1).stop).toBe(true);
  });

  it('does not stop for a single node of a small pool, nor with nothing selected', () => {
    expect(massFlagCheck(1, 3).stop).toBe(false);
    expect(massFlagCheck(2, 3).stop).toBe(true);
    expect(massFlagCheck(0, 0).stop).toBe(false);
  });
});
