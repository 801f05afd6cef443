// Server-side copies of objects larger than the copy threshold, in parts
// (CreateMultipartUpload, UploadPartCopy per range, CompleteMultipartUpload),
// against the stack's real MinIO, with the threshold and part size made small
// (5 MiB) so a 12 MiB object takes three parts: the bytes arrive whole, the
// content type and metadata carry over as with CopyObject, and a copy that
// fails midway is aborted (ListMultipartUploads shows no upload left).
// Also the sweep publication (copyS3Outputs) end to end with such settings.
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3Location } from '../../controllers/learningpipeline/artifact-access.ts';
import { copyS3Outputs } from '../../controllers/learningpipeline/artifact-store.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { DEFAULT_STORAGE_ACCESS } from '../../operator/storage/egress.ts';
import { ObjectStoreError, createObjectStore, isNoSuchKey } from '../../operator/storage/s3.ts';
import type { ObjectStore, ObjectStoreOptions } from '../../operator/storage/s3.ts';
import { s3Config, s3Secret } from './backup-fixtures.ts';
import { toYaml } from './samples.ts';
import { freshNamespace, kubectl, kubectlOk } from './support.ts';

const MiB = 1024 * 1024;
const BUCKET = 'ymera-artifacts';
/** Small enough that a 12 MiB object is a multipart copy of 5 + 5 + 2 MiB. */
const SMALL_PARTS = { copyThresholdBytes: 5 * MiB, copyPartSizeBytes: 5 * MiB } as const;
// every run works under its own prefix, so runs never see each other's objects
const runPrefix = `e2e-multipart-copy-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

const stores: ObjectStore[] = [];
function store(options: Partial<ObjectStoreOptions> = {}): ObjectStore {
  const s = createObjectStore({
    ...s3Config(),
    bucket: BUCKET,
    prefix: runPrefix,
    timeoutMs: 30_000,
    ...options,
  });
  stores.push(s);
  return s;
}

/** Keys under `prefix` with an unfinished multipart upload (ListMultipartUploads, a plain SDK client). */
async function pendingUploads(prefix: string): Promise<string[]> {
  const config = s3Config();
  const client = new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    credentials: config.credentials,
    forcePathStyle: true,
  });
  try {
    const out = await client.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `${runPrefix}/${prefix}` }),
    );
    return (out.Uploads ?? []).map((u) => u.Key ?? '');
  } finally {
    client.destroy();
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

let namespace = '';

beforeAll(async () => {
  namespace = await freshNamespace('multipart-copy');
  await kubectlOk(['apply', '-f', '-'], toYaml([s3Secret(namespace, 'artifacts-s3')]));
});

afterAll(async () => {
  if (namespace) await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  await store()
    .deletePrefix('')
    .catch(() => undefined);
  for (const s of stores) s.close();
});

describe('multipart copy on MinIO', () => {
  it('copies a 12 MiB object in three 5 MiB parts: the same bytes, type and metadata, no upload left', async () => {
    const s = store({ ...SMALL_PARTS, copyQueueSize: 2 });
    const data = randomBytes(12 * MiB);
    await s.put('big/model.bin', data, {
      contentType: 'application/x-safetensors',
      metadata: { trial: '3', 'source-run': 'r-1' },
    });
    const progress: number[] = [];
    await s.copy('big/model.bin', 'published/model.bin', {
      onProgress: (copied, total) => {
        expect(total).toBe(12 * MiB);
        progress.push(copied);
      },
    });
    expect(progress).toHaveLength(3);
    expect(progress.at(-1)).toBe(12 * MiB);
    expect(sha256(await s.get('published/model.bin', { maxBytes: 13 * MiB }))).toBe(sha256(data));
    const copied = await s.head('published/model.bin');
    // an ETag "<md5 of the parts' md5s>-3": written by a three-part upload, not one CopyObject
    expect(copied?.etag).toMatch(/-3$/);
    expect(copied).toMatchObject({
      size: 12 * MiB,
      contentType: 'application/x-safetensors',
      metadata: { trial: '3', 'source-run': 'r-1' },
    });
    expect(await pendingUploads('published/')).toEqual([]);
  });

  it('copies an object up to the threshold with one CopyObject, the size given or not', async () => {
    const s = store(SMALL_PARTS);
    const data = randomBytes(5 * MiB);
    await s.put('small/model.bin', data, { contentType: 'application/octet-stream', metadata: { a: 'b' } });
    await s.copy('small/model.bin', 'small/known-size.bin', { size: data.length });
    await s.copy('small/model.bin', 'small/asked-size.bin');
    for (const key of ['small/known-size.bin', 'small/asked-size.bin']) {
      // a single-part object's ETag is the MD5 of its bytes
      expect(await s.head(key)).toMatchObject({ etag: md5(data), size: data.length, metadata: { a: 'b' } });
    }
  });

  it('aborts the upload when the source is deleted midway: NoSuchKey, no destination, no upload left', async () => {
    // one part at a time, so the source is gone before the second part is asked for
    const s = store({ ...SMALL_PARTS, copyQueueSize: 1 });
    await s.put('vanishing/model.bin', randomBytes(12 * MiB));
    let parts = 0;
    const error = await rejection(
      s.copy('vanishing/model.bin', 'vanishing-copy/model.bin', {
        onProgress: async () => {
          parts++;
          await s.delete('vanishing/model.bin');
        },
      }),
    );
    expect(parts).toBe(1);
    expect(isNoSuchKey(error), String(error)).toBe(true);
    expect(await s.head('vanishing-copy/model.bin')).toBeUndefined();
    expect(await pendingUploads('vanishing-copy/')).toEqual([]);
  });

  it('aborts the upload when the source is replaced midway: PreconditionFailed, never a mix of two versions', async () => {
    const s = store({ ...SMALL_PARTS, copyQueueSize: 1 });
    await s.put('replaced/model.bin', randomBytes(12 * MiB));
    const error = await rejection(
      s.copy('replaced/model.bin', 'replaced-copy/model.bin', {
        onProgress: async () => {
          await s.put('replaced/model.bin', randomBytes(12 * MiB));
        },
      }),
    );
    expect(error).toBeInstanceOf(ObjectStoreError);
    expect((error as ObjectStoreError).code, String(error)).toBe('PreconditionFailed');
    expect(await s.head('replaced-copy/model.bin')).toBeUndefined();
    expect(await pendingUploads('replaced-copy/')).toEqual([]);
  });
});

describe('sweep publication with multipart copies', () => {
  const location = (): S3Location => ({
    endpoint: s3Config().endpoint,
    bucket: BUCKET,
    forcePathStyle: true,
    credentialsSecret: { name: 'artifacts-s3' },
  });

  it("copies a trial's output larger than the threshold to the declared path, byte for byte", async () => {
    const s = store();
    const model = randomBytes(12 * MiB);
    const metrics = Buffer.from('{"val_auc":0.91}');
    await s.put('run-1/trials/train-2/train/model.bin', model);
    await s.put('run-1/trials/train-2/train/metrics.json', metrics);
    const client = KubeClient.fromEnvironment();
    const result = await copyS3Outputs(
      client,
      namespace,
      location(),
      {
        fromRoot: `${runPrefix}/run-1/trials/train-2`,
        toRoot: `${runPrefix}/run-1`,
        paths: ['train'],
      },
      DEFAULT_STORAGE_ACCESS,
      SMALL_PARTS,
    );
    expect(result).toEqual({ copied: 2 });
    expect(sha256(await s.get('run-1/train/model.bin', { maxBytes: 13 * MiB }))).toBe(sha256(model));
    expect((await s.head('run-1/train/model.bin'))?.etag).toMatch(/-3$/);
    expect(await s.get('run-1/train/metrics.json')).toEqual(metrics);
    expect(await pendingUploads('run-1/')).toEqual([]);
  });
});
