// The Argo CD health cases (resource_customizations/ymera.io/<Kind>/): each
// object's status is built by the kind's real status function, so the
// testdata and health_test.yaml follow the TypeScript status code. The
// expected message is read from the condition that decides the health, not
// written by hand. cases.test.ts fails when the committed files are stale;
// `npm run health-fixtures` rewrites them; tools/argo-health runs the Lua
// scripts on them with Argo CD's own engine (test/e2e/argo-health.e2e.test.ts).
import { stringify } from 'yaml';
import type { Condition } from '../../operator/conditions.ts';
import { backupPolicyStatus } from '../backuppolicy/status.ts';
import type { StatusInput as BackupInput } from '../backuppolicy/status.ts';
import type { InferenceServiceObject } from '../inferenceservice/desired.ts';
import { servingSpecOf } from '../inferenceservice/desired.ts';
import type { StatusObservation } from '../inferenceservice/status.ts';
import { inferenceServiceStatus } from '../inferenceservice/status.ts';
import type { LearningPipelineRun } from '../learningpipeline/schema.ts';
import { pipelineStatus } from '../learningpipeline/status.ts';
import type { PipelineObservation } from '../learningpipeline/status.ts';
import type { NodePrediction } from '../maintenanceplan/predict.ts';
import type { MaintenancePlanSpec } from '../maintenanceplan/schema.ts';
import { advanceRuns, evaluatedStatus, failedStatus } from '../maintenanceplan/status.ts';
import type { Status as LoopState } from '../optimizationloop/state.ts';
import { loopStatus } from '../optimizationloop/status.ts';
import type { Failure } from '../optimizationloop/status.ts';
import { restoreStatus } from '../restore/status.ts';
import type { RestoreStatusInput } from '../restore/status.ts';
import { STATUS_DEFAULT } from '../../operator/schema/crd.ts';

export const KINDS = [
  'InferenceService',
  'LearningPipeline',
  'MaintenancePlan',
  'OptimizationLoop',
  'BackupPolicy',
  'Restore',
] as const;
export type Kind = (typeof KINDS)[number];
export type HealthCode = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended';

type Status = { conditions?: readonly { type: string; message?: string; reason?: string }[] } & object;

export interface HealthCase {
  kind: Kind;
  /** testdata/<file>.yaml */
  file: string;
  object: Record<string, unknown>;
  expected: { status: HealthCode; message: string };
}

const now = new Date('2026-12-05T02:00:00Z');
const GENERATION = 3;

/** The message of a condition in a status: what the script reports. */
function said(status: Status, type: string): string {
  const c = status.conditions?.find((x) => x.type === type);
  if (!c) throw new Error(`argo-health case: status has no ${type} condition`);
  return c.message || c.reason || '';
}

function object(
  kind: Kind,
  spec: Record<string, unknown>,
  status: object | undefined,
  generation = GENERATION,
): Record<string, unknown> {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind,
    metadata: {
      name: kind.toLowerCase(),
      ...(kind === 'MaintenancePlan' ? {} : { namespace: 'ml' }),
      generation,
    },
    spec,
    ...(status ? { status } : {}),
  };
}

/**
 * Cases every kind shares: no status yet (with and without the CRD's status
 * default, which the API server fills in), and a spec change not yet observed.
 */
function unobserved(kind: Kind, spec: Record<string, unknown>, observed: object): HealthCase[] {
  return [
    {
      kind,
      file: 'no-status',
      object: object(kind, spec, undefined),
      expected: { status: 'Progressing', message: 'Waiting for the operator to report status' },
    },
    {
      kind,
      file: 'created',
      object: object(kind, spec, { ...STATUS_DEFAULT }),
      expected: {
        status: 'Progressing',
        message: `Waiting for the operator to observe generation ${GENERATION}`,
      },
    },
    {
      kind,
      file: 'new-generation',
      object: object(kind, spec, observed, GENERATION + 1),
      expected: {
        status: 'Progressing',
        message: `Waiting for the operator to observe generation ${GENERATION + 1}`,
      },
    },
  ];
}

