// BackupPolicy restore drills against the real API server and MinIO: an
// on-demand drill (ymera.io/drill-now) restores the latest backup of a
// namespace holding an InferenceService (its model copied into the backup
// and pinned), a ConfigMap and the Secrets they use into a scratch namespace,
// waits for the InferenceService to be Ready, compares object hashes and the
// served model digest, reports the RTO and deletes the scratch namespace.
// A drill may not use a namespace outside its own prefix, nor one it did not
// create (left untouched); a failed drill makes the policy Degraded.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRILL_NAMESPACE_LABEL } from '../../controllers/backuppolicy/drill.ts';
import type { BackupPolicyStatus } from '../../controllers/backuppolicy/schema.ts';
import type { Condition } from '../../operator/conditions.ts';
import { createObjectStore, objectStoreConfigFromEnv } from '../../operator/storage/s3.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  startOperator,
  untilEvent,
  untilObserved,
} from './support.ts';

type Policy = {
  metadata: { name: string; generation?: number; uid: string };
  status?: BackupPolicyStatus & { observedGeneration?: number; conditions?: Condition[] };
};

const BACKUPS = 'ymera-backups';
const MODELS = 'ymera-models';
const kek = randomBytes(32);
const model = randomBytes(300 * 1024);
const modelSha = createHash('sha256').update(model).digest('hex');
let ns: string;
let scratch: string;
let op: OperatorProcess | undefined;
let backups: ObjectStore;
let models: ObjectStore;
let prefix: string;

const cond = (p: Policy, type: string) => p.status?.conditions?.find((c) => c.type === type);
const get = (name: string) => ['backuppolicy', name, '-n', ns];

function policy(name: string, drill: Record<string, unknown>, annotations: Record<string, string>) {
  const config = objectStoreConfigFromEnv(process.env);
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name, namespace: ns, annotations },
    spec: {
      schedule: '0 0 1 1 *', // once a year: only on-demand backups and drills run during the test
      include: { secrets: true },
      modelArtifacts: true,
      storage: {
        s3: {
          endpoint: config?.endpoint,
          bucket: BACKUPS,
          prefix,
          forcePathStyle: true,
          credentialsSecret: { name: 'backup-s3' },
        },
      },
      encryption: { keySecret: { name: 'backup-key' } },
      drill: { schedule: '0 0 1 1 *', ...drill },
    },
  };
}

/** untilObserved on a policy; a timeout says what its status was and what the operator logged. */
async function until(name: string, what: string, check: (p: Policy) => boolean): Promise<Policy> {
  try {
    return await untilObserved<Policy>(get(name), what, check, 150_000);
  } catch (e) {
    const p = await getJson<Policy>(['get', ...get(name)]);
    throw new Error(
      `${(e as Error).message}\nstatus: ${JSON.stringify(p?.status)}\noperator log tail:\n${op?.logs().slice(-3000)}`,
    );
  }
}

beforeAll(async () => {
  ns = await freshNamespace('e2e-drill');
  scratch = `${ns}-drill`;
  prefix = `e2e-drill/${ns}`;
  const config = objectStoreConfigFromEnv(process.env);
  if (!config) throw new Error('YMERA_S3_ENDPOINT is not set (the e2e global setup sets it)');
  backups = createObjectStore({ ...config, bucket: BACKUPS, prefix, timeoutMs: 30_000 });
  models = createObjectStore({ ...config, bucket: MODELS, timeoutMs: 30_000 });
  await models.ensureBucket();
  await models.put(`${prefix}/iris.onnx`, model);
  const creds = config.credentials as { accessKeyId: string; secretAccessKey: string };
  await kubectlOk(
    ['apply', '-f', '-'],
    toYaml([
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
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'model-dl', namespace: ns },
        stringData: {
          AWS_ACCESS_KEY_ID: creds.accessKeyId,
          AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
          AWS_ENDPOINT_URL: config.endpoint,
        },
      },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'iris-config', namespace: ns },
        data: { threshold: '0.5' },
      },
      {
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: 'iris', namespace: ns, labels: { app: 'iris' } },
        spec: {
          model: {
            uri: `s3://${MODELS}/${prefix}/iris.onnx`,
            version: 'v1',
            sha256: modelSha,
            credentialsSecret: { name: 'model-dl' },
          },
          runtime: {
            env: [
              {
                name: 'THRESHOLD',
                valueFrom: { configMapKeyRef: { name: 'iris-config', key: 'threshold' } },
              },
            ],
          },
        },
      },
    ]),
  );
  op = await startOperator('op-drill', [`--watch-namespaces=${ns},${scratch}`]);
});

