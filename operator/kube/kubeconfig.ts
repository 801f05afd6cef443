// Where the API server is and how to authenticate, read from a kubeconfig or
// the in-cluster ServiceAccount without @kubernetes/client-node: importing
// its KubeConfig loads the whole generated API client (about 21 MiB of JS
// heap and 70 MiB of RSS in an operator that only needs a URL, TLS material
// and a token). Kubeconfigs this does not cover (exec plugins, auth
// providers, proxies, impersonation, several files in KUBECONFIG) still go
// to client-node, loaded only then.
import { readFileSync, existsSync } from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';

/** What KubeClient needs of a kubeconfig (client-node's KubeConfig has the same two methods). */
export interface KubeConfigLike {
  getCurrentCluster(): { server: string; proxyUrl?: string } | null;
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/**
 * Whether requests may use the shared keep-alive agent instead of the one
 * applyToHTTPSOptions chose: always for our own loader, and for client-node's
 * only without a cluster proxy-url (there its agent is the proxy agent).
 */
export function mayShareAgent(kc: KubeConfigLike): boolean {
  return kc instanceof OwnKubeConfig || !kc.getCurrentCluster()?.proxyUrl;
}

/** Pure: a resolved kubeconfig context. Files are read when a request needs them. */
export interface Connection {
  server: string;
  caData?: Buffer;
  caFile?: string;
  certData?: Buffer;
  certFile?: string;
  keyData?: Buffer;
  keyFile?: string;
  insecure?: boolean;
  servername?: string;
  token?: string;
  tokenFile?: string;
  basic?: { username: string; password: string };
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

type Named<T> = { name?: string } & Record<string, T | undefined>;

/**
 * Pure: the current context of a parsed kubeconfig as a Connection, or why
 * it needs client-node (relative file paths resolve against `dir`).
 */
export function connectionFrom(doc: unknown, dir: string): Connection | { unsupported: string } {
  const config = (doc ?? {}) as Record<string, unknown>;
  const find = <T>(list: unknown, name: unknown, field: string): T | undefined =>
    ((Array.isArray(list) ? list : []) as Named<T>[]).find((e) => e.name === name)?.[field];
  const contextName = config['current-context'];
  const context = find<Record<string, unknown>>(config.contexts, contextName, 'context');
  if (!context) return { unsupported: `no context "${String(contextName)}"` };
  const cluster = find<Record<string, unknown>>(config.clusters, context.cluster, 'cluster');
  if (!cluster || typeof cluster.server !== 'string') return { unsupported: 'no cluster server' };
  const user = find<Record<string, unknown>>(config.users, context.user, 'user') ?? {};
  for (const field of ['exec', 'auth-provider', 'as', 'as-groups', 'as-uid', 'as-user-extra'])
    if (user[field] !== undefined) return { unsupported: `user.${field}` };
  if (cluster['proxy-url'] !== undefined) return { unsupported: 'cluster.proxy-url' };
  const file = (v: unknown) => (typeof v === 'string' && v ? path.resolve(dir, v) : undefined);
  const data = (v: unknown) => (typeof v === 'string' && v ? Buffer.from(v, 'base64') : undefined);
  const c: Connection = { server: cluster.server };
  const set = <K extends keyof Connection>(k: K, v: Connection[K] | undefined) => {
    if (v !== undefined) c[k] = v;
  };
  set('caData', data(cluster['certificate-authority-data']));
  set('caFile', file(cluster['certificate-authority']));
  set('insecure', cluster['insecure-skip-tls-verify'] === true ? true : undefined);
  set('servername', typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined);
  set('certData', data(user['client-certificate-data']));
  set('certFile', file(user['client-certificate']));
  set('keyData', data(user['client-key-data']));
  set('keyFile', file(user['client-key']));
  set('token', typeof user.token === 'string' && user.token ? user.token : undefined);
  set('tokenFile', file(user.tokenFile));
  if (typeof user.username === 'string' && typeof user.password === 'string')
    c.basic = { username: user.username, password: user.password };
  return c;
}

/** Pure: the in-cluster Connection (ServiceAccount token and CA), or undefined outside a pod. */
export function inClusterConnection(env: NodeJS.ProcessEnv, saDir = SA_DIR): Connection | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    caFile: path.join(saDir, 'ca.crt'),
    tokenFile: path.join(saDir, 'token'),
  };
}

/** Files (rotated tokens and certificates) are re-read at most this often. */
const FILE_TTL_MS = 60_000;

export class OwnKubeConfig implements KubeConfigLike {
  private readonly c: Connection;
  private readonly files = new Map<string, { at: number; data: Buffer }>();

  constructor(connection: Connection) {
    this.c = connection;
  }

  getCurrentCluster(): { server: string } {
    return { server: this.c.server };
  }

  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const c = this.c;
    const ca = c.caData ?? (c.caFile ? this.read(c.caFile) : undefined);
    const cert = c.certData ?? (c.certFile ? this.read(c.certFile) : undefined);
    const key = c.keyData ?? (c.keyFile ? this.read(c.keyFile) : undefined);
    if (ca) opts.ca = ca;
    if (cert) opts.cert = cert;
    if (key) opts.key = key;
    if (c.insecure) opts.rejectUnauthorized = false;
    if (c.servername) opts.servername = c.servername;
    const headers: Record<string, string> = {};
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    else if (c.basic) opts.auth = `${c.basic.username}:${c.basic.password}`;
    opts.headers = { ...(opts.headers as Record<string, string> | undefined), ...headers };
    return Promise.resolve();
  }

  /** Like client-go: tokenFile wins over token (it is re-read as it rotates); token only if the file cannot be read. */
  private token(): string | undefined {
    const { token, tokenFile } = this.c;
    if (!tokenFile) return token;
    try {
      return this.read(tokenFile).toString('utf8').trim() || token;
    } catch (e) {
      if (token) return token;
      throw e;
    }
  }

  private read(file: string): Buffer {
    const now = Date.now();
    const hit = this.files.get(file);
    if (hit && now - hit.at < FILE_TTL_MS) return hit.data;
    const data = readFileSync(file);
    this.files.set(file, { at: now, data });
    return data;
  }
}

/**
 * Like client-node's loadFromDefault: KUBECONFIG (one file), ~/.kube/config,
 * then the in-cluster ServiceAccount. Undefined when only client-node can
 * load it (exotic auth, several files, nothing found).
 */
export function loadOwnKubeConfig(
  kubeconfigPath: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): OwnKubeConfig | undefined {
  const fromEnv = env.KUBECONFIG;
  if (!kubeconfigPath && fromEnv?.includes(path.delimiter)) return undefined;
  const home = path.join(os.homedir(), '.kube', 'config');
  const file = kubeconfigPath ?? (fromEnv || (existsSync(home) ? home : undefined));
  if (file) {
    const c = connectionFrom(parse(readFileSync(file, 'utf8')), path.dirname(file));
    return 'unsupported' in c ? undefined : new OwnKubeConfig(c);
  }
  const inCluster = inClusterConnection(env);
  return inCluster && existsSync(inCluster.tokenFile ?? '') ? new OwnKubeConfig(inCluster) : undefined;
}
