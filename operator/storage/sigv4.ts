// AWS Signature Version 4 for requests signed in the Authorization header
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
// Pure: the caller passes the time, so the same input always signs the same way
// and the documented examples can be checked byte for byte.
import { createHash, createHmac } from 'node:crypto';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** x-amz-content-sha256 for a body that is not hashed (streamed uploads). */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** SHA-256 of the empty string. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export type Credentials = {
  accessKeyId: string;
  secretAccessKey: string;
  /** STS session token; sent as x-amz-security-token and signed. */
  sessionToken?: string;
};

export type SignableRequest = {
  method: string;
  /**
   * The path exactly as it goes on the wire, already percent-encoded
   * (see encodeUriPath). S3 signs it as is; it is never encoded twice.
   */
  path: string;
  /** Query parameters, unencoded; a name without value is ''. */
  query?: ReadonlyArray<readonly [string, string]>;
  /** Headers to sign; must include host. Names are case-insensitive. */
  headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the body, or UNSIGNED_PAYLOAD. */
  payloadHash: string;
};

export type SigningScope = {
  region: string;
  /** "s3" for object storage. */
  service: string;
  /** Request time; only second precision is used. */
  date: Date;
};

export type SignedRequest = {
  /** The Authorization header value. */
  authorization: string;
  /** x-amz-date value (yyyymmddThhmmssZ). */
  amzDate: string;
  signedHeaders: string;
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
};

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Uint8Array, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** 2013-05-24T00:00:00.000Z → "20130524T000000Z". */
export function toAmzDate(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new RangeError('invalid signing date');
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/**
 * RFC 3986 percent-encoding as SigV4 defines it: everything but A-Z a-z 0-9
 * - . _ ~ is encoded as %XX of its UTF-8 bytes (uppercase hex); "/" is kept
 * when `keepSlash` (object key paths) and encoded otherwise (query values).
 */
export function uriEncode(value: string, keepSlash = false): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** "/" + each path segment encoded once: the S3 canonical URI of a bucket/key path. */
export function encodeUriPath(rawPath: string): string {
  const encoded = uriEncode(rawPath, true);
  return encoded.startsWith('/') ? encoded : '/' + encoded;
}

/** Parameters sorted by encoded name, then value, joined as name=value with "&". */
export function canonicalQueryString(query: ReadonlyArray<readonly [string, string]> = []): string {
  return query
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** Lowercased names sorted; values trimmed with inner runs of spaces collapsed. */
export function canonicalHeaders(headers: Readonly<Record<string, string>>): {
  canonical: string;
  signedHeaders: string;
} {
  const map = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase().trim();
    const clean = String(value).trim().replace(/\s+/g, ' ');
    // A header given twice (different case) is one comma-separated header.
    map.set(lower, map.has(lower) ? `${map.get(lower)},${clean}` : clean);
  }
  const names = [...map.keys()].sort();
  return {
    canonical: names.map((n) => `${n}:${map.get(n)}\n`).join(''),
    signedHeaders: names.join(';'),
  };
}

export function canonicalRequest(req: SignableRequest): { canonical: string; signedHeaders: string } {
  const { canonical, signedHeaders } = canonicalHeaders(req.headers);
  return {
    canonical: [
      req.method.toUpperCase(),
      req.path || '/',
      canonicalQueryString(req.query),
      canonical,
      signedHeaders,
      req.payloadHash,
    ].join('\n'),
    signedHeaders,
  };
}

export function credentialScope(scope: SigningScope): string {
  return `${toAmzDate(scope.date).slice(0, 8)}/${scope.region}/${scope.service}/aws4_request`;
}

export function stringToSign(canonical: string, scope: SigningScope): string {
  return [SIGV4_ALGORITHM, toAmzDate(scope.date), credentialScope(scope), sha256Hex(canonical)].join('\n');
}

/** HMAC chain "AWS4"+secret → date → region → service → "aws4_request". */
export function signingKey(secretAccessKey: string, scope: SigningScope): Buffer {
  const day = toAmzDate(scope.date).slice(0, 8);
  const kDate = hmac('AWS4' + secretAccessKey, day);
  const kRegion = hmac(kDate, scope.region);
  const kService = hmac(kRegion, scope.service);
  return hmac(kService, 'aws4_request');
}

/**
 * Signs a request. The headers must already hold everything that is signed:
 * host, x-amz-date (= toAmzDate(scope.date)), x-amz-content-sha256 for S3,
 * and x-amz-security-token when there is a session token (see signingHeaders).
 */
export function signRequest(
  req: SignableRequest,
  credentials: Credentials,
  scope: SigningScope,
): SignedRequest {
  const { canonical, signedHeaders } = canonicalRequest(req);
  const toSign = stringToSign(canonical, scope);
  const signature = createHmac('sha256', signingKey(credentials.secretAccessKey, scope))
    .update(toSign, 'utf8')
    .digest('hex');
  return {
    authorization:
      `${SIGV4_ALGORITHM} Credential=${credentials.accessKeyId}/${credentialScope(scope)},` +
      `SignedHeaders=${signedHeaders},Signature=${signature}`,
    amzDate: toAmzDate(scope.date),
    signedHeaders,
    canonicalRequest: canonical,
    stringToSign: toSign,
    signature,
  };
}

/** The x-amz-* headers every signed S3 request carries. */
export function signingHeaders(
  date: Date,
  payloadHash: string,
  credentials: Credentials,
): Record<string, string> {
  const headers: Record<string, string> = {
    'x-amz-date': toAmzDate(date),
    'x-amz-content-sha256': payloadHash,
  };
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
  return headers;
}
