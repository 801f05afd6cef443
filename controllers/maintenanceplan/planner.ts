// Pure: the maintenance plan of Act mode. From the nodes at risk, the window
// (cron + timeZone + duration), maxUnavailable, the per-node cooldown, the
// mass-flag stop and approval, it decides which nodes start maintenance now
// and which wait (Scheduled, AwaitingApproval), each with why. The running
// maintenances live in status.scheduled (state InProgress), so the
// maxUnavailable budget holds across operator restarts.
import { Cron } from 'croner';
import type { MaintenancePlanSpec, MaintenancePlanStatus } from './schema.ts';
import { latestPerNode } from './cooldown.ts';

export type ScheduledEntry = NonNullable<MaintenancePlanStatus['scheduled']>[number];
export type HistoryEntry = NonNullable<MaintenancePlanStatus['history']>[number];
type ActionType = ScheduledEntry['actions'][number];

/** Entries kept in status.scheduled (schema maxItems). */
export const MAX_SCHEDULED = 50;

export type WindowState = {
  /** The window is open now. */
  open: boolean;
  /** Start of the open window, if open. */
  start?: Date;
  /** End of the open window, if open. */
  end?: Date;
  /** Start of the next window after now. */
  next?: Date;
};

/**
 * Whether a window is open at `now`: the latest cron time at or before now
 * plus durationMinutes is after now. Windows that overlap (a cron firing more
 * often than the duration) count as one open window.
 */
export function windowState(window: MaintenancePlanSpec['window'], now: Date): WindowState {
  const cron = new Cron(window.schedule, { paused: true, timezone: window.timeZone });
  try {
    const next = cron.nextRun(now) ?? undefined;
    // previousRuns is strictly before its date: +1 ms includes a start at exactly now
    const start = cron.previousRuns(1, new Date(now.getTime() + 1))[0];
    const end = start ? new Date(start.getTime() + window.durationMinutes * 60_000) : undefined;
    const open = !!end && end.getTime() > now.getTime();
    return { open, ...(open ? { start, end } : {}), ...(next ? { next } : {}) };
  } finally {
    cron.stop();
  }
}

/**
 * maxUnavailable as a node count: a number as is, a percentage of the
 * selected nodes rounded down, at least 1 (a plan that may never maintain
 * anything is useless; 1 is the smallest step).
 */
export function maxUnavailableCount(value: number | string | undefined, selected: number): number {
  if (value === undefined) return 1;
  if (typeof value === 'number') return Math.max(1, Math.floor(value));
  const m = /^([0-9]+)%$/.exec(value);
  const percent = m ? Number(m[1]) : 0;
  return Math.max(1, Math.floor((selected * percent) / 100));
}

/** Id of a scheduled maintenance: the node and the UTC second it was scheduled (unique per maintenance). */
export function maintenanceId(node: string, scheduledAt: Date): string {
  return `${node}@${scheduledAt.toISOString().slice(0, 19).replace(/[-T:]/g, '')}`;
}

/** The ids an approval annotation names: comma-separated, exact; "*" or empty names nothing. */
export function approvedIds(annotation: string | undefined): Set<string> {
  return new Set(
    (annotation ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '' && s !== '*'),
  );
}

export type PlanInput = {
  now: Date;
  /** Selected node names. */
  selected: readonly string[];
  /** Nodes at risk now (after `consecutive` evaluations) with their risk. */
  atRisk: readonly { node: string; risk: number }[];
  /** The mass-flag stop is on: start and schedule nothing. */
  massFlag: boolean;
  window: MaintenancePlanSpec['window'];
  maxUnavailable: number | string | undefined;
  cooldownMinutes: number;
  approval: 'Auto' | 'Manual';
  /** Value of the plan's approval annotation. */
  approveAnnotation: string | undefined;
  suspend: boolean;
  actions: readonly ActionType[];
  /** status.scheduled of the last write. */
  scheduled: readonly ScheduledEntry[];
  /** status.history of the last write (for the cooldown). */
  history: readonly HistoryEntry[];
  /** Each node's last maintenance end (ms) from its ymera.io/last-maintenance annotation: the cooldown survives history truncation. */
  lastMaintenance?: ReadonlyMap<string, number>;
  /** Nodes that may not start now, with why (e.g. no room for their pods: drain-plan.ts). */
  holds?: ReadonlyMap<string, string>;
};

export type PlanOutcome = {
  window: WindowState;
  /** Entries for status.scheduled: InProgress first, then by risk. */
  scheduled: ScheduledEntry[];
  /** Nodes whose maintenance starts now (their entries are InProgress, startTime now). */
  start: string[];
  /** At-risk nodes left out because they are cooling down after a maintenance, until when. */
  coolingDown: { node: string; until: Date }[];
  /** Nodes under maintenance, including those starting now, and the budget. */
  unavailable: number;
  maxUnavailable: number;
  phase: 'Idle' | 'AwaitingApproval' | 'Scheduled' | 'InProgress';
  /** Why nothing (more) starts now, for the Acting condition; absent when nothing waits. */
  holdReason?: string;
};

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** When each node last finished a maintenance (newest completionTime, else startTime). */
function lastFinished(history: readonly HistoryEntry[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const h of history) {
    const t = Date.parse(h.completionTime ?? h.startTime);
    if (Number.isFinite(t) && t > (out.get(h.node) ?? -Infinity)) out.set(h.node, t);
  }
  return out;
}

