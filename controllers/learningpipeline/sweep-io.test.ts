import { afterEach, describe, expect, it } from 'vitest';
import { ReconcileContext } from '../../operator/controller.ts';
import { EventRecorder } from '../../operator/events.ts';
import { Informer } from '../../operator/informer.ts';
import { InformerSet } from '../../operator/informer-set.ts';
import { KubeApiError } from '../../operator/kube/client.ts';
import type { LocalApiServer } from '../../operator/kube/local-apiserver.ts';
import {
  listBody,
  sendJson,
  startLocalApiServer,
  status,
  watchStream,
} from '../../operator/kube/local-apiserver.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core } from '../../operator/kube/resources.ts';
import type { PodObject } from '../../operator/kube/workloads.ts';
import { createLogger } from '../../operator/logger.ts';
import type { LearningPipelineSweep } from './schema.ts';
import {
  EarlyStopper,
  LOG_MAX_TRANSFER_BYTES,
  LOG_TAIL_LINES,
  OnceSet,
  earlyStoppingForbiddenMessage,
  earlyStoppingUnavailableMessage,
  finishedFromStatus,
  isLogForbidden,
  trialPodFinished,
} from './sweep-io.ts';
import type { TrialObservation } from './sweep.ts';
import { planSweep } from './sweep.ts';

describe('early stopping without pods/log', () => {
  it('tells a refused log read (403) from a log that is not there', () => {
    expect(isLogForbidden(new KubeApiError(403, 'Forbidden', 'pods "x" is forbidden'))).toBe(true);
    expect(isLogForbidden(new KubeApiError(404, 'NotFound', 'no pod'))).toBe(false);
    expect(isLogForbidden(new KubeApiError(400, 'BadRequest', 'container not started'))).toBe(false);
    expect(isLogForbidden(new Error('socket hang up'))).toBe(false);
  });

  it('names the chart value that grants it', () => {
    expect(earlyStoppingForbiddenMessage('train')).toMatch(
      /^step train: early stopping is off .*rbac\.learningPipelineEarlyStopping=true/,
    );
  });

  it('warns once per sweep, however many reconciles see the refusal', () => {
    const once = new OnceSet(2);
    expect(once.mark('ns/p/r1/train')).toBe(true);
    expect(once.mark('ns/p/r1/train')).toBe(false);
    expect(once.has('ns/p/r1/train')).toBe(true);
    expect(once.mark('ns/p/r2/train')).toBe(true);
    // bounded: the oldest is forgotten
    expect(once.mark('ns/p/r3/train')).toBe(true);
    expect(once.has('ns/p/r1/train')).toBe(false);
  });

  it('holds reads back for a while after a refusal, not for good, and still warns only once', () => {
    const once = new OnceSet(10);
    const minute = 60_000;
    expect(once.refusedWithin('k', 0, 10 * minute)).toBe(false);
    expect(once.mark('k', 0)).toBe(true);
    expect(once.refusedWithin('k', 9 * minute, 10 * minute)).toBe(true);
    // a grant made meanwhile: the read is tried again after the wait
    expect(once.refusedWithin('k', 10 * minute, 10 * minute)).toBe(false);
    // refused again: held back again, but not told again
    expect(once.mark('k', 10 * minute)).toBe(false);
    expect(once.refusedWithin('k', 19 * minute, 10 * minute)).toBe(true);
  });
});

describe('trialPodFinished', () => {
  const pod = (status: PodObject['status']): PodObject =>
    ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, status }) as PodObject;
  it('a trial whose pod ended is not stopped (its result stands)', () => {
    expect(trialPodFinished(undefined)).toBe(false);
    expect(trialPodFinished(pod({ phase: 'Running', containerStatuses: [] }))).toBe(false);
    expect(trialPodFinished(pod({ phase: 'Succeeded' }))).toBe(true);
    expect(
      trialPodFinished(
        pod({ phase: 'Running', containerStatuses: [{ name: 'c', state: { terminated: { exitCode: 0 } } }] }),
      ),
    ).toBe(true);
    expect(
      trialPodFinished(pod({ phase: 'Running', containerStatuses: [{ name: 'c', state: { running: {} } }] })),
    ).toBe(false);
  });
});