function caseOf(
  kind: Kind,
  file: string,
  spec: Record<string, unknown>,
  status: Status,
  health: HealthCode,
  decidedBy: string,
  prefix = '',
): HealthCase {
  return {
    kind,
    file,
    object: object(kind, spec, status),
    expected: { status: health, message: prefix + said(status, decidedBy) },
  };
}

function inferenceService(): HealthCase[] {
  const kind = 'InferenceService';
  const obj: InferenceServiceObject = {
    apiVersion: 'ymera.io/v1alpha1',
    kind,
    metadata: { name: 'fraud', namespace: 'ml', uid: 'u', generation: GENERATION },
    spec: { model: { uri: 's3://models/fraud.onnx', version: 'v3' }, scaling: { minReplicas: 2 } },
  };
  const spec = obj.spec as unknown as Record<string, unknown>;
  const obs = (over: Partial<StatusObservation>): StatusObservation => ({
    generation: GENERATION,
    errors: [],
    blockers: [],
    extra: [],
    desired: 'r1',
    decision: { revisions: { stable: 'r1' }, action: 'none' },
    health: { r1: { replicas: 2, readyReplicas: 2 } },
    stableServing: servingSpecOf(obj.spec),
    traffic: [{ revision: 'r1', percent: 100 }],
    ...over,
  });
  const serving = inferenceServiceStatus(obj, obs({}), undefined, now);
  const starting = inferenceServiceStatus(
    obj,
    obs({ health: { r1: { replicas: 2, readyReplicas: 1 } } }),
    undefined,
    now,
  );
  const crashed = inferenceServiceStatus(
    obj,
    obs({
      health: {
        r1: {
          replicas: 2,
          readyReplicas: 0,
          failure: {
            reason: 'ContainerFailed',
            message: 'container runtime of pod fraud-r1-0 exited with code 1 (Error)',
            pod: 'fraud-r1-0',
          },
        },
      },
    }),
    undefined,
    now,
  );
  const invalid = inferenceServiceStatus(
    obj,
    obs({ errors: [{ field: 'spec.model.uri', message: 'must be s3://, http(s):// or file://' }] }),
    undefined,
    now,
  );
  return [
    ...unobserved(kind, spec, serving),
    caseOf(kind, 'serving', spec, serving, 'Healthy', 'Ready'),
    caseOf(kind, 'pods-starting', spec, starting, 'Progressing', 'Reconciling'),
    caseOf(kind, 'crashing', spec, crashed, 'Degraded', 'Stalled'),
    caseOf(kind, 'invalid-spec', spec, invalid, 'Degraded', 'Stalled'),
  ];
}

function learningPipeline(): HealthCase[] {
  const kind = 'LearningPipeline';
  const spec = { schedule: '0 3 * * *', steps: [{ name: 'train', image: 'trainer:1' }] };
  const run = (id: string, phase: LearningPipelineRun['phase'], minute: number): LearningPipelineRun => ({
    id,
    trigger: 'Schedule',
    phase,
    startTime: `2026-12-05T01:${String(minute).padStart(2, '0')}:00Z`,
    progress: '0/1',
    ...(phase === 'Failed' ? { message: 'step train failed: exit code 1' } : {}),
  });
  const obs = (runs: LearningPipelineRun[], over: Partial<PipelineObservation> = {}) =>
    pipelineStatus(
      { generation: GENERATION, errors: [], blockers: [], extra: [], runs, historyLimit: 5, ...over },
      {},
      undefined,
      now,
    );
  const idle = obs([]);
  const running = obs([run('a', 'Succeeded', 1), run('b', 'Running', 2)]);
  const succeeded = obs([run('a', 'Succeeded', 1)]);
  const failed = obs([run('a', 'Succeeded', 1), run('b', 'Failed', 2)]);
  const invalid = obs([], { errors: [{ field: 'spec.schedule', message: 'not a cron expression' }] });
  const waiting = obs([], {
    blockers: [{ reason: 'TriggerNotReady', message: 'topic ml.events does not exist yet', transient: true }],
  });
  const suspended = { ...spec, suspend: true };
  return [
    ...unobserved(kind, spec, idle),
    caseOf(kind, 'idle', spec, idle, 'Healthy', 'Ready'),
    caseOf(kind, 'running', spec, running, 'Healthy', 'Ready'),
    caseOf(kind, 'succeeded', spec, succeeded, 'Healthy', 'Ready'),
    caseOf(kind, 'run-failed', spec, failed, 'Degraded', 'Stalled'),
    caseOf(kind, 'invalid-spec', spec, invalid, 'Degraded', 'Stalled'),
    caseOf(kind, 'trigger-waiting', spec, waiting, 'Progressing', 'Reconciling'),
    caseOf(kind, 'suspended', suspended, idle, 'Suspended', 'Ready', 'spec.suspend: no new runs start; '),
    caseOf(kind, 'suspended-run-failed', suspended, failed, 'Degraded', 'Stalled'),
  ];
}

