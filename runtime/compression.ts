// Compressed HTTP bodies on the v2 endpoints, as tritonclient.http sends and
// asks for them (request_compression_algorithm / response_compression_algorithm):
// a request body with Content-Encoding gzip or deflate is inflated under the
// same byte limit as a plain body, counted on the inflated bytes, so a small
// zip bomb costs at most that limit (413); bytes that do not inflate are a
// 400; another coding is a 415. A response is gzipped when the client's
// Accept-Encoding takes gzip and the body is big enough for it to pay.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { RequestError, badRequest } from './errors.ts';

export type ContentCoding = 'identity' | 'gzip' | 'deflate';

/** Below this a gzipped body saves less than the CPU it costs (a 1-row answer is ~150 bytes). */
export const GZIP_MIN_BYTES = 1024;

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const gzip = promisify(zlib.gzip);

/** A request's Content-Encoding header as one coding; 415 for anything else. */
export function requestCoding(header: string | undefined): ContentCoding {
  const v = (header ?? '').trim().toLowerCase();
  if (v === '' || v === 'identity') return 'identity';
  if (v === 'gzip' || v === 'x-gzip') return 'gzip';
  if (v === 'deflate') return 'deflate';
  throw new RequestError(
    415,
    `Content-Encoding ${JSON.stringify(header)} is not supported; send gzip, deflate or an uncompressed body`,
  );
}

/** RFC 1950's two header bytes: deflate with a window ≤ 32 KiB and a check that divides by 31. */
const isZlibHeader = (b: Buffer): boolean =>
  b.length >= 2 && (b[0]! & 0x0f) === 8 && b[0]! >> 4 <= 7 && ((b[0]! << 8) | b[1]!) % 31 === 0;

/**
 * The request body inflated, at most `limit` bytes of it (413 beyond, before more is
 * allocated); 400 when it is not what its coding says. HTTP's deflate is the zlib format;
 * a raw deflate stream (some clients send that) is taken too.
 */
export async function decodeBody(body: Buffer, coding: ContentCoding, limit: number): Promise<Buffer> {
  if (coding === 'identity') return body;
  const opts = { maxOutputLength: limit };
  try {
    if (coding === 'gzip') return await gunzip(body, opts);
    return await (isZlibHeader(body) ? inflate(body, opts) : inflateRaw(body, opts));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new RequestError(413, `decompressed request body exceeds ${limit} bytes`);
    throw badRequest(`request body is not valid ${coding} (Content-Encoding): ${(e as Error).message}`);
  }
}

/** Whether an Accept-Encoding header takes gzip (by name or `*`, with a q-value above 0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  let gzipQ: number | undefined;
  let anyQ: number | undefined;
  for (const part of header.split(',')) {
    const [rawName = '', ...params] = part.toLowerCase().split(';');
    const name = rawName.trim();
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (name === 'gzip' || name === 'x-gzip') gzipQ = q;
    else if (name === '*') anyQ = q;
  }
  return (gzipQ ?? anyQ ?? 0) > 0;
}

/**
 * The response body gzipped (fastest level: the answer is on the request's critical path)
 * with its headers, when the client takes gzip and the body is big enough; else undefined.
 */
export async function gzipResponse(
  body: string | Buffer,
  acceptEncoding: string | undefined,
): Promise<{ body: Buffer; headers: Record<string, string> } | undefined> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  if (bytes.length < GZIP_MIN_BYTES || !acceptsGzip(acceptEncoding)) return undefined;
  return {
    body: await gzip(bytes, { level: zlib.constants.Z_BEST_SPEED }),
    headers: { 'content-encoding': 'gzip', vary: 'accept-encoding' },
  };
}
