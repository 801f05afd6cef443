// Pure: one step forward for a run. From the run as last recorded in status
// and the step Jobs observed on the cluster, decide each step's phase, which
// attempts to start, and the run's phase. The Jobs are the truth for
// attempts (names are deterministic, so a restart re-derives the same state
// and creating a Job that exists is a no-op): nothing is lost or duplicated.
//
// Semantics (Argo Workflows DAG with failFast off): a step starts when all
// its dependencies succeeded; a failed attempt is retried with backoff up to
// retry.limit; a step out of attempts fails, its dependents are skipped,
// independent branches go on; the run fails once nothing more can run.
import { metaTime } from '../../operator/conditions.ts';
import { clip } from '../../operator/text.ts';
import { maxAttempts, nextAttemptAt } from './retry.ts';
import type { LearningPipelineRun, LearningPipelineStep, stepPhases } from './schema.ts';
import type { TrialObservation, TrialStart } from './sweep.ts';
import { planSweep } from './sweep.ts';

export type StepPhase = (typeof stepPhases)[number];
export type RunStep = NonNullable<LearningPipelineRun['steps']>[number];

/** What the cluster says about one attempt's Job. */
export interface AttemptObservation {
  step: string;
  attempt: number;
  job: string;
  state: 'Active' | 'Succeeded' | 'Failed';
  startedAt?: Date;
  finishedAt?: Date;
  /** Why it failed (Job condition reason and message, or the pod's). */
  message?: string;
}

export interface StartAttempt {
  step: string;
  attempt: number;
}

/** Something a user or consumer should hear about. */
export interface StepTransition {
  step: string;
  kind: 'Started' | 'Retrying' | 'Succeeded' | 'Failed' | 'Skipped';
  attempt: number;
  message?: string;
}

/** What a sweep step needs: the trials observed (their Jobs) and its proposals' seed. */
export interface SweepInput {
  trials: (step: string) => readonly TrialObservation[];
  seed: (step: string) => number;
}

export interface AdvanceResult {
  run: LearningPipelineRun;
  start: StartAttempt[];
  /** Sweep trials to start (create their Jobs). */
  startTrials?: (TrialStart & { step: string })[];
  /** Jobs of running trials to stop (their sweep failed). */
  stopJobs?: string[];
  transitions: StepTransition[];
  /** Earliest time a retry waits for (requeue then). */
  wakeAt?: Date;
}

// Keeps status small whatever the Jobs say.
const MESSAGE_MAX = 200;
const TERMINAL_STEP: ReadonlySet<StepPhase> = new Set(['Succeeded', 'Failed', 'Skipped', 'Cancelled']);
const TERMINAL_RUN = new Set(['Succeeded', 'Failed', 'Cancelled']);

export function isRunFinished(run: Pick<LearningPipelineRun, 'phase'>): boolean {
  return TERMINAL_RUN.has(run.phase);
}

/** Steps in an order where every step comes after its dependencies (input order among equals). */
export function topologicalOrder(steps: readonly LearningPipelineStep[]): LearningPipelineStep[] {
  const done = new Set<string>();
  const out: LearningPipelineStep[] = [];
  let rest = [...steps];
  while (rest.length > 0) {
    const ready = rest.filter((s) => (s.dependsOn ?? []).every((d) => done.has(d) || d === s.name));
    // a cycle (admission and validation reject those): keep the rest in input order rather than loop
    const batch = ready.length > 0 ? ready : rest;
    for (const s of batch) {
      done.add(s.name);
      out.push(s);
    }
    rest = rest.filter((s) => !done.has(s.name));
  }
  return out;
}

/** A new run: every step Pending. */
export function newRun(
  id: string,
  trigger: LearningPipelineRun['trigger'],
  cause: string,
  steps: readonly LearningPipelineStep[],
  now: Date,
): LearningPipelineRun {
  return {
    id,
    trigger,
    cause: clip(cause, 256),
    phase: 'Pending',
    progress: `0/${steps.length}`,
    startTime: metaTime(now),
    steps: steps.map((s) => ({ name: s.name, phase: 'Pending' as const, attempts: 0 })),
  };
}

