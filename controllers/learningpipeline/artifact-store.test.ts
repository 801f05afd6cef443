import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ObjectStoreError, ObjectStoreUnavailableError } from '../../operator/storage/errors.ts';
import type { S3Location } from './artifact-access.ts';
import { MAX_COPY_OBJECT_BYTES, publishFailure, sha256OfStream, uncopyable } from './artifact-store.ts';

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
  it('an object over 5 GiB cannot be copied by one CopyObject: a permanent error naming it', () => {
    expect(uncopyable({ key: 'k', size: MAX_COPY_OBJECT_BYTES }, 'b')).toBeUndefined();
    expect(uncopyable({ key: 'r/model.bin', size: MAX_COPY_OBJECT_BYTES + 1 }, 'b')).toMatch(
      /s3:\/\/b\/r\/model\.bin is 5368709121 bytes, more than .*5 GiB/,
    );
  });
});
