// Pure: how often a step is attempted and how long it waits between
// attempts (exponential backoff, capped), as Argo Workflows' retryStrategy.
import type { LearningPipelineStep } from './schema.ts';

// the schema defaults (the API server applies them; repeated for objects read before defaulting)
const DEFAULTS = { limit: 0, durationSeconds: 10, factor: 2, maxDurationSeconds: 600 };

/** Attempts a step gets in one run: the first plus retry.limit retries. */
export function maxAttempts(step: Pick<LearningPipelineStep, 'retry'>): number {
  return 1 + (step.retry?.limit ?? DEFAULTS.limit);
}

/**
 * Seconds to wait after failed attempt `failed` (1-based) before the next:
 * durationSeconds × factor^(failed-1), at most maxDurationSeconds.
 */
export function backoffSeconds(step: Pick<LearningPipelineStep, 'retry'>, failed: number): number {
  const b = { ...DEFAULTS, ...step.retry?.backoff };
  const wait = b.durationSeconds * b.factor ** Math.max(0, failed - 1);
  return Math.min(Math.ceil(wait), b.maxDurationSeconds);
}

/** When the attempt after failed attempt `failed`, which finished at `failedAt`, may start. */
export function nextAttemptAt(
  step: Pick<LearningPipelineStep, 'retry'>,
  failed: number,
  failedAt: Date,
): Date {
  return new Date(failedAt.getTime() + backoffSeconds(step, failed) * 1000);
}
