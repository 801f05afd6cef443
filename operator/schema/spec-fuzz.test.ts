// Property-based tests over every kind: a spec drawn from the kind's schema or
// mutated from its config/samples/ sample is either rejected (by the OpenAPI
// check admission makes, or by the controller-side validator) with a field
// path and a message, or it passes and the kind's pure reconcile functions
// (desired children, plans, state steps) run on it without throwing.
// Seeded, so a failure reproduces; counterexamples found here are pinned as
// plain unit tests beside the code they broke.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { planBackup, requeueAfterMs } from '../../controllers/backuppolicy/plan.ts';
import type { BackupPolicySpecDefaulted } from '../../controllers/backuppolicy/schema.ts';
import { declaredTopics, desiredChildren } from '../../controllers/inferenceservice/desired.ts';
import type { InferenceServiceObject } from '../../controllers/inferenceservice/desired.ts';
import { analysisSettings } from '../../controllers/inferenceservice/analysis.ts';
import type { LearningPipelineObject } from '../../controllers/learningpipeline/jobs.ts';
import { stepJob, stepJobName } from '../../controllers/learningpipeline/jobs.ts';
import { planRequests } from '../../controllers/learningpipeline/requests.ts';
import { advanceRun, newRun, topologicalOrder } from '../../controllers/learningpipeline/runs.ts';
import type { LearningPipelineSpecDefaulted } from '../../controllers/learningpipeline/schema.ts';
import { planRuleChildren } from '../../controllers/maintenanceplan/alerts.ts';
import { planMaintenance, windowState } from '../../controllers/maintenanceplan/planner.ts';
import type { MaintenancePlanSpecDefaulted } from '../../controllers/maintenanceplan/schema.ts';
import { selectNodes } from '../../controllers/maintenanceplan/status.ts';
import type { OptimizationLoopSpecDefaulted } from '../../controllers/optimizationloop/schema.ts';
import { step } from '../../controllers/optimizationloop/state.ts';
import type { Status as LoopStatus } from '../../controllers/optimizationloop/state.ts';
import { constraintResults } from '../../controllers/optimizationloop/verdict.ts';
import { kindSelected } from '../../controllers/restore/plan.ts';
import type { RestoreSpecDefaulted } from '../../controllers/restore/schema.ts';
import { tenancyRefusal } from '../../controllers/restore/tenancy.ts';
import type { KindDefinition } from './crd.ts';
import { fromSchema, mutated } from './fuzz.ts';
import type { Json } from './fuzz.ts';
import { kinds, validateSpec } from './kinds.ts';
import { applyDefaults, validateValue } from './openapi.ts';
import type { FieldError } from './validation.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const NOW = new Date('2026-12-07T10:30:00Z');
const rules = { mode: 'ConfigMap' as const, labels: {} };
const meta = (name: string) => ({ name, namespace: 'fuzz', uid: 'u-1', generation: 1 });

