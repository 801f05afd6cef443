// Reads a run's artifacts in S3: a small one whole (the gate's metrics file
// when the step left no termination message), the model file streamed
// through SHA-256 (its digest, pinned on promotion). Credentials come from
// the artifacts' credentialsSecret, read in the pipeline's own namespace
// only, else the operator's own identity (keys, IRSA, EKS Pod Identity,
// instance metadata) when the admin allows the endpoint (artifact-access.ts);
// neither is ever logged or put into status. Every
// read is capped while it streams, and refused endpoints (link-local, cloud
// metadata) get no request.
import { createHash } from 'node:crypto';
import type { KubeClient } from '../../operator/kube/client.ts';
import { KubeApiError } from '../../operator/kube/client.ts';
import { core } from '../../operator/kube/resources.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { StorageAccessPolicy } from '../../operator/storage/egress.ts';
import type { Credentials, CredentialsProvider, ObjectStoreOptions } from '../../operator/storage/s3.ts';
import {
  AMBIENT_SOURCES,
  ENDPOINT_REFUSED,
  MAX_OBJECT_BYTES,
  NO_CREDENTIALS,
  OBJECT_TOO_LARGE,
  ObjectStoreError,
  createObjectStore,
  formatS3Uri,
  isNoSuchKey,
  isObjectStoreUnavailable,
  processAmbientCredentials,
} from '../../operator/storage/s3.ts';
import type { S3Location } from './artifact-access.ts';
import { MAX_READ_FLAG, artifactEndpoint, credentialsSource, locationConnection } from './artifact-access.ts';
import type { Computed } from './digest.ts';

type SecretObject = KubeObject & { data?: Record<string, string> };

const decode = (v: string | undefined) =>
  v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');

/** The largest model file hashed: 2 GiB, the most one ONNX (protobuf) file can hold. */
export const MAX_MODEL_BYTES = 2 * 1024 ** 3;

/**
 * The credentials for `s3` (a location of a resource in `namespace`, at
 * `field`), or why there are none, in words safe for status. Shared with the
 * BackupPolicy controller.
 */
export async function credentialsFor(
  client: KubeClient,
  namespace: string,
  s3: S3Location,
  policy: StorageAccessPolicy,
  field = 'spec.artifacts.s3',
): Promise<Credentials | CredentialsProvider | { error: string }> {
  // resolved lazily (and once per process): only an allowed endpoint ever makes the chain look
  const source = credentialsSource(namespace, s3, policy, processAmbientCredentials(), field);
  if ('error' in source) return source;
  if ('ambient' in source) return source.ambient;
  const { name } = source.secret;
  let secret: SecretObject | undefined;
  try {
    secret = await client.get<SecretObject>(core.secret, name, source.secret.namespace);
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 403)
      return {
        error: `the operator may not read Secret ${name} (Helm values rbac.secretsAccess, rbac.secretsNamespaces)`,
      };
    throw e;
  }
  if (!secret) return { error: `Secret ${name} (${field}.credentialsSecret) does not exist` };
  const accessKeyId = decode(secret.data?.AWS_ACCESS_KEY_ID);
  const secretAccessKey = decode(secret.data?.AWS_SECRET_ACCESS_KEY);
  if (!accessKeyId || !secretAccessKey)
    return { error: `Secret ${name} lacks the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY` };
  const sessionToken = decode(secret.data?.AWS_SESSION_TOKEN);
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

type Store = ReturnType<typeof createObjectStore>;

/** How copies are made: one CopyObject up to the threshold, else a multipart copy (see ObjectStoreOptions). */
export type CopySettings = Pick<
  ObjectStoreOptions,
  'copyThresholdBytes' | 'copyPartSizeBytes' | 'copyQueueSize'
>;

