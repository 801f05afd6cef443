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
import { readAndVerify } from '../../controllers/backuppolicy/store.ts';
import type { Condition } from '../../operator/conditions.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import { createObjectStore, objectStoreConfigFromEnv } from '../../operator/storage/s3.ts';
import {
  FRAUD_MODEL,
  MODEL_SHA256,
  featureRows,
  fraudReference,
} from '../../runtime/models/fraud-reference.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  startOperator,
  untilObserved,
} from './support.ts';

const NODE = process.env.YMERA_REAL_NODE;
const skipReason = !NODE
  ? ' (skipped: YMERA_REAL_NODE is unset, the stack runs without the real node; see test/e2e/cluster/README.md "The real node")'
  : '';
const MODELS = 'ymera-models';
const BACKUPS = 'ymera-backups';
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

const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
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

  const until = <T extends Obj>(
    kind: string,
    name: string,
    what: string,
    check: (o: T) => boolean,
    ms = 120_000,
  ) =>
    untilObserved<T>([kind, name, '-n', ns], what, check, ms).catch(async (e: unknown) => {
      const o = await getJson<Obj>(['get', kind, name, '-n', ns]);
      throw new Error(
        `${(e as Error).message}\nstatus: ${JSON.stringify(o?.status)}\noperator log tail:\n${op?.logs().slice(-3000)}`,
      );
    });

  /** What Git holds for the namespace besides the workload: the policy, its Secrets. */
  function policyAndSecrets(): unknown[] {
    const config = objectStoreConfigFromEnv(process.env);
    const creds = config?.credentials as { accessKeyId: string; secretAccessKey: string };
    return [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'backup-s3', namespace: ns },
        stringData: { AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'backup-key', namespace: ns },
        data: { key: Buffer.from(kek.toString('base64')).toString('base64') },
      },
      {
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'BackupPolicy',
        metadata: { name: 'nightly', namespace: ns },
        spec: {
          schedule: '0 0 1 1 *', // once a year: only on-demand backups run during the test
          modelArtifacts: true,
          include: { secrets: true },
          storage: {
            s3: {
              endpoint: config?.endpoint,
              bucket: BACKUPS,
              prefix: `e2e-real-restore/${ns}`,
              forcePathStyle: true,
              credentialsSecret: { name: 'backup-s3' },
            },
          },
          encryption: { keySecret: { name: 'backup-key' } },
        },
      },
    ];
  }

  /** The workload: an InferenceService on the real node, what it references, a LearningPipeline. */
  function workload(): unknown[] {
    const config = objectStoreConfigFromEnv(process.env);
    const creds = config?.credentials as { accessKeyId: string; secretAccessKey: string };
    const podEndpoint = process.env.YMERA_POD_S3_ENDPOINT;
    if (!podEndpoint)
      throw new Error('YMERA_POD_S3_ENDPOINT is unset: test/e2e/stack/minio.sh env exports it');
    return [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'model-store', namespace: ns },
        // the runtime's credentials, MinIO as pods reach it (the operator reaches it there too)
        stringData: {
          AWS_ENDPOINT_URL: podEndpoint,
          AWS_ACCESS_KEY_ID: creds.accessKeyId,
          AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
          AWS_REGION: config?.region ?? 'us-east-1',
        },
      },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'fraud-settings', namespace: ns },
        data: { threshold: '0.7' },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'fraud-token', namespace: ns },
        stringData: { token: 'restore-me' },
      },
      {
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: NAME, namespace: ns },
        spec: {
          model: {
            uri: `s3://${MODELS}/${modelKey}`,
            version: 'v1',
            sha256: MODEL_SHA256['fraud.onnx'],
            credentialsSecret: { name: 'model-store' },
          },
          runtime: {
            resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
            nodeSelector: { 'ymera.io/node-pool': 'real' },
            tolerations: [{ key: 'ymera.io/real-node', operator: 'Exists', effect: 'NoSchedule' }],
            env: [
              {
                name: 'THRESHOLD',
                valueFrom: { configMapKeyRef: { name: 'fraud-settings', key: 'threshold' } },
              },
              { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'fraud-token', key: 'token' } } },
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
    const cfg = objectStoreConfigFromEnv(process.env);
    if (!cfg) throw new Error('YMERA_S3_ENDPOINT is unset: the e2e stack provides MinIO');
    models = createObjectStore({ ...cfg, bucket: MODELS, timeoutMs: 15_000 });
    backups = createObjectStore({
      ...cfg,
      bucket: BACKUPS,
      prefix: `e2e-real-restore/${ns}`,
      timeoutMs: 30_000,
    });
    await models.ensureBucket();
    await models.put(modelKey, modelBytes);
    await kubectlOk(['apply', '-f', '-'], toYaml([...policyAndSecrets(), ...workload()]));
    op = await startOperator('op-real-dr', [`--watch-namespaces=${ns}`]);
  });

  afterAll(async () => {
    if (ns)
      await kubectl([
        'delete',
        'inferenceservices,learningpipelines,backuppolicies,restores',
        '--all',
        '-n',
        ns,
        '--wait=true',
        '--timeout=60s',
      ]);
    await op?.stop();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
    await models?.delete(modelKey).catch(() => undefined);
    await backups?.deletePrefix('').catch(() => undefined);
    models?.close();
    backups?.close();
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
    const p = await until<Obj>('backuppolicy', 'nightly', 'backup dr1 to complete', (o) => {
      const last = o.status?.lastBackup as { phase?: string } | undefined;
      return o.status?.backupNowToken === 'dr1' && last?.phase === 'Completed';
    });
    backupId = (p.status?.lastBackup as { id: string }).id;
    const verified = await readAndVerify(backups!, { namespace: ns, name: 'nightly' }, backupId, {
      keyring: new Keyring([kek]),
    });
    if (!verified.ok) throw verified.error;
    const items = verified.backup.manifest.items;
    const model = items.find((i): i is ModelItem => i.type === 'model');
    expect(model?.modelDigest).toBe(`sha256:${MODEL_SHA256['fraud.onnx']}`);
    expect(items.find((i) => i.type === 'resource' && i.kind === 'InferenceService')?.modelDigest).toBe(
      model?.modelDigest,
    );
  });

  it('after losing the namespace and the model file, a Restore brings the service back serving the same model on the real node', async () => {
    // the disaster: the namespace and the model file are gone
    await kubectlOk([
      'delete',
      'inferenceservices,learningpipelines',
      '--all',
      '-n',
      ns,
      '--wait=true',
      '--timeout=120s',
    ]);
    await kubectlOk(['delete', 'namespace', ns, '--wait=true', '--timeout=180s']);
    await models!.delete(modelKey);
    expect(await models!.head(modelKey)).toBeUndefined();

    // the namespace comes back from Git: the policy, its Secrets, and a Restore of the latest backup
    await restrictedNamespace();
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        ...policyAndSecrets(),
        {
          apiVersion: 'ymera.io/v1alpha1',
          kind: 'Restore',
          metadata: { name: 'after-disaster', namespace: ns },
          spec: { backupPolicyRef: { name: 'nightly' }, modelArtifacts: true },
        },
      ]),
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
    const pods = await getJson<{ items: Pod[] }>([
      'get',
      'pods',
      '-n',
      ns,
      '-l',
      `ymera.io/inferenceservice=${NAME}`,
    ]);
    expect(pods?.items.length).toBeGreaterThan(0);
    expect(pods?.items.every((p) => p.spec.nodeName === NODE)).toBe(true);
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
