import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { sha256OfStream } from './artifact-store.ts';

describe('sha256OfStream', () => {
  it('hashes a stream chunk by chunk to the digest of the whole', async () => {
    const chunks = Array.from({ length: 5 }, () => randomBytes(64 * 1024 + 7));
    const whole = createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
    expect(await sha256OfStream(Readable.from(chunks))).toBe(whole);
    expect(await sha256OfStream(Readable.from([]))).toBe(createHash('sha256').digest('hex'));
  });
});
