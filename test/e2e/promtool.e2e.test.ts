// The real promtool judges the generated rules: every rule file the operator
// can write loads (`promtool check rules`), and the alerts fire on synthetic
// series exactly when the burn-rate math says they should (`promtool test
// rules`, Prometheus' own rule evaluator on a simulated clock).
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { InferenceServiceLike } from '../../operator/prometheus/generators/inferenceservice.ts';
import {
  ERROR_BUDGET_ALERT,
  inferenceServiceRuleGroups,
  LATENCY_ALERT,
} from '../../operator/prometheus/generators/inferenceservice.ts';
import type { LearningPipelineLike } from '../../operator/prometheus/generators/learningpipeline.ts';
import {
  learningPipelineRuleGroups,
  RUN_FAILED_ALERT,
  RUN_STUCK_ALERT,
  SCHEDULE_MISSED_ALERT,
} from '../../operator/prometheus/generators/learningpipeline.ts';
import type { BackupPolicyLike } from '../../operator/prometheus/generators/backuppolicy.ts';
import {
  BACKUP_MISSING_ALERT,
  BACKUP_NEVER_COMPLETED_ALERT,
  backupPolicyRuleGroups,
  DRILL_FAILED_ALERT,
} from '../../operator/prometheus/generators/backuppolicy.ts';
import type { MaintenancePlanLike } from '../../operator/prometheus/generators/maintenanceplan.ts';
import {
  MAINTENANCE_STUCK_ALERT,
  MASS_FLAG_ALERT,
  maintenancePlanRuleGroups,
  NODE_RISK_HIGH_ALERT,
  PREDICTOR_NOT_READY_ALERT,
} from '../../operator/prometheus/generators/maintenanceplan.ts';
import {
  ABSENT_ALERT,
  NO_LEADER_ALERT,
  operatorRuleGroups,
  RECONCILE_ERRORS_ALERT,
  WORKQUEUE_BACKLOG_ALERT,
} from '../../operator/prometheus/generators/operator.ts';
import { ruleChildren, ruleFileOf } from '../../operator/prometheus/rule-objects.ts';
import type { AlertingRule, RuleGroup } from '../../operator/prometheus/rules.ts';
import { isAlertingRule, renderRuleFile } from '../../operator/prometheus/rules.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { repo } from './support.ts';

interface Run {
  code: number;
  output: string;
}

// the stack's promtool (prometheus.sh install prints the directory it is built into)
let promtoolBin = 'promtool';

