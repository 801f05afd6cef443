// The backup format, pure: where things lie in the store, the manifest and
// its strict parser, backup ids, and which backups retention deletes.
//
// Layout, relative to the policy's storage location (s3 bucket + prefix):
//
//   <policy-namespace>/<policy-name>/<backupId>/items/000001.bin   one object per item
//   <policy-namespace>/<policy-name>/<backupId>/items/000002.bin
//   <policy-namespace>/<policy-name>/<backupId>/manifest.json      written last
//
// Items are numbered, not named by kind/namespace/name: object names stay
// short, safe in any store, and say nothing about the content when the
// backup is encrypted; the manifest maps numbers to objects. Nothing is
// written twice or rewritten, so buckets under S3 Object Lock work. A backup
// without manifest.json is Incomplete (a crash or failure midway) and never
// counts as Completed.
import { canonicalJson } from './clean.ts';
import { ITEM_ALGORITHM, MAX_FRAME_BYTES, WRAP_ALGORITHM, WRAPPED_KEY_BYTES } from './crypto.ts';
import { InvalidManifestError } from './errors.ts';

export const FORMAT_VERSION = 1;
export const MANIFEST = 'manifest.json';
/** A manifest bigger than this is refused before parsing (it comes from the bucket: untrusted). */
export const MAX_MANIFEST_BYTES = 32 * 1024 * 1024;
export const MAX_ITEMS = 100_000;
/** Failures named in the manifest; the count covers all. */
export const MAX_FAILURES_LISTED = 20;

export type PolicyRef = { namespace: string; name: string; uid: string };

type Stored = {
  /** Key of the item's object, relative to the backup: items/NNNNNN.bin. */
  key: string;
  /** Bytes in the store. */
  size: number;
  /** SHA-256 (hex) of the bytes in the store. */
  sha256: string;
  plaintextSize: number;
  /** SHA-256 (hex) of the content before encryption (equal to sha256 in clear backups). */
  plaintextSha256: string;
};

/** A Kubernetes object, stored clean (clean.ts) as canonical JSON. */
export type ResourceItem = Stored & {
  type: 'resource';
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  /** Digest of the model file this object serves, paired with a model item of the same backup. */
  modelDigest?: string;
  /**
   * The object's owners when it was backed up, by kind and name (same
   * namespace; UIDs do not survive a restore): a restore rebinds them to the
   * new UIDs of owners it restores. Optional: older formatVersion 1
   * manifests have none.
   */
  owners?: ItemOwner[];
};

/** An owner reference without its UID. */
export type ItemOwner = { apiVersion: string; kind: string; name: string; controller?: boolean };

/** Owners recorded per item (Kubernetes objects rarely have more than one or two). */
export const MAX_OWNERS = 16;

/** A model file. */
export type ModelItem = Stored & {
  type: 'model';
  /** Where it was copied from (s3://, pvc://, https://). */
  source: string;
  /** sha256:<plaintextSha256>. */
  modelDigest: string;
};

export type ManifestItem = ResourceItem | ModelItem;

export type ManifestEncryption = {
  algorithm: typeof ITEM_ALGORITHM;
  keyWrap: typeof WRAP_ALGORITHM;
  /** Id of the KEK that wrapped the data key (crypto.ts keyIdOf). */
  keyId: string;
  /** base64(iv || AES-256-GCM(KEK, data key) || tag). */
  wrappedDataKey: string;
  frameBytes: number;
  /** HMAC-SHA256 (base64) of manifestMacInput(manifest), under a key derived from the data key. */
  manifestMac: string;
};

export type ItemFailure = { what: string; message: string };

export type Manifest = {
  formatVersion: typeof FORMAT_VERSION;
  policy: PolicyRef;
  backupId: string;
  startedAt: string;
  completedAt: string;
  /** null: stored in clear. */
  encryption: ManifestEncryption | null;
  items: ManifestItem[];
  /** Items that could not be read from their source (PartiallyFailed); the first ones named. */
  failures: { count: number; first: ItemFailure[] };
  /** Models referenced but not copied on purpose (file://: inside the runtime image); absent when none. */
  notCopied?: { count: number; first: ItemFailure[] };
  counts: { items: number; resources: number; models: number; storedBytes: number; plaintextBytes: number };
};