function maintenancePlan(): HealthCase[] {
  const kind = 'MaintenancePlan';
  const spec: MaintenancePlanSpec = {
    nodeSelector: { matchLabels: { gpu: 'true' } },
    signals: [{ name: 'ecc', query: 'sum by (node) (ecc_errors)' }],
    predictor: { model: { uri: 'file:///models/risk.onnx' }, threshold: 0.8, consecutive: 2 },
    window: { schedule: '0 2 * * 6', durationMinutes: 60 },
  };
  const raw = spec as unknown as Record<string, unknown>;
  const scored = (node: string, risk: number): NodePrediction => ({
    node,
    state: 'Scored',
    risk,
    topSignals: [{ signal: 'ecc', contribution: risk }],
  });
  const evaluated = advanceRuns([scored('gpu-a', 0.1), scored('gpu-b', 0.2)], new Map(), 0.8, 2);
  const input = { generation: GENERATION, spec, selected: 2, evaluated, now };
  const shadow = evaluatedStatus(input, undefined).status;
  const act = (phase: 'Idle' | 'InProgress', leftCordoned: string[] = []) =>
    evaluatedStatus(
      {
        ...input,
        spec: { ...spec, mode: 'Act' },
        act: {
          acting:
            phase === 'InProgress'
              ? { status: 'True', reason: 'Maintaining', message: '1 node(s) under maintenance' }
              : { status: 'False', reason: 'NothingAtRisk', message: 'no node is at risk' },
          phase,
          scheduled:
            phase === 'InProgress'
              ? [{ node: 'gpu-a', id: 'gpu-a@1', actions: ['Cordon'], state: 'InProgress' }]
              : [],
          history: leftCordoned.map((node) => ({
            node,
            startTime: '2026-12-05T01:00:00Z',
            result: 'Failed' as const,
          })),
          leftCordoned,
        },
      },
      undefined,
    ).status;
  const unreachable = failedStatus(
    { generation: GENERATION, spec, now },
    {
      reconciling: {
        reason: 'PrometheusUnavailable',
        message: 'Prometheus at http://prometheus:9090 could not be reached: connect ECONNREFUSED',
      },
    },
    shadow,
  );
  const badModel = failedStatus(
    { generation: GENERATION, spec, now },
    {
      stalled: { reason: 'ModelInvalid', message: 'spec.predictor.model: not an ONNX model' },
      predictor: { reason: 'ModelInvalid', message: 'spec.predictor.model: not an ONNX model' },
    },
    undefined,
  );
  const actRaw = { ...raw, mode: 'Act' };
  return [
    ...unobserved(kind, raw, shadow),
    caseOf(kind, 'shadow-predicting', raw, shadow, 'Healthy', 'Ready'),
    caseOf(kind, 'act-idle', actRaw, act('Idle'), 'Healthy', 'Ready'),
    caseOf(kind, 'act-maintaining', actRaw, act('InProgress'), 'Healthy', 'Ready'),
    caseOf(kind, 'left-cordoned', actRaw, act('Idle', ['gpu-b']), 'Degraded', 'NodesLeftCordoned'),
    caseOf(kind, 'prometheus-unreachable', raw, unreachable, 'Progressing', 'Reconciling'),
    caseOf(kind, 'model-invalid', raw, badModel, 'Degraded', 'Stalled'),
    caseOf(
      kind,
      'suspended',
      { ...actRaw, suspend: true },
      act('Idle'),
      'Suspended',
      'Ready',
      'spec.suspend: no new maintenance starts; ',
    ),
  ];
}

