// Object storage for model artifacts, pipeline artifacts and backups: a small
// S3 client (MinIO locally, any S3-compatible store in production) on
// node:http with our own SigV4 signing (sigv4.ts), so the operator carries no
// AWS SDK.
//
// Every call has a time budget (timeoutMs, retries included). Idempotent calls
// are retried with exponential backoff on network errors, 5xx, 429 and
// SlowDown; a refused connection is retried for any call, since nothing
// reached the server. Errors are ObjectStoreError and its subclasses
// (errors.ts). Secrets and the Authorization header are never logged nor put
// in errors.
//
// Endpoints may come from users, so every connection goes through
// egress.ts's guard (no link-local or cloud metadata addresses, checked on
// the resolved address at connect time), and every response body is capped
// while it streams in (maxGetBytes): a bigger one aborts the request.
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns';
import { Readable, Transform, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CircuitOpenError } from '../backoff.ts';
import type { CircuitBreaker } from '../backoff.ts';
import { ConfigError } from '../config.ts';
import type { Logger } from '../logger.ts';
import {
  decodeListedKey,
  endpointLabel,
  formatS3Uri,
  metadataFromHeaders,
  metadataHeaders,
  normalizePrefix,
  queryString,
  requestTarget,
  validateBucketName,
  validateKey,
} from './addressing.ts';
import type { Addressing } from './addressing.ts';
import { EndpointRefusedError, guardedLookup, parseCidr, refusedHost } from './egress.ts';
import type { Lookup } from './egress.ts';
import {
  DEFAULT_RETRY_POLICY,
  ENDPOINT_REFUSED,
  OBJECT_TOO_LARGE,
  ObjectStoreError,
  ObjectStoreUnavailableError,
  httpFailure,
  networkFailure,
  nextRetryDelay,
  toObjectStoreError,
} from './errors.ts';
import type { Failure, RetryPolicy } from './errors.ts';
import { EMPTY_SHA256, sha256Hex, signRequest, signingHeaders } from './sigv4.ts';
import type { Credentials } from './sigv4.ts';
import {
  completeMultipartBody,
  deleteObjectsBody,
  escapeXml,
  parseDeleteResult,
  parseCompleteMultipartUpload,
  parseInitiateMultipartUpload,
  parseListObjectsV2,
  parseS3Error,
  unquoteEtag,
} from './xml.ts';
import type { ListedObject } from './xml.ts';

