// Pure status for a kind whose behaviour is not built yet: it tells the
// truth (the spec was checked; nothing is being run for it) instead of
// claiming Ready. Follows kstatus: Ready summarises; Stalled=True says the
// controller cannot make progress without a change (so Reconciling is
// absent); a transient blocker (an unreachable dependency) shows as
// Reconciling=True instead, because it heals by itself.
import type { ReconcileFailure } from '../../operator/failure.ts';
import type { Condition, ConditionInput } from '../../operator/conditions.ts';
import { summarize } from '../../operator/conditions.ts';
import type { FieldError } from '../../operator/schema/validation.ts';
import { formatFieldErrors } from '../../operator/schema/validation.ts';

/** Something outside the spec that keeps the object from being Ready. */
export interface Blocker {
  reason: string;
  message: string;
  /** True when it heals by itself (e.g. KafkaUnavailable); false when a user must act (e.g. ResourceConflict). */
  transient: boolean;
}

export interface SkeletonObservation {
  generation: number;
  /** What the controller found wrong with the spec (admission cannot judge these). */
  errors: FieldError[];
  /** Says which behaviour of this kind is not implemented yet. */
  notImplemented: string;
  /** A child could not be applied (e.g. forbidden, invalid): message for the user. */
  applyError?: ReconcileFailure;
  /** Dependency problems, most important first. */
  blockers?: Blocker[];
  /** Kind-specific conditions (e.g. KafkaReady), reported as given. */
  extra?: Omit<ConditionInput, 'observedGeneration'>[];
}

export interface SkeletonStatus {
  observedGeneration: number;
  conditions: Condition[];
  [field: string]: unknown;
}

export type Verdict = Blocker;

/** The one reason Ready gives: spec errors first, then rejected children, then dependencies. */
export function skeletonVerdict(obs: SkeletonObservation): Verdict {
  if (obs.errors.length > 0)
    return { reason: 'InvalidSpec', message: formatFieldErrors(obs.errors), transient: false };
  if (obs.applyError) return obs.applyError;
  const blocker = obs.blockers?.[0];
  if (blocker) return blocker;
  return { reason: 'NotImplemented', message: obs.notImplemented, transient: false };
}

export function skeletonStatus(
  obs: SkeletonObservation,
  previous: SkeletonStatus | undefined,
  now: Date,
): SkeletonStatus {
  const { reason, message, transient } = skeletonVerdict(obs);
  const verdict = { reason, message };
  const conditions = summarize(
    {
      generation: obs.generation,
      ready: { status: 'False', ...verdict },
      stalled: transient ? null : verdict,
      reconciling: transient ? verdict : null,
      extra: obs.extra,
    },
    previous?.conditions,
    now,
  );
  return { ...previous, observedGeneration: obs.generation, conditions };
}
