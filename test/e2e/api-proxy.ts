// A TCP proxy in the test process between an operator and the shared API
// server: cut() makes the API unreachable for that operator alone (listener
// closed, open connections reset), restore() listens again on the same port.
// This simulates an API server or etcd outage without touching the shared
// cluster's processes (restarting them here destroyed other engineers' runs).
// TLS passes through untouched: the API server's certificate has the
// 127.0.0.1 IP SAN, so a kubeconfig naming https://127.0.0.1:<proxy port>
// still verifies.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { freePort } from './support.ts';

export interface ApiProxy {
  /** A copy of the kubeconfig whose server is the proxy. */
  kubeconfig: string;
  port: number;
  /** Closes the listener and destroys every open connection; resolves once the port refuses. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

interface KubeconfigDoc {
  clusters?: { name: string; cluster: { server: string } & Record<string, unknown> }[];
}

/** Starts a proxy to the server of `kubeconfigPath` (its first cluster) and writes the proxied copy. */
export async function startApiProxy(kubeconfigPath: string): Promise<ApiProxy> {
  // YAML is a superset of JSON: reads either kind of kubeconfig
  const doc = parse(readFileSync(kubeconfigPath, 'utf8')) as KubeconfigDoc;
  const cluster = doc.clusters?.[0]?.cluster;
  if (!cluster) throw new Error(`${kubeconfigPath} names no cluster`);
  const target = new URL(cluster.server);
  const targetPort = Number(target.port || 443);
  const targetHost = target.hostname.replace(/^\[|\]$/g, '');
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  // a port outside the ephemeral range: while cut, no outgoing connection (the operator's
  // own reconnects included, which could even connect to themselves) can take it
  const port = await freePort();

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer((client) => {
        const upstream = net.connect(targetPort, targetHost);
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream);
        upstream.pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        server = s;
        resolve();
      });
    });
  const cut = async () => {
    const s = server;
    server = undefined;
    const closed = s ? new Promise<void>((r) => s.close(() => r())) : Promise.resolve();
    for (const sock of sockets) sock.destroy();
    await closed;
  };

  await listen();
  const dir = path.join(os.tmpdir(), `ymera-api-proxy-${process.pid}-${port}`);
  mkdirSync(dir, { recursive: true });
  cluster.server = `https://127.0.0.1:${port}`;
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, JSON.stringify(doc), { mode: 0o600 });
  return {
    kubeconfig,
    port,
    cut,
    restore: async () => {
      if (!server) await listen();
    },
    close: cut,
  };
}
