// The operator's two small HTTP endpoints: /metrics for Prometheus, and
// /healthz + /readyz for the kubelet's probes.
import http from 'node:http';
import type { Registry } from 'prom-client';

export function parseHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i) || '0.0.0.0';
  return { host: host.replace(/^\[(.*)\]$/, '$1'), port: Number(addr.slice(i + 1)) };
}

function listen(server: http.Server, addr: string): Promise<http.Server> {
  const { host, port } = parseHostPort(addr);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export function startMetricsServer(addr: string, registry: Registry): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
      registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'Content-Type': registry.contentType });
          res.end(body);
        },
        (e: unknown) => {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(String(e));
        },
      );
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found: try /metrics\n');
  });
  return listen(server, addr);
}

export interface HealthChecks {
  live: () => boolean;
  ready: () => boolean;
}

export function startHealthServer(addr: string, checks: HealthChecks): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = req.url?.split('?')[0];
    const check = path === '/healthz' ? checks.live : path === '/readyz' ? checks.ready : undefined;
    if (!check) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found: try /healthz or /readyz\n');
      return;
    }
    const ok = check();
    res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' });
    res.end(ok ? 'ok\n' : 'not ready\n');
  });
  return listen(server, addr);
}
