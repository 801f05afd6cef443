// The backup format against the real MinIO (test/e2e/stack/minio.sh): an
// encrypted backup of a few objects and a 32 MiB model written, listed, read
// back and verified (and a 128 MiB one with bounded memory); then what a restorer must refuse
// (a flipped byte, a missing item, an edited manifest, a wrong key, a backup
// in clear where encryption is required) and a backup without its manifest,
// which must never list as Completed.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanObject } from '../../controllers/backuppolicy/clean.ts';
import { Keyring, deriveKeys, keyIdOf, macOf, unwrapDataKey } from '../../controllers/backuppolicy/crypto.ts';
import {
  backupPrefix,
  manifestMacInput,
  parseManifest,
  serializeManifest,
} from '../../controllers/backuppolicy/format.ts';
import type { PolicyRef } from '../../controllers/backuppolicy/format.ts';
import { listBackups, readAndVerify, writeBackup } from '../../controllers/backuppolicy/store.ts';
import type { ItemInput, VerifiedBackup, VerifyResult } from '../../controllers/backuppolicy/store.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { createObjectStore, objectStoreConfigFromEnv } from '../../operator/storage/s3.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import { settledGc } from './live-memory.ts';

const MiB = 1024 * 1024;
const MODEL_BYTES = 32 * MiB;
const runPrefix = `e2e-backup-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const policy: PolicyRef = {
  namespace: 'team-a',
  name: 'nightly',
  uid: '8f1c0a7e-0000-4000-8000-00000000b001',
};

let store: ObjectStore;
const kekOld = randomBytes(32);
const kekNew = randomBytes(32);
const ring = new Keyring([kekOld]);

const objects: KubeObject[] = [
  {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: {
      name: 'iris',
      namespace: 'team-a',
      uid: 'u1',
      resourceVersion: '42',
      generation: 2,
      managedFields: [{ manager: 'kubectl' }],
      labels: { app: 'iris' },
    },
    spec: { model: { uri: 's3://ymera-models/iris.onnx' } },
    status: { phase: 'Ready' },
  },
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'iris-config', namespace: 'team-a', uid: 'u2' },
    data: { threshold: '0.5' },
  },
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'iris-token', namespace: 'team-a', uid: 'u3' },
    type: 'Opaque',
    data: { token: Buffer.from('s3cr3t').toString('base64') },
  },
];

/** A model generated on the fly, never held whole; its sha256 computed as it goes. */
function generatedModel(bytes: number, hash: ReturnType<typeof createHash>): AsyncGenerator<Uint8Array> {
  return (async function* () {
    const chunk = 256 * 1024;
    for (let sent = 0; sent < bytes; sent += chunk) {
      const piece = randomBytes(Math.min(chunk, bytes - sent));
      hash.update(piece);
      yield piece;
    }
  })();
}

function itemsWith(model: AsyncIterable<Uint8Array> | Uint8Array, modelDigest?: string): ItemInput[] {
  return [
    { type: 'resource', object: objects[0] as KubeObject, ...(modelDigest ? { modelDigest } : {}) },
    { type: 'resource', object: objects[1] as KubeObject },
    { type: 'resource', object: objects[2] as KubeObject },
    { type: 'model', source: 's3://ymera-models/iris.onnx', body: model },
  ];
}

function verified(result: VerifyResult): VerifiedBackup {
  if (!result.ok)
    throw new Error(`expected a verified backup, got ${result.error.reason}: ${result.error.message}`);
  return result.backup;
}

function refused(result: VerifyResult) {
  if (result.ok) throw new Error('expected the backup to be refused');
  return result.error;
}

/** The garbage collector, exposed at run time (vitest's workers start without --expose-gc). */
/** A small backup (a 100 KiB model), for the refusal tests; encrypted with `keyring` unless null. */
async function smallBackup(keyring: Keyring | null = ring) {
  return writeBackup(store, policy, itemsWith(randomBytes(100 * 1024)), { keyring: keyring ?? undefined });
}

beforeAll(() => {
  const config = objectStoreConfigFromEnv(process.env);
  if (!config) throw new Error('YMERA_S3_ENDPOINT is not set (the e2e global setup sets it)');
  store = createObjectStore({
    ...config,
    bucket: 'ymera-backups',
    prefix: runPrefix,
    timeoutMs: 30_000,
    partSizeBytes: 5 * MiB,
    uploadQueueSize: 1,
  });
});

afterAll(async () => {
  if (!store) return;
  await store.deletePrefix('').catch(() => undefined);
  store.close();
});

describe('backup store on MinIO', () => {
  it('writes an encrypted backup with a 32 MiB model, lists it, and reads it back verified', async () => {
    const upHash = createHash('sha256');
    const written = await writeBackup(store, policy, itemsWith(generatedModel(MODEL_BYTES, upHash)), {
      keyring: ring,
    });
    const backup = verified(await readAndVerify(store, policy, written.backupId, { keyring: ring }));
    const model = backup.items[3];
    expect(model?.body).toBeUndefined(); // too big to be kept in memory: streamed again, verified
    const downHash = createHash('sha256');
    let received = 0;
    for await (const piece of model?.open() ?? []) {
      downHash.update(piece as Buffer);
      received += (piece as Buffer).length;
    }
    const modelSha = upHash.digest('hex');
    expect(received).toBe(MODEL_BYTES);
    expect(downHash.digest('hex')).toBe(modelSha);

    // the manifest says what was written, encrypted with the key's id
    const m = written.manifest;
    expect(m.encryption?.keyId).toBe(keyIdOf(kekOld));
    expect(m.counts).toMatchObject({ items: 4, resources: 3, models: 1 });
    expect(m.items[3]).toMatchObject({
      type: 'model',
      modelDigest: `sha256:${modelSha}`,
      plaintextSize: MODEL_BYTES,
    });
    expect(m.items.map((i) => i.key)).toEqual([
      'items/000001.bin',
      'items/000002.bin',
      'items/000003.bin',
      'items/000004.bin',
    ]);

    // stored encrypted: the Secret's value and name are not in the bucket in clear
    const storedSecret = await store.get(`${backupPrefix(policy, written.backupId)}items/000003.bin`);
    expect(storedSecret.includes(Buffer.from('czNjcjN0'))).toBe(false);
    expect(storedSecret.includes(Buffer.from('iris-token'))).toBe(false);

    // the objects come back clean and equal to what was backed up
    const restored = backup.items.slice(0, 3).map((i) => JSON.parse(i.body?.toString('utf8') ?? 'null'));
    expect(restored).toEqual(objects.map((o) => cleanObject(o)));
    expect(restored[0].metadata.uid).toBeUndefined();
    expect(restored[0].status).toBeUndefined();

    // listed from the bucket alone, as Completed with its manifest's hash
    const listed = (await listBackups(store, policy)).find((b) => b.id === written.backupId);
    expect(listed).toMatchObject({ state: 'Completed', manifestSha256: written.manifestSha256 });
    expect(listed?.storedObjects).toBe(5);
    expect(listed?.storedBytes).toBeGreaterThan(MODEL_BYTES);
  });

  it('writes, verifies and reads back a 128 MiB model with memory well below its size', async () => {
    const size = 128 * MiB;
    const upHash = createHash('sha256');
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
    const downHash = createHash('sha256');
    try {
      const model: ItemInput = {
        type: 'model',
        source: 's3://ymera-models/big.onnx',
        body: generatedModel(size, upHash),
      };
      const { backupId } = await writeBackup(store, policy, [model], { keyring: ring });
      const backup = verified(await readAndVerify(store, policy, backupId, { keyring: ring }));
      for await (const piece of backup.items[0]?.open() ?? []) downHash.update(piece as Buffer);
    } finally {
      clearInterval(sample);
    }
    expect(downHash.digest('hex')).toBe(upHash.digest('hex'));
    const growth = {
      rssMiB: Math.round((peak.rss - baseline.rss) / MiB),
      arrayBuffersMiB: Math.round((peak.arrayBuffers - baseline.arrayBuffers) / MiB),
    };
    // parts of 5 MiB (one in flight, one being filled), a few 1 MiB frames and stream buffers,
    // whatever the model's size (the same bound as s3.e2e's 128 MiB stream); holding the model or
    // its ciphertext would take 128 MiB or more
    expect(growth.arrayBuffersMiB, JSON.stringify(growth)).toBeLessThan(48);
    expect(growth.rssMiB, JSON.stringify(growth)).toBeLessThan(96);
  });

  it('refuses a backup with one flipped byte in an item, naming the item', async () => {
    const { backupId } = await smallBackup();
    const key = `${backupPrefix(policy, backupId)}items/000002.bin`;
    const bytes = await store.get(key);
    bytes[30] = (bytes[30] ?? 0) ^ 0x01;
    await store.put(key, bytes);
    const error = refused(await readAndVerify(store, policy, backupId, { keyring: ring }));
    expect(error.reason).toBe('Corrupted');
    expect(error.item).toBe('items/000002.bin');
    expect(error.message).toBe(
      'item items/000002.bin (ConfigMap team-a/iris-config): sha256 mismatch (the stored bytes are not those written)',
    );
  });

  it('refuses a backup whose model item was flipped, naming it', async () => {
    const { backupId } = await smallBackup();
    const key = `${backupPrefix(policy, backupId)}items/000004.bin`;
    const bytes = await store.get(key);
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0x80;
    await store.put(key, bytes);
    const error = refused(await readAndVerify(store, policy, backupId, { keyring: ring }));
    expect(error.reason).toBe('Corrupted');
    expect(error.message).toContain(
      'item items/000004.bin (model s3://ymera-models/iris.onnx): sha256 mismatch',
    );
  });

  it('refuses a backup with a missing item, and one whose manifest was edited', async () => {
    const a = await smallBackup();
    await store.delete(`${backupPrefix(policy, a.backupId)}items/000001.bin`);
    const missing = refused(await readAndVerify(store, policy, a.backupId, { keyring: ring }));
    expect(missing.reason).toBe('Missing');
    expect(missing.message).toBe(
      'item items/000001.bin (InferenceService team-a/iris) is missing from the store',
    );

    // an attacker drops an item from the manifest and fixes its counts: the MAC catches it
    const b = await smallBackup();
    const key = `${backupPrefix(policy, b.backupId)}manifest.json`;
    const manifest = parseManifest(await store.get(key));
    const items = manifest.items.filter((i) => i.key !== 'items/000003.bin');
    const storedBytes = items.reduce((n, i) => n + i.size, 0);
    const plaintextBytes = items.reduce((n, i) => n + i.plaintextSize, 0);
    const forged = {
      ...manifest,
      items,
      counts: { ...manifest.counts, items: 3, resources: 2, storedBytes, plaintextBytes },
    };
    await store.put(key, serializeManifest(forged));
    const tampered = refused(await readAndVerify(store, policy, b.backupId, { keyring: ring }));
    expect(tampered.reason).toBe('Tampered');
    expect(tampered.message).toContain('manifest.json was altered');
  });

  it('refuses an item whose bytes match a re-signed manifest but not their GCM tags, as Tampered', async () => {
    // only a holder of the key can re-sign the manifest: the frames' tags are the last line
    // a model of several frames, altered in its first: the rest must still be read and hashed
    const { backupId } = await writeBackup(store, policy, itemsWith(randomBytes(3 * MiB)), { keyring: ring });
    const dir = backupPrefix(policy, backupId);
    const bytes = await store.get(`${dir}items/000004.bin`);
    bytes[100] = (bytes[100] ?? 0) ^ 0x01;
    await store.put(`${dir}items/000004.bin`, bytes);
    const manifest = parseManifest(await store.get(`${dir}manifest.json`));
    const e = manifest.encryption;
    if (!e) throw new Error('expected an encrypted backup');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const unsigned = {
      ...manifest,
      items: manifest.items.map((i) => (i.key === 'items/000004.bin' ? { ...i, sha256 } : i)),
      encryption: { ...e, manifestMac: '' },
    };
    const keys = deriveKeys(unwrapDataKey(e.wrappedDataKey, e.keyId, ring, backupId));
    const forged = {
      ...unsigned,
      encryption: { ...e, manifestMac: macOf(keys, manifestMacInput(unsigned)) },
    };
    await store.put(`${dir}manifest.json`, serializeManifest(forged));
    const error = refused(await readAndVerify(store, policy, backupId, { keyring: ring }));
    expect(error.reason).toBe('Tampered');
    expect(error.item).toBe('items/000004.bin');
    expect(error.message).toContain(
      "item items/000004.bin (model s3://ymera-models/iris.onnx): matches the manifest's sha256 but does not authenticate",
    );
  });

  it('a backup without its manifest is Incomplete, never Completed, and cannot be read', async () => {
    const { backupId } = await smallBackup();
    await store.delete(`${backupPrefix(policy, backupId)}manifest.json`);
    const listed = (await listBackups(store, policy)).find((b) => b.id === backupId);
    expect(listed).toMatchObject({ id: backupId, state: 'Incomplete', storedObjects: 4 });
    expect(listed?.completedAt).toBeUndefined();
    const error = refused(await readAndVerify(store, policy, backupId, { keyring: ring }));
    expect(error.reason).toBe('Missing');
    expect(error.message).toContain(`backup ${backupId} has no manifest.json`);
  });

  it('lists a backup whose manifest does not parse as Invalid, refuses it naming the field, and ignores stray keys', async () => {
    const id = '20260101T000000Z-0badf00d';
    await store.put(`${backupPrefix(policy, id)}manifest.json`, '{"formatVersion": 7}');
    await store.put(`${policy.namespace}/${policy.name}/notes.txt`, 'not a backup');
    await store.put(`${policy.namespace}/${policy.name}/scratch/x.bin`, 'not a backup either');
    const listed = await listBackups(store, policy);
    expect(listed.find((b) => b.id === id)).toMatchObject({
      state: 'Invalid',
      error: 'manifest: formatVersion: version 7 is not supported (this operator reads version 1)',
    });
    expect(listed.map((b) => b.id)).not.toContain('scratch');
    const error = refused(await readAndVerify(store, policy, id, { keyring: ring }));
    expect(error.reason).toBe('InvalidManifest');
  });

  it('names a wrong key, and opens old backups after a rotation while the old key is kept', async () => {
    const { backupId } = await smallBackup();
    const wrong = refused(await readAndVerify(store, policy, backupId, { keyring: new Keyring([kekNew]) }));
    expect(wrong.reason).toBe('WrongKey');
    expect(wrong.message).toBe(
      `backup ${backupId} was encrypted with key ${keyIdOf(kekOld)}; the keySecret holds ${keyIdOf(kekNew)}`,
    );
    const rotated = new Keyring([kekNew, kekOld]);
    expect(verified(await readAndVerify(store, policy, backupId, { keyring: rotated })).items).toHaveLength(
      4,
    );
    // new backups are sealed with the new key
    const next = await smallBackup(rotated);
    expect(next.manifest.encryption?.keyId).toBe(keyIdOf(kekNew));
    const noKey = refused(await readAndVerify(store, policy, next.backupId));
    expect(noKey.reason).toBe('KeyRequired');
  });

  it('a backup in clear reads back without a key, and is refused where encryption is required', async () => {
    const { backupId, manifest } = await smallBackup(null);
    expect(manifest.encryption).toBeNull();
    const backup = verified(await readAndVerify(store, policy, backupId));
    expect(JSON.parse(backup.items[1]?.body?.toString() ?? '')).toEqual(
      cleanObject(objects[1] as KubeObject),
    );
    const error = refused(await readAndVerify(store, policy, backupId, { keyring: ring }));
    expect(error.reason).toBe('NotEncrypted');
  });

  it("records a model whose source fails midway as a failure, without the URL's signature, and leaves no object for it", async () => {
    const presigned = 'https://models.example/iris.onnx?X-Amz-Signature=deadbeef0123';
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield randomBytes(6 * MiB); // past one part: a multipart upload is under way
      throw new Error(`GET ${presigned}: connection reset by the model server`);
    }
    const items = itemsWith(new Uint8Array(0)).slice(0, 3);
    items.push({ type: 'model', source: presigned, body: failing() });
    const { backupId, manifest } = await writeBackup(store, policy, items, { keyring: ring });
    expect(manifest.failures).toEqual({
      count: 1,
      first: [
        {
          what: 'model https://models.example/iris.onnx',
          message: 'GET https://models.example/iris.onnx: connection reset by the model server',
        },
      ],
    });
    const stored = await store.get(`${backupPrefix(policy, backupId)}manifest.json`);
    expect(stored.includes(Buffer.from('deadbeef0123'))).toBe(false);
    expect(manifest.counts.items).toBe(3);
    const keys = (await store.listAll(backupPrefix(policy, backupId))).map((o) =>
      o.key.split('/').slice(-2).join('/'),
    );
    expect(keys.sort()).toEqual(
      ['items/000001.bin', 'items/000002.bin', 'items/000003.bin', `${backupId}/manifest.json`].sort(),
    );
    expect(verified(await readAndVerify(store, policy, backupId, { keyring: ring })).items).toHaveLength(3);
  });
});