describe('finishedFromStatus', () => {
  const sweep: LearningPipelineSweep = {
    parameters: [{ name: 'k', categorical: ['a', 'b', 'c', 'd', 'e'] }],
    objective: { metric: 'acc', goal: 'Maximize' },
    maxTrials: 3,
    parallelTrials: 1,
    maxFailedTrials: 1,
  };
  const recorded = [
    { index: 0, parameters: { k: 'a' }, phase: 'Succeeded' as const, job: 'p-r1-train-t0', objective: 0.7 },
    { index: 1, parameters: { k: 'b' }, phase: 'Failed' as const, job: 'p-r1-train-t1', reason: 'exit 1' },
    { index: 2, parameters: { k: 'c' }, phase: 'EarlyStopped' as const, job: 'p-r1-train-t2' },
  ];

  it('keeps trials whose Job was deleted by hand in the accounting, so maxTrials holds', () => {
    const gone = finishedFromStatus(sweep, recorded, new Set([2]));
    expect(gone).toEqual([
      { index: 0, job: 'p-r1-train-t0', params: { k: 'a' }, state: 'Succeeded', metrics: { acc: 0.7 } },
      { index: 1, job: 'p-r1-train-t1', params: { k: 'b' }, state: 'Failed', message: 'exit 1' },
    ]);
    // trial 2's Job is still there; with 0 and 1 from status the budget of 3 is spent: no trial 3
    const stopped = {
      index: 2,
      job: 'p-r1-train-t2',
      params: { k: 'c' },
      state: 'Failed' as const,
      stoppedEarly: true,
    };
    const plan = planSweep({ sweep, step: 'train', trials: [...gone, stopped], seed: 1 });
    expect(plan.start).toEqual([]);
    expect(plan.phase).toBe('Succeeded');
    expect(plan.status).toMatchObject({ started: 3, succeeded: 1, failed: 1, earlyStopped: 1 });
  });
});

describe('earlyStoppingUnavailableMessage', () => {
  it('names the trial, why, and what the trial author can change', () => {
    expect(
      earlyStoppingUnavailableMessage('train', [{ index: 4, job: 'p-r1-train-t4', why: 'tooLarge' }]),
    ).toMatch(
      /^step train: early stopping is off for trial 4 \(Job p-r1-train-t4\): .*over 2 MiB.*write fewer or shorter log lines/,
    );
    expect(
      earlyStoppingUnavailableMessage('train', [
        { index: 2, job: 'p-r1-train-t2', why: 'positionsOnly' },
        { index: 5, job: 'p-r1-train-t5', why: 'positionsOnly' },
      ]),
    ).toMatch(
      /trial 2 \(Job p-r1-train-t2\) \(and 1 other trial\(s\)\): .*report "step" in each ymera-metrics line.*such trials are/,
    );
  });

  it('names each distinct reason once, with its advice, the first trial it applies to and how many others', () => {
    const message = earlyStoppingUnavailableMessage('train', [
      { index: 6, job: 'p-r1-train-t6', why: 'positionsOnly' },
      { index: 2, job: 'p-r1-train-t2', why: 'positionsOnly' },
      { index: 3, job: 'p-r1-train-t3', why: 'tooLarge' },
      { index: 5, job: 'p-r1-train-t5', why: 'positionsOnly' },
    ]);
    expect(message).toMatch(
      /^step train: early stopping is off for trial 2 \(Job p-r1-train-t2\) \(and 2 other trial\(s\)\): [^]*report "step" in each ymera-metrics line[^]*; and for trial 3 \(Job p-r1-train-t3\): [^]*over 2 MiB[^]*write fewer or shorter log lines; such trials are neither stopped nor counted in the median$/,
    );
    // each reason and its advice once; the other trials are counted, not named
    expect(message.split('write fewer or shorter log lines')).toHaveLength(2);
    expect(message.split('report "step" in each ymera-metrics line')).toHaveLength(2);
    expect(message).not.toMatch(/t5|t6/);
  });

  it('stays short however many trials and however long their names (an Event note is cut at 1024)', () => {
    const long = (i: number) => `${'p'.repeat(50)}-r1-train-t${i}`.slice(-63);
    const trials = Array.from({ length: 200 }, (_, i) => ({
      index: i,
      job: long(i),
      why: i % 2 === 0 ? ('tooLarge' as const) : ('positionsOnly' as const),
    }));
    const message = `Run ${'r'.repeat(40)}: ${earlyStoppingUnavailableMessage('s'.repeat(63), trials)}`;
    expect(message.length).toBeLessThanOrEqual(1024);
    expect(message).toContain('(and 99 other trial(s))');
  });
});

