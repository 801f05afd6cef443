import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { parseHostPort, startHealthServer, startMetricsServer } from './servers.ts';

describe('parseHostPort', () => {
  it('splits host and port, defaulting the host to all interfaces', () => {
    expect(parseHostPort('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseHostPort(':9090')).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(parseHostPort('[::1]:81')).toEqual({ host: '::1', port: 81 });
  });
});

describe('probe and metrics servers', () => {
  it('answer /readyz by the readiness check and serve /metrics', async () => {
    let ready = false;
    const health = await startHealthServer('127.0.0.1:0', { live: () => true, ready: () => ready });
    const registry = new Registry();
    const metrics = await startMetricsServer('127.0.0.1:0', registry);
    const port = (s: typeof health) => (s.address() as { port: number }).port;
    try {
      expect((await fetch(`http://127.0.0.1:${port(health)}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port(health)}/readyz`)).status).toBe(503);
      ready = true;
      expect((await fetch(`http://127.0.0.1:${port(health)}/readyz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port(health)}/nope`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port(metrics)}/metrics`)).status).toBe(200);
    } finally {
      health.close();
      metrics.close();
    }
  });
});
