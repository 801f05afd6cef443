// The object store client against a real MinIO server (test/e2e/stack/minio.sh):
// round trips, pagination, deletes, typed errors for wrong credentials and a
// missing bucket, and what happens while the server is down and after it is
// back. The server is always this file's local MinIO, since the outage tests
// stop and start it.
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer as httpServer } from 'node:http';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../operator/backoff.ts';
import { createLogger } from '../../operator/logger.ts';
import {
  ObjectStoreAccessDeniedError,
  ObjectStoreError,
  ObjectStoreUnavailableError,
  createObjectStore,
  isNoSuchKey,
  isObjectStoreUnavailable,
  objectStoreConfigFromEnv,
} from '../../operator/storage/s3.ts';
import type { ObjectStore, ObjectStoreConfig, ObjectStoreOptions } from '../../operator/storage/s3.ts';
import { repo } from './support.ts';
import { settledGc } from './live-memory.ts';

const MINIO = path.join(repo, 'test/e2e/stack/minio.sh');

function minio(
  command: 'up' | 'down' | 'env' | 'status',
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [MINIO, command], { cwd: repo, timeout: 600_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function minioOk(command: 'up' | 'down'): Promise<void> {
  const r = await minio(command);
  if (r.code !== 0) throw new Error(`minio.sh ${command} failed (${r.code}): ${r.stderr}`);
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/** Keys with an unfinished multipart upload (ListMultipartUploads, asked with a plain SDK client). */
async function pendingUploads(bucket: string, prefix: string): Promise<string[]> {
  const client = new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    credentials: config.credentials,
    forcePathStyle: true,
  });
  try {
    const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    return (out.Uploads ?? []).map((u) => u.Key ?? '');
  } finally {
    client.destroy();
  }
}

let config: ObjectStoreConfig;
const stores: ObjectStore[] = [];
// every run works under its own prefix, so runs never see each other's objects
const runPrefix = `e2e-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

function store(options: Partial<ObjectStoreOptions> = {}): ObjectStore {
  const s = createObjectStore({
    ...config,
    bucket: 'ymera-artifacts',
    prefix: runPrefix,
    timeoutMs: 10_000,
    ...options,
  });
  stores.push(s);
  return s;
}

beforeAll(async () => {
  await minioOk('up');
  const env: Record<string, string> = {};
  for (const line of (await minio('env')).stdout.split('\n')) {
    const m = /^export (\w+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) env[m[1]] = m[2];
  }
  const parsed = objectStoreConfigFromEnv(env);
  if (!parsed) throw new Error('minio.sh env printed no YMERA_S3_ENDPOINT');
  config = parsed;
});

afterAll(async () => {
  // leave the server up for whoever runs next, even if an outage test failed midway
  if ((await minio('status')).code !== 0) await minioOk('up');
  if (config)
    await store()
      .deletePrefix('')
      .catch(() => undefined);
  for (const s of stores) s.close();
});

describe('object store on MinIO', () => {
  it('has the three platform buckets', async () => {
    for (const bucket of ['ymera-models', 'ymera-artifacts', 'ymera-backups']) {
      await store({ bucket, prefix: '' }).checkBucket();
    }
  });

  it('puts, heads and gets an object with its content type and metadata', async () => {
    const s = store();
    const body = '{"accuracy": 0.93}';
    const { etag } = await s.put('runs/r1/metrics.json', body, {
      contentType: 'application/json',
      metadata: { 'Run-Id': 'r1', stage: 'eval' },
    });
    expect(etag).toBe(md5(Buffer.from(body)));

    const info = await s.head('runs/r1/metrics.json');
    expect(info).toMatchObject({
      size: Buffer.byteLength(body),
      etag,
      contentType: 'application/json',
      metadata: { 'run-id': 'r1', stage: 'eval' },
    });
    expect(Math.abs((info?.lastModified.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
    expect((await s.get('runs/r1/metrics.json')).toString('utf8')).toBe(body);

    // overwriting replaces content and metadata
    await s.put('runs/r1/metrics.json', Buffer.from('v2'));
    expect((await s.get('runs/r1/metrics.json')).toString()).toBe('v2');
    expect((await s.head('runs/r1/metrics.json'))?.metadata).toEqual({});
  });

  it('reports a missing key: get throws NoSuchKey, head is undefined, delete succeeds', async () => {
    const s = store();
    const error = await rejection(s.get('no/such/key'));
    expect(error).toBeInstanceOf(ObjectStoreError);
    expect(error).not.toBeInstanceOf(ObjectStoreUnavailableError);
    expect(isNoSuchKey(error)).toBe(true);
    expect((error as ObjectStoreError).statusCode).toBe(404);
    expect((error as Error).message).toContain(
      `GetObject s3://ymera-artifacts/${runPrefix}/no/such/key: NoSuchKey`,
    );
    expect(await s.head('no/such/key')).toBeUndefined();
    await s.delete('no/such/key');
  });

  it('lists page by page (ListObjectsV2 continuation) in key order, keys relative to the prefix', async () => {
    const s = store().withPrefix('listing');
    // names that need encoding in the path, the query and the XML listing
    const keys = ['a', 'b/1', 'b/2', 'b/3 with space', 'c+plus', 'd&amp', 'e/ü.bin'];
    for (const key of keys) await s.put(key, key);
    const listed = await s.listAll('', { maxKeys: 2 });
    expect(listed.map((o) => o.key)).toEqual(keys);
    expect(listed.find((o) => o.key === 'c+plus')).toMatchObject({
      size: 6,
      etag: md5(Buffer.from('c+plus')),
    });
    expect(
      listed.every((o) => o.lastModified instanceof Date && !Number.isNaN(o.lastModified.getTime())),
    ).toBe(true);

    const sub = [];
    for await (const o of s.list('b/', { maxKeys: 1 })) sub.push(o.key);
    expect(sub).toEqual(['b/1', 'b/2', 'b/3 with space']);
    expect(await s.listAll('zzz')).toEqual([]);
    // the same objects seen from the parent prefix
    expect((await store().listAll('listing/b/')).map((o) => o.key)).toEqual([
      'listing/b/1',
      'listing/b/2',
      'listing/b/3 with space',
    ]);
  });

  it('deletes one object and everything under a prefix', async () => {
    const s = store().withPrefix('deleting');
    for (const key of ['keep', 'old/1', 'old/2', 'old/3/x']) await s.put(key, key);
    await s.delete('keep');
    expect(await s.head('keep')).toBeUndefined();
    expect(await s.deletePrefix('old/', { maxKeys: 2 })).toBe(3);
    expect(await s.listAll()).toEqual([]);
    expect(await s.deletePrefix('old/')).toBe(0);
    await expect(store({ prefix: '' }).deletePrefix('')).rejects.toThrow(/non-empty prefix/);
  });

  it('round-trips a 6 MiB buffer and a 13 MiB stream (multipart) with equal sha256', async () => {
    const s = store({ partSizeBytes: 5 * 1024 * 1024 });
    const big = randomBytes(6 * 1024 * 1024 + 123);
    const { etag } = await s.put('big/model.onnx', big);
    expect(etag).toBe(md5(big)); // 6 MiB + 123 B in a buffer is one PutObject
    expect(sha256(await s.get('big/model.onnx'))).toBe(sha256(big));

    const streamed = randomBytes(13 * 1024 * 1024 + 7);
    // a stream of unknown length, in odd-sized chunks
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < streamed.length; i += 777_777) yield streamed.subarray(i, i + 777_777);
      })(),
    );
    const put = await s.put('big/weights.bin', source, { contentType: 'application/octet-stream' });
    expect(put.etag).toMatch(/-3$/); // 5 MiB + 5 MiB + 3 MiB parts
    const info = await s.head('big/weights.bin');
    expect(info?.size).toBe(streamed.length);
    const hash = createHash('sha256');
    for await (const chunk of await s.getStream('big/weights.bin')) hash.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(sha256(streamed));

    // a small stream is a single PutObject
    const small = await s.put('big/small.txt', Readable.from([Buffer.from('tiny')]));
    expect(small.etag).toBe(md5(Buffer.from('tiny')));

    // MinIO takes parts sent with UNSIGNED-PAYLOAD (what backups use: they verify the bytes themselves)
    const unsigned = await s.putStream('big/unsigned.bin', Readable.from([streamed]), {
      unsignedPayload: true,
    });
    expect(unsigned.etag).toMatch(/-3$/);
    expect(sha256(await s.get('big/unsigned.bin'))).toBe(sha256(streamed));
  });

  it('streams a 128 MiB object up (multipart) and down with memory well below its size', async () => {
    const s = store({ partSizeBytes: 5 * 1024 * 1024, timeoutMs: 60_000 });
    const size = 128 * 1024 * 1024;
    const chunk = 256 * 1024;
    const upHash = createHash('sha256');
    // generated on the fly: the test itself never holds the object
    async function* generated() {
      for (let sent = 0; sent < size; sent += chunk) {
        const piece = randomBytes(chunk);
        upHash.update(piece);
        yield piece;
      }
    }
    // live memory: garbage collected before each sample, so only what the transfer holds counts
    const gc = settledGc();
    gc();
    const baseline = process.memoryUsage();
    let peak = { rss: baseline.rss, arrayBuffers: baseline.arrayBuffers };
    const sample = setInterval(() => {
      gc();
      const m = process.memoryUsage();
      peak = { rss: Math.max(peak.rss, m.rss), arrayBuffers: Math.max(peak.arrayBuffers, m.arrayBuffers) };
    }, 50);
    try {
      const { etag } = await s.putStream('stream/128mib.bin', generated(), { queueSize: 2 });
      expect(etag).toMatch(/-26$/); // 25 parts of 5 MiB and one of 3 MiB
      expect((await s.head('stream/128mib.bin'))?.size).toBe(size);
      const downHash = createHash('sha256');
      let received = 0;
      for await (const piece of await s.getStream('stream/128mib.bin', { maxBytes: size })) {
        downHash.update(piece as Buffer);
        received += (piece as Buffer).length;
      }
      expect(received).toBe(size);
      expect(downHash.digest('hex')).toBe(upHash.digest('hex'));
    } finally {
      clearInterval(sample);
    }
    const MiB = 1024 * 1024;
    const growth = {
      rssMiB: Math.round((peak.rss - baseline.rss) / MiB),
      arrayBuffersMiB: Math.round((peak.arrayBuffers - baseline.arrayBuffers) / MiB),
    };
    // a few parts of 5 MiB (queueSize in flight, one being filled, the source's buffer), whatever the
    // object's size; holding it would take 128 MiB
    expect(growth.arrayBuffersMiB, JSON.stringify(growth)).toBeLessThan(48);
    expect(growth.rssMiB, JSON.stringify(growth)).toBeLessThan(64);
  });

  // small puts skip the SDK's middleware stack (s3.ts #smallPut): the key must reach the store
  // exactly as the SDK would send it, and a put must honour budgets and aborts like every call
  it('puts small objects under keys that need escaping, read back by get and list', async () => {
    const s = store();
    const keys = [
      "odd/a b+c%d!e'f(g)h*i~j.json",
      'odd/ünïcödé/日本/x=1&y=2;z,w@v$u.txt',
      'odd/trailing space /x',
      'odd/?#[]{}|^`"<>\\.bin',
    ];
    for (const [i, key] of keys.entries()) {
      const body = `{"i":${i}}`;
      const { etag } = await s.put(key, body, { metadata: { n: String(i) } });
      expect(etag).toBe(md5(Buffer.from(body)));
      expect((await s.get(key)).toString()).toBe(body);
      expect((await s.head(key))?.metadata).toEqual({ n: String(i) });
    }
    expect((await s.listAll('odd/')).map((o) => o.key).sort()).toEqual([...keys].sort());
  });

  it('times out and aborts a small put like any call', async () => {
    const sockets: Socket[] = [];
    const hole: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const port = (hole.address() as { port: number }).port;
    try {
      const s = store({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1_000 });
      const started = Date.now();
      const error = await rejection(s.put('x', '{}'));
      expect(error).toBeInstanceOf(ObjectStoreUnavailableError);
      expect((error as ObjectStoreError).code).toBe('Timeout');
      // one 1 s budget for the call, retries included (slack for a loaded machine, and under
      // the ~4.5 s four attempts of 1 s each would take)
      expect(Date.now() - started).toBeLessThan(3_500);
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('reconcile cancelled')), 200);
      const aborted = await rejection(
        store({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 30_000 }).put('x', '{}', {
          signal: controller.signal,
        }),
      );
      expect((aborted as Error).message).toBe('reconcile cancelled');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hole.close(resolve));
    }
  });

  it('names the problem when the bucket does not exist', async () => {
    const s = store({ bucket: 'ymera-no-such-bucket' });
    for (const call of [
      () => s.get('x'),
      () => s.head('x'),
      () => s.put('x', 'y'),
      () => s.listAll(),
      () => s.delete('x'),
      () => s.checkBucket(),
    ]) {
      const error = await rejection(call());
      expect(error).toBeInstanceOf(ObjectStoreError);
      expect((error as ObjectStoreError).code).toBe('NoSuchBucket');
      expect((error as Error).message).toContain('s3://ymera-no-such-bucket/');
    }
  });

  it('rejects wrong credentials at once with ObjectStoreAccessDeniedError naming the cause', async () => {
    const wrongSecret = store({
      credentials: { ...config.credentials, secretAccessKey: 'wrong-secret-value' },
    });
    const started = Date.now();
    const e1 = await rejection(wrongSecret.get('anything'));
    expect(e1).toBeInstanceOf(ObjectStoreAccessDeniedError);
    expect((e1 as ObjectStoreError).code).toBe('SignatureDoesNotMatch');
    expect((e1 as ObjectStoreError).statusCode).toBe(403);
    expect((e1 as Error).message).toContain('denied access: SignatureDoesNotMatch');
    expect((e1 as Error).message).not.toContain('wrong-secret-value');
    expect((e1 as Error).message).not.toContain(config.credentials.secretAccessKey);

    const wrongKey = store({ credentials: { accessKeyId: 'nobody', secretAccessKey: 'whatever-1' } });
    for (const call of [() => wrongKey.put('x', 'y'), () => wrongKey.head('x'), () => wrongKey.listAll()]) {
      const e2 = await rejection(call());
      expect(e2).toBeInstanceOf(ObjectStoreAccessDeniedError);
      expect((e2 as ObjectStoreError).code).toBe('InvalidAccessKeyId');
      expect((e2 as Error).message).toContain('access key id "nobody"');
    }
    // answers are not retried: all of this took a few round trips, not backoff
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('times out against a server that accepts connections but never answers', async () => {
    const sockets: Socket[] = [];
    const hole: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const port = (hole.address() as { port: number }).port;
    try {
      const s = store({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1_000 });
      const started = Date.now();
      const error = await rejection(s.get('x'));
      const elapsed = Date.now() - started;
      expect(error).toBeInstanceOf(ObjectStoreUnavailableError);
      expect((error as ObjectStoreError).code).toBe('Timeout');
      expect((error as Error).message).toContain('did not answer within 1000ms');
      expect(elapsed).toBeGreaterThanOrEqual(950);
      expect(elapsed).toBeLessThan(3_500); // one budget, not one per attempt; slack for a loaded machine
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hole.close(resolve));
    }
  });

  it("stops at once when the caller aborts, with the caller's reason, not an ObjectStoreError", async () => {
    const sockets: Socket[] = [];
    const hole: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const port = (hole.address() as { port: number }).port;
    try {
      const s = store({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 30_000 });
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(new Error('reconcile cancelled')), 200);
      const error = await rejection(s.get('x', { signal: controller.signal }));
      expect(error).not.toBeInstanceOf(ObjectStoreError);
      expect((error as Error).message).toBe('reconcile cancelled');
      // at the abort, far before the 30 s timeout (slack for a loaded machine)
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hole.close(resolve));
    }
  });

  it('fails a download stream that stalls midway with ObjectStoreUnavailableError', async () => {
    // answers 200 with part of the body, then goes silent
    const stalled = httpServer((_req, res) => {
      res.writeHead(200, { 'content-length': '1000000', etag: '"x"' });
      res.write(Buffer.alloc(1000));
    });
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    const port = (stalled.address() as { port: number }).port;
    try {
      const s = store({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 500 });
      const stream = await s.getStream('x');
      let received = 0;
      const error = await rejection(
        (async () => {
          for await (const chunk of stream) received += (chunk as Buffer).length;
        })(),
      );
      expect(received).toBe(1000);
      expect(error).toBeInstanceOf(ObjectStoreUnavailableError);
      expect((error as ObjectStoreError).code).toBe('Timeout');
      expect((error as Error).message).toContain('no data from');
    } finally {
      stalled.closeAllConnections();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });

  it('leaves no object behind when a streamed (multipart) upload fails midway', async () => {
    const s = store({ partSizeBytes: 5 * 1024 * 1024 });
    const source = Readable.from(
      (async function* () {
        for (let i = 0; i < 3; i++) yield randomBytes(4 * 1024 * 1024);
        throw new Error('source disk went away');
      })(),
    );
    await expect(s.put('broken/upload.bin', source)).rejects.toThrow('source disk went away');
    expect(await s.head('broken/upload.bin')).toBeUndefined();
    // and the upload was aborted, not left to hold its parts (ListMultipartUploads)
    expect(await pendingUploads('ymera-artifacts', `${runPrefix}/broken/upload.bin`)).toEqual([]);
  });

  it('fails fast with ObjectStoreUnavailableError while MinIO is down, and works once it is back', async () => {
    const s = store();
    await s.put('survives/restart.txt', 'still here');
    await minioOk('down');
    try {
      // retries with backoff (~100+200+400 ms), then gives up after its 4 attempts: the budget is
      // large enough that a loaded machine cannot cut the attempts short
      const lines: string[] = [];
      const logger = createLogger({ level: 'debug', sink: { write: (line: string) => lines.push(line) } });
      const budgetMs = 20_000;
      const down = store({ timeoutMs: budgetMs, retry: { baseMs: 100, maxMs: 400 }, logger });
      const started = Date.now();
      const error = await rejection(down.get('survives/restart.txt'));
      const elapsed = Date.now() - started;
      expect(error).toBeInstanceOf(ObjectStoreUnavailableError);
      expect(isObjectStoreUnavailable(error)).toBe(true);
      expect((error as ObjectStoreError).code).toBe('ECONNREFUSED');
      expect((error as Error).message).toMatch(/unreachable: ECONNREFUSED .*\(after 4 attempts in \d+ms\)/);
      // fails fast: the attempts ended it, far within the budget
      expect(elapsed).toBeLessThan(budgetMs / 2);
      // each retry is logged, without credentials or signatures
      expect(lines.filter((l) => l.includes('retrying'))).toHaveLength(3);
      const logged = lines.join('\n');
      expect(logged).toContain('ECONNREFUSED');
      expect(logged).not.toContain(config.credentials.secretAccessKey);
      expect(logged).not.toContain('AWS4-HMAC-SHA256');

      // a circuit breaker turns a lasting outage into immediate failures
      const breaker = new CircuitBreaker({
        failureThreshold: 2,
        coolDownMs: 60_000,
        isFailure: isObjectStoreUnavailable,
      });
      const guarded = store({ timeoutMs: 1_000, retry: { maxAttempts: 1 }, breaker });
      await rejection(guarded.head('x'));
      await rejection(guarded.head('x'));
      expect(breaker.state).toBe('open');
      const open = await rejection(guarded.head('x'));
      expect(open).toBeInstanceOf(ObjectStoreUnavailableError);
      expect((open as ObjectStoreError).code).toBe('CircuitOpen');

      // a call with a long enough budget rides out the restart: it retries until MinIO answers
      const patient = store({ timeoutMs: 60_000, retry: { maxAttempts: 1000, baseMs: 200, maxMs: 500 } });
      const pending = patient.get('survives/restart.txt');
      await minioOk('up');
      expect((await pending).toString()).toBe('still here');
    } finally {
      await minioOk('up');
    }
    // and the store that saw the outage works again on its old (now dead) keep-alive connections
    expect((await s.get('survives/restart.txt')).toString()).toBe('still here');
  });
});