export * from './addressing.ts';
export * from './errors.ts';
export * from './egress.ts';
export type { Credentials } from './sigv4.ts';
export type { ListedObject } from './xml.ts';

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
  const accessKeyId = env.YMERA_S3_ACCESS_KEY || env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.YMERA_S3_SECRET_KEY || env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new ConfigError(
      'YMERA_S3_ENDPOINT is set but YMERA_S3_ACCESS_KEY and YMERA_S3_SECRET_KEY ' +
        '(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) are not',
    );
  }
  const addressing = (env.YMERA_S3_ADDRESSING || 'path').trim();
  if (addressing !== 'path' && addressing !== 'virtual-host') {
    throw new ConfigError(`YMERA_S3_ADDRESSING must be "path" or "virtual-host" (got "${addressing}")`);
  }
  const sessionToken = env.YMERA_S3_SESSION_TOKEN || env.AWS_SESSION_TOKEN;
  return {
    endpoint: url.href.replace(/\/$/, ''),
    region: env.YMERA_S3_REGION || env.AWS_REGION || 'us-east-1',
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
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

export type ObjectBody = Buffer | Uint8Array | string | Readable;

/** One bucket, optionally under a key prefix. Keys are relative to the prefix. */
export interface ObjectStore {
  readonly bucket: string;
  /** '' or ending with "/". */
  readonly prefix: string;
  /**
   * Uploads an object and returns its ETag. A stream is read in parts of
   * partSizeBytes: one PutObject when it fits in one part, a multipart upload
   * (each part retried, the upload aborted on failure) otherwise; timeoutMs
   * then bounds each request, not the whole upload.
   */
  put(key: string, body: ObjectBody, options?: PutOptions): Promise<{ etag: string }>;
  /**
   * The whole object. Missing: ObjectStoreError with code NoSuchKey (see
   * isNoSuchKey); more than maxBytes: code ObjectTooLarge, the transfer aborted.
   */
  get(key: string, options?: GetOptions): Promise<Buffer>;
  /**
   * The object as a stream. Errors before the first byte are thrown as by
   * get(); afterwards the stream fails with ObjectStoreUnavailableError when
   * no data arrives for timeoutMs, and with code ObjectTooLarge (the
   * transfer aborted) once more than maxBytes arrived.
   */
  getStream(key: string, options?: GetOptions): Promise<Readable>;
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
  credentials: Credentials;
  /** Default "path" (http://host/bucket/key), what MinIO serves. */
  addressing?: Addressing;
  /** Budget of one call, retries included; default 30s. */
  timeoutMs?: number;
  /** Retry timing and attempts; defaults DEFAULT_RETRY_POLICY. */
  retry?: Partial<RetryPolicy>;
  /** Part size for streamed uploads, >= 5 MiB; default 8 MiB. */
  partSizeBytes?: number;
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
  /** Signing clock; injectable for tests. */
  now?: () => Date;
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

/** Chunks of exactly `size` bytes (the last one may be shorter) from any byte stream. */
export async function* fixedSizeChunks(
  source: AsyncIterable<Uint8Array | string>,
  size: number,
): AsyncGenerator<Buffer> {
  if (!(size >= 1)) throw new RangeError('chunk size must be >= 1');
  let parts: Buffer[] = [];
  let have = 0;
  for await (const piece of source) {
    let buf = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : Buffer.from(piece);
    while (buf.length > 0) {
      const take = Math.min(size - have, buf.length);
      parts.push(buf.subarray(0, take));
      have += take;
      buf = buf.subarray(take);
      if (have === size) {
        yield Buffer.concat(parts, size);
        parts = [];
        have = 0;
      }
    }
  }
  if (have > 0) yield Buffer.concat(parts, have);
}

// --- the client ------------------------------------------------------------------------

/** The default cap on a response body: enough for listings and small objects, not a memory bomb. */
export const DEFAULT_MAX_GET_BYTES = 64 * 1024 * 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;
const MAX_ERROR_BODY = 64 * 1024;

type Shared = {
  endpoint: URL;
  label: string;
  bucket: string;
  region: string;
  credentials: Credentials;
  addressing: Addressing;
  timeoutMs: number;
  policy: RetryPolicy;
  partSize: number;
  maxGetBytes: number;
  refusedCidrs: readonly string[];
  breaker: CircuitBreaker | undefined;
  logger: Logger | undefined;
  now: () => Date;
  agent: http.Agent;
};

type CallSpec = {
  operation: string;
  method: string;
  /** Full key (store prefix included); undefined for bucket-level calls. */
  key?: string;
  query?: Array<[string, string]>;
  headers?: Record<string, string>;
  body?: Buffer;
  idempotent: boolean;
  /** Hand back the body as a stream instead of reading it. */
  stream?: boolean;
  /** Cap on the answer's body; default the store's maxGetBytes. */
  maxBytes?: number | undefined;
  /** Statuses besides 2xx that are answers, not errors (404 for HEAD). */
  accept?: number[];
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
};

type Exchange = { status: number; headers: IncomingHttpHeaders; body: Buffer; stream?: Readable };

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
    const problem = validateBucketName(options.bucket);
    if (problem) throw new TypeError(problem);
    const partSize = options.partSizeBytes ?? 8 * 1024 * 1024;
    if (!(partSize >= MIN_PART_SIZE)) throw new RangeError(`partSizeBytes must be >= ${MIN_PART_SIZE}`);
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (!(timeoutMs > 0)) throw new RangeError('timeoutMs must be > 0');
    const policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    if (!(policy.maxAttempts >= 1)) throw new RangeError('retry.maxAttempts must be >= 1');
    const maxGetBytes = options.maxGetBytes ?? DEFAULT_MAX_GET_BYTES;
    if (!(maxGetBytes >= 1)) throw new RangeError('maxGetBytes must be >= 1');
    const Agent = endpoint.protocol === 'https:' ? https.Agent : http.Agent;
    // the guard sits in the agent, so it judges the addresses each new socket connects to
    const refusedCidrs = options.refusedCidrs ?? [];
    for (const cidr of refusedCidrs) {
      const parsed = parseCidr(cidr);
      if (typeof parsed === 'string') throw new TypeError(`refusedCidrs: ${parsed}`);
    }
    const lookup = guardedLookup(options.lookup ?? (dnsLookup as unknown as Lookup), refusedCidrs);
    return {
      endpoint,
      label: endpointLabel(endpoint),
      bucket: options.bucket,
      region: options.region ?? 'us-east-1',
      credentials: options.credentials,
      addressing: options.addressing ?? 'path',
      timeoutMs,
      policy,
      partSize,
      maxGetBytes,
      refusedCidrs,
      breaker: options.breaker,
      logger: options.logger,
      now: options.now ?? (() => new Date()),
      agent: new Agent({ keepAlive: true, maxSockets: 16, lookup }),
    };
  }

  withPrefix(prefix: string): ObjectStore {
    const options = { endpoint: this.#s.label, bucket: this.bucket, credentials: this.#s.credentials };
    return new S3ObjectStore({ ...options, prefix: this.prefix + normalizePrefix(prefix) }, this.#s);
  }

  close(): void {
    this.#s.agent.destroy();
  }

  #full(key: string): string {
    validateKey(key);
    return this.prefix + key;
  }

  async put(key: string, body: ObjectBody, options: PutOptions = {}): Promise<{ etag: string }> {
    const full = this.#full(key);
    const headers = {
      'content-type': options.contentType ?? 'application/octet-stream',
      ...metadataHeaders(options.metadata),
    };
    const call: CallOptions = { signal: options.signal, timeoutMs: options.timeoutMs };
    if (!(body instanceof Readable)) {
      const buf = Buffer.isBuffer(body)
        ? body
        : typeof body === 'string'
          ? Buffer.from(body, 'utf8')
          : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      return this.#putObject(full, buf, headers, call);
    }
    // Read up to two parts: a stream that fits in one is a single PutObject.
    const chunks = fixedSizeChunks(body, this.#s.partSize);
    const first = await chunks.next();
    const second = first.done ? first : await chunks.next();
    if (second.done) return this.#putObject(full, first.value ?? Buffer.alloc(0), headers, call);
    return this.#multipart(full, headers, [first.value as Buffer, second.value], chunks, call);
  }

  async #putObject(
    key: string,
    body: Buffer,
    headers: Record<string, string>,
    options: CallOptions,
  ): Promise<{ etag: string }> {
    const res = await this.#call({
      operation: 'PutObject',
      method: 'PUT',
      key,
      headers,
      body,
      idempotent: true,
      ...options,
    });
    return { etag: unquoteEtag(header(res.headers, 'etag')) };
  }

  async #multipart(
    key: string,
    headers: Record<string, string>,
    firstParts: Buffer[],
    rest: AsyncGenerator<Buffer>,
    options: CallOptions,
  ): Promise<{ etag: string }> {
    const call = { key, ...options };
    const created = await this.#call({
      ...call,
      operation: 'CreateMultipartUpload',
      method: 'POST',
      query: [['uploads', '']],
      headers,
      body: Buffer.alloc(0),
      idempotent: false,
    });
    const uploadId = parseInitiateMultipartUpload(created.body.toString('utf8'));
    const parts: Array<{ partNumber: number; etag: string }> = [];
    try {
      const upload = async (body: Buffer) => {
        const partNumber = parts.length + 1;
        if (partNumber > MAX_PARTS) throw new RangeError(`more than ${MAX_PARTS} parts; raise partSizeBytes`);
        const res = await this.#call({
          ...call,
          operation: 'UploadPart',
          method: 'PUT',
          query: [
            ['partNumber', String(partNumber)],
            ['uploadId', uploadId],
          ],
          body,
          idempotent: true,
        });
        parts.push({ partNumber, etag: unquoteEtag(header(res.headers, 'etag')) });
      };
      for (const body of firstParts) await upload(body);
      for await (const body of rest) await upload(body);
      const done = await this.#call({
        ...call,
        operation: 'CompleteMultipartUpload',
        method: 'POST',
        query: [['uploadId', uploadId]],
        headers: { 'content-type': 'application/xml' },
        body: Buffer.from(completeMultipartBody(parts), 'utf8'),
        idempotent: false,
      });
      const text = done.body.toString('utf8');
      // S3 may answer 200 and fail all the same: then the body is an <Error>.
      const failed = parseS3Error(text);
      if (failed) {
        const failure: Failure = { kind: 'http', status: 200, code: failed.code, message: failed.message };
        throw toObjectStoreError(failure, this.#context('CompleteMultipartUpload', key));
      }
      return { etag: parseCompleteMultipartUpload(text) };
    } catch (error) {
      await rest.return(undefined); // stops reading the source stream
      await this.#call({
        key,
        operation: 'AbortMultipartUpload',
        method: 'DELETE',
        query: [['uploadId', uploadId]],
        idempotent: true,
        accept: [404],
      }).catch((abortError: unknown) => {
        this.#s.logger?.warn('could not abort a failed multipart upload', {
          bucket: this.bucket,
          object: key,
          err: abortError,
        });
      });
      throw error;
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Buffer> {
    const spec = { operation: 'GetObject', method: 'GET', key: this.#full(key), idempotent: true };
    return (await this.#call({ ...spec, ...options })).body;
  }

  async getStream(key: string, options: GetOptions = {}): Promise<Readable> {
    const spec = { operation: 'GetObject', method: 'GET', key: this.#full(key), idempotent: true };
    const res = await this.#call({ ...spec, ...options, stream: true });
    if (!res.stream) throw new Error('internal error: GetObject returned no stream');
    return res.stream;
  }

  async head(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    const full = this.#full(key);
    const spec = { operation: 'HeadObject', method: 'HEAD', key: full, idempotent: true, accept: [404] };
    const res = await this.#call({ ...spec, ...options });
    if (res.status === 404) {
      // A HEAD answer has no body; MinIO names the error in a header. A missing
      // bucket must not read as a missing object.
      const failure = httpFailure(404, res.headers, '');
      if (failure.kind === 'http' && failure.code === 'NoSuchBucket') {
        throw toObjectStoreError(failure, this.#context('HeadObject', full));
      }
      return undefined;
    }
    const contentType = header(res.headers, 'content-type');
    return {
      size: Number(header(res.headers, 'content-length') || '0'),
      etag: unquoteEtag(header(res.headers, 'etag')),
      lastModified: new Date(header(res.headers, 'last-modified')),
      ...(contentType ? { contentType } : {}),
      metadata: metadataFromHeaders(res.headers),
    };
  }

  async *list(prefix = '', options: ListOptions = {}): AsyncGenerator<ListedObject> {
    const { maxKeys = 1000, ...call } = options;
    if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > 1000) {
      throw new RangeError('maxKeys must be an integer in 1..1000');
    }
    const fullPrefix = this.prefix + prefix;
    let token: string | undefined;
    do {
      const query: Array<[string, string]> = [
        ['list-type', '2'],
        ['encoding-type', 'url'],
        ['max-keys', String(maxKeys)],
      ];
      if (fullPrefix) query.push(['prefix', fullPrefix]);
      if (token) query.push(['continuation-token', token]);
      const res = await this.#call({
        operation: 'ListObjectsV2',
        method: 'GET',
        query,
        idempotent: true,
        ...call,
      });
      const page = parseListObjectsV2(res.body.toString('utf8'));
      for (const o of page.objects) {
        const key = decodeListedKey(o.key);
        yield { ...o, key: key.startsWith(this.prefix) ? key.slice(this.prefix.length) : key };
      }
      token = page.isTruncated ? page.nextContinuationToken : undefined;
    } while (token);
  }

  async listAll(prefix = '', options: ListOptions = {}): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    for await (const o of this.list(prefix, options)) out.push(o);
    return out;
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    const full = this.#full(key);
    // S3 answers 204 for a missing key too; some stores answer 404.
    const spec = { operation: 'DeleteObject', method: 'DELETE', key: full, idempotent: true, accept: [404] };
    const res = await this.#call({ ...spec, ...options });
    const failure = res.status === 404 ? httpFailure(404, res.headers, res.body) : undefined;
    if (failure?.kind === 'http' && failure.code === 'NoSuchBucket') {
      throw toObjectStoreError(failure, this.#context('DeleteObject', full));
    }
  }

  async deletePrefix(prefix: string, options: ListOptions = {}): Promise<number> {
    if (this.prefix + prefix === '') {
      throw new TypeError('deletePrefix needs a non-empty prefix (it would empty the bucket)');
    }
    const { maxKeys: _maxKeys, ...call } = options;
    // Collect first: deleting while paging would shift the continuation.
    const keys: string[] = [];
    for await (const o of this.list(prefix, options)) keys.push(this.prefix + o.key);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const body = Buffer.from(deleteObjectsBody(batch), 'utf8');
      const res = await this.#call({
        operation: 'DeleteObjects',
        method: 'POST',
        query: [['delete', '']],
        headers: {
          'content-type': 'application/xml',
          'content-md5': createHash('md5').update(body).digest('base64'),
        },
        body,
        idempotent: true,
        ...call,
      });
      const failed = parseDeleteResult(res.body.toString('utf8')).errors.filter(
        (e) => e.code !== 'NoSuchKey',
      );
      const f = failed[0];
      if (f) {
        const more = failed.length > 1 ? ` (and ${failed.length - 1} more keys)` : '';
        const failure: Failure = { kind: 'http', status: 200, code: f.code, message: f.message + more };
        throw toObjectStoreError(failure, this.#context('DeleteObjects', f.key));
      }
    }
    return keys.length;
  }

  async ensureBucket(options: CallOptions = {}): Promise<boolean> {
    const region = this.#s.region;
    // us-east-1 is the default location and must not be named.
    const body =
      region === 'us-east-1'
        ? Buffer.alloc(0)
        : Buffer.from(
            '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
              `<LocationConstraint>${escapeXml(region)}</LocationConstraint></CreateBucketConfiguration>`,
          );
    try {
      await this.#call({ operation: 'CreateBucket', method: 'PUT', body, idempotent: true, ...options });
      return true;
    } catch (error) {
      if (error instanceof ObjectStoreError && error.code === 'BucketAlreadyOwnedByYou') return false;
      throw error;
    }
  }

  async checkBucket(options: CallOptions = {}): Promise<void> {
    const spec = { operation: 'HeadBucket', method: 'HEAD', idempotent: true, accept: [404] };
    const res = await this.#call({ ...spec, ...options });
    if (res.status === 404) {
      const failure: Failure = {
        kind: 'http',
        status: 404,
        code: 'NoSuchBucket',
        message: 'The specified bucket does not exist',
      };
      throw toObjectStoreError(failure, this.#context('HeadBucket', undefined));
    }
  }

  // --- transport ------------------------------------------------------------------------

  #context(operation: string, key: string | undefined, tries?: { attempts: number; elapsedMs: number }) {
    return {
      operation,
      bucket: this.bucket,
      key,
      endpoint: this.#s.label,
      accessKeyId: this.#s.credentials.accessKeyId,
      timeoutMs: this.#s.timeoutMs,
      ...tries,
    };
  }

  async #call(spec: CallSpec): Promise<Exchange> {
    // an IP literal never goes through the lookup: judge it here, before any request
    const refused = refusedHost(this.#s.endpoint.hostname, this.#s.refusedCidrs);
    if (refused) throw this.#refused(spec, refused);
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

  #refused(spec: CallSpec, reason: string): ObjectStoreError {
    return new ObjectStoreError(
      `${spec.operation} ${formatS3Uri(this.bucket, spec.key)}: refusing to connect to ${this.#s.label}: ${reason}`,
      { code: ENDPOINT_REFUSED, operation: spec.operation, bucket: this.bucket, key: spec.key },
    );
  }

  #tooLarge(spec: CallSpec, cap: number): ObjectStoreError {
    const what = spec.operation === 'GetObject' ? 'the object' : 'the response';
    return new ObjectStoreError(
      `${spec.operation} ${formatS3Uri(this.bucket, spec.key)}: ${what} is larger than the cap of ` +
        `${cap} bytes; the transfer was aborted`,
      { code: OBJECT_TOO_LARGE, operation: spec.operation, bucket: this.bucket, key: spec.key },
    );
  }

  async #callWithRetries(spec: CallSpec): Promise<Exchange> {
    const started = Date.now();
    const timeoutMs = spec.timeoutMs ?? this.#s.timeoutMs;
    const deadline = started + timeoutMs;
    for (let attempts = 1; ; attempts++) {
      spec.signal?.throwIfAborted();
      const outcome = await this.#attempt(spec, deadline);
      if (!('kind' in outcome)) return outcome;
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

  /** One signed request: the Exchange when it is an answer we accept, else the Failure. */
  #attempt(spec: CallSpec, deadline: number): Promise<Exchange | Failure> {
    const s = this.#s;
    const target = requestTarget(s.endpoint, this.bucket, s.addressing, spec.key ?? '');
    const date = s.now();
    const payloadHash = spec.body ? sha256Hex(spec.body) : EMPTY_SHA256;
    const headers: Record<string, string> = {
      host: target.host,
      ...spec.headers,
      ...signingHeaders(date, payloadHash, s.credentials),
    };
    const { authorization } = signRequest(
      { method: spec.method, path: target.path, query: spec.query ?? [], headers, payloadHash },
      s.credentials,
      { region: s.region, service: 's3', date },
    );
    const sendHeaders: Record<string, string | number> = { ...headers, authorization };
    if (spec.body) sendHeaders['content-length'] = spec.body.length;

    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), Math.max(1, deadline - Date.now()));
    const signal = spec.signal ? AbortSignal.any([spec.signal, timeout.signal]) : timeout.signal;
    const transport = s.endpoint.protocol === 'https:' ? https : http;

    return new Promise<Exchange | Failure>((resolve, reject) => {
      let settled = false;
      const settle = (value: Exchange | Failure) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      };
      const fail = (error: unknown) => {
        if (settled) return;
        // permanent: no retry, and no ObjectStoreUnavailableError for the breaker to count
        const final =
          error instanceof EndpointRefusedError
            ? this.#refused(spec, error.message)
            : error instanceof ObjectStoreError
              ? error
              : undefined;
        if (final) {
          settled = true;
          clearTimeout(timer);
          reject(final);
        } else if (spec.signal?.aborted) {
          settled = true;
          clearTimeout(timer);
          reject(spec.signal.reason);
        } else {
          settle(timeout.signal.aborted ? { kind: 'timeout' } : networkFailure(error));
        }
      };
      const req = transport.request(
        {
          protocol: s.endpoint.protocol,
          hostname: s.endpoint.hostname,
          port: s.endpoint.port || undefined,
          method: spec.method,
          path: target.path + queryString(spec.query ?? []),
          headers: sendHeaders,
          agent: s.agent,
          signal,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const ok = (status >= 200 && status < 300) || (spec.accept ?? []).includes(status);
          if (ok && spec.stream) {
            settle({
              status,
              headers: res.headers,
              body: Buffer.alloc(0),
              stream: this.#idleGuard(res, spec),
            });
            return;
          }
          if (ok) {
            const cap = spec.maxBytes ?? s.maxGetBytes;
            readCapped(res, cap, () => {
              fail(this.#tooLarge(spec, cap));
              // without an error: a socket the agent already took back has no 'error' listener
              req.destroy();
            }).then((body) => settle({ status, headers: res.headers, body }), fail);
            return;
          }
          readBody(res, MAX_ERROR_BODY).then((body) => settle(httpFailure(status, res.headers, body)), fail);
        },
      );
      req.on('error', fail);
      req.end(spec.body);
    });
  }

  /** Passes the body through; fails it with ObjectStoreUnavailableError after timeoutMs without data. */
  #idleGuard(res: IncomingMessage, spec: CallSpec): Readable {
    const ms = spec.timeoutMs ?? this.#s.timeoutMs;
    const cap = spec.maxBytes ?? this.#s.maxGetBytes;
    const tooLarge = () => this.#tooLarge(spec, cap);
    let received = 0;
    const guard = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        timer.refresh();
        received += chunk.length;
        // failing the pipeline destroys the response, which aborts the transfer
        done(received > cap ? tooLarge() : null, chunk);
      },
    });
    const timer = setTimeout(() => {
      const where = `${spec.operation} ${formatS3Uri(this.bucket, spec.key)}`;
      guard.destroy(
        new ObjectStoreUnavailableError(`${where}: no data from ${this.#s.label} for ${ms}ms`, {
          code: 'Timeout',
          operation: spec.operation,
          bucket: this.bucket,
          key: spec.key,
        }),
      );
    }, ms);
    pipeline(res, guard, () => clearTimeout(timer));
    return guard;
  }
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : (v ?? '');
}

/**
 * The body, or `tooLarge()` called (and the promise left pending for the
 * caller to settle) as soon as more than `cap` bytes arrived.
 */
function readCapped(res: IncomingMessage, cap: number, tooLarge: () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    res.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > cap) {
        over = true;
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    res.on('error', (e) => {
      if (!over) reject(e);
    });
    res.on('close', () => {
      if (!over && !res.complete)
        reject(Object.assign(new Error('connection closed mid-response'), { code: 'ECONNRESET' }));
    });
  });
}

/** The first `limit` bytes of an error body; a longer one is cut off and its transfer aborted. */
function readBody(res: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) {
        resolve(Buffer.concat(chunks).subarray(0, limit));
        res.destroy();
      }
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete)
        reject(Object.assign(new Error('connection closed mid-response'), { code: 'ECONNRESET' }));
    });
  });
}
