import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ObjectStoreError, ObjectStoreUnavailableError } from '../../operator/storage/errors.ts';
import type { S3Location } from './artifact-access.ts';
import { MAX_OBJECT_BYTES } from '../../operator/storage/s3.ts';
import { publishFailure, sha256OfStream, uncopyable } from './artifact-store.ts';

describe('sha256OfStream', () => {
  it('hashes a stream chunk by chunk to the digest of the whole', async () => {
    const chunks = Array.from({ length: 5 }, () => randomBytes(64 * 1024 + 7));
    const whole = createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
    expect(await sha256OfStream(Readable.from(chunks))).toBe(whole);
    expect(await sha256OfStream(Readable.from([]))).toBe(createHash('sha256').digest('hex'));
  });
});

describe('publication failures', () => {
  const s3 = { bucket: 'b' } as unknown as S3Location;
  it('an outage is transient, a refusal or a limit is permanent', () => {
    const details = { code: 'AccessDenied', operation: 'CopyObject', bucket: 'b', key: 'k' };
    expect(publishFailure(new ObjectStoreError('denied', details), 's3://b/k', s3)).toEqual({
      error: 'copying s3://b/k failed: AccessDenied',
      transient: false,
    });
    const down = new ObjectStoreUnavailableError('503', { ...details, code: 'ServiceUnavailable' });
    expect(publishFailure(down, 's3://b/k', s3)?.transient).toBe(true);
  });
  it('a source replaced during a multipart copy is transient: copying again copies the new version whole', () => {
    const changed = new ObjectStoreError('412', {
      code: 'PreconditionFailed',
      operation: 'UploadPartCopy',
      bucket: 'b',
      key: 'k',
    });
    expect(publishFailure(changed, 's3://b/r/model.bin', s3)).toEqual({
      error: 's3://b/r/model.bin changed while it was being copied; copying it again',
      transient: true,
    });
  });
  it('an object over 5 GiB is copied (in parts); one over 5 TiB cannot be: a permanent error naming it and the limit', () => {
    expect(uncopyable({ key: 'k', size: 5 * 1024 ** 3 + 1 }, 'b')).toBeUndefined();
    expect(uncopyable({ key: 'k', size: MAX_OBJECT_BYTES }, 'b')).toBeUndefined();
    expect(uncopyable({ key: 'r/model.bin', size: MAX_OBJECT_BYTES + 1 }, 'b')).toBe(
      "s3://b/r/model.bin is 5497558138881 bytes, more than the 5497558138880 bytes (5 TiB) of S3's largest object, " +
        'the most a copy can write; write it as smaller objects (a directory output)',
    );
  });
});
