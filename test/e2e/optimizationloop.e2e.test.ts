// OptimizationLoop in Recommend mode against the real Prometheus and a
// Deployment on the kwok nodes. A small exporter on 127.0.0.1 (scraped
// through a file_sd target, every 1s) serves a throughput that is a known
// function of the Deployment's WORKERS env value, which it reads from the
// API server every second: the loop measures the baseline, recommends a
// candidate and changes nothing; once the test applies the recommendation
// (as Git would), the loop measures it twice and adopts it, and the verdict
// reaches the real Kafka broker as a trial.completed CloudEvent. A second loop
// whose objective has no data holds. Every assertion waits for its condition.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudEvent } from '../../operator/kafka/events.ts';
import { readTopic } from '../../operator/kafka/platformatic.ts';
import type { Deployment, Loop } from './optimizationloop-fixtures.ts';
import { LoopStack, WORKERS, condition, throughput } from './optimizationloop-fixtures.ts';
import { eventsAbout, eventually, kafkaBrokers, kubectlOk, untilObserved } from './support.ts';

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

  it('publishes each judged trial as a trial.completed CloudEvent on the real Kafka broker', async () => {
    const l = await until('tune', 'trial 1 judged', (x) => (x.status?.trials?.length ?? 0) >= 1);
    const judged = [...l.status!.trials!].sort((a, b) => a.id - b.id);
    // the shared topic keeps other runs' events: read it to its end and keep this namespace's
    const ours = await eventually(
      'a trial.completed CloudEvent for every judged trial',
      async () => {
        const messages = await readTopic({
          brokers: kafkaBrokers(),
          topic: 'ymera.events.optimizationloop',
          timeoutMs: 20_000,
        });
        const events = messages
          .filter((m) => m.key?.startsWith(`${stack.ns}/`))
          .map((m) => ({ key: m.key, headers: m.headers, event: JSON.parse(m.value) as CloudEvent }))
          .filter((m) => m.event.type === 'io.ymera.optimizationloop.trial.completed');
        return events.length >= judged.length ? events : undefined;
      },
      60_000,
    );
    // one event per judged trial, none for the loop that judged nothing (nodata)
    expect(ours.map((m) => m.key)).toEqual(judged.map(() => `${stack.ns}/tune`));
    expect(ours.map((m) => m.event.data['trial'])).toEqual(judged.map((t) => t.id));
    for (const trial of judged) {
      const m = ours.find((x) => x.event.data['trial'] === trial.id)!;
      expect(m.headers['content-type']).toBe('application/cloudevents+json; charset=UTF-8');
      expect(m.event).toMatchObject({
        specversion: '1.0',
        subject: `${stack.ns}/tune`,
        source: `/apis/ymera.io/v1alpha1/namespaces/${stack.ns}/optimizationloops/tune`,
        time: new Date(trial.completionTime!).toISOString(),
      });
      // values, measurement, verdict and why: what status.trials says
      expect(m.event.data).toMatchObject({
        target: { kind: 'Deployment', name: 'web' },
        mode: 'Recommend',
        params: trial.params,
        measurement: trial.measurement,
        verdict: trial.verdict,
        reason: trial.reason,
      });
    }
    const adopted = ours.find((x) => x.event.data['verdict'] === 'Adopted')!;
    const measured = adopted.event.data['measurement'] as { objective: number; constraints: unknown[] };
    expect(measured.objective).toBeCloseTo(throughput(judged[0]!.params[WORKERS]!), 0);
    expect(measured.constraints).toEqual([
      { name: 'p95-latency', value: 20 * judged[0]!.params[WORKERS]!, met: true },
    ]);
  });
});
