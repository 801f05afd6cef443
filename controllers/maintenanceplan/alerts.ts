// The plan's generated alert rules (operator/prometheus/generators/
// maintenanceplan.ts), written like every kind's: a PrometheusRule or a
// labelled ConfigMap (operator/prometheus/rule-objects.ts), owned by the plan.
// The plan is cluster-scoped, so they go into the operator's namespace. They
// are applied when their content changes and again every RESYNC_MS (repairs
// a manual edit), not on each of the frequent reconciles of Act mode. A
// failure never stops predictions or maintenance: it is logged, told as a
// Warning Event, and tried again at the next evaluation.
import { createHash } from 'node:crypto';
import type { Child, ReconcileContext } from '../../operator/controller.ts';
import { classifyFailure } from '../../operator/failure.ts';
import type { RuleSettings } from '../../operator/integrations.ts';
import { ruleObjectType } from '../../operator/integrations.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { maintenancePlanRuleGroups } from '../../operator/prometheus/generators/maintenanceplan.ts';
import type { MaintenancePlanLike } from '../../operator/prometheus/generators/maintenanceplan.ts';
import { ruleChildren } from '../../operator/prometheus/rule-objects.ts';

const RESYNC_MS = 10 * 60_000;

/** Pure: the rule object of a plan, in `namespace` (the operator's). */
export function planRuleChildren(
  plan: KubeObject & MaintenancePlanLike,
  namespace: string,
  settings: RuleSettings,
): Child[] {
  const owner = { ...plan, metadata: { ...plan.metadata, namespace } };
  return ruleChildren(owner, maintenancePlanRuleGroups(plan), settings);
}

export class PlanRules {
  readonly #settings: RuleSettings;
  readonly #namespace: string;
  /** Per plan, the hash of what was applied last and when. */
  readonly #applied = new Map<string, { hash: string; at: number }>();

  constructor(settings: RuleSettings, namespace: string) {
    this.#settings = settings;
    this.#namespace = namespace;
  }

  async apply(ctx: ReconcileContext, plan: KubeObject & MaintenancePlanLike, now: Date): Promise<void> {
    const name = plan.metadata.name;
    try {
      const children = planRuleChildren(plan, this.#namespace, this.#settings);
      const hash = createHash('sha256')
        .update(JSON.stringify([plan.metadata.uid, children.map((c) => c.object)]))
        .digest('hex');
      const last = this.#applied.get(name);
      if (last?.hash === hash && now.getTime() - last.at < RESYNC_MS) return;
      await ctx.applyChildren(plan, children, [ruleObjectType(this.#settings)]);
      this.#applied.set(name, { hash, at: now.getTime() });
    } catch (e) {
      this.#applied.delete(name);
      const failure = classifyFailure(e);
      ctx.log.info('alert rules not written', { plan: name, reason: failure.reason });
      await ctx.event(plan, 'Warning', 'RulesNotApplied', 'ApplyRules', `alert rules: ${failure.message}`);
    }
  }

  forget(plan: string): void {
    this.#applied.delete(plan);
  }
}
