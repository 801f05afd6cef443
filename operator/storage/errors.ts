// Errors of the object store client and the pure policy deciding which
// failures are retried and which error class a final failure becomes.
//
//   ObjectStoreUnavailableError  the store did not answer usefully: down,
//                                timeout, 5xx/429/SlowDown after retries,
//                                circuit open. Transient: requeue.
//   ObjectStoreAccessDeniedError credentials or permissions were rejected
//                                (AccessDenied, InvalidAccessKeyId,
//                                SignatureDoesNotMatch, ExpiredToken, …).
//   ObjectStoreError             any other S3 error; `code` is S3's Code
//                                (NoSuchBucket, NoSuchKey, …).
// Both subclasses extend ObjectStoreError, so one instanceof catches all.
import { exponentialBackoff } from '../backoff.ts';

/** A body larger than the client's cap (the transfer was aborted). */
export const OBJECT_TOO_LARGE = 'ObjectTooLarge';
/** An endpoint the client refuses to connect to (link-local, cloud metadata). */
export const ENDPOINT_REFUSED = 'EndpointRefused';
/** No credentials could be resolved (the ambient chain found none): an ObjectStoreAccessDeniedError. */
export const NO_CREDENTIALS = 'NoCredentials';

export type ObjectStoreErrorDetails = {
  /** S3's error Code, or ours: Timeout, CircuitOpen, ObjectTooLarge, EndpointRefused, or the socket error (ECONNREFUSED, …). */
  code: string;
  /** S3 operation, e.g. GetObject. */
  operation: string;
  bucket: string;
  key?: string | undefined;
  statusCode?: number | undefined;
  requestId?: string | undefined;
  cause?: unknown;
};

export class ObjectStoreError extends Error {
  readonly code: string;
  readonly operation: string;
  readonly bucket: string;
  readonly key: string | undefined;
  readonly statusCode: number | undefined;
  readonly requestId: string | undefined;

  constructor(message: string, details: ObjectStoreErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ObjectStoreError';
    this.code = details.code;
    this.operation = details.operation;
    this.bucket = details.bucket;
    this.key = details.key;
    this.statusCode = details.statusCode;
    this.requestId = details.requestId;
  }
}

export class ObjectStoreUnavailableError extends ObjectStoreError {
  constructor(message: string, details: ObjectStoreErrorDetails) {
    super(message, details);
    this.name = 'ObjectStoreUnavailableError';
  }
}

export class ObjectStoreAccessDeniedError extends ObjectStoreError {
  constructor(message: string, details: ObjectStoreErrorDetails) {
    super(message, details);
    this.name = 'ObjectStoreAccessDeniedError';
  }
}

/** For CircuitBreaker's isFailure: only outages count against the store. */
export function isObjectStoreUnavailable(error: unknown): boolean {
  return error instanceof ObjectStoreUnavailableError;
}

/** A missing object (a missing bucket is NoSuchBucket, not this). */
export function isNoSuchKey(error: unknown): boolean {
  return error instanceof ObjectStoreError && (error.code === 'NoSuchKey' || error.code === 'NotFound');
}

export const ACCESS_DENIED_CODES: ReadonlySet<string> = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidSecurity',
]);

// --- one failed attempt ------------------------------------------------------------

export type Failure =
  /** The call's time budget ran out. */
  | { kind: 'timeout' }
  /** No HTTP answer. notSent: the connection was never made, so nothing reached the server. */
  | { kind: 'network'; code: string; message: string; notSent: boolean }
  | { kind: 'http'; status: number; code: string; message: string; requestId?: string };

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const RETRYABLE_CODES = new Set([
  'SlowDown',
  'RequestTimeout',
  'InternalError',
  'ServiceUnavailable',
  'XMinioServerNotInitialized',
]);

export function networkFailure(error: unknown): Failure {
  const e = error as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : 'NetworkError';
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return { kind: 'network', code, message, notSent: NOT_SENT.has(code) };
}

const STATUS_CODES: Record<number, string> = {
  400: 'BadRequest',
  403: 'AccessDenied',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  412: 'PreconditionFailed',
  429: 'SlowDown',
  500: 'InternalError',
  501: 'NotImplemented',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

/** Codes the SDK makes up from the status alone, when an answer had no body to name the error (HEAD). */
const STATUS_ONLY_CODES = new Set([
  'NotFound',
  'Forbidden',
  'BadRequest',
  'UnknownError',
  'Unknown',
  'Error',
]);

type SdkError = {
  name?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown; requestId?: unknown };
  $response?: { headers?: Record<string, string | undefined> };
};

