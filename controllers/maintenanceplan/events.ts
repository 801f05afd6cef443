// Pure: the CloudEvents of a MaintenancePlan (topic ymera.events.
// maintenanceplan, type io.ymera.maintenanceplan.<name>, keyed by the plan,
// the same envelope as every platform event: operator/kafka/events.ts).
// Each fact has a stable discriminator (the maintenance id, or the node and
// the evaluation time) so a re-send after a restart carries the same event id.
// Data is what status shows: node names, risks, ids, times and messages; no
// credentials (the model's credentialsSecret is never read into them).
import type { PlatformEvent } from '../../operator/kafka/events.ts';
import { EventType } from '../../operator/kafka/events.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { ActionResult } from './metrics.ts';
import type { HistoryEntry, ScheduledEntry } from './planner.ts';
import type { Evaluated } from './status.ts';

/** Event names under io.ymera.maintenanceplan. */
export const MaintenanceEventType = {
  /** A node's risk stayed at or over the threshold for `consecutive` evaluations. */
  NodeAtRisk: 'node.atrisk',
  /** An at-risk node was put on the plan (Scheduled or AwaitingApproval). */
  Scheduled: EventType.MaintenanceScheduled,
  /** A maintenance started in its window (the node is cordoned next). */
  Started: 'maintenance.started',
  /** The plan cordoned the node. */
  Cordoned: 'maintenance.cordoned',
  /** Every pod the drain evicts is gone. */
  Drained: 'maintenance.drained',
  /** The maintenance succeeded (the node was uncordoned if the plan cordoned it). */
  Completed: EventType.MaintenanceCompleted,
  /** The maintenance failed: the drain timed out (AbortAndUncordon) or the node is gone. */
  Aborted: 'maintenance.aborted',
  /** Too many selected nodes were at risk at once: the plan starts nothing. */
  MassFlag: 'massflag.stopped',
} as const;

type Resource = PlatformEvent['resource'];
type Plan = Pick<KubeObject, 'metadata'>;

const idOf = (e: { id?: string | undefined; node: string; startTime?: string | undefined }) =>
  e.id ?? `${e.node}@${e.startTime ?? ''}`;

function event(
  resource: Resource,
  plan: Plan,
  type: string,
  discriminator: string,
  data: Record<string, unknown>,
  time: Date | string,
): PlatformEvent {
  return { resource, object: plan, type, discriminator, data, time };
}

/** A node whose risk just crossed the threshold (becameAtRisk), with the signals that drove it. */
export function nodeAtRiskEvent(
  resource: Resource,
  plan: Plan,
  e: Evaluated,
  settings: { threshold: number; consecutive: number },
  at: Date,
): PlatformEvent | undefined {
  if (!e.becameAtRisk || e.state !== 'Scored') return undefined;
  return event(
    resource,
    plan,
    MaintenanceEventType.NodeAtRisk,
    `${e.node}/${at.toISOString()}`,
    {
      node: e.node,
      risk: e.risk,
      threshold: settings.threshold,
      consecutive: settings.consecutive,
      topSignals: e.topSignals.map((s) => ({ signal: s.signal, contribution: s.contribution })),
    },
    at,
  );
}

/** Maintenances newly scheduled, and those that started now, from status.scheduled before and after planning. */
export function planEvents(
  resource: Resource,
  plan: Plan,
  before: readonly ScheduledEntry[],
  after: readonly ScheduledEntry[],
  at: Date,
): PlatformEvent[] {
  const was = new Map(before.map((e) => [idOf(e), e]));
  const out: PlatformEvent[] = [];
  for (const e of after) {
    const id = idOf(e);
    const prior = was.get(id);
    const common = {
      node: e.node,
      id,
      actions: e.actions,
      ...(e.risk !== undefined ? { risk: e.risk } : {}),
      ...(e.windowStart ? { windowStart: e.windowStart } : {}),
    };
    if (!prior)
      out.push(event(resource, plan, MaintenanceEventType.Scheduled, id, { ...common, state: e.state }, at));
    if (e.state === 'InProgress' && prior?.state !== 'InProgress')
      out.push(
        event(
          resource,
          plan,
          MaintenanceEventType.Started,
          `${id}/started`,
          { ...common, startTime: e.startTime ?? at.toISOString() },
          e.startTime ?? at,
        ),
      );
  }
  return out;
}

/** What one step of a maintenance did: cordoned, drained, and its end (completed or aborted). */
export function stepEvents(
  resource: Resource,
  plan: Plan,
  before: ScheduledEntry,
  outcome: { finished?: HistoryEntry | undefined; actions: readonly ActionResult[] },
  at: Date,
): PlatformEvent[] {
  const id = idOf(before);
  const base = { node: before.node, id };
  const did = (action: ActionResult['action'], result: ActionResult['result']) =>
    outcome.actions.some((a) => a.action === action && a.result === result && (a.count ?? 1) > 0);
  const out: PlatformEvent[] = [];
  if (did('cordon', 'success'))
    out.push(event(resource, plan, MaintenanceEventType.Cordoned, `${id}/cordoned`, base, at));
  if (did('drain', 'success'))
    out.push(event(resource, plan, MaintenanceEventType.Drained, `${id}/drained`, base, at));
  const f = outcome.finished;
  if (f) {
    const succeeded = f.result === 'Succeeded';
    const data = {
      ...base,
      result: f.result,
      startTime: f.startTime,
      ...(f.completionTime ? { completionTime: f.completionTime } : {}),
      ...(f.risk !== undefined ? { risk: f.risk } : {}),
      ...(f.message ? { message: f.message } : {}),
      uncordoned: did('uncordon', 'success'),
      ...(succeeded ? {} : { reason: did('drain', 'timeout') ? 'DrainTimeout' : 'Failed' }),
    };
    out.push(
      event(
        resource,
        plan,
        succeeded ? MaintenanceEventType.Completed : MaintenanceEventType.Aborted,
        `${id}/${succeeded ? 'completed' : 'aborted'}`,
        data,
        f.completionTime ?? at,
      ),
    );
  }
  return out;
}

/** The mass-flag stop turning on (model drift or an outage, not a reason to evacuate the cluster). */
export function massFlagEvent(
  resource: Resource,
  plan: Plan,
  flag: { flagged: number; selected: number; message?: string | undefined },
  at: Date,
): PlatformEvent {
  return event(
    resource,
    plan,
    MaintenanceEventType.MassFlag,
    at.toISOString(),
    {
      flagged: flag.flagged,
      selected: flag.selected,
      ...(flag.message ? { message: flag.message } : {}),
    },
    at,
  );
}
