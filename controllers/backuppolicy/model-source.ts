// The model files of a backup (spec.modelArtifacts) as items for writeBackup:
// each s3:// source read as a stream (never held whole: a file of several
// GiB copies with bounded memory), with the credentials the referencing
// object itself uses (an InferenceService's spec.model.credentialsSecret, a
// pipeline's spec.artifacts.s3), under the admin's storage egress policy
// (refused endpoints get no request; the operator's own credentials only
// where the admin allows). What is copied is decided in models.ts (pure).
//
// A source that cannot be read (or whose bytes do not match a pinned
// sha256) fails its item only: the body throws, writeBackup records the
// failure in the manifest (PartiallyFailed), and nothing pairs with it.
// Messages are safe for the manifest and status: never an S3 error text
// (it may name the access key id), never a credential.
import type { KubeClient } from '../../operator/kube/client.ts';
import { KubeApiError } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core } from '../../operator/kube/resources.ts';
import type { StorageAccessPolicy } from '../../operator/storage/egress.ts';
import type { Credentials, CredentialsProvider, ObjectStore } from '../../operator/storage/s3.ts';
import {
  ENDPOINT_REFUSED,
  NO_CREDENTIALS,
  OBJECT_TOO_LARGE,
  ObjectStoreError,
  createObjectStore,
  isNoSuchKey,
} from '../../operator/storage/s3.ts';
import { artifactEndpoint, locationConnection } from '../learningpipeline/artifact-access.ts';
import { credentialsFor } from '../learningpipeline/artifact-store.ts';
import type { ItemFailure } from './format.ts';
import type { ModelRef, ModelSource } from './models.ts';
import { decide, groupSources, modelRefsOf, pairings, pinMismatch } from './models.ts';
import type { ItemInput } from './store.ts';
import { releaseChunk } from './release.ts';

/** The largest model file copied: 64 GiB (5 MiB parts doubling every 2,000 parts stay well within S3's 10,000; multipart.ts). */
export const MAX_MODEL_COPY_BYTES = 64 * 1024 ** 3;
/** One request's budget, and how long a stream may go without data. */
const SOURCE_TIMEOUT_MS = 30_000;

type SecretObject = KubeObject & { data?: Record<string, string> };
type Conn = {
  region: string;
  credentials: Credentials | CredentialsProvider;
  addressing: 'path' | 'virtual-host';
};

/** A Secret's data value as trimmed text (undefined when absent). */
export const secretText = (v: string | undefined) =>
  v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8').trim();

/** The models of a backup: the items to write first, the notes for the manifest, the pairing. */
export type ModelPlan = {
  /** Model items (bodies read lazily, one at a time, as writeBackup pulls them). */
  items: ItemInput[];
  /** References not copied on purpose (file://): for the manifest's notCopied. */
  notCopied: ItemFailure[];
  /** After the model items were written: the digest each object's item carries ("Kind ns/name" → sha256:…). */
  digests(): Map<string, string>;
};

const failing = (uri: string, message: string): ItemInput => ({
  type: 'model',
  source: uri,
  // a body that fails at once: writeBackup records it as a failed model
  // eslint-disable-next-line require-yield
  body: (async function* () {
    throw new Error(message);
  })(),
});

/**
 * Plans and reads the model files `objects` reference. Reads the Secrets
 * that name credentials (in the objects' own namespaces only); everything
 * else happens as writeBackup consumes the items.
 */
export async function modelItems(
  client: KubeClient,
  objects: readonly KubeObject[],
  access: StorageAccessPolicy,
): Promise<ModelPlan> {
  const refs = objects.flatMap(modelRefsOf);
  const notCopied: ItemFailure[] = [];
  const failed: ItemInput[] = [];
  const resolved: { ref: ModelRef; endpoint: string; bucket: string; key: string; conn: Conn }[] = [];
  const secrets = new Map<string, Promise<SecretObject | string | undefined>>();
  for (const ref of refs) {
    const d = decide(ref);
    if (!d.copy) {
      if (d.failed) failed.push(failing(ref.uri, `${ref.owner}: ${d.message}`));
      else notCopied.push({ what: `model ${ref.uri}`, message: `${ref.owner}: ${d.message}` });
      continue;
    }
    const r = await resolveAccess(client, ref, access, secrets);
    if ('error' in r) failed.push(failing(ref.uri, `${ref.owner}: ${r.error}`));
    else resolved.push({ ref, bucket: d.bucket, key: d.key, ...r });
  }
  const sources = groupSources(resolved);
  const copied = new Map<string, string>();
  const items: ItemInput[] = [
    ...sources.map((s): ItemInput => ({
      type: 'model',
      source: s.uri,
      body: readSource(s, access),
      // writeBackup hashes the bytes anyway: the pins are checked on its digest, before the upload completes
      verify: (sha256) => {
        const mismatch = pinMismatch(s.refs, sha256);
        if (mismatch) return `${mismatch}; not backed up`;
        copied.set(s.id, sha256);
        return undefined;
      },
    })),
    ...failed,
  ];
  return { items, notCopied, digests: () => pairings(sources, copied) };
}

