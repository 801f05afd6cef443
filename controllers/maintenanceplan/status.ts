// Pure: which nodes a plan covers, how one evaluation's predictions update
// each node's run of consecutive high-risk evaluations, and the status
// (bounded predictions, counts, conditions) that results. The controller
// does the I/O (nodes, Prometheus, the model) and passes plain data in.
import type { Condition, ReasonMessage } from '../../operator/conditions.ts';
import { metaTime, summarize } from '../../operator/conditions.ts';
import type { MassFlag, NodePrediction } from './predict.ts';
import { massFlagCheck } from './predict.ts';
import type { Failure, Flag } from './shadow.ts';
import { scoreShadow } from './shadow.ts';
import type { MaintenancePlanSpec, MaintenancePlanStatus } from './schema.ts';

/** Predictions kept in status (schema maxItems). */
export const MAX_PREDICTIONS = 20;
/** Node names listed in a condition message before "and N more". */
const MAX_NAMED = 5;

export const CONTROL_PLANE_LABELS = [
  'node-role.kubernetes.io/control-plane',
  'node-role.kubernetes.io/master',
];

type Selector = MaintenancePlanSpec['nodeSelector'];
export type NodeInfo = { name: string; labels: Readonly<Record<string, string>> };

/** The label keys a selector names explicitly (matchLabels or matchExpressions). */
function selectorKeys(selector: Selector | undefined): Set<string> {
  return new Set([
    ...Object.keys(selector?.matchLabels ?? {}),
    ...(selector?.matchExpressions ?? []).map((e) => e.key),
  ]);
}

/**
 * The nodes a plan covers among those the selector matched: control-plane
 * nodes are left out unless the selector names a control-plane label.
 */
export function selectNodes(nodes: readonly NodeInfo[], selector: Selector | undefined): string[] {
  const keys = selectorKeys(selector);
  const explicit = CONTROL_PLANE_LABELS.some((k) => keys.has(k));
  return nodes
    .filter((n) => explicit || !CONTROL_PLANE_LABELS.some((k) => k in n.labels))
    .map((n) => n.name)
    .sort();
}

/**
 * How long until the next evaluation is due: 0 when it is (never evaluated,
 * the spec changed, or an interval has passed). Status times are whole
 * seconds, so less than a second to go counts as due.
 */
export function evaluationWaitMs(
  previous: MaintenancePlanStatus | undefined,
  generation: number,
  intervalMs: number,
  now: Date,
): number {
  if (!previous?.lastEvaluationTime || previous.observedGeneration !== generation) return 0;
  const wait = Date.parse(previous.lastEvaluationTime) + intervalMs - now.getTime();
  return wait > 1000 ? wait : 0;
}

export type Evaluated = NodePrediction & { consecutive: number; atRisk: boolean; becameAtRisk: boolean };

/**
 * Advances each node's run: +1 when scored at or over the threshold, else 0
 * (Unknown breaks the run: abstaining is no evidence). At risk once the run
 * reaches `consecutive`; becameAtRisk only on the evaluation that crosses it.
 */
export function advanceRuns(
  predictions: readonly NodePrediction[],
  previous: ReadonlyMap<string, number>,
  threshold: number,
  consecutive: number,
): Evaluated[] {
  return predictions.map((p) => {
    const before = previous.get(p.node) ?? 0;
    const run = p.state === 'Scored' && p.risk >= threshold ? before + 1 : 0;
    const atRisk = run >= consecutive;
    return { ...p, consecutive: run, atRisk, becameAtRisk: atRisk && before < consecutive };
  });
}

