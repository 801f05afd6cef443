// Object storage for model artifacts, pipeline artifacts and backups (MinIO
// locally, any S3-compatible store in production), on the AWS SDK.
//
// The SDK (@aws-sdk/client-s3) does the protocol: SigV4 signing, request
// building, XML, path-style or virtual-host addressing, and the credential
// providers (@aws-sdk/credential-providers: web identity, EKS Pod Identity,
// instance metadata; see credentials.ts). Big objects stream up in parts
// with exact memory bounds (multipart.ts: a reused pool of part buffers);
// server-side copies past a threshold go range by range (multipart-copy.ts);
// small puts (a backup's 1,000 objects) are signed by the client's own
// signer and sent without its per-command middleware stack (#smallPut):
// that stack (endpoint rules, serializers, a fresh stack per send; not the
// request handler, which both paths share) costs ~1 ms of CPU and 40-70 KiB
// of garbage per put with checksums already off; measured on 1,000 puts when it was added: CPU 1.0 -> 0.4 s, the
// operator's RSS growth +59 -> +9 MiB. Errors still go through the SDK.
//
// This layer adds what the platform needs on top, behind a small interface:
// - a time budget per call (timeoutMs, retries included) and our retry
//   policy (errors.ts: idempotent calls on network errors, 5xx, 429,
//   SlowDown; a refused connection for any call), with the SDK's own retries
//   off so budgets and attempts stay ours; an optional circuit breaker;
// - typed errors (ObjectStoreError and subclasses) mapped from the SDK's,
//   never carrying secrets, and retries logged without them;
// - a cap on every response body, counted as it streams in (Content-Length
//   is not trusted): a bigger one aborts the transfer;
// - the egress guard (egress.ts): endpoints may come from users, so the SDK's
//   request handler gets agents whose `lookup` refuses link-local, metadata
//   and admin-refused addresses, judged on the address a name resolves to at
//   connect time, so DNS rebinding cannot slip past a check of the name; an
//   IP literal is judged before any request.
import { createHash } from 'node:crypto';
import { Readable, Transform, pipeline } from 'node:stream';
import { lookup as dnsLookup } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as S3Sdk from '@aws-sdk/client-s3';
import type {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  HeadObjectCommandOutput,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { CircuitOpenError } from '../backoff.ts';
import type { CircuitBreaker } from '../backoff.ts';
import { ConfigError } from '../config.ts';
import type { Logger } from '../logger.ts';
import {
  decodeListedKey,
  endpointLabel,
  formatS3Uri,
  normalizePrefix,
  validateBucketName,
  validateKey,
  validateMetadata,
} from './addressing.ts';
import type { Addressing } from './addressing.ts';
import { explicitCredentials } from './credentials.ts';
import { uploadInParts } from './multipart.ts';
import {
  MAX_COPY_OBJECT_BYTES,
  MAX_PART_BYTES,
  MIN_PART_BYTES,
  completeTimeoutMs,
  copyInParts,
  planCopyParts,
} from './multipart-copy.ts';
import type { PartCopySink } from './multipart-copy.ts';
import type { PartSink } from './multipart.ts';
import type { Credentials, CredentialsProvider } from './credentials.ts';
import { EndpointRefusedError, guardedLookup, parseCidr, refusedHost } from './egress.ts';
import type { Lookup } from './egress.ts';
import {
  DEFAULT_RETRY_POLICY,
  ENDPOINT_REFUSED,
  NO_CREDENTIALS,
  OBJECT_TOO_LARGE,
  ObjectStoreAccessDeniedError,
  ObjectStoreError,
  ObjectStoreUnavailableError,
  networkFailure,
  nextRetryDelay,
  sdkFailure,
  toObjectStoreError,
} from './errors.ts';
import type { Failure, RetryPolicy } from './errors.ts';

export * from './addressing.ts';
export * from './credentials.ts';
export * from './errors.ts';
export * from './egress.ts';
export { MAX_COPY_OBJECT_BYTES, MAX_OBJECT_BYTES } from './multipart-copy.ts';

// --- configuration --------------------------------------------------------------------

export type ObjectStoreConfig = {
  /** e.g. http://127.0.0.1:9000 or https://s3.eu-west-1.amazonaws.com */
  endpoint: string;
  region: string;
  credentials: Credentials;
  addressing: Addressing;
};

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Store settings from the environment, or undefined when YMERA_S3_ENDPOINT is
 * unset (object storage disabled). YMERA_S3_ACCESS_KEY, _SECRET_KEY,
 * _SESSION_TOKEN and _REGION fall back to AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION (default us-east-1);
 * YMERA_S3_ADDRESSING is "path" (default, MinIO) or "virtual-host".
 */
export function objectStoreConfigFromEnv(env: Env = process.env): ObjectStoreConfig | undefined {
  const endpoint = env.YMERA_S3_ENDPOINT?.trim();
  if (!endpoint) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError('YMERA_S3_ENDPOINT must be an http:// or https:// URL');
  }
  if (url.username || url.password) {
    throw new ConfigError('YMERA_S3_ENDPOINT must not carry credentials; set YMERA_S3_ACCESS_KEY/SECRET_KEY');
  }
  const credentials = explicitCredentials(env);
  if (!credentials) {
    throw new ConfigError(
      'YMERA_S3_ENDPOINT is set but YMERA_S3_ACCESS_KEY and YMERA_S3_SECRET_KEY ' +
        '(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) are not',
    );
  }
  const addressing = (env.YMERA_S3_ADDRESSING || 'path').trim();
  if (addressing !== 'path' && addressing !== 'virtual-host') {
    throw new ConfigError(`YMERA_S3_ADDRESSING must be "path" or "virtual-host" (got "${addressing}")`);
  }
  return {
    endpoint: url.href.replace(/\/$/, ''),
    region: env.YMERA_S3_REGION || env.AWS_REGION || 'us-east-1',
    credentials,
    addressing,
  };
}

// --- the interface ---------------------------------------------------------------------

export type CallOptions = {
  signal?: AbortSignal;
  /** This call's budget instead of the store's timeoutMs. */
  timeoutMs?: number;
};

export type GetOptions = CallOptions & {
  /** This call's body cap instead of the store's maxGetBytes. */
  maxBytes?: number;
};

export type PutOptions = CallOptions & {
  /** Default application/octet-stream. */
  contentType?: string;
  /** User metadata (x-amz-meta-*): names of letters, digits, "-", "_"; printable ASCII values. */
  metadata?: Record<string, string>;
};

