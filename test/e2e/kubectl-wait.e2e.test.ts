// `kubectl wait --for=condition=Ready <kind>/<name>`, as the README shows it,
// against each of the six kinds on the real API server with the operator
// running: one object of each kind that can become Ready (a BackupPolicy on
// MinIO, a Restore of its backup as a dry run, a MaintenancePlan in shadow
// mode on the test exporter's signals). Before the operator has looked at
// them, kstatus (tools/kstatus) reads what the API server serves as
// InProgress (the CRDs' status default); once Ready, as Current.
import { randomBytes } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import {
  backupCompleted,
  backupPolicy,
  BACKUP_BUCKET,
  deleteAllOf,
  dropStore,
  openStore,
  policySecrets,
  restoreOf,
  untilReported,
} from './backup-fixtures.ts';
import type { Policy } from './backup-fixtures.ts';
import type { GpuExporter } from './gpu-signals.ts';
import { modelDir, modelMeta, startGpuExporter } from './gpu-signals.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import { freshNamespace, kubectl, kubectlOk, repo, startOperator } from './support.ts';

/** The kubectl the stack builds (test/e2e/cluster), run as a user would. */
const KUBECTL = path.join(
  process.env.YMERA_CACHE ?? path.join(process.env.HOME ?? '/root', '.cache/ymera'),
  'bin/current/kubectl',
);
const run = promisify(execFile);

const suffix = Math.random().toString(36).slice(2, 8);
const plan = `e2e-wait-${suffix}`;
let ns = '';
let op: OperatorProcess | undefined;
let exporter: GpuExporter | undefined;
let store: ObjectStore | undefined;
let kstatusBin = '';
let dir = '';
const prefix = `e2e-wait/${suffix}`;

/** kind/name as the README writes it, and the namespace flag where the kind is namespaced. */
const targets = () => [
  { ref: 'inferenceservice/iris', ns },
  { ref: 'learningpipeline/train', ns },
  { ref: `maintenanceplan/${plan}`, ns: undefined },
  { ref: 'optimizationloop/tune', ns },
  { ref: 'backuppolicy/nightly', ns },
  { ref: 'restore/dry', ns },
];
const nsFlag = (t: { ns: string | undefined }) => (t.ns ? ['-n', t.ns] : []);

function objects(): unknown[] {
  return [
    {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      metadata: { name: 'iris', namespace: ns },
      spec: {
        model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
        runtime: { resources: { requests: { cpu: '100m', memory: '128Mi' } } },
      },
    },
    {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'LearningPipeline',
      metadata: { name: 'train', namespace: ns },
      spec: { artifacts: { pvc: { claimName: 'ml-artifacts' } }, steps: [{ name: 'a', image: 'busybox' }] },
    },
    {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'OptimizationLoop',
      metadata: { name: 'tune', namespace: ns },
      spec: {
        target: { kind: 'InferenceService', name: 'iris' },
        parameters: [{ path: 'spec.batching.maxBatchSize', min: 4, max: 64, step: 4 }],
        objective: { query: 'vector(1)', goal: 'Maximize' },
        mode: 'Recommend',
      },
    },
    ...policySecrets(ns, randomBytes(32)),
    backupPolicy({ namespace: ns, name: 'nightly', prefix }),
    {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'MaintenancePlan',
      metadata: { name: plan },
      spec: {
        nodeSelector: { matchLabels: { type: 'kwok' } },
        signals: exporter?.signals,
        predictor: {
          model: { uri: `file://${path.join(modelDir, 'gpu-failure.onnx')}`, sha256: modelMeta.sha256 },
          threshold: 0.8,
          consecutive: 2,
          interval: '5s',
        },
        window: { schedule: '0 2 * * 6', durationMinutes: 60 },
      },
    },
  ];
}

/** kstatus's verdict on the object as the API server serves it. */
async function kstatusOf(t: {
  ref: string;
  ns: string | undefined;
}): Promise<{ status: string; message: string }> {
  const yaml = await kubectlOk(['get', t.ref, ...nsFlag(t), '-o', 'yaml']);
  const file = path.join(dir, `${t.ref.replace('/', '-')}.yaml`);
  writeFileSync(file, yaml);
  return JSON.parse(execFileSync(kstatusBin, [file], { encoding: 'utf8' })) as {
    status: string;
    message: string;
  };
}

beforeAll(async () => {
  kstatusBin = execFileSync('bash', [path.join(repo, 'tools/kstatus/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 300_000,
  }).trim();
  dir = mkdtempSync(path.join(tmpdir(), 'ymera-kubectl-wait-'));
  ns = await freshNamespace('e2e-wait');
  store = openStore(BACKUP_BUCKET, prefix);
  exporter = await startGpuExporter(suffix, ['cpu-node-1', 'cpu-node-2', 'gpu-node-1', 'gpu-node-2']);
}, 300_000);

afterAll(async () => {
  if (ns)
    await deleteAllOf(ns, 'restores,optimizationloops,learningpipelines,inferenceservices,backuppolicies');
  await kubectl(['delete', `maintenanceplan.ymera.io/${plan}`, '--wait=true', '--timeout=30s']);
  await op?.stop();
  await exporter?.close();
  await dropStore(store);
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('kubectl wait --for=condition=Ready works for every kind', () => {
  it('a new object, before the operator looked at it, is InProgress to kstatus (status.observedGeneration 0 from the CRD default)', async () => {
    await kubectlOk(['apply', '-f', '-'], toYaml(objects()));
    for (const t of targets().filter((x) => !x.ref.startsWith('restore/'))) {
      const got = await kstatusOf(t);
      expect(got, t.ref).toMatchObject({
        status: 'InProgress',
        message: expect.stringMatching(/generation is 1, but latest observed generation is 0$/),
      });
    }
  });

  it('returns success for each of the six kinds once the operator reports Ready, which kstatus reads as Current', async () => {
    op = await startOperator('op-kubectl-wait', [
      `--watch-namespaces=${ns}`,
      '--cluster-scoped-kinds=true', // the MaintenancePlan is cluster-scoped
      `--prometheus-url=${exporter?.promUrl}`,
    ]);
    // the Restore needs a backup to restore: take one now (ymera.io/backup-now)
    await kubectlOk(['annotate', 'backuppolicy', 'nightly', '-n', ns, 'ymera.io/backup-now=w1']);
    await untilReported<Policy>(
      ['backuppolicy', 'nightly', '-n', ns],
      'the backup to complete',
      backupCompleted('w1'),
      op,
      120_000,
    );
    await kubectlOk(['apply', '-f', '-'], toYaml([restoreOf(ns, 'dry', { dryRun: true })]));

    for (const t of targets()) {
      // exactly the README's command
      const { stdout } = await run(
        KUBECTL,
        ['wait', '--for=condition=Ready', t.ref, ...nsFlag(t), '--timeout=120s'],
        {
          env: process.env,
        },
      );
      expect(stdout.trim()).toMatch(new RegExp(`^${t.ref.replace('/', '\\.ymera\\.io/')} condition met$`));
      expect(await kstatusOf(t), t.ref).toMatchObject({ status: 'Current' });
    }
  });
});
