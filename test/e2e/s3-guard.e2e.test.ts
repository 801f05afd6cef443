// Object storage is not a confused deputy (issue 12), against the real MinIO
// and the local cluster:
// - a GET body is capped while it streams: an object larger than the cap is
//   aborted even though MinIO serves it whole, and a body without
//   Content-Length is cut off too;
// - the connection guard judges the address a name resolves to (the agent's
//   lookup): a name resolving to MinIO works, one resolving to a link-local
//   address is refused before any connection;
// - the operator lends its own credentials only to endpoints the admin lists:
//   a pipeline without credentialsSecret pointing at another endpoint (a
//   recording server on 127.0.0.1) gets a message naming the field, and the
//   server never sees a request; a listed endpoint (MinIO) works;
// - the operator's read of a metrics artifact is capped by --s3-max-read-bytes;
// - a link-local endpoint is refused with the reason;
// - a credentialsSecret cannot name another namespace, and no secret value
//   reaches logs, events or status.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import { ObjectStoreError, createObjectStore } from '../../operator/storage/s3.ts';
import type { ObjectStore, ObjectStoreOptions } from '../../operator/storage/s3.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventsAbout,
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  startOperator,
} from './support.ts';

const endpoint = process.env.YMERA_S3_ENDPOINT ?? 'http://127.0.0.1:9000';
const accessKeyId = process.env.YMERA_S3_ACCESS_KEY ?? '';
const secretAccessKey = process.env.YMERA_S3_SECRET_KEY ?? '';
const credentials = { accessKeyId, secretAccessKey };
const bucket = 'ymera-artifacts';
const runPrefix = `e2e-guard-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const stores: ObjectStore[] = [];

function store(options: Partial<ObjectStoreOptions> = {}): ObjectStore {
  const s = createObjectStore({
    endpoint,
    bucket,
    credentials,
    prefix: runPrefix,
    timeoutMs: 10_000,
    ...options,
  });
  stores.push(s);
  return s;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

beforeAll(() => {
  if (!accessKeyId) throw new Error('YMERA_S3_ACCESS_KEY is not set: the e2e stack provides MinIO');
});

afterAll(async () => {
  await store()
    .deletePrefix('')
    .catch(() => undefined);
  for (const s of stores) s.close();
});

describe('object store client: body cap and connection guard', () => {
  it('aborts a GET of an object larger than the cap, though MinIO serves it whole', async () => {
    const s = store();
    const body = randomBytes(256 * 1024);
    await s.put('cap/big.bin', body);
    const error = await rejection(s.get('cap/big.bin', { maxBytes: 64 * 1024 }));
    expect(error).toBeInstanceOf(ObjectStoreError);
    expect(error).toMatchObject({
      code: 'ObjectTooLarge',
      message:
        `GetObject s3://${bucket}/${runPrefix}/cap/big.bin: the object is larger than the cap of 65536 bytes; ` +
        'the transfer was aborted',
    });
    // the store-wide cap, and the stream, fail the same way
    const capped = store({ maxGetBytes: 1000 });
    expect(await rejection(capped.get('cap/big.bin'))).toMatchObject({ code: 'ObjectTooLarge' });
    const stream = await capped.getStream('cap/big.bin');
    expect(
      await rejection(
        (async () => {
          for await (const _chunk of stream) {
            // read until the guard fails the stream
          }
        })(),
      ),
    ).toMatchObject({ code: 'ObjectTooLarge', message: expect.stringContaining('cap of 1000 bytes') });
    // exactly the cap is fine
    expect((await s.get('cap/big.bin', { maxBytes: body.length })).equals(body)).toBe(true);
  });

  it('aborts a small object that arrives whole in one chunk, and the store goes on working', async () => {
    // the response is complete before its bytes are counted: aborting must not crash the process
    const s = store();
    await s.put('cap/small.json', '{"auc":0.97}' + ' '.repeat(2000));
    for (let i = 0; i < 3; i++) {
      expect(await rejection(s.get('cap/small.json', { maxBytes: 1024 }))).toMatchObject({
        code: 'ObjectTooLarge',
      });
    }
    expect((await s.get('cap/small.json')).length).toBe(2012);
  });

  it('caps a body sent without Content-Length (an object, a listing), and aborts the transfer', async () => {
    // a server that streams chunked data forever: only counting the bytes can stop it
    let closed = false;
    let sent = 0;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(16 * 1024, 1);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => (closed = true));
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const s = store({ endpoint: `http://127.0.0.1:${port}`, prefix: '' });
      const error = await rejection(s.get('endless', { maxBytes: 100_000 }));
      expect(error).toMatchObject({
        code: 'ObjectTooLarge',
        message: `GetObject s3://${bucket}/endless: the object is larger than the cap of 100000 bytes; the transfer was aborted`,
      });
      await eventually('the server to see the connection closed', async () => closed || undefined, 10_000);
      expect(sent).toBeLessThan(10 * 1024 * 1024);

      // a listing (parsed by the SDK, not read by us) is capped the same way, before the parser sees it
      closed = false;
      const lister = store({ endpoint: `http://127.0.0.1:${port}`, prefix: '', maxGetBytes: 100_000 });
      expect(await rejection(lister.listAll())).toMatchObject({
        code: 'ObjectTooLarge',
        message: `ListObjectsV2 s3://${bucket}/: the response is larger than the cap of 100000 bytes; the transfer was aborted`,
      });
      await eventually('the server to see the listing closed', async () => closed || undefined, 10_000);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('judges the address a name resolves to when connecting: MinIO by name works, link-local is refused', async () => {
    const port = new URL(endpoint).port;
    const resolvingTo =
      (address: string): ObjectStoreOptions['lookup'] =>
      (_hostname, _options, callback) =>
        callback(null, [{ address, family: 4 }]);
    const good = store({ endpoint: `http://minio.guard.test:${port}`, lookup: resolvingTo('127.0.0.1') });
    await good.put('guard/ok.txt', 'hello');
    expect((await good.get('guard/ok.txt')).toString()).toBe('hello');

    const rebound = store({
      endpoint: `http://minio.guard.test:${port}`,
      lookup: resolvingTo('169.254.169.254'),
    });
    expect(await rejection(rebound.get('guard/ok.txt'))).toMatchObject({
      code: 'EndpointRefused',
      message: expect.stringContaining(
        'minio.guard.test resolves to 169.254.169.254: 169.254.169.254 is a link-local address (169.254.0.0/16)',
      ),
    });
  });
});

