// Pure: alerts for the operator itself, from the metrics operator/metrics.ts
// exports:
//
//   ymera_reconcile_total{controller, result}    reconciles by outcome
//   ymera_reconcile_errors_total{controller}     reconciles that ended in an error
//   ymera_workqueue_depth{name}                  keys waiting in a work queue
//   ymera_leader_is_leader                       1 while a replica holds the lease
//
// The operator's pods carry no CR labels, so the rules are scoped by the
// labels the scrape adds to them: `namespace` (the operator's namespace) and
// optionally `job`. Sums run over replicas: only the leader reconciles.
import type { AlertingRule, RuleGroup } from '../rules.ts';
import { formatDuration, promqlNumber, selector } from '../rules.ts';

export const RECONCILE_TOTAL = 'ymera_reconcile_total';
export const RECONCILE_ERRORS_TOTAL = 'ymera_reconcile_errors_total';
export const WORKQUEUE_DEPTH = 'ymera_workqueue_depth';
export const LEADER_IS_LEADER = 'ymera_leader_is_leader';

export const RECONCILE_ERRORS_ALERT = 'YmeraOperatorReconcileErrors';
export const WORKQUEUE_BACKLOG_ALERT = 'YmeraOperatorWorkQueueBacklog';
export const NO_LEADER_ALERT = 'YmeraOperatorNoLeader';
export const MANY_LEADERS_ALERT = 'YmeraOperatorMultipleLeaders';
export const ABSENT_ALERT = 'YmeraOperatorDown';

export interface OperatorRuleOptions {
  /** Namespace the operator runs in (the `namespace` label of its series). */
  namespace: string;
  /** Scrape job of the operator, if the namespace holds other ymera_* exporters. */
  job?: string;
  /** Share of reconciles ending in an error that is too many; default 0.1. */
  maxErrorRatio?: number;
  /** Work queue depth that is a backlog; default 100. */
  maxQueueDepth?: number;
  /** Window of the error ratio; default 5m. */
  windowSeconds?: number;
  /** `for` of each alert (tests shorten them). */
  for?: Partial<Record<'errors' | 'backlog' | 'leader' | 'absent', string>>;
}

export function operatorScopeLabels(
  options: Pick<OperatorRuleOptions, 'namespace' | 'job'>,
): Record<string, string> {
  if (!options.namespace) throw new Error('the operator rules need the namespace the operator runs in');
  return options.job ? { namespace: options.namespace, job: options.job } : { namespace: options.namespace };
}

export const OPERATOR_RULE_GROUP = 'ymera-operator';

export function operatorRuleGroups(options: OperatorRuleOptions): RuleGroup[] {
  const scope = operatorScopeLabels(options);
  const sel = selector(scope);
  const by = Object.keys(scope).sort().join(', ');
  const window = formatDuration(options.windowSeconds ?? 300);
  const maxRatio = options.maxErrorRatio ?? 0.1;
  const maxDepth = options.maxQueueDepth ?? 100;
  const forOf = { errors: '15m', backlog: '15m', leader: '5m', absent: '5m', ...options.for };
  const where = `the ymera operator in namespace ${options.namespace}`;
  const rules: AlertingRule[] = [
    {
      alert: RECONCILE_ERRORS_ALERT,
      expr:
        `sum by (${by}, controller) (rate(${RECONCILE_ERRORS_TOTAL}${sel}[${window}]))\n/\n` +
        `sum by (${by}, controller) (rate(${RECONCILE_TOTAL}${sel}[${window}]))\n> ${promqlNumber(maxRatio)}`,
      for: forOf.errors,
      labels: { severity: 'warning' },
      annotations: {
        summary: `Reconciles of one controller of ${where} keep failing`,
        description: `More than ${Number((maxRatio * 100).toPrecision(6))}% of a controller's reconciles over ${window} ended in an error, for ${forOf.errors}; the operator logs and the Events of the affected objects say why.`,
      },
    },
    {
      alert: WORKQUEUE_BACKLOG_ALERT,
      expr: `max by (${by}, name) (${WORKQUEUE_DEPTH}${sel}) > ${promqlNumber(maxDepth)}`,
      for: forOf.backlog,
      labels: { severity: 'warning' },
      annotations: {
        summary: `A work queue of ${where} is backed up`,
        description: `More than ${maxDepth} keys have been waiting in a work queue for ${forOf.backlog}: the operator falls behind (slow API server or external dependency, or too few workers).`,
      },
    },
    {
      alert: NO_LEADER_ALERT,
      expr: `max by (${by}) (${LEADER_IS_LEADER}${sel}) < 1`,
      for: forOf.leader,
      labels: { severity: 'critical' },
      annotations: {
        summary: `No replica of ${where} is leading`,
        description: `Replicas are running but none has held the leader lease for ${forOf.leader}: nothing is reconciled.`,
      },
    },
    {
      alert: MANY_LEADERS_ALERT,
      expr: `sum by (${by}) (${LEADER_IS_LEADER}${sel}) > 1`,
      for: forOf.leader,
      labels: { severity: 'critical' },
      annotations: {
        summary: `More than one replica of ${where} claims to lead`,
        description: `Several replicas have reported holding the leader lease for ${forOf.leader}; they may write conflicting changes (clock skew or a broken lease).`,
      },
    },
    {
      alert: ABSENT_ALERT,
      expr: `absent(${LEADER_IS_LEADER}${sel})`,
      for: forOf.absent,
      labels: { severity: 'critical' },
      annotations: {
        summary: `${where} is not being scraped`,
        description: `No replica of the operator has exported metrics for ${forOf.absent}: it is down or its metrics endpoint is unreachable.`,
      },
    },
  ];
  return [{ name: OPERATOR_RULE_GROUP, rules }];
}
