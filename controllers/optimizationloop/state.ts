// Pure: the loop as a state machine over its status. Each reconcile calls
// step(spec, status, observed) and gets the next status, the values the target
// must carry (Apply mode), whether a window must be measured first, a requeue
// hint and the events to emit; nothing here reads a clock or does I/O.
//
// A trial goes Applying (the change is live: every pod runs the values) →
// WarmingUp (initialDelay) → Measuring (evaluationWindow) → Confirming (a
// promising candidate measured once more) → a verdict: Adopted, Rejected,
// Violated or Inconclusive. A baseline trial (purpose Baseline) measures the
// last known good values again, so candidates are compared under today's load
// rather than with a number from hours ago. A Violated verdict rolls back to
// the last known good values in the same step; Rejected and abandoned
// Inconclusive trials return to them too. Inconclusive measurements hold:
// the window is measured again, up to MAX_INCONCLUSIVE times in a row.
import { metaTime, setCondition } from '../../operator/conditions.ts';
import { parseDuration } from '../../operator/schema/validation.ts';
import { maxStepOf, pointOf, propose, spaceOf, valuesAt } from './algorithms.ts';
import type { Observation as Explored } from './algorithms.ts';
import { checkChange, recentChanges } from './safety.ts';
import type { Params } from './safety.ts';
import type {
  Measurement,
  OptimizationLoopSpecDefaulted,
  OptimizationLoopStatus,
  ParamSet,
  Trial,
  TrialRecord,
  Verdict,
} from './schema.ts';
import { checkMeasurement, judge } from './verdict.ts';

/** Judged trials kept in status (schema maxItems); the full history lives outside status. */
export const MAX_TRIALS_IN_STATUS = 20;
/** Inconclusive measurements in a row after which a candidate is abandoned (and its baseline re-measured). */
export const MAX_INCONCLUSIVE = 3;
/** Longest a change may take to become live before the trial counts as failed. */
export const APPLY_TIMEOUT_MS = 10 * 60_000;
/** A baseline measurement older than this many evaluation windows is measured again before the next candidate. */
export const BASELINE_MAX_AGE_WINDOWS = 6;
const POLL_MS = 10_000;

export type Spec = OptimizationLoopSpecDefaulted;
export type Status = Omit<OptimizationLoopStatus, 'observedGeneration'>;

export type Observed = {
  now: Date;
  /** The target's current values of the tuned paths; undefined when the target does not exist. */
  target?: Params;
  /** Every ready pod of the target runs `target` (and no rollout of other values is in flight). */
  live: boolean;
  /** An InferenceService canary rollout is in progress. */
  canary: boolean;
  /** The measurement of the window step asked for (result.measure); absent until measured. */
  measurement?: Measurement;
  /** The resolved seed (spec.seed, else derived from the uid). */
  seed: number;
  /** Every judged trial, oldest first (the history store); default: status.trials. */
  history?: readonly TrialRecord[];
  /** Apply mode: field managers that took a tuned field away from the loop (managedFields). */
  changedBy?: readonly string[];
};

export type LoopEvent = { type: 'Normal' | 'Warning'; reason: string; message: string; trial?: TrialRecord };

export type StepResult = {
  status: Status;
  /** Apply mode: write these values to the target now (with the loop's field manager). */
  apply?: Params;
  /** Query Prometheus over [start, end] and call step again with observed.measurement. */
  measure?: { start: Date; end: Date };
  requeueAfterMs?: number;
  events: LoopEvent[];
};

const ms = (d: string) => parseDuration(d) ?? 0;
const same = (a: Params | undefined, b: Params | undefined, paths: readonly string[]) =>
  !!a && !!b && paths.every((p) => a[p] !== undefined && a[p] === b[p]);
const pick = (values: Params, paths: readonly string[]): Record<string, number> =>
  Object.fromEntries(paths.map((p) => [p, values[p]!]));
const show = (values: Params) =>
  Object.entries(values)
    .map(([k, v]) => `${k.replace(/^spec\./, '')}=${v}`)
    .join(', ');

type Condition = { status: 'True' | 'False'; reason: string; message: string };
type Ctx = {
  spec: Spec;
  obs: Observed;
  paths: string[];
  status: Status;
  events: LoopEvent[];
  requeue?: number;
  /** A trial was judged in this step: its rollback is applied before the next candidate starts. */
  finished?: boolean;
  conditions: Partial<Record<'Converged' | 'ConstraintViolated' | 'Holding' | 'Stopped', Condition>>;
};