export function planMaintenance(input: PlanInput): PlanOutcome {
  const { now } = input;
  const window = windowState(input.window, now);
  const budget = maxUnavailableCount(input.maxUnavailable, input.selected.length);
  const selected = new Set(input.selected);
  const risk = new Map(input.atRisk.map((a) => [a.node, a.risk]));
  const approved = approvedIds(input.approveAnnotation);
  const finished = latestPerNode(lastFinished(input.history), input.lastMaintenance);
  const cooldownMs = input.cooldownMinutes * 60_000;

  // running maintenance is never dropped here: only the drain engine finishes it
  const running = input.scheduled.filter((e) => e.state === 'InProgress');
  const runningNodes = new Set(running.map((e) => e.node));
  const coolingDown: PlanOutcome['coolingDown'] = [];

  // waiting entries survive while their node is selected and still at risk; new at-risk nodes join
  const waiting: ScheduledEntry[] = [];
  const previousWaiting = new Map(
    input.scheduled
      .filter((e) => e.state === 'Scheduled' || e.state === 'AwaitingApproval')
      .map((e) => [e.node, e]),
  );
  for (const { node } of input.atRisk) {
    if (!selected.has(node) || runningNodes.has(node)) continue;
    const done = finished.get(node);
    if (done !== undefined && done + cooldownMs > now.getTime()) {
      coolingDown.push({ node, until: new Date(done + cooldownMs) });
      continue;
    }
    const before = previousWaiting.get(node);
    // the mass-flag stop schedules nothing new (model drift or an outage)
    if (!before && input.massFlag) continue;
    const id = before?.id ?? maintenanceId(node, now);
    const ok = input.approval === 'Auto' || approved.has(id);
    waiting.push({
      node,
      id,
      risk: risk.get(node) ?? before?.risk ?? 0,
      actions: [...input.actions],
      state: ok ? 'Scheduled' : 'AwaitingApproval',
    });
  }
  waiting.sort((a, b) => (b.risk ?? 0) - (a.risk ?? 0) || (a.node < b.node ? -1 : 1));

  const holds: string[] = [];
  if (input.massFlag) holds.push('too many nodes at risk at once (MassFlag): no maintenance starts');
  if (input.suspend) holds.push('spec.suspend: no maintenance starts');
  if (!window.open && waiting.some((w) => w.state === 'Scheduled'))
    holds.push(`waiting for the next window${window.next ? ` at ${iso(window.next)}` : ''}`);
  const mayStart = window.open && !input.massFlag && !input.suspend;

  const start: string[] = [];
  let unavailable = running.length;
  let budgetHeld = false;
  const held: string[] = [];
  for (const w of waiting) {
    const windowStart = window.open ? window.start : window.next;
    if (windowStart) w.windowStart = iso(windowStart);
    if (w.state === 'AwaitingApproval') {
      w.message = `awaiting approval: annotate the plan ymera.io/approve=${w.id}`;
      continue;
    }
    if (!mayStart) {
      w.message = holds.join('; ');
      continue;
    }
    const hold = input.holds?.get(w.node);
    if (hold) {
      held.push(w.node);
      w.message = `waiting: ${hold}`.slice(0, 1024);
      continue;
    }
    if (unavailable >= budget) {
      budgetHeld = true;
      w.message = `waiting: maxUnavailable ${budget} reached (${unavailable} nodes under maintenance)`;
      continue;
    }
    w.state = 'InProgress';
    w.startTime = iso(now);
    w.message = `started in the window that ends at ${window.end ? iso(window.end) : '?'}`;
    unavailable += 1;
    start.push(w.node);
  }
  if (held.length)
    holds.push(
      `${held[0]} waits: ${input.holds?.get(held[0]!) ?? ''}${held.length > 1 ? ` (and ${held.length - 1} more nodes held back)` : ''}`,
    );
  if (budgetHeld) holds.push(`maxUnavailable ${budget} reached`);
  if (waiting.some((w) => w.state === 'AwaitingApproval'))
    holds.push(
      `${waiting.filter((w) => w.state === 'AwaitingApproval').length} maintenance(s) awaiting approval`,
    );

  const scheduled = [
    ...running,
    ...waiting.filter((w) => w.state === 'InProgress'),
    ...waiting.filter((w) => w.state !== 'InProgress'),
  ].slice(0, MAX_SCHEDULED);
  const phase = scheduled.some((e) => e.state === 'InProgress')
    ? 'InProgress'
    : scheduled.some((e) => e.state === 'Scheduled')
      ? 'Scheduled'
      : scheduled.some((e) => e.state === 'AwaitingApproval')
        ? 'AwaitingApproval'
        : 'Idle';
  return {
    window,
    scheduled,
    start,
    coolingDown,
    unavailable,
    maxUnavailable: budget,
    phase,
    ...(holds.length ? { holdReason: holds.join('; ') } : {}),
  };
}
