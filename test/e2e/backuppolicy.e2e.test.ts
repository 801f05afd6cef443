// BackupPolicy against the real API server and MinIO: an on-demand backup
// (ymera.io/backup-now) of a namespace holding an InferenceService, the
// ConfigMap and Secret it references and one it does not; the backup read
// back from the bucket and verified with the key; a token acted on once;
// retention (keepLast) deleting the older backup from the bucket; Secrets
// only with include.secrets; a key Secret that holds no key → Stalled.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '../../controllers/backuppolicy/crypto.ts';
import type { PolicyRef } from '../../controllers/backuppolicy/format.ts';
import type { BackupPolicyStatus } from '../../controllers/backuppolicy/schema.ts';
import { listBackups, readAndVerify } from '../../controllers/backuppolicy/store.ts';
import type { Condition } from '../../operator/conditions.ts';
import { createObjectStore, objectStoreConfigFromEnv } from '../../operator/storage/s3.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  startOperator,
  untilEvent,
  untilObserved,
} from './support.ts';

type Policy = {
  metadata: { name: string; generation?: number; uid: string; annotations?: Record<string, string> };
  status?: BackupPolicyStatus & { observedGeneration?: number; conditions?: Condition[] };
};

const BUCKET = 'ymera-backups';
const kek = randomBytes(32);
const keyring = new Keyring([kek]);
let ns: string;
let op: OperatorProcess | undefined;
let store: ObjectStore;
let prefix: string;

const cond = (p: Policy, type: string) => p.status?.conditions?.find((c) => c.type === type);
const ref = (p: Policy): PolicyRef => ({ namespace: ns, name: p.metadata.name, uid: p.metadata.uid });

function policy(name: string, spec: Record<string, unknown>, token?: string) {
  const config = objectStoreConfigFromEnv(process.env);
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name, namespace: ns, ...(token ? { annotations: { 'ymera.io/backup-now': token } } : {}) },
    spec: {
      schedule: '0 0 1 1 *', // once a year: only on-demand backups run during the test
      storage: {
        s3: {
          endpoint: config?.endpoint,
          bucket: BUCKET,
          prefix,
          forcePathStyle: true,
          credentialsSecret: { name: 'backup-s3' },
        },
      },
      encryption: { keySecret: { name: 'backup-key' } },
      ...spec,
    },
  };
}

const get = (name: string) => ['backuppolicy', name, '-n', ns];

/** untilObserved on a policy; a timeout says what its status was and what the operator logged. */
async function until(name: string, what: string, check: (p: Policy) => boolean): Promise<Policy> {
  try {
    return await untilObserved<Policy>(get(name), what, check);
  } catch (e) {
    const p = await getJson<Policy>(['get', ...get(name)]);
    throw new Error(
      `${(e as Error).message}\nstatus: ${JSON.stringify(p?.status)}\noperator log tail:\n${op?.logs().slice(-3000)}`,
    );
  }
}

beforeAll(async () => {
  ns = await freshNamespace('e2e-bpol');
  prefix = `e2e-bpol/${ns}`;
  const config = objectStoreConfigFromEnv(process.env);
  if (!config) throw new Error('YMERA_S3_ENDPOINT is not set (the e2e global setup sets it)');
  store = createObjectStore({ ...config, bucket: BUCKET, prefix, timeoutMs: 30_000 });
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
        metadata: { name: 'bad-key', namespace: ns },
        stringData: { key: 'correct horse battery staple' },
      },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'iris-config', namespace: ns },
        data: { threshold: '0.5' },
      },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'unrelated', namespace: ns },
        data: { other: 'x' },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'iris-token', namespace: ns },
        stringData: { token: 's3cr3t-token' },
      },
      {
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: 'iris', namespace: ns, labels: { app: 'iris' } },
        spec: {
          model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
          runtime: {
            env: [
              {
                name: 'THRESHOLD',
                valueFrom: { configMapKeyRef: { name: 'iris-config', key: 'threshold' } },
              },
              { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'iris-token', key: 'token' } } },
            ],
          },
        },
      },
    ]),
  );
  op = await startOperator('op-bpol', [`--watch-namespaces=${ns}`]);
});