// --- layout ---------------------------------------------------------------------------

export function policyPrefix(policy: Pick<PolicyRef, 'namespace' | 'name'>): string {
  return `${policy.namespace}/${policy.name}/`;
}

export function backupPrefix(policy: Pick<PolicyRef, 'namespace' | 'name'>, backupId: string): string {
  return `${policyPrefix(policy)}${backupId}/`;
}

export function itemKey(n: number): string {
  return `items/${String(n).padStart(6, '0')}.bin`;
}

const ITEM_KEY = /^items\/\d{6,}\.bin$/;

/**
 * A model source as the manifest records it: the manifest is stored in clear,
 * so user info and query (a presigned URL's signature) and fragment are
 * dropped from URLs; anything that is not a URL is kept as is.
 */
export function redactSource(source: string): string {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    return source;
  }
  if (!url.username && !url.password && !url.search && !url.hash) return source;
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  return url.href;
}

// --- backup ids -----------------------------------------------------------------------

/** UTC start time to the second, then 8 random hex digits: ids sort by time. */
export const BACKUP_ID_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[0-9a-f]{8}$/;

export function newBackupId(now: Date, random: string): string {
  if (!/^[0-9a-f]{8}$/.test(random)) throw new TypeError('random must be 8 lowercase hex digits');
  const iso = now.toISOString(); // 2026-12-04T19:47:45.123Z
  return `${iso.slice(0, 10).replace(/-/g, '')}T${iso.slice(11, 19).replace(/:/g, '')}Z-${random}`;
}

/** The start time an id carries, or undefined when `id` is not a backup id. */
export function backupIdTime(id: string): Date | undefined {
  const m = BACKUP_ID_PATTERN.exec(id);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  const t = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
  return Number.isNaN(t.getTime()) ? undefined : t;
}

// --- manifest -------------------------------------------------------------------------