export type PutStreamOptions = PutOptions & {
  /** Parts uploaded at once; memory held is (queueSize + 1) × partSizeBytes. Default the store's. */
  queueSize?: number;
  /**
   * Leave the body out of the SigV4 signature (UNSIGNED-PAYLOAD) instead of
   * hashing every part with SHA-256 before sending it. Only for callers that
   * verify the stored bytes themselves (backups: the manifest's sha256 of
   * every item, GCM tags, checked by every restore and drill): the store
   * then no longer refuses a body altered in transit; over https TLS still
   * protects it. Default false.
   */
  unsignedPayload?: boolean;
};

export type CopyOptions = CallOptions & {
  /**
   * The source's size when the caller knows it (a listing): one up to the
   * store's copyThresholdBytes is copied with one CopyObject without asking
   * for it first. timeoutMs bounds each request (each part of a multipart copy).
   */
  size?: number;
  /** Awaited after each part of a multipart copy: bytes copied so far of the total. */
  onProgress?: (copiedBytes: number, totalBytes: number) => void | Promise<void>;
};

export type ListOptions = CallOptions & {
  /** Page size of each ListObjectsV2 request, 1..1000; default 1000. */
  maxKeys?: number;
};

export type ObjectInfo = {
  size: number;
  /** Without quotes; the MD5 of the content unless uploaded in parts ("…-N"). */
  etag: string;
  lastModified: Date;
  contentType?: string;
  metadata: Record<string, string>;
};

export type ListedObject = {
  key: string;
  size: number;
  /** Without the surrounding quotes. */
  etag: string;
  lastModified: Date;
};

export type ObjectBody = Buffer | Uint8Array | string | Readable;

/** One bucket, optionally under a key prefix. Keys are relative to the prefix. */
export interface ObjectStore {
  readonly bucket: string;
  /** '' or ending with "/". */
  readonly prefix: string;
  /** Uploads an object and returns its ETag: bytes in one PutObject, a stream through putStream. */
  put(key: string, body: ObjectBody, options?: PutOptions): Promise<{ etag: string }>;
  /**
   * Uploads a stream of unknown length with bounded memory: read in parts of
   * partSizeBytes, one PutObject when it fits in one part, else a multipart
   * upload (queueSize parts at once, each part retried, the upload aborted
   * on failure). timeoutMs bounds each request, not the whole upload.
   */
  putStream(
    key: string,
    body: Readable | AsyncIterable<Uint8Array>,
    options?: PutStreamOptions,
  ): Promise<{ etag: string }>;
  /**
   * The whole object. Missing: ObjectStoreError with code NoSuchKey (see
   * isNoSuchKey); more than maxBytes: code ObjectTooLarge, the transfer aborted.
   */
  get(key: string, options?: GetOptions): Promise<Buffer>;
  /**
   * The object as a stream, read as the consumer reads it (bounded memory).
   * Errors before the first byte are thrown as by get(); afterwards the
   * stream fails with ObjectStoreUnavailableError when no data arrives for
   * timeoutMs, with code ObjectTooLarge (the transfer aborted) once more than
   * maxBytes arrived, and with the signal's reason when it aborts.
   */
  getStream(key: string, options?: GetOptions): Promise<Readable>;
  /**
   * Server-side copy of an object within the bucket (no bytes pass through
   * us): one CopyObject up to copyThresholdBytes, else a multipart copy
   * (UploadPartCopy of copyPartSizeBytes ranges, copyQueueSize at once, the
   * upload aborted on any failure; up to 5 TiB, S3's largest object), the
   * content type, user metadata and Content-Encoding/-Disposition/-Language,
   * Cache-Control and Expires carried over as CopyObject does. Missing source:
   * NoSuchKey; a source replaced during a multipart copy: PreconditionFailed.
   */
  copy(fromKey: string, toKey: string, options?: CopyOptions): Promise<void>;
  /** Size, ETag, date and metadata, or undefined when there is no such object. */
  head(key: string, options?: CallOptions): Promise<ObjectInfo | undefined>;
  /** Objects whose key starts with `prefix`, in key order, fetched page by page (ListObjectsV2). */
  list(prefix?: string, options?: ListOptions): AsyncIterable<ListedObject>;
  listAll(prefix?: string, options?: ListOptions): Promise<ListedObject[]>;
  /** Deletes an object; deleting a missing one succeeds. */
  delete(key: string, options?: CallOptions): Promise<void>;
  /** Deletes every object under `prefix` (non-empty unless the store has a prefix); returns how many. */
  deletePrefix(prefix: string, options?: ListOptions): Promise<number>;
  /** Creates the bucket unless it exists; true when it was created. */
  ensureBucket(options?: CallOptions): Promise<boolean>;
  /** Throws unless the bucket exists and the credentials may use it (HeadBucket). */
  checkBucket(options?: CallOptions): Promise<void>;
  /** The same store one prefix deeper (connections shared). */
  withPrefix(prefix: string): ObjectStore;
  /** Closes idle keep-alive connections. */
  close(): void;
}

export type ObjectStoreOptions = {
  endpoint: string;
  bucket: string;
  /** Keys are relative to this prefix ("models" and "models/" are the same). */
  prefix?: string;
  /** Default us-east-1. */
  region?: string;
  /**
   * Keys, or a provider of them (e.g. processAmbientCredentials(), the
   * operator's own identity: only for endpoints the admin allows). Required:
   * the SDK's default chain is never used implicitly.
   */
  credentials: Credentials | CredentialsProvider;
  /** Default "path" (http://host/bucket/key, forcePathStyle), what MinIO serves. */
  addressing?: Addressing;
  /** Budget of one call, retries included; default 30s. */
  timeoutMs?: number;
  /** Retry timing and attempts; defaults DEFAULT_RETRY_POLICY. */
  retry?: Partial<RetryPolicy>;
  /** First part size of streamed uploads, >= 5 MiB, doubling every 2,000 parts (multipart.ts); default 8 MiB. */
  partSizeBytes?: number;
  /** Parts of a streamed upload in flight at once, >= 1; default 2. */
  uploadQueueSize?: number;
  /** copy() of a larger object is a multipart copy; 0..5 GiB (one CopyObject's limit), default 256 MiB. */
  copyThresholdBytes?: number;
  /** Part size of a multipart copy, 5 MiB..5 GiB, grown when 10,000 parts would not hold the object; default 64 MiB. */
  copyPartSizeBytes?: number;
  /** Parts of a multipart copy copied at once, >= 1; default 4. */
  copyQueueSize?: number;
  /**
   * Cap on every response body (objects, listings), counted as it streams
   * in: Content-Length is not trusted. Default DEFAULT_MAX_GET_BYTES.
   */
  maxGetBytes?: number;
  /**
   * Name resolution (default dns.lookup), always behind guardedLookup: a
   * name resolving to a link-local or metadata address is refused.
   */
  lookup?: Lookup;
  /** Address ranges refused besides link-local and metadata ones, e.g. ["127.0.0.0/8"]. */
  refusedCidrs?: readonly string[];
  /**
   * Every call goes through it (build it with isFailure: isObjectStoreUnavailable);
   * while open, calls fail at once with ObjectStoreUnavailableError code CircuitOpen.
   */
  breaker?: CircuitBreaker;
  logger?: Logger;
};