afterAll(async () => {
  if (ns) {
    await kubectl(['delete', 'backuppolicies', '--all', '-n', ns, '--wait=true', '--timeout=60s']);
    await deleteInferenceServices(ns);
  }
  await op?.stop();
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  if (store) {
    await store.deletePrefix('').catch(() => undefined);
    store.close();
  }
});

describe('BackupPolicy', () => {
  let first: string;

  it('takes an encrypted on-demand backup of the namespace: the InferenceService, what it references, clean', async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([policy('nightly', { include: { secrets: true }, retention: { keepLast: 2 } }, 't1')]),
    );
    const p = await until(
      'nightly',
      'nightly to complete backup t1',
      (o) => o.status?.lastBackup?.phase === 'Completed' && o.status.backupNowToken === 't1',
    );
    expect(p.status?.lastBackup).toMatchObject({ trigger: 'OnDemand', phase: 'Completed' });
    expect(p.status?.phase).toBe('Healthy');
    expect(cond(p, 'BackupHealthy')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(cond(p, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(p, 'Stalled')).toBeUndefined();
    expect(p.status?.lastSuccessfulBackupTime).toBeDefined();
    first = p.status?.lastBackup?.id ?? '';
    expect(p.status?.backups?.map((b) => b.id)).toEqual([first]);

    // read back from the bucket with the key, every item verified
    const verified = await readAndVerify(store, ref(p), first, { keyring });
    if (!verified.ok) throw verified.error;
    const objects = verified.backup.items.map(
      (i) =>
        JSON.parse(i.body?.toString('utf8') ?? 'null') as Record<string, unknown> & {
          kind: string;
          metadata: Record<string, unknown> & { name: string };
          data?: Record<string, string>;
        },
    );
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    // the policy itself is a ymera object of the namespace; the unreferenced ConfigMap, the S3
    // credentials (named by the policy: referenced) are in, the key sealing the backup is not
    expect(names).toEqual(
      [
        'BackupPolicy/nightly',
        'ConfigMap/iris-config',
        'InferenceService/iris',
        'Secret/backup-s3',
        'Secret/iris-token',
      ].sort(),
    );
    expect(verified.backup.manifest.encryption?.keyId).toBeDefined();
    const iris = objects.find((o) => o.kind === 'InferenceService');
    expect(iris?.metadata).toEqual({ name: 'iris', namespace: ns, labels: { app: 'iris' } });
    expect(iris?.status).toBeUndefined();
    const token = objects.find((o) => o.metadata.name === 'iris-token');
    expect(Buffer.from(token?.data?.token ?? '', 'base64').toString()).toBe('s3cr3t-token');

    await untilEvent(ns, 'nightly', 'BackupCompleted', 'BackupPolicy');
    expect(
      await op?.metric('ymera_backup_last_success_timestamp_seconds', {
        namespace: ns,
        backuppolicy: 'nightly',
      }),
    ).toBeGreaterThan(0);
    expect(
      await op?.metric('ymera_backup_last_bytes', { namespace: ns, backuppolicy: 'nightly' }),
    ).toBeGreaterThan(0);
  });

  it('acts on a token once: a reconcile of a new generation with the same token takes no backup', async () => {
    await kubectlOk([
      'patch',
      ...get('nightly'),
      '--type=merge',
      '-p',
      '{"spec":{"retention":{"keepLast":1}}}',
    ]);
    const p = await until('nightly', 'nightly to observe keepLast 1', () => true);
    expect(p.status?.lastBackup?.id).toBe(first);
    expect((await listBackups(store, ref(p))).map((b) => b.id)).toEqual([first]);
  });

  it('a new token takes a new backup; keepLast 1 deletes the older one from the bucket', async () => {
    await kubectlOk(['annotate', '--overwrite', ...get('nightly'), 'ymera.io/backup-now=t2']);
    const p = await until(
      'nightly',
      'nightly to complete backup t2',
      (o) => o.status?.backupNowToken === 't2' && o.status.lastBackup?.phase === 'Completed',
    );
    const second = p.status?.lastBackup?.id;
    expect(second).not.toBe(first);
    expect((await listBackups(store, ref(p))).map((b) => b.id)).toEqual([second]);
    expect(p.status?.backups?.map((b) => b.id)).toEqual([second]);
  });

  it('backs up no Secret without include.secrets', async () => {
    await kubectlOk(['apply', '-f', '-'], toYaml([policy('no-secrets', {}, 'a')]));
    const p = await until(
      'no-secrets',
      'no-secrets to complete its backup',
      (o) => o.status?.lastBackup?.phase === 'Completed',
    );
    const verified = await readAndVerify(store, ref(p), p.status?.lastBackup?.id ?? '', { keyring });
    if (!verified.ok) throw verified.error;
    const kinds = verified.backup.manifest.items.map((i) =>
      i.type === 'resource' ? `${i.kind}/${i.name}` : i.type,
    );
    expect(kinds).toContain('ConfigMap/iris-config');
    expect(kinds.filter((k) => k.startsWith('Secret/'))).toEqual([]);
  });

  it('a key Secret that holds no key: Stalled naming the Secret, without its value, and no backup', async () => {
    const spec = { encryption: { keySecret: { name: 'bad-key' } } };
    await kubectlOk(['apply', '-f', '-'], toYaml([policy('bad-key', spec, 'x')]));
    const p = await until('bad-key', 'bad-key to be Stalled', (o) => cond(o, 'Stalled')?.status === 'True');
    const stalled = cond(p, 'Stalled');
    expect(stalled?.reason).toBe('InvalidKey');
    expect(stalled?.message).toContain('spec.encryption.keySecret');
    expect(stalled?.message).toContain('bad-key');
    expect(JSON.stringify(p.status)).not.toContain('correct horse');
    expect(cond(p, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidKey' });
    expect(p.status?.lastBackup).toBeUndefined();
    expect(await listBackups(store, ref(p))).toEqual([]);
    expect(op?.logs()).not.toContain('correct horse');
  });

  it('a store that cannot be reached: the backup Failed with the reason, Reconciling; the same token completes once the store is reachable', async () => {
    const down = policy('store-down', {}, 'd1') as ReturnType<typeof policy> & {
      spec: { storage: { s3: { endpoint?: string } } };
    };
    const endpoint = down.spec.storage.s3.endpoint;
    down.spec.storage.s3.endpoint = 'http://127.0.0.1:1'; // nothing listens there
    await kubectlOk(['apply', '-f', '-'], toYaml([down]));
    const failed = await until(
      'store-down',
      'store-down to report the failed backup',
      (o) => o.status?.lastBackup?.phase === 'Failed',
    );
    expect(failed.status?.lastBackup?.reason).toBe('StorageUnavailable');
    expect(failed.status?.lastBackup?.message).toContain('could not be reached');
    expect(failed.status?.backupNowToken).toBeUndefined(); // not acted on yet: retried
    expect(cond(failed, 'BackupHealthy')).toMatchObject({ status: 'False', reason: 'StorageUnavailable' });
    expect(cond(failed, 'Reconciling')).toMatchObject({ status: 'True', reason: 'BackupRetrying' });
    await untilEvent(ns, 'store-down', 'BackupFailed', 'BackupPolicy');
    // the store comes back (here: the right endpoint); the same token completes on a retry
    await kubectlOk([
      'patch',
      ...get('store-down'),
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { storage: { s3: { endpoint } } } }),
    ]);
    const done = await until(
      'store-down',
      'store-down to complete d1',
      (o) => o.status?.lastBackup?.phase === 'Completed' && o.status.backupNowToken === 'd1',
    );
    expect(cond(done, 'Reconciling')).toBeUndefined();
    expect(done.status?.phase).toBe('Healthy');
  });
});
