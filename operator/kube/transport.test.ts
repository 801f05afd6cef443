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
