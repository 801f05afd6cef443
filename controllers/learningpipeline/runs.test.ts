import { describe, expect, it } from 'vitest';
import type { AttemptObservation } from './runs.ts';
import { advanceRun, cancelRun, failStep, newRun, topologicalOrder } from './runs.ts';
import type { LearningPipelineRun, LearningPipelineStep } from './schema.ts';
import type { TrialObservation } from './sweep.ts';

const t0 = new Date('2026-11-21T10:00:00Z');
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const jobName = (step: string, attempt: number) => `p-r1-${step}-${attempt}`;

// prepare → train → evaluate, plus report depending on prepare only
const steps: LearningPipelineStep[] = [
  { name: 'evaluate', image: 'e', dependsOn: ['train'] },
  {
    name: 'train',
    image: 't',
    dependsOn: ['prepare'],
    retry: { limit: 2, backoff: { durationSeconds: 10, factor: 2, maxDurationSeconds: 600 } },
  },
  { name: 'prepare', image: 'p' },
  { name: 'report', image: 'r', dependsOn: ['prepare'] },
];

const obs = (
  step: string,
  attempt: number,
  state: AttemptObservation['state'],
  finished?: number,
  message?: string,
): AttemptObservation => ({
  step,
  attempt,
  job: jobName(step, attempt),
  state,
  ...(finished !== undefined ? { finishedAt: at(finished) } : {}),
  ...(message ? { message } : {}),
});

function drive(run: LearningPipelineRun, observed: AttemptObservation[], now: Date) {
  return advanceRun(steps, run, observed, now, jobName);
}

const phaseOf = (run: LearningPipelineRun, step: string) => run.steps?.find((s) => s.name === step)?.phase;

describe('topologicalOrder', () => {
  it('puts every step after its dependencies and keeps input order among equals', () => {
    expect(topologicalOrder(steps).map((s) => s.name)).toEqual(['prepare', 'train', 'report', 'evaluate']);
  });
});

