// Reads a small artifact of a run from S3 (the gate's metrics file when the
// step left no termination message). Credentials come from the artifacts'
// credentialsSecret, read in the pipeline's own namespace only, else the
// operator's own when the admin allows the endpoint (artifact-access.ts);
// neither is ever logged or put into status. The read is capped while it
// streams, and refused endpoints (link-local, cloud metadata) get no request.
import type { KubeClient } from '../../operator/kube/client.ts';
import { KubeApiError } from '../../operator/kube/client.ts';
import { core } from '../../operator/kube/resources.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { Credentials } from '../../operator/storage/s3.ts';
import {
  ENDPOINT_REFUSED,
  OBJECT_TOO_LARGE,
  ObjectStoreError,
  createObjectStore,
  formatS3Uri,
  isNoSuchKey,
} from '../../operator/storage/s3.ts';
import type { StorageAccessPolicy } from '../../operator/storage/egress.ts';
import type { S3Location } from './artifact-access.ts';
import { MAX_READ_FLAG, ambientCredentials, artifactEndpoint, credentialsSource } from './artifact-access.ts';

type SecretObject = KubeObject & { data?: Record<string, string> };

const decode = (v: string | undefined) =>
  v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');

async function credentialsFor(
  client: KubeClient,
  namespace: string,
  s3: S3Location,
  policy: StorageAccessPolicy,
): Promise<Credentials | { error: string }> {
  const source = credentialsSource(namespace, s3, policy, ambientCredentials(process.env));
  if ('error' in source) return source;
  if ('ambient' in source) return source.ambient;
  const { name } = source.secret;
  let secret: SecretObject | undefined;
  try {
    secret = await client.get<SecretObject>(core.secret, name, source.secret.namespace);
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 403)
      return { error: `the operator may not read Secret ${name} (Helm value rbac.secretsAccess)` };
    throw e;
  }
  if (!secret) return { error: `Secret ${name} (spec.artifacts.s3.credentialsSecret) does not exist` };
  const accessKeyId = decode(secret.data?.AWS_ACCESS_KEY_ID);
  const secretAccessKey = decode(secret.data?.AWS_SECRET_ACCESS_KEY);
  if (!accessKeyId || !secretAccessKey)
    return { error: `Secret ${name} lacks the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY` };
  const sessionToken = decode(secret.data?.AWS_SESSION_TOKEN);
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** The object at `key` in the artifacts bucket as text (at most maxBytes), or why it could not be read. */
export async function readS3Artifact(
  client: KubeClient,
  namespace: string,
  s3: S3Location,
  key: string,
  maxBytes: number,
  policy: StorageAccessPolicy,
): Promise<{ text: string } | { error: string }> {
  const credentials = await credentialsFor(client, namespace, s3, policy);
  if ('error' in credentials) return credentials;
  const where = formatS3Uri(s3.bucket, key);
  const endpoint = artifactEndpoint(s3);
  let store;
  try {
    store = createObjectStore({
      endpoint,
      bucket: s3.bucket,
      region: s3.region ?? 'us-east-1',
      credentials,
      addressing: s3.forcePathStyle ? 'path' : 'virtual-host',
      timeoutMs: 10_000,
      maxGetBytes: maxBytes,
      refusedCidrs: policy.refusedCidrs,
    });
  } catch (e) {
    return { error: `spec.artifacts.s3: ${(e as Error).message}` };
  }
  try {
    return { text: (await store.get(key)).toString('utf8') };
  } catch (e) {
    if (isNoSuchKey(e)) return { error: `${where} does not exist` };
    if (e instanceof ObjectStoreError && e.code === OBJECT_TOO_LARGE)
      return {
        error: `${where} is larger than ${maxBytes} bytes, the most the operator reads of it (${MAX_READ_FLAG}); the read was aborted`,
      };
    if (e instanceof ObjectStoreError && e.code === ENDPOINT_REFUSED)
      return { error: `spec.artifacts.s3.endpoint ${endpoint} is refused: ${e.message}` };
    // the code only: other messages may name the access key id
    if (e instanceof ObjectStoreError) return { error: `reading ${where} failed: ${e.code}` };
    throw e;
  } finally {
    store.close();
  }
}
