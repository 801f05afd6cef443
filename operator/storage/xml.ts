// Just enough XML for S3 responses (ListObjectsV2, errors, multipart uploads,
// multi-object delete), without a dependency. Safe by construction: no DTDs
// (a DOCTYPE is rejected, so no entity expansion), only the five predefined
// entities and numeric character references are decoded, and input size and
// nesting depth are bounded.

export type XmlElement = {
  /** Local name: a namespace prefix ("s3:Key") is dropped. */
  name: string;
  children: XmlElement[];
  /** Concatenated character data directly inside this element, decoded. */
  text: string;
};

export class XmlParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlParseError';
  }
}

export const MAX_XML_BYTES = 16 * 1024 * 1024;
const MAX_DEPTH = 64;
const NAME = /^[A-Za-z_][\w.:-]*/;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) || code === 0) {
        throw new XmlParseError(`invalid character reference ${whole}`);
      }
      return String.fromCodePoint(code);
    }
    const v = PREDEFINED[ref];
    if (v === undefined) throw new XmlParseError(`unknown entity ${whole}`);
    return v;
  });
}

function localName(qname: string): string {
  const i = qname.indexOf(':');
  return i >= 0 ? qname.slice(i + 1) : qname;
}

/** Parses a document and returns its root element. */
export function parseXml(input: string): XmlElement {
  if (input.length > MAX_XML_BYTES) throw new XmlParseError(`document larger than ${MAX_XML_BYTES} bytes`);
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  const n = input.length;
  while (i < n) {
    const lt = input.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i) {
      const raw = input.slice(i, textEnd);
      const top = stack.at(-1);
      if (top) top.text += decodeEntities(raw);
      else if (raw.trim() !== '') throw new XmlParseError('text outside the root element');
    }
    if (lt < 0) break;
    i = lt;
    if (input.startsWith('<?', i)) {
      const end = input.indexOf('?>', i + 2);
      if (end < 0) throw new XmlParseError('unterminated processing instruction');
      i = end + 2;
    } else if (input.startsWith('<!--', i)) {
      const end = input.indexOf('-->', i + 4);
      if (end < 0) throw new XmlParseError('unterminated comment');
      i = end + 3;
    } else if (input.startsWith('<![CDATA[', i)) {
      const end = input.indexOf(']]>', i + 9);
      if (end < 0) throw new XmlParseError('unterminated CDATA section');
      const top = stack.at(-1);
      if (!top) throw new XmlParseError('CDATA outside the root element');
      top.text += input.slice(i + 9, end);
      i = end + 3;
    } else if (input.startsWith('<!', i)) {
      // <!DOCTYPE …> and <!ENTITY …>: never needed by S3, the source of entity bombs.
      throw new XmlParseError('DTDs are not accepted');
    } else if (input.startsWith('</', i)) {
      const end = input.indexOf('>', i);
      if (end < 0) throw new XmlParseError('unterminated end tag');
      const name = localName(input.slice(i + 2, end).trim());
      const open = stack.pop();
      if (!open || open.name !== name) {
        throw new XmlParseError(`unexpected </${name}>${open ? ` (open: <${open.name}>)` : ''}`);
      }
      i = end + 1;
    } else {
      const m = NAME.exec(input.slice(i + 1, i + 1 + 256));
      if (!m) throw new XmlParseError(`invalid tag at offset ${i}`);
      const end = findTagEnd(input, i + 1 + m[0].length);
      const selfClosing = input[end - 1] === '/';
      const element: XmlElement = { name: localName(m[0]), children: [], text: '' };
      const parent = stack.at(-1);
      if (parent) parent.children.push(element);
      else if (root) throw new XmlParseError('more than one root element');
      else root = element;
      if (!selfClosing) {
        if (stack.length >= MAX_DEPTH) throw new XmlParseError(`nesting deeper than ${MAX_DEPTH}`);
        stack.push(element);
      }
      i = end + 1;
    }
  }
  if (stack.length > 0) throw new XmlParseError(`unclosed <${stack.at(-1)?.name}>`);
  if (!root) throw new XmlParseError('no root element');
  return root;
}

/** Index of the ">" closing a start tag, skipping quoted attribute values. */
function findTagEnd(input: string, from: number): number {
  let quote = '';
  for (let j = from; j < input.length; j++) {
    const c = input[j];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '<') {
      throw new XmlParseError(`"<" inside a tag at offset ${j}`);
    } else if (c === '>') {
      return j;
    }
  }
  throw new XmlParseError('unterminated start tag');
}

export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** Text of the first child called `name`, or undefined when there is none. */
export function childText(el: XmlElement, name: string): string | undefined {
  return child(el, name)?.text;
}

// --- S3 response shapes -----------------------------------------------------------

