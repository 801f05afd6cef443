// OptimizationLoop in Recommend mode against the real Prometheus and a
// Deployment on the kwok nodes. A small exporter on 127.0.0.1 (scraped
// through a file_sd target, every 1s) serves a throughput that is a known
// function of the Deployment's WORKERS env value, which it reads from the
// API server every second: the loop measures the baseline, recommends a
// candidate and changes nothing; once the test applies the recommendation
// (as Git would), the loop measures it twice and adopts it. A second loop
// whose objective has no data holds. Every assertion waits for its condition.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment, Loop } from './optimizationloop-fixtures.ts';
import { LoopStack, WORKERS, condition, throughput } from './optimizationloop-fixtures.ts';
import { eventsAbout, eventually, kubectlOk, untilObserved } from './support.ts';

describe('OptimizationLoop in Recommend mode with the real Prometheus', () => {
  const stack = new LoopStack('ymera_e2e_oloop');
  let before: Deployment;

  const until = (name: string, what: string, check: (l: Loop) => boolean, timeoutMs = 120_000) =>
    untilObserved<Loop>(
      [`optimizationloop.ymera.io/${name}`, '-n', stack.ns],
      `${name}: ${what}`,
      check,
      timeoutMs,
    );
  const deployment = async () => (await stack.get('web'))!;
  const loop = (name: string, objective: string) =>
    stack.loop({
      name,
      deployment: 'web',
      objective,
      threshold: 500,
      spec: { initialDelay: '3s', safety: { maxStepPercent: 25 }, mode: 'Recommend' },
    });

  beforeAll(async () => {
    await stack.start('e2e-oloop');
    await stack.deployment('web', 2);
    before = await deployment();
    await stack.startOperator('op-oloop');
    await stack.apply(loop('tune', `avg_over_time(${stack.series('throughput', 'web')}[$window])`));
    await stack.apply(loop('nodata', `avg_over_time(${stack.series('missing', 'web')}[$window])`));
  });

  afterAll(() => stack.stop());

  it('measures the baseline and recommends a candidate without writing to the target', async () => {
    const l = await until('tune', 'a recommendation', (x) => x.status?.trial?.purpose === 'Candidate');
    expect(l.status?.baseline?.params).toEqual({ [WORKERS]: 2 });
    expect(l.status?.baseline?.measurement?.objective).toBeCloseTo(throughput(2), 0);
    const rec = l.status?.recommendation;
    expect(rec?.params).toEqual(l.status?.trial?.params);
    expect(Math.abs(rec!.params[WORKERS]! - 2)).toBeLessThanOrEqual(2); // maxStepPercent 25 of 9 steps
    expect(rec?.reason).toMatch(/^trial 1: /);
    expect(l.status?.trial?.phase).toBe('Applying'); // waits for someone to apply it
    expect(condition(l, 'Ready')).toMatchObject({ status: 'True', reason: 'Recommending' });
    // zero writes: the Deployment is exactly as the test left it
    const now = await deployment();
    expect(now.metadata.generation).toBe(before.metadata.generation); // (status may move; the spec did not)
    expect(now.metadata.managedFields?.length).toBeGreaterThan(0);
    expect(now.metadata.managedFields?.map((f) => f.manager)).not.toContain('ymera-operator');
  });

  it('holds without data: no baseline, no recommendation, Holding says why', async () => {
    const l = await until(
      'nodata',
      'Holding on no data',
      (x) => condition(x, 'Holding')?.status === 'True' && condition(x, 'Holding')?.reason === 'Inconclusive',
    );
    // runs before the next test changes the Deployment: still the baseline being measured
    expect(condition(l, 'Holding')?.message).toBe(
      'baseline: no data for the objective (empty or NaN); measuring again',
    );
    expect(l.status?.phase).toBe('Pending');
    expect(l.status?.recommendation).toBeUndefined();
    expect(l.status?.baseline?.measurement).toBeUndefined();
  });

  it('judges the recommendation once it is applied (as Git would) and adopts it after a second window', async () => {
    const rec = (await until('tune', 'a recommendation', (x) => !!x.status?.recommendation)).status!
      .recommendation!;
    const value = rec.params[WORKERS]!;
    await kubectlOk(['set', 'env', 'deployment/web', '-n', stack.ns, `WORKERS=${value}`]);
    const l = await until('tune', 'trial 1 judged', (x) => (x.status?.trials?.length ?? 0) >= 1, 180_000);
    const [trial] = l.status!.trials!;
    // the candidate is nearer the optimum (6) than the baseline (2): better by far more than 2%
    expect(trial).toMatchObject({ id: 1, verdict: 'Adopted', params: { [WORKERS]: value } });
    expect(trial?.measurement?.objective).toBeCloseTo(throughput(value), 0);
    expect(trial?.reason).toMatch(/confirmed by a second window/);
    expect(l.status?.lastKnownGood?.params).toEqual({ [WORKERS]: value });
    await eventually('a TrialAdopted Event', async () =>
      (await eventsAbout(stack.ns, 'tune')).find(
        (e) => e.reason === 'TrialAdopted' && e.note.includes('trial 1'),
      ),
    );
    // still no write by the operator: the only change is the test's own
    const now = await deployment();
    expect(now.metadata.managedFields?.length).toBeGreaterThan(0);
    expect(now.metadata.managedFields?.map((f) => f.manager)).not.toContain('ymera-operator');
    expect(now.metadata.generation).toBe(before.metadata.generation + 1);
  });
});
