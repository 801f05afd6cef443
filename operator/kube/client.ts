// A thin Kubernetes REST client on node:https. @kubernetes/client-node
// supplies the kubeconfig/in-cluster auth; requests, watch streaming and
// server-side apply are done here so that every call has a timeout, a typed
// error and no extra dependencies.
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import type { KubeConfig } from '@kubernetes/client-node';
import { performance } from 'node:perf_hooks';
import { chaosKillHook } from './chaos-hook.ts';
import type { LogTail } from './log-tail.ts';
import { TailKeeper } from './log-tail.ts';
import type { Verb } from './request-labels.ts';
import { APPLY_PATCH_CONTENT_TYPE, MUTATING_METHODS, requestLabels } from './request-labels.ts';
import type { KubeObject, ResourceType } from './resources.ts';
import { apiVersionOf, collectionPath, objectPath } from './resources.ts';
import type { KubeConfigLike } from './kubeconfig.ts';
import { loadOwnKubeConfig, mayShareAgent } from './kubeconfig.ts';
import { SharedTransport } from './transport.ts';

export const FIELD_MANAGER = 'ymera-operator';

/** KubeApiError reason of a pod-log tail over podLogTail's maxBytes (the read gave up). */
export const LOG_TOO_LARGE = 'TooLarge';

/** Whether `e` is podLogTail giving up on a tail over its maxBytes. */
export function isLogTooLarge(e: unknown): boolean {
  return e instanceof KubeApiError && e.reason === LOG_TOO_LARGE;
}

export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly details: unknown;
  constructor(status: number, reason: string, message: string, details?: unknown) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.details = details;
  }
}

