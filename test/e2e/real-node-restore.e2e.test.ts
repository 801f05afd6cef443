// Disaster recovery end to end, on the real node: a namespace holding an
// InferenceService whose pods run on real-node-1 (the project's image, the
// model from MinIO with its sha256 pinned), a LearningPipeline, a ConfigMap
// and a Secret is backed up with its model file (BackupPolicy,
// modelArtifacts). Then the disaster: the namespace is deleted and the model
// file is gone from the bucket. The namespace comes back from Git with only
// the BackupPolicy, its Secrets and a Restore: the policy finds its backups in
// the bucket, the Restore verifies the backup, copies the model file back and
// recreates everything; the InferenceService's new pods on the real node load
// the restored model (its sha256 checked by the runtime) and answer a v2
// inference with the reference output; the LearningPipeline starts no run.
//
// Skipped, saying why, without the real node (YMERA_USE_EXISTING_CLUSTER=1 or
// YMERA_REAL_NODE_DISABLED=1).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelItem } from '../../controllers/backuppolicy/format.ts';
import { Keyring } from '../../controllers/backuppolicy/crypto.ts';
import type { Condition } from '../../operator/conditions.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import {
  FRAUD_MODEL,
  MODEL_SHA256,
  featureRows,
  fraudReference,
} from '../../runtime/models/fraud-reference.ts';
import type { Observed, Policy } from './backup-fixtures.ts';
import {
  BACKUP_BUCKET,
  MODEL_BUCKET,
  backupCompleted,
  backupPolicy,
  condition as cond,
  configMap,
  deleteAllOf,
  dropStore,
  envFromConfigMap,
  envFromSecret,
  loseNamespace,
  openModelStore,
  openStore,
  policySecrets,
  readVerified,
  restoreOf,
  s3Config,
  s3Secret,
  secret,
  untilReported,
} from './backup-fixtures.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  podsWith,
  startOperator,
} from './support.ts';

const NODE = process.env.YMERA_REAL_NODE;
const skipReason = !NODE
  ? ' (skipped: YMERA_REAL_NODE is unset, the stack runs without the real node; see test/e2e/cluster/README.md "The real node")'
  : '';
const NAME = 'fraud';
// as the runtime's own tests compare onnxruntime with the reference
const TOLERANCE = 1e-5;
// a real pod on 2 shared cores: image start, model download and load take seconds
const POD_TIMEOUT = 240_000;

