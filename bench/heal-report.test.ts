import { describe, expect, it } from 'vitest';
import type { ScenarioResult } from './heal-report.ts';
import { TARGET_SECONDS, median, mergeScenarios, summarize, table } from './heal-report.ts';

const scenario = (seconds: (number | null)[], extra: Partial<ScenarioResult> = {}): ScenarioResult => ({
  scenario: 'crashing revision',
  where: 'real-node',
  fault: 'f',
  recovered: 'r',
  rounds: seconds.map((s) => ({ seconds: s, note: '' })),
  ...extra,
});

describe('median', () => {
  it('is the middle value of an odd count, the mean of the middle two of an even one, null of none', () => {
    expect(median([9, 1, 5])).toBe(5);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNull();
  });
  it('does not reorder its input', () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe('summarize', () => {
  it('gives median and max over the recovered rounds, rounded to 0.1 s', () => {
    expect(summarize(scenario([12.34, 20.06, 15.55]))).toEqual({
      scenario: 'crashing revision',
      where: 'real-node',
      rounds: 3,
      recovered: 3,
      medianSeconds: 15.6,
      maxSeconds: 20.1,
      withinTarget: true,
    });
  });
  it('is not within target when a round did not recover, or the slowest reached the target', () => {
    const missed = summarize(scenario([10, null, 12]));
    expect(missed).toMatchObject({ recovered: 2, medianSeconds: 11, maxSeconds: 12, withinTarget: false });
    expect(summarize(scenario([10, TARGET_SECONDS]))).toMatchObject({ withinTarget: false });
    expect(summarize(scenario([null]))).toMatchObject({ medianSeconds: null, maxSeconds: null });
  });
  it('carries why a scenario was skipped, never within target without rounds', () => {
    expect(summarize(scenario([], { skipped: 'no real node' }))).toMatchObject({
      rounds: 0,
      withinTarget: false,
      skipped: 'no real node',
    });
  });
});

describe('table', () => {
  it('prints one aligned Markdown row per scenario, skipped ones saying why', () => {
    const out = table([
      summarize(scenario([12.34, 20.06, 15.55])),
      summarize(scenario([], { scenario: 'leaking pod', where: 'kwok', skipped: 'no spec.healing' })),
    ]).split('\n');
    expect(out).toHaveLength(4);
    expect(out[0]).toMatch(
      /^\| scenario +\| where +\| recovered\/rounds +\| median MTTR \| max MTTR \| < 300s \|$/,
    );
    expect(out[1]).toMatch(/^\|-+\|-+\|-+\|-+\|-+\|-+\|$/);
    expect(out[2]).toMatch(/^\| crashing revision \| real-node \| 3\/3 +\| 15\.6s +\| 20\.1s +\| yes +\|$/);
    expect(out[3]).toContain('| leaking pod ');
    expect(out[3]).toContain('| skipped: no spec.healing |');
    // aligned: every line as long as the header
    expect(new Set(out.map((l) => l.length)).size).toBe(1);
  });
});

describe('mergeScenarios', () => {
  it('replaces the scenarios run again, keeps the others in order, appends new ones', () => {
    const a = scenario([1], { scenario: 'a' });
    const b = scenario([2], { scenario: 'b' });
    const b2 = scenario([3], { scenario: 'b' });
    const c = scenario([4], { scenario: 'c' });
    expect(mergeScenarios([a, b], [c, b2])).toEqual([a, b2, c]);
    expect(mergeScenarios([], [a])).toEqual([a]);
  });
});
