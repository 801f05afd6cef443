// What the backup and restore e2e tests share: MinIO as the tests reach it,
// the Secrets and the BackupPolicy they create, waiting on an object with a
// timeout that says why, and a backup read back from the bucket with its key.
import type { Keyring } from '../../controllers/backuppolicy/crypto.ts';
import type { PolicyRef } from '../../controllers/backuppolicy/format.ts';
import type { BackupPolicyStatus } from '../../controllers/backuppolicy/schema.ts';
import { readAndVerify } from '../../controllers/backuppolicy/store.ts';
import type { VerifiedBackup } from '../../controllers/backuppolicy/store.ts';
import type { Condition } from '../../operator/conditions.ts';
import type { CloudEvent } from '../../operator/kafka/events.ts';
import { readTopic } from '../../operator/kafka/platformatic.ts';
import { createObjectStore, objectStoreConfigFromEnv } from '../../operator/storage/s3.ts';
import type { ObjectStore, ObjectStoreConfig } from '../../operator/storage/s3.ts';
import type { OperatorProcess } from './support.ts';
import { getJson, kafkaBrokers, kubectl, kubectlOk, untilObserved } from './support.ts';

export const BACKUP_BUCKET = 'ymera-backups';
export const MODEL_BUCKET = 'ymera-models';
/** Once a year: only on-demand backups (and drills) run during a test. */
export const ONCE_A_YEAR = '0 0 1 1 *';

/** What untilObserved reads of an object, and its conditions. */
export type Observed = {
  metadata: { name: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
};

export type Policy = {
  metadata: { name: string; generation?: number; uid: string; annotations?: Record<string, string> };
  status?: BackupPolicyStatus & { observedGeneration?: number; conditions?: Condition[] };
};

/** MinIO as the host reaches it (the e2e global setup exports it). */
export function s3Config(): ObjectStoreConfig {
  const config = objectStoreConfigFromEnv(process.env);
  if (!config) throw new Error('YMERA_S3_ENDPOINT is not set (the e2e global setup sets it)');
  return config;
}

/** A store on `bucket` (under `prefix`, when given). */
export function openStore(bucket: string, prefix?: string, timeoutMs = 30_000): ObjectStore {
  return createObjectStore({ ...s3Config(), bucket, ...(prefix === undefined ? {} : { prefix }), timeoutMs });
}

/** The model bucket, created when missing. */
export async function openModelStore(timeoutMs = 30_000): Promise<ObjectStore> {
  const models = openStore(MODEL_BUCKET, undefined, timeoutMs);
  await models.ensureBucket();
  return models;
}

/** Deletes what a test wrote below `under` (its whole prefix by default) and closes the store; never throws. */
export async function dropStore(store: ObjectStore | undefined, under = ''): Promise<void> {
  if (!store) return;
  await store.deletePrefix(under).catch(() => undefined);
  store.close();
}

/** A Secret holding MinIO's keys (and `extra`, e.g. AWS_ENDPOINT_URL for a model download). */
export function s3Secret(namespace: string, name: string, extra: Record<string, string> = {}) {
  const { accessKeyId, secretAccessKey } = s3Config().credentials;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    stringData: { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, ...extra },
  };
}

/** A key Secret: each entry a 32-byte key as base64 text, the format spec.encryption.keySecret documents. */
export function keySecret(namespace: string, name: string, keys: Record<string, Buffer>) {
  const data = Object.fromEntries(
    Object.entries(keys).map(([k, v]) => [k, Buffer.from(v.toString('base64')).toString('base64')]),
  );
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, data };
}

/** The Secrets backupPolicy() names: backup-s3 (MinIO's keys) and backup-key (`kek`). */
export function policySecrets(namespace: string, kek: Buffer) {
  return [s3Secret(namespace, 'backup-s3'), keySecret(namespace, 'backup-key', { key: kek })];
}

/** The annotations of an on-demand backup with `token`, or none. */
export const backupNow = (token?: string): Record<string, string> | undefined =>
  token ? { 'ymera.io/backup-now': token } : undefined;

/**
 * A BackupPolicy on MinIO's backup bucket under `prefix`, scheduled once a
 * year, with the Secrets of policySecrets(); `spec` adds to or replaces that.
 */
export function backupPolicy(o: {
  namespace: string;
  name: string;
  prefix: string;
  annotations?: Record<string, string> | undefined;
  spec?: Record<string, unknown>;
}) {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'BackupPolicy',
    metadata: {
      name: o.name,
      namespace: o.namespace,
      ...(o.annotations ? { annotations: o.annotations } : {}),
    },
    spec: {
      schedule: ONCE_A_YEAR,
      storage: {
        s3: {
          endpoint: s3Config().endpoint,
          bucket: BACKUP_BUCKET,
          prefix: o.prefix,
          forcePathStyle: true,
          credentialsSecret: { name: 'backup-s3' },
        },
      },
      encryption: { keySecret: { name: 'backup-key' } },
      ...o.spec,
    },
  };
}

/** The condition `type` of an object. */
export const condition = (o: Observed | undefined, type: string): Condition | undefined =>
  o?.status?.conditions?.find((c) => c.type === type);

