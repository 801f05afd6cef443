// Reads a run's artifacts in S3: a small one whole (the gate's metrics file
// when the step left no termination message), the model file streamed
// through SHA-256 (its digest, pinned on promotion). Credentials come from
// the artifacts' credentialsSecret, else the operator's own AWS_*
// environment; neither is ever logged or put into status.
import { createHash } from 'node:crypto';
import type { KubeClient } from '../../operator/kube/client.ts';
import { KubeApiError } from '../../operator/kube/client.ts';
import { core } from '../../operator/kube/resources.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { Credentials } from '../../operator/storage/s3.ts';
import { createObjectStore, isObjectStoreUnavailable, ObjectStoreError } from '../../operator/storage/s3.ts';
import type { Computed } from './digest.ts';
import type { LearningPipelineSpec } from './schema.ts';

type S3Location = NonNullable<LearningPipelineSpec['artifacts']['s3']>;
type SecretObject = KubeObject & { data?: Record<string, string> };

const decode = (v: string | undefined) =>
  v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');

async function credentialsFor(
  client: KubeClient,
  namespace: string,
  s3: S3Location,
): Promise<Credentials | { error: string }> {
  const ref = s3.credentialsSecret;
  if (!ref) {
    const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey)
      return { error: 'spec.artifacts.s3 has no credentialsSecret and the operator has no AWS credentials' };
    return {
      accessKeyId,
      secretAccessKey,
      ...(process.env.AWS_SESSION_TOKEN ? { sessionToken: process.env.AWS_SESSION_TOKEN } : {}),
    };
  }
  let secret: SecretObject | undefined;
  try {
    secret = await client.get<SecretObject>(core.secret, ref.name, namespace);
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 403)
      return { error: `the operator may not read Secret ${ref.name} (Helm value rbac.secretsAccess)` };
    throw e;
  }
  if (!secret) return { error: `Secret ${ref.name} (spec.artifacts.s3.credentialsSecret) does not exist` };
  const accessKeyId = decode(secret.data?.AWS_ACCESS_KEY_ID);
  const secretAccessKey = decode(secret.data?.AWS_SECRET_ACCESS_KEY);
  if (!accessKeyId || !secretAccessKey)
    return { error: `Secret ${ref.name} lacks the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY` };
  const sessionToken = decode(secret.data?.AWS_SESSION_TOKEN);
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

type Store = ReturnType<typeof createObjectStore>;

/** Runs `use` on a store of the artifacts bucket, closing it afterwards. */
async function withStore<T>(
  client: KubeClient,
  namespace: string,
  s3: S3Location,
  use: (store: Store) => Promise<T>,
): Promise<T | { error: string }> {
  const credentials = await credentialsFor(client, namespace, s3);
  if ('error' in credentials) return credentials;
  const region = s3.region ?? 'us-east-1';
  const store = createObjectStore({
    endpoint: s3.endpoint ?? `https://s3.${region}.amazonaws.com`,
    bucket: s3.bucket,
    region,
    credentials,
    addressing: s3.forcePathStyle ? 'path' : 'virtual-host',
    timeoutMs: 10_000,
  });
  try {
    return await use(store);
  } finally {
    store.close();
  }
}

/** The object at `key` in the artifacts bucket as text, or why it could not be read. */
export async function readS3Artifact(
  client: KubeClient,
  namespace: string,
  s3: S3Location,
  key: string,
  maxBytes: number,
): Promise<{ text: string } | { error: string }> {
  const where = `s3://${s3.bucket}/${key}`;
  return withStore(client, namespace, s3, async (store) => {
    try {
      const info = await store.head(key);
      if (!info) return { error: `${where} does not exist` };
      if (info.size !== undefined && info.size > maxBytes)
        return { error: `${where} is ${info.size} bytes; at most ${maxBytes} are read` };
      return { text: (await store.get(key)).toString('utf8') };
    } catch (e) {
      if (e instanceof ObjectStoreError) return { error: `reading ${where} failed: ${e.code}` };
      throw e;
    }
  });
}

/** Longest a model file may take to hash (a stall fails sooner: the store's idle timeout). */
const HASH_BUDGET_MS = 10 * 60_000;

/**
 * SHA-256 of the object at `key`, streamed through the hash (a model may be
 * gigabytes: never held in memory), or why it could not be computed.
 */
export async function hashS3Artifact(
  client: KubeClient,
  namespace: string,
  s3: S3Location,
  key: string,
): Promise<Computed> {
  const where = `s3://${s3.bucket}/${key}`;
  const result = await withStore(client, namespace, s3, async (store): Promise<Computed> => {
    try {
      if (!(await store.head(key)))
        return { error: `${where} does not exist (the model step did not upload it)`, transient: false };
      const body = await store.getStream(key, { signal: AbortSignal.timeout(HASH_BUDGET_MS) });
      return { sha256: await sha256OfStream(body) };
    } catch (e) {
      if (e instanceof ObjectStoreError)
        return { error: `hashing ${where} failed: ${e.code}`, transient: isObjectStoreUnavailable(e) };
      if (e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError'))
        return { error: `hashing ${where} took longer than ${HASH_BUDGET_MS / 1000}s`, transient: true };
      throw e;
    }
  });
  // missing or unreadable credentials: the user must fix them (a Secret, or RBAC)
  return 'error' in result && !('transient' in result) ? { ...result, transient: false } : result;
}

/** Hex SHA-256 of a byte stream, chunk by chunk. */
export async function sha256OfStream(body: AsyncIterable<Uint8Array | string>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk);
  return hash.digest('hex');
}