describe('advanceRun', () => {
  it('starts only the steps without dependencies first', () => {
    const r = drive(newRun('r1', 'Manual', 'test', steps, t0), [], t0);
    expect(r.start).toEqual([{ step: 'prepare', attempt: 1 }]);
    expect(r.run.phase).toBe('Running');
    expect(phaseOf(r.run, 'prepare')).toBe('Running');
    expect(r.run.steps?.find((s) => s.name === 'prepare')?.job).toBe('p-r1-prepare-1');
    expect(phaseOf(r.run, 'train')).toBe('Pending');
  });

  it('starts independent steps in parallel once their dependency succeeded', () => {
    const first = drive(newRun('r1', 'Manual', 'test', steps, t0), [], t0).run;
    const r = drive(first, [obs('prepare', 1, 'Succeeded', 5)], at(6));
    expect(r.start).toEqual([
      { step: 'train', attempt: 1 },
      { step: 'report', attempt: 1 },
    ]);
    expect(r.run.progress).toBe('1/4');
  });

  it('does not start an attempt twice: a Job that exists is observed, not re-planned', () => {
    const first = drive(newRun('r1', 'Manual', 'test', steps, t0), [], t0).run;
    const again = drive(first, [obs('prepare', 1, 'Active')], at(1));
    expect(again.start).toEqual([]);
    // the Job not yet in the cache: the same attempt is asked for again (creating it is a no-op)
    const lagging = drive(first, [], at(1));
    expect(lagging.start).toEqual([{ step: 'prepare', attempt: 1 }]);
  });

  it('retries a failed attempt after the backoff, then fails the step and skips its dependents', () => {
    let run = drive(newRun('r1', 'Manual', 'test', steps, t0), [], t0).run;
    const done = [obs('prepare', 1, 'Succeeded', 1), obs('report', 1, 'Succeeded', 3)];
    run = drive(run, done, at(2)).run;
    // attempt 1 fails at t=10: wait 10s
    let r = drive(run, [...done, obs('train', 1, 'Failed', 10, 'exit 1')], at(11));
    expect(phaseOf(r.run, 'train')).toBe('Retrying');
    expect(r.run.steps?.find((s) => s.name === 'train')?.nextAttemptTime).toBe('2026-11-21T10:00:20Z');
    expect(r.wakeAt).toEqual(at(20));
    expect(r.transitions).toContainEqual(
      expect.objectContaining({ step: 'train', kind: 'Retrying', attempt: 1 }),
    );
    expect(r.start).toEqual([]);
    r = drive(r.run, [...done, obs('train', 1, 'Failed', 10)], at(20));
    expect(r.start).toEqual([{ step: 'train', attempt: 2 }]);
    // attempt 2 fails at 30: wait 20s (factor 2)
    r = drive(r.run, [...done, obs('train', 1, 'Failed', 10), obs('train', 2, 'Failed', 30)], at(31));
    expect(r.run.steps?.find((s) => s.name === 'train')?.nextAttemptTime).toBe('2026-11-21T10:00:50Z');
    r = drive(r.run, [...done, obs('train', 1, 'Failed', 10), obs('train', 2, 'Failed', 30)], at(50));
    expect(r.start).toEqual([{ step: 'train', attempt: 3 }]);
    const all = [
      ...done,
      obs('train', 1, 'Failed', 10),
      obs('train', 2, 'Failed', 30),
      obs('train', 3, 'Failed', 60, 'exit 2'),
    ];
    r = drive(r.run, all, at(61));
    expect(phaseOf(r.run, 'train')).toBe('Failed');
    expect(r.run.steps?.find((s) => s.name === 'train')?.attempts).toBe(3);
    expect(r.run.steps?.find((s) => s.name === 'train')?.message).toMatch(
      /attempt 3 failed: exit 2; no retries left \(3 attempts\)/,
    );
    expect(phaseOf(r.run, 'evaluate')).toBe('Skipped');
    expect(phaseOf(r.run, 'report')).toBe('Succeeded');
    expect(r.run.phase).toBe('Failed');
    expect(r.run.message).toMatch(/step train failed/);
    expect(r.start).toEqual([]);
  });

  it('keeps independent branches going when a step fails', () => {
    const oneShot: LearningPipelineStep[] = [
      { name: 'a', image: 'x' },
      { name: 'b', image: 'x' },
      { name: 'c', image: 'x', dependsOn: ['a'] },
    ];
    let r = advanceRun(oneShot, newRun('r', 'Manual', 'm', oneShot, t0), [], t0, jobName);
    r = advanceRun(oneShot, r.run, [obs('a', 1, 'Failed', 1), obs('b', 1, 'Active')], at(2), jobName);
    expect(phaseOf(r.run, 'a')).toBe('Failed');
    expect(phaseOf(r.run, 'c')).toBe('Skipped');
    expect(r.run.phase).toBe('Running'); // b still runs
    r = advanceRun(oneShot, r.run, [obs('a', 1, 'Failed', 1), obs('b', 1, 'Succeeded', 3)], at(4), jobName);
    expect(r.run.phase).toBe('Failed');
    expect(r.run.progress).toBe('1/3');
  });

  it('resumes from the Jobs after a restart that lost the last status write', () => {
    // status still says attempt 1 is running, but the cluster has attempt 1 failed and attempt 2 running
    let run = drive(newRun('r1', 'Manual', 'test', steps, t0), [], t0).run;
    run = drive(run, [obs('prepare', 1, 'Succeeded', 1), obs('report', 1, 'Succeeded', 1)], at(2)).run;
    const r = drive(
      run,
      [
        obs('prepare', 1, 'Succeeded', 1),
        obs('report', 1, 'Succeeded', 1),
        obs('train', 1, 'Failed', 5),
        obs('train', 2, 'Active'),
      ],
      at(30),
    );
    expect(r.start).toEqual([]);
    expect(phaseOf(r.run, 'train')).toBe('Running');
    expect(r.run.steps?.find((s) => s.name === 'train')?.attempts).toBe(2);
  });

  it('succeeds when every step succeeded and leaves a finished run alone', () => {
    const all = ['prepare', 'train', 'report', 'evaluate'].map((s) => obs(s, 1, 'Succeeded', 1));
    let run = newRun('r1', 'Manual', 'test', steps, t0);
    for (let i = 0; i < 3; i++) run = drive(run, all, at(10)).run;
    expect(run.phase).toBe('Succeeded');
    expect(run.progress).toBe('4/4');
    expect(run.completionTime).toBe('2026-11-21T10:00:10Z');
    expect(drive(run, [], at(99)).run).toBe(run);
  });

  it('notes why a running attempt waits and clears the note when it recovers', () => {
    const run = drive(newRun('r1', 'Manual', 'test', steps, t0), [], t0).run;
    const stuck = drive(
      run,
      [{ ...obs('prepare', 1, 'Active'), message: 'waiting: ImagePullBackOff' }],
      at(1),
    ).run;
    expect(stuck.steps?.find((s) => s.name === 'prepare')?.message).toBe('waiting: ImagePullBackOff');
    const fine = drive(stuck, [obs('prepare', 1, 'Active')], at(2)).run;
    expect(fine.steps?.find((s) => s.name === 'prepare')?.message).toBeUndefined();
  });
});

describe('cancelRun', () => {
  it('cancels the open steps and keeps the finished ones', () => {
    let run = drive(newRun('r1', 'Manual', 'test', steps, t0), [], t0).run;
    run = drive(run, [obs('prepare', 1, 'Succeeded', 1)], at(2)).run;
    const c = cancelRun(run, 'replaced', at(3));
    expect(c.phase).toBe('Cancelled');
    expect(phaseOf(c, 'prepare')).toBe('Succeeded');
    expect(phaseOf(c, 'train')).toBe('Cancelled');
  });
});

