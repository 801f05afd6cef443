// A small client for the Prometheus HTTP API (/api/v1): instant and range
// queries, rules and alerts. Every call has a timeout; failures come in two
// kinds callers treat differently:
//   PrometheusUnavailableError  no answer, timeout, 5xx, open circuit: retry
//                               later, report PrometheusUnavailable
//   PrometheusQueryError        Prometheus answered that the request is wrong
//                               (bad PromQL, bad parameters): do not retry
// The response parsers are pure functions, exported for tests.
import { CircuitBreaker, CircuitOpenError } from '../backoff.ts';

export type Labels = Record<string, string>;

export interface Sample {
  labels: Labels;
  /** Seconds since the epoch (Prometheus' unit). */
  timestamp: number;
  /** NaN and ±Inf are kept as such. */
  value: number;
}

export interface Series {
  labels: Labels;
  points: { timestamp: number; value: number }[];
}

export type QueryResult =
  | { resultType: 'vector'; samples: Sample[] }
  | { resultType: 'matrix'; series: Series[] }
  | { resultType: 'scalar'; timestamp: number; value: number }
  | { resultType: 'string'; timestamp: number; value: string };

export type RuleHealth = 'ok' | 'err' | 'unknown';
export type AlertState = 'inactive' | 'pending' | 'firing';

export interface Alert {
  labels: Labels;
  annotations: Labels;
  state: AlertState;
  activeAt?: string;
  value: number;
}

export interface RuleStatus {
  type: 'alerting' | 'recording';
  name: string;
  query: string;
  health: RuleHealth;
  lastError?: string;
  labels: Labels;
  /** Alerting rules only. */
  state?: AlertState;
  durationSeconds?: number;
  alerts?: Alert[];
}

export interface RuleGroupStatus {
  name: string;
  file: string;
  intervalSeconds: number;
  rules: RuleStatus[];
}

/** Prometheus could not be asked: connection refused, timeout, 5xx, or the circuit is open. */
export class PrometheusUnavailableError extends Error {
  readonly status: number | undefined;
  constructor(message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'PrometheusUnavailableError';
    this.status = options.status;
  }
}

/** Prometheus answered that the request is wrong (e.g. errorType bad_data for a PromQL syntax error). */
export class PrometheusQueryError extends Error {
  readonly status: number;
  readonly errorType: string;
  readonly error: string;
  constructor(status: number, errorType: string, error: string) {
    super(`Prometheus rejected the request (${status} ${errorType}): ${error}`);
    this.name = 'PrometheusQueryError';
    this.status = status;
    this.errorType = errorType;
    this.error = error;
  }
}

// --- pure parsing -----------------------------------------------------------------

interface Envelope {
  status?: string;
  data?: unknown;
  errorType?: string;
  error?: string;
  warnings?: string[];
}

/**
 * Turns an HTTP answer of /api/v1 into its `data`, or the matching error:
 * 5xx (timeouts, cancelled and internal errors included) → unavailable;
 * other non-success answers → PrometheusQueryError with the server's
 * errorType and error.
 */
export function parseApiResponse(status: number, body: string, what = 'request'): unknown {
  let envelope: Envelope | undefined;
  try {
    envelope = JSON.parse(body) as Envelope;
  } catch {
    envelope = undefined;
  }
  if (status >= 500) {
    const detail = envelope?.error ? `${envelope.errorType ?? 'error'}: ${envelope.error}` : snippet(body);
    throw new PrometheusUnavailableError(`Prometheus ${what} failed with HTTP ${status}: ${detail}`, {
      status,
    });
  }
  if (!envelope || typeof envelope !== 'object') {
    if (status >= 200 && status < 300) {
      throw new PrometheusUnavailableError(`Prometheus ${what}: the answer is not JSON: ${snippet(body)}`, {
        status,
      });
    }
    throw new PrometheusQueryError(status, 'http', `HTTP ${status}: ${snippet(body)}`);
  }
  if (status < 200 || status >= 300 || envelope.status !== 'success') {
    throw new PrometheusQueryError(
      status,
      envelope.errorType ?? 'unknown',
      envelope.error ?? `HTTP ${status} without an error message`,
    );
  }
  return envelope.data;
}

/** A sample value as Prometheus writes it ("1.5", "NaN", "+Inf", "-Inf") → number. */
export function parseSampleValue(text: unknown): number {
  if (typeof text !== 'string') throw new TypeError(`sample value is not a string: ${JSON.stringify(text)}`);
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  const value = Number(text);
  if (text.trim() === '' || Number.isNaN(value))
    throw new TypeError(`sample value is not a number: "${text}"`);
  return value;
}

