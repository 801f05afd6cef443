// Pure helpers for naming things in S3: s3:// URIs, bucket names, key
// prefixes and user metadata. The SDK builds the requests themselves.

export type Addressing = 'path' | 'virtual-host';

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** A reason the name breaks S3's bucket naming rules, or undefined when it is valid. */
export function validateBucketName(bucket: string): string | undefined {
  if (!BUCKET_NAME.test(bucket)) {
    return (
      `bucket name "${bucket}" must be 3-63 characters of a-z, 0-9, "." and "-", ` +
      'starting and ending with a letter or digit'
    );
  }
  if (bucket.includes('..') || bucket.includes('.-') || bucket.includes('-.')) {
    return `bucket name "${bucket}" must not contain "..", ".-" or "-."`;
  }
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return `bucket name "${bucket}" must not look like an IP address`;
  return undefined;
}

export type S3Uri = { bucket: string; key: string };

/**
 * "s3://bucket/some/key" → {bucket: "bucket", key: "some/key"}. The key is
 * taken literally, as the AWS CLI does (no percent-decoding); "s3://bucket"
 * and "s3://bucket/" have the key "".
 */
export function parseS3Uri(uri: string): S3Uri {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/s.exec(uri);
  if (!m) throw new TypeError(`not an s3:// URI: "${uri}"`);
  const bucket = m[1] ?? '';
  const problem = validateBucketName(bucket);
  if (problem) throw new TypeError(`invalid s3:// URI "${uri}": ${problem}`);
  return { bucket, key: m[2] ?? '' };
}

export function formatS3Uri(bucket: string, key = ''): string {
  return `s3://${bucket}/${key}`;
}

/** A store prefix is '' or ends with "/": "models" and "models/" are the same, "/x" is "x/". */
export function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : trimmed + '/';
}

export function validateKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new TypeError('object key must be a non-empty string');
  if (Buffer.byteLength(key, 'utf8') > 1024) throw new TypeError('object key longer than 1024 bytes (UTF-8)');
}

/**
 * User metadata (x-amz-meta-*) as S3 stores it: names lowercased. Values
 * must be printable ASCII, since HTTP headers cannot carry anything else
 * safely.
 */
export function validateMetadata(metadata: Readonly<Record<string, string>> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) {
      throw new TypeError(`invalid metadata name "${name}" (letters, digits, "-" and "_")`);
    }
    if (typeof value !== 'string' || !/^[\x20-\x7e]*$/.test(value)) {
      throw new TypeError(
        `metadata "${name}" must be a printable ASCII string (encode it first, e.g. base64)`,
      );
    }
    out[name.toLowerCase()] = value;
  }
  return out;
}

/** Listing with encoding-type=url returns keys form-encoded ("+" is a space). */
export function decodeListedKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/** An endpoint for messages: scheme, host and path, never the userinfo. */
export function endpointLabel(endpoint: URL): string {
  return `${endpoint.protocol}//${endpoint.host}${endpoint.pathname === '/' ? '' : endpoint.pathname}`;
}