/** The policy as the store names it. */
export const policyRef = (namespace: string, p: Policy): PolicyRef => ({
  namespace,
  name: p.metadata.name,
  uid: p.metadata.uid,
});

/** The policy's last backup is Completed (and, given a token, acted on that token). */
export const backupCompleted =
  (token?: string) =>
  (p: Policy): boolean =>
    p.status?.lastBackup?.phase === 'Completed' && (token === undefined || p.status.backupNowToken === token);

/**
 * untilObserved on `kubectl get <getArgs>`; a timeout says what the object's
 * status was and what the operator logged.
 */
export async function untilReported<T extends Observed>(
  getArgs: string[],
  what: string,
  check: (o: T) => boolean,
  op: OperatorProcess | undefined,
  timeoutMs = 90_000,
): Promise<T> {
  try {
    return await untilObserved<T>(getArgs, what, check, timeoutMs);
  } catch (e) {
    const o = await getJson<Observed>(['get', ...getArgs]);
    throw new Error(
      `${(e as Error).message}\nstatus: ${JSON.stringify(o?.status)}\noperator log tail:\n${op?.logs().slice(-3000)}`,
    );
  }
}

/** Backup `id` of `policy` read back from the bucket with `keyring`, every item verified; throws what refused it. */
export async function readVerified(
  store: ObjectStore,
  policy: Pick<PolicyRef, 'namespace' | 'name'>,
  id: string,
  keyring: Keyring,
): Promise<VerifiedBackup> {
  const verified = await readAndVerify(store, policy, id, { keyring });
  if (!verified.ok) throw verified.error;
  return verified.backup;
}

/** Deletes every object of `kinds` (comma-separated) in `namespace` and waits for them to go (finalizers ran). */
export async function deleteAllOf(namespace: string, kinds: string, timeoutSeconds = 60): Promise<void> {
  await kubectl(['delete', kinds, '--all', '-n', namespace, '--wait=true', `--timeout=${timeoutSeconds}s`]);
}

/** The disaster: the workload (finalizers run by the operator) and then the namespace itself, waited for. */
export async function loseNamespace(
  namespace: string,
  timeoutSeconds: { workload: number; namespace: number },
) {
  await kubectlOk([
    'delete',
    'inferenceservices,learningpipelines',
    '--all',
    '-n',
    namespace,
    '--wait=true',
    `--timeout=${timeoutSeconds.workload}s`,
  ]);
  await kubectlOk([
    'delete',
    'namespace',
    namespace,
    '--wait=true',
    `--timeout=${timeoutSeconds.namespace}s`,
  ]);
}

/**
 * Runs `fn` while the stored object `key` has one byte flipped (at `at`,
 * from the end when negative), and puts the original back after.
 */
export async function withDamagedObject<T>(
  store: ObjectStore,
  key: string,
  at: number,
  mask: number,
  fn: () => Promise<T>,
): Promise<T> {
  const original = await store.get(key);
  const damaged = Buffer.from(original);
  const i = at < 0 ? damaged.length + at : at;
  damaged[i] = (damaged[i] ?? 0) ^ mask;
  await store.put(key, damaged);
  try {
    return await fn();
  } finally {
    await store.put(key, original);
  }
}

/** A Restore of BackupPolicy nightly's backups. */
export function restoreOf(namespace: string, name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'Restore',
    metadata: { name, namespace },
    spec: { backupPolicyRef: { name: 'nightly' }, ...spec },
  };
}

/** A ConfigMap; `metadata` adds to its name and namespace (labels, ownerReferences). */
export const configMap = (
  namespace: string,
  name: string,
  data: Record<string, string>,
  metadata: Record<string, unknown> = {},
) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, ...metadata }, data });

/** A ConfigMap owned by the ConfigMap `owner` (a restore rebinds the reference to the owner's new UID). */
export const ownedConfigMap = (
  namespace: string,
  name: string,
  owner: { name: string; uid: string | undefined },
  data: Record<string, string>,
) =>
  configMap(namespace, name, data, {
    ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: owner.name, uid: owner.uid }],
  });

/** An Opaque Secret from plain text values. */
export const secret = (namespace: string, name: string, stringData: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  stringData,
});

/** A container env var read from a ConfigMap's key. */
export const envFromConfigMap = (env: string, name: string, key: string) => ({
  name: env,
  valueFrom: { configMapKeyRef: { name, key } },
});

/** A container env var read from a Secret's key. */
export const envFromSecret = (env: string, name: string, key: string) => ({
  name: env,
  valueFrom: { secretKeyRef: { name, key } },
});

/**
 * The CloudEvents on the shared `topic` keyed `key` (`<namespace>/<name>`):
 * the topic keeps other runs' events, so it is read to its end and filtered.
 */
export async function cloudEventsOf(topic: string, key: string): Promise<CloudEvent[]> {
  const messages = await readTopic({ brokers: kafkaBrokers(), topic, timeoutMs: 20_000 });
  return messages.filter((m) => m.key === key).map((m) => JSON.parse(m.value || '{}') as CloudEvent);
}