function hold(ctx: Ctx, reason: string, message: string, retryMs = POLL_MS): void {
  ctx.conditions.Holding = { status: 'True', reason, message };
  requeueIn(ctx, retryMs);
}
function requeueIn(ctx: Ctx, delay: number): void {
  const d = Math.max(1000, Math.ceil(delay));
  ctx.requeue = ctx.requeue === undefined ? d : Math.min(ctx.requeue, d);
}

/** The values the loop wants on the target now (Apply mode), or undefined when it must not write. */
export function expectedValues(spec: Spec, status: Status): Params | undefined {
  const stopped = status.conditions?.find((c) => c.type === 'Stopped' && c.status === 'True');
  if (stopped?.reason === 'ChangedExternally') return undefined;
  if (stopped?.reason === 'Suspended') return spec.onStop === 'Restore' ? status.baseline?.params : undefined;
  return status.trial?.params ?? status.lastKnownGood?.params;
}

/** What to write on delete (finalizer): the baseline unless onStop is Keep or the loop never wrote. */
export function valuesOnDelete(spec: Spec, status: Status): Params | undefined {
  if (spec.mode !== 'Apply' || spec.onStop === 'Keep' || !status.applied) return undefined;
  // someone else owns the fields now: the loop does not write again
  const stopped = status.conditions?.find((c) => c.type === 'Stopped' && c.status === 'True');
  if (stopped?.reason === 'ChangedExternally') return undefined;
  return status.baseline?.params;
}

/** The explored points for the algorithm: the last known good measurement and every judged trial. */
export function explored(spec: Spec, status: Status, history: readonly TrialRecord[]): Explored[] {
  const space = spaceOf(spec.parameters);
  const sign = spec.objective.goal === 'Maximize' ? 1 : -1;
  const at = (params: Params) =>
    pointOf(
      space,
      spec.parameters.map((p) => params[p.path] ?? Number.NaN),
    );
  const out: Explored[] = [];
  for (const r of history) {
    const objective = r.measurement?.objective;
    out.push({
      point: at(r.params),
      ...(objective !== undefined && Number.isFinite(objective) && r.verdict !== 'Inconclusive'
        ? { score: sign * objective }
        : {}),
      feasible: r.verdict !== 'Violated',
    });
  }
  const lkg = status.lastKnownGood;
  if (lkg?.measurement?.objective !== undefined) {
    out.push({ point: at(lkg.params), score: sign * lkg.measurement.objective, feasible: true });
  } else if (lkg) out.push({ point: at(lkg.params), feasible: true });
  return out;
}

function finish(
  ctx: Ctx,
  trial: Trial,
  verdict: Verdict,
  reason: string,
  m: Measurement | undefined,
): TrialRecord {
  const { status, obs } = ctx;
  const record: TrialRecord = {
    id: trial.id,
    params: trial.params,
    ...(m ? { measurement: m } : {}),
    verdict,
    reason,
    startTime: trial.startTime,
    completionTime: metaTime(obs.now),
  };
  status.trials = [record, ...(status.trials ?? []).filter((t) => t.id !== record.id)].slice(
    0,
    MAX_TRIALS_IN_STATUS,
  );
  status.trialsCompleted = (status.trialsCompleted ?? 0) + 1;
  delete status.trial;
  ctx.finished = true;
  ctx.events.push({
    type: verdict === 'Violated' ? 'Warning' : 'Normal',
    reason: `Trial${verdict}`,
    message: `trial ${trial.id} (${show(trial.params)}): ${verdict}: ${reason}`,
    trial: record,
  });
  return record;
}

/** Ends the candidate and returns to the last known good values (applied by the same step in Apply mode). */
function backToLastKnownGood(ctx: Ctx, why: string): void {
  const { status, spec } = ctx;
  if (spec.mode === 'Recommend' && status.lastKnownGood) {
    status.recommendation = {
      params: status.lastKnownGood.params,
      reason: `return to the last known good values: ${why}`,
    };
  }
}

function startTrial(ctx: Ctx, trial: Omit<Trial, 'phaseTime' | 'startTime'>): void {
  const now = metaTime(ctx.obs.now);
  ctx.status.trial = { ...trial, phaseTime: now, startTime: now };
}