function parsePair(pair: unknown): { timestamp: number; value: number } {
  if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'number') {
    throw new TypeError(`not a [timestamp, "value"] pair: ${JSON.stringify(pair)}`);
  }
  return { timestamp: pair[0], value: parseSampleValue(pair[1]) };
}

/** `data` of /api/v1/query or /api/v1/query_range → a typed result. */
export function parseQueryData(data: unknown): QueryResult {
  const d = data as { resultType?: string; result?: unknown } | undefined;
  switch (d?.resultType) {
    case 'vector':
      return {
        resultType: 'vector',
        samples: asArray(d.result).map((r) => {
          const item = r as { metric?: Labels; value?: unknown };
          return { labels: item.metric ?? {}, ...parsePair(item.value) };
        }),
      };
    case 'matrix':
      return {
        resultType: 'matrix',
        series: asArray(d.result).map((r) => {
          const item = r as { metric?: Labels; values?: unknown };
          return { labels: item.metric ?? {}, points: asArray(item.values).map(parsePair) };
        }),
      };
    case 'scalar':
      return { resultType: 'scalar', ...parsePair(d.result) };
    case 'string': {
      const pair = d.result;
      if (!Array.isArray(pair) || typeof pair[0] !== 'number' || typeof pair[1] !== 'string') {
        throw new TypeError(`not a string result: ${JSON.stringify(pair)}`);
      }
      return { resultType: 'string', timestamp: pair[0], value: pair[1] };
    }
    default:
      throw new TypeError(`unknown resultType: ${JSON.stringify(d?.resultType)}`);
  }
}

function parseAlert(raw: unknown): Alert {
  const a = raw as {
    labels?: Labels;
    annotations?: Labels;
    state?: string;
    activeAt?: string;
    value?: unknown;
  };
  const alert: Alert = {
    labels: a.labels ?? {},
    annotations: a.annotations ?? {},
    state: parseState(a.state),
    // /api/v1/alerts and /api/v1/rules write the value as a string ("1e+00")
    value:
      typeof a.value === 'number' ? a.value : a.value === undefined ? Number.NaN : parseSampleValue(a.value),
  };
  if (a.activeAt && !a.activeAt.startsWith('0001-')) alert.activeAt = a.activeAt;
  return alert;
}

function parseState(state: unknown): AlertState {
  if (state === 'inactive' || state === 'pending' || state === 'firing') return state;
  throw new TypeError(`unknown alert state: ${JSON.stringify(state)}`);
}

/** `data` of /api/v1/alerts → alerts (pending and firing). */
export function parseAlertsData(data: unknown): Alert[] {
  return asArray((data as { alerts?: unknown } | undefined)?.alerts).map(parseAlert);
}

/** `data` of /api/v1/rules → rule groups with each rule's health and alerts. */
export function parseRulesData(data: unknown): RuleGroupStatus[] {
  return asArray((data as { groups?: unknown } | undefined)?.groups).map((g) => {
    const group = g as { name?: string; file?: string; interval?: number; rules?: unknown };
    return {
      name: group.name ?? '',
      file: group.file ?? '',
      intervalSeconds: group.interval ?? 0,
      rules: asArray(group.rules).map((r) => {
        const rule = r as {
          type?: string;
          name?: string;
          query?: string;
          health?: string;
          lastError?: string;
          labels?: Labels;
          state?: string;
          duration?: number;
          alerts?: unknown;
        };
        if (rule.type !== 'alerting' && rule.type !== 'recording') {
          throw new TypeError(`unknown rule type: ${JSON.stringify(rule.type)}`);
        }
        const out: RuleStatus = {
          type: rule.type,
          name: rule.name ?? '',
          query: rule.query ?? '',
          health: rule.health === 'ok' || rule.health === 'err' ? rule.health : 'unknown',
          labels: rule.labels ?? {},
        };
        if (rule.lastError) out.lastError = rule.lastError;
        if (rule.type === 'alerting') {
          out.state = parseState(rule.state ?? 'inactive');
          out.durationSeconds = rule.duration ?? 0;
          out.alerts = asArray(rule.alerts ?? []).map(parseAlert);
        }
        return out;
      }),
    };
  });
}

/** The value of a vector with exactly one sample or of a scalar; undefined for an empty vector. */
export function singleValue(result: QueryResult): number | undefined {
  if (result.resultType === 'scalar') return result.value;
  if (result.resultType !== 'vector')
    throw new TypeError(`expected a vector or scalar, got ${result.resultType}`);
  if (result.samples.length > 1) {
    throw new TypeError(`expected at most one sample, got ${result.samples.length}`);
  }
  return result.samples[0]?.value;
}

function asArray(value: unknown): unknown[] {
  if (!Array.isArray(value))
    throw new TypeError(`expected an array, got ${JSON.stringify(value)?.slice(0, 100)}`);
  return value;
}

