// Pure: a MaintenancePlan → Prometheus alerts for predicted failures nobody
// handles, maintenances that run too long, the mass-flag stop and a predictor
// that cannot predict.
//
// Metric contract with the operator (controllers/maintenanceplan/metrics.ts):
//
//   ymera_node_failure_risk{maintenanceplan, node}
//     Latest predicted risk 0..1; absent while the node is Unknown.
//   ymera_maintenance_started_timestamp_seconds{maintenanceplan, node}
//     Unix time a running maintenance started; exported from status.scheduled
//     on every status write (survives a restart), removed when it finishes.
//   ymera_maintenanceplan_mass_flag{maintenanceplan}
//     1 while the mass-flag stop is on.
//   ymera_maintenanceplan_predictor_ready{maintenanceplan}
//     0 while the model cannot be loaded or the signals cannot be read.
//
// The plan is cluster-scoped: series are scoped by `maintenanceplan` alone.
import type { KubeObject } from '../../kube/resources.ts';
import { parseDuration } from '../../schema/validation.ts';
import type { AlertingRule, RuleGroup } from '../rules.ts';
import { formatDuration, promqlNumber, selector } from '../rules.ts';
import {
  MAINTENANCE_STARTED_TIMESTAMP,
  MASS_FLAG,
  NODE_FAILURE_RISK,
  PLAN_LABEL,
  PREDICTOR_READY,
} from '../../../controllers/maintenanceplan/metrics.ts';

export const NODE_RISK_HIGH_ALERT = 'YmeraNodeFailureRiskHigh';
export const MAINTENANCE_STUCK_ALERT = 'YmeraMaintenanceStuck';
export const MASS_FLAG_ALERT = 'YmeraMaintenancePlanMassFlag';
export const PREDICTOR_NOT_READY_ALERT = 'YmeraMaintenancePlanPredictorNotReady';

/** Slack over the drain and Job timeouts before a running maintenance counts as stuck. */
export const STUCK_MARGIN_SECONDS = 600;

export type MaintenancePlanLike = Pick<KubeObject, 'metadata'> & {
  spec: {
    mode?: string | undefined;
    predictor: {
      threshold?: number | undefined;
      consecutive?: number | undefined;
      interval?: string | undefined;
    };
    actions?:
      | readonly {
          type: string;
          drain?: { timeoutSeconds?: number | undefined } | undefined;
          job?: { timeoutSeconds?: number | undefined } | undefined;
        }[]
      | undefined;
  };
};

export function ruleGroupName(obj: Pick<KubeObject, 'metadata'>): string {
  return `ymera-maintenanceplan-${obj.metadata.name}`;
}

/**
 * Longest a maintenance may run: the drain timeout (default 600s) plus each
 * Job's timeout, plus STUCK_MARGIN_SECONDS for cordon, uncordon and requeues.
 */
export function maintenanceDeadlineSeconds(spec: MaintenancePlanLike['spec']): number {
  const actions = spec.actions ?? [{ type: 'Cordon' }, { type: 'Drain' }, { type: 'Uncordon' }];
  let seconds = STUCK_MARGIN_SECONDS;
  for (const a of actions) {
    if (a.type === 'Drain') seconds += a.drain?.timeoutSeconds ?? 600;
    if (a.type === 'Job') seconds += a.job?.timeoutSeconds ?? 3600;
  }
  return seconds;
}

export function maintenancePlanRuleGroups(obj: MaintenancePlanLike): RuleGroup[] {
  const name = obj.metadata.name;
  const sel = selector({ [PLAN_LABEL]: name });
  const who = `MaintenancePlan ${name}`;
  const how = `kubectl describe maintenanceplan ${name}`;
  const p = obj.spec.predictor;
  const intervalSeconds = Math.max(1, Math.round((parseDuration(p.interval ?? '5m') ?? 300_000) / 1000));
  const threshold = p.threshold ?? 0.8;
  const consecutive = p.consecutive ?? 3;
  // a node at risk for longer than an hour (or two runs of `consecutive` evaluations) is not being handled
  const riskFor = formatDuration(Math.max(3600, 2 * consecutive * intervalSeconds));
  const readyFor = formatDuration(Math.max(900, 3 * intervalSeconds));
  const rules: AlertingRule[] = [
    {
      alert: NODE_RISK_HIGH_ALERT,
      expr: `max by (${PLAN_LABEL}, node) (${NODE_FAILURE_RISK}${sel}) >= ${promqlNumber(threshold)}`,
      for: riskFor,
      labels: { severity: 'warning' },
      annotations: {
        summary: `A node has been predicted to fail for ${riskFor} (${who})`,
        description: `The predicted failure risk of the node (label node) has been at or over the threshold ${promqlNumber(threshold)}: maintain or replace it (${how}; status.predictions names the signals behind it).`,
      },
    },
  ];
  if (obj.spec.mode === 'Act') {
    const deadline = maintenanceDeadlineSeconds(obj.spec);
    rules.push({
      alert: MAINTENANCE_STUCK_ALERT,
      expr: `time() - max by (${PLAN_LABEL}, node) (${MAINTENANCE_STARTED_TIMESTAMP}${sel}) > ${promqlNumber(deadline)}`,
      labels: { severity: 'warning' },
      annotations: {
        summary: `A node maintenance has run for more than ${formatDuration(deadline)} (${who})`,
        description: `The maintenance started more than ${formatDuration(deadline)} ago, longer than its drain and Job timeouts plus ${formatDuration(STUCK_MARGIN_SECONDS)}: the node may stay cordoned (${how}; status.scheduled says where it is).`,
      },
    });
  }
  rules.push(
    {
      alert: MASS_FLAG_ALERT,
      expr: `max by (${PLAN_LABEL}) (${MASS_FLAG}${sel}) == 1`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `${who} stopped: too many nodes are at risk at once`,
        description: `More nodes than spec.predictor.maxFlaggedPercent are predicted to fail at once: suspected model drift or an outage; the plan starts no maintenance (${how}; the MassFlag condition says how many).`,
      },
    },
    {
      alert: PREDICTOR_NOT_READY_ALERT,
      expr: `max by (${PLAN_LABEL}) (${PREDICTOR_READY}${sel}) == 0`,
      for: readyFor,
      labels: { severity: 'warning' },
      annotations: {
        summary: `${who} cannot predict node failures`,
        description: `The predictor of ${who} has not been ready for ${readyFor} (model not loaded or signals not readable): no node is scored (${how}; the PredictorReady condition says why).`,
      },
    },
  );
  return [{ name: ruleGroupName(obj), rules }];
}