function stepTrial(ctx: Ctx): { measure?: { start: Date; end: Date } } {
  const { spec, obs, status, paths } = ctx;
  const trial = status.trial!;
  const now = obs.now.getTime();
  const since = now - Date.parse(trial.phaseTime);
  const target = obs.target!;

  if (spec.mode === 'Recommend' && !same(target, trial.params, paths)) {
    const lkg = status.lastKnownGood!.params;
    if (trial.phase !== 'Applying' || !same(target, lkg, paths)) {
      // Someone applied other values than the ones under trial: this trial measures nothing; start over
      // (next reconcile, from what is live then).
      delete status.trial;
      ctx.finished = true;
      ctx.events.push({
        type: 'Normal',
        reason: 'TrialAbandoned',
        message: `trial ${trial.id}: the target now holds ${show(pick(target, paths))}, not the values under trial`,
      });
      requeueIn(ctx, POLL_MS);
      return {};
    }
  }

  if (trial.phase === 'Applying') {
    if (same(target, trial.params, paths) && obs.live) {
      trial.phase = 'WarmingUp';
      trial.phaseTime = metaTime(obs.now);
    } else if (now - Date.parse(trial.startTime) > APPLY_TIMEOUT_MS && spec.mode === 'Apply') {
      if (trial.purpose === 'Baseline') {
        hold(
          ctx,
          'NotLive',
          `the last known good values (${show(trial.params)}) are not live after ${APPLY_TIMEOUT_MS / 60_000}m`,
        );
        return {};
      }
      const record = finish(
        ctx,
        trial,
        'Violated',
        `not live after ${APPLY_TIMEOUT_MS / 60_000}m (pods not ready with the new values)`,
        undefined,
      );
      failed(ctx, record);
      return {};
    } else {
      requeueIn(ctx, POLL_MS);
      return {};
    }
  }

  // A canary rollout disturbs whatever is measured: start the phase over once it is done.
  if (obs.canary) {
    trial.phaseTime = metaTime(obs.now);
    hold(
      ctx,
      'CanaryInProgress',
      'an InferenceService canary is rolling out; the measurement starts over after it',
    );
    return {};
  }

  if (trial.phase === 'WarmingUp') {
    const left = ms(spec.initialDelay) - since;
    if (left > 0) {
      requeueIn(ctx, left);
      return {};
    }
    trial.phase = 'Measuring';
    trial.phaseTime = metaTime(obs.now);
    requeueIn(ctx, ms(spec.evaluationWindow));
    return {};
  }

  // Measuring or Confirming
  const windowMs = ms(spec.evaluationWindow);
  if (since < windowMs) {
    requeueIn(ctx, windowMs - since);
    return {};
  }
  const start = new Date(Date.parse(trial.phaseTime));
  const end = new Date(start.getTime() + windowMs);
  if (!obs.measurement) return { measure: { start, end } };
  const m: Measurement = { ...obs.measurement, time: metaTime(end) };

  if (trial.purpose === 'Baseline') {
    const problem = checkMeasurement(spec, m);
    if (problem?.kind === 'Violated') {
      ctx.conditions.ConstraintViolated = {
        status: 'True',
        reason: 'BaselineViolated',
        message: `the last known good values break a constraint: ${problem.reason}; no candidate is tried until they hold`,
      };
      restartPhase(ctx, trial, 'BaselineViolated', problem.reason, false);
      return {};
    }
    if (problem) {
      restartPhase(ctx, trial, 'Inconclusive', `baseline: ${problem.reason}`, false);
      return {};
    }
    status.lastKnownGood = { ...status.lastKnownGood!, objective: m.objective!, measurement: m };
    if (
      status.baseline &&
      same(status.baseline.params, trial.params, paths) &&
      !status.baseline.measurement
    ) {
      status.baseline = { ...status.baseline, objective: m.objective!, measurement: m };
    }
    delete status.trial;
    ctx.events.push({
      type: 'Normal',
      reason: 'BaselineMeasured',
      message: `baseline ${show(trial.params)}: objective ${m.objective}`,
    });
    return {};
  }

  const reference = status.lastKnownGood?.measurement;
  const j = reference
    ? judge(spec, m, reference)
    : { kind: 'Inconclusive' as const, reason: 'no baseline measurement' };
  switch (j.kind) {
    case 'Violated': {
      const record = finish(ctx, trial, 'Violated', j.reason, m);
      ctx.conditions.ConstraintViolated = {
        status: 'True',
        reason: 'TrialViolated',
        message: `trial ${record.id} broke a constraint (${j.reason}); rolled back to ${show(status.lastKnownGood!.params)}`,
      };
      failed(ctx, record);
      return {};
    }
    case 'Inconclusive': {
      const count = (trial.inconclusive ?? 0) + 1;
      if (count < MAX_INCONCLUSIVE) {
        restartPhase(ctx, trial, 'Inconclusive', j.reason, true);
        return {};
      }
      finish(ctx, trial, 'Inconclusive', `${j.reason} (${count} windows in a row)`, m);
      // Measured again under the load of now before the next candidate.
      if (status.lastKnownGood) delete status.lastKnownGood.measurement;
      backToLastKnownGood(ctx, 'the candidate could not be judged');
      return {};
    }
    case 'Rejected':
      if (trial.phase === 'Confirming') {
        finish(ctx, trial, 'Rejected', `not confirmed: ${j.reason}`, m);
      } else finish(ctx, trial, 'Rejected', j.reason, m);
      ctx.conditions.ConstraintViolated = {
        status: 'False',
        reason: 'ConstraintsHold',
        message: 'the last trial met every constraint',
      };
      backToLastKnownGood(ctx, 'the candidate was not better');
      return {};
    case 'Promising':
      if (trial.phase === 'Measuring') {
        trial.phase = 'Confirming';
        trial.phaseTime = metaTime(obs.now);
        trial.first = m;
        trial.inconclusive = 0;
        requeueIn(ctx, windowMs);
        return {};
      }
      {
        const record = finish(ctx, trial, 'Adopted', `${j.reason}, confirmed by a second window`, m);
        const adopted: ParamSet = {
          params: trial.params,
          objective: m.objective!,
          trial: record.id,
          measurement: m,
        };
        status.lastKnownGood = adopted;
        status.best = adopted;
        status.recommendation = { params: trial.params, reason: `adopted trial ${record.id}: ${j.reason}` };
        ctx.conditions.ConstraintViolated = {
          status: 'False',
          reason: 'ConstraintsHold',
          message: 'the last trial met every constraint',
        };
      }
      return {};
  }
}

