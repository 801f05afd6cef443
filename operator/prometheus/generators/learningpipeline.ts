// Pure: a LearningPipeline → Prometheus alerts for failed runs, runs stuck
// past their deadline, and missed scheduled runs.
//
// Metric contract with the operator (the LearningPipeline controller exports
// these from its metrics endpoint; the rules read them):
//
//   ymera_pipeline_run_failed_total{namespace, learningpipeline}
//     counter of runs that ended Failed. Exported at 0 from the pipeline's
//     first reconcile, so that increase() sees the first failure.
//   ymera_pipeline_run_active_seconds{namespace, learningpipeline, run}
//     gauge, one series per running run: seconds since the run started
//     (computed at scrape time); the series goes away when the run finishes.
//   ymera_pipeline_schedule_missed_total{namespace, learningpipeline}
//     counter of scheduled times that did not start a run (skipped under
//     concurrencyPolicy Forbid, or missed while no operator was leading).
//     Exported at 0 when the pipeline has a schedule.
//
// `namespace` and `learningpipeline` are the CR's namespace and name; every
// expression is scoped by them. Sums run over operator replicas/instances so
// a leader change does not split a series.
import type { KubeObject } from '../../kube/resources.ts';
import type { AlertingRule, RuleGroup } from '../rules.ts';
import { formatDuration, promqlNumber, selector } from '../rules.ts';
import type { LearningPipelineSpec } from '../../../controllers/learningpipeline/schema.ts';

export const PIPELINE_RUN_FAILED_TOTAL = 'ymera_pipeline_run_failed_total';
export const PIPELINE_RUN_ACTIVE_SECONDS = 'ymera_pipeline_run_active_seconds';
export const PIPELINE_SCHEDULE_MISSED_TOTAL = 'ymera_pipeline_schedule_missed_total';
export const PIPELINE_LABEL = 'learningpipeline';

export const RUN_FAILED_ALERT = 'YmeraPipelineRunFailed';
export const RUN_STUCK_ALERT = 'YmeraPipelineRunStuck';
export const SCHEDULE_MISSED_ALERT = 'YmeraPipelineScheduleMissed';

export interface LearningPipelineRuleOptions {
  /** How long a failure or a missed schedule keeps its alert firing; default 1h. */
  windowSeconds?: number;
  /** Added to the computed run deadline (pods waiting for a GPU, image pulls); default 10m. */
  graceSeconds?: number;
  /** Deadline when some step has no timeoutSeconds (so none can be computed); default 24h. */
  defaultDeadlineSeconds?: number;
}

type StepLike = Pick<
  LearningPipelineSpec['steps'][number],
  'name' | 'dependsOn' | 'retry' | 'timeoutSeconds' | 'sweep'
>;

export type LearningPipelineLike = Pick<KubeObject, 'metadata'> & {
  spec: { steps: StepLike[]; schedule?: string };
};

// the schema defaults (applied by the API server; repeated here for objects read before defaulting)
const RETRY_DEFAULTS = { durationSeconds: 10, factor: 2, maxDurationSeconds: 600 };

/**
 * Longest a step may take when every attempt runs into its timeout:
 * (limit + 1) × timeoutSeconds plus the backoff waits between attempts;
 * a sweep, its trials in waves of parallelTrials, each up to timeoutSeconds.
 * undefined when the step has no timeout.
 */
export function stepDeadlineSeconds(step: StepLike): number | undefined {
  if (step.timeoutSeconds === undefined) return undefined;
  if (step.sweep) {
    const { maxTrials = 10, parallelTrials = 1 } = step.sweep;
    return Math.ceil(maxTrials / parallelTrials) * step.timeoutSeconds;
  }
  const retries = step.retry?.limit ?? 0;
  const backoff = { ...RETRY_DEFAULTS, ...step.retry?.backoff };
  let waits = 0;
  for (let i = 0; i < retries; i++) {
    waits += Math.min(backoff.durationSeconds * backoff.factor ** i, backoff.maxDurationSeconds);
  }
  return (retries + 1) * step.timeoutSeconds + Math.ceil(waits);
}

/**
 * Longest a run may take: the longest dependsOn path, weighting each step by
 * its deadline. undefined when a step has no timeout or the graph has a
 * cycle or an unknown dependency (admission rejects those; no deadline is
 * better than a wrong one).
 */
