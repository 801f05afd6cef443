import { fromEnv } from '@aws-sdk/credential-providers';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config.ts';
import {
  ObjectStoreAccessDeniedError,
  ObjectStoreError,
  ambientCredentialChain,
  createObjectStore,
  explicitCredentials,
  isObjectStoreUnavailable,
  memoizeCredentials,
  decodeListedKey,
  formatS3Uri,
  normalizePrefix,
  objectStoreConfigFromEnv,
  objectStoreFromEnv,
  parseS3Uri,
  validateBucketName,
  validateKey,
  validateMetadata,
} from './s3.ts';
import type { ObjectStoreOptions } from './s3.ts';

const credentials = { accessKeyId: 'a', secretAccessKey: 'b' };

/** What `promise` rejected with (the test fails if it resolves). */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

describe('parseS3Uri', () => {
  it('splits bucket and key, taking the key literally', () => {
    expect(parseS3Uri('s3://ymera-models/runs/7/model.onnx')).toEqual({
      bucket: 'ymera-models',
      key: 'runs/7/model.onnx',
    });
    expect(parseS3Uri('s3://ymera-backups/a%20b/c d?x#y')).toEqual({
      bucket: 'ymera-backups',
      key: 'a%20b/c d?x#y',
    });
    expect(parseS3Uri('s3://ymera-backups')).toEqual({ bucket: 'ymera-backups', key: '' });
    expect(parseS3Uri('s3://ymera-backups/')).toEqual({ bucket: 'ymera-backups', key: '' });
    expect(parseS3Uri('s3://b.with.dots/k//x')).toEqual({ bucket: 'b.with.dots', key: 'k//x' });
  });

  it('rejects other schemes and invalid bucket names, saying why', () => {
    expect(() => parseS3Uri('https://ymera-models/x')).toThrow(/not an s3:\/\/ URI/);
    expect(() => parseS3Uri('S3://ymera-models/x')).toThrow(/not an s3:\/\/ URI/);
    expect(() => parseS3Uri('s3:///key')).toThrow(/3-63 characters/);
    expect(() => parseS3Uri('s3://Ymera/x')).toThrow(/invalid s3:\/\/ URI "s3:\/\/Ymera\/x"/);
    expect(() => parseS3Uri('s3://ab/x')).toThrow(/3-63/);
  });

  it('round-trips with formatS3Uri', () => {
    const uri = formatS3Uri('ymera-artifacts', 'pipelines/p1/out.tar');
    expect(uri).toBe('s3://ymera-artifacts/pipelines/p1/out.tar');
    expect(parseS3Uri(uri)).toEqual({ bucket: 'ymera-artifacts', key: 'pipelines/p1/out.tar' });
  });
});

describe('names', () => {
  it('validates bucket names by the S3 rules', () => {
    for (const ok of ['ymera-models', 'abc', 'a.b-c', 'x'.repeat(63)])
      expect(validateBucketName(ok), ok).toBeUndefined();
    for (const bad of [
      'ab',
      'x'.repeat(64),
      'Upper',
      '-lead',
      'trail-',
      'a..b',
      'a.-b',
      '192.168.1.1',
      'under_score',
    ]) {
      expect(validateBucketName(bad), bad).toBeDefined();
    }
  });

  it('normalizes store prefixes to "" or "…/"', () => {
    expect(normalizePrefix(undefined)).toBe('');
    expect(normalizePrefix('')).toBe('');
    expect(normalizePrefix('/')).toBe('');
    expect(normalizePrefix('models')).toBe('models/');
    expect(normalizePrefix('/ns/name/')).toBe('ns/name/');
  });

  it('requires non-empty keys of at most 1024 UTF-8 bytes', () => {
    expect(() => validateKey('')).toThrow(TypeError);
    expect(() => validateKey('ü'.repeat(513))).toThrow(/1024 bytes/);
    expect(() => validateKey('a'.repeat(1024))).not.toThrow();
  });

  it('decodes url-encoded listing keys ("+" is a space, %2B a plus)', () => {
    expect(decodeListedKey('runs/a+b%2Bc%26d%C3%BC')).toBe('runs/a b+c&dü');
  });
});