export type S3ErrorBody = {
  code: string;
  message: string;
  requestId?: string;
  resource?: string;
  bucket?: string;
  key?: string;
};

/** `<Error><Code>…</Code><Message>…</Message>…</Error>`; undefined for anything else. */
export function parseS3Error(body: string): S3ErrorBody | undefined {
  let root: XmlElement;
  try {
    root = parseXml(body);
  } catch {
    return undefined;
  }
  if (root.name !== 'Error') return undefined;
  const code = childText(root, 'Code');
  if (!code) return undefined;
  const out: S3ErrorBody = { code, message: childText(root, 'Message') ?? '' };
  const optional = { requestId: 'RequestId', resource: 'Resource', bucket: 'BucketName', key: 'Key' };
  for (const [field, tag] of Object.entries(optional)) {
    const v = childText(root, tag);
    if (v) out[field as keyof typeof optional] = v;
  }
  return out;
}

export type ListedObject = {
  key: string;
  size: number;
  /** Without the surrounding quotes. */
  etag: string;
  lastModified: Date;
};

export type ListObjectsV2Page = {
  objects: ListedObject[];
  /** "Directories" when listing with a delimiter. */
  commonPrefixes: string[];
  isTruncated: boolean;
  nextContinuationToken?: string;
};

export function unquoteEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function expectRoot(body: string, name: string): XmlElement {
  const root = parseXml(body);
  if (root.name !== name) throw new XmlParseError(`expected <${name}>, got <${root.name}>`);
  return root;
}

/** The body of GET /bucket?list-type=2. */
export function parseListObjectsV2(body: string): ListObjectsV2Page {
  const root = expectRoot(body, 'ListBucketResult');
  const objects = childrenNamed(root, 'Contents').map((c): ListedObject => {
    const key = childText(c, 'Key');
    if (key === undefined) throw new XmlParseError('<Contents> without <Key>');
    const size = Number(childText(c, 'Size') ?? '0');
    if (!Number.isSafeInteger(size) || size < 0) throw new XmlParseError(`bad <Size> for ${key}`);
    const lastModified = new Date(childText(c, 'LastModified') ?? '');
    return { key, size, etag: unquoteEtag(childText(c, 'ETag') ?? ''), lastModified };
  });
  const commonPrefixes = childrenNamed(root, 'CommonPrefixes')
    .map((p) => childText(p, 'Prefix'))
    .filter((p): p is string => p !== undefined);
  const isTruncated = childText(root, 'IsTruncated') === 'true';
  const token = childText(root, 'NextContinuationToken');
  if (isTruncated && !token) throw new XmlParseError('truncated listing without <NextContinuationToken>');
  return { objects, commonPrefixes, isTruncated, ...(token ? { nextContinuationToken: token } : {}) };
}

/** The UploadId of POST ?uploads (InitiateMultipartUploadResult). */
export function parseInitiateMultipartUpload(body: string): string {
  const id = childText(expectRoot(body, 'InitiateMultipartUploadResult'), 'UploadId');
  if (!id) throw new XmlParseError('no <UploadId> in InitiateMultipartUploadResult');
  return id;
}

/** The ETag (unquoted) of the object a CompleteMultipartUpload made. */
export function parseCompleteMultipartUpload(body: string): string {
  const etag = childText(expectRoot(body, 'CompleteMultipartUploadResult'), 'ETag');
  if (etag === undefined) throw new XmlParseError('no <ETag> in CompleteMultipartUploadResult');
  return unquoteEtag(etag);
}

export type DeleteObjectsResult = {
  deleted: string[];
  errors: Array<{ key: string; code: string; message: string }>;
};

/** The body of POST ?delete (DeleteResult). */
export function parseDeleteResult(body: string): DeleteObjectsResult {
  const root = expectRoot(body, 'DeleteResult');
  return {
    deleted: childrenNamed(root, 'Deleted').map((d) => childText(d, 'Key') ?? ''),
    errors: childrenNamed(root, 'Error').map((e) => ({
      key: childText(e, 'Key') ?? '',
      code: childText(e, 'Code') ?? 'Unknown',
      message: childText(e, 'Message') ?? '',
    })),
  };
}

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Body of POST ?delete for up to 1000 keys, quiet mode (only failures reported). */
export function deleteObjectsBody(keys: readonly string[]): string {
  const objects = keys.map((k) => `<Object><Key>${escapeXml(k)}</Key></Object>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>${objects}</Delete>`;
}

/** Body of POST ?uploadId=… (CompleteMultipartUpload). */
export function completeMultipartBody(parts: ReadonlyArray<{ partNumber: number; etag: string }>): string {
  const xml = parts
    .map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>"${escapeXml(p.etag)}"</ETag></Part>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload>${xml}</CompleteMultipartUpload>`;
}
