import { describe, expect, it } from 'vitest';
import {
  createLogger,
  isSecretKey,
  Logger,
  redact,
  REDACTED,
  redactString,
  serializeError,
} from './logger.ts';
import type { LoggerOptions } from './logger.ts';

function capture(options: Omit<LoggerOptions, 'sink'> = {}) {
  const chunks: string[] = [];
  const logger = createLogger({
    now: () => new Date('2025-03-04T05:06:07.890Z'),
    ...options,
    sink: { write: (chunk: string) => chunks.push(chunk) },
  });
  const lines = () => chunks.map((c) => JSON.parse(c) as Record<string, unknown>);
  return { logger, chunks, lines };
}

describe('Logger', () => {
  it('writes one JSON object per line with time, level, logger, msg and fields', () => {
    const { logger, chunks, lines } = capture({ name: 'operator' });
    logger.info('started', { version: '0.1.0' });
    logger.warn('slow');
    expect(chunks).toHaveLength(2);
    expect(chunks.every((c) => c.endsWith('\n') && !c.slice(0, -1).includes('\n'))).toBe(true);
    expect(lines()).toEqual([
      {
        time: '2025-03-04T05:06:07.890Z',
        level: 'info',
        logger: 'operator',
        msg: 'started',
        version: '0.1.0',
      },
      { time: '2025-03-04T05:06:07.890Z', level: 'warn', logger: 'operator', msg: 'slow' },
    ]);
    expect(Object.keys(lines()[0] ?? {}).slice(0, 4)).toEqual(['time', 'level', 'logger', 'msg']);
  });

  it('filters below the configured level, and setLevel applies to children', () => {
    const { logger, lines } = capture({ level: 'warn' });
    const child = logger.child({ controller: 'inferenceservice' });
    logger.debug('d');
    logger.info('i');
    child.info('i2');
    logger.warn('w');
    logger.error('e');
    expect(lines().map((l) => l.msg)).toEqual(['w', 'e']);
    logger.setLevel('debug');
    child.debug('now visible');
    expect(child.isEnabled('debug')).toBe(true);
    expect(lines().map((l) => l.msg)).toEqual(['w', 'e', 'now visible']);
  });

  it('child loggers bind fields, merged with call fields; named() extends the logger name', () => {
    const { logger, lines } = capture({ name: 'ymera', fields: { pod: 'op-1' } });
    const ctl = logger.named('controller').child({ controller: 'backuppolicy' });
    const rec = ctl.child({ key: 'ml/nightly' });
    rec.info('reconciled', { durationMs: 12 });
    logger.info('root');
    expect(lines()).toEqual([
      expect.objectContaining({
        logger: 'ymera.controller',
        pod: 'op-1',
        controller: 'backuppolicy',
        key: 'ml/nightly',
        durationMs: 12,
      }),
      { time: expect.any(String), level: 'info', logger: 'ymera', msg: 'root', pod: 'op-1' },
    ]);
  });

  it('serialises errors with message and stack, passed directly or as a field', () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error('conflict', { cause: new Error('etcd') }), { statusCode: 409 });
    logger.error('apply failed', err);
    logger.error('apply failed', { err, attempt: 2 });
    const [direct, field] = lines();
    expect(direct?.err).toMatchObject({
      name: 'Error',
      message: 'conflict',
      statusCode: 409,
      stack: expect.stringContaining('conflict'),
      cause: { message: 'etcd' },
    });
    expect(field?.err).toEqual(direct?.err);
    expect(field?.attempt).toBe(2);
  });

  it('does not let fields overwrite the envelope', () => {
    const { logger, lines } = capture();
    logger.info('real', { msg: 'fake', level: 'error', time: 'x' });
    expect(lines()[0]).toMatchObject({
      msg: 'real',
      level: 'info',
      'field.msg': 'fake',
      'field.level': 'error',
    });
  });

  it('never prints secret material', () => {
    const { logger, chunks } = capture();
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 's3-creds',
        annotations: {
          'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"AWS_KEY":"c2VjcmV0"}}',
        },
      },
      data: { AWS_ACCESS_KEY_ID: 'QUtJQTEyMw==', AWS_SECRET_ACCESS_KEY: 'aHVudGVyMg==' },
      stringData: { config: 'password=hunter2' },
    };
    logger.child({ token: 'tok-123' }).info('applied', {
      object: secret,
      headers: { Authorization: 'Bearer abc.def' },
      nested: [{ deep: { dbPassword: 'hunter2', privateKey: '-----BEGIN' } }],
      raw: Buffer.from('hunter2'),
      note: 'request failed: Authorization: Bearer abc.def',
      uri: 'https://bob:s3cret@models.example/m.onnx',
    });
    const out = chunks.join('');
    for (const leaked of [
      'tok-123',
      'QUtJQTEyMw==',
      'aHVudGVyMg==',
      'hunter2',
      'abc.def',
      'BEGIN',
      'c2VjcmV0',
      's3cret',
    ]) {
      expect(out).not.toContain(leaked);
    }
    const line = JSON.parse(out) as { object: typeof secret; note: string; raw: unknown };
    expect(line.raw).toBe('[binary 7 bytes]');
    expect(line.object.data).toEqual({ AWS_ACCESS_KEY_ID: REDACTED, AWS_SECRET_ACCESS_KEY: REDACTED });
    expect(line.object.metadata.name).toBe('s3-creds');
    expect(line.note).toBe(`request failed: Authorization: Bearer ${REDACTED}`);
  });

  it('survives a throwing sink', () => {
    const logger = new Logger({
      sink: {
        write: () => {
          throw new Error('EPIPE');
        },
      },
    });
    expect(() => logger.error('x')).not.toThrow();
  });
});