function snippet(body: string): string {
  const s = body.trim().slice(0, 200);
  return s || '(empty body)';
}

// --- I/O ---------------------------------------------------------------------------

export interface PrometheusClientOptions {
  /** Base URL, e.g. http://prometheus.monitoring:9090 (a path prefix is kept). */
  url: string;
  /** Per-call timeout; default 10s. */
  timeoutMs?: number;
  /** Optional breaker: after repeated outages calls fail fast with PrometheusUnavailableError. */
  breaker?: CircuitBreaker;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class PrometheusClient {
  readonly url: URL;
  readonly #timeoutMs: number;
  readonly #breaker: CircuitBreaker | undefined;

  constructor(options: PrometheusClientOptions) {
    this.url = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#breaker = options.breaker;
  }

  /** A breaker that counts only outages (not bad queries) against Prometheus. */
  static breaker(options: { failureThreshold?: number; coolDownMs?: number } = {}): CircuitBreaker {
    return new CircuitBreaker({ ...options, isFailure: (e) => e instanceof PrometheusUnavailableError });
  }

  /** Instant query at `time` (default: now). */
  async query(expr: string, options: CallOptions & { time?: Date } = {}): Promise<QueryResult> {
    const form: Record<string, string> = { query: expr };
    if (options.time) form.time = seconds(options.time);
    return parseQueryData(await this.#call('api/v1/query', form, options, 'query'));
  }

  /** Range query from start to end every stepSeconds; always a matrix. */
  async queryRange(
    expr: string,
    range: { start: Date; end: Date; stepSeconds: number },
    options: CallOptions = {},
  ): Promise<Extract<QueryResult, { resultType: 'matrix' }>> {
    const form = {
      query: expr,
      start: seconds(range.start),
      end: seconds(range.end),
      step: String(range.stepSeconds),
    };
    const result = parseQueryData(await this.#call('api/v1/query_range', form, options, 'range query'));
    if (result.resultType !== 'matrix') throw new TypeError(`range query returned a ${result.resultType}`);
    return result;
  }

  /** The value of a query that yields one sample or a scalar; undefined for no sample. */
  async queryValue(expr: string, options: CallOptions & { time?: Date } = {}): Promise<number | undefined> {
    return singleValue(await this.query(expr, options));
  }

  async rules(options: CallOptions & { type?: 'alert' | 'record' } = {}): Promise<RuleGroupStatus[]> {
    const query = options.type ? { type: options.type } : undefined;
    return parseRulesData(await this.#call('api/v1/rules', undefined, options, 'rules', query));
  }

  async alerts(options: CallOptions = {}): Promise<Alert[]> {
    return parseAlertsData(await this.#call('api/v1/alerts', undefined, options, 'alerts'));
  }

  async #call(
    path: string,
    form: Record<string, string> | undefined,
    options: CallOptions,
    what: string,
    query?: Record<string, string>,
  ): Promise<unknown> {
    const run = () => this.#fetch(path, form, options, what, query);
    if (!this.#breaker) return run();
    try {
      return await this.#breaker.execute(run);
    } catch (e) {
      if (e instanceof CircuitOpenError) {
        throw new PrometheusUnavailableError(`Prometheus ${what} not attempted: ${e.message}`, { cause: e });
      }
      throw e;
    }
  }

  async #fetch(
    path: string,
    form: Record<string, string> | undefined,
    options: CallOptions,
    what: string,
    query?: Record<string, string>,
  ): Promise<unknown> {
    const url = new URL(path, this.url);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    let status: number;
    let body: string;
    try {
      // POST form: long PromQL does not fit a URL
      const res = await fetch(url, {
        method: form ? 'POST' : 'GET',
        headers: form
          ? { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }
          : { Accept: 'application/json' },
        body: form ? new URLSearchParams(form).toString() : undefined,
        signal,
      });
      status = res.status;
      body = await res.text();
    } catch (e) {
      if (options.signal?.aborted && !timeout.aborted) throw e; // the caller gave up: not an outage
      const reason = timeout.aborted ? `no answer within ${timeoutMs} ms` : describeFetchError(e);
      throw new PrometheusUnavailableError(`Prometheus ${what} at ${this.url.origin}: ${reason}`, {
        cause: e,
      });
    }
    return parseApiResponse(status, body, what);
  }
}

function seconds(date: Date): string {
  return (date.getTime() / 1000).toFixed(3);
}

function describeFetchError(e: unknown): string {
  // undici puts the useful part (ECONNREFUSED 127.0.0.1:9) in the cause
  const cause = (e as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  if (cause?.code || cause?.message) return `${cause.code ?? 'error'}: ${cause.message ?? ''}`.trim();
  return e instanceof Error ? e.message : String(e);
}