export function createObjectStore(options: ObjectStoreOptions): ObjectStore {
  return new S3ObjectStore(options);
}

/** A store configured from the environment (objectStoreConfigFromEnv), or undefined when unset. */
export function objectStoreFromEnv(
  bucket: string,
  options: Omit<ObjectStoreOptions, keyof ObjectStoreConfig | 'bucket'> = {},
  env: Env = process.env,
): ObjectStore | undefined {
  const config = objectStoreConfigFromEnv(env);
  return config ? createObjectStore({ ...options, ...config, bucket }) : undefined;
}

// --- the client ------------------------------------------------------------------------

/** The default cap on a response body: enough for listings and small objects, not a memory bomb. */
export const DEFAULT_MAX_GET_BYTES = 64 * 1024 * 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;
/**
 * The copy settings, checked. Multipart copies start well below CopyObject's
 * 5 GiB: a part is a shorter request (within a call's time budget, retried
 * alone) and parts copy in parallel; 64 MiB parts take 10,000 parts to 625
 * GiB, and grow beyond (multipart-copy.ts).
 */
function copySettings(options: ObjectStoreOptions): Shared['copy'] {
  const thresholdBytes = options.copyThresholdBytes ?? 256 * 1024 * 1024;
  if (!Number.isSafeInteger(thresholdBytes) || thresholdBytes < 0 || thresholdBytes > MAX_COPY_OBJECT_BYTES)
    throw new RangeError(
      `copyThresholdBytes must be an integer from 0 to ${MAX_COPY_OBJECT_BYTES} (5 GiB, one CopyObject's limit)`,
    );
  const partSizeBytes = options.copyPartSizeBytes ?? 64 * 1024 * 1024;
  if (
    !Number.isSafeInteger(partSizeBytes) ||
    partSizeBytes < MIN_PART_BYTES ||
    partSizeBytes > MAX_PART_BYTES
  )
    throw new RangeError(
      `copyPartSizeBytes must be an integer from ${MIN_PART_BYTES} (5 MiB) to ${MAX_PART_BYTES} (5 GiB)`,
    );
  const queueSize = options.copyQueueSize ?? 4;
  if (!Number.isInteger(queueSize) || queueSize < 1) throw new RangeError('copyQueueSize must be >= 1');
  return { thresholdBytes, partSizeBytes, queueSize };
}

/** Puts of bytes up to this size take the small-put path (S3ObjectStore.#smallPut). */
const SMALL_PUT_MAX_BYTES = 1024 * 1024;

/** The client's SigV4 signer, as its config hands it out (the part of its interface used here). */
type RequestSigner = {
  sign(request: {
    method: string;
    protocol: string;
    hostname: string;
    port?: number;
    path: string;
    query: Record<string, string>;
    headers: Record<string, string>;
    body: Uint8Array;
  }): Promise<{ headers: Record<string, string> }>;
};
/**
 * The SDK and its HTTP handler (~30 MiB of RSS together) load at the first
 * call of any store, not with the operator: most operators never touch
 * object storage. `sdk` is set before any request is built (#call awaits
 * loadSdk() first); construction and validation of a store need no SDK.
 */
type Sdk = typeof S3Sdk & { NodeHttpHandler: typeof NodeHttpHandler };
let sdk!: Sdk;
let sdkLoading: Promise<void> | undefined;

/** Loads the SDK once per process; a failed load is tried again on the next call. */
function loadSdk(): Promise<void> {
  sdkLoading ??= Promise.all([import('@aws-sdk/client-s3'), import('@smithy/node-http-handler')]).then(
    ([s3, handler]) => {
      sdk = { ...s3, NodeHttpHandler: handler.NodeHttpHandler };
    },
    (e: unknown) => {
      sdkLoading = undefined;
      throw e;
    },
  );
  return sdkLoading;
}

/** An error answer's body is read for its Code and Message only. */
const MAX_ERROR_BODY = 64 * 1024;

type Shared = {
  endpoint: URL;
  label: string;
  bucket: string;
  region: string;
  addressing: Addressing;
  timeoutMs: number;
  policy: RetryPolicy;
  partSize: number;
  queueSize: number;
  copy: { thresholdBytes: number; partSizeBytes: number; queueSize: number };
  maxGetBytes: number;
  refusedCidrs: readonly string[];
  breaker: CircuitBreaker | undefined;
  logger: Logger | undefined;
  /** Created at its first use (the SDK is loaded by then). */
  readonly client: S3Client;
  /** Destroys the client if one was created. */
  destroyClient(): void;
  /** The guarded keep-alive agents the SDK's handler uses (smallPut sends through them too). */
  agents: { http: http.Agent; https: https.Agent };
  /** The access key id the credentials last resolved to, for access-denied messages (not secret). */
  accessKeyId: () => string;
  credentials: Credentials | CredentialsProvider;
};

type CallSpec<T> = {
  operation: string;
  /** Full key (store prefix included); undefined for bucket-level calls. */
  key?: string | undefined;
  idempotent: boolean;
  /** One attempt: sends a fresh command (and reads what it needs) under `abortSignal`. */
  run: (abortSignal: AbortSignal) => Promise<T>;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
};

/** A response body over the cap, failed inside the SDK's deserializer; turned into ObjectTooLarge. */
class BodyTooLargeError extends Error {
  readonly cap: number;
  constructor(cap: number) {
    super(`response body larger than ${cap} bytes`);
    this.cap = cap;
    this.name = 'BodyTooLargeError';
  }
}

/** Passes at most `cap` bytes; fails with `tooLarge()` past it (its pipeline then destroys the source). */
function byteCap(cap: number, tooLarge: () => Error): Transform {
  let received = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length;
      done(received > cap ? tooLarge() : null, chunk);
    },
  });
}