/** Runs `use` on a store of the artifacts bucket that reads at most maxBytes a body, closing it afterwards. */
async function withStore<T>(
  client: KubeClient,
  namespace: string,
  s3: S3Location,
  access: { policy: StorageAccessPolicy; maxBytes: number; copy?: CopySettings | undefined },
  use: (store: Store) => Promise<T>,
): Promise<T | { error: string }> {
  const credentials = await credentialsFor(client, namespace, s3, access.policy);
  if (typeof credentials !== 'function' && 'error' in credentials) return credentials;
  let store: Store;
  try {
    store = createObjectStore({
      ...locationConnection(s3),
      bucket: s3.bucket,
      credentials,
      timeoutMs: 10_000,
      maxGetBytes: access.maxBytes,
      refusedCidrs: access.policy.refusedCidrs,
      ...access.copy,
    });
  } catch (e) {
    return { error: `spec.artifacts.s3: ${(e as Error).message}` };
  }
  try {
    return await use(store);
  } finally {
    store.close();
  }
}

/**
 * Why a read of `where` failed, in words safe for status (never an S3 message: it may name the
 * access key id); `cap` names the setting that bounds the read.
 */
function readFailure(e: unknown, where: string, s3: S3Location, cap: string): string | undefined {
  if (isNoSuchKey(e)) return `${where} does not exist`;
  if (!(e instanceof ObjectStoreError)) return undefined;
  if (e.code === OBJECT_TOO_LARGE) return `${where} is larger than ${cap}; the read was aborted`;
  if (e.code === NO_CREDENTIALS)
    return (
      `spec.artifacts.s3.credentialsSecret is not set and the operator found no credentials of its own ` +
      `(looked at ${AMBIENT_SOURCES}); set spec.artifacts.s3.credentialsSecret`
    );
  if (e.code === ENDPOINT_REFUSED)
    return `spec.artifacts.s3.endpoint ${artifactEndpoint(s3)} is refused: ${e.message}`;
  return `reading ${where} failed: ${e.code}`;
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
  const where = formatS3Uri(s3.bucket, key);
  return withStore(client, namespace, s3, { policy, maxBytes }, async (store) => {
    try {
      return { text: (await store.get(key)).toString('utf8') };
    } catch (e) {
      const why = readFailure(
        e,
        where,
        s3,
        `${maxBytes} bytes, the most the operator reads of it (${MAX_READ_FLAG})`,
      );
      if (why === undefined) throw e;
      return { error: why };
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
  policy: StorageAccessPolicy,
): Promise<Computed> {
  const where = formatS3Uri(s3.bucket, key);
  const result = await withStore(
    client,
    namespace,
    s3,
    { policy, maxBytes: MAX_MODEL_BYTES },
    async (store): Promise<Computed> => {
      try {
        const body = await store.getStream(key, { signal: AbortSignal.timeout(HASH_BUDGET_MS) });
        return { sha256: await sha256OfStream(body) };
      } catch (e) {
        if (isNoSuchKey(e))
          return { error: `${where} does not exist (the model step did not upload it)`, transient: false };
        if (e instanceof ObjectStoreError)
          return {
            error: (
              readFailure(e, where, s3, `${MAX_MODEL_BYTES} bytes, the largest model file hashed`) ??
              `hashing ${where} failed: ${e.code}`
            ).replace(/^reading/, 'hashing'),
            transient: isObjectStoreUnavailable(e),
          };
        // not retried: a store that slow would hold a worker for the whole budget again and again
        if (e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError'))
          return { error: `hashing ${where} took longer than ${HASH_BUDGET_MS / 1000}s`, transient: false };
        throw e;
      }
    },
  );
  // missing or unreadable credentials, a refused endpoint: the user must fix them (a Secret, RBAC, the spec)
  return 'error' in result && !('transient' in result) ? { ...result, transient: false } : result;
}

/** Hex SHA-256 of a byte stream, chunk by chunk. */
export async function sha256OfStream(body: AsyncIterable<Uint8Array | string>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk);
  return hash.digest('hex');
}

/** Objects one sweep's publication copies at most (a model and its metrics are a handful). */
export const MAX_PUBLISHED_OBJECTS = 1000;
/** Largest listing response read while publishing (a page of 1,000 keys is a few hundred KiB). */
const LISTING_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Budget of one copy request (a CopyObject up to the store's threshold, or
 * one part of a multipart copy), retries included: a server-side copy of
 * hundreds of MiB takes seconds, more than the store's 10 s for other calls.
 */
const COPY_CALL_TIMEOUT_MS = 60_000;

/** Why a publication failed, and whether trying again can help (an outage) or not (a limit, a refusal). */
export type PublishFailure = { error: string; transient: boolean };

/**
 * A failed copy classified: an unavailable store (5xx, network, after the
 * store's own retries) is transient; anything else the store answered
 * (AccessDenied, a missing bucket, ...) will answer again: permanent.
 */
export function publishFailure(e: unknown, where: string, s3: S3Location): PublishFailure | undefined {
  // a multipart copy pins its parts to the source's ETag: copying again copies the new version whole
  if (e instanceof ObjectStoreError && e.code === 'PreconditionFailed')
    return { error: `${where} changed while it was being copied; copying it again`, transient: true };
  const why = readFailure(e, where, s3, 'the copy limit');
  if (why === undefined) return undefined;
  return { error: why.replace(/^reading/, 'copying'), transient: isObjectStoreUnavailable(e) };
}

/**
 * Pure: the permanent error of an object no S3 copy can write, if it is one
 * (over 5 GiB is a multipart copy, up to S3's largest object).
 */
export function uncopyable(o: { key: string; size: number }, bucket: string): string | undefined {
  if (o.size <= MAX_OBJECT_BYTES) return undefined;
  return `${formatS3Uri(bucket, o.key)} is ${o.size} bytes, more than the ${MAX_OBJECT_BYTES} bytes (5 TiB) of S3's largest object, the most a copy can write; write it as smaller objects (a directory output)`;
}

/**
 * Publishes a sweep's winner with S3 artifacts: every object of each output
 * (a file, or a directory's objects) under `fromRoot` is copied server-side
 * to the same path under `toRoot`, so later steps (which sync the run's
 * root), the gate and the promotion find the winner's files at the declared
 * paths. Idempotent (a copy again writes the same bytes), so a restart midway
 * just copies again. An output the trial left no object for is skipped.
 * Errors say whether they are transient (retry) or permanent (fail the step).
 */
export async function copyS3Outputs(
  client: KubeClient,
  namespace: string,
  s3: S3Location,
  copy: { fromRoot: string; toRoot: string; paths: readonly string[] },
  policy: StorageAccessPolicy,
  copySettings?: CopySettings,
): Promise<{ copied: number } | PublishFailure> {
  // the cap bounds every response body: here the listings (1,000 keys a page)
  const result = await withStore(
    client,
    namespace,
    s3,
    { policy, maxBytes: LISTING_MAX_BYTES, copy: copySettings },
    async (store): Promise<{ copied: number } | PublishFailure> => {
      let copied = 0;
      // failures name the object being copied, else (a listing) the trial's root
      let where = formatS3Uri(s3.bucket, copy.fromRoot);
      try {
        for (const path of copy.paths) {
          const from = `${copy.fromRoot}/${path}`;
          for (const o of await store.listAll(from)) {
            if (o.key !== from && !o.key.startsWith(`${from}/`)) continue;
            if (++copied > MAX_PUBLISHED_OBJECTS)
              return {
                error: `the best trial's outputs under ${formatS3Uri(s3.bucket, copy.fromRoot)} are more than ${MAX_PUBLISHED_OBJECTS} objects (the publication limit)`,
                transient: false,
              };
            const tooLarge = uncopyable(o, s3.bucket);
            if (tooLarge) return { error: tooLarge, transient: false };
            where = formatS3Uri(s3.bucket, o.key);
            await store.copy(o.key, `${copy.toRoot}/${path}${o.key.slice(from.length)}`, {
              size: o.size,
              timeoutMs: COPY_CALL_TIMEOUT_MS,
            });
            where = formatS3Uri(s3.bucket, copy.fromRoot);
          }
        }
      } catch (e) {
        const failure = publishFailure(e, where, s3);
        if (failure === undefined) throw e;
        return failure;
      }
      return { copied };
    },
  );
  // missing or unreadable credentials, a refused endpoint: the user must fix them
  return 'error' in result && !('transient' in result) ? { ...result, transient: false } : result;
}