type Obj = {
  metadata: { name: string; uid: string; generation?: number; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown> & { observedGeneration?: number; conditions?: Condition[] };
};
type Pod = { metadata: { name: string }; spec: { nodeName?: string }; status: { podIP?: string } };
type InferResponse = { outputs: { name: string; shape: number[]; data: number[] }[] };

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(skipReason !== '')(`Disaster recovery on the real node${skipReason}`, () => {
  let ns = '';
  let op: OperatorProcess | undefined;
  let models: ObjectStore | undefined;
  let backups: ObjectStore | undefined;
  const kek = randomBytes(32);
  const modelKey = `e2e/real-node-restore/${randomUUID().slice(0, 8)}/fraud.onnx`;
  const modelBytes = readFileSync(FRAUD_MODEL);
  let backupId = '';

  const until = <T extends Observed>(
    kind: string,
    name: string,
    what: string,
    check: (o: T) => boolean,
    ms = 120_000,
  ) => untilReported<T>([kind, name, '-n', ns], what, check, op, ms);

  /** What Git holds for the namespace besides the workload: the policy, its Secrets. */
  const policyAndSecrets = () => [
    ...policySecrets(ns, kek),
    backupPolicy({
      namespace: ns,
      name: 'nightly',
      prefix: `e2e-real-restore/${ns}`,
      spec: { modelArtifacts: true, include: { secrets: true } },
    }),
  ];

  /** The workload: an InferenceService on the real node, what it references, a LearningPipeline. */
  function workload(): unknown[] {
    const podEndpoint = process.env.YMERA_POD_S3_ENDPOINT;
    if (!podEndpoint)
      throw new Error('YMERA_POD_S3_ENDPOINT is unset: test/e2e/stack/minio.sh env exports it');
    return [
      // the runtime's credentials, MinIO as pods reach it (the operator reaches it there too)
      s3Secret(ns, 'model-store', { AWS_ENDPOINT_URL: podEndpoint, AWS_REGION: s3Config().region }),
      configMap(ns, 'fraud-settings', { threshold: '0.7' }),
      secret(ns, 'fraud-token', { token: 'restore-me' }),
      {
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: NAME, namespace: ns },
        spec: {
          model: {
            uri: `s3://${MODEL_BUCKET}/${modelKey}`,
            version: 'v1',
            sha256: MODEL_SHA256['fraud.onnx'],
            credentialsSecret: { name: 'model-store' },
          },
          runtime: {
            resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
            nodeSelector: { 'ymera.io/node-pool': 'real' },
            tolerations: [{ key: 'ymera.io/real-node', operator: 'Exists', effect: 'NoSchedule' }],
            env: [
              envFromConfigMap('THRESHOLD', 'fraud-settings', 'threshold'),
              envFromSecret('TOKEN', 'fraud-token', 'token'),
            ],
          },
          scaling: { minReplicas: 1 },
        },
      },
      {
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'LearningPipeline',
        metadata: { name: 'train', namespace: ns },
        spec: {
          artifacts: { pvc: { claimName: 'ml-artifacts' } },
          steps: [{ name: 'a', image: 'busybox' }],
        },
      },
    ];
  }

  /** A v2 inference through the Service's ClusterIP (kube-proxy), from the host. */
  async function infer(rows: number[][]): Promise<InferResponse | undefined> {
    const svc = await getJson<{ spec: { clusterIP: string } }>(['get', 'service', '-n', ns, NAME]);
    const res = await fetch(`http://${svc?.spec.clusterIP}/v2/models/${NAME}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'features', shape: [rows.length, 8], datatype: 'FP32', data: rows }],
      }),
      signal: AbortSignal.timeout(10_000),
    }).catch(() => undefined);
    return res?.status === 200 ? ((await res.json()) as InferResponse) : undefined;
  }

  async function restrictedNamespace(): Promise<void> {
    await kubectlOk(['create', 'namespace', ns]);
    // the operator's pods must meet the restricted Pod Security Standard on a real kubelet too
    await kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
  }

  beforeAll(async () => {
    ns = await freshNamespace('e2e-real-dr');
    await kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    models = await openModelStore(15_000);
    backups = openStore(BACKUP_BUCKET, `e2e-real-restore/${ns}`);
    await models.put(modelKey, modelBytes);
    await kubectlOk(['apply', '-f', '-'], toYaml([...policyAndSecrets(), ...workload()]));
    op = await startOperator('op-real-dr', [`--watch-namespaces=${ns}`]);
  });

  afterAll(async () => {
    if (ns) await deleteAllOf(ns, 'inferenceservices,learningpipelines,backuppolicies,restores');
    await op?.stop();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
    await models?.delete(modelKey).catch(() => undefined);
    models?.close();
    await dropStore(backups);
  });

  it('backs up the serving namespace with its model file, paired by digest', async () => {
    await until<Obj>(
      'inferenceservice',
      NAME,
      'the service to be Ready on the real node',
      (o) => cond(o, 'Ready')?.status === 'True',
      POD_TIMEOUT,
    );
    await kubectlOk(['annotate', 'backuppolicy', 'nightly', '-n', ns, 'ymera.io/backup-now=dr1']);
    const p = await until<Policy>(
      'backuppolicy',
      'nightly',
      'backup dr1 to complete',
      backupCompleted('dr1'),
    );
    backupId = p.status?.lastBackup?.id ?? '';
    const backup = await readVerified(
      backups!,
      { namespace: ns, name: 'nightly' },
      backupId,
      new Keyring([kek]),
    );
    const items = backup.manifest.items;
    const model = items.find((i): i is ModelItem => i.type === 'model');
    expect(model?.modelDigest).toBe(`sha256:${MODEL_SHA256['fraud.onnx']}`);
    expect(items.find((i) => i.type === 'resource' && i.kind === 'InferenceService')?.modelDigest).toBe(
      model?.modelDigest,
    );
  });

  it('after losing the namespace and the model file, a Restore brings the service back serving the same model on the real node', async () => {
    // the disaster: the namespace and the model file are gone
    await loseNamespace(ns, { workload: 120, namespace: 180 });
    await models!.delete(modelKey);
    expect(await models!.head(modelKey)).toBeUndefined();

    // the namespace comes back from Git: the policy, its Secrets, and a Restore of the latest backup
    await restrictedNamespace();
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([...policyAndSecrets(), restoreOf(ns, 'after-disaster', { modelArtifacts: true })]),
    );
    const r = await until<Obj>('restore', 'after-disaster', 'the Restore to finish', (o) =>
      ['Succeeded', 'Failed'].includes(String(o.status?.phase)),
    );
    expect(r.status?.phase, JSON.stringify(r.status)).toBe('Succeeded');
    expect(r.status?.backupId).toBe(backupId);
    expect(r.status?.failedObjects ?? 0).toBe(0);

    // the model file is back, byte for byte
    expect(sha256(await models!.get(modelKey))).toBe(MODEL_SHA256['fraud.onnx']);

    // everything is back, marked as restored
    for (const [kind, name] of [
      ['configmap', 'fraud-settings'],
      ['secret', 'fraud-token'],
      ['secret', 'model-store'],
      ['learningpipeline', 'train'],
    ] as const) {
      const o = await getJson<Obj>(['get', kind, name, '-n', ns]);
      expect(o?.metadata.labels?.['ymera.io/restored-from-backup'], `${kind}/${name}`).toBe(backupId);
    }

    // Ready again, serving the pinned digest from pods on the real node
    const isvc = await until<Obj>(
      'inferenceservice',
      NAME,
      'the restored service to be Ready',
      (o) => cond(o, 'Ready')?.status === 'True',
      POD_TIMEOUT,
    );
    expect((isvc.status?.model as { sha256?: string } | undefined)?.sha256).toBe(MODEL_SHA256['fraud.onnx']);
    const pods = await podsWith<Pod>(ns, `ymera.io/inferenceservice=${NAME}`);
    expect(pods.length).toBeGreaterThan(0);
    expect(pods.every((p) => p.spec.nodeName === NODE)).toBe(true);
    const rows = featureRows(3, 21);
    const out = (await eventually(`an inference from the restored ${NAME}`, () => infer(rows))).outputs[0];
    expect(out?.shape).toEqual([rows.length, 2]);
    rows.forEach((row, i) => {
      const [p0, p1] = fraudReference(row);
      expect(Math.abs((out?.data[2 * i] ?? NaN) - p0)).toBeLessThan(TOLERANCE);
      expect(Math.abs((out?.data[2 * i + 1] ?? NaN) - p1)).toBeLessThan(TOLERANCE);
    });

    // the restored LearningPipeline started no run
    const lp = await until<Obj>(
      'learningpipeline',
      'train',
      'the restored pipeline to be observed',
      () => true,
    );
    expect((lp.status?.runs as unknown[] | undefined) ?? []).toEqual([]);
  });
});
