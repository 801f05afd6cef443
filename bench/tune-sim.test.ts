import { describe, expect, it } from 'vitest';
import { SERVICES, median, near, optimumOf, runLoop, summarize } from './tune-sim.ts';

const batching = SERVICES.find((s) => s.name === 'batching')!;
const replicas = SERVICES.find((s) => s.name === 'replicas-cpu')!;

describe('tune bench simulator', () => {
  it('finds the known optima of the simulated services by brute force', () => {
    expect(optimumOf(batching).params).toEqual({
      'spec.batching.maxBatchSize': 46,
      'spec.batching.maxDelayMs': 5,
    });
    const r = optimumOf(replicas);
    expect(
      r.params['spec.replicas']! * r.params['spec.template.spec.containers[0].resources.limits.cpu']!,
    ).toBeLessThanOrEqual(8);
    expect(r.value).toBeCloseTo(30 + 400 / 8 + 6, 6);
  });

  it('reads "within 10%" for the goal', () => {
    expect(near(batching, 900, 1000)).toBe(true);
    expect(near(batching, 899, 1000)).toBe(false);
    expect(near(replicas, 110, 100)).toBe(true);
    expect(near(replicas, 111, 100)).toBe(false);
  });

  it('runs the real state machine to the optimum without noise and counts what it did', () => {
    const r = runLoop(batching, { algorithm: 'HillClimb', seed: 1, noise: 0, maxTrials: 30 });
    expect(r.trialsToReach).not.toBeNull();
    expect(r.trialsToReach!).toBeLessThanOrEqual(r.trials);
    expect(r.finalRatio).toBeGreaterThanOrEqual(0.9);
    expect(r.end).toBe('Converged');
    // every violation is rolled back; rejected candidates are returned from too
    expect(r.rollbacks).toBeGreaterThanOrEqual(r.violations);
  });

  it('is reproducible: the same seed gives the same run, another seed another one', () => {
    const o = { algorithm: 'Bayesian' as const, noise: 0.03, maxTrials: 15 };
    expect(runLoop(replicas, { ...o, seed: 3 })).toEqual(runLoop(replicas, { ...o, seed: 3 }));
    const runs = [1, 2, 3, 4].map((seed) => runLoop(replicas, { ...o, seed }));
    expect(new Set(runs.map((r) => JSON.stringify(r))).size).toBeGreaterThan(1);
  });

  it('summarizes per algorithm with Random as the reference', () => {
    const runs = (['Random', 'HillClimb'] as const).flatMap((algorithm) =>
      [1, 2, 3].map((seed) => runLoop(batching, { algorithm, seed, noise: 0.03, maxTrials: 20 })),
    );
    const [random, hill] = summarize('batching', runs);
    expect(random?.vsRandom).toEqual({
      trialsToReach: random?.medianTrialsToReach === null ? null : 1,
      reachedShare: random?.reachedShare ? 1 : null,
    });
    expect(hill?.seeds).toBe(3);
    expect(hill?.meanViolations).toBeCloseTo(
      runs.filter((r) => r.algorithm === 'HillClimb').reduce((a, r) => a + r.violations, 0) / 3,
    );
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});
