// The restore engine (controllers/restore/engine.ts) as a drill uses it,
// against the real API server and MinIO, under the operator's ServiceAccount:
// a backup written with writeBackup (resources read from the cluster and a
// model file) restored into another namespace (targetNamespace): object
// digests equal the manifest's, owner references rebound, the model copied
// back to its s3:// source with the restored InferenceService's credentials
// (skipped when the same sha256 is there); Overwrite replaces; a corrupted
// model item refuses the whole backup with nothing written.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '../../controllers/backuppolicy/crypto.ts';
import { backupPrefix } from '../../controllers/backuppolicy/format.ts';
import type { PolicyRef } from '../../controllers/backuppolicy/format.ts';
import { writeBackup } from '../../controllers/backuppolicy/store.ts';
import type { ItemInput } from '../../controllers/backuppolicy/store.ts';
import { restoreBackup } from '../../controllers/restore/engine.ts';
import type { RestoreOptions, RestoreReport } from '../../controllers/restore/engine.ts';
import { modelTargetFor } from '../../controllers/restore/models.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { inferenceService } from '../../operator/schema/kinds.ts';
import { DEFAULT_STORAGE_ACCESS } from '../../operator/storage/egress.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import {
  BACKUP_BUCKET as BUCKET,
  configMap,
  dropStore,
  openStore,
  ownedConfigMap,
  s3Config,
  s3Secret,
  withDamagedObject,
} from './backup-fixtures.ts';
import { IDENTITY_ENV } from './operator-identity.ts';
import { toYaml } from './samples.ts';
import { freshNamespace, kubectl, kubectlOk } from './support.ts';

const keyring = new Keyring([randomBytes(32)]);
const model = randomBytes(3 * 1024 * 1024 + 17);
const modelSha = createHash('sha256').update(model).digest('hex');
let src: string;
let scratch: string;
let prefix: string;
let modelKey: string;
let store: ObjectStore;
let admin: KubeClient;
let operator: KubeClient;
let policy: PolicyRef;
let backupId: string;

const isType = resourceTypeOf(inferenceService);

function options(namespace: string, extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return {
    targetNamespace: namespace,
    conflictPolicy: 'Skip',
    dryRun: false,
    labels: { 'ymera.io/restore': 'drill' },
    modelArtifacts: true,
    modelTarget: modelTargetFor(operator, namespace, DEFAULT_STORAGE_ACCESS),
    ...extra,
  };
}

function ok(result: Awaited<ReturnType<typeof restoreBackup>>): RestoreReport {
  if (!result.ok) throw new Error(`refused: ${result.reason}: ${result.message}`);
  return result;
}

/** The backup restored into `namespace` by `client` (the operator's ServiceAccount unless said). */
const restoreInto = (namespace: string, extra: Partial<RestoreOptions> = {}, client: KubeClient = operator) =>
  restoreBackup(client, store, policy, backupId, keyring, options(namespace, extra));

beforeAll(async () => {
  const kubeconfig = process.env[IDENTITY_ENV.kubeconfig];
  if (!kubeconfig) throw new Error(`${IDENTITY_ENV.kubeconfig} is not set (the e2e global setup sets it)`);
  admin = KubeClient.fromEnvironment();
  operator = KubeClient.fromEnvironment(kubeconfig);
  src = await freshNamespace('e2e-rengine');
  scratch = await freshNamespace('e2e-rengine-scratch');
  prefix = `e2e-restore-engine/${src}`;
  modelKey = `${prefix}/models/iris.onnx`;
  store = openStore(BUCKET, prefix);
  const bucket = openStore(BUCKET);
  await bucket.put(modelKey, model);
  bucket.close();
  await kubectlOk(
    ['apply', '-f', '-'],
    toYaml([
      s3Secret(src, 'model-creds', { AWS_ENDPOINT_URL: s3Config().endpoint }),
      configMap(src, 'settings', { a: '1' }),
      {
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: 'iris', namespace: src, labels: { app: 'iris' } },
        spec: {
          model: {
            uri: `s3://${BUCKET}/${modelKey}`,
            version: 'v1',
            sha256: modelSha,
            credentialsSecret: { name: 'model-creds' },
          },
        },
      },
    ]),
  );
  const settings = await admin.get<KubeObject>(core.configMap, 'settings', src);
  await kubectlOk(
    ['apply', '-f', '-'],
    toYaml([ownedConfigMap(src, 'owned', { name: 'settings', uid: settings?.metadata.uid }, { b: '2' })]),
  );
  const objects: KubeObject[] = [
    { ...((await admin.get(isType, 'iris', src)) as KubeObject) },
    {
      ...((await admin.get(core.configMap, 'owned', src)) as KubeObject),
      apiVersion: 'v1',
      kind: 'ConfigMap',
    },
    {
      ...((await admin.get(core.configMap, 'settings', src)) as KubeObject),
      apiVersion: 'v1',
      kind: 'ConfigMap',
    },
    {
      ...((await admin.get(core.secret, 'model-creds', src)) as KubeObject),
      apiVersion: 'v1',
      kind: 'Secret',
    },
  ];
  policy = { namespace: src, name: 'nightly', uid: 'uid-1' };
  const items: ItemInput[] = [
    ...objects.map((object): ItemInput => ({ type: 'resource', object, modelDigest: `sha256:${modelSha}` })),
    { type: 'model', source: `s3://${BUCKET}/${modelKey}`, body: model },
  ];
  backupId = (await writeBackup(store, policy, items, { keyring })).backupId;
});