/** The stored bytes: sorted keys, indented for people reading the bucket. */
export function serializeManifest(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(JSON.parse(canonicalJson(manifest)), null, 2)}\n`, 'utf8');
}

/** What the manifest MAC covers: the canonical JSON of the manifest with manifestMac empty. */
export function manifestMacInput(manifest: Manifest): Buffer {
  const unsigned = manifest.encryption
    ? { ...manifest, encryption: { ...manifest.encryption, manifestMac: '' } }
    : manifest;
  return Buffer.from(canonicalJson(unsigned), 'utf8');
}

export type ManifestExpectations = { backupId?: string; policy?: Pick<PolicyRef, 'namespace' | 'name'> };

type Json = Record<string, unknown>;

const HEX64 = /^[0-9a-f]{64}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const KEY_ID = /^[0-9a-f]{16}$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const describe = (v: unknown) =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'string'
        ? `"${v.slice(0, 80)}"`
        : typeof v;

class Reader {
  readonly path: string;
  constructor(path: string) {
    this.path = path;
  }
  fail(message: string, field = this.path): never {
    throw new InvalidManifestError(field, message);
  }
  object(v: unknown, allowed: readonly string[]): Json {
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      this.fail(`must be an object, not ${describe(v)}`);
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) this.fail(`unknown field (allowed: ${allowed.join(', ')})`, this.at(k).path);
    }
    return v as Json;
  }
  at(field: string | number): Reader {
    return new Reader(
      typeof field === 'number' ? `${this.path}[${field}]` : this.path ? `${this.path}.${field}` : field,
    );
  }
  string(obj: Json, field: string, pattern?: RegExp, max = 253, what?: string): string {
    const v = obj[field];
    const r: Reader = this.at(field);
    if (typeof v !== 'string') r.fail(`must be a string, not ${v === undefined ? 'missing' : describe(v)}`);
    if (v.length === 0 || v.length > max) r.fail(`must be 1..${max} characters`);
    if (pattern && !pattern.test(v))
      r.fail(`${describe(v)} is not ${what ?? `of the form ${pattern.source}`}`);
    return v;
  }
  optionalString(obj: Json, field: string, pattern?: RegExp, max = 253, what?: string): string | undefined {
    return obj[field] === undefined ? undefined : this.string(obj, field, pattern, max, what);
  }
  count(obj: Json, field: string): number {
    const v = obj[field];
    const r: Reader = this.at(field);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      r.fail(`must be a non-negative integer, not ${v === undefined ? 'missing' : describe(v)}`);
    }
    return v;
  }
  time(obj: Json, field: string): string {
    const v = this.string(obj, field, RFC3339, 64, 'an RFC 3339 time');
    if (Number.isNaN(Date.parse(v))) this.at(field).fail(`"${v}" is not a valid time`);
    return v;
  }
}

/**
 * The manifest in `bytes`, checked field by field (it comes from the bucket,
 * so it is untrusted): an InvalidManifestError names the first bad field and
 * what is allowed. With `expected`, the backup id and policy must match where
 * the manifest was found. This checks the manifest alone; its MAC, the key
 * and the items are checked by readAndVerify.
 */
export function parseManifest(bytes: Uint8Array, expected: ManifestExpectations = {}): Manifest {
  const root: Reader = new Reader('');
  if (bytes.length > MAX_MANIFEST_BYTES) root.fail(`larger than ${MAX_MANIFEST_BYTES} bytes`, '(file)');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    root.fail(`not JSON: ${(error as Error).message}`, '(file)');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    root.fail('must be a JSON object', '(file)');
  const version = (json as Json).formatVersion;
  if (version !== FORMAT_VERSION) {
    root
      .at('formatVersion')
      .fail(
        typeof version === 'number'
          ? `version ${version} is not supported (this operator reads version ${FORMAT_VERSION})`
          : `must be the number ${FORMAT_VERSION}, not ${version === undefined ? 'missing' : describe(version)}`,
      );
  }
  const m = root.object(json, [
    'formatVersion',
    'policy',
    'backupId',
    'startedAt',
    'completedAt',
    'encryption',
    'items',
    'failures',
    'notCopied',
    'counts',
  ]);

  const pr: Reader = root.at('policy');
  const p = pr.object(m.policy, ['namespace', 'name', 'uid']);
  const policy: PolicyRef = {
    namespace: pr.string(p, 'namespace', DNS_LABEL, 63, 'a DNS label'),
    name: pr.string(p, 'name', DNS_SUBDOMAIN, 253, 'a DNS subdomain name'),
    uid: pr.string(p, 'uid', /^[A-Za-z0-9-]+$/, 64, 'a UID'),
  };
  if (
    expected.policy &&
    (expected.policy.namespace !== policy.namespace || expected.policy.name !== policy.name)
  ) {
    pr.fail(
      `names ${policy.namespace}/${policy.name}, but the backup lies under ${expected.policy.namespace}/${expected.policy.name}`,
    );
  }
  const backupId = root.string(
    m,
    'backupId',
    BACKUP_ID_PATTERN,
    63,
    'a backup id (e.g. 20260131T010000Z-0a1b2c3d)',
  );
  if (expected.backupId !== undefined && backupId !== expected.backupId) {
    root.at('backupId').fail(`"${backupId}" is not the id of the backup it lies in ("${expected.backupId}")`);
  }
  const startedAt = root.time(m, 'startedAt');
  const completedAt = root.time(m, 'completedAt');
  if (Date.parse(completedAt) < Date.parse(startedAt)) root.at('completedAt').fail('is before startedAt');

  const encryption = parseEncryption(root.at('encryption'), m.encryption);

  const ir: Reader = root.at('items');
  if (!Array.isArray(m.items))
    ir.fail(`must be an array, not ${m.items === undefined ? 'missing' : describe(m.items)}`);
  if (m.items.length > MAX_ITEMS) ir.fail(`more than ${MAX_ITEMS} items`);
  const keys = new Set<string>();
  const items = m.items.map((raw, i) => {
    const item = parseItem(ir.at(i), raw, encryption !== null);
    if (keys.has(item.key)) ir.at(i).at('key').fail(`"${item.key}" is listed twice`);
    keys.add(item.key);
    return item;
  });
  const fr: Reader = root.at('failures');
  const f = fr.object(m.failures, ['count', 'first']);
  const failureCount = fr.count(f, 'count');
  const firstR: Reader = fr.at('first');
  if (!Array.isArray(f.first)) firstR.fail('must be an array');
  if (f.first.length > Math.min(failureCount, MAX_FAILURES_LISTED)) {
    firstR.fail(
      `lists ${f.first.length} failures, more than count (${failureCount}) or ${MAX_FAILURES_LISTED}`,
    );
  }
  const first = f.first.map((raw, i) => {
    const r: Reader = firstR.at(i);
    const o = r.object(raw, ['what', 'message']);
    return { what: r.string(o, 'what', undefined, 1024), message: r.string(o, 'message', undefined, 4096) };
  });

  const notCopied = m.notCopied === undefined ? undefined : parseNotes(root.at('notCopied'), m.notCopied);

  const cr: Reader = root.at('counts');
  const c = cr.object(m.counts, ['items', 'resources', 'models', 'storedBytes', 'plaintextBytes']);
  const counts = {
    items: cr.count(c, 'items'),
    resources: cr.count(c, 'resources'),
    models: cr.count(c, 'models'),
    storedBytes: cr.count(c, 'storedBytes'),
    plaintextBytes: cr.count(c, 'plaintextBytes'),
  };
  const actual = countsOf(items);
  for (const k of Object.keys(actual) as (keyof typeof actual)[]) {
    if (counts[k] !== actual[k]) cr.at(k).fail(`is ${counts[k]} but the items add up to ${actual[k]}`);
  }

  return {
    formatVersion: FORMAT_VERSION,
    policy,
    backupId,
    startedAt,
    completedAt,
    encryption,
    items,
    failures: { count: failureCount, first },
    ...(notCopied ? { notCopied } : {}),
    counts,
  };
}

/** {count, first: [{what, message}]}, at most MAX_FAILURES_LISTED named. */
function parseNotes(r: Reader, raw: unknown): { count: number; first: ItemFailure[] } {
  const o = r.object(raw, ['count', 'first']);
  const count = r.count(o, 'count');
  const fr: Reader = r.at('first');
  if (!Array.isArray(o.first)) fr.fail('must be an array');
  if (o.first.length > Math.min(count, MAX_FAILURES_LISTED))
    fr.fail(`lists ${o.first.length} entries, more than count (${count}) or ${MAX_FAILURES_LISTED}`);
  const first = o.first.map((x, i) => {
    const e: Reader = fr.at(i);
    const v = e.object(x, ['what', 'message']);
    return { what: e.string(v, 'what', undefined, 1024), message: e.string(v, 'message', undefined, 4096) };
  });
  return { count, first };
}

function parseEncryption(r: Reader, raw: unknown): ManifestEncryption | null {
  if (raw === null) return null;
  if (raw === undefined) r.fail('is missing (null for a backup stored in clear)');
  const e = r.object(raw, ['algorithm', 'keyWrap', 'keyId', 'wrappedDataKey', 'frameBytes', 'manifestMac']);
  if (e.algorithm !== ITEM_ALGORITHM)
    r.at('algorithm').fail(`must be "${ITEM_ALGORITHM}", not ${describe(e.algorithm)}`);
  if (e.keyWrap !== WRAP_ALGORITHM)
    r.at('keyWrap').fail(`must be "${WRAP_ALGORITHM}", not ${describe(e.keyWrap)}`);
  const keyId = r.string(e, 'keyId', KEY_ID, 16, 'a key id (16 hex digits)');
  const wrappedDataKey = r.string(e, 'wrappedDataKey', BASE64, 128, 'base64');
  if (Buffer.from(wrappedDataKey, 'base64').length !== WRAPPED_KEY_BYTES) {
    r.at('wrappedDataKey').fail(`must decode to ${WRAPPED_KEY_BYTES} bytes`);
  }
  const frameBytes = r.count(e, 'frameBytes');
  if (frameBytes < 1 || frameBytes > MAX_FRAME_BYTES)
    r.at('frameBytes').fail(`must be in 1..${MAX_FRAME_BYTES}`);
  const manifestMac = r.string(e, 'manifestMac', BASE64, 64, 'base64');
  if (Buffer.from(manifestMac, 'base64').length !== 32) r.at('manifestMac').fail('must decode to 32 bytes');
  return {
    algorithm: ITEM_ALGORITHM,
    keyWrap: WRAP_ALGORITHM,
    keyId,
    wrappedDataKey,
    frameBytes,
    manifestMac,
  };
}

const STORED_FIELDS = ['key', 'type', 'size', 'sha256', 'plaintextSize', 'plaintextSha256'] as const;

function parseItem(r: Reader, raw: unknown, encrypted: boolean): ManifestItem {
  const type = (raw as Json | null)?.type;
  const tr: Reader = r.at('type');
  if (type !== 'resource' && type !== 'model') {
    tr.fail(`must be "resource" or "model", not ${type === undefined ? 'missing' : describe(type)}`);
  }
  const o =
    type === 'resource'
      ? r.object(raw, [...STORED_FIELDS, 'apiVersion', 'kind', 'namespace', 'name', 'modelDigest', 'owners'])
      : r.object(raw, [...STORED_FIELDS, 'source', 'modelDigest']);
  const stored: Stored = {
    key: r.string(o, 'key', ITEM_KEY, 64, 'an item key (items/NNNNNN.bin)'),
    size: r.count(o, 'size'),
    sha256: r.string(o, 'sha256', HEX64, 64, 'a SHA-256 in lowercase hex'),
    plaintextSize: r.count(o, 'plaintextSize'),
    plaintextSha256: r.string(o, 'plaintextSha256', HEX64, 64, 'a SHA-256 in lowercase hex'),
  };
  if (!encrypted) {
    if (stored.plaintextSize !== stored.size)
      r.at('plaintextSize').fail('must equal size in a backup stored in clear');
    if (stored.plaintextSha256 !== stored.sha256) {
      r.at('plaintextSha256').fail('must equal sha256 in a backup stored in clear');
    }
  }
  if (type === 'model') {
    const modelDigest = r.string(o, 'modelDigest', DIGEST, 71, 'sha256:<64 hex digits>');
    if (modelDigest !== `sha256:${stored.plaintextSha256}`)
      r.at('modelDigest').fail('must be sha256:<plaintextSha256>');
    return { ...stored, type, source: r.string(o, 'source', undefined, 4096), modelDigest };
  }
  const namespace = r.optionalString(o, 'namespace', DNS_LABEL, 63, 'a DNS label');
  const modelDigest = r.optionalString(o, 'modelDigest', DIGEST, 71, 'sha256:<64 hex digits>');
  const owners = o.owners === undefined ? undefined : parseOwners(r.at('owners'), o.owners);
  return {
    ...stored,
    type,
    apiVersion: r.string(o, 'apiVersion', /^([a-z0-9.-]+\/)?v[0-9a-z]+$/, 253, 'an apiVersion'),
    kind: r.string(o, 'kind', /^[A-Z][A-Za-z0-9]*$/, 63, 'a kind'),
    ...(namespace !== undefined ? { namespace } : {}),
    name: r.string(o, 'name', DNS_SUBDOMAIN, 253, 'a DNS subdomain name'),
    ...(modelDigest !== undefined ? { modelDigest } : {}),
    ...(owners !== undefined ? { owners } : {}),
  };
}

const API_VERSION = /^([a-z0-9.-]+\/)?v[0-9a-z]+$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;

function parseOwners(r: Reader, raw: unknown): ItemOwner[] {
  if (!Array.isArray(raw)) r.fail(`must be an array, not ${describe(raw)}`);
  if (raw.length > MAX_OWNERS) r.fail(`more than ${MAX_OWNERS} owners`);
  return raw.map((v, i) => {
    const or: Reader = r.at(i);
    const o = or.object(v, ['apiVersion', 'kind', 'name', 'controller']);
    if (o.controller !== undefined && typeof o.controller !== 'boolean')
      or.at('controller').fail(`must be a boolean, not ${describe(o.controller)}`);
    return {
      apiVersion: or.string(o, 'apiVersion', API_VERSION, 253, 'an apiVersion'),
      kind: or.string(o, 'kind', KIND, 63, 'a kind'),
      name: or.string(o, 'name', DNS_SUBDOMAIN, 253, 'a DNS subdomain name'),
      ...(o.controller === true ? { controller: true } : {}),
    };
  });
}

export function countsOf(items: readonly ManifestItem[]): Manifest['counts'] {
  let storedBytes = 0;
  let plaintextBytes = 0;
  for (const i of items) {
    storedBytes += i.size;
    plaintextBytes += i.plaintextSize;
  }
  return {
    items: items.length,
    resources: items.filter((i) => i.type === 'resource').length,
    models: items.filter((i) => i.type === 'model').length,
    storedBytes,
    plaintextBytes,
  };
}

// --- retention ------------------------------------------------------------------------

/**
 * Completed: the manifest is there and parses. Incomplete: no manifest (a
 * backup in progress, or one that failed or crashed midway). Invalid: a
 * manifest that does not parse; kept for people to look at, never deleted
 * automatically (it may be evidence of tampering).
 */
export type BackupState = 'Completed' | 'Incomplete' | 'Invalid';

export type RetentionCandidate = { id: string; state: BackupState; completedAt?: string };

export type RetentionInput = {
  backups: readonly RetentionCandidate[];
  /** Completed backups always kept, newest first; >= 1 (the newest Completed is kept in any case). */
  keepLast: number;
  /** With it, a Completed backup beyond keepLast goes only once older than this; without, at once. */
  ttlHours?: number | undefined;
  now: Date;
  /** An Incomplete backup is garbage once its start is older than this; default 24 hours. */
  incompleteGraceHours?: number;
};

export type RetentionVerdict = { id: string; reason: string };

export const DEFAULT_INCOMPLETE_GRACE_HOURS = 24;

/**
 * The backups to delete, oldest first, each with why. The newest Completed
 * backup is never among them; Invalid ones and ids that are not backup ids
 * never are either. Call it only with a listing that succeeded: an
 * unreachable store means no retention at all, never "no backups".
 */
export function selectForDeletion(input: RetentionInput): RetentionVerdict[] {
  const now = input.now.getTime();
  const keepLast = Math.max(1, Math.floor(input.keepLast));
  const graceMs = (input.incompleteGraceHours ?? DEFAULT_INCOMPLETE_GRACE_HOURS) * 3_600_000;
  const timeOf = (b: RetentionCandidate): number => {
    const done = b.completedAt === undefined ? NaN : Date.parse(b.completedAt);
    return Number.isNaN(done) ? (backupIdTime(b.id)?.getTime() ?? NaN) : done;
  };
  const verdicts: { id: string; reason: string; at: number }[] = [];

  const completed = input.backups
    .filter((b) => b.state === 'Completed' && !Number.isNaN(timeOf(b)))
    .sort((a, b) => timeOf(b) - timeOf(a) || (a.id < b.id ? 1 : -1));
  completed.forEach((b, index) => {
    if (index < keepLast) return;
    const at = timeOf(b);
    if (input.ttlHours === undefined) {
      verdicts.push({ id: b.id, at, reason: `beyond the ${keepLast} most recent (keepLast)` });
    } else if (now - at > input.ttlHours * 3_600_000) {
      verdicts.push({
        id: b.id,
        at,
        reason: `older than ${input.ttlHours}h (ttlHours) and beyond the ${keepLast} most recent (keepLast)`,
      });
    }
  });

  for (const b of input.backups) {
    if (b.state !== 'Incomplete') continue;
    const started = backupIdTime(b.id)?.getTime();
    if (started === undefined) continue;
    if (now - started > graceMs) {
      verdicts.push({
        id: b.id,
        at: started,
        reason: `incomplete (no manifest) and started more than ${graceMs / 3_600_000}h ago`,
      });
    }
  }
  return verdicts.sort((a, b) => a.at - b.at).map(({ id, reason }) => ({ id, reason }));
}