function promtool(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(promtoolBin, args, { timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

const sample = <T>(file: string): T =>
  parse(readFileSync(path.join(repo, 'config/samples', file), 'utf8')) as T;

const asOwner = (o: { metadata: KubeObject['metadata'] }, kind: string): KubeObject => ({
  apiVersion: 'ymera.io/v1alpha1',
  kind,
  ...o,
  metadata: { ...o.metadata, uid: `uid-${o.metadata.name}` },
});

const isvc = (
  name: string,
  slo: InferenceServiceLike['spec']['slo'],
  namespace = 'ml',
): InferenceServiceLike => ({
  metadata: { name, namespace },
  spec: { slo },
});

const lpipe = (
  name: string,
  steps: LearningPipelineLike['spec']['steps'],
  schedule?: string,
): LearningPipelineLike => ({
  metadata: { name, namespace: 'ml' },
  spec: { steps, ...(schedule ? { schedule } : {}) },
});

const bpol = (name: string, spec: BackupPolicyLike['spec']): BackupPolicyLike => ({
  metadata: { name, namespace: 'ml' },
  spec,
});

/** Representative inputs of every generator: the samples, edge values, options. */
function everyRuleFile(): { what: string; text: string; rules: number }[] {
  const files: { what: string; text: string; rules: number }[] = [];
  const viaConfigMap = (what: string, owner: KubeObject, groups: RuleGroup[]) => {
    // the text that ships: the rules file inside the ConfigMap the writer builds
    const [child] = ruleChildren(owner, groups, { mode: 'ConfigMap' });
    const text = child ? ruleFileOf(child.object) : undefined;
    if (!text) throw new Error(`${what}: no rules file`);
    files.push({ what, text, rules: groups.reduce((n, g) => n + g.rules.length, 0) });
  };
  const inferenceServices: InferenceServiceLike[] = [
    sample<InferenceServiceLike>('inferenceservice.yaml'),
    isvc('availability-only', { availabilityPercent: 99.95 }),
    isvc('latency-only', { p95LatencyMs: 1 }),
    isvc('loose', { availabilityPercent: 50, p95LatencyMs: 600000 }),
    isvc('four.nines', { availabilityPercent: 99.99, p95LatencyMs: 250 }, 'team-a'),
  ];
  for (const s of inferenceServices) {
    viaConfigMap(
      `InferenceService ${s.metadata.name}`,
      asOwner(s, 'InferenceService'),
      inferenceServiceRuleGroups(s),
    );
  }
  const shortened = isvc('shortened', { availabilityPercent: 99, p95LatencyMs: 50 });
  viaConfigMap(
    'InferenceService with test windows',
    asOwner(shortened, 'InferenceService'),
    inferenceServiceRuleGroups(shortened, {
      for: { critical: '0s', warning: '1s', latency: '2s' },
      windows: [
        { longSeconds: 60, shortSeconds: 5, burnRate: 14.4, severity: 'critical' },
        { longSeconds: 120, shortSeconds: 10, burnRate: 3, severity: 'warning' },
      ],
      latencyWindowSeconds: 10,
    }),
  );
  const pipelines: LearningPipelineLike[] = [
    sample<LearningPipelineLike>('learningpipeline.yaml'),
    lpipe('no-timeouts', [{ name: 'a' }, { name: 'b', dependsOn: ['a'] }]),
    lpipe('scheduled', [{ name: 'a', timeoutSeconds: 60, retry: { limit: 10 } }], '*/5 * * * *'),
  ];
  for (const p of pipelines) {
    viaConfigMap(
      `LearningPipeline ${p.metadata.name}`,
      asOwner(p, 'LearningPipeline'),
      learningPipelineRuleGroups(p),
    );
  }
  const policies: BackupPolicyLike[] = [
    sample<BackupPolicyLike>('backuppolicy.yaml'),
    bpol('minutely', { schedule: '* * * * *' }),
    bpol('weekdays', { schedule: '0 1 * * 1-5', timeZone: 'Europe/Berlin', drill: {} }),
    bpol('suspended-with-drill', { schedule: '@daily', suspend: true, drill: {} }),
  ];
  for (const p of policies) {
    viaConfigMap(`BackupPolicy ${p.metadata.name}`, asOwner(p, 'BackupPolicy'), backupPolicyRuleGroups(p));
  }
  const plans: MaintenancePlanLike[] = [
    sample<MaintenancePlanLike>('maintenanceplan.yaml'),
    { metadata: { name: 'act-defaults' }, spec: { mode: 'Act', predictor: {} } },
  ];
  for (const p of plans) {
    // cluster-scoped: the operator writes its rules into its own namespace
    const owner = asOwner({ metadata: { ...p.metadata, namespace: 'ymera-system' } }, 'MaintenancePlan');
    viaConfigMap(`MaintenancePlan ${p.metadata.name}`, owner, maintenancePlanRuleGroups(p));
  }
  for (const options of [
    { namespace: 'ymera-system' },
    { namespace: 'ops', job: 'ymera-operator', maxErrorRatio: 0.01, maxQueueDepth: 1, for: { leader: '0s' } },
  ]) {
    const groups = operatorRuleGroups(options);
    files.push({
      what: `operator ${JSON.stringify(options)}`,
      text: renderRuleFile(groups),
      rules: groups[0]?.rules.length ?? 0,
    });
  }
  return files;
}

let dir: string;

beforeAll(() => {
  const bin = execFileSync('bash', [path.join(repo, 'test/e2e/stack/prometheus.sh'), 'install'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  promtoolBin = path.join(bin, 'promtool');
  dir = mkdtempSync(path.join(tmpdir(), 'ymera-promtool-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('promtool check rules', () => {
  it('accepts every rule file the generators produce', async () => {
    const files = everyRuleFile();
    expect(files.length).toBeGreaterThanOrEqual(15);
    for (const [i, file] of files.entries()) {
      const p = path.join(dir, `check-${i}.rules.yml`);
      writeFileSync(p, file.text);
      const r = await promtool(['check', 'rules', p]);
      expect(r.code, `${file.what}:\n${r.output}\n${file.text}`).toBe(0);
      expect(r.output).toContain(`SUCCESS: ${file.rules} rules found`);
    }
  });

  it('rejects a broken rule file (the check can fail)', async () => {
    const p = path.join(dir, 'broken.rules.yml');
    writeFileSync(p, renderRuleFile([{ name: 'g', rules: [{ alert: 'A', expr: 'sum(rate(x[5m])' }] }]));
    const r = await promtool(['check', 'rules', p]);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/unclosed left parenthesis|parse error/);
  });
});

// --- promtool test rules -------------------------------------------------------

type Labels = Record<string, string>;

interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts: { exp_labels: Labels; exp_annotations?: Labels }[];
}

/** An expected alert of a generated rule: its own labels and annotations plus the series' labels. */
function expected(groups: RuleGroup[], alert: string, match: Labels, seriesLabels: Labels) {
  const rule = groups
    .flatMap((g) => g.rules.filter(isAlertingRule))
    .find(
      (r): r is AlertingRule =>
        r.alert === alert && Object.entries(match).every(([k, v]) => r.labels?.[k] === v),
    );
  if (!rule) throw new Error(`no ${alert} rule with ${JSON.stringify(match)}`);
  return {
    exp_labels: { ...rule.labels, ...seriesLabels },
    exp_annotations: { ...rule.annotations },
  };
}

/** Writes the rules and a promtool unit-test file beside them and runs `promtool test rules`. */
async function testRules(
  name: string,
  groups: RuleGroup[],
  tests: {
    interval?: string;
    input_series: { series: string; values: string }[];
    alert_rule_test?: AlertTest[];
    promql_expr_test?: unknown[];
  }[],
): Promise<Run> {
  writeFileSync(path.join(dir, `${name}.rules.yml`), renderRuleFile(groups));
  const testFile = path.join(dir, `${name}.test.yml`);
  writeFileSync(
    testFile,
    stringify(
      {
        rule_files: [`${name}.rules.yml`],
        evaluation_interval: '1m',
        tests: tests.map((t) => ({ interval: '1m', ...t })),
      },
      { lineWidth: 0 },
    ),
  );
  return promtool(['test', 'rules', testFile]);
}

const reqs = (svc: string, code: string, values: string, ns = 'ml', revision = 'r1') => ({
  series: `ymera_inference_requests_total{namespace="${ns}",inferenceservice="${svc}",revision="${revision}",code="${code}"}`,
  values,
});

describe('promtool test rules: the InferenceService error-budget burn alerts', () => {
  // 99.9%: page above 1.44% (1h & 5m) or 0.6% (6h & 30m); ticket above 0.3% (1d & 2h) or 0.1% (3d & 6h)
  const groups = inferenceServiceRuleGroups(isvc('fraud', { availabilityPercent: 99.9 }));
  const scope = { namespace: 'ml', inferenceservice: 'fraud' };
  const page = expected(groups, ERROR_BUDGET_ALERT, { severity: 'critical' }, scope);
  const ticket = expected(groups, ERROR_BUDGET_ALERT, { severity: 'warning' }, scope);

  it('pages and opens a ticket at 2% errors (20x burn); records the ratio; ignores other services', async () => {
    const r = await testRules('burn-fast', groups, [
      {
        input_series: [
          // 98 answered and 2 failed requests a minute, over two revisions
          reqs('fraud', '200', '0+50x180'),
          reqs('fraud', '500', '0+1x180'),
          reqs('fraud', '200', '0+38x180', 'ml', 'r2'),
          reqs('fraud', '503', '0+1x180', 'ml', 'r2'),
          reqs('fraud', '404', '0+10x180'),
          // the same name in another namespace and another service fail all the time
          reqs('fraud', '500', '0+100x180', 'other-ns'),
          reqs('other', '500', '0+100x180'),
        ],
        promql_expr_test: [
          {
            expr: 'ymera:inference_request_errors:ratio_rate1h',
            eval_time: '150m',
            exp_samples: [
              {
                labels:
                  'ymera:inference_request_errors:ratio_rate1h{namespace="ml",inferenceservice="fraud"}',
                value: 0.02,
              },
            ],
          },
        ],
        alert_rule_test: [
          // at 1m the 1h ratio is already high, but `for: 2m` has not passed
          { eval_time: '1m', alertname: ERROR_BUDGET_ALERT, exp_alerts: [] },
          { eval_time: '150m', alertname: ERROR_BUDGET_ALERT, exp_alerts: [page, ticket] },
        ],
      },
    ]);
    expect(r.code, r.output).toBe(0);
  });

  it('opens only a ticket at 0.5% errors (5x burn: below the 6x page threshold)', async () => {
    const r = await testRules('burn-slow', groups, [
      {
        input_series: [
          reqs('fraud', '200', '0+179x240'),
          reqs('fraud', '500', '0+1x240'),
          // 10% client errors: counted as failures they would page
          reqs('fraud', '429', '0+20x240'),
        ],
        alert_rule_test: [
          { eval_time: '10m', alertname: ERROR_BUDGET_ALERT, exp_alerts: [] }, // ticket's for: 15m
          { eval_time: '200m', alertname: ERROR_BUDGET_ALERT, exp_alerts: [ticket] },
        ],
      },
    ]);
    expect(r.code, r.output).toBe(0);
  });

  it('stops paging once the short window is clean, though the long window still burns', async () => {
    const r = await testRules('burn-reset', groups, [
      {
        // 10% errors for 30 minutes, then none
        input_series: [reqs('fraud', '200', '0+90x30 2800+100x60'), reqs('fraud', '500', '0+10x30 300+0x60')],
        promql_expr_test: [
          {
            // the long window still burns, the short one is clean
            expr: 'ymera:inference_request_errors:ratio_rate1h > bool 0.0144',
            eval_time: '65m',
            exp_samples: [{ labels: '{namespace="ml",inferenceservice="fraud"}', value: 1 }],
          },
          {
            expr: 'ymera:inference_request_errors:ratio_rate5m',
            eval_time: '65m',
            exp_samples: [
              {
                labels:
                  'ymera:inference_request_errors:ratio_rate5m{namespace="ml",inferenceservice="fraud"}',
                value: 0,
              },
            ],
          },
        ],
        alert_rule_test: [
          { eval_time: '25m', alertname: ERROR_BUDGET_ALERT, exp_alerts: [page, ticket] },
          { eval_time: '65m', alertname: ERROR_BUDGET_ALERT, exp_alerts: [ticket] },
        ],
      },
    ]);
    expect(r.code, r.output).toBe(0);
  });

  it('stays quiet without traffic and at 0.05% errors (half the budget)', async () => {
    const r = await testRules('burn-none', groups, [
      {
        input_series: [reqs('fraud', '200', '0x300'), reqs('fraud', '500', '0x300')],
        alert_rule_test: [{ eval_time: '290m', alertname: ERROR_BUDGET_ALERT, exp_alerts: [] }],
      },
      {
        input_series: [reqs('fraud', '200', '0+1999x300'), reqs('fraud', '500', '0+1x300')],
        alert_rule_test: [{ eval_time: '290m', alertname: ERROR_BUDGET_ALERT, exp_alerts: [] }],
      },
    ]);
    expect(r.code, r.output).toBe(0);
  });

  it('fails when an expectation is wrong (the harness can fail)', async () => {
    const r = await testRules('burn-wrong', groups, [
      {
        input_series: [reqs('fraud', '200', '0+199x240'), reqs('fraud', '500', '0+1x240')],
        alert_rule_test: [{ eval_time: '200m', alertname: ERROR_BUDGET_ALERT, exp_alerts: [page, ticket] }],
      },
    ]);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('FAILED');
  });
});

describe('promtool test rules: latency, pipelines and the operator', () => {
  it('alerts when p95 latency exceeds the objective, not when it meets it', async () => {
    const groups = [
      ...inferenceServiceRuleGroups(isvc('slow', { p95LatencyMs: 100 })),
      ...inferenceServiceRuleGroups(isvc('fast', { p95LatencyMs: 100 })),
    ];
    const bucket = (svc: string, le: string, values: string) => ({
      series: `ymera_inference_request_duration_seconds_bucket{namespace="ml",inferenceservice="${svc}",revision="r1",le="${le}"}`,
      values,
    });
    const r = await testRules('latency', groups, [
      {
        input_series: [
          // slow: 20% of requests take 0.1–0.25s, so p95 ≈ 0.21s
          bucket('slow', '0.05', '0+50x60'),
          bucket('slow', '0.1', '0+80x60'),
          bucket('slow', '0.25', '0+100x60'),
          bucket('slow', '+Inf', '0+100x60'),
          // fast: 96% under 50ms
          bucket('fast', '0.05', '0+96x60'),
          bucket('fast', '0.1', '0+100x60'),
          bucket('fast', '0.25', '0+100x60'),
          bucket('fast', '+Inf', '0+100x60'),
        ],
        alert_rule_test: [
          { eval_time: '5m', alertname: LATENCY_ALERT, exp_alerts: [] }, // for: 10m
          {
            eval_time: '30m',
            alertname: LATENCY_ALERT,
            exp_alerts: [expected(groups, LATENCY_ALERT, {}, { namespace: 'ml', inferenceservice: 'slow' })],
          },
        ],
      },
    ]);
    expect(r.code, r.output).toBe(0);
  });

  it('alerts on a failed run for an hour, a run past its deadline, and a missed schedule', async () => {
    // one step: 600s timeout + 600s grace = a 1200s deadline
    const groups = learningPipelineRuleGroups(
      lpipe('train', [{ name: 'a', timeoutSeconds: 600 }], '@hourly'),
    );
    const scope = { namespace: 'ml', learningpipeline: 'train' };
    const series = (metric: string, values: string, extra = '', name = 'train') => ({
      series: `${metric}{namespace="ml",learningpipeline="${name}"${extra}}`,
      values,
    });
    const r = await testRules('pipeline', groups, [
      {
        input_series: [
          series('ymera_pipeline_run_failed_total', '0x5 1x120'), // a failure at 6m
          series('ymera_pipeline_run_failed_total', '0+1x120', '', 'other'), // another pipeline keeps failing
          series('ymera_pipeline_run_active_seconds', '0+60x60', ',run="r1"'), // a run started at 0
          series('ymera_pipeline_schedule_missed_total', '0x30 1x90'), // a miss at 31m
        ],
        alert_rule_test: [
          { eval_time: '3m', alertname: RUN_FAILED_ALERT, exp_alerts: [] },
          {
            eval_time: '10m',
            alertname: RUN_FAILED_ALERT,
            exp_alerts: [expected(groups, RUN_FAILED_ALERT, {}, scope)],
          },
          { eval_time: '70m', alertname: RUN_FAILED_ALERT, exp_alerts: [] }, // over an hour ago
          { eval_time: '19m', alertname: RUN_STUCK_ALERT, exp_alerts: [] },
          {
            eval_time: '25m',
            alertname: RUN_STUCK_ALERT,
            exp_alerts: [expected(groups, RUN_STUCK_ALERT, {}, { ...scope, run: 'r1' })],
          },
          { eval_time: '30m', alertname: SCHEDULE_MISSED_ALERT, exp_alerts: [] },
          {
            eval_time: '40m',
            alertname: SCHEDULE_MISSED_ALERT,
            exp_alerts: [expected(groups, SCHEDULE_MISSED_ALERT, {}, scope)],
          },
        ],
      },
    ]);
    expect(r.code, r.output).toBe(0);
  });

  it('alerts when a BackupPolicy completed no backup within twice its interval, never completed one, or failed its drill', async () => {
    // every 5 minutes: late after 10 minutes
    const groups = backupPolicyRuleGroups(bpol('nightly', { schedule: '*/5 * * * *', drill: {} }));
    const scope = { namespace: 'ml', backuppolicy: 'nightly' };
    const series = (metric: string, values: string, name = 'nightly') => ({
      series: `${metric}{namespace="ml",backuppolicy="${name}"}`,
      values,
    });
    const r = await testRules('backuppolicy', groups, [
      {
        input_series: [
          // backups complete at 0, 5m and 10m, then stop (the gauge keeps the last time, 600s)
          series('ymera_backup_last_success_timestamp_seconds', '0x4 300x4 600x40'),
          // another policy stopped long ago: not this policy's alert
          series('ymera_backup_last_success_timestamp_seconds', '0x50', 'other'),
          // the drill passed, then failed at 10m
          series('ymera_backup_drill_passed', '1x9 0x40'),
          series('ymera_backup_drill_passed', '0x50', 'other'),
        ],
        alert_rule_test: [
          { eval_time: '19m', alertname: BACKUP_MISSING_ALERT, exp_alerts: [] },
          {
            eval_time: '21m',
            alertname: BACKUP_MISSING_ALERT,
            exp_alerts: [expected(groups, BACKUP_MISSING_ALERT, {}, scope)],
          },
          { eval_time: '40m', alertname: BACKUP_NEVER_COMPLETED_ALERT, exp_alerts: [] },
          { eval_time: '5m', alertname: DRILL_FAILED_ALERT, exp_alerts: [] },
          {
            eval_time: '12m',
            alertname: DRILL_FAILED_ALERT,
            exp_alerts: [expected(groups, DRILL_FAILED_ALERT, {}, scope)],
          },
        ],
      },
      {
        // a policy that never completed a backup: only the other one exports the gauge
        input_series: [series('ymera_backup_last_success_timestamp_seconds', '0+60x50', 'other')],
        alert_rule_test: [
          { eval_time: '9m', alertname: BACKUP_NEVER_COMPLETED_ALERT, exp_alerts: [] }, // for: 10m
          {
            eval_time: '15m',
            alertname: BACKUP_NEVER_COMPLETED_ALERT,
            exp_alerts: [expected(groups, BACKUP_NEVER_COMPLETED_ALERT, {}, scope)],
          },
          { eval_time: '15m', alertname: DRILL_FAILED_ALERT, exp_alerts: [] }, // no drill yet
        ],
      },
    ]);
    expect(r.code, r.output).toBe(0);
  });

  it('alerts on a MaintenancePlan node at risk for long, a stuck maintenance, the mass flag and a predictor not ready', async () => {
    // interval 5m: at risk for 1h, not ready for 15m; drain 300s + 600s margin: stuck after 15m
    const groups = maintenancePlanRuleGroups({
      metadata: { name: 'gpu' },
      spec: {
        mode: 'Act',
        predictor: { threshold: 0.8, interval: '5m', consecutive: 3 },
        actions: [
          { type: 'Cordon' },
          { type: 'Drain', drain: { timeoutSeconds: 300 } },
          { type: 'Uncordon' },
        ],
      },
    });
    const series = (metric: string, values: string, node?: string, plan = 'gpu') => ({
      series: `${metric}{maintenanceplan="${plan}"${node ? `,node="${node}"` : ''}}`,
      values,
    });
    const r = await testRules('maintenanceplan', groups, [
      {
        input_series: [
          series('ymera_node_failure_risk', '0.9x120', 'n1'),
          series('ymera_node_failure_risk', '0.5x120', 'n2'),
          series('ymera_node_failure_risk', '0.99x120', 'n3', 'other'), // another plan's node
          // a maintenance of n1 started at 0 and never ends
          series('ymera_maintenance_started_timestamp_seconds', '0x120', 'n1'),
          series('ymera_maintenanceplan_mass_flag', '0x9 1x110'), // on from 10m
          series('ymera_maintenanceplan_mass_flag', '1x120', undefined, 'other'),
          series('ymera_maintenanceplan_predictor_ready', '1x29 0x90'), // not ready from 30m
        ],
        alert_rule_test: [
          { eval_time: '50m', alertname: NODE_RISK_HIGH_ALERT, exp_alerts: [] },
          {
            eval_time: '70m',
            alertname: NODE_RISK_HIGH_ALERT,
            exp_alerts: [expected(groups, NODE_RISK_HIGH_ALERT, {}, { maintenanceplan: 'gpu', node: 'n1' })],
          },
          { eval_time: '14m', alertname: MAINTENANCE_STUCK_ALERT, exp_alerts: [] },
          {
            eval_time: '16m',
            alertname: MAINTENANCE_STUCK_ALERT,
            exp_alerts: [
              expected(groups, MAINTENANCE_STUCK_ALERT, {}, { maintenanceplan: 'gpu', node: 'n1' }),
            ],
          },
          { eval_time: '12m', alertname: MASS_FLAG_ALERT, exp_alerts: [] },
          {
            eval_time: '20m',
            alertname: MASS_FLAG_ALERT,
            exp_alerts: [expected(groups, MASS_FLAG_ALERT, {}, { maintenanceplan: 'gpu' })],
          },
          { eval_time: '40m', alertname: PREDICTOR_NOT_READY_ALERT, exp_alerts: [] },
          {
            eval_time: '50m',
            alertname: PREDICTOR_NOT_READY_ALERT,
            exp_alerts: [expected(groups, PREDICTOR_NOT_READY_ALERT, {}, { maintenanceplan: 'gpu' })],
          },
        ],
      },
      {
        // the maintenance ended at 5m (its series is gone): never stuck
        input_series: [series('ymera_maintenance_started_timestamp_seconds', '0x5', 'n1')],
        alert_rule_test: [{ eval_time: '30m', alertname: MAINTENANCE_STUCK_ALERT, exp_alerts: [] }],
      },
    ]);
    expect(r.code, r.output).toBe(0);
  });

  it('alerts on reconcile errors, queue backlog, no leader and a missing operator', async () => {
    const groups = operatorRuleGroups({ namespace: 'ymera-system' });
    const ns = 'namespace="ymera-system"';
    const r = await testRules('operator', groups, [
      {
        input_series: [
          {
            series: `ymera_reconcile_total{${ns},pod="a",controller="inferenceservice",result="success"}`,
            values: '0+5x60',
          },
          {
            series: `ymera_reconcile_total{${ns},pod="a",controller="inferenceservice",result="error"}`,
            values: '0+5x60',
          },
          {
            series: `ymera_reconcile_errors_total{${ns},pod="a",controller="inferenceservice"}`,
            values: '0+5x60',
          },
          // a healthy controller: 1 error in 100
          {
            series: `ymera_reconcile_total{${ns},pod="a",controller="learningpipeline",result="success"}`,
            values: '0+99x60',
          },
          {
            series: `ymera_reconcile_total{${ns},pod="a",controller="learningpipeline",result="error"}`,
            values: '0+1x60',
          },
          {
            series: `ymera_reconcile_errors_total{${ns},pod="a",controller="learningpipeline"}`,
            values: '0+1x60',
          },
          { series: `ymera_workqueue_depth{${ns},pod="a",name="inferenceservice"}`, values: '500x60' },
          { series: `ymera_workqueue_depth{${ns},pod="a",name="learningpipeline"}`, values: '3x60' },
          { series: `ymera_leader_is_leader{${ns},pod="a"}`, values: '0x60' },
          { series: `ymera_leader_is_leader{${ns},pod="b"}`, values: '0x60' },
        ],
        alert_rule_test: [
          {
            eval_time: '30m',
            alertname: RECONCILE_ERRORS_ALERT,
            exp_alerts: [
              expected(
                groups,
                RECONCILE_ERRORS_ALERT,
                {},
                { namespace: 'ymera-system', controller: 'inferenceservice' },
              ),
            ],
          },
          {
            eval_time: '30m',
            alertname: WORKQUEUE_BACKLOG_ALERT,
            exp_alerts: [
              expected(
                groups,
                WORKQUEUE_BACKLOG_ALERT,
                {},
                { namespace: 'ymera-system', name: 'inferenceservice' },
              ),
            ],
          },
          {
            eval_time: '30m',
            alertname: NO_LEADER_ALERT,
            exp_alerts: [expected(groups, NO_LEADER_ALERT, {}, { namespace: 'ymera-system' })],
          },
          { eval_time: '30m', alertname: ABSENT_ALERT, exp_alerts: [] },
        ],
      },
      {
        // an operator elsewhere leads; ours exports nothing
        input_series: [{ series: 'ymera_leader_is_leader{namespace="elsewhere",pod="a"}', values: '1x60' }],
        alert_rule_test: [
          { eval_time: '3m', alertname: ABSENT_ALERT, exp_alerts: [] },
          {
            eval_time: '10m',
            alertname: ABSENT_ALERT,
            exp_alerts: [expected(groups, ABSENT_ALERT, {}, { namespace: 'ymera-system' })],
          },
          { eval_time: '10m', alertname: NO_LEADER_ALERT, exp_alerts: [] },
        ],
      },
    ]);
    expect(r.code, r.output).toBe(0);
  });
});
