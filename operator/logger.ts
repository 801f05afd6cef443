// Structured JSON logs, one object per line, with secret material redacted
// before anything is written: operators log Kubernetes objects and client
// errors, and either may carry Secret data or credentials.

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

/** Where lines go; process.stdout by default. */
export type LogSink = { write(chunk: string): unknown };

export type LoggerOptions = {
  /** The `logger` field of every line; default "ymera". */
  name?: string;
  /** Lowest level written; default "info". */
  level?: LogLevel;
  sink?: LogSink;
  now?: () => Date;
  /** Fields bound to every line. */
  fields?: LogFields;
};

export const REDACTED = '[REDACTED]';

// Field names whose values are secret material. The bare name `key` is the
// work-queue key ("namespace/name") and Kubernetes' secretKeyRef.key (a key
// name, not a value), so it is the one exception to /key$/.
const SECRET_KEY = /token|password|secret|authorization|credential|apikey|key$/i;
const NOT_SECRET = new Set(['key']);
// Credentials that show up inside strings, e.g. echoed HTTP headers in errors.
const INLINE_CREDENTIAL = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
// user:password@ (or a bare token@) in a URL, e.g. a model URI in a fetch error.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi;
// kubectl stores the whole applied object, Secret data included, here.
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const MAX_DEPTH = 12;

export function isSecretKey(name: string): boolean {
  return !NOT_SECRET.has(name) && SECRET_KEY.test(name);
}

/** A string with the credentials it carries inline (auth headers, URL userinfo) hidden. */
export function redactString(value: string): string {
  return value.replace(INLINE_CREDENTIAL, `$1 ${REDACTED}`).replace(URL_USERINFO, '$1***@');
}

/** Error → plain object with name, message, stack, cause and own fields (e.g. statusCode). */
export function serializeError(error: Error): LogFields {
  const out: LogFields = { name: error.name, message: error.message };
  for (const [k, v] of Object.entries(error)) out[k] = v;
  if (error.stack) out.stack = error.stack;
  if (error.cause !== undefined) out.cause = error.cause;
  return out;
}

/**
 * A JSON-safe copy of `value` with secret material replaced by "[REDACTED]":
 * values under secret-looking keys at any depth, data/stringData of
 * Secret-like objects (keys kept, values hidden), and inline credentials.
 * Cycles and excessive depth are cut rather than thrown on.
 */
export function redact(value: unknown): unknown {
  return walk(value, 0, new WeakSet());
}

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactString(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  // Never dump raw bytes: a Buffer may be decoded Secret data.
  if (ArrayBuffer.isView(value)) return `[binary ${value.byteLength} bytes]`;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen));
    const source: LogFields =
      value instanceof Error
        ? serializeError(value)
        : value instanceof Map
          ? Object.fromEntries(value)
          : (value as LogFields);
    const secretLike = source.kind === 'Secret';
    const out: LogFields = {};
    for (const [k, v] of Object.entries(source)) {
      if (isSecretKey(k)) out[k] = REDACTED;
      else if (secretLike && (k === 'data' || k === 'stringData')) out[k] = redactValues(v);
      else if (secretLike && k === 'metadata') out[k] = walk(redactLastApplied(v), depth + 1, seen);
      else out[k] = walk(v, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

function redactValues(data: unknown): unknown {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return REDACTED;
  return Object.fromEntries(Object.keys(data).map((k) => [k, REDACTED]));
}

function redactLastApplied(metadata: unknown): unknown {
  if (metadata === null || typeof metadata !== 'object') return metadata;
  const annotations = (metadata as { annotations?: unknown }).annotations;
  if (annotations === null || typeof annotations !== 'object' || !(LAST_APPLIED in annotations)) {
    return metadata;
  }
  return { ...metadata, annotations: { ...annotations, [LAST_APPLIED]: REDACTED } };
}

const RESERVED = new Set(['time', 'level', 'logger', 'msg']);
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

type Shared = { level: LogLevel; sink: LogSink; now: () => Date };

export class Logger {
  readonly name: string;
  #shared: Shared;
  readonly #fields: LogFields;

  constructor(options: LoggerOptions = {}) {
    this.name = options.name ?? 'ymera';
    this.#shared = {
      level: options.level ?? 'info',
      sink: options.sink ?? process.stdout,
      now: options.now ?? (() => new Date()),
    };
    this.#fields = { ...options.fields };
  }

  static #derive(parent: Logger, name: string, fields: LogFields): Logger {
    const child = new Logger({ name, fields });
    // Children share level and sink, so setLevel on the root applies everywhere.
    child.#shared = parent.#shared;
    return child;
  }

  get level(): LogLevel {
    return this.#shared.level;
  }

  /** Changes the level of this logger and every logger derived from the same root. */
  setLevel(level: LogLevel): void {
    this.#shared.level = level;
  }

  isEnabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.#shared.level];
  }

  /** A logger whose lines all carry `fields` (e.g. {controller, key}). */
  child(fields: LogFields): Logger {
    return Logger.#derive(this, this.name, { ...this.#fields, ...fields });
  }

  /** A logger for a component: `logger` becomes "<parent>.<name>". */
  named(name: string): Logger {
    return Logger.#derive(this, `${this.name}.${name}`, this.#fields);
  }

  debug(msg: string, fields?: LogFields | Error): void {
    this.#log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields | Error): void {
    this.#log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields | Error): void {
    this.#log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields | Error): void {
    this.#log('error', msg, fields);
  }

  #log(level: LogLevel, msg: string, fields: LogFields | Error | undefined): void {
    if (!this.isEnabled(level)) return;
    const extra = fields instanceof Error ? { err: fields } : fields;
    const line: LogFields = {
      time: this.#shared.now().toISOString(),
      level,
      logger: this.name,
      msg: redactString(msg),
    };
    const merged = redact({ ...this.#fields, ...extra }) as LogFields;
    for (const [k, v] of Object.entries(merged)) {
      // Never let a field overwrite the envelope.
      line[RESERVED.has(k) ? `field.${k}` : k] = v;
    }
    try {
      this.#shared.sink.write(JSON.stringify(line) + '\n');
    } catch {
      // A failing log sink must not take the operator down.
    }
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return new Logger(options);
}