function restartPhase(ctx: Ctx, trial: Trial, reason: string, message: string, count: boolean): void {
  trial.phaseTime = metaTime(ctx.obs.now);
  if (count) trial.inconclusive = (trial.inconclusive ?? 0) + 1;
  hold(ctx, reason, `${message}; measuring again`, ms(ctx.spec.evaluationWindow));
}

function failed(ctx: Ctx, record: TrialRecord): void {
  const { status, spec } = ctx;
  status.failedTrials = (status.failedTrials ?? 0) + 1;
  backToLastKnownGood(ctx, `trial ${record.id} broke a constraint`);
  if (status.failedTrials >= spec.maxFailedTrials) {
    ctx.conditions.Stopped = {
      status: 'True',
      reason: 'MaxFailedTrials',
      message: `${status.failedTrials} trials failed (maxFailedTrials ${spec.maxFailedTrials}); the target keeps the last known good values ${show(status.lastKnownGood!.params)}`,
    };
  }
}

/** The next candidate through the safety validator; starts it, or holds, or converges. */
function next(ctx: Ctx): void {
  const { spec, obs, status, paths } = ctx;
  const lkg = status.lastKnownGood!;
  if ((status.trialsCompleted ?? 0) >= spec.maxTrials) {
    ctx.conditions.Converged = {
      status: 'True',
      reason: 'MaxTrials',
      message: `${status.trialsCompleted} trials done (maxTrials); best ${show(lkg.params)}`,
    };
    return;
  }
  const space = spaceOf(spec.parameters);
  const id = (status.trialsCompleted ?? 0) + 1;
  const proposal = propose({
    algorithm: spec.algorithm,
    space,
    history: explored(spec, status, obs.history ?? [...(status.trials ?? [])].reverse()),
    incumbent: pointOf(
      space,
      spec.parameters.map((p) => lkg.params[p.path] ?? Number.NaN),
    ),
    maxStep: maxStepOf(space, spec.safety?.maxStepPercent ?? 25),
    seed: obs.seed,
    trial: id,
  });
  if (!proposal) {
    ctx.conditions.Converged = {
      status: 'True',
      reason: 'NoCandidateLeft',
      message: `${spec.algorithm} has no untried candidate within maxStepPercent of the best values ${show(lkg.params)}`,
    };
    return;
  }
  const values = pick(
    Object.fromEntries(spec.parameters.map((p, d) => [p.path, valuesAt(space, proposal.point)[d]!])),
    paths,
  );
  const refusal = checkChange(spec, {
    from: lkg.params,
    to: values,
    now: obs.now,
    changes: status.changes ?? [],
    canary: obs.canary,
  });
  if (refusal) {
    hold(
      ctx,
      refusal.reason,
      refusal.message,
      refusal.retryAt ? refusal.retryAt.getTime() - obs.now.getTime() : 60_000,
    );
    return;
  }
  startTrial(ctx, { id, purpose: 'Candidate', phase: 'Applying', params: values, reason: proposal.reason });
  if (spec.mode === 'Recommend')
    status.recommendation = { params: values, reason: `trial ${id}: ${proposal.reason}` };
  ctx.events.push({
    type: 'Normal',
    reason: 'TrialStarted',
    message: `trial ${id}: ${show(values)} (${proposal.reason})`,
  });
  requeueIn(ctx, POLL_MS);
}

