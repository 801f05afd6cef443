import { NoSuchKey, S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import {
  ObjectStoreAccessDeniedError,
  ObjectStoreError,
  ObjectStoreUnavailableError,
  isNoSuchKey,
  isObjectStoreUnavailable,
  isRetryable,
  networkFailure,
  nextRetryDelay,
  sdkFailure,
  toObjectStoreError,
} from './errors.ts';
import type { Failure } from './errors.ts';

const refused = networkFailure(
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' }),
);
const reset = networkFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
const http = (status: number, code: string): Failure => ({ kind: 'http', status, code, message: '' });
const policy = { maxAttempts: 4, baseMs: 100, maxMs: 1_000, jitter: 0 };

describe('retry policy', () => {
  it('retries idempotent calls on outages and overload, never on answers', () => {
    expect(isRetryable(reset, true)).toBe(true);
    expect(isRetryable({ kind: 'timeout' }, true)).toBe(true);
    for (const [status, code] of [
      [500, 'InternalError'],
      [502, 'BadGateway'],
      [503, 'SlowDown'],
      [503, 'XMinioServerNotInitialized'],
      [429, 'SlowDown'],
      [400, 'RequestTimeout'],
    ] as const) {
      expect(isRetryable(http(status, code), true), `${status} ${code}`).toBe(true);
    }
    for (const [status, code] of [
      [404, 'NoSuchKey'],
      [404, 'NoSuchBucket'],
      [403, 'AccessDenied'],
      [403, 'SignatureDoesNotMatch'],
      [400, 'InvalidArgument'],
      [501, 'NotImplemented'],
    ] as const) {
      expect(isRetryable(http(status, code), true), `${status} ${code}`).toBe(false);
    }
  });

  it('retries a non-idempotent call only when the request never left (connection refused)', () => {
    expect(refused).toMatchObject({ kind: 'network', code: 'ECONNREFUSED', notSent: true });
    expect(isRetryable(refused, false)).toBe(true);
    expect(isRetryable(reset, false)).toBe(false);
    expect(isRetryable(http(503, 'ServiceUnavailable'), false)).toBe(false);
    expect(isRetryable({ kind: 'timeout' }, false)).toBe(false);
  });

  it('backs off exponentially up to maxAttempts', () => {
    const delays = [1, 2, 3, 4].map((attempts) =>
      nextRetryDelay({ failure: reset, idempotent: true, attempts, remainingMs: 60_000, policy }),
    );
    expect(delays).toEqual([100, 200, 400, undefined]);
  });

  it('gives up when the wait would leave no time for another attempt', () => {
    const args = { failure: reset, idempotent: true, attempts: 3, policy, minAttemptMs: 50 };
    expect(nextRetryDelay({ ...args, remainingMs: 450 })).toBe(400);
    expect(nextRetryDelay({ ...args, remainingMs: 449 })).toBeUndefined();
  });

  it('applies jitter downwards only', () => {
    const delay = nextRetryDelay({
      failure: reset,
      idempotent: true,
      attempts: 2,
      remainingMs: 60_000,
      policy: { ...policy, jitter: 0.5 },
      random: () => 0.999,
    });
    expect(delay).toBeGreaterThanOrEqual(100);
    expect(delay).toBeLessThanOrEqual(200);
  });
});

/** An error as the SDK throws it for an answer, with the raw response it hides in $response. */
function answered(
  name: string,
  status: number,
  message: string,
  headers: Record<string, string> = {},
  requestId?: string,
): S3ServiceException {
  const e = new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, ...(requestId ? { requestId } : {}) },
    message,
  });
  Object.defineProperty(e, '$response', { value: { statusCode: status, headers }, enumerable: false });
  return e;
}