/** The HTTP status of an AWS SDK service error (one S3 answered), else undefined. */
export function sdkStatus(error: unknown): number | undefined {
  const status = (error as SdkError | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * An AWS SDK error S3 answered (it has an HTTP status) as a Failure: the
 * SDK's error name is S3's Code. A body-less answer (HEAD) only gets a name
 * made up from the status; then MinIO's x-minio-error-code/-desc headers,
 * else our name for the status. Undefined for errors without a status
 * (network, timeouts).
 */
export function sdkFailure(error: unknown): Failure | undefined {
  const status = sdkStatus(error);
  if (status === undefined) return undefined;
  const e = error as SdkError;
  const headers = e.$response?.headers ?? {};
  const name = typeof e.name === 'string' ? e.name : '';
  const text = typeof e.message === 'string' ? (e.message.split('\n')[0] ?? '') : '';
  const requestId =
    typeof e.$metadata?.requestId === 'string' ? e.$metadata.requestId : headers['x-amz-request-id'];
  const guessed = name === '' || STATUS_ONLY_CODES.has(name);
  const code = guessed ? headers['x-minio-error-code'] || STATUS_CODES[status] || `Http${status}` : name;
  const message = guessed
    ? (headers['x-minio-error-desc'] ?? '').replace(/^"(.*)"$/, '$1')
    : text === name || text === 'UnknownError'
      ? ''
      : text;
  return { kind: 'http', status, code, message, ...(requestId ? { requestId } : {}) };
}

// --- retry policy ------------------------------------------------------------------------

/** Whether another attempt may help and is safe. */
export function isRetryable(failure: Failure, idempotent: boolean): boolean {
  switch (failure.kind) {
    case 'timeout':
      return idempotent;
    case 'network':
      return idempotent || failure.notSent;
    case 'http':
      if (!idempotent || failure.status === 501) return false;
      return failure.status >= 500 || failure.status === 429 || RETRYABLE_CODES.has(failure.code);
  }
}

/** The store is down or overloaded (as opposed to answering "no"). */
export function isUnavailableFailure(failure: Failure): boolean {
  return failure.kind !== 'http' || isRetryable(failure, true);
}

export type RetryPolicy = {
  /** Attempts per call, the first included. */
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
  /** See exponentialBackoff. */
  jitter: number;
};

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 4, baseMs: 100, maxMs: 3_000, jitter: 0.3 };

/**
 * The delay before the next attempt, or undefined to give up: not retryable,
 * attempts used up, or the wait would leave less than minAttemptMs of the
 * call's budget for the next attempt.
 */
export function nextRetryDelay(args: {
  failure: Failure;
  idempotent: boolean;
  /** Attempts made so far (1 after the first). */
  attempts: number;
  remainingMs: number;
  policy: RetryPolicy;
  random?: () => number;
  minAttemptMs?: number;
}): number | undefined {
  const { failure, idempotent, attempts, remainingMs, policy } = args;
  if (!isRetryable(failure, idempotent) || attempts >= policy.maxAttempts) return undefined;
  const delay = exponentialBackoff({
    attempt: attempts - 1,
    baseMs: policy.baseMs,
    maxMs: policy.maxMs,
    jitter: policy.jitter,
    ...(args.random ? { random: args.random } : {}),
  });
  return delay + (args.minAttemptMs ?? 50) <= remainingMs ? delay : undefined;
}

// --- the final error ------------------------------------------------------------------------

export type ErrorContext = {
  operation: string;
  bucket: string;
  key?: string | undefined;
  /** "http://127.0.0.1:9000", never with userinfo. */
  endpoint: string;
  /** Identifies the credentials in an access-denied message; not secret. */
  accessKeyId: string;
  timeoutMs: number;
  attempts?: number;
  elapsedMs?: number;
};

/** The error a failure ends as; the message names the call, the store and the problem. */
export function toObjectStoreError(failure: Failure, ctx: ErrorContext): ObjectStoreError {
  const where = `${ctx.operation} s3://${ctx.bucket}/${ctx.key ?? ''}`;
  const after =
    ctx.attempts !== undefined && ctx.attempts > 1
      ? ` (after ${ctx.attempts} attempts in ${ctx.elapsedMs ?? 0}ms)`
      : '';
  const base = { operation: ctx.operation, bucket: ctx.bucket, key: ctx.key };
  if (failure.kind === 'timeout') {
    return new ObjectStoreUnavailableError(
      `${where}: object store at ${ctx.endpoint} did not answer within ${ctx.timeoutMs}ms${after}`,
      { ...base, code: 'Timeout' },
    );
  }
  if (failure.kind === 'network') {
    return new ObjectStoreUnavailableError(
      `${where}: object store at ${ctx.endpoint} unreachable: ${failure.code} ${failure.message}${after}`,
      { ...base, code: failure.code },
    );
  }
  const details = { ...base, code: failure.code, statusCode: failure.status, requestId: failure.requestId };
  const text = failure.message ? `${failure.code}: ${failure.message}` : failure.code;
  if (isUnavailableFailure(failure)) {
    return new ObjectStoreUnavailableError(
      `${where}: object store at ${ctx.endpoint} failing: HTTP ${failure.status} ${text}${after}`,
      details,
    );
  }
  if (ACCESS_DENIED_CODES.has(failure.code) || failure.status === 403) {
    return new ObjectStoreAccessDeniedError(
      `${where}: ${ctx.endpoint} denied access: ${text} (access key id "${ctx.accessKeyId}"; ` +
        'check the access key, the secret key and the bucket policy)',
      details,
    );
  }
  return new ObjectStoreError(`${where}: ${text} (HTTP ${failure.status})`, details);
}