// --- the operator ------------------------------------------------------------------------

interface Pipeline {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    runs?: Array<{ id: string; phase: string; steps?: Array<{ name: string; phase: string }> }>;
    conditions?: Condition[];
    latestModel?: {
      version: string;
      metrics?: Record<string, number>;
      gate?: { passed: boolean; message?: string };
    };
  };
}

const unique = randomUUID().slice(0, 8);
let ns: string;
let op: OperatorProcess | undefined;
let recorder: Server | undefined;
let recorderUrl: string;
const recorded: Array<{
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
}> = [];

const getPipeline = (name: string) =>
  getJson<Pipeline>(['get', '-n', ns, `learningpipeline.ymera.io/${name}`]);

/** One step that writes the model and the metrics; the operator reads the metrics from S3 (no termination message). */
function pipeline(name: string, s3: Record<string, unknown>, delay = '1s') {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'LearningPipeline',
    metadata: { name, namespace: ns },
    spec: {
      artifacts: { s3: { bucket, prefix: `${runPrefix}/${name}`, forcePathStyle: true, ...s3 } },
      steps: [
        {
          name: 'train',
          image: 'busybox',
          podAnnotations: { 'ymera.io/simulate-delay': delay },
          outputs: [
            { name: 'model', path: 'model.onnx' },
            { name: 'metrics', path: 'metrics.json' },
          ],
        },
      ],
      model: { name: 'guarded', outputArtifact: 'model' },
      promotion: {
        target: 'nowhere',
        policy: 'Manual',
        gate: { metricsArtifact: 'metrics', metric: 'auc', min: 0.9 },
      },
    },
  };
}

async function registered(name: string): Promise<Pipeline> {
  try {
    return await eventually(
      `the model of ${name} to be registered`,
      async () => {
        const p = await getPipeline(name);
        return p?.status?.latestModel ? p : undefined;
      },
      120_000,
    );
  } catch (e) {
    const status = JSON.stringify((await getPipeline(name))?.status);
    throw new Error(`${(e as Error).message}; status ${status}; operator log ${op?.logs().slice(-3000)}`);
  }
}

/** Waits for the run's step to be running and writes its metrics artifact, as the step would. */
async function writeMetrics(name: string, body: string): Promise<void> {
  const run = await eventually(`the step of ${name} to run`, async () => {
    const r = (await getPipeline(name))?.status?.runs?.[0];
    return r?.steps?.[0]?.phase === 'Running' ? r : undefined;
  });
  await store({ prefix: '' }).put(`${runPrefix}/${name}/${run.id}/metrics.json`, body);
}

