import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isAlertingRule, validateRuleGroups } from '../rules.ts';
import type { LearningPipelineLike } from './learningpipeline.ts';
import {
  learningPipelineRuleGroups,
  RUN_FAILED_ALERT,
  RUN_STUCK_ALERT,
  runDeadlineSeconds,
  SCHEDULE_MISSED_ALERT,
  stepDeadlineSeconds,
} from './learningpipeline.ts';
import { allExprs, ymeraSelectors } from './test-support.ts';

type Step = LearningPipelineLike['spec']['steps'][number];
const pipe = (steps: Step[], schedule?: string): LearningPipelineLike => ({
  metadata: { name: 'train', namespace: 'ml' },
  spec: { steps, ...(schedule ? { schedule } : {}) },
});

describe('stepDeadlineSeconds', () => {
  it('is the timeout when the step does not retry', () => {
    expect(stepDeadlineSeconds({ name: 'a', timeoutSeconds: 600 })).toBe(600);
    expect(stepDeadlineSeconds({ name: 'a', timeoutSeconds: 600, retry: { limit: 0 } })).toBe(600);
  });

  it('adds every attempt and the exponential backoff waits, capped', () => {
    // 3 attempts of 100s, waits 60 and 120
    expect(
      stepDeadlineSeconds({
        name: 'a',
        timeoutSeconds: 100,
        retry: { limit: 2, backoff: { durationSeconds: 60, factor: 2, maxDurationSeconds: 600 } },
      }),
    ).toBe(480);
    // waits 100, 300, 300 (capped at 300)
    expect(
      stepDeadlineSeconds({
        name: 'a',
        timeoutSeconds: 10,
        retry: { limit: 3, backoff: { durationSeconds: 100, factor: 3, maxDurationSeconds: 300 } },
      }),
    ).toBe(4 * 10 + 100 + 300 + 300);
    // schema defaults when backoff is left out: 10s, then 20s
    expect(stepDeadlineSeconds({ name: 'a', timeoutSeconds: 10, retry: { limit: 2 } })).toBe(30 + 10 + 20);
  });

  it('is unknown without a timeout', () => {
    expect(stepDeadlineSeconds({ name: 'a' })).toBeUndefined();
  });
});

describe('runDeadlineSeconds', () => {
  it('takes the longest dependsOn path', () => {
    // a(100) → b(500) → d(10) and a → c(50) → d: the path through b is longest
    const steps: Step[] = [
      { name: 'd', timeoutSeconds: 10, dependsOn: ['b', 'c'] },
      { name: 'a', timeoutSeconds: 100 },
      { name: 'b', timeoutSeconds: 500, dependsOn: ['a'] },
      { name: 'c', timeoutSeconds: 50, dependsOn: ['a'] },
      { name: 'lonely', timeoutSeconds: 400 },
    ];
    expect(runDeadlineSeconds(steps)).toBe(610);
  });

  it('is unknown when a step has no timeout, or the graph is broken', () => {
    expect(
      runDeadlineSeconds([
        { name: 'a', timeoutSeconds: 1 },
        { name: 'b', dependsOn: ['a'] },
      ]),
    ).toBeUndefined();
    expect(
      runDeadlineSeconds([
        { name: 'a', timeoutSeconds: 1, dependsOn: ['b'] },
        { name: 'b', timeoutSeconds: 1, dependsOn: ['a'] },
      ]),
    ).toBeUndefined();
    expect(runDeadlineSeconds([{ name: 'a', timeoutSeconds: 1, dependsOn: ['ghost'] }])).toBeUndefined();
  });
});

describe('learningPipelineRuleGroups', () => {
  it('alerts on failed and stuck runs, scoped to the pipeline', () => {
    const groups = learningPipelineRuleGroups(pipe([{ name: 'a', timeoutSeconds: 600 }]));
    const rules = groups[0]?.rules.filter(isAlertingRule) ?? [];
    expect(rules.map((r) => r.alert)).toEqual([RUN_FAILED_ALERT, RUN_STUCK_ALERT]);
    expect(rules[0]?.expr).toBe(
      'sum by (namespace, learningpipeline) (increase(ymera_pipeline_run_failed_total{learningpipeline="train",namespace="ml"}[1h])) > 0',
    );
    // 600s of timeout + 600s of grace
    expect(rules[1]?.expr).toBe(
      'max by (namespace, learningpipeline, run) (ymera_pipeline_run_active_seconds{learningpipeline="train",namespace="ml"}) > 1200',
    );
    expect(rules[1]?.annotations?.description).toContain('more than 20m');
  });

  it('falls back to the default deadline when a step has no timeout', () => {
    const rules =
      learningPipelineRuleGroups(pipe([{ name: 'a' }]), { defaultDeadlineSeconds: 7200 })[0]?.rules ?? [];
    expect(rules.find((r) => isAlertingRule(r) && r.alert === RUN_STUCK_ALERT)?.expr).toMatch(/ > 7200$/);
  });

  it('alerts on missed schedules only when there is a schedule', () => {
    const names = (p: LearningPipelineLike) =>
      learningPipelineRuleGroups(p, { windowSeconds: 7200 })[0]?.rules.map((r) =>
        isAlertingRule(r) ? r.alert : '',
      );
    expect(names(pipe([{ name: 'a' }]))).not.toContain(SCHEDULE_MISSED_ALERT);
    const scheduled = learningPipelineRuleGroups(pipe([{ name: 'a' }], '@daily'), { windowSeconds: 7200 });
    const missed = scheduled[0]?.rules.find((r) => isAlertingRule(r) && r.alert === SCHEDULE_MISSED_ALERT);
    expect(missed?.expr).toBe(
      'sum by (namespace, learningpipeline) (increase(ymera_pipeline_schedule_missed_total{learningpipeline="train",namespace="ml"}[2h])) > 0',
    );
  });

  it('turns the sample LearningPipeline into valid rules with the deadline of its critical path', () => {
    const sample = parse(
      readFileSync(new URL('../../../config/samples/learningpipeline.yaml', import.meta.url), 'utf8'),
    );
    const p = sample as LearningPipelineLike;
    // prepare 3600 → train: a sweep of 6 trials, 2 at a time, 3 × 14400 → evaluate 1800
    expect(runDeadlineSeconds(p.spec.steps)).toBe(3600 + 43200 + 1800);
    const groups = learningPipelineRuleGroups(p);
    expect(validateRuleGroups(groups)).toEqual([]);
    expect(groups[0]?.rules.map((r) => (isAlertingRule(r) ? r.alert : ''))).toEqual([
      RUN_FAILED_ALERT,
      RUN_STUCK_ALERT,
      SCHEDULE_MISSED_ALERT,
    ]);
    const selectors = allExprs(groups).flatMap(ymeraSelectors);
    expect(selectors.map((s) => s.metric)).toEqual([
      'ymera_pipeline_run_failed_total',
      'ymera_pipeline_run_active_seconds',
      'ymera_pipeline_schedule_missed_total',
    ]);
    for (const sel of selectors) {
      expect(sel.labels).toMatchObject({
        namespace: 'ymera-demo',
        learningpipeline: 'fraud-detector-training',
      });
    }
  });
});
