import { describe, expect, it } from 'vitest';
import {
  expectedImprovement,
  fitGaussianProcess,
  maxStepOf,
  normCdf,
  pointOf,
  propose,
  spaceOf,
  valuesAt,
  valuesOf,
} from './algorithms.ts';
import type { Observation, Point, Space } from './algorithms.ts';
import type { Algorithm } from './schema.ts';

/** The loop in miniature: measure, keep the best feasible point as incumbent, propose again. */
function tune(opts: {
  algorithm: Algorithm;
  space: Space;
  score: (values: number[]) => number;
  feasible?: (values: number[]) => boolean;
  seed: number;
  trials: number;
  maxStepPercent: number;
  start: number[];
}) {
  const feasible = opts.feasible ?? (() => true);
  let incumbent: Point = pointOf(opts.space, opts.start);
  let best = opts.score(valuesAt(opts.space, incumbent));
  const history: Observation[] = [{ point: incumbent, score: best, feasible: true }];
  const maxStep = maxStepOf(opts.space, opts.maxStepPercent);
  const proposals: { point: Point; from: Point }[] = [];
  for (let trial = 1; trial <= opts.trials; trial++) {
    const p = propose({ ...opts, history, incumbent, maxStep, trial });
    if (!p) break;
    proposals.push({ point: p.point, from: incumbent });
    const values = valuesAt(opts.space, p.point);
    const ok = feasible(values);
    const score = opts.score(values);
    history.push({ point: p.point, score, feasible: ok });
    if (ok && score > best) {
      best = score;
      incumbent = p.point;
    }
  }
  return { best, proposals, history };
}

const grid = (min: number, max: number, step: number) => valuesOf({ path: 'spec.x', min, max, step });
const seeds = [1, 2, 3, 4, 5];

// Maximise: optimum 1000 at (70, 20); the start (10, 90) scores 150.
const quadratic = ([x, y]: number[]) => 1000 - ((x! - 70) ** 2 + (y! - 20) ** 2) / 10;
const quadSpace: Space = [grid(0, 100, 1), grid(0, 100, 1)];

// Branin (minimised, so negated): three global minima of 0.3979; on this 0.25 grid the best is 0.4266.
function branin([x1, x2]: number[]): number {
  const b = 5.1 / (4 * Math.PI ** 2);
  const c = 5 / Math.PI;
  const t = 1 / (8 * Math.PI);
  return (x2! - b * x1! ** 2 + c * x1! - 6) ** 2 + 10 * (1 - t) * Math.cos(x1!) + 10;
}
const braninSpace: Space = [grid(-5, 10, 0.25), grid(0, 15, 0.25)];
const braninValues = braninSpace[0]!.flatMap((a) => braninSpace[1]!.map((b) => branin([a, b])));
const braninMin = Math.min(...braninValues);
const braninRange = Math.max(...braninValues) - braninMin;

describe('parameter spaces', () => {
  it('turns ranges into grid values without float noise and sorts value lists', () => {
    expect(valuesOf({ path: 'spec.a', min: 0.1, max: 0.5, step: 0.1 })).toEqual([0.1, 0.2, 0.3, 0.4, 0.5]);
    expect(valuesOf({ path: 'spec.a', min: 4, max: 64, step: 20 })).toEqual([4, 24, 44, 64]);
    expect(valuesOf({ path: 'spec.a', values: [20, 1, 5, 1] })).toEqual([1, 5, 20]);
  });

  it('maps values off the grid to the nearest allowed value, and steps to whole indexes', () => {
    const space = spaceOf([
      { path: 'spec.a', min: 4, max: 64, step: 4 },
      { path: 'spec.b', values: [1, 2, 5, 10, 20] },
    ]);
    expect(valuesAt(space, pointOf(space, [33, 7]))).toEqual([32, 5]);
    expect(maxStepOf(space, 25)).toEqual([3, 1]);
    expect(maxStepOf(space, 1)).toEqual([1, 1]);
  });
});

describe('Gaussian process and expected improvement', () => {
  it('interpolates what it saw and is unsure away from it', () => {
    const gp = fitGaussianProcess([[0], [0.5], [1]], [1, 3, 2]);
    expect(gp.predict([0.5]).mean).toBeCloseTo(3, 1);
    expect(gp.predict([0.5]).sd).toBeLessThan(0.1);
    expect(gp.predict([0.25]).sd).toBeGreaterThan(gp.predict([0.5]).sd);
  });

  it('expected improvement grows with the mean and with uncertainty', () => {
    expect(normCdf(0)).toBeCloseTo(0.5, 6);
    expect(normCdf(1.96)).toBeCloseTo(0.975, 3);
    expect(expectedImprovement(2, 1, 1)).toBeGreaterThan(expectedImprovement(1, 1, 1));
    expect(expectedImprovement(1, 2, 1)).toBeGreaterThan(expectedImprovement(1, 1, 1));
    expect(expectedImprovement(0, 0, 1)).toBe(0);
  });
});

