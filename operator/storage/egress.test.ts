import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  EndpointRefusedError,
  ambientCredentialsAllowed,
  canonicalIp,
  guardedLookup,
  parseCidr,
  parseEndpointPattern,
  refusedAddress,
  refusedHost,
} from './egress.ts';
import type { Lookup } from './egress.ts';

describe('refusedAddress', () => {
  it('refuses link-local and cloud metadata addresses, with the reason', () => {
    expect(refusedAddress('169.254.169.254')).toMatch(/link-local address \(169\.254\.0\.0\/16\)/);
    expect(refusedAddress('169.254.0.1')).toMatch(/link-local/);
    expect(refusedAddress('169.254.255.255')).toMatch(/link-local/);
    expect(refusedAddress('fe80::1')).toMatch(/link-local address \(fe80::\/10\)/);
    expect(refusedAddress('FEBF:0:0:0:0:0:0:1')).toMatch(/link-local/);
    expect(refusedAddress('fe80::1%eth0')).toMatch(/link-local/);
    expect(refusedAddress('fd00:ec2::254')).toMatch(/AWS instance metadata/);
    expect(refusedAddress('fd00:ec2:0:0:0:0:0:254')).toMatch(/AWS instance metadata/);
    expect(refusedAddress('100.100.100.200')).toMatch(/Alibaba/);
    expect(refusedAddress('168.63.129.16')).toMatch(/Azure/);
    expect(refusedAddress('0.0.0.0')).toMatch(/not a destination/);
    expect(refusedAddress('::')).toMatch(/not a destination/);
  });

  it('sees through IPv4-mapped IPv6 spellings', () => {
    expect(refusedAddress('::ffff:169.254.169.254')).toMatch(/169\.254\.169\.254 is a link-local/);
    expect(refusedAddress('::ffff:a9fe:a9fe')).toMatch(/link-local/);
    expect(refusedAddress('[::ffff:100.100.100.200]')).toMatch(/Alibaba/);
  });

  it('allows loopback, private and public addresses (a local MinIO is on 127.0.0.1)', () => {
    for (const ok of ['127.0.0.1', '::1', '10.0.0.5', '192.168.1.1', '100.100.100.201', '52.216.8.1']) {
      expect(refusedAddress(ok), ok).toBeUndefined();
    }
    expect(refusedAddress('fec0::1')).toBeUndefined(); // just past fe80::/10
    expect(refusedAddress('169.253.255.255')).toBeUndefined();
    expect(refusedAddress('not-an-ip')).toBeUndefined();
  });

  it('canonicalises addresses', () => {
    expect(canonicalIp('FD00:0EC2:0000:0000:0000:0000:0000:0254')).toBe('fd00:ec2::254');
    expect(canonicalIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(canonicalIp('2001:db8:0:1:0:0:0:1')).toBe('2001:db8:0:1::1');
    expect(canonicalIp('example.com')).toBeUndefined();
  });
});

describe('admin-refused ranges', () => {
  it('refuses addresses in the CIDRs the admin lists, and only those', () => {
    const cidrs = ['127.0.0.0/8', 'fd00::/8'];
    expect(refusedAddress('127.0.0.1', cidrs)).toBe(
      '127.0.0.1 is in 127.0.0.0/8, a range the cluster admin refuses for object storage',
    );
    expect(refusedAddress('::ffff:127.0.0.2', cidrs)).toMatch(/in 127\.0\.0\.0\/8/);
    expect(refusedAddress('fd12::1', cidrs)).toMatch(/in fd00::\/8/);
    expect(refusedAddress('10.0.0.1', cidrs)).toBeUndefined();
    expect(refusedAddress('::1', cidrs)).toBeUndefined();
    expect(refusedHost('127.0.0.1', cidrs)).toMatch(/127\.0\.0\.0\/8/);
  });

  it('parses CIDRs, saying what is wrong', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ network: '10.0.0.0', prefix: 8, family: 4 });
    expect(parseCidr('FD00:0::/8')).toEqual({ network: 'fd00::', prefix: 8, family: 6 });
    for (const bad of ['10.0.0.0', '10.0.0.0/33', 'fd00::/129', 'host/8', '/8']) {
      expect(parseCidr(bad), bad).toBe(`"${bad}" is not a CIDR such as 10.0.0.0/8 or fd00::/8`);
    }
  });
});

describe('refusedHost', () => {
  it('refuses metadata host names and refused IP literals as written', () => {
    expect(refusedHost('metadata.google.internal')).toMatch(/cloud metadata service/);
    expect(refusedHost('Metadata.Google.Internal.')).toMatch(/cloud metadata service/);
    expect(refusedHost('169.254.169.254')).toMatch(/link-local/);
    expect(refusedHost('[fe80::1]')).toMatch(/link-local/);
    expect(refusedHost('minio.storage.svc')).toBeUndefined();
    expect(refusedHost('127.0.0.1')).toBeUndefined();
  });
});

