// OptimizationLoop in Apply mode against the real Prometheus and a Deployment
// on the kwok nodes. The exporter of optimizationloop-fixtures.ts (a throughput and a p95
// that are known functions of the Deployment's WORKERS env value, read from
// the API server every second) drives the loop: it writes the values itself
// (server-side apply, field manager ymera-optimizationloop), adopts an
// improving value, rolls a step into the violating region back at once,
// restores the baseline on suspend, and stops without writing again when
// another field manager changes the value. Two more loops show what delete
// does: the finalizer restores the baseline, unless onStop: Keep. Every
// assertion waits for its condition.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Loop, Trial } from './optimizationloop-fixtures.ts';
import {
  LOOP_MANAGER as MANAGER,
  LoopStack,
  WORKERS,
  condition,
  ownersOfWorkers,
  throughput,
  workersOf,
} from './optimizationloop-fixtures.ts';
import { eventsAbout, eventually, getJson, kubectlOk, untilObserved } from './support.ts';

const WINDOW_MS = 30_000; // the shortest evaluationWindow admission allows

describe('OptimizationLoop in Apply mode with the real Prometheus', { timeout: 360_000 }, () => {
  const stack = new LoopStack('ymera_e2e_oapply');

  const until = (what: string, check: (l: Loop) => boolean, timeoutMs = 300_000) =>
    untilObserved<Loop>(['optimizationloop.ymera.io/tune', '-n', stack.ns], what, check, timeoutMs);
  const deployment = () => stack.get('web');
  // p95 = 20·workers, so the constraint (< 90) breaks from 5 on
  const spec = (suspend: boolean) =>
    stack.loop({
      name: 'tune',
      deployment: 'web',
      threshold: 90,
      max: 8,
      spec: {
        initialDelay: '2s',
        evaluationWindow: `${WINDOW_MS / 1000}s`,
        maxFailedTrials: 3,
        safety: { maxStepPercent: 15, maxChangesPerHour: 60 },
        mode: 'Apply',
        onStop: 'Restore',
        suspend,
      },
    });

  // Two more loops on Deployments of their own, for delete: one step (3 → 4, adopted: 12% more throughput)
  // and converged, so the value on delete is known.
  const stopLoop = (onStop: 'Restore' | 'Keep') =>
    stack.loop({
      name: onStop.toLowerCase(),
      deployment: `web-${onStop.toLowerCase()}`,
      threshold: 90,
      min: 3,
      max: 4,
      spec: {
        initialDelay: '2s',
        maxTrials: 1,
        maxFailedTrials: 1, // at most maxTrials
        safety: { maxStepPercent: 100, maxChangesPerHour: 60 },
        mode: 'Apply',
        onStop,
      },
    });
  /** Waits until the loop converged on 4 and the Deployment holds it, then deletes the loop and waits until it is gone. */
  const convergeThenDelete = async (name: 'restore' | 'keep') => {
    const l = await untilObserved<Loop>(
      [`optimizationloop.ymera.io/${name}`, '-n', stack.ns],
      `${name}: converged`,
      (x) => x.status?.phase === 'Converged',
      300_000,
    );
    expect(l.status?.lastKnownGood?.params).toEqual({ [WORKERS]: 4 });
    expect(l.metadata.finalizers).toContain('ymera.io/cleanup');
    const before = await eventually(`the loop's value on web-${name}`, async () => {
      const d = await stack.get(`web-${name}`);
      return workersOf(d) === 4 && d?.status?.observedGeneration === d?.metadata.generation ? d : undefined;
    });
    await kubectlOk([
      'delete',
      `optimizationloop.ymera.io/${name}`,
      '-n',
      stack.ns,
      '--wait=true',
      '--timeout=60s',
    ]);
    // gone: its finalizer has run
    expect(await getJson(['get', `optimizationloop.ymera.io/${name}`, '-n', stack.ns])).toBeUndefined();
    return before;
  };

  beforeAll(async () => {
    await stack.start('e2e-oapply');
    await stack.deployment('web', 3);
    await stack.deployment('web-restore', 3);
    await stack.deployment('web-keep', 3);
    await stack.startOperator('op-oapply');
    await stack.apply(spec(false));
    await stack.apply(stopLoop('Restore'));
    await stack.apply(stopLoop('Keep'));
  });

  afterAll(() => stack.stop());

  it('writes an improving value itself (its own field manager, after the rollout) and adopts it', async () => {
    const l = await until('a trial adopted', (x) => !!x.status?.trials?.some((t) => t.verdict === 'Adopted'));
    const adopted = l.status!.trials!.find((t) => t.verdict === 'Adopted')!;
    expect(l.status?.baseline?.params).toEqual({ [WORKERS]: 3 });
    expect(adopted.params).toEqual({ [WORKERS]: 4 }); // the only feasible better neighbour of 3
    expect(adopted.measurement?.objective).toBeCloseTo(throughput(4), 0);
    expect(l.status?.lastKnownGood?.params).toEqual({ [WORKERS]: 4 });
    expect(condition(l, 'Ready')).toMatchObject({ status: 'True', reason: 'Tuning' });
    const d = (await deployment())!;
    expect(ownersOfWorkers(d)).toEqual([MANAGER]);
    // the loop owns the tuned value and nothing else of the spec
    const mine = d.metadata.managedFields!.filter((mf) => mf.manager === MANAGER);
    expect(mine).toHaveLength(1);
    expect(Object.keys(mine[0]!.fieldsV1!)).toEqual(['f:spec']);
    await eventually('a TrialAdopted Event', async () =>
      (await eventsAbout(stack.ns, 'tune')).find((e) => e.reason === 'TrialAdopted'),
    );
  });

  it('rolls a step into the violating region back to the last known good value at once', async () => {
    const l = await until(
      'a trial violated',
      (x) => !!x.status?.trials?.some((t) => t.verdict === 'Violated'),
    );
    const violated = l.status!.trials!.find((t) => t.verdict === 'Violated')!;
    expect(violated.params).toEqual({ [WORKERS]: 5 });
    expect(violated.reason).toMatch(/p95-latency/);
    expect(condition(l, 'ConstraintViolated')).toMatchObject({ status: 'True', reason: 'TrialViolated' });
    // the rollback is written in the reconcile that judged (before its status): one window plus one
    // reconcile after the violating window ended at the latest
    const judged = Date.parse(violated.completionTime!);
    await eventually(
      'the last known good value back on the Deployment',
      async () => workersOf(await deployment()) === 4,
      WINDOW_MS + 15_000,
    );
    expect(Date.now() - judged).toBeLessThan(2 * WINDOW_MS + 15_000);
    // the full history lives in the loop's ConfigMap
    const cm = await getJson<{ data?: Record<string, string> }>([
      'get',
      'configmap',
      'tune-trials',
      '-n',
      stack.ns,
    ]);
    const lines = (cm?.data?.['trials.jsonl'] ?? '')
      .trim()
      .split('\n')
      .map((s) => JSON.parse(s) as Trial);
    expect(lines.map((t) => t.verdict)).toContain('Violated');
    expect(lines.map((t) => t.verdict)).toContain('Adopted');
    await eventually('a TrialViolated Warning', async () =>
      (await eventsAbout(stack.ns, 'tune')).find((e) => e.reason === 'TrialViolated' && e.type === 'Warning'),
    );
  });

  it('restores the baseline on suspend', async () => {
    await stack.apply(spec(true));
    const l = await until('suspended', (x) => condition(x, 'Stopped')?.reason === 'Suspended', 60_000);
    expect(l.status?.phase).toBe('Stopped');
    await eventually(
      'the baseline back on the Deployment',
      async () => workersOf(await deployment()) === 3,
      30_000,
    );
  });

  it('stops with ChangedExternally when another field manager changes its value, and does not write again', async () => {
    await stack.apply(spec(false));
    // resumed: the loop measures its last known good value again, which it writes
    await eventually('the loop to write again after resuming', async () => {
      const d = await deployment();
      return workersOf(d) === 4 && d?.status?.observedGeneration === d?.metadata.generation;
    });
    await kubectlOk(
      ['apply', '--server-side', '--force-conflicts', '--field-manager=e2e-someone-else', '-f', '-'],
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: stack.ns },
        spec: {
          template: { spec: { containers: [{ name: 'app', env: [{ name: 'WORKERS', value: '2' }] }] } },
        },
      }),
    );
    const after = (await deployment())!;
    const l = await until(
      'stopped: ChangedExternally',
      (x) => condition(x, 'Stopped')?.reason === 'ChangedExternally',
    );
    expect(condition(l, 'Stopped')?.message).toMatch(/e2e-someone-else/);
    expect(condition(l, 'Stalled')).toMatchObject({ status: 'True', reason: 'ChangedExternally' });
    await eventually('a ChangedExternally Warning', async () =>
      (await eventsAbout(stack.ns, 'tune')).find((e) => e.reason === 'ChangedExternally'),
    );
    // stopped for good: the value, its generation and its owner stay the other manager's
    const d = (await deployment())!;
    expect(workersOf(d)).toBe(2);
    expect(d.metadata.generation).toBe(after.metadata.generation);
    expect(ownersOfWorkers(d)).toEqual(['e2e-someone-else']);
  });

  it('restores the baseline on delete (finalizer), and keeps the ownership of the field', async () => {
    await convergeThenDelete('restore');
    const d = (await stack.get('web-restore'))!;
    expect(workersOf(d)).toBe(3);
    expect(ownersOfWorkers(d)).toEqual([MANAGER]);
    await eventually('a BaselineRestored Event', async () =>
      (await eventsAbout(stack.ns, 'restore', 'OptimizationLoop')).find(
        (e) => e.reason === 'BaselineRestored',
      ),
    );
  });

  it('keeps the tuned value on delete with onStop: Keep', async () => {
    const before = await convergeThenDelete('keep');
    const d = (await stack.get('web-keep'))!;
    expect(workersOf(d)).toBe(4);
    expect(d.metadata.generation).toBe(before.metadata.generation); // no write at all
    expect((await eventsAbout(stack.ns, 'keep', 'OptimizationLoop')).map((e) => e.reason)).not.toContain(
      'BaselineRestored',
    );
  });
});
