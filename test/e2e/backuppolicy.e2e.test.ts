// BackupPolicy against the real API server and MinIO: an on-demand backup
// (ymera.io/backup-now) of a namespace holding an InferenceService, the
// ConfigMap and Secret it references and one it does not; the backup read
// back from the bucket and verified with the key; a token acted on once;
// retention (keepLast) deleting the older backup from the bucket; Secrets
// only with include.secrets; a key Secret that holds no key → Stalled.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '../../controllers/backuppolicy/crypto.ts';
import { listBackups } from '../../controllers/backuppolicy/store.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import type { Policy } from './backup-fixtures.ts';
import {
  BACKUP_BUCKET,
  backupCompleted,
  backupNow,
  backupPolicy,
  condition as cond,
  configMap,
  deleteAllOf,
  dropStore,
  envFromConfigMap,
  envFromSecret,
  keySecret,
  openStore,
  policyRef,
  policySecrets,
  readVerified,
  secret,
  untilReported,
} from './backup-fixtures.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  freshNamespace,
  kubectl,
  kubectlOk,
  startOperator,
  untilEvent,
} from './support.ts';

const kek = randomBytes(32);
const keyring = new Keyring([kek]);
let ns: string;
let op: OperatorProcess | undefined;
let store: ObjectStore;
let prefix: string;

const ref = (p: Policy) => policyRef(ns, p);
const policy = (name: string, spec: Record<string, unknown>, token?: string) =>
  backupPolicy({ namespace: ns, name, prefix, annotations: backupNow(token), spec });
const get = (name: string) => ['backuppolicy', name, '-n', ns];
const until = (name: string, what: string, check: (p: Policy) => boolean) =>
  untilReported<Policy>(get(name), what, check, op);

beforeAll(async () => {
  ns = await freshNamespace('e2e-bpol');
  prefix = `e2e-bpol/${ns}`;
  store = openStore(BACKUP_BUCKET, prefix);
  await kubectlOk(
    ['apply', '-f', '-'],
    toYaml([
      ...policySecrets(ns, kek),
      secret(ns, 'bad-key', { key: 'correct horse battery staple' }),
      configMap(ns, 'iris-config', { threshold: '0.5' }),
      configMap(ns, 'unrelated', { other: 'x' }),
      secret(ns, 'iris-token', { token: 's3cr3t-token' }),
      {
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: 'iris', namespace: ns, labels: { app: 'iris' } },
        spec: {
          model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
          runtime: {
            env: [
              envFromConfigMap('THRESHOLD', 'iris-config', 'threshold'),
              envFromSecret('TOKEN', 'iris-token', 'token'),
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
    await deleteAllOf(ns, 'backuppolicies');
    await deleteInferenceServices(ns);
  }
  await op?.stop();
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await dropStore(store);
});

describe('BackupPolicy', () => {
  let first: string;

  it('takes an encrypted on-demand backup of the namespace: the InferenceService, what it references, clean', async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([policy('nightly', { include: { secrets: true }, retention: { keepLast: 2 } }, 't1')]),
    );
    const p = await until('nightly', 'nightly to complete backup t1', backupCompleted('t1'));
    expect(p.status?.lastBackup).toMatchObject({ trigger: 'OnDemand', phase: 'Completed' });
    expect(p.status?.phase).toBe('Healthy');
    expect(cond(p, 'BackupHealthy')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(cond(p, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(p, 'Stalled')).toBeUndefined();
    expect(p.status?.lastSuccessfulBackupTime).toBeDefined();
    first = p.status?.lastBackup?.id ?? '';
    expect(p.status?.backups?.map((b) => b.id)).toEqual([first]);

    // read back from the bucket with the key, every item verified
    const backup = await readVerified(store, ref(p), first, keyring);
    const objects = backup.items.map(
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
    expect(backup.manifest.encryption?.keyId).toBeDefined();
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
    const p = await until('nightly', 'nightly to complete backup t2', backupCompleted('t2'));
    const second = p.status?.lastBackup?.id;
    expect(second).not.toBe(first);
    expect((await listBackups(store, ref(p))).map((b) => b.id)).toEqual([second]);
    expect(p.status?.backups?.map((b) => b.id)).toEqual([second]);
  });

  it('backs up no Secret without include.secrets', async () => {
    await kubectlOk(['apply', '-f', '-'], toYaml([policy('no-secrets', {}, 'a')]));
    const p = await until('no-secrets', 'no-secrets to complete its backup', backupCompleted());
    const backup = await readVerified(store, ref(p), p.status?.lastBackup?.id ?? '', keyring);
    const kinds = backup.manifest.items.map((i) => (i.type === 'resource' ? `${i.kind}/${i.name}` : i.type));
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

  it('a key Secret created after the policy (GitOps applies in any order): Stalled, then a backup without any change to the policy', async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([policy('late-key', { encryption: { keySecret: { name: 'late-key' } } }, 'l1')]),
    );
    const stalled = await until(
      'late-key',
      'late-key to be Stalled',
      (o) => cond(o, 'Stalled')?.status === 'True',
    );
    expect(cond(stalled, 'Stalled')).toMatchObject({ reason: 'KeyUnavailable' });
    expect(cond(stalled, 'Stalled')?.message).toContain('Secret late-key does not exist');
    // Secrets are not watched: the policy looks again by itself (well before the operator's
    // 5-minute resync, which until() does not wait for)
    await kubectlOk(['apply', '-f', '-'], toYaml([keySecret(ns, 'late-key', { key: kek })]));
    const done = await until(
      'late-key',
      'late-key to complete l1 once its key exists',
      backupCompleted('l1'),
    );
    expect(cond(done, 'Stalled')).toBeUndefined();
    expect(cond(done, 'Ready')).toMatchObject({ status: 'True' });
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
    const done = await until('store-down', 'store-down to complete d1', backupCompleted('d1'));
    expect(cond(done, 'Reconciling')).toBeUndefined();
    expect(done.status?.phase).toBe('Healthy');
  });
});
