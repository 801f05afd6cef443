// Pure: the LearningPipeline's status from its runs. Ready says whether the
// pipeline can run and its latest run did not fail; Running, Succeeded and
// Promoted say where runs and the model are. History is bounded: every
// active run plus historyLimit finished ones, newest first, with step
// messages clipped, so status stays far below etcd's object size limit.
import type { ReconcileFailure } from '../../operator/failure.ts';
import type { Condition, ConditionInput, ReasonMessage } from '../../operator/conditions.ts';
import { Reason, summarize } from '../../operator/conditions.ts';
import type { FieldError } from '../../operator/schema/validation.ts';
import { formatFieldErrors } from '../../operator/schema/validation.ts';
import type { Blocker } from '../shared/skeleton-status.ts';
import { isRunFinished } from './runs.ts';
import type { LearningPipelinePhase, LearningPipelineRun, LearningPipelineStatus } from './schema.ts';

type Extra = Omit<ConditionInput, 'observedGeneration'>;

export interface PipelineObservation {
  generation: number;
  errors: FieldError[];
  /** A child the API server refused (not retryable), as classified by operator/failure.ts. */
  applyError?: ReconcileFailure;
  blockers: Blocker[];
  /** Conditions reported as given (KafkaReady, TriggerReady, Promoted). */
  extra: Extra[];
  runs: LearningPipelineRun[];
  historyLimit: number;
}

export interface PipelineStatusOut extends Omit<LearningPipelineStatus, 'conditions'> {
  observedGeneration: number;
  conditions: Condition[];
}

const byNewest = (a: LearningPipelineRun, b: LearningPipelineRun) =>
  (b.startTime ?? '').localeCompare(a.startTime ?? '') || b.id.localeCompare(a.id);

/** Splits runs into those status keeps (active + historyLimit finished, newest first) and those dropped. */
export function trimHistory(
  runs: readonly LearningPipelineRun[],
  historyLimit: number,
): { kept: LearningPipelineRun[]; dropped: LearningPipelineRun[] } {
  const sorted = [...runs].sort(byNewest);
  const kept: LearningPipelineRun[] = [];
  const dropped: LearningPipelineRun[] = [];
  let finished = 0;
  for (const run of sorted) {
    if (!isRunFinished(run)) kept.push(run);
    else if (finished < historyLimit) {
      finished++;
      kept.push(run);
    } else dropped.push(run);
  }
  return { kept, dropped };
}

function runConditions(runs: readonly LearningPipelineRun[]): { running: Extra; succeeded: Extra } {
  const active = runs.filter((r) => !isRunFinished(r));
  const lastFinished = runs.find(isRunFinished);
  const running: Extra = active[0]
    ? {
        type: 'Running',
        status: 'True',
        reason: 'RunActive',
        message:
          active.length === 1
            ? `run ${active[0].id} is ${active[0].phase.toLowerCase()} (${active[0].progress ?? ''} steps done)`
            : `${active.length} runs are active: ${active.map((r) => r.id).join(', ')}`,
      }
    : { type: 'Running', status: 'False', reason: 'NoRunActive', message: 'no run is active' };
  let succeeded: Extra;
  if (!lastFinished) {
    succeeded = {
      type: 'Succeeded',
      status: 'Unknown',
      reason: 'NoRunFinished',
      message: 'no run has finished yet',
    };
  } else if (lastFinished.phase === 'Succeeded') {
    succeeded = {
      type: 'Succeeded',
      status: 'True',
      reason: Reason.Succeeded,
      message: `run ${lastFinished.id} succeeded`,
    };
  } else {
    succeeded = {
      type: 'Succeeded',
      status: 'False',
      reason: lastFinished.phase === 'Cancelled' ? 'RunCancelled' : 'RunFailed',
      message: `run ${lastFinished.id}: ${lastFinished.message ?? lastFinished.phase}`,
    };
  }
  return { running, succeeded };
}

/** Ready: valid, dependencies in place, and the latest finished run (when none is active) did not fail. */
function readiness(runs: readonly LearningPipelineRun[]): { status: 'True' | 'False' } & ReasonMessage {
  const latest = runs[0];
  if (!latest) return { status: 'True', reason: 'Idle', message: 'waiting for the first run' };
  if (!isRunFinished(latest))
    return {
      status: 'True',
      reason: 'Running',
      message: `run ${latest.id} is ${latest.phase.toLowerCase()}`,
    };
  if (latest.phase === 'Failed')
    return {
      status: 'False',
      reason: 'RunFailed',
      message: `run ${latest.id} failed: ${latest.message ?? ''}`,
    };
  return {
    status: 'True',
    reason: latest.phase === 'Succeeded' ? Reason.Succeeded : 'RunCancelled',
    message: `run ${latest.id} ${latest.phase === 'Succeeded' ? 'succeeded' : 'was cancelled'}`,
  };
}

export function pipelineStatus(
  obs: PipelineObservation,
  fields: Omit<LearningPipelineStatus, 'conditions' | 'observedGeneration' | 'runs' | 'phase' | 'progress'>,
  previous: LearningPipelineStatus | undefined,
  now: Date,
): PipelineStatusOut {
  const { kept } = trimHistory(obs.runs, obs.historyLimit);
  const blocker = obs.blockers[0];
  let verdict: ReasonMessage | undefined;
  if (obs.errors.length > 0) verdict = { reason: Reason.InvalidSpec, message: formatFieldErrors(obs.errors) };
  else if (obs.applyError) verdict = { reason: obs.applyError.reason, message: obs.applyError.message };
  else if (blocker && !blocker.transient) verdict = blocker;
  const reconciling = !verdict && blocker?.transient ? blocker : null;
  const { running, succeeded } = runConditions(kept);
  const ready = verdict
    ? ({ status: 'False', ...verdict } as const)
    : reconciling
      ? ({ status: 'False', reason: reconciling.reason, message: reconciling.message } as const)
      : readiness(kept);
  // A failed latest run is Stalled too: nothing is under way until the next
  // trigger, and kstatus reads Ready=False alone as InProgress, so
  // `kubectl wait`-style waiters would wait out their timeout on a failure.
  const runFailed = ready.status === 'False' && ready.reason === 'RunFailed';
  const conditions = summarize(
    {
      generation: obs.generation,
      ready,
      stalled: verdict ?? (runFailed ? { reason: ready.reason, message: ready.message } : null),
      reconciling,
      extra: [running, succeeded, ...obs.extra],
    },
    previous?.conditions as Condition[] | undefined,
    now,
  );
  const latest = kept[0];
  const phase: LearningPipelinePhase = latest?.phase ?? 'Idle';
  const out: PipelineStatusOut = {
    ...fields,
    observedGeneration: obs.generation,
    phase,
    conditions,
  };
  if (latest?.progress) out.progress = latest.progress;
  if (kept.length > 0) out.runs = kept;
  for (const key of Object.keys(out) as (keyof PipelineStatusOut)[]) {
    if (out[key] === undefined) delete out[key];
  }
  return out;
}
