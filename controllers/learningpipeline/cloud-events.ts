// Pure: the CloudEvents of a LearningPipeline's runs and models (type
// io.ymera.learningpipeline.<type>, see operator/kafka/events.ts), built here
// so that their shapes are checked against the published schemas
// (operator/kafka/schemas/events/, operator/kafka/event-schemas.test.ts).
import { EventType } from '../../operator/kafka/events.ts';
import type { PlatformEvent } from '../../operator/kafka/events.ts';
import type { LatestModel } from './promotion.ts';
import type { RunRequest } from './requests.ts';
import type { StepTransition } from './runs.ts';
import type { LearningPipelineRun } from './schema.ts';
import type { SweepStatus } from './sweep.ts';

/** The parts of a PlatformEvent a builder decides (resource and object are the caller's). */
export type PipelineEvent = Pick<PlatformEvent, 'type' | 'discriminator' | 'data'>;

export function runStartedEvent(request: RunRequest): PipelineEvent {
  return {
    type: EventType.RunStarted,
    discriminator: request.id,
    data: { run: request.id, trigger: request.trigger, cause: request.cause },
  };
}

export function stepRetriedEvent(
  run: LearningPipelineRun,
  t: StepTransition,
  nextAttemptTime: string | undefined,
): PipelineEvent {
  return {
    type: EventType.StepRetried,
    discriminator: `${run.id}/${t.step}/${t.attempt}`,
    data: { run: run.id, step: t.step, attempt: t.attempt, message: t.message, nextAttemptTime },
  };
}

export function stepFailedEvent(run: LearningPipelineRun, t: StepTransition): PipelineEvent {
  return {
    type: EventType.StepFailed,
    discriminator: `${run.id}/${t.step}`,
    data: { run: run.id, step: t.step, attempts: t.attempt, message: t.message },
  };
}

/** A sweep step ended: Succeeded with its best trial, or Failed with why; the trial counts either way. */
export function sweepCompletedEvent(
  run: LearningPipelineRun,
  step: string,
  phase: 'Succeeded' | 'Failed',
  sweep: SweepStatus,
  message: string | undefined,
): PipelineEvent {
  const { trials: _trials, best, ...counts } = sweep;
  return {
    type: EventType.SweepCompleted,
    discriminator: `${run.id}/${step}`,
    data: {
      run: run.id,
      step,
      phase,
      ...(message ? { message } : {}),
      ...(best ? { best } : {}),
      counts,
    },
  };
}

export function runFinishedEvent(run: LearningPipelineRun): PipelineEvent {
  return {
    type: EventType.RunFinished,
    discriminator: run.id,
    data: {
      run: run.id,
      phase: run.phase,
      message: run.message,
      startTime: run.startTime,
      completionTime: run.completionTime,
      steps: (run.steps ?? []).map((s) => ({ name: s.name, phase: s.phase, attempts: s.attempts })),
    },
  };
}

export function modelRegisteredEvent(model: LatestModel): PipelineEvent {
  return { type: EventType.ModelRegistered, discriminator: model.version, data: { ...model } };
}

/** The finalizer ran: the pipeline and its consumer group are gone. */
export function deletedEvent(uid: string | undefined): PipelineEvent {
  return { type: EventType.Deleted, discriminator: uid ?? '', data: {} };
}