/** The endpoint and credentials a reference is read with, or why there are none. */
async function resolveAccess(
  client: KubeClient,
  ref: ModelRef,
  policy: StorageAccessPolicy,
  secrets: Map<string, Promise<SecretObject | string | undefined>>,
): Promise<{ endpoint: string; conn: Conn } | { error: string }> {
  const a = ref.access;
  if (a.via === 'artifacts') {
    const credentials = await credentialsFor(client, a.namespace, a.s3, policy, 'spec.artifacts.s3');
    if (typeof credentials !== 'function' && 'error' in credentials) return credentials;
    const { endpoint, region, addressing } = locationConnection(a.s3);
    return { endpoint, conn: { region, credentials, addressing } };
  }
  if (!a.secret) {
    // as the runtime: no Secret, no endpoint: AWS S3, with the operator's identity only where allowed
    const s3 = { bucket: 'unused' };
    const credentials = await credentialsFor(client, a.namespace, s3, policy, 'spec.model');
    if (typeof credentials !== 'function' && 'error' in credentials) return credentials;
    return {
      endpoint: artifactEndpoint(s3),
      conn: { region: 'us-east-1', credentials, addressing: 'path' },
    };
  }
  const key = `${a.namespace}/${a.secret}`;
  let pending = secrets.get(key);
  if (!pending) {
    pending = client.get<SecretObject>(core.secret, a.secret, a.namespace).catch((e: unknown) => {
      if (e instanceof KubeApiError && e.status === 403)
        return `the operator may not read Secret ${a.secret} (Helm values rbac.secretsAccess, rbac.secretsNamespaces)`;
      throw e;
    });
    secrets.set(key, pending);
  }
  const secret = await pending;
  if (typeof secret === 'string') return { error: secret };
  if (!secret) return { error: `Secret ${a.secret} (spec.model.credentialsSecret) does not exist` };
  const accessKeyId = secretText(secret.data?.AWS_ACCESS_KEY_ID);
  const secretAccessKey = secretText(secret.data?.AWS_SECRET_ACCESS_KEY);
  if (!accessKeyId || !secretAccessKey)
    return { error: `Secret ${a.secret} lacks the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY` };
  const sessionToken = secretText(secret.data?.AWS_SESSION_TOKEN);
  const region = secretText(secret.data?.AWS_REGION) || 'us-east-1';
  const endpoint = secretText(secret.data?.AWS_ENDPOINT_URL) || `https://s3.${region}.amazonaws.com`;
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password)
    return { error: `Secret ${a.secret}: AWS_ENDPOINT_URL is not an http(s) URL without credentials` };
  return {
    endpoint: url.href.replace(/\/$/, ''),
    conn: {
      region,
      credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
      addressing: 'path',
    },
  };
}

/** Why reading a source failed, in words safe for the manifest and status. */
function sourceFailure(e: unknown, s: ModelSource<Conn>): Error {
  return new Error(`${ownersOf(s)}: ${sourceReason(e, s)}`);
}

const ownersOf = (s: ModelSource<Conn>) => [...new Set(s.refs.map((r) => r.owner))].join(', ');

function sourceReason(e: unknown, s: ModelSource<Conn>): string {
  const where = `${s.uri} at ${s.endpoint}`;
  if (isNoSuchKey(e)) return `${where} does not exist`;
  if (e instanceof ObjectStoreError) {
    if (e.code === ENDPOINT_REFUSED) return `${s.endpoint} is refused: ${e.message}`;
    if (e.code === NO_CREDENTIALS) return `no credentials to read ${where}`;
    if (e.code === OBJECT_TOO_LARGE)
      return `${where} is larger than ${MAX_MODEL_COPY_BYTES} bytes, the largest model copied`;
    return `reading ${where} failed: ${e.code}`;
  }
  if (e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError'))
    return `reading ${where} was aborted`;
  return `reading ${where} failed: ${e instanceof Error ? e.name : 'error'}`;
}

/**
 * The bytes of one source, passed on in the chunks they arrive in. Not
 * regrouped into bigger ones: each regrouping is a copy of every byte and a
 * fresh allocation per chunk, garbage the process holds until V8 collects it
 * (measured on a 1 GiB copy: about 25 MiB more RSS and a slower copy);
 * encryptItem and the multipart upload take chunks of any size without
 * copying them more than once.
 */
async function* readSource(s: ModelSource<Conn>, policy: StorageAccessPolicy): AsyncGenerator<Uint8Array> {
  let store: ObjectStore;
  try {
    store = createObjectStore({
      endpoint: s.endpoint,
      bucket: s.bucket,
      region: s.conn.region,
      credentials: s.conn.credentials,
      addressing: s.conn.addressing,
      timeoutMs: SOURCE_TIMEOUT_MS,
      maxGetBytes: MAX_MODEL_COPY_BYTES,
      refusedCidrs: policy.refusedCidrs,
    });
  } catch (e) {
    throw new Error(`${ownersOf(s)}: ${s.endpoint}: ${(e as Error).message}`);
  }
  try {
    try {
      const stream = await store.getStream(s.key);
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        yield chunk;
        // the consumer (writeBackup: hash, then a copy into a frame or an upload part) is done
        // with it once it asks for the next: its memory is freed now, not at a major GC
        releaseChunk(chunk);
      }
    } catch (e) {
      throw sourceFailure(e, s);
    }
  } finally {
    store.close();
  }
}