export function advanceRun(
  steps: readonly LearningPipelineStep[],
  run: LearningPipelineRun,
  observed: readonly AttemptObservation[],
  now: Date,
  jobName: (step: string, attempt: number) => string,
  sweeps: SweepInput = { trials: () => [], seed: () => 0 },
): AdvanceResult {
  if (isRunFinished(run)) return { run, start: [], transitions: [] };
  const startTrials: (TrialStart & { step: string })[] = [];
  const stopJobs: string[] = [];
  const before = new Map((run.steps ?? []).map((s) => [s.name, s]));
  const after = new Map<string, RunStep>();
  const start: StartAttempt[] = [];
  const transitions: StepTransition[] = [];
  let wakeAt: Date | undefined;

  for (const step of topologicalOrder(steps)) {
    const prev: RunStep = before.get(step.name) ?? { name: step.name, phase: 'Pending', attempts: 0 };
    const mine = observed.filter((o) => o.step === step.name).sort((a, b) => a.attempt - b.attempt);
    const latest = mine.at(-1);
    const attempts = Math.max(prev.attempts ?? 0, latest?.attempt ?? 0);
    const succeeded = mine.find((o) => o.state === 'Succeeded');
    let next: RunStep = { ...prev, attempts };
    delete next.nextAttemptTime;

    const begin = (attempt: number, phase: StepPhase = 'Running') => {
      start.push({ step: step.name, attempt });
      transitions.push({ step: step.name, kind: 'Started', attempt });
      next = {
        ...next,
        phase,
        attempts: attempt,
        job: jobName(step.name, attempt),
        startTime: prev.startTime ?? metaTime(now),
      };
      delete next.message;
    };

    const depsBlocked = () =>
      (step.dependsOn ?? [])
        .map((d) => after.get(d))
        .find((d) => d && (d.phase === 'Failed' || d.phase === 'Skipped' || d.phase === 'Cancelled'));
    const depsDone = () => (step.dependsOn ?? []).every((d) => after.get(d)?.phase === 'Succeeded');

    if (TERMINAL_STEP.has(prev.phase)) {
      next = prev; // decided before: a late Job event does not reopen it
    } else if (step.sweep && prev.phase === 'Pending' && depsBlocked()) {
      const blocked = depsBlocked()!;
      const message = `dependency ${blocked.name} ${blocked.phase === 'Failed' ? 'failed' : 'did not run'}`;
      next = { ...next, phase: 'Skipped', message, completionTime: metaTime(now) };
      transitions.push({ step: step.name, kind: 'Skipped', attempt: 0, message });
    } else if (step.sweep && (prev.phase !== 'Pending' || depsDone())) {
      // a sweep: the trials' Jobs decide (see sweep.ts)
      const plan = planSweep({
        sweep: step.sweep,
        step: step.name,
        trials: sweeps.trials(step.name),
        seed: sweeps.seed(step.name),
      });
      startTrials.push(...plan.start.map((s) => ({ ...s, step: step.name })));
      stopJobs.push(...plan.stop);
      next = { ...next, sweep: plan.status, startTime: prev.startTime ?? metaTime(now), attempts: 1 };
      delete next.message;
      if (prev.phase === 'Pending') transitions.push({ step: step.name, kind: 'Started', attempt: 1 });
      if (plan.phase === 'Running') {
        next.phase = 'Running';
      } else {
        next = {
          ...next,
          phase: plan.phase,
          completionTime: metaTime(now),
          ...(plan.bestJob ? { job: plan.bestJob } : {}),
          ...(plan.message ? { message: clip(plan.message, 1024) } : {}),
        };
        transitions.push({
          step: step.name,
          kind: plan.phase,
          attempt: 1,
          ...(plan.message ? { message: plan.message } : {}),
        });
      }
    } else if (step.sweep) {
      next = { ...next, phase: 'Pending' };
    } else if (succeeded) {
      next = {
        ...next,
        phase: 'Succeeded',
        job: succeeded.job,
        completionTime: metaTime(succeeded.finishedAt ?? now),
      };
      delete next.message;
      transitions.push({ step: step.name, kind: 'Succeeded', attempt: succeeded.attempt });
    } else if (latest && latest.attempt === attempts && latest.state === 'Active') {
      next = { ...next, phase: 'Running', job: latest.job };
      // a pod that waits (image pull, no GPU free) says so; a healthy one clears the note
      if (latest.message) next.message = clip(latest.message, MESSAGE_MAX);
      else delete next.message;
    } else if (latest && latest.attempt === attempts && latest.state === 'Failed') {
      const why = `attempt ${latest.attempt} failed${latest.message ? `: ${latest.message}` : ''}`;
      if (attempts < maxAttempts(step)) {
        const at = nextAttemptAt(step, latest.attempt, latest.finishedAt ?? now);
        if (at.getTime() <= now.getTime()) {
          begin(attempts + 1);
        } else {
          if (prev.phase !== 'Retrying')
            transitions.push({ step: step.name, kind: 'Retrying', attempt: attempts, message: why });
          next = {
            ...next,
            phase: 'Retrying',
            job: latest.job,
            nextAttemptTime: metaTime(at),
            message: clip(why, MESSAGE_MAX),
          };
          wakeAt = wakeAt && wakeAt < at ? wakeAt : at;
        }
      } else {
        const message = clip(`${why}; no retries left (${maxAttempts(step)} attempts)`, MESSAGE_MAX);
        next = {
          ...next,
          phase: 'Failed',
          job: latest.job,
          completionTime: metaTime(latest.finishedAt ?? now),
          message,
        };
        transitions.push({ step: step.name, kind: 'Failed', attempt: attempts, message });
      }
    } else if (attempts > 0) {
      // recorded as started but its Job is not (yet) seen: create it again (a no-op when it exists)
      start.push({ step: step.name, attempt: attempts });
      next = { ...next, phase: 'Running', job: jobName(step.name, attempts) };
    } else {
      const deps = (step.dependsOn ?? []).map((d) => after.get(d));
      const blocked = deps.find(
        (d) => d && (d.phase === 'Failed' || d.phase === 'Skipped' || d.phase === 'Cancelled'),
      );
      if (blocked) {
        const message = `dependency ${blocked.name} ${blocked.phase === 'Failed' ? 'failed' : 'did not run'}`;
        next = { ...next, phase: 'Skipped', message, completionTime: metaTime(now) };
        transitions.push({ step: step.name, kind: 'Skipped', attempt: 0, message });
      } else if (deps.every((d) => d?.phase === 'Succeeded')) {
        begin(1);
      } else {
        next = { ...next, phase: 'Pending' };
      }
    }
    after.set(step.name, next);
  }

  const list = steps.map((s) => after.get(s.name) as RunStep);
  const succeeded = list.filter((s) => s.phase === 'Succeeded').length;
  const failed = list.filter((s) => s.phase === 'Failed');
  const open = list.some((s) => !TERMINAL_STEP.has(s.phase));
  const nextRun: LearningPipelineRun = { ...run, steps: list, progress: `${succeeded}/${list.length}` };
  if (!open) {
    nextRun.phase = failed.length > 0 ? 'Failed' : 'Succeeded';
    nextRun.completionTime = metaTime(now);
    nextRun.message =
      failed.length > 0
        ? clip(`step ${failed.map((s) => s.name).join(', ')} failed: ${failed[0]?.message ?? ''}`, 1024)
        : `all ${list.length} steps succeeded`;
  } else {
    nextRun.phase = list.some((s) => s.phase !== 'Pending') ? 'Running' : 'Pending';
  }
  return {
    run: nextRun,
    start,
    transitions,
    ...(startTrials.length > 0 ? { startTrials } : {}),
    ...(stopJobs.length > 0 ? { stopJobs } : {}),
    ...(wakeAt ? { wakeAt } : {}),
  };
}