function optimizationLoop(): HealthCase[] {
  const kind = 'OptimizationLoop';
  const spec = {
    target: { kind: 'InferenceService', name: 'fraud' },
    parameters: [{ path: 'spec.batching.maxBatchSize', min: 4, max: 64, step: 4 }],
    objective: { query: 'sum(rate(ymera_inference_requests_total[$window]))', goal: 'Maximize' },
    mode: 'Apply',
  };
  const t = '2026-12-05T01:00:00Z';
  const stopped = (reason: string, message: string): Condition => ({
    type: 'Stopped',
    status: 'True',
    reason,
    message,
    lastTransitionTime: t,
  });
  const status = (loop: LoopState, failure?: Failure) =>
    loopStatus({ generation: GENERATION, mode: 'Apply', loop, ...(failure ? { failure } : {}) }, now);
  const tuning = status({
    phase: 'Running',
    trial: {
      id: 3,
      purpose: 'Candidate',
      phase: 'Measuring',
      params: { 'spec.batching.maxBatchSize': 16 },
      phaseTime: t,
      startTime: t,
    },
  });
  const converged = status({
    phase: 'Converged',
    conditions: [{ ...stopped('MaxTrials', 'maxTrials (40) reached'), type: 'Converged' }],
  });
  const failedTrials = status({
    phase: 'Stopped',
    conditions: [
      stopped('MaxFailedTrials', '3 trials in a row broke a constraint; edit the loop to restart'),
    ],
  });
  const invalid = status(
    {},
    { reason: 'InvalidSpec', message: 'spec.target.kind: must be InferenceService', transient: false },
  );
  const waiting = status(
    {},
    { reason: 'PrometheusUnavailable', message: 'Prometheus could not be reached', transient: true },
  );
  const suspended = status({
    phase: 'Stopped',
    conditions: [
      stopped('Suspended', 'suspended; the baseline {"spec.batching.maxBatchSize":8} is restored'),
    ],
  });
  return [
    ...unobserved(kind, spec, tuning),
    caseOf(kind, 'tuning', spec, tuning, 'Healthy', 'Ready'),
    caseOf(kind, 'converged', spec, converged, 'Healthy', 'Ready'),
    caseOf(kind, 'max-failed-trials', spec, failedTrials, 'Degraded', 'Stalled'),
    caseOf(kind, 'invalid-spec', spec, invalid, 'Degraded', 'Stalled'),
    caseOf(kind, 'prometheus-unreachable', spec, waiting, 'Progressing', 'Reconciling'),
    caseOf(
      kind,
      'suspended',
      { ...spec, suspend: true },
      suspended,
      'Suspended',
      'Ready',
      'spec.suspend: the loop is paused; ',
    ),
  ];
}