describe('guardedLookup', () => {
  // a resolver we control: what a rebinding DNS server would answer at connect time
  const resolver =
    (answers: LookupAddress[]): Lookup =>
    (_hostname, _options, callback) =>
      callback(null, answers);
  const run = (lookup: Lookup, hostname: string, all: boolean) =>
    new Promise<{ error: Error | null; address: string | LookupAddress[]; family?: number | undefined }>(
      (resolve) => lookup(hostname, { all }, (error, address, family) => resolve({ error, address, family })),
    );

  it('refuses a name that resolves to a metadata address, naming name, address and reason', async () => {
    const lookup = guardedLookup(resolver([{ address: '169.254.169.254', family: 4 }]));
    const { error } = await run(lookup, 'innocent.example', false);
    expect(error).toBeInstanceOf(EndpointRefusedError);
    expect(error?.message).toBe(
      'innocent.example resolves to 169.254.169.254: 169.254.169.254 is a link-local address ' +
        '(169.254.0.0/16), where cloud metadata services answer',
    );
  });

  it('refuses when any of the addresses is refused', async () => {
    const lookup = guardedLookup(
      resolver([
        { address: '10.0.0.1', family: 4 },
        { address: 'fd00:ec2::254', family: 6 },
      ]),
    );
    expect((await run(lookup, 'two.example', true)).error?.message).toMatch(/fd00:ec2::254/);
  });

  it('refuses metadata host names without resolving them', async () => {
    let asked = false;
    const lookup = guardedLookup((_h, _o, cb) => {
      asked = true;
      cb(null, [{ address: '10.1.2.3', family: 4 }]);
    });
    expect((await run(lookup, 'metadata.google.internal', false)).error).toBeInstanceOf(EndpointRefusedError);
    expect(asked).toBe(false);
  });

  it('passes allowed addresses on in the form asked for', async () => {
    const answers = [
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ];
    const lookup = guardedLookup(resolver(answers));
    expect(await run(lookup, 'minio.local', true)).toEqual({
      error: null,
      address: answers,
      family: undefined,
    });
    expect(await run(lookup, 'minio.local', false)).toEqual({ error: null, address: '127.0.0.1', family: 4 });
  });

  it("applies the admin's ranges to resolved addresses", async () => {
    const lookup = guardedLookup(resolver([{ address: '127.0.0.1', family: 4 }]), ['127.0.0.0/8']);
    expect((await run(lookup, 'localhost', false)).error?.message).toBe(
      'localhost resolves to 127.0.0.1: 127.0.0.1 is in 127.0.0.0/8, a range the cluster admin refuses for object storage',
    );
  });

  it('passes resolver errors on', async () => {
    const lookup = guardedLookup((_h, _o, cb) =>
      cb(Object.assign(new Error('getaddrinfo ENOTFOUND nope'), { code: 'ENOTFOUND' }), '', 0),
    );
    expect((await run(lookup, 'nope', false)).error?.message).toMatch(/ENOTFOUND/);
  });
});

describe('ambientCredentialsAllowed', () => {
  const allowed = ['http://127.0.0.1:9000', 'https://*.amazonaws.com', 'https://minio.storage.svc'];

  it('allows only the listed origins: scheme, host and port must all match', () => {
    expect(ambientCredentialsAllowed('http://127.0.0.1:9000', allowed)).toBe(true);
    expect(ambientCredentialsAllowed('http://127.0.0.1:9000/some/path', allowed)).toBe(true);
    expect(ambientCredentialsAllowed('http://127.0.0.1:9001', allowed)).toBe(false);
    expect(ambientCredentialsAllowed('https://127.0.0.1:9000', allowed)).toBe(false);
    expect(ambientCredentialsAllowed('http://localhost:9000', allowed)).toBe(false);
    expect(ambientCredentialsAllowed('https://MINIO.storage.svc:443', allowed)).toBe(true);
    expect(ambientCredentialsAllowed('http://minio.storage.svc', allowed)).toBe(false);
    expect(ambientCredentialsAllowed('https://minio.storage.svc.evil.example', allowed)).toBe(false);
  });

  it('matches "*." patterns against subdomains only', () => {
    expect(ambientCredentialsAllowed('https://s3.eu-west-1.amazonaws.com', allowed)).toBe(true);
    expect(ambientCredentialsAllowed('https://amazonaws.com', allowed)).toBe(false);
    expect(ambientCredentialsAllowed('https://evilamazonaws.com', allowed)).toBe(false);
    expect(ambientCredentialsAllowed('https://s3.amazonaws.com.evil.example', allowed)).toBe(false);
    expect(ambientCredentialsAllowed('https://s3.amazonaws.com:8443', allowed)).toBe(false);
    expect(ambientCredentialsAllowed('http://s3.amazonaws.com', allowed)).toBe(false);
  });

  it('allows nothing by default, nor endpoints carrying userinfo or other schemes', () => {
    expect(ambientCredentialsAllowed('http://127.0.0.1:9000', [])).toBe(false);
    expect(ambientCredentialsAllowed('http://u:p@127.0.0.1:9000', allowed)).toBe(false);
    expect(ambientCredentialsAllowed('ftp://127.0.0.1:9000', ['ftp://127.0.0.1:9000'])).toBe(false);
    expect(ambientCredentialsAllowed('not a url', allowed)).toBe(false);
  });
});

describe('parseEndpointPattern', () => {
  it('accepts origins and "*." patterns', () => {
    expect(parseEndpointPattern('https://*.amazonaws.com')).toEqual({
      protocol: 'https:',
      hostname: 'amazonaws.com',
      port: '',
      wildcard: true,
    });
    expect(parseEndpointPattern('http://[::1]:9000')).toMatchObject({ hostname: '[::1]', port: '9000' });
    expect(parseEndpointPattern('https://s3.amazonaws.com/')).toMatchObject({ hostname: 's3.amazonaws.com' });
  });

  it('rejects what is not an http(s) origin, saying why', () => {
    expect(parseEndpointPattern('s3.amazonaws.com')).toMatch(/not a URL/);
    expect(parseEndpointPattern('ftp://x')).toMatch(/http:\/\/ or https:\/\//);
    expect(parseEndpointPattern('https://x/path')).toMatch(/origin/);
    expect(parseEndpointPattern('https://u:p@x')).toMatch(/origin/);
    expect(parseEndpointPattern('https://x?a=1')).toMatch(/origin/);
  });
});