/** The CompleteMultipartUpload of an upload or a copy in parts: its parts, as they were uploaded. */
function completeCommand(
  Bucket: string,
  Key: string,
  UploadId: string,
  Parts: readonly { PartNumber: number; ETag: string }[],
): CompleteMultipartUploadCommand {
  return new sdk.CompleteMultipartUploadCommand({
    Bucket,
    Key,
    UploadId,
    MultipartUpload: { Parts: [...Parts] },
  });
}

/**
 * The command, its payload left out of the SigV4 signature when `unsigned`
 * ("x-amz-content-sha256: UNSIGNED-PAYLOAD", which the signer then uses
 * instead of hashing the body): see PutStreamOptions.unsignedPayload.
 */
function payload<C extends PutObjectCommand | UploadPartCommand>(command: C, unsigned: boolean): C {
  if (!unsigned) return command;
  // one middleware for both commands' stacks (their types differ only in input and output)
  type Step = (args: { request: unknown }) => Promise<unknown>;
  const stack = command.middlewareStack as unknown as {
    add(middleware: (next: Step) => Step, options: { step: 'build'; name: string }): void;
  };
  stack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'ymeraUnsignedPayload' },
  );
  return command;
}

const unquoteEtag = (etag: string | undefined) => (etag ?? '').replace(/^W\//, '').replace(/^"(.*)"$/, '$1');

class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly #s: Shared;

  constructor(options: ObjectStoreOptions, shared?: Shared) {
    this.#s = shared ?? S3ObjectStore.#shared(options);
    this.bucket = this.#s.bucket;
    this.prefix = normalizePrefix(options.prefix);
  }

  static #shared(options: ObjectStoreOptions): Shared {
    const endpoint = new URL(options.endpoint);
    if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') {
      throw new TypeError(`object store endpoint must be http(s), not ${endpoint.protocol}`);
    }
    if (endpoint.username || endpoint.password) {
      throw new TypeError('object store endpoint must not carry credentials');
    }
    // also what keeps ARNs (access points, which the SDK would route to other hosts) out
    const problem = validateBucketName(options.bucket);
    if (problem) throw new TypeError(problem);
    const partSize = options.partSizeBytes ?? 8 * 1024 * 1024;
    if (!(partSize >= MIN_PART_SIZE)) throw new RangeError(`partSizeBytes must be >= ${MIN_PART_SIZE}`);
    const queueSize = options.uploadQueueSize ?? 2;
    if (!Number.isInteger(queueSize) || queueSize < 1) throw new RangeError('uploadQueueSize must be >= 1');
    const copy = copySettings(options);
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (!(timeoutMs > 0)) throw new RangeError('timeoutMs must be > 0');
    const policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    if (!(policy.maxAttempts >= 1)) throw new RangeError('retry.maxAttempts must be >= 1');
    const maxGetBytes = options.maxGetBytes ?? DEFAULT_MAX_GET_BYTES;
    if (!(maxGetBytes >= 1)) throw new RangeError('maxGetBytes must be >= 1');
    const refusedCidrs = options.refusedCidrs ?? [];
    for (const cidr of refusedCidrs) {
      const parsed = parseCidr(cidr);
      if (typeof parsed === 'string') throw new TypeError(`refusedCidrs: ${parsed}`);
    }
    // The guard sits in the agents, so it judges the addresses each new socket connects to. Both
    // agents are ours: the handler would otherwise make an unguarded one for the other scheme, and
    // treats only given agents as external (it makes its own for "Expect: 100-continue" otherwise).
    const lookup = guardedLookup(options.lookup ?? (dnsLookup as unknown as Lookup), refusedCidrs);
    const agentOptions = { keepAlive: true, maxSockets: 16, lookup };
    const agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };

    let accessKeyId = typeof options.credentials === 'function' ? '' : options.credentials.accessKeyId;
    const given = options.credentials;
    const credentials =
      typeof given === 'function'
        ? async () => {
            const c = await given();
            accessKeyId = c.accessKeyId;
            return c;
          }
        : given;
    const newClient = (): S3Client => {
      const requestHandler = new sdk.NodeHttpHandler({ httpAgent: agents.http, httpsAgent: agents.https });
      const client = new sdk.S3Client({
        endpoint: endpoint.href.replace(/\/$/, ''),
        region: options.region ?? 'us-east-1',
        forcePathStyle: (options.addressing ?? 'path') === 'path',
        credentials,
        requestHandler,
        // our retry loop, budgets and breaker decide; the SDK makes one attempt per call
        maxAttempts: 1,
        // checksums only where S3 requires them: many S3-compatible stores reject the rest
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        followRegionRedirects: false,
        // plain SigV4 only: no S3 Express CreateSession for a bucket named "…--x-s3"
        disableS3ExpressSessionAuth: true,
      });
      // Innermost in the deserialize step: caps a body before the SDK's deserializer reads it
      // (listings, error answers). A successful GetObject body is the caller's stream, capped there.
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          const response = result.response as { statusCode?: number; body?: unknown };
          const ok = (response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 300;
          if (context.commandName === 'GetObjectCommand' && ok) return result;
          if (response.body instanceof Readable) {
            const cap = ok ? maxGetBytes : Math.min(maxGetBytes, MAX_ERROR_BODY);
            const capped = byteCap(cap, () => new BodyTooLargeError(cap));
            pipeline(response.body, capped, () => undefined);
            response.body = capped;
          }
          return result;
        },
        { step: 'deserialize', priority: 'low', name: 'ymeraBodyCap' },
      );
      return client;
    };
    let client: S3Client | undefined;
    return {
      endpoint,
      label: endpointLabel(endpoint),
      bucket: options.bucket,
      region: options.region ?? 'us-east-1',
      addressing: options.addressing ?? 'path',
      timeoutMs,
      policy,
      partSize,
      queueSize,
      copy,
      maxGetBytes,
      refusedCidrs,
      breaker: options.breaker,
      logger: options.logger,
      get client() {
        return (client ??= newClient());
      },
      destroyClient: () => client?.destroy(),
      agents,
      accessKeyId: () => accessKeyId,
      credentials: options.credentials,
    };
  }

  withPrefix(prefix: string): ObjectStore {
    const options = { endpoint: this.#s.label, bucket: this.bucket, credentials: this.#s.credentials };
    return new S3ObjectStore({ ...options, prefix: this.prefix + normalizePrefix(prefix) }, this.#s);
  }

  close(): void {
    this.#s.destroyClient();
  }

  #full(key: string): string {
    validateKey(key);
    return this.prefix + key;
  }

  async put(key: string, body: ObjectBody, options: PutOptions = {}): Promise<{ etag: string }> {
    if (body instanceof Readable) return this.putStream(key, body, options);
    const Key = this.#full(key);
    const Body = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const input = {
      Bucket: this.bucket,
      Key,
      Body,
      ContentType: options.contentType ?? 'application/octet-stream',
      Metadata: validateMetadata(options.metadata),
    };
    const out = await this.#call({
      operation: 'PutObject',
      key: Key,
      idempotent: true,
      run: async (abortSignal) => {
        const small = this.#smallPutPath(Key, Body);
        if (small !== undefined) {
          const etag = await this.#smallPut(small, input, abortSignal);
          if (etag !== undefined) return { ETag: etag };
        }
        return this.#s.client.send(new sdk.PutObjectCommand(input), { abortSignal });
      },
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return { etag: unquoteEtag(out.ETag) };
  }

  /** The request path of a put that may take the small-put path (see #smallPut), else undefined. */
  #smallPutPath(Key: string, body: Uint8Array): string | undefined {
    const e = this.#s.endpoint;
    if (body.length > SMALL_PUT_MAX_BYTES || this.#s.addressing !== 'path' || e.pathname !== '/')
      return undefined;
    // as the SDK serializes a path-style key: each segment escaped (RFC 3986, also !'()*), "/" kept
    const escape = (s: string) =>
      encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    return `/${escape(this.bucket)}/${Key.split('/').map(escape).join('/')}`;
  }

  /**
   * One PutObject of a small body without the SDK's per-command middleware
   * stack (endpoint rules, serializers, a fresh stack per send): about 1 ms
   * of CPU and 40-70 KiB of garbage per put, which a backup of 1,000
   * objects pays 1,000 times (bench/backup.ts: seconds of the operator's
   * CPU and most of its RSS growth). Signed by the client's own signer
   * (SigV4, its memoized credentials, signed payload), sent through the
   * same guarded agents. The ETag on success; undefined when the store
   * answered anything but 2xx: the caller then sends the same put through
   * the SDK, which reads the error answer (a put is idempotent), so error
   * codes, messages and retries stay exactly those of the SDK path.
   * Network failures are thrown as the socket reports them (retried by the
   * caller's policy, like the SDK's).
   */
  async #smallPut(
    path: string,
    input: { Body: Uint8Array; ContentType: string; Metadata: Record<string, string> },
    abortSignal: AbortSignal,
  ): Promise<string | undefined> {
    const e = this.#s.endpoint;
    const https_ = e.protocol === 'https:';
    const headers: Record<string, string> = {
      host: e.host,
      'content-type': input.ContentType,
      'content-length': String(input.Body.length),
      'x-amz-content-sha256': createHash('sha256').update(input.Body).digest('hex'),
    };
    for (const [name, value] of Object.entries(input.Metadata)) headers[`x-amz-meta-${name}`] = value;
    const signer = await (
      this.#s.client.config as unknown as { signer: () => Promise<RequestSigner> }
    ).signer();
    const signed = await signer.sign({
      method: 'PUT',
      protocol: e.protocol,
      hostname: e.hostname,
      ...(e.port ? { port: Number(e.port) } : {}),
      path,
      query: {},
      headers,
      body: input.Body,
    });
    abortSignal.throwIfAborted();
    return new Promise<string | undefined>((resolve, reject) => {
      const request = (https_ ? https : http).request(
        {
          agent: https_ ? this.#s.agents.https : this.#s.agents.http,
          method: 'PUT',
          protocol: e.protocol,
          hostname: e.hostname,
          ...(e.port ? { port: Number(e.port) } : {}),
          path,
          headers: signed.headers,
          signal: abortSignal,
        },
        (response) => {
          const status = response.statusCode ?? 0;
          response.on('error', reject);
          response.on('end', () =>
            resolve(status >= 200 && status < 300 ? String(response.headers.etag ?? '') : undefined),
          );
          // the answer of a put is headers only; an error body is left to the SDK's second try
          response.resume();
        },
      );
      request.on('error', reject);
      request.end(input.Body);
    });
  }

  async putStream(
    key: string,
    body: Readable | AsyncIterable<Uint8Array>,
    options: PutStreamOptions = {},
  ): Promise<{ etag: string }> {
    const Key = this.#full(key);
    const queueSize = options.queueSize ?? this.#s.queueSize;
    if (!Number.isInteger(queueSize) || queueSize < 1) throw new RangeError('queueSize must be >= 1');
    const ContentType = options.contentType ?? 'application/octet-stream';
    const Metadata = validateMetadata(options.metadata);
    const Bucket = this.bucket;
    const unsigned = options.unsignedPayload === true;
    const call = this.#callerFor(Key, options);
    // a fresh command for every attempt: the SDK does not promise one can be sent twice
    const sink: PartSink = {
      single: async (Body) => {
        const out = await call('PutObject', true, (abortSignal) =>
          this.#s.client.send(
            payload(new sdk.PutObjectCommand({ Bucket, Key, Body, ContentType, Metadata }), unsigned),
            {
              abortSignal,
            },
          ),
        );
        return { etag: unquoteEtag(out.ETag) };
      },
      create: async () => {
        const out = await call('CreateMultipartUpload', false, (abortSignal) =>
          this.#s.client.send(new sdk.CreateMultipartUploadCommand({ Bucket, Key, ContentType, Metadata }), {
            abortSignal,
          }),
        );
        if (!out.UploadId) throw new Error('internal error: CreateMultipartUpload returned no UploadId');
        return out.UploadId;
      },
      part: async (UploadId, PartNumber, Body) => {
        const out = await call('UploadPart', true, (abortSignal) =>
          this.#s.client.send(
            payload(new sdk.UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body }), unsigned),
            {
              abortSignal,
            },
          ),
        );
        return out.ETag ?? '';
      },
      complete: async (UploadId, Parts) => {
        const out = await call('CompleteMultipartUpload', false, (abortSignal) =>
          this.#s.client.send(completeCommand(Bucket, Key, UploadId, Parts), { abortSignal }),
        );
        return { etag: unquoteEtag(out.ETag) };
      },
      abort: (UploadId) => this.#abortUpload(Key, UploadId, options.timeoutMs),
    };
    return uploadInParts(body, sink, { partSize: this.#s.partSize, queueSize, signal: options.signal });
  }

  async get(key: string, options: GetOptions = {}): Promise<Buffer> {
    const Key = this.#full(key);
    const cap = options.maxBytes ?? this.#s.maxGetBytes;
    return this.#call({
      operation: 'GetObject',
      key: Key,
      idempotent: true,
      // the body is read within the attempt: its budget covers it, and a failure midway is retried
      run: async (abortSignal) => {
        const out = await this.#s.client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key }), {
          abortSignal,
        });
        return readAll(out.Body as Readable, cap, () => this.#tooLarge('GetObject', Key, cap), abortSignal);
      },
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
  }

  async getStream(key: string, options: GetOptions = {}): Promise<Readable> {
    const Key = this.#full(key);
    const body = await this.#call({
      operation: 'GetObject',
      key: Key,
      idempotent: true,
      run: async (abortSignal) =>
        (await this.#s.client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key }), { abortSignal }))
          .Body as Readable,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return this.#guardStream(body, Key, options);
  }

  async copy(fromKey: string, toKey: string, options: CopyOptions = {}): Promise<void> {
    const from = this.#full(fromKey);
    const Key = this.#full(toKey);
    // CopySource is "<bucket>/<key>", URL-encoded (slashes kept)
    const CopySource = `${this.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`;
    if (options.size === undefined || options.size > this.#s.copy.thresholdBytes) {
      // a multipart copy needs what CopyObject would carry over (type, metadata) and the ETag to pin
      const source = await this.#headObject(from, options);
      if (!source) {
        const failure: Failure = { kind: 'http', status: 404, code: 'NoSuchKey', message: 'no such object' };
        throw toObjectStoreError(failure, this.#context('HeadObject', from));
      }
      if ((source.ContentLength ?? 0) > this.#s.copy.thresholdBytes) {
        await this.#copyInParts(from, Key, CopySource, source, options);
        return;
      }
    }
    await this.#call({
      operation: 'CopyObject',
      key: Key,
      idempotent: true,
      run: (abortSignal) =>
        this.#s.client.send(new sdk.CopyObjectCommand({ Bucket: this.bucket, Key, CopySource }), {
          abortSignal,
        }),
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
  }

  /**
   * A multipart copy of `source` (its HEAD) to `Key`: every part pinned to the
   * source's ETag (a source replaced midway fails with PreconditionFailed
   * instead of mixing two versions), the upload aborted on any failure.
   */
  async #copyInParts(
    from: string,
    Key: string,
    CopySource: string,
    source: HeadObjectCommandOutput,
    options: CopyOptions,
  ): Promise<void> {
    const size = source.ContentLength ?? 0;
    const plan = planCopyParts(size, this.#s.copy.partSizeBytes);
    if ('error' in plan) {
      throw new ObjectStoreError(`copying ${formatS3Uri(this.bucket, from)}: ${plan.error}`, {
        code: 'EntityTooLarge',
        operation: 'UploadPartCopy',
        bucket: this.bucket,
        key: from,
      });
    }
    const Bucket = this.bucket;
    // what CopyObject (MetadataDirective COPY) carries over, the upload must be given
    const carried = {
      ...(source.ContentType ? { ContentType: source.ContentType } : {}),
      ...(source.CacheControl ? { CacheControl: source.CacheControl } : {}),
      ...(source.ContentDisposition ? { ContentDisposition: source.ContentDisposition } : {}),
      ...(source.ContentEncoding ? { ContentEncoding: source.ContentEncoding } : {}),
      ...(source.ContentLanguage ? { ContentLanguage: source.ContentLanguage } : {}),
      ...(source.Expires ? { Expires: source.Expires } : {}),
      Metadata: source.Metadata ?? {},
    };
    const pin = source.ETag ? { CopySourceIfMatch: source.ETag } : {};
    const call = this.#callerFor(Key, options);
    const sink: PartCopySink = {
      create: async () => {
        const out = await call('CreateMultipartUpload', false, (abortSignal) =>
          this.#s.client.send(new sdk.CreateMultipartUploadCommand({ Bucket, Key, ...carried }), {
            abortSignal,
          }),
        );
        if (!out.UploadId) throw new Error('internal error: CreateMultipartUpload returned no UploadId');
        return out.UploadId;
      },
      part: async (UploadId, part) => {
        const out = await call('UploadPartCopy', true, (abortSignal) =>
          this.#s.client.send(
            new sdk.UploadPartCopyCommand({
              Bucket,
              Key,
              UploadId,
              PartNumber: part.partNumber,
              CopySource,
              CopySourceRange: `bytes=${part.first}-${part.last}`,
              ...pin,
            }),
            { abortSignal },
          ),
        );
        return out.CopyPartResult?.ETag ?? '';
      },
      // one attempt (copyInParts retries it and checks the destination before aborting), with a
      // budget growing with the part count: S3 may take minutes to assemble a large upload
      complete: async (UploadId, Parts) => {
        const timeoutMs = completeTimeoutMs(Parts.length, options.timeoutMs ?? this.#s.timeoutMs);
        await this.#callerFor(Key, { ...options, timeoutMs })(
          'CompleteMultipartUpload',
          false,
          (abortSignal) =>
            this.#s.client.send(completeCommand(Bucket, Key, UploadId, Parts), { abortSignal }),
        );
      },
      destination: async () => {
        const out = await this.#headObject(Key, options);
        return out && { size: out.ContentLength ?? 0, etag: unquoteEtag(out.ETag) };
      },
      abort: (UploadId) => this.#abortUpload(Key, UploadId, options.timeoutMs),
    };
    await copyInParts(plan, sink, {
      target: { bucket: Bucket, key: Key },
      queueSize: this.#s.copy.queueSize,
      signal: options.signal,
      onProgress: options.onProgress,
    });
  }

  /**
   * Aborts a failed multipart upload so its parts are not kept (and billed);
   * without the caller's signal: the abort must go out after a cancel too.
   * Never throws: a failure is logged (a bucket lifecycle rule is the backstop).
   */
  async #abortUpload(Key: string, UploadId: string, timeoutMs: number | undefined): Promise<void> {
    try {
      await this.#call({
        operation: 'AbortMultipartUpload',
        key: Key,
        idempotent: true,
        run: (abortSignal) =>
          this.#s.client.send(new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }), {
            abortSignal,
          }),
        timeoutMs,
      });
    } catch (error) {
      this.#s.logger?.warn('could not abort a failed multipart upload', {
        bucket: this.bucket,
        object: Key,
        err: error,
      });
    }
  }

  async head(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    const out = await this.#headObject(this.#full(key), options);
    if (!out) return undefined;
    return {
      size: out.ContentLength ?? 0,
      etag: unquoteEtag(out.ETag),
      lastModified: out.LastModified ?? new Date(0),
      ...(out.ContentType ? { contentType: out.ContentType } : {}),
      metadata: out.Metadata ?? {},
    };
  }

  /** HeadObject of a full key, or undefined when there is no such object. */
  async #headObject(Key: string, options: CallOptions): Promise<HeadObjectCommandOutput | undefined> {
    return this.#call({
      operation: 'HeadObject',
      key: Key,
      idempotent: true,
      run: async (abortSignal) => {
        try {
          return await this.#s.client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key }), {
            abortSignal,
          });
        } catch (error) {
          // a missing bucket must not read as a missing object
          const failure = sdkFailure(error);
          if (failure?.kind === 'http' && failure.status === 404 && failure.code !== 'NoSuchBucket') {
            return undefined;
          }
          throw error;
        }
      },
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
  }

  async *list(prefix = '', options: ListOptions = {}): AsyncGenerator<ListedObject> {
    const { maxKeys = 1000, ...call } = options;
    if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > 1000) {
      throw new RangeError('maxKeys must be an integer in 1..1000');
    }
    const fullPrefix = this.prefix + prefix;
    let token: string | undefined;
    do {
      const input = {
        Bucket: this.bucket,
        // keys come back url-encoded: XML 1.0 cannot carry every character a key may hold
        EncodingType: 'url' as const,
        MaxKeys: maxKeys,
        ...(fullPrefix ? { Prefix: fullPrefix } : {}),
        ...(token ? { ContinuationToken: token } : {}),
      };
      const page = await this.#call({
        operation: 'ListObjectsV2',
        idempotent: true,
        run: (abortSignal) => this.#s.client.send(new sdk.ListObjectsV2Command(input), { abortSignal }),
        signal: call.signal,
        timeoutMs: call.timeoutMs,
      });
      for (const o of page.Contents ?? []) {
        const key = decodeListedKey(o.Key ?? '');
        yield {
          key: key.startsWith(this.prefix) ? key.slice(this.prefix.length) : key,
          size: o.Size ?? 0,
          etag: unquoteEtag(o.ETag),
          lastModified: o.LastModified ?? new Date(0),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async listAll(prefix = '', options: ListOptions = {}): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    for await (const o of this.list(prefix, options)) out.push(o);
    return out;
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    const Key = this.#full(key);
    await this.#call({
      operation: 'DeleteObject',
      key: Key,
      idempotent: true,
      run: async (abortSignal) => {
        try {
          await this.#s.client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key }), {
            abortSignal,
          });
        } catch (error) {
          // S3 answers 204 for a missing key too; some stores answer 404
          const failure = sdkFailure(error);
          if (failure?.kind === 'http' && failure.status === 404 && failure.code !== 'NoSuchBucket') return;
          throw error;
        }
      },
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
  }

  async deletePrefix(prefix: string, options: ListOptions = {}): Promise<number> {
    if (this.prefix + prefix === '') {
      throw new TypeError('deletePrefix needs a non-empty prefix (it would empty the bucket)');
    }
    // Collect first: deleting while paging would shift the continuation.
    const keys: string[] = [];
    for await (const o of this.list(prefix, options)) keys.push(this.prefix + o.key);
    for (let i = 0; i < keys.length; i += 1000) {
      const Objects = keys.slice(i, i + 1000).map((Key) => ({ Key }));
      const out = await this.#call({
        operation: 'DeleteObjects',
        idempotent: true,
        run: (abortSignal) =>
          this.#s.client.send(
            new sdk.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects, Quiet: true } }),
            { abortSignal },
          ),
        signal: options.signal,
        timeoutMs: options.timeoutMs,
      });
      const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      const f = failed[0];
      if (f) {
        const more = failed.length > 1 ? ` (and ${failed.length - 1} more keys)` : '';
        const failure: Failure = {
          kind: 'http',
          status: 200,
          code: f.Code ?? 'InternalError',
          message: (f.Message ?? '') + more,
        };
        throw toObjectStoreError(failure, this.#context('DeleteObjects', f.Key));
      }
    }
    return keys.length;
  }

  async ensureBucket(options: CallOptions = {}): Promise<boolean> {
    const region = this.#s.region;
    const input = {
      Bucket: this.bucket,
      // us-east-1 is the default location and must not be named
      ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region } }),
    } as ConstructorParameters<typeof CreateBucketCommand>[0];
    try {
      await this.#call({
        operation: 'CreateBucket',
        idempotent: true,
        run: (abortSignal) => this.#s.client.send(new sdk.CreateBucketCommand(input), { abortSignal }),
        ...options,
      });
      return true;
    } catch (error) {
      if (error instanceof ObjectStoreError && error.code === 'BucketAlreadyOwnedByYou') return false;
      throw error;
    }
  }

  async checkBucket(options: CallOptions = {}): Promise<void> {
    try {
      await this.#call({
        operation: 'HeadBucket',
        idempotent: true,
        run: (abortSignal) =>
          this.#s.client.send(new sdk.HeadBucketCommand({ Bucket: this.bucket }), { abortSignal }),
        ...options,
      });
    } catch (error) {
      if (!(error instanceof ObjectStoreError) || error.statusCode !== 404 || error.code === 'NoSuchBucket') {
        throw error;
      }
      const failure: Failure = {
        kind: 'http',
        status: 404,
        code: 'NoSuchBucket',
        message: 'The specified bucket does not exist',
      };
      throw toObjectStoreError(failure, this.#context('HeadBucket', undefined));
    }
  }

  // --- calls ----------------------------------------------------------------------------

  #context(operation: string, key: string | undefined, tries?: { attempts: number; elapsedMs: number }) {
    return {
      operation,
      bucket: this.bucket,
      key,
      endpoint: this.#s.label,
      accessKeyId: this.#s.accessKeyId() || '(not resolved)',
      timeoutMs: this.#s.timeoutMs,
      ...tries,
    };
  }

  /** #call for one key, with the caller's signal and time budget: the shape every multi-call operation wants. */
  #callerFor(key: string, options: { signal?: AbortSignal; timeoutMs?: number }) {
    return <T>(operation: string, idempotent: boolean, run: (abortSignal: AbortSignal) => Promise<T>) =>
      this.#call({ operation, key, idempotent, run, signal: options.signal, timeoutMs: options.timeoutMs });
  }

  async #call<T>(spec: CallSpec<T>): Promise<T> {
    // an IP literal never goes through the lookup: judge it here, before any request
    const refused = refusedHost(this.#s.endpoint.hostname, this.#s.refusedCidrs);
    if (refused) throw this.#refused(spec, refused);
    await loadSdk(); // outside the call's time budget: a one-off per process
    const breaker = this.#s.breaker;
    if (!breaker) return this.#callWithRetries(spec);
    try {
      return await breaker.execute(() => this.#callWithRetries(spec));
    } catch (error) {
      if (!(error instanceof CircuitOpenError)) throw error;
      throw new ObjectStoreUnavailableError(
        `${spec.operation} ${formatS3Uri(this.bucket, spec.key)}: object store at ${this.#s.label} keeps ` +
          `failing; not calling it for another ${error.retryAfterMs}ms`,
        { code: 'CircuitOpen', operation: spec.operation, bucket: this.bucket, key: spec.key, cause: error },
      );
    }
  }

  #refused(spec: { operation: string; key?: string | undefined }, reason: string): ObjectStoreError {
    return new ObjectStoreError(
      `${spec.operation} ${formatS3Uri(this.bucket, spec.key)}: refusing to connect to ${this.#s.label}: ${reason}`,
      { code: ENDPOINT_REFUSED, operation: spec.operation, bucket: this.bucket, key: spec.key },
    );
  }

  #tooLarge(operation: string, key: string | undefined, cap: number): ObjectStoreError {
    const what = operation === 'GetObject' ? 'the object' : 'the response';
    return new ObjectStoreError(
      `${operation} ${formatS3Uri(this.bucket, key)}: ${what} is larger than the cap of ` +
        `${cap} bytes; the transfer was aborted`,
      { code: OBJECT_TOO_LARGE, operation, bucket: this.bucket, key },
    );
  }

  async #callWithRetries<T>(spec: CallSpec<T>): Promise<T> {
    const started = Date.now();
    const timeoutMs = spec.timeoutMs ?? this.#s.timeoutMs;
    const deadline = started + timeoutMs;
    for (let attempts = 1; ; attempts++) {
      spec.signal?.throwIfAborted();
      const outcome = await this.#attempt(spec, deadline);
      if ('value' in outcome) return outcome.value;
      const delay = nextRetryDelay({
        failure: outcome,
        idempotent: spec.idempotent,
        attempts,
        remainingMs: deadline - Date.now(),
        policy: this.#s.policy,
      });
      if (delay === undefined) {
        const ctx = this.#context(spec.operation, spec.key, { attempts, elapsedMs: Date.now() - started });
        throw toObjectStoreError(outcome, { ...ctx, timeoutMs });
      }
      this.#s.logger?.debug('object store call failed; retrying', {
        operation: spec.operation,
        bucket: this.bucket,
        object: spec.key,
        attempt: attempts,
        delayMs: delay,
        failure: outcome.kind === 'timeout' ? 'Timeout' : outcome.code,
      });
      await sleep(delay, undefined, spec.signal ? { signal: spec.signal } : undefined);
    }
  }

  /** One attempt: its value, or the Failure to retry or report; permanent problems are thrown. */
  async #attempt<T>(spec: CallSpec<T>, deadline: number): Promise<{ value: T } | Failure> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), Math.max(1, deadline - Date.now()));
    const signal = spec.signal ? AbortSignal.any([spec.signal, timeout.signal]) : timeout.signal;
    try {
      return { value: await spec.run(signal) };
    } catch (error) {
      if (spec.signal?.aborted) throw spec.signal.reason;
      return this.#failure(error, spec, timeout.signal.aborted);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The SDK's (or the socket's) error as a Failure, or thrown as ObjectStoreError when no retry can help. */
  #failure(
    error: unknown,
    spec: { operation: string; key?: string | undefined },
    timedOut: boolean,
  ): Failure {
    // permanent, and no ObjectStoreUnavailableError for the breaker to count
    if (error instanceof ObjectStoreError) throw error;
    if (error instanceof BodyTooLargeError) throw this.#tooLarge(spec.operation, spec.key, error.cap);
    const refused = error instanceof EndpointRefusedError ? error : (error as { cause?: unknown })?.cause;
    if (refused instanceof EndpointRefusedError) throw this.#refused(spec, refused.message);
    if ((error as { name?: unknown })?.name === 'CredentialsProviderError') {
      throw new ObjectStoreAccessDeniedError(
        `${spec.operation} ${formatS3Uri(this.bucket, spec.key)}: no credentials for ${this.#s.label}: ` +
          (error as Error).message.split('\n')[0],
        { code: NO_CREDENTIALS, operation: spec.operation, bucket: this.bucket, key: spec.key, cause: error },
      );
    }
    if (timedOut) return { kind: 'timeout' };
    const answered = sdkFailure(error);
    if (answered) return answered;
    // socket errors carry a code (ECONNREFUSED, ECONNRESET, …); anything else is the client's own
    // complaint (configuration, input) that no retry can help
    const e = error as { code?: unknown; name?: unknown; message?: unknown } | undefined;
    if (typeof e?.code !== 'string' && e?.name !== 'TimeoutError' && e?.name !== 'AbortError') {
      const text = typeof e?.message === 'string' ? e.message.split('\n')[0] : String(error);
      throw new ObjectStoreError(`${spec.operation} ${formatS3Uri(this.bucket, spec.key)}: ${text}`, {
        code: 'ClientError',
        operation: spec.operation,
        bucket: this.bucket,
        key: spec.key,
        cause: error,
      });
    }
    return networkFailure(error);
  }

  /**
   * The body of a GetObject, passed through as the consumer reads it: fails
   * with ObjectStoreUnavailableError after timeoutMs without data, with
   * ObjectTooLarge past the cap, with the signal's reason when it aborts;
   * failing destroys the response, which aborts the transfer.
   */
  #guardStream(body: Readable, key: string, options: GetOptions): Readable {
    const ms = options.timeoutMs ?? this.#s.timeoutMs;
    const cap = options.maxBytes ?? this.#s.maxGetBytes;
    const tooLarge = () => this.#tooLarge('GetObject', key, cap);
    let received = 0;
    const guard = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        timer.refresh();
        received += chunk.length;
        done(received > cap ? tooLarge() : null, chunk);
      },
    });
    const idle = () =>
      guard.destroy(
        new ObjectStoreUnavailableError(
          `GetObject ${formatS3Uri(this.bucket, key)}: no data from ${this.#s.label} for ${ms}ms`,
          { code: 'Timeout', operation: 'GetObject', bucket: this.bucket, key },
        ),
      );
    const timer = setTimeout(idle, ms);
    const signal = options.signal;
    const onAbort = () =>
      guard.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    pipeline(body, guard, () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
    return guard;
  }
}

/** A whole body, at most `cap` bytes: past it `tooLarge()` is thrown and the transfer aborted. */
async function readAll(
  body: Readable,
  cap: number,
  tooLarge: () => Error,
  signal: AbortSignal,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const onAbort = () => body.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > cap) {
        body.destroy();
        throw tooLarge();
      }
      chunks.push(chunk as Buffer);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return Buffer.concat(chunks, size);
}