/** A mutating request the write gate refused: it never left the process. */
export class WriteRefusedError extends KubeApiError {
  constructor(method: string, path: string, why: string) {
    super(0, 'WriteRefused', `${method} ${path} not sent: ${why}`);
    this.name = 'WriteRefusedError';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeApiError && e.status === 409;
export const isGone = (e: unknown): boolean => e instanceof KubeApiError && e.status === 410;
/** Errors worth retrying: network failures, conflicts, throttling, server errors. */
export function isTransient(e: unknown): boolean {
  if (!(e instanceof KubeApiError)) return true;
  return e.status === 409 || e.status === 429 || e.status >= 500 || e.status === 0;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

type PatchType = 'merge' | 'json' | 'strategic' | 'apply';
const patchContentType: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: APPLY_PATCH_CONTENT_TYPE,
};

/** Per-call options of the typed methods. */
export interface CallOptions {
  /** Aborts the request (e.g. a lease renewal past its deadline). */
  signal?: AbortSignal;
}

interface RequestOptions extends CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

/** One finished request, for metrics: code is the HTTP status, or '<error>' when none came back. */
export interface RequestRecord {
  verb: Verb;
  resource: string;
  code: string;
  seconds: number;
}

/**
 * Decides whether mutating requests may go out: returns why not (e.g.
 * "leadership lost"), or undefined to let them through.
 */
export type WriteGate = () => string | undefined;

/** Shared by a client and the gated clients made from it. */
interface Hooks {
  onRequest?: (record: RequestRecord) => void;
}

/** What gated clients share with the client they were made from: metrics hooks and connections. */
interface Shared {
  hooks: Hooks;
  transport: SharedTransport;
}

export class KubeClient {
  readonly server: URL;
  private readonly kc: KubeConfigLike;
  private readonly shareAgent: boolean;
  private readonly requestTimeoutMs: number;
  private shared: Shared = { hooks: {}, transport: new SharedTransport() };
  private writeGate: WriteGate | undefined;

  constructor(kc: KubeConfigLike, requestTimeoutMs = 30_000) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.kc = kc;
    this.shareAgent = mayShareAgent(kc);
    this.server = new URL(cluster.server);
    this.requestTimeoutMs = requestTimeoutMs;
  }

  /** Reports every request that reached the server (or failed on the way), for metrics. */
  onRequest(observer: (record: RequestRecord) => void): void {
    this.shared.hooks.onRequest = observer;
  }

  /**
   * A client of the same server whose POST/PUT/PATCH/DELETE are checked
   * against `gate` just before they are sent; a refused write rejects with
   * WriteRefusedError and never leaves the process. Request metrics and
   * connections are shared.
   */
  withWriteGate(gate: WriteGate): KubeClient {
    const gated = new KubeClient(this.kc, this.requestTimeoutMs);
    gated.shared = this.shared;
    gated.writeGate = gate;
    return gated;
  }

  /** Loads $KUBECONFIG / ~/.kube/config, or the in-cluster service account. */
  static fromEnvironment(kubeconfigPath?: string): KubeClient {
    const own = loadOwnKubeConfig(kubeconfigPath);
    if (own) return new KubeClient(own);
    // exec plugins, auth providers, proxies, …: client-node's loader, loaded only for them
    const { KubeConfig: Full } = createRequire(import.meta.url)('@kubernetes/client-node') as {
      KubeConfig: new () => KubeConfig;
    };
    const kc = new Full();
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
    return new KubeClient(kc);
  }

  async get<T extends KubeObject>(
    type: ResourceType,
    name: string,
    namespace?: string,
    opts: CallOptions = {},
  ): Promise<T | undefined> {
    try {
      return (await this.request('GET', objectPath(type, name, namespace), opts)) as T;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Lists all pages of a collection. */
  async list<T extends KubeObject>(type: ResourceType, opts: ListOptions = {}): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = (await this.request('GET', collectionPath(type, opts.namespace), {
        query: {
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          limit: 500,
          continue: cont,
        },
      })) as { items?: T[]; metadata?: { continue?: string; resourceVersion?: string } };
      for (const item of page.items ?? []) {
        // list items come without apiVersion/kind; restore them for callers
        items.push({ ...item, apiVersion: apiVersionOf(type), kind: type.kind });
      }
      cont = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? '';
    } while (cont);
    return { items, resourceVersion };
  }

  create<T extends KubeObject>(type: ResourceType, obj: KubeObject, opts: CallOptions = {}): Promise<T> {
    return this.request('POST', collectionPath(type, obj.metadata.namespace), {
      ...opts,
      body: obj,
    }) as Promise<T>;
  }

  replace<T extends KubeObject>(
    type: ResourceType,
    obj: KubeObject,
    subresource?: string,
    opts: CallOptions = {},
  ): Promise<T> {
    return this.request('PUT', objectPath(type, obj.metadata.name, obj.metadata.namespace, subresource), {
      ...opts,
      body: obj,
    }) as Promise<T>;
  }

  /**
   * Server-side apply with our field manager (or another, e.g. to hand a field
   * over); force takes over fields from other managers.
   */
  apply<T extends KubeObject>(
    type: ResourceType,
    obj: KubeObject,
    opts: { force?: boolean; dryRun?: boolean; fieldManager?: string } = {},
  ): Promise<T> {
    return this.request('PATCH', objectPath(type, obj.metadata.name, obj.metadata.namespace), {
      query: {
        fieldManager: opts.fieldManager ?? FIELD_MANAGER,
        force: opts.force ?? true,
        dryRun: opts.dryRun ? 'All' : undefined,
      },
      body: obj,
      contentType: patchContentType.apply,
    }) as Promise<T>;
  }

  patch<T extends KubeObject>(
    type: ResourceType,
    name: string,
    namespace: string | undefined,
    patchType: Exclude<PatchType, 'apply'>,
    body: unknown,
    subresource?: string,
  ): Promise<T> {
    return this.request('PATCH', objectPath(type, name, namespace, subresource), {
      query: { fieldManager: FIELD_MANAGER },
      body,
      contentType: patchContentType[patchType],
    }) as Promise<T>;
  }

  /** Deletes; a missing object counts as deleted. */
  async delete(
    type: ResourceType,
    name: string,
    namespace?: string,
    opts: { propagationPolicy?: 'Background' | 'Foreground' | 'Orphan'; uid?: string } = {},
  ): Promise<void> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.uid) body.preconditions = { uid: opts.uid };
    try {
      await this.request('DELETE', objectPath(type, name, namespace), { body });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /**
   * Streams watch events until the server closes the stream, the signal
   * aborts, or an error occurs. An ERROR event (e.g. 410 Gone) rejects with a
   * KubeApiError so the caller can relist.
   */
  watch<T extends KubeObject>(
    type: ResourceType,
    opts: ListOptions & { resourceVersion: string; timeoutSeconds: number; signal: AbortSignal },
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<void> {
    const path = collectionPath(type, opts.namespace);
    const query = {
      watch: true,
      allowWatchBookmarks: true,
      resourceVersion: opts.resourceVersion,
      timeoutSeconds: opts.timeoutSeconds,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
    };
    return this.open('GET', path, { query, signal: opts.signal })
      .then(
        ({ res, req }) =>
          new Promise<void>((resolve, reject) => {
            const abort = () => {
              req.destroy();
              resolve();
            };
            if (opts.signal.aborted) return abort();
            opts.signal.addEventListener('abort', abort, { once: true });
            let buffer = '';
            let failed = false;
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              buffer += chunk;
              let nl: number;
              while (!failed && (nl = buffer.indexOf('\n')) >= 0) {
                const line = buffer.slice(0, nl).trim();
                buffer = buffer.slice(nl + 1);
                if (!line) continue;
                const event = parseWatchEvent<T>(line);
                if (!event) {
                  // a broken stream (proxy, truncated chunk): end this watch; the informer
                  // re-watches from the last event it applied
                  failed = true;
                  opts.signal.removeEventListener('abort', abort);
                  req.destroy();
                  reject(
                    new KubeApiError(
                      0,
                      'MalformedWatchEvent',
                      `watch ${type.plural}: malformed event: ${line.slice(0, 120)}`,
                    ),
                  );
                  return;
                }
                if (event.type === 'ERROR') {
                  failed = true;
                  const status = event.object as unknown as {
                    code?: number;
                    reason?: string;
                    message?: string;
                  };
                  req.destroy();
                  reject(
                    new KubeApiError(
                      status.code ?? 500,
                      status.reason ?? 'WatchError',
                      status.message ?? 'watch error',
                    ),
                  );
                  return;
                }
                if (event.type !== 'BOOKMARK') {
                  event.object = { ...event.object, apiVersion: apiVersionOf(type), kind: type.kind };
                }
                onEvent(event);
              }
            });
            res.on('end', () => {
              opts.signal.removeEventListener('abort', abort);
              resolve();
            });
            res.on('close', () => {
              // the connection dropped before the server ended the stream: a restart, not a clean end
              opts.signal.removeEventListener('abort', abort);
              if (!res.complete && !failed && !opts.signal.aborted) {
                reject(new KubeApiError(0, 'NetworkError', `watch ${type.plural}: connection closed`));
              }
            });
            res.on('error', (e) => {
              opts.signal.removeEventListener('abort', abort);
              if (opts.signal.aborted) resolve();
              else reject(e);
            });
          }),
      )
      .catch((e: unknown) => {
        // aborted before the server answered: as quiet as an abort during the stream
        if (opts.signal.aborted) return;
        throw e;
      });
  }

