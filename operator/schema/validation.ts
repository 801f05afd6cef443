// Field errors found by the controller-side validators (what admission cannot
// judge), and the small checks they share: cron, time zones, Go durations,
// quantities, label selectors, DNS names.
import { Cron } from 'croner';
import { QUANTITY_PATTERN } from './builder.ts';

/** One problem with a spec, named by its field path (e.g. `spec.steps[2].dependsOn`). */
export interface FieldError {
  field: string;
  message: string;
}

/** One readable message for a Stalled condition or an event: `spec.a: …; spec.b: …`. */
export function formatFieldErrors(errors: readonly FieldError[], max = 5): string {
  if (errors.length === 0) return '';
  const shown = errors.slice(0, max).map((e) => `${e.field}: ${e.message}`);
  const more = errors.length > max ? ` (and ${errors.length - max} more)` : '';
  return `${shown.join('; ')}${more}`;
}

/** Collects errors under a field prefix. */
export class FieldErrors {
  readonly list: FieldError[] = [];
  add(field: string, message: string): void {
    this.list.push({ field, message });
  }
  addAll(errors: readonly FieldError[]): void {
    this.list.push(...errors);
  }
}

// ---------------------------------------------------------------- cron

const CRON_NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/**
 * Checks a cron schedule the way the operator's scheduler reads it (croner):
 * five fields (minute hour day-of-month month day-of-week) or a nickname.
 * Returns an error message or undefined.
 */
export function checkCron(expr: string, timeZone?: string): string | undefined {
  const trimmed = expr.trim();
  if (trimmed !== expr) return 'must not have leading or trailing spaces';
  if (/^TZ=|^CRON_TZ=/.test(expr)) return 'set the time zone with the timeZone field, not in the schedule';
  if (expr.startsWith('@')) {
    if (!CRON_NICKNAMES.includes(expr.toLowerCase())) {
      return `unknown nickname ${expr} (use ${CRON_NICKNAMES.join(', ')})`;
    }
  } else if (expr.split(/\s+/).length !== 5) {
    return 'must have five fields (minute hour day-of-month month day-of-week)';
  }
  try {
    const job = new Cron(expr, { paused: true, timezone: timeZone });
    const next = job.nextRun();
    job.stop();
    if (!next) return 'never fires';
  } catch (err) {
    return `invalid cron expression: ${(err as Error).message.replace(/^CronPattern: /, '')}`;
  }
  return undefined;
}

/** Checks an IANA time zone name (e.g. `Europe/Berlin`). */
export function checkTimeZone(tz: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return undefined;
  } catch {
    return `unknown time zone ${JSON.stringify(tz)} (use an IANA name such as Europe/Berlin or UTC)`;
  }
}

// ---------------------------------------------------------------- durations

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration (`90s`, `5m`, `1h30m`, `250ms`) into milliseconds; undefined if invalid. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const re = /([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * DURATION_UNITS[m[2] as string]!;
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== text.length) return undefined;
  return total;
}

/** Checks a Go duration against optional bounds (inclusive), in milliseconds. */
export function checkDuration(text: string, min?: number, max?: number): string | undefined {
  const ms = parseDuration(text);
  if (ms === undefined) return `${JSON.stringify(text)} is not a duration (use e.g. 30s, 5m, 1h30m)`;
  if (min !== undefined && ms < min) return `must be at least ${formatMs(min)}`;
  if (max !== undefined && ms > max) return `must be at most ${formatMs(max)}`;
  return undefined;
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

// ---------------------------------------------------------------- quantities

const QUANTITY_RE = new RegExp(QUANTITY_PATTERN);
const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** Parses a resource quantity into a number (cores, bytes, …); undefined if invalid. */
export function parseQuantity(q: number | string): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  if (!QUANTITY_RE.test(q)) return undefined;
  const m = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$/.exec(q);
  if (!m) return undefined;
  const value = Number(m[1]);
  const suffix = m[2] ?? '';
  if (suffix in BINARY) return value * BINARY[suffix]!;
  if (suffix in DECIMAL) return value * DECIMAL[suffix]!;
  if (/^[eE]/.test(suffix)) return value * 10 ** Number(suffix.slice(1));
  return undefined;
}

/** Checks `requests`/`limits` maps: every quantity parses, none is negative, and requests do not exceed limits. */
export function checkResources(
  field: string,
  resources:
    { requests?: Record<string, number | string>; limits?: Record<string, number | string> } | undefined,
): FieldError[] {
  const errors: FieldError[] = [];
  if (!resources) return errors;
  const parsed: Record<'requests' | 'limits', Record<string, number>> = { requests: {}, limits: {} };
  for (const part of ['requests', 'limits'] as const) {
    for (const [name, q] of Object.entries(resources[part] ?? {})) {
      const v = parseQuantity(q);
      if (v === undefined)
        errors.push({ field: `${field}.${part}.${name}`, message: `${q} is not a quantity` });
      else if (v < 0) errors.push({ field: `${field}.${part}.${name}`, message: 'must not be negative' });
      else parsed[part][name] = v;
    }
  }
  for (const [name, req] of Object.entries(parsed.requests)) {
    const lim = parsed.limits[name];
    if (lim !== undefined && req > lim) {
      errors.push({
        field: `${field}.requests.${name}`,
        message: `request ${resources.requests?.[name]} exceeds limit ${resources.limits?.[name]}`,
      });
    }
  }
  return errors;
}