describe('where requests go (the SDK addresses them; a local server records them)', () => {
  type Seen = { method: string; host: string; url: string };
  async function recording(use: (endpoint: string, port: number, seen: Seen[]) => Promise<void>) {
    const seen: Seen[] = [];
    const server = createServer((req, res) => {
      // the path only: the SDK adds ?x-id=<operation>
      seen.push({
        method: req.method ?? '',
        host: req.headers.host ?? '',
        url: (req.url ?? '').split('?')[0] ?? '',
      });
      req.resume();
      res.writeHead(200, { etag: '"e"', 'content-length': '0' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      await use(`http://127.0.0.1:${port}`, port, seen);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }
  const toLoopback: ObjectStoreOptions['lookup'] = (_hostname, _options, callback) =>
    callback(null, [{ address: '127.0.0.1', family: 4 }]);

  it('path style puts the bucket in the path and encodes the key once', async () => {
    await recording(async (endpoint, port, seen) => {
      const store = createObjectStore({ endpoint, bucket: 'ymera-models', credentials });
      await store.put('runs/a b+ü.onnx', 'x');
      store.close();
      expect(seen).toEqual([
        { method: 'PUT', host: `127.0.0.1:${port}`, url: '/ymera-models/runs/a%20b%2B%C3%BC.onnx' },
      ]);
    });
  });

  it('virtual-host style puts the bucket in the host, which the guarded lookup resolves', async () => {
    await recording(async (_endpoint, port, seen) => {
      const asked: string[] = [];
      const store = createObjectStore({
        endpoint: `http://s3.example.test:${port}`,
        bucket: 'b1x',
        credentials,
        addressing: 'virtual-host',
        lookup: (hostname, options, callback) => {
          asked.push(hostname);
          toLoopback(hostname, options, callback);
        },
      });
      await store.put('k', 'x');
      store.close();
      expect(seen).toEqual([{ method: 'PUT', host: `b1x.s3.example.test:${port}`, url: '/k' }]);
      expect(asked).toEqual(['b1x.s3.example.test']);
    });
  });

  it('signs a streamed body unless unsignedPayload: then "UNSIGNED-PAYLOAD" instead of its SHA-256', async () => {
    const hashes: (string | string[] | undefined)[] = [];
    const server = createServer((req, res) => {
      hashes.push(req.headers['x-amz-content-sha256']);
      req.resume();
      res.writeHead(200, { etag: '"e"', 'content-length': '0' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const store = createObjectStore({ endpoint, bucket: 'bkt', credentials });
      await store.putStream('k', Readable.from([Buffer.from('tiny')]));
      await store.putStream('k', Readable.from([Buffer.from('tiny')]), { unsignedPayload: true });
      store.close();
      const sha256OfTiny = createHash('sha256').update('tiny').digest('hex');
      expect(hashes).toEqual([sha256OfTiny, 'UNSIGNED-PAYLOAD']);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('keeps a path the endpoint has (a gateway mounted under /s3)', async () => {
    await recording(async (endpoint, _port, seen) => {
      const store = createObjectStore({ endpoint: `${endpoint}/s3/`, bucket: 'bkt', credentials });
      await store.put('k', 'x');
      store.close();
      expect(seen.map((r) => r.url)).toEqual(['/s3/bkt/k']);
    });
  });
});

describe('validateMetadata', () => {
  it('lowercases names, as S3 stores them', () => {
    expect(validateMetadata({ 'Model-Sha256': 'abc', run_id: '7' })).toEqual({
      'model-sha256': 'abc',
      run_id: '7',
    });
  });

  it('rejects names and values an HTTP header cannot carry', () => {
    expect(() => validateMetadata({ 'bad name': 'x' })).toThrow(/invalid metadata name/);
    expect(() => validateMetadata({ note: 'naïve' })).toThrow(/printable ASCII/);
    expect(() => validateMetadata({ note: 'a\r\nInjected: 1' })).toThrow(/printable ASCII/);
  });
});

describe('objectStoreConfigFromEnv', () => {
  const env = {
    YMERA_S3_ENDPOINT: 'http://127.0.0.1:9000',
    YMERA_S3_ACCESS_KEY: 'ymera-local',
    YMERA_S3_SECRET_KEY: 'not-printed',
  };

  it('is undefined (storage disabled) without an endpoint', () => {
    expect(objectStoreConfigFromEnv({})).toBeUndefined();
    expect(objectStoreFromEnv('ymera-models', {}, {})).toBeUndefined();
  });

  it('reads endpoint, credentials, region and addressing with defaults', () => {
    expect(objectStoreConfigFromEnv(env)).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      credentials: { accessKeyId: 'ymera-local', secretAccessKey: 'not-printed' },
      addressing: 'path',
    });
    expect(
      objectStoreConfigFromEnv({
        YMERA_S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com/',
        AWS_ACCESS_KEY_ID: 'AKID',
        AWS_SECRET_ACCESS_KEY: 's',
        AWS_SESSION_TOKEN: 't',
        AWS_REGION: 'eu-west-1',
        YMERA_S3_ADDRESSING: 'virtual-host',
      }),
    ).toEqual({
      endpoint: 'https://s3.eu-west-1.amazonaws.com',
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKID', secretAccessKey: 's', sessionToken: 't' },
      addressing: 'virtual-host',
    });
  });

  it('fails with ConfigError naming the variable, never echoing secrets', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ ...env, YMERA_S3_ENDPOINT: 'ftp://x' }, /YMERA_S3_ENDPOINT must be an http/],
      [{ ...env, YMERA_S3_ENDPOINT: 'not a url' }, /YMERA_S3_ENDPOINT must be an http/],
      [{ ...env, YMERA_S3_ENDPOINT: 'http://u:not-printed@h:9000' }, /must not carry credentials/],
      [{ YMERA_S3_ENDPOINT: 'http://h:9000' }, /YMERA_S3_ACCESS_KEY and YMERA_S3_SECRET_KEY/],
      [{ ...env, YMERA_S3_ADDRESSING: 'dns' }, /YMERA_S3_ADDRESSING must be/],
    ];
    for (const [bad, message] of cases) {
      let error: unknown;
      try {
        objectStoreConfigFromEnv(bad);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('not-printed');
    }
  });

  it('builds a store bound to a bucket and prefix; withPrefix nests', () => {
    const store = objectStoreFromEnv('ymera-models', { prefix: 'ns' }, env);
    expect(store?.bucket).toBe('ymera-models');
    expect(store?.prefix).toBe('ns/');
    expect(store?.withPrefix('run-1').prefix).toBe('ns/run-1/');
    store?.close();
  });

  it('validates options at construction', () => {
    const base = {
      endpoint: 'http://127.0.0.1:9000',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    };
    expect(() => createObjectStore({ ...base, bucket: 'Bad_Bucket' })).toThrow(/bucket name/);
    expect(() => createObjectStore({ ...base, bucket: 'okay', partSizeBytes: 1024 })).toThrow(
      /partSizeBytes/,
    );
    expect(() => createObjectStore({ ...base, bucket: 'okay', endpoint: 'file:///x' })).toThrow(/http\(s\)/);
    expect(() => createObjectStore({ ...base, bucket: 'okay', maxGetBytes: 0 })).toThrow(/maxGetBytes/);
    // copies: CopyObject at most up to its 5 GiB, parts within S3's 5 MiB..5 GiB
    const copy = (o: Partial<ObjectStoreOptions>) => () =>
      createObjectStore({ ...base, bucket: 'okay', ...o });
    expect(copy({ copyThresholdBytes: 5 * 1024 ** 3 + 1 })).toThrow(
      "copyThresholdBytes must be an integer from 0 to 5368709120 (5 GiB, one CopyObject's limit)",
    );
    expect(copy({ copyThresholdBytes: -1 })).toThrow(/copyThresholdBytes/);
    expect(copy({ copyPartSizeBytes: 5 * 1024 ** 2 - 1 })).toThrow(
      'copyPartSizeBytes must be an integer from 5242880 (5 MiB) to 5368709120 (5 GiB)',
    );
    expect(copy({ copyPartSizeBytes: 5 * 1024 ** 3 + 1 })).toThrow(/copyPartSizeBytes/);
    expect(copy({ copyQueueSize: 0 })).toThrow(/copyQueueSize must be >= 1/);
    copy({ copyThresholdBytes: 0, copyPartSizeBytes: 5 * 1024 ** 2, copyQueueSize: 1 })().close();
  });
});

describe('refused endpoints', () => {
  it('refuses a metadata IP literal before any request, with the reason and no retry', async () => {
    const store = createObjectStore({
      endpoint: 'http://169.254.169.254',
      bucket: 'ml-artifacts',
      credentials,
    });
    const started = Date.now();
    const error = await failure(store.get('latest/meta-data/iam'));
    expect(error).toBeInstanceOf(ObjectStoreError);
    expect(error).toMatchObject({
      code: 'EndpointRefused',
      message:
        'GetObject s3://ml-artifacts/latest/meta-data/iam: refusing to connect to http://169.254.169.254: ' +
        '169.254.169.254 is a link-local address (169.254.0.0/16), where cloud metadata services answer',
    });
    expect(Date.now() - started).toBeLessThan(1_000);
    store.close();
  });

  it('refuses spellings that URL parsing turns into a metadata address', async () => {
    for (const endpoint of [
      'http://2852039166',
      'http://0xa9fea9fe',
      'http://[::ffff:169.254.169.254]',
      'http://[fe80::1]',
    ]) {
      const store = createObjectStore({ endpoint, bucket: 'ml-artifacts', credentials });
      expect(await failure(store.head('k')), endpoint).toMatchObject({ code: 'EndpointRefused' });
      store.close();
    }
  });

  it('refuses the ranges the admin lists, e.g. loopback, before any request', async () => {
    const store = createObjectStore({
      endpoint: 'http://127.0.0.1:9',
      bucket: 'ml-artifacts',
      credentials,
      refusedCidrs: ['127.0.0.0/8'],
    });
    expect(await failure(store.get('k'))).toMatchObject({
      code: 'EndpointRefused',
      message: expect.stringContaining('127.0.0.1 is in 127.0.0.0/8, a range the cluster admin refuses'),
    });
    store.close();
    expect(() =>
      createObjectStore({
        endpoint: 'http://x',
        bucket: 'ml-artifacts',
        credentials,
        refusedCidrs: ['10/8'],
      }),
    ).toThrow(/refusedCidrs: "10\/8" is not a CIDR/);
  });

  it("judges the address a name resolves to at connect time (the agent's lookup), not the name", async () => {
    const asked: string[] = [];
    const store = createObjectStore({
      endpoint: 'http://rebinding.example:9000',
      bucket: 'ml-artifacts',
      credentials,
      retry: { maxAttempts: 3 },
      // what a rebinding DNS server answers when the socket connects
      lookup: (hostname, _options, callback) => {
        asked.push(hostname);
        callback(null, [{ address: '169.254.169.254', family: 4 }]);
      },
    });
    const error = await failure(store.get('x'));
    expect(error).toMatchObject({
      code: 'EndpointRefused',
      message: expect.stringContaining(
        'refusing to connect to http://rebinding.example:9000: rebinding.example resolves to 169.254.169.254',
      ),
    });
    expect(asked).toEqual(['rebinding.example']); // one attempt: a refusal is not retried
    store.close();
  });
});

describe('the guard holds for every request the SDK makes', () => {
  const toMetadata: ObjectStoreOptions['lookup'] = (_hostname, _options, callback) =>
    callback(null, [{ address: '169.254.169.254', family: 4 }]);

  it('https endpoints, and big bodies (sent with "Expect: 100-continue", for which the SDK would make its own agent)', async () => {
    for (const endpoint of ['https://rebinding.example', 'http://rebinding.example:9000']) {
      const store = createObjectStore({ endpoint, bucket: 'ml-artifacts', credentials, lookup: toMetadata });
      for (const call of [
        () => store.get('x'),
        () => store.put('x', Buffer.alloc(6 * 1024 * 1024)),
        () => store.putStream('x', Readable.from([Buffer.alloc(12 * 1024 * 1024)])),
      ]) {
        expect(await failure(call()), endpoint).toMatchObject({
          code: 'EndpointRefused',
          message: expect.stringContaining('rebinding.example resolves to 169.254.169.254'),
        });
      }
      store.close();
    }
  });
});

describe('credentials', () => {
  it('takes YMERA_S3_* keys first, then AWS_*', () => {
    expect(explicitCredentials({})).toBeUndefined();
    expect(
      explicitCredentials({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', AWS_SESSION_TOKEN: 't' }),
    ).toEqual({ accessKeyId: 'a', secretAccessKey: 'b', sessionToken: 't' });
    const both = {
      YMERA_S3_ACCESS_KEY: 'y',
      YMERA_S3_SECRET_KEY: 'z',
      AWS_ACCESS_KEY_ID: 'a',
      AWS_SECRET_ACCESS_KEY: 'b',
    };
    expect(explicitCredentials(both)).toEqual({ accessKeyId: 'y', secretAccessKey: 'z' });
  });

  it('the ambient chain answers with the explicit keys without asking any other source', async () => {
    const chain = ambientCredentialChain({ YMERA_S3_ACCESS_KEY: 'y', YMERA_S3_SECRET_KEY: 'z' });
    expect(await chain()).toEqual({ accessKeyId: 'y', secretAccessKey: 'z' });
  });

  it("the ambient chain without explicit keys asks the SDK's providers (loaded then): the process's AWS_* keys", async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = 'from-env';
    process.env.AWS_SECRET_ACCESS_KEY = 'env-secret';
    try {
      const chain = ambientCredentialChain({});
      expect(await chain()).toMatchObject({ accessKeyId: 'from-env', secretAccessKey: 'env-secret' });
    } finally {
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('memoizes until shortly before expiry, one resolution at a time, failures not cached', async () => {
    let now = 0;
    let calls = 0;
    let fail = true;
    const provider = memoizeCredentials(
      async () => {
        calls++;
        if (fail) throw new Error('sts down');
        return { accessKeyId: `k${calls}`, secretAccessKey: 's', expiration: new Date(now + 60 * 60_000) };
      },
      () => now,
    );
    await expect(provider()).rejects.toThrow('sts down');
    fail = false;
    const [a, b] = await Promise.all([provider(), provider()]);
    expect(a.accessKeyId).toBe('k2');
    expect(b).toBe(a);
    now += 50 * 60_000;
    expect((await provider()).accessKeyId).toBe('k2');
    now += 6 * 60_000; // within 5 minutes of expiry
    expect((await provider()).accessKeyId).toBe('k3');
  });

  it('a provider that finds nothing is ObjectStoreAccessDeniedError NoCredentials, not retried, not an outage', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      // the SDK's own environment provider, with nothing in the environment
      const store = createObjectStore({
        endpoint: 'http://127.0.0.1:9',
        bucket: 'b1x',
        credentials: fromEnv(),
      });
      const started = Date.now();
      const error = await (async () => {
        try {
          await store.get('k');
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(ObjectStoreAccessDeniedError);
      expect(error).toMatchObject({
        code: 'NoCredentials',
        message: expect.stringContaining('GetObject s3://b1x/k: no credentials'),
      });
      expect(isObjectStoreUnavailable(error)).toBe(false);
      expect(Date.now() - started).toBeLessThan(1_000);
      store.close();
    } finally {
      if (saved.id !== undefined) process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret !== undefined) process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });
});

describe('streamed uploads', () => {
  it("stop at once when the caller aborts, with the caller's reason", async () => {
    const sockets: Socket[] = [];
    const hole = createNetServer((socket) => sockets.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const port = (hole.address() as AddressInfo).port;
    try {
      const store = createObjectStore({
        endpoint: `http://127.0.0.1:${port}`,
        bucket: 'b1x',
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
        timeoutMs: 30_000,
      });
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('reconcile cancelled')), 100);
      const started = Date.now();
      const source = Readable.from([Buffer.alloc(12 * 1024 * 1024)]);
      await expect(store.putStream('x', source, { signal: controller.signal })).rejects.toThrow(
        'reconcile cancelled',
      );
      expect(Date.now() - started).toBeLessThan(5_000);
      store.close();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hole.close(resolve));
    }
  });
});