/** Replace policy (or a deleted step): stops a run; its active Jobs are deleted by the caller. */
export function cancelRun(run: LearningPipelineRun, reason: string, now: Date): LearningPipelineRun {
  if (isRunFinished(run)) return run;
  return {
    ...run,
    phase: 'Cancelled',
    completionTime: metaTime(now),
    message: clip(reason, 1024),
    steps: (run.steps ?? []).map((s) =>
      TERMINAL_STEP.has(s.phase)
        ? s
        : { ...s, phase: 'Cancelled' as const, message: clip(reason, MESSAGE_MAX) },
    ),
  };
}

/**
 * A sweep step whose winner could not be published (a permanent error: a
 * limit, a refusal) marked Failed in `run` (the run before this pass), so
 * advancing again decides the rest as for any failed step: dependents are
 * skipped and the run fails once nothing is open. Its sweep status is kept.
 */
export function failStep(
  run: LearningPipelineRun,
  step: string,
  sweep: RunStep['sweep'],
  message: string,
  now: Date,
): LearningPipelineRun {
  const steps = run.steps ?? [];
  const prev = steps.find((s) => s.name === step) ?? { name: step, phase: 'Pending' as const, attempts: 1 };
  const failed: RunStep = {
    ...prev,
    phase: 'Failed',
    attempts: Math.max(1, prev.attempts ?? 0),
    ...(sweep ? { sweep } : {}),
    completionTime: metaTime(now),
    message: clip(message, 1024),
  };
  return {
    ...run,
    steps: steps.some((s) => s.name === step)
      ? steps.map((s) => (s.name === step ? failed : s))
      : [...steps, failed],
  };
}