export function runDeadlineSeconds(steps: StepLike[]): number | undefined {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const memo = new Map<string, number | undefined>();
  const visiting = new Set<string>();
  const finish = (name: string): number | undefined => {
    if (memo.has(name)) return memo.get(name);
    const step = byName.get(name);
    if (!step || visiting.has(name)) return undefined;
    visiting.add(name);
    const own = stepDeadlineSeconds(step);
    let start = 0;
    let known = own !== undefined;
    for (const dep of step.dependsOn ?? []) {
      const f = finish(dep);
      if (f === undefined) known = false;
      else start = Math.max(start, f);
    }
    visiting.delete(name);
    const result = known && own !== undefined ? start + own : undefined;
    memo.set(name, result);
    return result;
  };
  let longest = 0;
  for (const step of steps) {
    const f = finish(step.name);
    if (f === undefined) return undefined;
    longest = Math.max(longest, f);
  }
  return longest;
}

export function scopeLabels(obj: Pick<KubeObject, 'metadata'>): Record<string, string> {
  if (!obj.metadata.namespace) throw new Error(`LearningPipeline ${obj.metadata.name} has no namespace`);
  return { namespace: obj.metadata.namespace, [PIPELINE_LABEL]: obj.metadata.name };
}

export function ruleGroupName(obj: Pick<KubeObject, 'metadata'>): string {
  return `ymera-learningpipeline-${obj.metadata.name}`;
}

const BY = `namespace, ${PIPELINE_LABEL}`;

/** The rule group of one LearningPipeline (always one: every pipeline can fail or hang). */
export function learningPipelineRuleGroups(
  obj: LearningPipelineLike,
  options: LearningPipelineRuleOptions = {},
): RuleGroup[] {
  const scope = scopeLabels(obj);
  const sel = selector(scope);
  const who = `LearningPipeline ${scope.namespace}/${obj.metadata.name}`;
  const window = formatDuration(options.windowSeconds ?? 3600);
  const computed = runDeadlineSeconds(obj.spec.steps);
  const deadline =
    computed === undefined
      ? (options.defaultDeadlineSeconds ?? 24 * 3600)
      : computed + (options.graceSeconds ?? 600);
  const deadlineText = formatDuration(deadline);

  const rules: AlertingRule[] = [
    {
      alert: RUN_FAILED_ALERT,
      expr: `sum by (${BY}) (increase(${PIPELINE_RUN_FAILED_TOTAL}${sel}[${window}])) > 0`,
      labels: { severity: 'warning' },
      annotations: {
        summary: `A run of ${who} failed`,
        description: `At least one run failed in the last ${window}; see the runs in the pipeline's status (kubectl describe lpipe ${obj.metadata.name} -n ${scope.namespace}).`,
      },
    },
    {
      alert: RUN_STUCK_ALERT,
      expr: `max by (${BY}, run) (${PIPELINE_RUN_ACTIVE_SECONDS}${sel}) > ${promqlNumber(deadline)}`,
      labels: { severity: 'warning' },
      annotations: {
        summary: `A run of ${who} is running longer than its deadline`,
        description:
          computed === undefined
            ? `A run has been active for more than ${deadlineText}, the default deadline for a pipeline with steps that have no timeoutSeconds.`
            : `A run has been active for more than ${deadlineText}: the longest path through the steps with every attempt timing out and all retries used, plus ${formatDuration(options.graceSeconds ?? 600)} of grace. Steps time out on their own, so the run is probably stuck.`,
      },
    },
  ];
  if (obj.spec.schedule) {
    rules.push({
      alert: SCHEDULE_MISSED_ALERT,
      expr: `sum by (${BY}) (increase(${PIPELINE_SCHEDULE_MISSED_TOTAL}${sel}[${window}])) > 0`,
      labels: { severity: 'warning' },
      annotations: {
        summary: `${who} missed a scheduled run`,
        description: `A run due by the schedule "${obj.spec.schedule}" did not start in the last ${window} (the previous run was still going under concurrencyPolicy Forbid, or no operator was leading).`,
      },
    });
  }
  return [{ name: ruleGroupName(obj), rules }];
}