// EarlyStopper over real HTTP: a local API server answers the pod list and
// watch (the informer the stopper finds trial pods in) and each pod's log.
describe('EarlyStopper', () => {
  const logger = createLogger({ level: 'error', sink: { write: () => undefined } });
  const ns = 'a';
  const job = (i: number) => `p-r1-train-t${i}`;
  const sweep: LearningPipelineSweep = {
    parameters: [{ name: 'k', categorical: ['a', 'b', 'c', 'd', 'e', 'f'] }],
    objective: { metric: 'acc', goal: 'Maximize' },
    maxTrials: 6,
    parallelTrials: 2,
    maxFailedTrials: 1,
    earlyStopping: { minTrials: 3, minReports: 3, marginPercent: 0 },
  };
  const trial = (i: number, state: TrialObservation['state']): TrialObservation => ({
    index: i,
    job: job(i),
    params: { k: 'a' },
    state,
  });
  /** Three succeeded trials (0-2) and a running one (3): enough for the rule to read every log. */
  const trials = [trial(0, 'Succeeded'), trial(1, 'Succeeded'), trial(2, 'Succeeded'), trial(3, 'Active')];
  const lines = (n: number, line: (i: number) => string) =>
    Array.from({ length: n }, (_, i) => `${line(i)}\n`).join('');
  const stepped = lines(5, (i) => `ymera-metrics {"acc": 0.8, "step": ${i + 1}}`);

  let api: LocalApiServer | undefined;
  let informer: Informer<KubeObject> | undefined;
  afterEach(async () => {
    await informer?.stop();
    await api?.close();
    informer = undefined;
    api = undefined;
  });

  /** A context whose pods are trial-0 … trial-3, each log answered by `logs` (undefined: 404). */
  async function context(logs: Record<number, string | undefined>): Promise<ReconcileContext> {
    const pods: KubeObject[] = trials.map((t) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${t.job}-pod`, namespace: ns, resourceVersion: '1', labels: { 'job-name': t.job } },
    }));
    api = await startLocalApiServer((req, res) => {
      const log = /^\/api\/v1\/namespaces\/a\/pods\/p-r1-train-t(\d+)-pod\/log$/.exec(req.path);
      if (log) {
        const text = logs[Number(log[1])];
        if (text === undefined) return sendJson(res, 404, status(404, 'NotFound', 'no log'));
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        const body = Buffer.from(text);
        for (let i = 0; i < body.length; i += 64 * 1024) res.write(body.subarray(i, i + 64 * 1024));
        res.end();
        return;
      }
      if (req.query.get('watch') === 'true') return void watchStream(res);
      return sendJson(res, 200, listBody(pods, '1'));
    });
    const client = api.client();
    informer = new Informer<KubeObject>(client, core.pod, { namespace: ns, resyncMs: 0, logger });
    const set = new InformerSet(new Map([['', informer]]));
    informer.start();
    await informer.waitForSync();
    return new ReconcileContext({
      client,
      log: logger,
      events: new EventRecorder({ client, controller: 'test', instance: 'test', logger }),
      informers: () => set,
      primaries: () => set,
    });
  }
  const logReads = (i: number) =>
    api?.seen.filter((r) => r.path === `/api/v1/namespaces/a/pods/${job(i)}-pod/log`).length ?? 0;

  it('reads a finished trial whose log cannot be read once, not on every check', async () => {
    const ctx = await context({ 1: stepped, 2: stepped, 3: stepped });
    const stopper = new EarlyStopper();
    for (let check = 0; check < 3; check++) await stopper.apply(ctx, ns, sweep, trials, 'a/p/r1/train');
    expect(logReads(0)).toBe(1);
    // a running trial's log changes: read on every check
    expect(logReads(3)).toBe(3);
  });

  it('warns once per sweep of a trial whose log tail is over the transfer bound, never with its content', async () => {
    const huge = lines(LOG_TAIL_LINES, () => `secret-token=abc ${'x'.repeat(5000)}`);
    expect(Buffer.byteLength(huge)).toBeGreaterThan(LOG_MAX_TRANSFER_BYTES);
    const ctx = await context({ 0: stepped, 1: stepped, 2: stepped, 3: huge });
    const stopper = new EarlyStopper();
    const first = await stopper.apply(ctx, ns, sweep, trials, 'a/p/r1/train');
    expect(first.unusable).toEqual([{ index: 3, job: job(3), why: 'tooLarge' }]);
    expect(earlyStoppingUnavailableMessage('train', first.unusable!)).not.toContain('secret');
    // the next checks of the same sweep: not told again
    expect((await stopper.apply(ctx, ns, sweep, trials, 'a/p/r1/train')).unusable).toBeUndefined();
    // another sweep (the next run) is told
    expect((await stopper.apply(ctx, ns, sweep, trials, 'a/p/r2/train')).unusable).toHaveLength(1);
  });

  it('warns of a finished trial whose cut log gives positions only, also when its reports come from memory', async () => {
    const positional = lines(LOG_TAIL_LINES + 100, () => 'ymera-metrics {"acc": 0.8}');
    const ctx = await context({ 0: stepped, 1: positional, 2: stepped, 3: stepped });
    const stopper = new EarlyStopper();
    expect((await stopper.apply(ctx, ns, sweep, trials, 'a/p/r1/train')).unusable).toEqual([
      { index: 1, job: job(1), why: 'positionsOnly' },
    ]);
    // trial 1 is not read again, and a new sweep that shares it (as status replays it) is still told
    expect((await stopper.apply(ctx, ns, sweep, trials, 'a/p/r2/train')).unusable).toHaveLength(1);
    expect(logReads(1)).toBe(1);
  });

  it('warns once per sweep and reason: a later trial unusable for a new reason is told, of that reason only', async () => {
    const huge = lines(LOG_TAIL_LINES, () => `secret-token=abc ${'x'.repeat(5000)}`);
    const positional = lines(LOG_TAIL_LINES + 100, () => 'ymera-metrics {"acc": 0.8}');
    const logs: Record<number, string | undefined> = { 0: stepped, 1: stepped, 2: stepped, 3: huge };
    const ctx = await context(logs);
    const stopper = new EarlyStopper();
    const check = async () => (await stopper.apply(ctx, ns, sweep, trials, 'a/p/r1/train')).unusable;
    expect(await check()).toEqual([{ index: 3, job: job(3), why: 'tooLarge' }]);
    expect(await check()).toBeUndefined();
    // the running trial's log now gives positions only: a new reason, told with its own advice
    logs[3] = positional;
    const later = await check();
    expect(later).toEqual([{ index: 3, job: job(3), why: 'positionsOnly' }]);
    expect(earlyStoppingUnavailableMessage('train', later!)).toContain(
      'report "step" in each ymera-metrics line',
    );
    expect(await check()).toBeUndefined();
    // back to a reason already told: not told again
    logs[3] = huge;
    expect(await check()).toBeUndefined();
  });

  it('tells every reason of one check in one warning, and neither again', async () => {
    const huge = lines(LOG_TAIL_LINES, () => `secret-token=abc ${'x'.repeat(5000)}`);
    const positional = lines(LOG_TAIL_LINES + 100, () => 'ymera-metrics {"acc": 0.8}');
    const ctx = await context({ 0: stepped, 1: positional, 2: stepped, 3: huge });
    const stopper = new EarlyStopper();
    const first = await stopper.apply(ctx, ns, sweep, trials, 'a/p/r1/train');
    expect(first.unusable).toEqual([
      { index: 1, job: job(1), why: 'positionsOnly' },
      { index: 3, job: job(3), why: 'tooLarge' },
    ]);
    const message = earlyStoppingUnavailableMessage('train', first.unusable!);
    expect(message).toContain('write fewer or shorter log lines');
    expect(message).toContain('report "step" in each ymera-metrics line');
    expect(message).not.toContain('secret');
    expect((await stopper.apply(ctx, ns, sweep, trials, 'a/p/r1/train')).unusable).toBeUndefined();
  });

  it('does not warn of a cut log that reports steps, nor of a short one without them', async () => {
    const long = lines(LOG_TAIL_LINES + 100, (i) => `ymera-metrics {"acc": 0.8, "step": ${i}}`);
    const short = lines(5, () => 'ymera-metrics {"acc": 0.8}');
    const ctx = await context({ 0: long, 1: short, 2: short, 3: long });
    const stopper = new EarlyStopper();
    expect((await stopper.apply(ctx, ns, sweep, trials, 'a/p/r1/train')).unusable).toBeUndefined();
  });
});
