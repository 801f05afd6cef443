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
import type { ObjectStore } from '../../operator/storage/s3.ts';
import type { Policy } from './backup-fixtures.ts';
import {
  BACKUP_BUCKET,
  MODEL_BUCKET,
  ONCE_A_YEAR,
  backupPolicy,
  condition as cond,
  configMap,
  deleteAllOf,
  dropStore,
  envFromConfigMap,
  openModelStore,
  openStore,
  policySecrets,
  s3Config,
  s3Secret,
  untilReported,
} from './backup-fixtures.ts';
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
} from './support.ts';

const kek = randomBytes(32);
const model = randomBytes(300 * 1024);
const modelSha = createHash('sha256').update(model).digest('hex');
let ns: string;
let scratch: string;
let op: OperatorProcess | undefined;
let backups: ObjectStore;
let models: ObjectStore;
let prefix: string;

const get = (name: string) => ['backuppolicy', name, '-n', ns];
const until = (name: string, what: string, check: (p: Policy) => boolean) =>
  untilReported<Policy>(get(name), what, check, op, 150_000);

// only on-demand backups and drills run during the test
const policy = (name: string, drill: Record<string, unknown>, annotations: Record<string, string>) =>
  backupPolicy({
    namespace: ns,
    name,
    prefix,
    annotations,
    spec: { include: { secrets: true }, modelArtifacts: true, drill: { schedule: ONCE_A_YEAR, ...drill } },
  });

beforeAll(async () => {
  ns = await freshNamespace('e2e-drill');
  scratch = `${ns}-drill`;
  prefix = `e2e-drill/${ns}`;
  backups = openStore(BACKUP_BUCKET, prefix);
  models = await openModelStore();
  await models.put(`${prefix}/iris.onnx`, model);
  await kubectlOk(
    ['apply', '-f', '-'],
    toYaml([
      ...policySecrets(ns, kek),
      s3Secret(ns, 'model-dl', { AWS_ENDPOINT_URL: s3Config().endpoint }),
      configMap(ns, 'iris-config', { threshold: '0.5' }),
      {
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: 'iris', namespace: ns, labels: { app: 'iris' } },
        spec: {
          model: {
            uri: `s3://${MODEL_BUCKET}/${prefix}/iris.onnx`,
            version: 'v1',
            sha256: modelSha,
            credentialsSecret: { name: 'model-dl' },
          },
          runtime: {
            env: [envFromConfigMap('THRESHOLD', 'iris-config', 'threshold')],
          },
        },
      },
    ]),
  );
  op = await startOperator('op-drill', [`--watch-namespaces=${ns},${scratch}`]);
});

afterAll(async () => {
  if (ns) {
    await deleteAllOf(ns, 'backuppolicies');
    await deleteInferenceServices(ns);
    await deleteInferenceServices(scratch);
  }
  await op?.stop();
  if (ns) {
    await kubectl(['delete', 'namespace', ns, scratch, `${ns}-other`, '--wait=false', '--ignore-not-found']);
  }
  await dropStore(backups);
  await dropStore(models, `${prefix}/`);
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
    await kubectlOk(['apply', '-f', '-'], toYaml([configMap(other, 'keep', { a: '1' })]));
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