describe('redactString', () => {
  it('drops user and password of every URL, and nothing else', () => {
    expect(redactString('s3://AKIA:xyz@minio:9000/b and http://u@h/p, a@b.c')).toBe(
      's3://***@minio:9000/b and http://***@h/p, a@b.c',
    );
  });
});

describe('redact', () => {
  it('matches secret-looking keys but not the work-queue key', () => {
    for (const k of [
      'token',
      'bearerToken',
      'password',
      'clientSecret',
      'Authorization',
      'credentials',
      'apiKey',
      'accessKey',
      'sshkey',
    ]) {
      expect(isSecretKey(k), k).toBe(true);
    }
    for (const k of ['key', 'name', 'namespace', 'keys', 'keyFile']) {
      expect(isSecretKey(k), k).toBe(false);
    }
  });

  it('hides values under secret-looking keys at any depth, references included (over-redacting is safe)', () => {
    const env = { name: 'PASS', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } };
    expect(redact({ env: [env] })).toEqual({
      env: [{ name: 'PASS', valueFrom: { secretKeyRef: REDACTED } }],
    });
    expect(redact({ a: { b: { c: { apiToken: 'x' } } } })).toEqual({
      a: { b: { c: { apiToken: REDACTED } } },
    });
  });

  it('handles cycles, depth, dates, bigints, maps and non-object Secret data', () => {
    const cyc: Record<string, unknown> = { name: 'a' };
    cyc.self = cyc;
    expect(redact(cyc)).toEqual({ name: 'a', self: '[Circular]' });
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 20; i++) deep = { d: deep };
    expect(JSON.stringify(redact(deep))).toContain('[Truncated]');
    expect(redact({ at: new Date('2025-01-01T00:00:00Z'), n: 10n })).toEqual({
      at: '2025-01-01T00:00:00.000Z',
      n: '10',
    });
    expect(redact(new Map([['password', 'x']]))).toEqual({ password: REDACTED });
    expect(redact({ kind: 'Secret', data: 'opaque' })).toEqual({ kind: 'Secret', data: REDACTED });
    // Shared (non-cyclic) references are printed each time.
    const shared = { v: 1 };
    expect(redact({ a: shared, b: shared })).toEqual({ a: { v: 1 }, b: { v: 1 } });
  });

  it('serializeError copies own fields such as a status code', () => {
    const e = Object.assign(new TypeError('bad'), { code: 'E_BAD' });
    expect(serializeError(e)).toMatchObject({ name: 'TypeError', message: 'bad', code: 'E_BAD' });
  });
});
