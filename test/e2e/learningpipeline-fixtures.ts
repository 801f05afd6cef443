// Shared by the LearningPipeline e2e files (learningpipeline, learningpipeline-sweep,
// real-node-sweep): the status a sweep step reports, a two-step sweep pipeline
// (train sweeps, evaluate reads the winner's model), a pipeline's step pods,
// the artifacts a run writes to (a PVC bound to a hostPath volume, or MinIO),
// and the teardown that lets finalizers run while the operator still does.
import { createObjectStore } from '../../operator/storage/s3.ts';
import type { OperatorProcess } from './support.ts';
import { deleteInferenceServices, getJson, kubectl, podsWith } from './support.ts';

export interface Trial {
  index: number;
  parameters: Record<string, string | number>;
  phase: string;
  objective?: number;
  job?: string;
  reason?: string;
}
export interface Sweep {
  trials?: Trial[];
  best?: { index: number; objective: number; parameters: Record<string, string | number>; outputDir: string };
  started: number;
  running: number;
  succeeded: number;
  failed: number;
  earlyStopped: number;
}
export interface SweepStep {
  name: string;
  phase: string;
  job?: string;
  message?: string;
  sweep?: Sweep;
}
export interface SweepRun {
  id: string;
  phase: string;
  message?: string;
  steps?: SweepStep[];
}
export interface SweepPipeline {
  status?: {
    runs?: SweepRun[];
    latestModel?: {
      version: string;
      uri: string;
      sha256?: string;
      metrics?: Record<string, number>;
      gate?: { passed: boolean; message?: string };
      promoted?: boolean;
    };
    promotion?: { target: string; model: { uri: string; version: string; sha256?: string } };
  };
}

/** The LearningPipeline `name` in `ns`, or undefined while it does not exist. */
export const getSweepPipeline = (ns: string, name: string) =>
  getJson<SweepPipeline>(['get', '-n', ns, `learningpipeline.ymera.io/${name}`]);

/** Step `step` of the pipeline's first run. */
export const firstRunStep = (p: SweepPipeline | undefined, step: string) =>
  p?.status?.runs?.[0]?.steps?.find((s) => s.name === step);

/** The pods of step `step` of pipeline `pipeline` in `ns` (every run, every trial). */
export async function podsOf<Pod>(ns: string, pipeline: string, step: string): Promise<Pod[]> {
  return podsWith<Pod>(ns, `ymera.io/learningpipeline=${pipeline},ymera.io/step=${step}`);
}

/**
 * A LearningPipeline `name` in `ns` on the ml-artifacts PVC: step `train`
 * sweeps (`sweep`: its parameters and budgets; the objective is accuracy,
 * maximized) and writes outputs `model` and `metrics`; step `evaluate` reads
 * the winner's model; the model registered is `model`. `train`, `evaluate`
 * and `spec` add the rest (image, placement, promotion, ...).
 */
export function sweepPipeline(
  ns: string,
  name: string,
  parts: {
    model: string;
    train: Record<string, unknown>;
    sweep: Record<string, unknown>;
    evaluate: Record<string, unknown>;
    spec?: Record<string, unknown>;
  },
) {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'LearningPipeline',
    metadata: { name, namespace: ns },
    spec: {
      artifacts: { pvc: { claimName: 'ml-artifacts', path: name } } as Record<string, unknown>,
      steps: [
        {
          name: 'train',
          ...parts.train,
          outputs: [
            { name: 'model', path: 'train/model.onnx' },
            { name: 'metrics', path: 'train/metrics.json' },
          ],
          sweep: { objective: { metric: 'accuracy', goal: 'Maximize' }, ...parts.sweep },
        },
        { name: 'evaluate', ...parts.evaluate, dependsOn: ['train'], inputs: ['model'] },
      ],
      model: { name: parts.model, outputArtifact: 'model' },
      ...parts.spec,
    },
  };
}

/**
 * A PVC `claim` in `ns` statically bound to the hostPath PV `pv` at `hostPath`
 * (the local cluster has no provisioner).
 */
export function boundVolume(
  ns: string,
  claim: string,
  pv: string,
  hostPath: { path: string; type?: string },
) {
  return [
    {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: pv },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteMany'],
        storageClassName: '',
        hostPath,
        claimRef: { namespace: ns, name: claim },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: claim, namespace: ns },
      spec: {
        accessModes: ['ReadWriteMany'],
        storageClassName: '',
        volumeName: pv,
        resources: { requests: { storage: '1Gi' } },
      },
    },
  ];
}

/** The artifacts PVC ml-artifacts in `ns`, on the PV `pv` (kwok's pods write nothing to it). */
export const artifactsVolume = (ns: string, pv: string) =>
  boundVolume(ns, 'ml-artifacts', pv, { path: `/tmp/${pv}` });

/** MinIO as the e2e stack exports it (YMERA_S3_*). */
export function minio(): { endpoint: string; accessKeyId: string; secretAccessKey: string } {
  const accessKeyId = process.env.YMERA_S3_ACCESS_KEY ?? '';
  const secretAccessKey = process.env.YMERA_S3_SECRET_KEY ?? '';
  const endpoint = process.env.YMERA_S3_ENDPOINT ?? 'http://127.0.0.1:9000';
  if (!accessKeyId) throw new Error('YMERA_S3_ACCESS_KEY is not set: the e2e stack provides MinIO');
  return { endpoint, accessKeyId, secretAccessKey };
}

export const ARTIFACTS_BUCKET = 'ymera-artifacts';

/** spec.artifacts on MinIO's artifacts bucket under `prefix`, with the keys in the Secret artifactsSecret() makes. */
export const s3Artifacts = (prefix: string) => ({
  s3: {
    endpoint: minio().endpoint,
    bucket: ARTIFACTS_BUCKET,
    prefix,
    forcePathStyle: true,
    credentialsSecret: { name: 'artifacts-s3' },
  },
});

/** The Secret artifacts-s3 in `ns`, holding MinIO's keys. */
export function artifactsSecret(ns: string) {
  const { accessKeyId, secretAccessKey } = minio();
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'artifacts-s3', namespace: ns },
    stringData: { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey },
  };
}

/** MinIO's artifacts bucket, as the test reads and writes what steps would (close it after). */
export function artifactsStore() {
  const { endpoint, accessKeyId, secretAccessKey } = minio();
  return createObjectStore({
    endpoint,
    bucket: ARTIFACTS_BUCKET,
    credentials: { accessKeyId, secretAccessKey },
  });
}

/**
 * Deletes the pipelines and InferenceServices in `ns` while the operator still
 * runs (their finalizers), stops it, then deletes the namespace (waiting for it
 * when `waitForNamespace`, e.g. before removing a host directory its pods used)
 * and the PV `pv`.
 */
export async function removePipelineNamespace(
  ns: string | undefined,
  op: OperatorProcess | undefined,
  pv: string | undefined,
  { waitForNamespace = false } = {},
): Promise<void> {
  if (ns) {
    await kubectl(['delete', 'learningpipelines', '--all', '-n', ns, '--wait=true', '--timeout=60s']);
    await deleteInferenceServices(ns);
  }
  await op?.stop();
  if (ns)
    await kubectl(
      waitForNamespace
        ? ['delete', 'namespace', ns, '--wait=true', '--timeout=60s']
        : ['delete', 'namespace', ns, '--wait=false'],
    );
  if (pv) await kubectl(['delete', 'pv', pv, '--wait=false']);
}