/** Runs stored in status (to resume after a restart): node → consecutive. */
export function runsFromStatus(status: MaintenancePlanStatus | undefined): Map<string, number> {
  return new Map((status?.predictions ?? []).map((p) => [p.node, p.consecutive ?? 0]));
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const clamp = (x: number) => Math.max(-1, Math.min(1, x));

type StatusPrediction = NonNullable<MaintenancePlanStatus['predictions']>[number];

/** At risk first, then Unknown, then by risk (highest first), then by name; at most MAX_PREDICTIONS. */
export function statusPredictions(evaluated: readonly Evaluated[]): StatusPrediction[] {
  const rank = (e: Evaluated) => (e.atRisk ? 0 : e.state === 'Unknown' ? 1 : 2);
  const risk = (e: Evaluated) => (e.state === 'Scored' ? e.risk : -1);
  return [...evaluated]
    .sort((a, b) => rank(a) - rank(b) || risk(b) - risk(a) || (a.node < b.node ? -1 : 1))
    .slice(0, MAX_PREDICTIONS)
    .map((e) =>
      e.state === 'Scored'
        ? {
            node: e.node,
            state: 'Scored' as const,
            risk: round(e.risk),
            consecutive: e.consecutive,
            atRisk: e.atRisk,
            topSignals: e.topSignals.map((c) => ({
              name: c.signal,
              contribution: round(clamp(c.contribution), 3),
            })),
          }
        : {
            node: e.node,
            state: 'Unknown' as const,
            consecutive: e.consecutive,
            atRisk: false,
            message: e.message.slice(0, 1024),
          },
    );
}

/** "a, b, c and 4 more". */
export function nameSome(names: readonly string[]): string {
  const shown = names.slice(0, MAX_NAMED).join(', ');
  return names.length > MAX_NAMED ? `${shown} and ${names.length - MAX_NAMED} more` : shown;
}

/** The Event note for a node that became at risk: its risk and top signals. */
export function atRiskNote(plan: string, e: Evaluated, threshold: number, consecutive: number): string {
  if (e.state !== 'Scored') return '';
  const signals = e.topSignals
    .map((c) => `${c.signal} ${c.contribution >= 0 ? '+' : ''}${round(c.contribution, 3)}`)
    .join(', ');
  return `MaintenancePlan ${plan}: failure risk ${round(e.risk)} ≥ ${threshold} for ${consecutive} evaluations in a row; top signals (change in risk vs the fleet median): ${signals}`;
}

export type EvaluationInput = {
  generation: number;
  spec: MaintenancePlanSpec;
  selected: number;
  evaluated: readonly Evaluated[];
  now: Date;
  /** Selected nodes NotReady now (for the shadow scorecard); none when omitted. */
  notReady?: readonly NotReady[];
  /** Act mode: what the plan did (Acting condition) and the maintenance fields of status. */
  act?: ActState;
};

/** Act mode's part of status, from planner.ts and act.ts. */
export type ActState = {
  acting: { status: 'True' | 'False' } & ReasonMessage;
  phase: MaintenancePlanStatus['phase'];
  scheduled: NonNullable<MaintenancePlanStatus['scheduled']>;
  history: NonNullable<MaintenancePlanStatus['history']>;
  nextWindowTime?: string;
  /** Nodes the plan cordoned and left cordoned after a failed maintenance (job.onFailure LeaveCordoned). */
  leftCordoned?: readonly string[];
};

/** NodesLeftCordoned: True while a node the plan cordoned stays cordoned after a failed maintenance. */
export function leftCordonedCondition(nodes: readonly string[]) {
  return nodes.length
    ? {
        type: 'NodesLeftCordoned',
        status: 'True' as const,
        reason: 'MaintenanceFailed',
        message: `${nameSome(nodes)} stay cordoned after a failed maintenance (see status.history); uncordon each (kubectl uncordon <node>) once it is repaired`,
      }
    : {
        type: 'NodesLeftCordoned',
        status: 'False' as const,
        reason: 'None',
        message: 'no node the plan cordoned is left cordoned',
      };
}

export type StatusOutcome = { status: MaintenancePlanStatus; massFlag: MassFlag };

/** What Acting says: Shadow acts on nothing by design; Act without an evaluation starts nothing. */
function actingCondition(spec: MaintenancePlanSpec, act?: ActState) {
  if (act) return { type: 'Acting', ...act.acting };
  return spec.mode === 'Act'
    ? {
        type: 'Acting',
        status: 'False' as const,
        reason: 'NotEvaluated',
        message:
          'spec.mode Act: no evaluation succeeded (see Stalled/Reconciling), so no new maintenance starts; running ones go on',
      }
    : {
        type: 'Acting',
        status: 'False' as const,
        reason: 'Shadow',
        message: 'spec.mode Shadow: predictions are recorded, no node is touched',
      };
}

/** Status after a successful evaluation. */
export function evaluatedStatus(
  input: EvaluationInput,
  previous: MaintenancePlanStatus | undefined,
): StatusOutcome {
  const { spec, evaluated, now, generation } = input;
  const atRisk = evaluated.filter((e) => e.atRisk);
  const unknown = evaluated.filter((e): e is Evaluated & { state: 'Unknown' } => e.state === 'Unknown');
  const massFlag = massFlagCheck(
    atRisk.length,
    input.selected,
    (spec.predictor.maxFlaggedPercent ?? 30) / 100,
  );
  const missing = [...new Set(unknown.flatMap((u) => u.problems.map((p) => p.signal)))];
  const extra = [
    {
      type: 'PredictorReady',
      status: 'True' as const,
      reason: 'Loaded',
      message: `model ${spec.predictor.model.uri} loaded`,
    },
    unknown.length
      ? {
          type: 'PredictionsComplete',
          status: 'False' as const,
          reason: 'SignalsMissing',
          message: `${unknown.length} of ${input.selected} nodes abstain (Unknown): ${nameSome(unknown.map((u) => `${u.node} (${u.message})`))}; signals affected: ${missing.join(', ')}`,
        }
      : {
          type: 'PredictionsComplete',
          status: 'True' as const,
          reason: 'AllScored',
          message: `all ${input.selected} selected nodes scored`,
        },
    massFlag.stop
      ? {
          type: 'MassFlag',
          status: 'True' as const,
          reason: 'TooManyAtRisk',
          message: massFlag.message ?? '',
        }
      : {
          type: 'MassFlag',
          status: 'False' as const,
          reason: 'WithinLimit',
          message: `${atRisk.length} of ${input.selected} selected nodes at risk`,
        },
    actingCondition(spec, input.act),
    ...(input.act ? [leftCordonedCondition(input.act.leftCordoned ?? [])] : []),
  ];
  const ready: { status: 'True' | 'False' } & ReasonMessage = input.act
    ? {
        status: 'True',
        reason: 'Acting',
        message: `act mode: ${evaluated.length - unknown.length} nodes scored, ${unknown.length} Unknown, ${atRisk.length} at risk; ${input.act.acting.message}`,
      }
    : spec.mode === 'Act'
      ? { status: 'False', reason: 'NotEvaluated', message: actingCondition(spec).message }
      : {
          status: 'True',
          reason: 'Predicting',
          message: `shadow mode: ${evaluated.length - unknown.length} nodes scored, ${unknown.length} Unknown, ${atRisk.length} at risk`,
        };
  const conditions = summarize({ generation, ready, extra }, previous?.conditions as Condition[], now);
  return {
    massFlag,
    status: {
      observedGeneration: generation,
      conditions,
      phase: input.act?.phase ?? 'Idle',
      ...(input.act?.nextWindowTime ? { nextWindowTime: input.act.nextWindowTime } : {}),
      ...(input.act?.scheduled.length ? { scheduled: input.act.scheduled } : {}),
      ...(input.act?.history.length ? { history: input.act.history } : {}),
      selectedNodes: input.selected,
      nodesAtRisk: atRisk.length,
      nodesUnknown: unknown.length,
      lastEvaluationTime: metaTime(now),
      predictions: statusPredictions(evaluated),
      shadow: advanceShadow(previous?.shadow, {
        now,
        horizonHours: spec.predictor.horizonHours ?? 24,
        flagged: evaluated.filter((e) => e.becameAtRisk).map((e) => e.node),
        notReady: input.notReady ?? [],
      }),
    },
  };
}

/**
 * Status when no evaluation could run: `stalled` needs a user change (bad
 * model, bad query, no Prometheus configured), `reconciling` is transient
 * (Prometheus unreachable). The last predictions stay, marked by their time.
 */
export function failedStatus(
  input: { generation: number; spec: MaintenancePlanSpec; now: Date },
  failure: { stalled?: ReasonMessage; reconciling?: ReasonMessage; predictor?: ReasonMessage },
  previous: MaintenancePlanStatus | undefined,
): MaintenancePlanStatus {
  const extra = [
    ...(failure.predictor
      ? [{ type: 'PredictorReady', status: 'False' as const, ...failure.predictor }]
      : []),
    actingCondition(input.spec),
  ];
  const conditions = summarize(
    {
      generation: input.generation,
      ...(failure.stalled ? { stalled: failure.stalled } : {}),
      ...(failure.reconciling ? { reconciling: failure.reconciling } : {}),
      extra,
    },
    previous?.conditions as Condition[],
    input.now,
  );
  const { conditions: _c, observedGeneration: _g, ...kept } = previous ?? {};
  // the maintenance fields (Act mode) stay as they were: a failed prediction does not end a maintenance
  return { ...kept, observedGeneration: input.generation, conditions, phase: previous?.phase ?? 'Idle' };
}

export type ShadowStatus = NonNullable<MaintenancePlanStatus['shadow']>;
/** Flags and failures kept in status, each. */
const MAX_SHADOW_EVENTS = 100;

/** A selected node that is NotReady now, and since when (its Ready condition's last transition). */
export type NotReady = { node: string; since: Date };

const seconds = (t: string | Date) => (typeof t === 'string' ? Date.parse(t) : t.getTime()) / 1000;

/**
 * The scorecard after one evaluation: this evaluation's new flags and any
 * NotReady transition not yet recorded are added, what is older than two
 * horizons is dropped (status stays bounded), and precision and recall are
 * recomputed (shadow.ts).
 */
export function advanceShadow(
  previous: ShadowStatus | undefined,
  input: { now: Date; horizonHours: number; flagged: readonly string[]; notReady: readonly NotReady[] },
): ShadowStatus {
  const now = seconds(input.now);
  const horizon = input.horizonHours * 3600;
  const since = previous?.since ?? metaTime(input.now);
  const keep = (e: { at: string }) => seconds(e.at) >= now - 2 * horizon;
  const flags = [
    ...(previous?.flags ?? []),
    ...input.flagged.map((node) => ({ node, at: metaTime(input.now) })),
  ]
    .filter(keep)
    .slice(-MAX_SHADOW_EVENTS);
  const failures = [...(previous?.failures ?? [])];
  for (const n of input.notReady) {
    const at = metaTime(n.since);
    if (!failures.some((f) => f.node === n.node && f.at === at)) failures.push({ node: n.node, at });
  }
  const kept = failures.filter(keep).slice(-MAX_SHADOW_EVENTS);
  const asTimes = (e: { node: string; at: string }): Flag & Failure => ({ node: e.node, at: seconds(e.at) });
  const card = scoreShadow(flags.map(asTimes), kept.map(asTimes), horizon, now, seconds(since));
  return {
    since,
    flags,
    failures: kept,
    truePositives: card.truePositives,
    falsePositives: card.falsePositives,
    pending: card.pending,
    failuresObserved: card.failures,
    failuresCaught: card.caught,
    ...(card.precision !== undefined ? { precision: round(card.precision) } : {}),
    ...(card.recall !== undefined ? { recall: round(card.recall) } : {}),
  };
}