describe('sdkFailure', () => {
  it("takes S3's Code (the SDK's error name), Message and RequestId", () => {
    const e = new NoSuchKey({
      $metadata: { httpStatusCode: 404, requestId: 'R1' },
      message: 'The specified key does not exist.',
    });
    expect(sdkFailure(e)).toEqual({
      kind: 'http',
      status: 404,
      code: 'NoSuchKey',
      message: 'The specified key does not exist.',
      requestId: 'R1',
    });
    expect(
      sdkFailure(answered('SignatureDoesNotMatch', 403, 'The request signature we calculated…')),
    ).toMatchObject({ code: 'SignatureDoesNotMatch', status: 403 });
  });

  it("falls back to MinIO's error headers when the SDK only had the status (HEAD), then to the status", () => {
    const headers = {
      'x-minio-error-code': 'InvalidAccessKeyId',
      'x-minio-error-desc': '"The Access Key Id you provided does not exist in our records."',
    };
    expect(sdkFailure(answered('Forbidden', 403, 'UnknownError', headers, 'R2'))).toEqual({
      kind: 'http',
      status: 403,
      code: 'InvalidAccessKeyId',
      message: 'The Access Key Id you provided does not exist in our records.',
      requestId: 'R2',
    });
    expect(
      sdkFailure(answered('NotFound', 404, 'NotFound', { 'x-minio-error-code': 'NoSuchBucket' })),
    ).toMatchObject({
      code: 'NoSuchBucket',
    });
    expect(sdkFailure(answered('NotFound', 404, 'NotFound'))).toMatchObject({
      code: 'NotFound',
      message: '',
    });
    expect(sdkFailure(answered('Unknown', 502, 'UnknownError'))).toMatchObject({ code: 'BadGateway' });
    expect(sdkFailure(answered('UnknownError', 418, 'UnknownError'))).toMatchObject({ code: 'Http418' });
  });

  it('is undefined for errors no server answered (network, timeouts)', () => {
    const socket = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    expect(sdkFailure(socket)).toBeUndefined();
    expect(sdkFailure(Object.assign(socket, { $metadata: { attempts: 1 } }))).toBeUndefined();
    expect(sdkFailure(undefined)).toBeUndefined();
  });
});

describe('toObjectStoreError', () => {
  const ctx = {
    operation: 'GetObject',
    bucket: 'ymera-models',
    key: 'runs/model.onnx',
    endpoint: 'http://127.0.0.1:9000',
    accessKeyId: 'ymera-local',
    timeoutMs: 5000,
  };

  it('makes outages ObjectStoreUnavailableError, naming the endpoint and the attempts', () => {
    const e = toObjectStoreError(refused, { ...ctx, attempts: 4, elapsedMs: 700 });
    expect(e).toBeInstanceOf(ObjectStoreUnavailableError);
    expect(e).toBeInstanceOf(ObjectStoreError);
    expect(isObjectStoreUnavailable(e)).toBe(true);
    expect(e.code).toBe('ECONNREFUSED');
    expect(e.message).toBe(
      'GetObject s3://ymera-models/runs/model.onnx: object store at http://127.0.0.1:9000 unreachable: ' +
        'ECONNREFUSED connect ECONNREFUSED 127.0.0.1:9000 (after 4 attempts in 700ms)',
    );
    expect(toObjectStoreError({ kind: 'timeout' }, ctx).message).toContain('did not answer within 5000ms');
    expect(toObjectStoreError(http(503, 'SlowDown'), ctx)).toBeInstanceOf(ObjectStoreUnavailableError);
  });

  it('a non-idempotent call (CreateMultipartUpload) timing out is not retried here but ends transient', () => {
    const policy = { maxAttempts: 4, baseMs: 100, maxMs: 3_000, jitter: 0 };
    const failure = { kind: 'timeout' } as const;
    expect(
      nextRetryDelay({ failure, idempotent: false, attempts: 1, remainingMs: 60_000, policy }),
    ).toBeUndefined();
    const e = toObjectStoreError(failure, { ...ctx, operation: 'CreateMultipartUpload' });
    expect(e).toBeInstanceOf(ObjectStoreUnavailableError);
    expect(isObjectStoreUnavailable(e)).toBe(true);
    expect(e.code).toBe('Timeout');
  });

  it('makes credential problems ObjectStoreAccessDeniedError with the S3 code', () => {
    for (const code of ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken']) {
      const e = toObjectStoreError({ kind: 'http', status: 403, code, message: 'nope' }, ctx);
      expect(e, code).toBeInstanceOf(ObjectStoreAccessDeniedError);
      expect(e.code).toBe(code);
      expect(e.statusCode).toBe(403);
      expect(e.message).toContain(`denied access: ${code}: nope`);
      expect(e.message).toContain('access key id "ymera-local"');
      expect(isObjectStoreUnavailable(e)).toBe(false);
    }
  });

  it('keeps other S3 errors as ObjectStoreError with Code and Message', () => {
    const e = toObjectStoreError(
      { kind: 'http', status: 404, code: 'NoSuchBucket', message: 'The specified bucket does not exist' },
      ctx,
    );
    expect(e.constructor).toBe(ObjectStoreError);
    expect(e.code).toBe('NoSuchBucket');
    expect(e.message).toBe(
      'GetObject s3://ymera-models/runs/model.onnx: NoSuchBucket: The specified bucket does not exist (HTTP 404)',
    );
    expect(isNoSuchKey(e)).toBe(false);
    expect(isNoSuchKey(toObjectStoreError(http(404, 'NoSuchKey'), ctx))).toBe(true);
  });
});
