// Pure: the safety validator. Before a trial changes the target, an ordered
// chain of checks (cert-manager's policy chain: each check alone, the first
// refusal becomes the Holding condition's reason and message) decides whether
// it may: the values are allowed (bounds and grid), no parameter moves more
// than maxStepPercent, no InferenceService canary is running, a window is
// open, the change budget has room. Rollbacks and restores of known values
// are never held back (safety first), but they count against the budget.
import { Cron } from 'croner';
import { parseDuration } from '../../operator/schema/validation.ts';
import { maxStepOf, pointOf, spaceOf } from './algorithms.ts';
import type { OptimizationLoopSpec } from './schema.ts';

export type Params = Readonly<Record<string, number>>;

export type ChangeRequest = {
  /** The values now (the last known good ones). */
  from: Params;
  /** The values the trial wants. */
  to: Params;
  now: Date;
  /** Times of the changes made within the last hour (status.changes). */
  changes: readonly string[];
  /** An InferenceService canary rollout is in progress. */
  canary: boolean;
};

export type Refusal = { reason: string; message: string; retryAt?: Date };

type Spec = Pick<OptimizationLoopSpec, 'parameters' | 'safety'>;
export type Policy = (spec: Spec, req: ChangeRequest) => Refusal | undefined;

const HOUR = 3_600_000;

export const withinBounds: Policy = (spec, req) => {
  for (const p of spec.parameters) {
    const v = req.to[p.path];
    if (v === undefined || !Number.isFinite(v)) {
      return { reason: 'OutOfBounds', message: `${p.path} has no value in the proposed change` };
    }
    const allowed = p.values
      ? p.values.includes(v)
      : v >= p.min! - 1e-9 &&
        v <= p.max! + 1e-9 &&
        Math.abs((v - p.min!) / p.step! - Math.round((v - p.min!) / p.step!)) < 1e-6;
    if (!allowed) {
      const what = p.values ? `one of ${p.values.join(', ')}` : `min ${p.min}, max ${p.max}, step ${p.step}`;
      return { reason: 'OutOfBounds', message: `${p.path}=${v} is outside the allowed values (${what})` };
    }
  }
  return undefined;
};

export const withinStep: Policy = (spec, req) => {
  const percent = spec.safety?.maxStepPercent ?? 25;
  const space = spaceOf(spec.parameters);
  const maxStep = maxStepOf(space, percent);
  const from = pointOf(
    space,
    spec.parameters.map((p) => req.from[p.path] ?? Number.NaN),
  );
  const to = pointOf(
    space,
    spec.parameters.map((p) => req.to[p.path]!),
  );
  for (const [d, p] of spec.parameters.entries()) {
    if (req.from[p.path] === undefined) continue; // nothing to step from: bounds alone apply
    if (Math.abs(to[d]! - from[d]!) > maxStep[d]!) {
      return {
        reason: 'StepTooLarge',
        message: `${p.path} would move from ${req.from[p.path]} to ${req.to[p.path]}, more than maxStepPercent (${percent}%) of its range`,
      };
    }
  }
  return undefined;
};

export const notDuringCanary: Policy = (_spec, req) =>
  req.canary
    ? {
        reason: 'CanaryInProgress',
        message: 'the InferenceService is rolling out a canary; no trial until it is done',
      }
    : undefined;

/** Whether one of the windows is open at `now`, and when the next one opens if none is. */
export function windowsState(
  windows: NonNullable<NonNullable<OptimizationLoopSpec['safety']>['windows']>,
  now: Date,
): { open: boolean; next?: Date } {
  let next: Date | undefined;
  for (const w of windows) {
    const cron = new Cron(w.schedule, { paused: true, timezone: w.timeZone });
    try {
      // previousRuns is strictly before its date: +1 ms includes a start at exactly now
      const start = cron.previousRuns(1, new Date(now.getTime() + 1))[0];
      const length = parseDuration(w.duration) ?? 0;
      if (start && start.getTime() + length > now.getTime()) return { open: true };
      const n = cron.nextRun(now);
      if (n && (!next || n < next)) next = n;
    } finally {
      cron.stop();
    }
  }
  return next ? { open: false, next } : { open: false };
}

export const withinWindow: Policy = (spec, req) => {
  const windows = spec.safety?.windows;
  if (!windows || windows.length === 0) return undefined;
  const state = windowsState(windows, req.now);
  if (state.open) return undefined;
  return {
    reason: 'OutsideWindow',
    message: state.next
      ? `no window is open; the next opens at ${state.next.toISOString()}`
      : 'no window is open and none will open',
    ...(state.next ? { retryAt: state.next } : {}),
  };
};

/** The change times within the hour before `now`, oldest first (what status.changes keeps). */
export function recentChanges(changes: readonly string[], now: Date): string[] {
  return changes
    .filter((t) => {
      const ms = Date.parse(t);
      return Number.isFinite(ms) && ms > now.getTime() - HOUR && ms <= now.getTime();
    })
    .sort();
}

export const withinBudget: Policy = (spec, req) => {
  const budget = spec.safety?.maxChangesPerHour ?? 4;
  const recent = recentChanges(req.changes, req.now);
  if (recent.length < budget) return undefined;
  const retryAt = new Date(Date.parse(recent[recent.length - budget]!) + HOUR);
  return {
    reason: 'ChangeBudgetExhausted',
    message: `${recent.length} changes in the last hour, the budget is ${budget} (maxChangesPerHour); next change at ${retryAt.toISOString()}`,
    retryAt,
  };
};

/** The chain, in order: what is wrong with the change itself first, then when it may happen. */
export const POLICIES: readonly Policy[] = [
  withinBounds,
  withinStep,
  notDuringCanary,
  withinWindow,
  withinBudget,
];

/** The first refusal of the chain, or undefined when the trial may change the target now. */
export function checkChange(
  spec: Spec,
  req: ChangeRequest,
  policies: readonly Policy[] = POLICIES,
): Refusal | undefined {
  for (const policy of policies) {
    const refusal = policy(spec, req);
    if (refusal) return refusal;
  }
  return undefined;
}
