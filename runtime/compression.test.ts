import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GZIP_MIN_BYTES, acceptsGzip, decodeBody, gzipResponse, requestCoding } from './compression.ts';
import { RequestError } from './errors.ts';

const body = Buffer.from(
  JSON.stringify({ inputs: [{ name: 'x', data: Array.from({ length: 200 }, (_, i) => i) }] }),
);

async function status(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RequestError);
    return { status: (e as RequestError).status, message: (e as Error).message };
  }
  throw new Error('expected a RequestError');
}

describe('requestCoding', () => {
  it('takes none, identity, gzip and deflate, in any case', () => {
    expect(requestCoding(undefined)).toBe('identity');
    expect(requestCoding('identity')).toBe('identity');
    expect(requestCoding(' GZIP ')).toBe('gzip');
    expect(requestCoding('x-gzip')).toBe('gzip');
    expect(requestCoding('deflate')).toBe('deflate');
  });

  it('refuses other codings (and stacked ones) with 415 naming the header and what is allowed', () => {
    for (const h of ['br', 'zstd', 'gzip, deflate']) {
      expect(() => requestCoding(h)).toThrow(RequestError);
      try {
        requestCoding(h);
      } catch (e) {
        expect((e as RequestError).status).toBe(415);
        expect((e as Error).message).toMatch(/Content-Encoding .* is not supported; send gzip, deflate/);
      }
    }
  });
});

describe('decodeBody', () => {
  it('inflates gzip, zlib-framed deflate and raw deflate to the same bytes', async () => {
    expect(await decodeBody(zlib.gzipSync(body), 'gzip', 1 << 20)).toEqual(body);
    expect(await decodeBody(zlib.deflateSync(body), 'deflate', 1 << 20)).toEqual(body);
    expect(await decodeBody(zlib.deflateRawSync(body), 'deflate', 1 << 20)).toEqual(body);
    expect(await decodeBody(body, 'identity', 1)).toBe(body);
  });

  it('takes a body of exactly the limit once inflated', async () => {
    expect((await decodeBody(zlib.gzipSync(body), 'gzip', body.length)).length).toBe(body.length);
  });

  it('answers a zip bomb 413 on the inflated size, for each coding', async () => {
    const bomb = Buffer.alloc(16 << 20); // 16 MiB of zeros: ~16 KiB compressed
    for (const [coding, packed] of [
      ['gzip', zlib.gzipSync(bomb)],
      ['deflate', zlib.deflateSync(bomb)],
      ['deflate', zlib.deflateRawSync(bomb)],
    ] as const) {
      expect(packed.length).toBeLessThan(1 << 20);
      expect(await status(decodeBody(packed, coding, 1 << 20))).toEqual({
        status: 413,
        message: `decompressed request body exceeds ${1 << 20} bytes`,
      });
    }
    expect((await status(decodeBody(zlib.gzipSync(body), 'gzip', body.length - 1))).status).toBe(413);
  });

  it('answers bytes that are not what the coding says 400, naming the coding', async () => {
    const bad = await status(decodeBody(body, 'gzip', 1 << 20));
    expect(bad.status).toBe(400);
    expect(bad.message).toMatch(/request body is not valid gzip \(Content-Encoding\)/);
    const truncated = zlib.gzipSync(body).subarray(0, 20);
    expect((await status(decodeBody(truncated, 'gzip', 1 << 20))).status).toBe(400);
    expect((await status(decodeBody(Buffer.from('not deflate at all'), 'deflate', 1 << 20))).status).toBe(
      400,
    );
  });
});

describe('acceptsGzip', () => {
  it('reads names, wildcards and q-values', () => {
    expect(acceptsGzip(undefined)).toBe(false);
    expect(acceptsGzip('')).toBe(false);
    expect(acceptsGzip('gzip')).toBe(true);
    expect(acceptsGzip('deflate, gzip;q=0.5')).toBe(true);
    expect(acceptsGzip('gzip;q=0')).toBe(false);
    expect(acceptsGzip('br')).toBe(false);
    expect(acceptsGzip('*')).toBe(true);
    expect(acceptsGzip('*;q=0')).toBe(false);
    expect(acceptsGzip('gzip;q=0, *')).toBe(false);
    expect(acceptsGzip('identity, GZIP ; q=1.0')).toBe(true);
  });
});

describe('gzipResponse', () => {
  it('gzips a body big enough when the client takes gzip', async () => {
    const big = 'x'.repeat(GZIP_MIN_BYTES);
    const r = await gzipResponse(big, 'gzip, deflate');
    expect(r?.headers).toEqual({ 'content-encoding': 'gzip', vary: 'accept-encoding' });
    expect(zlib.gunzipSync(r!.body).toString()).toBe(big);
  });

  it('leaves small bodies and clients that do not take gzip alone', async () => {
    expect(await gzipResponse('x'.repeat(GZIP_MIN_BYTES - 1), 'gzip')).toBeUndefined();
    expect(await gzipResponse('x'.repeat(GZIP_MIN_BYTES), undefined)).toBeUndefined();
    expect(await gzipResponse('x'.repeat(GZIP_MIN_BYTES), 'deflate')).toBeUndefined();
  });
});