afterAll(async () => {
  for (const ns of [src, scratch]) if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await dropStore(store);
});

describe('restore engine', () => {
  it('restores into another namespace: digests equal the manifest, owners rebound, the model already there skipped', async () => {
    const report = ok(await restoreInto(scratch));
    expect(report.counts).toEqual({ restored: 4, skipped: 1, failed: 0 });
    expect(report.errors).toEqual([]);
    // Secrets and ConfigMaps (owner first), then the InferenceService
    expect(report.objects.map((o) => `${o.kind}/${o.name}`)).toEqual([
      'ConfigMap/settings',
      'ConfigMap/owned',
      'Secret/model-creds',
      'InferenceService/iris',
    ]);
    for (const o of report.objects) {
      expect(o, `${o.kind}/${o.name}`).toMatchObject({
        result: 'Restored',
        namespace: scratch,
        sourceNamespace: src,
      });
      expect(o.restoredSha256, `${o.kind}/${o.name}`).toBe(o.sha256);
    }
    expect(report.objects.find((o) => o.kind === 'InferenceService')?.modelDigest).toBe(`sha256:${modelSha}`);
    expect(report.models).toEqual([
      expect.objectContaining({ result: 'Skipped', modelDigest: `sha256:${modelSha}` }),
    ]);
    const settings = await admin.get<KubeObject>(core.configMap, 'settings', scratch);
    const owned = await admin.get<KubeObject>(core.configMap, 'owned', scratch);
    expect(owned?.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'settings', uid: settings?.metadata.uid },
    ]);
    expect(owned?.metadata.labels).toEqual({
      'ymera.io/restored-from-backup': backupId,
      'ymera.io/restore': 'drill',
    });
  });

  it('Overwrite replaces what exists and copies a model that is gone back to its source', async () => {
    const bucket = openStore(BUCKET);
    try {
      await bucket.delete(modelKey);
      await admin.patch(core.configMap, 'settings', scratch, 'merge', { data: { a: 'changed' } });
      const report = ok(await restoreInto(scratch, { conflictPolicy: 'Overwrite' }));
      expect(report.plan).toMatchObject({ overwrite: 4, create: 0 });
      expect(report.counts).toEqual({ restored: 5, skipped: 0, failed: 0 });
      for (const o of report.objects) expect(o.restoredSha256, `${o.kind}/${o.name}`).toBe(o.sha256);
      expect((await admin.get<KubeObject>(core.configMap, 'settings', scratch))?.data).toEqual({ a: '1' });
      expect(report.models[0]?.result).toBe('Restored');
      expect(
        createHash('sha256')
          .update(await bucket.get(modelKey))
          .digest('hex'),
      ).toBe(modelSha);
    } finally {
      bucket.close();
    }
  });

  it('run again (an operator restart mid-restore), objects this restore wrote count as restored; another restore skips them', async () => {
    const again = ok(await restoreInto(scratch));
    expect(again.plan).toMatchObject({ skip: 4, create: 0 });
    expect(again.counts).toMatchObject({ restored: 4, failed: 0 });
    for (const o of again.objects) expect(o.restoredSha256, `${o.kind}/${o.name}`).toBe(o.sha256);
    const other = ok(await restoreInto(scratch, { labels: { 'ymera.io/restore': 'another' } }));
    expect(other.counts).toMatchObject({ restored: 0, skipped: 5, failed: 0 });
  });

  it('creates a missing target namespace when asked (a drill), labelled; the kinds filter restores only those kinds', async () => {
    const target = `e2e-rengine-new-${Math.random().toString(36).slice(2, 8)}`;
    try {
      // the operator's ServiceAccount may not create namespaces: whoever runs drills needs that grant
      const report = ok(
        await restoreInto(
          target,
          { createNamespace: true, kinds: ['ConfigMap'], modelArtifacts: false },
          admin,
        ),
      );
      expect(report.objects.map((o) => `${o.result} ${o.kind}/${o.name}`)).toEqual([
        'Restored ConfigMap/settings',
        'Restored ConfigMap/owned',
      ]);
      expect(report.models).toEqual([]);
      const created = await admin.get<KubeObject>(core.namespace, target);
      expect(created?.metadata.labels).toMatchObject({
        'ymera.io/restored-from-backup': backupId,
        'ymera.io/restore': 'drill',
      });
      expect(await admin.get(isType, 'iris', target)).toBeUndefined();
    } finally {
      await kubectl(['delete', 'namespace', target, '--wait=false']);
    }
  });

  it('a corrupted model item refuses the whole backup, naming it; nothing is written', async () => {
    const empty = await freshNamespace('e2e-rengine-empty');
    const item = `${backupPrefix(policy, backupId)}items/000005.bin`;
    try {
      // byte 100 of the model item flipped while the restore runs
      await withDamagedObject(store, item, 100, 0xff, async () => {
        const result = await restoreInto(empty);
        expect(result).toMatchObject({ ok: false, reason: 'Corrupted', item: 'items/000005.bin' });
        if (!result.ok) expect(result.message).toContain(`model s3://${BUCKET}/${modelKey}`);
        expect(
          (await admin.list(core.configMap, { namespace: empty, labelSelector: 'ymera.io/restore' })).items,
        ).toEqual([]);
        expect(await admin.get(isType, 'iris', empty)).toBeUndefined();
      });
    } finally {
      await kubectl(['delete', 'namespace', empty, '--wait=false']);
    }
  });
});
