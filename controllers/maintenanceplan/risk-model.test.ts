// The shipped predictor (model/gpu-failure.onnx) through the real onnxruntime-node.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../runtime/model.ts';
import { buildFeatures, isAtRisk, massFlagCheck, predict, recordRisk } from './predict.ts';
import type { NodePrediction, SignalSample } from './predict.ts';
import { openRiskModel } from './risk-model.ts';
import type { RiskModel } from './risk-model.ts';

const dir = new URL('./model/', import.meta.url);
const bytes = readFileSync(new URL('gpu-failure.onnx', dir));
type Spec = { sha256: string; signals: { name: string; median: number }[] };
const spec = JSON.parse(readFileSync(new URL('gpu-failure.features.json', dir), 'utf8')) as Spec;
type Fixture = { kind: string; risk: number; features: Record<string, number> };
const fixtures = (
  JSON.parse(readFileSync(new URL('gpu-failure.fixtures.json', dir), 'utf8')) as { rows: Fixture[] }
).rows;
const signals = spec.signals.map((s) => s.name);
const medians = spec.signals.map((s) => s.median);

/** The signals each failure mode of the generator degrades (train_predictor.py). */
const degradedBy: Record<string, string[]> = {
  thermal: ['gpu-temp', 'gpu-thermal-drift', 'memory-temp', 'thermal-throttle', 'fan-speed', 'fan-drift'],
  memory: [
    'ecc-sbe-24h',
    'ecc-sbe-trend',
    'ecc-dbe-24h',
    'row-remap-pending',
    'xid-errors-24h',
    'memory-temp',
  ],
  interconnect: ['pcie-replays-trend', 'nvlink-crc-trend', 'xid-errors-24h'],
  power: [
    'power-throttle',
    'power-throttle-trend',
    'power-draw-ratio',
    'xid-errors-24h',
    'gpu-temp',
    'gpu-thermal-drift',
  ],
};

const NOW = 1_800_000_000;
/** The Prometheus results of a fleet whose node `kind` reports the fixture row of that kind. */
function resultsOf(rows: Fixture[], age = (_node: string, _signal: string) => 30) {
  return new Map(
    signals.map((signal) => [
      signal,
      new Map<string, SignalSample>(
        rows.map((r) => [r.kind, { value: r.features[signal]!, timestamp: NOW - age(r.kind, signal) }]),
      ),
    ]),
  );
}
const scored = (p: NodePrediction[], node: string) => {
  const x = p.find((q) => q.node === node);
  if (x?.state !== 'Scored') throw new Error(`${node}: ${JSON.stringify(x)}`);
  return x;
};

let model: RiskModel;
beforeAll(async () => {
  model = await openRiskModel(bytes, { sha256: spec.sha256, signals: signals.length });
});
afterAll(async () => {
  await model?.close();
});