describe('algorithms on functions with known optima (fixed seeds)', () => {
  const gap = 1000 - quadratic([10, 90]);

  it.each([
    ['HillClimb', 40, 0.01],
    ['Bayesian', 20, 0.01],
    ['Random', 40, 0.05],
  ] as const)(
    '%s closes the 2-D quadratic to within its share of the gap in %i trials',
    (algorithm, trials, share) => {
      for (const seed of seeds) {
        const { best } = tune({
          algorithm,
          space: quadSpace,
          score: quadratic,
          seed,
          trials,
          maxStepPercent: 25,
          start: [10, 90],
        });
        expect(1000 - best, `seed ${seed}`).toBeLessThanOrEqual(share * gap);
      }
    },
  );

  it('Bayesian gets within 0.5% of the Branin range of its minimum in 40 trials, 20 with steps of 25%', () => {
    for (const seed of seeds) {
      const wide = tune({
        algorithm: 'Bayesian',
        space: braninSpace,
        score: (v) => -branin(v),
        seed,
        trials: 40,
        maxStepPercent: 100,
        start: [0, 0],
      });
      expect(-wide.best - braninMin, `seed ${seed}`).toBeLessThanOrEqual(0.005 * braninRange);
      const narrow = tune({
        algorithm: 'Bayesian',
        space: braninSpace,
        score: (v) => -branin(v),
        seed,
        trials: 20,
        maxStepPercent: 25,
        start: [0, 0],
      });
      expect(-narrow.best - braninMin, `seed ${seed}`).toBeLessThanOrEqual(0.005 * braninRange);
    }
  });

  it('Bayesian beats Random on Branin on average over the seeds in 20 trials', () => {
    const mean = (algorithm: Algorithm) =>
      seeds
        .map(
          (seed) =>
            -tune({
              algorithm,
              space: braninSpace,
              score: (v) => -branin(v),
              seed,
              trials: 20,
              maxStepPercent: 100,
              start: [0, 0],
            }).best,
        )
        .reduce((a, b) => a + b, 0) / seeds.length;
    expect(mean('Bayesian')).toBeLessThan(mean('Random'));
  });
});

describe('proposals are safe and reproducible', () => {
  const batching = spaceOf([
    { path: 'spec.batching.maxBatchSize', min: 1, max: 64, step: 1 },
    { path: 'spec.batching.maxDelayMs', values: [0, 1, 2, 5, 10, 20] },
  ]);
  const throughput = ([size, delay]: number[]) => 100 * Math.log(1 + size!) - (delay! - 5) ** 2;

  it.each(['HillClimb', 'Random', 'Bayesian'] as const)(
    '%s proposes only allowed values within maxStep of the incumbent',
    (algorithm) => {
      const { proposals } = tune({
        algorithm,
        space: batching,
        score: throughput,
        seed: 7,
        trials: 25,
        maxStepPercent: 10,
        start: [8, 0],
      });
      const maxStep = maxStepOf(batching, 10);
      expect(proposals.length).toBeGreaterThan(0);
      for (const { point, from } of proposals) {
        const [size, delay] = valuesAt(batching, point);
        expect(Number.isInteger(size)).toBe(true);
        expect([0, 1, 2, 5, 10, 20]).toContain(delay);
        point.forEach((i, d) => expect(Math.abs(i - from[d]!)).toBeLessThanOrEqual(maxStep[d]!));
      }
    },
  );

  it.each(['HillClimb', 'Random', 'Bayesian'] as const)(
    '%s proposes the same point for the same seed and trial, and never a tried one',
    (algorithm) => {
      const a = tune({
        algorithm,
        space: batching,
        score: throughput,
        seed: 11,
        trials: 12,
        maxStepPercent: 50,
        start: [8, 0],
      });
      const b = tune({
        algorithm,
        space: batching,
        score: throughput,
        seed: 11,
        trials: 12,
        maxStepPercent: 50,
        start: [8, 0],
      });
      expect(a.proposals).toEqual(b.proposals);
      const keys = a.history.map((o) => o.point.join(','));
      expect(new Set(keys).size).toBe(keys.length);
    },
  );

  it('HillClimb reports convergence (no proposal) once every neighbour of a local optimum was tried', () => {
    const space: Space = [grid(0, 4, 1)];
    const { proposals, history } = tune({
      algorithm: 'HillClimb',
      space,
      score: ([x]) => -((x! - 2) ** 2),
      seed: 1,
      trials: 50,
      maxStepPercent: 50,
      start: [0],
    });
    expect(valuesAt(space, history.reduce((b, o) => (o.score! > b.score! ? o : b)).point)).toEqual([2]);
    expect(proposals.length).toBeLessThan(50);
  });

  it('Bayesian steers away from a violating region instead of probing it again', () => {
    // Better with larger batches, but above 48 the latency constraint breaks.
    const { history } = tune({
      algorithm: 'Bayesian',
      space: batching,
      score: throughput,
      feasible: ([size]) => size! <= 48,
      seed: 3,
      trials: 25,
      maxStepPercent: 100,
      start: [8, 0],
    });
    const violations = history.filter((o) => !o.feasible).length;
    expect(violations).toBeLessThanOrEqual(5);
    const best = history.filter((o) => o.feasible).reduce((b, o) => (o.score! > b.score! ? o : b));
    expect(valuesAt(batching, best.point)[0]).toBeGreaterThanOrEqual(40);
  });
});
