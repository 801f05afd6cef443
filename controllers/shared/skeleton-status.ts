// Pure status for a kind whose behaviour is not built yet: it tells the
// truth (the spec was checked; nothing is being run for it) instead of
// claiming Ready. Follows kstatus: Ready summarises, Stalled=True says the
// controller cannot make progress (so Reconciling is absent).
import type { Condition } from '../../operator/conditions.ts';
import { summarize } from '../../operator/conditions.ts';
import type { FieldError } from '../../operator/schema/validation.ts';
import { formatFieldErrors } from '../../operator/schema/validation.ts';

export interface SkeletonObservation {
  generation: number;
  /** What the controller found wrong with the spec (admission cannot judge these). */
  errors: FieldError[];
  /** Says which behaviour of this kind is not implemented yet. */
  notImplemented: string;
  /** A child could not be applied (e.g. forbidden, invalid): message for the user. */
  applyError?: string;
}

export interface SkeletonStatus {
  observedGeneration: number;
  conditions: Condition[];
  [field: string]: unknown;
}

export type Verdict = { reason: 'InvalidSpec' | 'ApplyFailed' | 'NotImplemented'; message: string };

export function skeletonVerdict(obs: SkeletonObservation): Verdict {
  if (obs.errors.length > 0) return { reason: 'InvalidSpec', message: formatFieldErrors(obs.errors) };
  if (obs.applyError) return { reason: 'ApplyFailed', message: obs.applyError };
  return { reason: 'NotImplemented', message: obs.notImplemented };
}

export function skeletonStatus(
  obs: SkeletonObservation,
  previous: SkeletonStatus | undefined,
  now: Date,
): SkeletonStatus {
  const verdict = skeletonVerdict(obs);
  const conditions = summarize(
    { generation: obs.generation, ready: { status: 'False', ...verdict }, stalled: verdict },
    previous?.conditions,
    now,
  );
  return { ...previous, observedGeneration: obs.generation, conditions };
}
