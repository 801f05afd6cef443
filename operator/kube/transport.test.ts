import http from 'node:http';
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { SharedTransport, tlsFingerprint } from './transport.ts';

describe('tlsFingerprint', () => {
  it('is equal for equal TLS material and differs when a certificate, key, CA or verification changes', () => {
    const base = { ca: Buffer.from('ca-1'), cert: Buffer.from('cert-1'), key: Buffer.from('key-1') };
    expect(tlsFingerprint(base)).toBe(tlsFingerprint({ ...base, ca: Buffer.from('ca-1') }));
    expect(tlsFingerprint({ ...base, cert: Buffer.from('cert-2') })).not.toBe(tlsFingerprint(base));
    expect(tlsFingerprint({ ...base, key: Buffer.from('key-2') })).not.toBe(tlsFingerprint(base));
    expect(tlsFingerprint({ ...base, ca: Buffer.from('ca-2') })).not.toBe(tlsFingerprint(base));
    expect(tlsFingerprint({ ...base, rejectUnauthorized: false })).not.toBe(tlsFingerprint(base));
    // a field moved to another one is another identity
    expect(tlsFingerprint({ cert: Buffer.from('x') })).not.toBe(tlsFingerprint({ key: Buffer.from('x') }));
  });
});

describe('SharedTransport', () => {
  it('hands out one agent while the TLS material stays, and a new one when it changes', () => {
    const t = new SharedTransport();
    const a = t.agentFor('https:', { rejectUnauthorized: false });
    expect(t.agentFor('https:', { rejectUnauthorized: false })).toBe(a);
    const b = t.agentFor('https:', { rejectUnauthorized: true });
    expect(b).not.toBe(a);
    expect(t.agentFor('http:', {})).toBe(t.agentFor('http:', {}));
    t.close();
  });
});

describe('SharedTransport idle connections', () => {
  it('closes a pooled connection idle for the free-socket timeout (before the server would)', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    server.keepAliveTimeout = 60_000; // the server would keep it far longer
    const closed = new Promise<void>((resolve) =>
      server.on('connection', (s: net.Socket) => s.on('close', () => resolve())),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const t = new SharedTransport(200);
    try {
      const agent = t.agentFor('http:', {});
      const { port } = server.address() as net.AddressInfo;
      await new Promise<void>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
            res.resume();
            res.on('end', resolve);
          })
          .on('error', reject);
      });
      const idleSince = Date.now();
      await closed; // the client closed it: the server's own timeout is a minute away
      expect(Date.now() - idleSince).toBeLessThan(5_000);
    } finally {
      t.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 10_000);
});