/** The kind's pure reconcile logic on a spec that passed validation; throws on a bug. */
const reconcilers: Record<string, (spec: unknown) => void> = {
  InferenceService(spec) {
    const obj = {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      metadata: meta('svc'),
      spec,
    } as InferenceServiceObject;
    desiredChildren(obj, rules, undefined, ['127.0.0.1:9092'], true);
    declaredTopics(obj);
    analysisSettings(obj.spec);
  },
  LearningPipeline(raw) {
    const spec = raw as LearningPipelineSpecDefaulted;
    const obj = {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'LearningPipeline',
      metadata: meta('lp'),
      spec,
    } as LearningPipelineObject;
    topologicalOrder(spec.steps);
    planRequests({
      uid: 'u-1',
      spec,
      annotations: { 'ymera.io/run': 'now' },
      handled: undefined,
      lastScheduleTime: undefined,
      createdAt: new Date(NOW.getTime() - 86_400_000),
      now: NOW,
      events: [],
      runs: [],
    });
    const run = newRun('r1', 'Manual', 'fuzz', spec.steps, NOW);
    const result = advanceRun(spec.steps, run, [], NOW, (s, a) => stepJobName('lp', 'r1', s, a));
    for (const start of result.start) {
      const s = spec.steps.find((x) => x.name === start.step);
      if (s) stepJob(obj, { runId: 'r1', step: s, attempt: start.attempt }, { kafkaBrokers: ['k:9092'] });
    }
  },
  MaintenancePlan(raw) {
    const spec = raw as MaintenancePlanSpecDefaulted;
    const nodes = [
      { name: 'n1', labels: { 'ymera.io/gpu': 'true' } },
      { name: 'n2', labels: {} },
    ];
    const selected = selectNodes(nodes as Parameters<typeof selectNodes>[0], spec.nodeSelector);
    windowState(spec.window, NOW);
    planMaintenance({
      now: NOW,
      selected,
      atRisk: selected.map((node) => ({ node, risk: 0.9 })),
      massFlag: false,
      window: spec.window,
      maxUnavailable: spec.maxUnavailable,
      cooldownMinutes: spec.cooldownMinutes ?? 1440,
      approval: spec.approval ?? 'Manual',
      approveAnnotation: undefined,
      suspend: spec.suspend ?? false,
      actions: (spec.actions ?? [{ type: 'Cordon' }]).map((a) => a.type),
      scheduled: [],
      history: [],
    });
    planRuleChildren(
      { apiVersion: 'ymera.io/v1alpha1', kind: 'MaintenancePlan', metadata: meta('mp'), spec } as Parameters<
        typeof planRuleChildren
      >[0],
      'ymera-system',
      rules,
    );
  },
  OptimizationLoop(raw) {
    const spec = raw as OptimizationLoopSpecDefaulted;
    const target = Object.fromEntries(spec.parameters.map((p) => [p.path, p.min ?? p.values?.[0] ?? 0]));
    let status: LoopStatus = {};
    let now = NOW;
    for (let i = 0; i < 4; i++) {
      const obs = { now, target, live: true, canary: false, seed: 7 };
      let r = step(spec, status, obs);
      if (r.measure) {
        const measurement = { objective: 100 + i, samples: 1000, constraints: constraintResults(spec, {}) };
        r = step(spec, status, { ...obs, measurement });
      }
      status = r.status;
      now = new Date(now.getTime() + (r.requeueAfterMs ?? 60_000));
    }
  },
  BackupPolicy(raw) {
    const spec = raw as BackupPolicySpecDefaulted;
    const plan = planBackup({
      schedule: spec.schedule,
      timeZone: spec.timeZone,
      suspend: spec.suspend,
      since: new Date(NOW.getTime() - 3 * 86_400_000),
      now: NOW,
    });
    requeueAfterMs(plan, NOW);
  },
  Restore(raw) {
    const spec = raw as RestoreSpecDefaulted;
    tenancyRefusal({ restoreNamespace: 'fuzz', targetNamespace: spec.targetNamespace });
    kindSelected(spec.kinds, 'ymera.io/v1alpha1', 'InferenceService');
  },
};

function sampleSpec(def: KindDefinition): Json {
  const doc = parse(readFileSync(join(root, 'config/samples', `${def.kind.toLowerCase()}.yaml`), 'utf8')) as {
    spec: Json;
  };
  return doc.spec;
}

function expectNamed(errors: readonly FieldError[]): void {
  for (const e of errors) {
    expect(e.field, JSON.stringify(e)).toMatch(/^spec(\.|\[|$)/);
    expect(e.message.trim(), JSON.stringify(e)).not.toBe('');
  }
}

/** Admission (OpenAPI; CEL is not evaluated offline), then the validator, then the reconcile logic. */
function checkSpec(def: KindDefinition, spec: unknown): 'admission' | 'validator' | 'reconciled' {
  const admission = validateValue(def.spec.json, spec, 'spec');
  if (admission.length > 0) {
    expectNamed(admission);
    return 'admission';
  }
  const defaulted = applyDefaults(def.spec, spec as never) as unknown;
  const errors = validateSpec(def.kind, defaulted, 'fuzz');
  if (errors.length > 0) {
    expectNamed(errors);
    return 'validator';
  }
  reconcilers[def.kind]!(defaulted);
  return 'reconciled';
}

// a fixed seed per property: deterministic in CI, and a failure prints the seed and the shrunk spec
const SEED = 18;

describe.each(kinds.map((k) => [k.kind, k] as const))('%s spec fuzzing', (_kind, def) => {
  it('mutated samples are rejected with a field path or reconcile without throwing', () => {
    const sample = sampleSpec(def);
    expect(checkSpec(def, sample)).toBe('reconciled');
    const outcomes = { admission: 0, validator: 0, reconciled: 0 };
    fc.assert(
      fc.property(mutated(sample, {}, def.spec.json), (spec) => {
        outcomes[checkSpec(def, spec)]++;
      }),
      { seed: SEED, numRuns: 200 },
    );
    // the mutations reach every stage, so the property says something about each
    expect(outcomes.admission).toBeGreaterThan(0);
    expect(outcomes.reconciled).toBeGreaterThan(0);
  }, 20_000);

  it('specs drawn from the schema are rejected with a field path or reconcile without throwing', () => {
    const outcomes = { admission: 0, validator: 0, reconciled: 0 };
    fc.assert(
      fc.property(
        fc.oneof(fromSchema(def.spec.json), fromSchema(def.spec.json, { strict: true })),
        (spec) => {
          outcomes[checkSpec(def, spec)]++;
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
    expect(outcomes.admission + outcomes.validator + outcomes.reconciled).toBe(150);
    // past admission: the controller-side validator sees them (every kind but Restore has one that judges)
    expect(outcomes.validator + outcomes.reconciled).toBeGreaterThan(0);
  }, 20_000);
});