describe('operator: whose credentials go where', () => {
  beforeAll(async () => {
    ns = await freshNamespace('e2e-s3guard');
    // a stand-in S3 server that records what reaches it (and would hand out passing metrics)
    recorder = createServer((req, res) => {
      recorded.push({ method: req.method, url: req.url, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"auc":0.99}');
    });
    await new Promise<void>((resolve) => recorder?.listen(0, '127.0.0.1', resolve));
    recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'artifacts-s3', namespace: ns },
          stringData: { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey },
        },
      ]),
    );
    // the operator's ambient credentials, in both spellings it reads
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, key: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = secretAccessKey;
    try {
      op = await startOperator(`op-s3guard-${unique}`, [
        `--watch-namespaces=${ns}`,
        `--s3-ambient-credentials-endpoints=${new URL(endpoint).origin}`,
        '--s3-max-read-bytes=1024',
      ]);
    } finally {
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.key === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.key;
    }
  });

  afterAll(async () => {
    if (ns) await kubectl(['delete', 'learningpipelines', '--all', '-n', ns, '--wait=true', '--timeout=60s']);
    await op?.stop();
    recorder?.closeAllConnections();
    await new Promise((resolve) => (recorder ? recorder.close(resolve) : resolve(undefined)));
  });

  it('never sends its own credentials to an endpoint the admin did not list', async () => {
    const name = 'elsewhere';
    await kubectlOk(['apply', '-f', '-'], toYaml([pipeline(name, { endpoint: recorderUrl })]));
    const p = await registered(name);
    expect(p.status?.latestModel?.gate).toEqual({
      passed: false,
      message:
        `no metrics: metrics: spec.artifacts.s3.credentialsSecret is not set, and ${recorderUrl} is not an ` +
        'endpoint where the operator may use its own credentials (allowed by the cluster admin through ' +
        `--s3-ambient-credentials-endpoints: only ${new URL(endpoint).origin}); set ` +
        `spec.artifacts.s3.credentialsSecret to a Secret in namespace ${ns} with the keys AWS_ACCESS_KEY_ID ` +
        'and AWS_SECRET_ACCESS_KEY',
    });
    const promoted = p.status?.conditions?.find((c) => c.type === 'Promoted');
    expect(promoted).toMatchObject({ status: 'False', reason: 'GateFailed' });
    expect(promoted?.message).toContain('spec.artifacts.s3.credentialsSecret is not set');
    // the read was decided before status was written: nothing reached the server, least of all the key
    expect(recorded).toEqual([]);
  });

  it('uses its own credentials at a listed endpoint', async () => {
    const name = 'listed';
    await kubectlOk(['apply', '-f', '-'], toYaml([pipeline(name, { endpoint }, '8s')]));
    await writeMetrics(name, '{"auc":0.97}');
    const p = await registered(name);
    expect(p.status?.latestModel).toMatchObject({ metrics: { auc: 0.97 }, gate: { passed: true } });
  });

  it('aborts reading a metrics artifact larger than --s3-max-read-bytes, naming object and cap', async () => {
    const name = 'too-large';
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([pipeline(name, { endpoint, credentialsSecret: { name: 'artifacts-s3' } }, '8s')]),
    );
    // valid metrics, padded past the cap (the gate itself would accept up to 4096 bytes)
    await writeMetrics(name, '{"auc":0.97}' + ' '.repeat(2000));
    const p = await registered(name);
    const run = p.status?.runs?.[0]?.id ?? '';
    expect(p.status?.latestModel?.gate).toEqual({
      passed: false,
      message:
        `no metrics: metrics: s3://${bucket}/${runPrefix}/${name}/${run}/metrics.json is larger than 1024 bytes, ` +
        'the most the operator reads of it (--s3-max-read-bytes); the read was aborted',
    });
  });

  it('refuses a link-local endpoint, with the reason', async () => {
    const name = 'metadata';
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        pipeline(name, { endpoint: 'http://169.254.169.254', credentialsSecret: { name: 'artifacts-s3' } }),
      ]),
    );
    const p = await registered(name);
    expect(p.status?.latestModel?.gate?.message).toMatch(
      /^no metrics: metrics: spec\.artifacts\.s3\.endpoint http:\/\/169\.254\.169\.254 is refused: GetObject .*: refusing to connect to http:\/\/169\.254\.169\.254: 169\.254\.169\.254 is a link-local address \(169\.254\.0\.0\/16\), where cloud metadata services answer/,
    );
  });

  it("reads credentialsSecret only from the pipeline's namespace", async () => {
    const bad = pipeline('other-namespace', {
      endpoint,
      credentialsSecret: { name: 'artifacts-s3', namespace: 'kube-system' },
    });
    const res = await kubectl(['apply', '-f', '-'], toYaml([bad]));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/unknown field "spec\.artifacts\.s3\.credentialsSecret\.namespace"/);
  });

  it('puts no secret key into logs, events or status', async () => {
    const pipelines = await kubectlOk(['get', 'learningpipelines', '-n', ns, '-o', 'json']);
    const events = JSON.stringify(
      await Promise.all(['elsewhere', 'listed', 'too-large', 'metadata'].map((n) => eventsAbout(ns, n))),
    );
    for (const [what, text] of [
      ['status', pipelines],
      ['events', events],
      ['logs', op?.logs() ?? ''],
    ] as const) {
      expect(text.includes(secretAccessKey), what).toBe(false);
    }
  });
});