function backupPolicy(): HealthCase[] {
  const kind = 'BackupPolicy';
  const spec = { schedule: '0 1 * * *', storage: { bucket: 'backups' } };
  const base: BackupInput = { generation: GENERATION, suspend: false, drill: false };
  const status = (over: Partial<BackupInput>) => backupPolicyStatus({ ...base, ...over }, undefined, now);
  const completed = {
    id: 'b-20261205-0100',
    phase: 'Completed' as const,
    trigger: 'Schedule' as const,
    startedAt: '2026-12-05T01:00:00Z',
    completedAt: '2026-12-05T01:00:09Z',
    items: 12,
    bytes: 40960,
  };
  const next = new Date('2026-12-06T01:00:00Z');
  const pending = status({ next });
  const healthy = status({ next, lastBackup: completed });
  const inProgress = backupPolicyStatus(
    {
      ...base,
      next,
      lastBackup: {
        id: 'b-20261205-0200',
        phase: 'InProgress',
        trigger: 'Schedule',
        startedAt: '2026-12-05T02:00:00Z',
      },
    },
    healthy,
    now,
  );
  const failed = status({
    next,
    lastBackup: {
      phase: 'Failed',
      trigger: 'Schedule',
      startedAt: '2026-12-05T01:00:00Z',
      reason: 'StorageUnavailable',
      message: 'the store could not be reached',
    },
  });
  const partial = status({
    next,
    lastBackup: {
      ...completed,
      phase: 'PartiallyFailed',
      message: 'model file s3://models/fraud.onnx missing',
    },
  });
  const drillFailed = status({
    next,
    lastBackup: completed,
    drill: true,
    drillState: {
      lastDrill: {
        time: '2026-12-05T01:30:00Z',
        result: 'Failed',
        message: 'restored InferenceService ml/fraud differs from the backup',
      },
    },
  });
  const stalled = status({
    stalled: {
      reason: 'InvalidKey',
      message: 'spec.encryption.keySecret: secret backup-key has no key "key"',
    },
  });
  const suspended = status({ suspend: true, lastBackup: completed });
  return [
    ...unobserved(kind, spec, pending),
    caseOf(kind, 'first-backup-pending', spec, pending, 'Healthy', 'Ready'),
    caseOf(kind, 'healthy', spec, healthy, 'Healthy', 'Ready'),
    caseOf(kind, 'backup-in-progress', spec, inProgress, 'Healthy', 'Ready'),
    caseOf(kind, 'backup-failed', spec, failed, 'Degraded', 'Ready'),
    caseOf(kind, 'partially-failed', spec, partial, 'Degraded', 'BackupHealthy'),
    caseOf(
      kind,
      'drill-failed',
      { ...spec, drill: { schedule: '30 1 * * *' } },
      drillFailed,
      'Degraded',
      'DrillPassed',
    ),
    caseOf(kind, 'invalid-key', spec, stalled, 'Degraded', 'Stalled'),
    caseOf(kind, 'suspended', { ...spec, suspend: true }, suspended, 'Suspended', 'Ready'),
  ];
}

function restore(): HealthCase[] {
  const kind = 'Restore';
  const spec = { policyRef: { name: 'nightly' } };
  const status = (input: Omit<RestoreStatusInput, 'generation'>) =>
    restoreStatus({ generation: GENERATION, ...input }, undefined, now);
  const waiting = status({
    phase: 'Pending',
    reason: 'PolicyNotFound',
    message: 'BackupPolicy ml/nightly does not exist yet',
  });
  const running = status({
    phase: 'Running',
    reason: 'Restoring',
    message: 'restoring backup b-20261205-0100',
    backupId: 'b-20261205-0100',
    startTime: '2026-12-05T01:59:00Z',
  });
  const keyMissing = status({
    phase: 'Pending',
    reason: 'KeyUnavailable',
    message: 'secret ml/backup-key has no key "key"',
    stalled: true,
  });
  const succeeded = status({
    phase: 'Succeeded',
    reason: 'Succeeded',
    message: 'backup b-20261205-0100: restored 12, skipped 0, failed 0',
    backupId: 'b-20261205-0100',
    startTime: '2026-12-05T01:59:00Z',
    completionTime: '2026-12-05T02:00:00Z',
  });
  const failed = status({
    phase: 'Failed',
    reason: 'ObjectsFailed',
    message:
      'backup b-20261205-0100: restored 11, skipped 0, failed 1; first: InferenceService ml/fraud: forbidden',
    backupId: 'b-20261205-0100',
  });
  return [
    ...unobserved(kind, spec, running),
    caseOf(kind, 'waiting-for-policy', spec, waiting, 'Progressing', 'Reconciling'),
    caseOf(kind, 'running', spec, running, 'Progressing', 'Reconciling'),
    caseOf(kind, 'key-missing', spec, keyMissing, 'Degraded', 'Stalled'),
    caseOf(kind, 'succeeded', spec, succeeded, 'Healthy', 'Ready'),
    caseOf(kind, 'failed', spec, failed, 'Degraded', 'Stalled'),
  ];
}