function baselineStale(spec: Spec, lkg: ParamSet, now: Date): boolean {
  const time = lkg.measurement?.time;
  if (!time || lkg.measurement?.objective === undefined) return true;
  return now.getTime() - Date.parse(time) > BASELINE_MAX_AGE_WINDOWS * ms(spec.evaluationWindow);
}

/** One reconcile of the loop. */
export function step(spec: Spec, previous: Status, obs: Observed): StepResult {
  const status: Status = structuredClone(previous);
  status.changes = recentChanges(status.changes ?? [], obs.now);
  const paths = spec.parameters.map((p) => p.path);
  const ctx: Ctx = { spec, obs, paths, status, events: [], conditions: {} };
  let measure: StepResult['measure'];
  const stopped = status.conditions?.find((c) => c.type === 'Stopped' && c.status === 'True');

  if (spec.suspend) {
    delete status.trial;
    ctx.conditions.Stopped = {
      status: 'True',
      reason: 'Suspended',
      message:
        spec.onStop === 'Restore' && spec.mode === 'Apply' && status.baseline
          ? `suspended; the baseline ${show(status.baseline.params)} is restored`
          : 'suspended; the target keeps its values',
    };
  } else if (stopped && stopped.reason !== 'Suspended') {
    // MaxFailedTrials and ChangedExternally are final for this generation.
  } else if (!obs.target) {
    hold(ctx, 'TargetNotFound', `${spec.target.kind} ${spec.target.name} not found`, 30_000);
  } else if (paths.some((p) => obs.target![p] === undefined)) {
    const missing = paths.filter((p) => obs.target![p] === undefined);
    hold(
      ctx,
      'NoCurrentValue',
      `${spec.target.kind} ${spec.target.name} has no value at ${missing.join(', ')}; set it explicitly`,
      60_000,
    );
  } else if (
    spec.mode === 'Apply' &&
    status.applied &&
    (!same(obs.target, status.applied.params, paths) || (obs.changedBy?.length ?? 0) > 0) &&
    !(stopped?.reason === 'Suspended' && spec.onStop === 'Keep')
  ) {
    delete status.trial;
    ctx.conditions.Stopped = {
      status: 'True',
      reason: 'ChangedExternally',
      message: `someone else${obs.changedBy?.length ? ` (${obs.changedBy.join(', ')})` : ''} changed ${spec.target.kind} ${spec.target.name} to ${show(pick(obs.target, paths))} (the loop wrote ${show(status.applied.params)}); the loop stops instead of fighting (exclude these fields from other managers, e.g. Argo CD ignoreDifferences, then edit the loop to restart)`,
    };
    ctx.events.push({
      type: 'Warning',
      reason: 'ChangedExternally',
      message: ctx.conditions.Stopped.message,
    });
  } else {
    if (stopped?.reason === 'Suspended') {
      ctx.conditions.Stopped = { status: 'False', reason: 'Running', message: 'resumed' };
      if (status.lastKnownGood) delete status.lastKnownGood.measurement;
    }
    if (!status.baseline) {
      const params = pick(obs.target, paths);
      status.baseline = { params, trial: 0 };
      status.lastKnownGood = { params, trial: 0 };
      ctx.events.push({ type: 'Normal', reason: 'BaselineFound', message: `baseline ${show(params)}` });
    }
    if (
      spec.mode === 'Recommend' &&
      !status.trial &&
      !same(obs.target, status.lastKnownGood!.params, paths)
    ) {
      // Someone applied other values (e.g. the recommendation, through Git): measure what is live.
      const values = pick(obs.target, paths);
      const lastJudged = status.trials?.[0];
      if (!status.lastKnownGood?.measurement && !status.trialsCompleted) {
        // Nothing measured yet: there is nothing to compare with, so the new values are the baseline.
        status.baseline = { params: values, trial: 0 };
        status.lastKnownGood = { params: values, trial: 0 };
        ctx.events.push({ type: 'Normal', reason: 'BaselineFound', message: `baseline ${show(values)}` });
      } else if (lastJudged && lastJudged.verdict !== 'Adopted' && same(values, lastJudged.params, paths)) {
        hold(
          ctx,
          'AwaitingRevert',
          `trial ${lastJudged.id} was ${lastJudged.verdict}; apply the recommendation ${show(status.lastKnownGood!.params)}`,
          60_000,
        );
      } else {
        const id = (status.trialsCompleted ?? 0) + 1;
        startTrial(ctx, {
          id,
          purpose: 'Candidate',
          phase: 'Applying',
          params: values,
          reason: 'values applied by someone else',
        });
      }
    }
    if (!ctx.conditions.Holding) {
      if (status.trial) measure = stepTrial(ctx).measure;
      if (
        !status.trial &&
        !measure &&
        !ctx.finished &&
        !ctx.conditions.Holding &&
        !ctx.conditions.Converged &&
        !ctx.conditions.Stopped?.status.startsWith('T') &&
        !status.conditions?.some((c) => c.type === 'Converged' && c.status === 'True')
      ) {
        if (baselineStale(spec, status.lastKnownGood!, obs.now)) {
          startTrial(ctx, {
            id: 0,
            purpose: 'Baseline',
            phase: 'Applying',
            params: status.lastKnownGood!.params,
          });
          requeueIn(ctx, POLL_MS);
        } else next(ctx);
      }
    }
  }

  // Apply mode: write what the loop wants when it differs from what it wrote last.
  let apply: Params | undefined;
  if (spec.mode === 'Apply') {
    const want = expectedValues(spec, { ...status, conditions: mergedConditions(status, ctx) });
    if (
      want &&
      !same(status.applied?.params, want, paths) &&
      !(obs.target && same(obs.target, want, paths) && !status.applied)
    ) {
      apply = want;
      status.applied = { params: { ...want }, time: metaTime(obs.now) };
      status.changes = [...status.changes, metaTime(obs.now)];
    }
  }
  if (status.changes.length === 0) delete status.changes;

  status.conditions = mergedConditions(status, ctx);
  if (!ctx.conditions.Holding && !measure) {
    status.conditions = setCondition(
      status.conditions,
      { type: 'Holding', status: 'False', reason: 'NotHolding', message: 'nothing holds the loop' },
      obs.now,
    );
  }
  status.phase = phaseOf(status);
  const running = status.phase === 'Running' || status.phase === 'Pending';
  if (running && ctx.requeue === undefined && !measure) requeueIn(ctx, 60_000);
  return {
    status,
    ...(apply ? { apply } : {}),
    ...(measure ? { measure } : {}),
    ...(ctx.requeue !== undefined && running ? { requeueAfterMs: ctx.requeue } : {}),
    events: ctx.events,
  };
}

function mergedConditions(status: Status, ctx: Ctx): NonNullable<Status['conditions']> {
  let list = status.conditions ?? [];
  for (const [type, c] of Object.entries(ctx.conditions)) {
    if (c) list = setCondition(list, { type, ...c }, ctx.obs.now);
  }
  return list;
}

function phaseOf(status: Status): NonNullable<Status['phase']> {
  const is = (type: string) => status.conditions?.some((c) => c.type === type && c.status === 'True');
  if (is('Stopped')) return 'Stopped';
  if (is('Converged')) return 'Converged';
  return status.lastKnownGood?.measurement || status.trialsCompleted ? 'Running' : 'Pending';
}