describe('advanceRun with a sweep step', () => {
  const sweepSteps: LearningPipelineStep[] = [
    { name: 'prepare', image: 'p' },
    {
      name: 'train',
      image: 't',
      dependsOn: ['prepare'],
      sweep: {
        parameters: [{ name: 'k', categorical: ['a', 'b', 'c'] }],
        objective: { metric: 'acc', goal: 'Maximize' },
        maxTrials: 3,
        parallelTrials: 2,
        maxFailedTrials: 0,
      },
    },
    { name: 'evaluate', image: 'e', dependsOn: ['train'] },
  ];
  const trial = (index: number, state: TrialObservation['state'], acc?: number): TrialObservation => ({
    index,
    job: `p-r1-train-t${index}`,
    params: { k: ['a', 'b', 'c'][index]! },
    state,
    ...(acc !== undefined ? { metrics: { acc } } : {}),
  });
  const go = (run: LearningPipelineRun, attempts: AttemptObservation[], trials: TrialObservation[]) =>
    advanceRun(sweepSteps, run, attempts, t0, jobName, { trials: () => trials, seed: () => 1 });
  const prepared = [obs('prepare', 1, 'Succeeded', 1)];

  it('waits for its dependencies, then starts parallelTrials trials and no attempt Job', () => {
    const fresh = newRun('r1', 'Manual', 'x', sweepSteps, t0);
    expect(go(fresh, [], []).startTrials).toBeUndefined();
    const r = go(fresh, prepared, []);
    expect(r.start.map((s) => s.step)).toEqual([]);
    expect(r.startTrials?.map((s) => [s.step, s.index])).toEqual([
      ['train', 0],
      ['train', 1],
    ]);
    expect(r.run.steps?.find((s) => s.name === 'train')).toMatchObject({
      phase: 'Running',
      sweep: { started: 2, running: 2 },
    });
  });

  it("succeeds with the best trial's Job as the step's job, then the next step starts", () => {
    const fresh = newRun('r1', 'Manual', 'x', sweepSteps, t0);
    const running = go(fresh, prepared, []).run;
    const r = go(running, prepared, [
      trial(0, 'Succeeded', 0.5),
      trial(1, 'Succeeded', 0.8),
      trial(2, 'Succeeded', 0.7),
    ]);
    const train = r.run.steps?.find((s) => s.name === 'train');
    expect(train).toMatchObject({ phase: 'Succeeded', job: 'p-r1-train-t1', sweep: { best: { index: 1 } } });
    expect(r.transitions).toContainEqual(expect.objectContaining({ step: 'train', kind: 'Succeeded' }));
    expect(r.start.map((s) => s.step)).toEqual(['evaluate']);
  });

  it('fails the step past maxFailedTrials, stops the running trial and skips the dependents', () => {
    const running = go(newRun('r1', 'Manual', 'x', sweepSteps, t0), prepared, []).run;
    const r = go(running, prepared, [trial(0, 'Failed'), trial(1, 'Active')]);
    expect(r.run.steps?.find((s) => s.name === 'train')?.phase).toBe('Failed');
    expect(r.stopJobs).toEqual(['p-r1-train-t1']);
    expect(r.run.steps?.find((s) => s.name === 'evaluate')?.phase).toBe('Skipped');
    expect(r.run.phase).toBe('Failed');
  });

  it('a winner that cannot be published (a permanent error) fails the step and the run in that pass', () => {
    const running = go(newRun('r1', 'Manual', 'x', sweepSteps, t0), prepared, []).run;
    const trials = [trial(0, 'Succeeded', 0.5), trial(1, 'Succeeded', 0.8), trial(2, 'Succeeded', 0.7)];
    const won = go(running, prepared, trials);
    const sweep = won.run.steps?.find((s) => s.name === 'train')?.sweep;
    const why = 'publishing the best trial 1: copying s3://b/r failed: AccessDenied';
    const r = go(failStep(running, 'train', sweep, why, t0), prepared, trials);
    expect(r.run.steps?.find((s) => s.name === 'train')).toMatchObject({
      phase: 'Failed',
      message: why,
      sweep: { best: { index: 1 } },
    });
    expect(r.start).toEqual([]);
    expect(r.run.steps?.find((s) => s.name === 'evaluate')?.phase).toBe('Skipped');
    expect(r.run.phase).toBe('Failed');
    expect(r.run.message).toContain('AccessDenied');
  });

  it('is skipped when a dependency failed', () => {
    const r = go(newRun('r1', 'Manual', 'x', sweepSteps, t0), [obs('prepare', 1, 'Failed', 1)], []);
    expect(r.run.steps?.find((s) => s.name === 'train')?.phase).toBe('Skipped');
    expect(r.startTrials).toBeUndefined();
  });
});