describe('the shipped predictor in onnxruntime-node', () => {
  it('gives the risks the training script computed (the export is faithful)', async () => {
    const data = Float32Array.from(fixtures.flatMap((f) => signals.map((s) => f.features[s]!)));
    const risk = await model.score(data, fixtures.length, signals.length);
    fixtures.forEach((f, i) => expect(risk[i]).toBeCloseTo(f.risk, 4));
  });

  it('scores healthy nodes (a hot one too) low and degrading nodes high, with a degraded signal on top', async () => {
    const batch = buildFeatures(
      signals,
      fixtures.map((f) => f.kind),
      resultsOf(fixtures),
      {
        now: NOW,
        maxAgeSeconds: 300,
      },
    );
    const p = await predict(batch, model.score, { baseline: medians, topK: 3 });
    expect(scored(p, 'healthy').risk).toBeLessThan(0.2);
    expect(scored(p, 'hot').risk).toBeLessThan(0.2);
    for (const kind of Object.keys(degradedBy)) {
      const n = scored(p, kind);
      expect(n.risk, kind).toBeGreaterThanOrEqual(0.8);
      expect(degradedBy[kind], `${kind}: ${JSON.stringify(n.topSignals)}`).toContain(n.topSignals[0]!.signal);
      expect(n.topSignals[0]!.contribution).toBeGreaterThan(0);
      const sizes = n.topSignals.map((t) => Math.abs(t.contribution));
      expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    }
  });

  it('tells a degrading node from a healthy one with the same level: the trend signals decide', async () => {
    // Both nodes logged 40 correctable ECC errors in 24 h. The healthy one has a
    // steady weak page (no trend); on the degrading one 40 of them came in the
    // last 6 h (trend 40 - 40/4 = 30). Likewise a GPU running 6 °C hotter over
    // 6 h than its own day at the same power (cooling loss) vs one that does not.
    const healthy = fixtures.find((f) => f.kind === 'healthy')!;
    const node = (kind: string, changes: Record<string, number>): Fixture => ({
      kind,
      risk: 0,
      features: { ...healthy.features, ...changes },
    });
    const rows = [
      node('steady-weak-page', { 'ecc-sbe-24h': 40, 'ecc-sbe-trend': 0 }),
      node('rising-ecc', { 'ecc-sbe-24h': 40, 'ecc-sbe-trend': 30 }),
      node('steady-cooling', { 'gpu-thermal-drift': 0 }),
      node('cooling-loss', { 'gpu-thermal-drift': 6 }),
    ];
    const p = await predict(
      buildFeatures(
        signals,
        rows.map((r) => r.kind),
        resultsOf(rows),
        { now: NOW, maxAgeSeconds: 60 },
      ),
      model.score,
      { baseline: medians },
    );
    expect(scored(p, 'steady-weak-page').risk).toBeLessThan(0.2);
    expect(scored(p, 'steady-cooling').risk).toBeLessThan(0.2);
    expect(scored(p, 'rising-ecc').risk).toBeGreaterThanOrEqual(0.8);
    expect(scored(p, 'rising-ecc').topSignals[0]?.signal).toBe('ecc-sbe-trend');
    expect(scored(p, 'cooling-loss').risk).toBeGreaterThanOrEqual(0.8);
    expect(scored(p, 'cooling-loss').topSignals[0]?.signal).toBe('gpu-thermal-drift');
  });

  it('abstains on a degrading node whose signal is stale, naming it, instead of scoring it', async () => {
    const batch = buildFeatures(
      signals,
      ['healthy', 'memory'],
      resultsOf(fixtures, (node, signal) => (node === 'memory' && signal === 'ecc-sbe-24h' ? 3600 : 30)),
      { now: NOW, maxAgeSeconds: 600 },
    );
    const p = await predict(batch, model.score, { baseline: medians });
    expect(p.find((x) => x.node === 'memory')).toEqual({
      node: 'memory',
      state: 'Unknown',
      problems: [{ signal: 'ecc-sbe-24h', reason: 'Stale' }],
      message: 'ecc-sbe-24h stale',
    });
    expect(scored(p, 'healthy').risk).toBeLessThan(0.2);
  });

  it('flags a node only after N consecutive evaluations, and a fleet-wide flag stops the plan', async () => {
    // three evaluations: the memory node reports healthy values, then degrades twice
    const healthy = fixtures.find((f) => f.kind === 'healthy')!;
    const memory = fixtures.find((f) => f.kind === 'memory')!;
    let history: (number | null)[] = [];
    const flaggedAfter: boolean[] = [];
    for (const row of [healthy, memory, memory, memory]) {
      const batch = buildFeatures(signals, ['memory'], resultsOf([{ ...row, kind: 'memory' }]), {
        now: NOW,
        maxAgeSeconds: 300,
      });
      const [n] = await predict(batch, model.score, { explain: false });
      history = recordRisk(history, n?.state === 'Scored' ? n.risk : null, 5);
      flaggedAfter.push(isAtRisk(history, 0.8, 3));
    }
    expect(flaggedAfter).toEqual([false, false, false, true]);

    // all four failure modes degrade at once in a fleet of six: 4/6 > 30%
    const batch = buildFeatures(
      signals,
      fixtures.map((f) => f.kind),
      resultsOf(fixtures),
      {
        now: NOW,
        maxAgeSeconds: 300,
      },
    );
    const p = await predict(batch, model.score, { explain: false });
    const flagged = p.filter((x) => x.state === 'Scored' && x.risk >= 0.8).length;
    expect(flagged).toBe(4);
    expect(massFlagCheck(flagged, p.length)).toMatchObject({ stop: true, flagged: 4, selected: 6 });
  });

  it('scores a batch of 1,000 nodes with contributions in one run', async () => {
    const nodes = Array.from({ length: 1000 }, (_, i) => `n${i}`);
    const kinds = nodes.map((_, i) => fixtures[i % fixtures.length]!);
    const res = new Map(
      signals.map((s) => [
        s,
        new Map(nodes.map((n, i) => [n, { value: kinds[i]!.features[s]!, timestamp: NOW }] as const)),
      ]),
    );
    let runs = 0;
    const counted = async (d: Float32Array, r: number, w: number) => {
      runs++;
      return model.score(d, r, w);
    };
    const p = await predict(buildFeatures(signals, nodes, res, { now: NOW, maxAgeSeconds: 60 }), counted, {
      baseline: medians,
    });
    expect(runs).toBe(1);
    expect(p).toHaveLength(1000);
    p.forEach((x, i) => {
      if (x.state !== 'Scored') throw new Error(x.node);
      expect(x.risk).toBeCloseTo(kinds[i]!.risk, 4);
    });
  });
});

describe('openRiskModel', () => {
  it('refuses bytes whose sha256 differs', async () => {
    const err = await openRiskModel(bytes, { sha256: '0'.repeat(64), signals: 16 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).reason).toBe('Sha256Mismatch');
  });

  it('refuses a model whose input does not match the number of signals, saying so', async () => {
    const err = await openRiskModel(bytes, { signals: 15 }).catch((e: unknown) => e);
    expect((err as ModelLoadError).reason).toBe('InvalidModel');
    expect((err as Error).message).toBe(
      'the predictor model input features has shape [batch, 16], not [batch, 15] (one float per spec.signals entry)',
    );
  });

  it('refuses bytes that are no ONNX model', async () => {
    const err = await openRiskModel(new TextEncoder().encode('not a model'), { signals: 16 }).catch(
      (e: unknown) => e,
    );
    expect((err as ModelLoadError).reason).toBe('InvalidModel');
  });
});
