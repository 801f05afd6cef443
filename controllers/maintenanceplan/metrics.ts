// MaintenancePlan metrics: each selected node's latest failure risk (the
// series of a node that is no longer scored is removed, not left frozen), and
// how many predictions were scored or abstained.
import { Counter, Gauge, Registry } from 'prom-client';

export const NODE_FAILURE_RISK = 'ymera_node_failure_risk';
export const PREDICTIONS_TOTAL = 'ymera_maintenanceplan_predictions_total';

export class PlanMetrics {
  private readonly risk: Gauge<'node' | 'maintenanceplan'>;
  private readonly predictions: Counter<'maintenanceplan' | 'result'>;
  /** Per plan, the nodes whose risk series exist. */
  private readonly nodes = new Map<string, Set<string>>();

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

  forget(plan: string): void {
    this.record(plan, new Map(), 0);
    this.nodes.delete(plan);
  }
}
