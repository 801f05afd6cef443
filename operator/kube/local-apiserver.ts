// Test support (imported only by *.test.ts): a real HTTP server on 127.0.0.1
// that the tests script to speak the Kubernetes REST shape — lists, watch
// streams, leases — so the client, informer, leader election and manager are
// exercised over the wire, including what a real API server rarely does on
// demand (hang, send a garbage line, expire a watch).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from './client.ts';
import type { KubeObject } from './resources.ts';

export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType?: string;
  body: string;
}

export type Handler = (req: SeenRequest, res: http.ServerResponse) => void | Promise<void>;

export interface LocalApiServer {
  url: string;
  /** Every request received, in order. */
  seen: SeenRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  /** A client of this server (requestTimeoutMs as given). */
  client(requestTimeoutMs?: number): KubeClient;
  close(): Promise<void>;
}

export async function startLocalApiServer(handler: Handler): Promise<LocalApiServer> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const r: SeenRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(r);
      Promise.resolve(handler(r, res)).catch((e: unknown) => {
        if (!res.headersSent) sendJson(res, 500, status(500, 'InternalError', String(e)));
      });
    });
  });
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    connections: () => connections,
    client: (requestTimeoutMs = 30_000) => new KubeClient(kubeConfigFor(url), requestTimeoutMs),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections(); // hung requests and open watches too
        server.close(() => resolve());
      }),
  };
}

export function kubeConfigFor(url: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'local', server: url, skipTLSVerify: true }],
    users: [{ name: 'test' }],
    contexts: [{ name: 'local', cluster: 'local', user: 'test' }],
    currentContext: 'local',
  });
  return kc;
}

export function sendJson(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** A metav1.Status body. */
export function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message };
}

export function listBody(items: KubeObject[], resourceVersion: string): Record<string, unknown> {
  return { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion }, items };
}

/** Starts a chunked watch response; events are written one JSON line each. */
export function watchStream(res: http.ServerResponse) {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  return {
    send(type: string, object: unknown): void {
      res.write(`${JSON.stringify({ type, object })}\n`);
    },
    raw(line: string): void {
      res.write(`${line}\n`);
    },
    end(): void {
      res.end();
    },
  };
}

/** A namespaced object of a test type with a resourceVersion. */
export function obj(
  kind: string,
  apiVersion: string,
  namespace: string,
  name: string,
  resourceVersion: string,
  extra: Partial<KubeObject['metadata']> = {},
): KubeObject {
  return { apiVersion, kind, metadata: { name, namespace, resourceVersion, uid: `uid-${name}`, ...extra } };
}

interface LeaseObject extends KubeObject {
  spec?: { holderIdentity?: string | null; leaseDurationSeconds?: number; renewTime?: string | null };
}

/** One Lease with optimistic concurrency (409 on a stale resourceVersion), as leader election sees it. */
export class LeaseStore {
  lease: LeaseObject | undefined;
  private rv = 0;
  private readonly path: string;
  private readonly name: string;
  private readonly namespace: string;

  constructor(namespace: string, name: string) {
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
    this.name = name;
    this.namespace = namespace;
  }

  /** Answers a request for the Lease; false when the request is about something else. */
  handle(req: SeenRequest, res: http.ServerResponse): boolean {
    if (req.path !== this.path && req.path !== `${this.path}/${this.name}`) return false;
    if (req.method === 'GET') {
      if (this.lease) sendJson(res, 200, this.lease);
      else sendJson(res, 404, status(404, 'NotFound', `leases "${this.name}" not found`));
      return true;
    }
    const body = JSON.parse(req.body) as LeaseObject;
    if (req.method === 'POST' && this.lease) {
      sendJson(res, 409, status(409, 'AlreadyExists', 'already exists'));
    } else if (
      req.method === 'PUT' &&
      body.metadata.resourceVersion !== this.lease?.metadata.resourceVersion
    ) {
      sendJson(res, 409, status(409, 'Conflict', 'the object has been modified'));
    } else {
      this.lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++this.rv) } };
      sendJson(res, req.method === 'POST' ? 201 : 200, this.lease);
    }
    return true;
  }

  /** Another replica acquires the Lease (for a long time). */
  takeOver(holder: string): void {
    this.lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace, resourceVersion: String(++this.rv) },
      spec: { holderIdentity: holder, leaseDurationSeconds: 60, renewTime: new Date().toISOString() },
    };
  }
}