  /**
   * The newest lines of a container's log (pods/log with tailLines, no
   * limitBytes: that one keeps the oldest bytes), of which only the last
   * keepBytes are kept in memory; says how big the whole answer was, so the
   * caller can tell a complete log from a cut one. An answer over maxBytes
   * (500 lines can be huge: progress bars without newlines) is abandoned
   * and fails (reason TooLarge), so the transfer is bounded too.
   */
  async podLogTail(
    name: string,
    namespace: string,
    opts: { container?: string; tailLines: number; keepBytes: number; maxBytes: number },
  ): Promise<LogTail> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/log`;
    const { res } = await this.open('GET', path, {
      query: { container: opts.container, tailLines: opts.tailLines },
      timeoutMs: this.requestTimeoutMs,
    });
    const keeper = new TailKeeper(opts.keepBytes);
    return new Promise((resolve, reject) => {
      let seen = 0;
      res.on('data', (c: Buffer) => {
        seen += c.length;
        if (seen <= opts.maxBytes) return keeper.push(c);
        reject(new KubeApiError(0, LOG_TOO_LARGE, `${path}: the log tail is over ${opts.maxBytes} bytes`));
        res.destroy();
      });
      res.on('end', () => resolve(keeper.result()));
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) reject(new KubeApiError(0, 'NetworkError', 'response body: connection closed'));
      });
    });
  }

  /** One request with a JSON response; non-2xx becomes a KubeApiError. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<unknown> {
    const { res } = await this.open(method, path, {
      ...opts,
      timeoutMs: opts.timeoutMs ?? this.requestTimeoutMs,
    });
    const text = await readBody(res, opts.signal);
    return text ? JSON.parse(text) : undefined;
  }

  private async open(
    method: string,
    path: string,
    opts: RequestOptions,
    retried = false,
  ): Promise<{ res: http.IncomingMessage; req: http.ClientRequest }> {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    }
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const reqOpts: https.RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers,
    };
    await this.kc.applyToHTTPSOptions(reqOpts);
    // a proxy-url cluster keeps client-node's proxy agent (connections are not pooled then)
    if (this.shareAgent) reqOpts.agent = this.shared.transport.agentFor(url.protocol, reqOpts);
    reqOpts.headers = { ...reqOpts.headers, ...headers };
    const transport = url.protocol === 'http:' ? http : https;
    // checked here, after the last await, so nothing can pass between the check and the send
    const refused = MUTATING_METHODS.has(method) ? this.writeGate?.() : undefined;
    if (refused !== undefined) throw new WriteRefusedError(method, url.pathname, refused);
    const { verb, resource } = requestLabels(method, url, headers['Content-Type']);
    const started = performance.now();
    let recorded = false;
    const record = (code: string) => {
      if (recorded) return;
      recorded = true;
      this.shared.hooks.onRequest?.({ verb, resource, code, seconds: (performance.now() - started) / 1000 });
    };
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(new KubeApiError(0, 'Aborted', `${method} ${url.pathname}: aborted before it was sent`));
        return;
      }
      let answered = false;
      const req = transport.request(reqOpts, (res) => {
        answered = true;
        const status = res.statusCode ?? 0;
        record(String(status));
        // test-only (chaos-hook.ts): may end the process here, the write done but its answer unhandled
        if (chaosKillHook && MUTATING_METHODS.has(method)) chaosKillHook(resource);
        if (status >= 200 && status < 300) return resolve({ res, req });
        readBody(res).then((text) => reject(toApiError(status, text, method, url.pathname)), reject);
      });
      const signal = opts.signal;
      if (signal) {
        const onAbort = () =>
          req.destroy(new KubeApiError(0, 'Aborted', `${method} ${url.pathname}: aborted`));
        signal.addEventListener('abort', onAbort, { once: true });
        // long-lived signals (an informer's) see many requests: do not pile up listeners
        req.on('close', () => signal.removeEventListener('abort', onAbort));
      }
      if (opts.timeoutMs) {
        req.setTimeout(opts.timeoutMs, () => {
          req.destroy(
            new KubeApiError(0, 'Timeout', `${method} ${url.pathname}: no answer in ${opts.timeoutMs} ms`),
          );
        });
      }
      req.on('error', (e) => {
        if (!retried && staleKeepAlive(method, req, answered, e)) {
          // the server closed the idle connection as we wrote to it: it never saw the request
          resolve(this.open(method, path, opts, true));
          return;
        }
        record('<error>');
        reject(
          e instanceof KubeApiError
            ? e
            : new KubeApiError(0, 'NetworkError', `${method} ${url.pathname}: ${e.message}`),
        );
      });
      req.end(body);
    });
  }
}

function readBody(res: http.IncomingMessage, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    // an abort after the headers (or a dropped connection) must not leave the caller waiting
    res.on('close', () => {
      if (!res.complete) {
        const why = signal?.aborted ? 'aborted' : 'connection closed';
        reject(new KubeApiError(0, signal?.aborted ? 'Aborted' : 'NetworkError', `response body: ${why}`));
      }
    });
  });
}

function parseWatchEvent<T>(line: string): WatchEvent<T> | undefined {
  try {
    const event = JSON.parse(line) as Partial<WatchEvent<T>> | null;
    if (!event || typeof event !== 'object' || typeof event.type !== 'string' || !event.object)
      return undefined;
    return event as WatchEvent<T>;
  } catch {
    return undefined;
  }
}

function toApiError(status: number, text: string, method: string, path: string): KubeApiError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string; details?: unknown };
    return new KubeApiError(
      status,
      s.reason ?? 'Unknown',
      s.message ?? `${method} ${path}: HTTP ${status}`,
      s.details,
    );
  } catch {
    return new KubeApiError(status, 'Unknown', `${method} ${path}: HTTP ${status}: ${text.slice(0, 200)}`);
  }
}

/** Methods whose request may be sent again (RFC 9110 idempotent). */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Whether a request failed only because its pooled keep-alive connection was
 * closed by the server just before it was written (a reset before any
 * answer), so sending it once more on a new connection is safe.
 */
export function staleKeepAlive(
  method: string,
  req: http.ClientRequest,
  answered: boolean,
  e: Error,
): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return (
    req.reusedSocket &&
    !answered &&
    IDEMPOTENT_METHODS.has(method) &&
    (code === 'ECONNRESET' || code === 'EPIPE')
  );
}