// ---------------------------------------------------------------- names and selectors

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function checkDnsLabel(name: string): string | undefined {
  if (name.length > 63) return 'must be at most 63 characters';
  if (!DNS_LABEL.test(name))
    return 'must be a DNS label (lower-case letters, digits and -, starting and ending alphanumeric)';
  return undefined;
}

export function checkDnsSubdomain(name: string): string | undefined {
  if (name.length > 253) return 'must be at most 253 characters';
  if (!DNS_SUBDOMAIN.test(name)) return 'must be a DNS subdomain (lower-case letters, digits, - and .)';
  return undefined;
}

/** Label key: `[prefix/]name`, prefix a DNS subdomain, name ≤63 characters. */
export function checkLabelKey(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return `label key ${JSON.stringify(key)} has more than one /`;
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length === 2) {
    const prefixError = checkDnsSubdomain(parts[0]!);
    if (prefixError) return `label key prefix ${JSON.stringify(parts[0])} ${prefixError}`;
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return `label key ${JSON.stringify(key)} is invalid (name part: at most 63 letters, digits, -, _ or ., starting and ending alphanumeric)`;
  }
  return undefined;
}

export function checkLabelValue(value: string): string | undefined {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    return `label value ${JSON.stringify(value)} is invalid (at most 63 letters, digits, -, _ or ., starting and ending alphanumeric)`;
  }
  return undefined;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Checks a metav1.LabelSelector the way the API machinery parses it. */
export function checkLabelSelector(field: string, selector: LabelSelector | undefined): FieldError[] {
  const errors: FieldError[] = [];
  if (!selector) return errors;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    const f = `${field}.matchLabels[${key}]`;
    const keyError = checkLabelKey(key);
    if (keyError) errors.push({ field: f, message: keyError });
    const valueError = checkLabelValue(value);
    if (valueError) errors.push({ field: f, message: valueError });
  }
  (selector.matchExpressions ?? []).forEach((expr, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    const keyError = checkLabelKey(expr.key);
    if (keyError) errors.push({ field: `${f}.key`, message: keyError });
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0)
          errors.push({ field: `${f}.values`, message: `must be non-empty for ${expr.operator}` });
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0)
          errors.push({ field: `${f}.values`, message: `must be empty for ${expr.operator}` });
        break;
      default:
        errors.push({ field: `${f}.operator`, message: `unknown operator ${expr.operator}` });
    }
    values.forEach((v, j) => {
      const valueError = checkLabelValue(v);
      if (valueError) errors.push({ field: `${f}.values[${j}]`, message: valueError });
    });
  });
  return errors;
}

// ---------------------------------------------------------------- URIs

/** Checks a model/artifact URI: `file:///abs/path`, `http(s)://host/…`, `s3://bucket/key`, `pvc://claim/path`. */
export function checkModelUri(uri: string): string | undefined {
  const scheme = /^([a-z0-9]+):\/\//.exec(uri)?.[1];
  switch (scheme) {
    case 'file':
      if (!/^file:\/\/\/./.test(uri)) return 'a file:// URI needs an absolute path (file:///models/m.onnx)';
      return undefined;
    case 'http':
    case 'https':
      try {
        const url = new URL(uri);
        if (!url.hostname) return 'has no host';
      } catch {
        return 'is not a valid URL';
      }
      return undefined;
    case 's3': {
      const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
      if (!m) return 'an s3:// URI needs a bucket and a key (s3://bucket/path/model.onnx)';
      const bucketError = checkBucketName(m[1]!);
      return bucketError ? `bucket ${bucketError}` : undefined;
    }
    case 'pvc': {
      const m = /^pvc:\/\/([^/]+)\/(.+)$/.exec(uri);
      if (!m) return 'a pvc:// URI needs a claim and a path (pvc://models/fraud/model.onnx)';
      const claimError = checkDnsSubdomain(m[1]!);
      if (claimError) return `claim name ${claimError}`;
      const pathError = checkRelativePath(m[2]!);
      return pathError ? `path ${pathError}` : undefined;
    }
    default:
      return 'scheme must be file://, http://, https://, s3:// or pvc://';
  }
}

/** S3 bucket naming rules (3–63 characters, lower-case, digits, dots and hyphens). */
export function checkBucketName(bucket: string): string | undefined {
  if (
    bucket.length < 3 ||
    bucket.length > 63 ||
    !/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket) ||
    bucket.includes('..')
  ) {
    return `${JSON.stringify(bucket)} is not a valid bucket name (3-63 lower-case letters, digits, . and -)`;
  }
  return undefined;
}

/** A relative path that stays below its root: no leading /, no `..` segment. */
export function checkRelativePath(path: string): string | undefined {
  if (path.startsWith('/')) return 'must be relative (no leading /)';
  if (path.split('/').some((seg) => seg === '..')) return 'must not contain .. segments';
  if (path.split('/').some((seg) => seg === '')) return 'must not contain empty segments';
  return undefined;
}