afterAll(async () => {
  if (ns) {
    await kubectl(['delete', 'backuppolicies', '--all', '-n', ns, '--wait=true', '--timeout=60s']);
    await deleteInferenceServices(ns);
    await deleteInferenceServices(scratch);
  }
  await op?.stop();
  if (ns) {
    await kubectl(['delete', 'namespace', ns, scratch, `${ns}-other`, '--wait=false', '--ignore-not-found']);
  }
  for (const s of [backups, models]) {
    if (!s) continue;
    await s.deletePrefix(s === models ? `${prefix}/` : '').catch(() => undefined);
    s.close();
  }
});

describe('BackupPolicy drills', () => {
  it('restores the latest backup into a scratch namespace, checks it, reports the RTO and cleans up', async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        policy(
          'nightly',
          { targetNamespace: scratch },
          { 'ymera.io/backup-now': 'b1', 'ymera.io/drill-now': 'd1' },
        ),
      ]),
    );
    const p = await until(
      'nightly',
      'nightly to finish drill d1',
      (o) => o.status?.drillNowToken === 'd1' && o.status.lastDrill !== undefined && !o.status.activeDrill,
    );
    const last = p.status?.lastDrill;
    expect(last, JSON.stringify(last)).toMatchObject({
      result: 'Passed',
      trigger: 'OnDemand',
      backupId: p.status?.lastBackup?.id,
      modelsChecked: 1,
    });
    // the InferenceService, its ConfigMap and the two Secrets it and the policy name; no BackupPolicy
    expect(last?.objectsChecked).toBe(4);
    expect(last?.rtoSeconds).toBeGreaterThan(0);
    expect(last?.message).toContain('all match; recovery took');
    expect(cond(p, 'DrillPassed')).toMatchObject({ status: 'True', reason: 'DrillPassed' });
    expect(p.status?.phase).toBe('Healthy');
    await untilEvent(ns, 'nightly', 'DrillPassed', 'BackupPolicy');
    // the scratch namespace goes (keepNamespace is false)
    await eventually(
      `scratch namespace ${scratch} to be deleted`,
      async () => {
        const n = await getJson<{ metadata: { deletionTimestamp?: string } }>(['get', 'namespace', scratch]);
        return n === undefined || n.metadata.deletionTimestamp !== undefined ? true : undefined;
      },
      120_000,
    );
  });

  it('may not use a namespace outside its own prefix: Failed, DrillPassed False, Degraded', async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([policy('elsewhere', { targetNamespace: 'kube-public' }, { 'ymera.io/drill-now': 'd1' })]),
    );
    const p = await until(
      'elsewhere',
      'elsewhere to fail drill d1',
      (o) => o.status?.lastDrill?.result === 'Failed',
    );
    expect(p.status?.lastDrill?.message).toContain(
      `a drill of a policy in ${ns} may use only namespaces named ${ns}-<suffix>`,
    );
    expect(cond(p, 'DrillPassed')).toMatchObject({ status: 'False', reason: 'DrillFailed' });
    expect(p.status?.phase).toBe('Degraded');
    await untilEvent(ns, 'elsewhere', 'DrillFailed', 'BackupPolicy');
  });

  it('never writes to or deletes a namespace it did not create', async () => {
    const other = `${ns}-other`;
    await kubectlOk(['create', 'namespace', other]);
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'keep', namespace: other },
          data: { a: '1' },
        },
      ]),
    );
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([policy('foreign', { targetNamespace: other }, { 'ymera.io/drill-now': 'd1' })]),
    );
    const p = await until(
      'foreign',
      'foreign to fail drill d1',
      (o) => o.status?.lastDrill?.result === 'Failed',
    );
    expect(p.status?.lastDrill?.message).toContain(
      `namespace ${other} exists and was not created by a drill of this policy`,
    );
    const n = await getJson<{ metadata: { labels?: Record<string, string>; deletionTimestamp?: string } }>([
      'get',
      'namespace',
      other,
    ]);
    expect(n?.metadata.deletionTimestamp).toBeUndefined();
    expect(n?.metadata.labels?.[DRILL_NAMESPACE_LABEL]).toBeUndefined();
    const cms = await getJson<{ items: { metadata: { name: string } }[] }>([
      'get',
      'configmaps',
      '-n',
      other,
    ]);
    expect(cms?.items.map((c) => c.metadata.name).filter((x) => x !== 'kube-root-ca.crt')).toEqual(['keep']);
  });
});