export function healthCases(): HealthCase[] {
  return [
    ...inferenceService(),
    ...learningPipeline(),
    ...maintenancePlan(),
    ...optimizationLoop(),
    ...backupPolicy(),
    ...restore(),
  ];
}

/** Every file under resource_customizations/ymera.io/<Kind>/ the cases produce, by relative path. */
export function healthFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const header =
    '# Generated by `npm run health-fixtures` from controllers/argo-health/cases.ts: do not edit.\n';
  for (const kind of KINDS) {
    const cases = healthCases().filter((c) => c.kind === kind);
    for (const c of cases) files.set(`${kind}/testdata/${c.file}.yaml`, header + stringify(c.object));
    const tests = cases.map((c) => ({ healthStatus: c.expected, inputPath: `testdata/${c.file}.yaml` }));
    files.set(`${kind}/health_test.yaml`, header + stringify({ tests }));
  }
  return files;
}

/** kstatus's verdicts (sigs.k8s.io/cli-utils/pkg/kstatus/status) the cases can mean. */
export type KStatus = 'InProgress' | 'Current' | 'Failed';

/**
 * What a case means to a kstatus reader (Flux health checks, kpt and
 * cli-utils' apply --wait): reconciled and working (Argo CD's Healthy,
 * Suspended) is Current, work under way (Progressing) is InProgress, a
 * failure (Degraded) is Failed. tools/kstatus checks kstatus reads every
 * fixture so (test/e2e/kstatus.e2e.test.ts). The exceptions, and why:
 */
export const KSTATUS_EXCEPTIONS: Readonly<Record<string, { kstatus: KStatus; why: string }>> = {
  'BackupPolicy/backup-in-progress': {
    kstatus: 'InProgress',
    why: 'a backup under way is Reconciling=True (bounded work; Argo CD still calls the policy Healthy)',
  },
  'BackupPolicy/backup-failed': {
    kstatus: 'InProgress',
    why: 'a failed backup is retried with backoff (Reconciling=True), not stalled',
  },
  'BackupPolicy/partially-failed': {
    kstatus: 'Current',
    why: 'the policy works (Ready=True); BackupHealthy=False says the latest backup lacks model files',
  },
  'BackupPolicy/drill-failed': {
    kstatus: 'Current',
    why: 'the policy works (Ready=True); DrillPassed=False carries the drill’s verdict',
  },
  'MaintenancePlan/left-cordoned': {
    kstatus: 'Current',
    why: 'the plan works (Ready=True); NodesLeftCordoned=True asks a person to look at the nodes',
  },
};

/** An object with no status at all: the API server never serves one (see STATUS_DEFAULT), kstatus reads it as Current. */
const NO_STATUS_WHY =
  'kstatus reads an object without status as Current; the CRDs default status to {observedGeneration: -1}, so the API server never serves one (the `created` case)';

export function kstatusOf(c: HealthCase): { kstatus: KStatus; why: string } {
  if (c.file === 'no-status') return { kstatus: 'Current', why: NO_STATUS_WHY };
  const exception = KSTATUS_EXCEPTIONS[`${c.kind}/${c.file}`];
  if (exception) return exception;
  const kstatus: KStatus =
    c.expected.status === 'Progressing'
      ? 'InProgress'
      : c.expected.status === 'Degraded'
        ? 'Failed'
        : 'Current';
  return { kstatus, why: `Argo CD health ${c.expected.status}` };
}
