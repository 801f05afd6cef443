// Pure: the status the controller writes. The loop's own state and its
// conditions (Converged, ConstraintViolated, Holding, Stopped) come from
// state.ts; this adds Ready/Reconciling/Stalled (kstatus) and
// observedGeneration. A failure class outranks the loop: an invalid spec or a
// missing Prometheus stalls, an unreachable one is Reconciling.
import type { Condition } from '../../operator/conditions.ts';
import { summarize } from '../../operator/conditions.ts';
import type { OptimizationLoopStatus } from './schema.ts';
import type { Status } from './state.ts';

type Previous = Status & { observedGeneration?: number };

export type Failure = { reason: string; message: string; transient: boolean };

/** The conditions state.ts owns. */
const LOOP_TYPES = ['Converged', 'ConstraintViolated', 'Holding', 'Stopped'];

/** Stop reasons that need a user's change (edit the loop, fix the target) rather than time. */
const STALLING_STOPS = new Set(['MaxFailedTrials', 'ChangedExternally']);

function ready(
  loop: Status,
  mode: 'Recommend' | 'Apply',
): { status: 'True' | 'False'; reason: string; message: string } {
  const is = (type: string) => loop.conditions?.find((c) => c.type === type && c.status === 'True');
  const stopped = is('Stopped');
  // suspended is the state the spec asks for: Ready, like the other kinds'
  // suspend (Ready=False alone reads InProgress in kstatus, forever)
  if (stopped?.reason === 'Suspended')
    return { status: 'True', reason: stopped.reason, message: stopped.message };
  if (stopped) return { status: 'False', reason: stopped.reason, message: stopped.message };
  const converged = is('Converged');
  if (converged) return { status: 'True', reason: 'Converged', message: converged.message };
  const holding = is('Holding');
  if (holding?.reason === 'TargetNotFound')
    return { status: 'False', reason: holding.reason, message: holding.message };
  const trial = loop.trial;
  const doing = trial
    ? trial.purpose === 'Baseline'
      ? `measuring the baseline (${trial.phase})`
      : `trial ${trial.id} ${trial.phase}`
    : 'between trials';
  return {
    status: 'True',
    reason: mode === 'Recommend' ? 'Recommending' : 'Tuning',
    message: `${doing}${holding ? `; holding: ${holding.message}` : ''}`,
  };
}

export function loopStatus(
  input: { generation: number; mode: 'Recommend' | 'Apply'; loop: Status; failure?: Failure },
  now: Date,
): OptimizationLoopStatus {
  const { generation, loop, failure } = input;
  const kindConditions = (loop.conditions ?? []).filter((c) => LOOP_TYPES.includes(c.type));
  const stop = kindConditions.find((c) => c.type === 'Stopped' && c.status === 'True');
  const stalled =
    failure && !failure.transient ? failure : stop && STALLING_STOPS.has(stop.reason) ? stop : null;
  const reconciling = failure?.transient ? failure : null;
  const conditions: Condition[] = summarize(
    {
      generation,
      ...(failure ? {} : { ready: ready(loop, input.mode) }),
      stalled: stalled ? { reason: stalled.reason, message: stalled.message } : null,
      reconciling: reconciling ? { reason: reconciling.reason, message: reconciling.message } : null,
      extra: kindConditions.map(({ type, status, reason, message }) => ({ type, status, reason, message })),
    },
    loop.conditions,
    now,
  );
  return { ...loop, observedGeneration: generation, conditions };
}

/**
 * The loop state a new generation starts from: all of it while the tuned
 * paths are the same (a changed bound or query keeps the baseline and the
 * history), nothing when the paths changed (the baseline no longer
 * describes them). A stop that needs a user's change (MaxFailedTrials,
 * ChangedExternally) and Converged end with the generation that reached
 * them: editing the loop restarts it.
 */
export function carriedOver(previous: Previous, paths: readonly string[], generation: number): Status {
  if ((previous.observedGeneration ?? generation) === generation) return previous;
  const before = Object.keys(previous.baseline?.params ?? {}).sort();
  const now = [...paths].sort();
  if (before.length > 0 && before.join('\n') !== now.join('\n')) {
    return previous.conditions
      ? { conditions: previous.conditions.filter((c) => !LOOP_TYPES.includes(c.type)) }
      : {};
  }
  const conditions = (previous.conditions ?? []).filter(
    (c) => !(c.type === 'Converged' || (c.type === 'Stopped' && STALLING_STOPS.has(c.reason))),
  );
  const failedStop = previous.conditions?.some(
    (c) => c.type === 'Stopped' && c.status === 'True' && c.reason === 'MaxFailedTrials',
  );
  return { ...previous, conditions, ...(failedStop ? { failedTrials: 0 } : {}) };
}
