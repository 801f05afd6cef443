// MaintenancePlan metrics: each selected node's latest failure risk (the
// series of a node that is no longer scored is removed, not left frozen), how
// many predictions were scored or abstained, the actions Act mode took by type
// and result, how long maintenances took, and, from status on every write,
// what the generated alert rules read (operator/prometheus/generators/
// maintenanceplan.ts): when each running maintenance started, the mass-flag
// stop and whether the predictor is ready.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Step } from './drain.ts';
import type { JobState } from './job.ts';
import type { HistoryEntry, ScheduledEntry } from './planner.ts';
import type { MaintenanceAction, MaintenancePlanStatus } from './schema.ts';

export const NODE_FAILURE_RISK = 'ymera_node_failure_risk';
export const PREDICTIONS_TOTAL = 'ymera_maintenanceplan_predictions_total';
export const MAINTENANCE_ACTIONS_TOTAL = 'ymera_maintenance_actions_total';
export const MAINTENANCE_DURATION = 'ymera_maintenance_duration_seconds';
export const MAINTENANCE_STARTED_TIMESTAMP = 'ymera_maintenance_started_timestamp_seconds';
export const MASS_FLAG = 'ymera_maintenanceplan_mass_flag';
export const PREDICTOR_READY = 'ymera_maintenanceplan_predictor_ready';
export const PLAN_LABEL = 'maintenanceplan';

export type ActionName = 'cordon' | 'drain' | 'evict' | 'job' | 'uncordon';
export type ActionResultName = 'success' | 'failure' | 'timeout';
/** One action Act mode took (or `count` of them, e.g. evictions), and how it went. */
export type ActionResult = { action: ActionName; result: ActionResultName; count?: number };

/**
 * Pure: the drain's result when `step` ends a maintenance (uncordon or
 * finish) whose drain had not ended before (progress not yet Done/Aborted: a
 * maintenance resumed after its uncordon is not counted twice); none
 * otherwise or without a Drain action.
 */
export function drainResult(
  step: Step,
  entry: Pick<ScheduledEntry, 'progress'>,
  actions: readonly Pick<MaintenanceAction, 'type'>[],
  job?: Pick<JobState, 'phase'>,
): ActionResult[] {
  // the drain ended well when the Job is created; the Job's own end is counted as the job action
  if (step.kind === 'createJob') return [{ action: 'drain', result: 'success' }];
  if (step.kind !== 'uncordon' && step.kind !== 'finish') return [];
  if (entry.progress === 'Done' || entry.progress === 'Aborted') return [];
  if (entry.progress === 'JobRunning') {
    if (step.result === 'Succeeded') return [{ action: 'job', result: 'success' }];
    // a Job still running when the step ends it has outlived job.timeoutSeconds
    return [{ action: 'job', result: job?.phase === 'Running' ? 'timeout' : 'failure' }];
  }
  if (!actions.some((a) => a.type === 'Drain')) return [];
  if (step.result === 'Succeeded') return [{ action: 'drain', result: 'success' }];
  return [{ action: 'drain', result: /timed out/.test(step.message) ? 'timeout' : 'failure' }];
}

export class PlanMetrics {
  private readonly risk: Gauge<'node' | 'maintenanceplan'>;
  private readonly predictions: Counter<'maintenanceplan' | 'result'>;
  private readonly actions: Counter<'maintenanceplan' | 'action' | 'result'>;
  private readonly duration: Histogram<'maintenanceplan' | 'result'>;
  private readonly started: Gauge<'maintenanceplan' | 'node'>;
  private readonly massFlag: Gauge<'maintenanceplan'>;
  private readonly predictorReady: Gauge<'maintenanceplan'>;
  /** Per plan, the nodes whose risk series exist. */
  private readonly nodes = new Map<string, Set<string>>();
  /** Per plan, the nodes whose started series exist. */
  private readonly running = new Map<string, Set<string>>();

  constructor(registry: Registry = new Registry()) {
    const registers = [registry];
    this.risk = new Gauge({
      name: NODE_FAILURE_RISK,
      help: 'Latest predicted failure risk of a node within the plan horizon, 0..1 (absent while the node is Unknown).',
      labelNames: ['node', 'maintenanceplan'],
      registers,
    });
    this.predictions = new Counter({
      name: PREDICTIONS_TOTAL,
      help: 'Node predictions of a MaintenancePlan, by result: scored, or unknown (abstained on a missing or stale signal).',
      labelNames: ['maintenanceplan', 'result'],
      registers,
    });
    this.actions = new Counter({
      name: MAINTENANCE_ACTIONS_TOTAL,
      help: 'Actions a MaintenancePlan took on nodes (cordon, drain, evict, job, uncordon) by result (success, failure, timeout); evict counts pods.',
      labelNames: ['maintenanceplan', 'action', 'result'],
      registers,
    });
    this.duration = new Histogram({
      name: MAINTENANCE_DURATION,
      help: 'Seconds from the start of a node maintenance (cordon) to its end, by result (Succeeded, Failed).',
      labelNames: ['maintenanceplan', 'result'],
      buckets: [30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14_400],
      registers,
    });
    this.started = new Gauge({
      name: MAINTENANCE_STARTED_TIMESTAMP,
      help: 'Unix time a running node maintenance started; absent once it finished.',
      labelNames: ['maintenanceplan', 'node'],
      registers,
    });
    this.massFlag = new Gauge({
      name: MASS_FLAG,
      help: 'Whether the mass-flag stop of a MaintenancePlan is on (1: too many nodes at risk at once, nothing starts).',
      labelNames: ['maintenanceplan'],
      registers,
    });
    this.predictorReady = new Gauge({
      name: PREDICTOR_READY,
      help: "Whether a MaintenancePlan's predictor is ready (1: model loaded and signals readable).",
      labelNames: ['maintenanceplan'],
      registers,
    });
  }

  /** Sets the risks of one evaluation; nodes without a risk now lose their series. */
  record(plan: string, risks: ReadonlyMap<string, number>, unknown: number): void {
    const before = this.nodes.get(plan) ?? new Set<string>();
    for (const node of before) if (!risks.has(node)) this.risk.remove({ node, maintenanceplan: plan });
    for (const [node, r] of risks) this.risk.set({ node, maintenanceplan: plan }, r);
    this.nodes.set(plan, new Set(risks.keys()));
    this.predictions.inc({ maintenanceplan: plan, result: 'scored' }, risks.size);
    this.predictions.inc({ maintenanceplan: plan, result: 'unknown' }, unknown);
  }

  /** Counts the actions one maintenance step took. */
  acted(plan: string, results: readonly ActionResult[]): void {
    for (const r of results) {
      const n = r.count ?? 1;
      if (n > 0) this.actions.inc({ maintenanceplan: plan, action: r.action, result: r.result }, n);
    }
  }

  /** Observes the duration of a finished maintenance. */
  finished(plan: string, entry: HistoryEntry): void {
    const start = Date.parse(entry.startTime);
    const end = Date.parse(entry.completionTime ?? '');
    if (Number.isFinite(start) && Number.isFinite(end) && end >= start)
      this.duration.observe({ maintenanceplan: plan, result: entry.result }, (end - start) / 1000);
  }

  /** What the alert rules read, from the status just written (so a restart re-exports it). */
  status(plan: string, status: MaintenancePlanStatus): void {
    const conditions = status.conditions ?? [];
    this.massFlag.set(
      { maintenanceplan: plan },
      conditions.some((c) => c.type === 'MassFlag' && c.status === 'True') ? 1 : 0,
    );
    const ready = conditions.find((c) => c.type === 'PredictorReady');
    if (ready) this.predictorReady.set({ maintenanceplan: plan }, ready.status === 'True' ? 1 : 0);
    const now = new Map<string, number>();
    for (const e of status.scheduled ?? []) {
      const t = Date.parse(e.startTime ?? '');
      if (e.state === 'InProgress' && Number.isFinite(t)) now.set(e.node, t / 1000);
    }
    for (const node of this.running.get(plan) ?? [])
      if (!now.has(node)) this.started.remove({ maintenanceplan: plan, node });
    for (const [node, t] of now) this.started.set({ maintenanceplan: plan, node }, t);
    this.running.set(plan, new Set(now.keys()));
  }

  forget(plan: string): void {
    this.record(plan, new Map(), 0);
    this.nodes.delete(plan);
    this.status(plan, {});
    this.running.delete(plan);
    this.massFlag.remove({ maintenanceplan: plan });
    this.predictorReady.remove({ maintenanceplan: plan });
  }
}
