// Restore against the real API server and MinIO: a namespace holding an
// InferenceService, a LearningPipeline, a ConfigMap and a Secret is backed up
// (BackupPolicy, ymera.io/backup-now), then deleted and recreated with only
// the BackupPolicy and its Secrets: the policy finds its backups in the
// bucket; a dry run lists the plan and writes nothing; a corrupted item and a
// wrong key are refused with nothing written; after a key rotation (the old
// key kept in previousKeys) the Restore brings everything back, labelled,
// the InferenceService Ready and the LearningPipeline without a run; a second
// Restore (conflictPolicy Skip) counts skips; a targetNamespace elsewhere is
// refused naming the field.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../controllers/backuppolicy/crypto.ts';
import { backupPrefix } from '../../controllers/backuppolicy/format.ts';
import type { RestoreStatus } from '../../controllers/restore/schema.ts';
import type { Condition } from '../../operator/conditions.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import type { Observed, Policy } from './backup-fixtures.ts';
import {
  BACKUP_BUCKET,
  backupCompleted,
  backupPolicy,
  cloudEventsOf,
  condition as cond,
  configMap,
  deleteAllOf,
  dropStore,
  envFromConfigMap,
  envFromSecret,
  keySecret,
  loseNamespace,
  openStore,
  ownedConfigMap,
  policySecrets,
  restoreOf,
  secret,
  untilReported,
  withDamagedObject,
} from './backup-fixtures.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import { eventually, getJson, kubectl, kubectlOk, startOperator, untilEvent } from './support.ts';

type Obj = {
  metadata: {
    name: string;
    uid?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown> & { observedGeneration?: number; conditions?: Condition[] };
};
type RestoreObj = Obj & { status?: RestoreStatus & { conditions?: Condition[] } };

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const ns = `e2e-restore-${Math.random().toString(36).slice(2, 8)}`;
const prefix = `e2e-restore/${ns}`;
let op: OperatorProcess | undefined;
let store: ObjectStore;
let backupId = '';

/** What a fresh namespace holds before a restore: the policy, its storage credentials and its keys. */
const policyAndSecrets = () => [
  ...policySecrets(ns, keyA),
  backupPolicy({ namespace: ns, name: 'nightly', prefix, spec: { include: { secrets: true } } }),
];

function workload(): unknown[] {
  return [
    // (not iris-config: that is the name of the InferenceService's own ConfigMap)
    configMap(ns, 'iris-settings', { threshold: '0.5' }),
    secret(ns, 'iris-token', { token: 's3cr3t-token' }),
    {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      metadata: { name: 'iris', namespace: ns, labels: { app: 'iris' } },
      spec: {
        model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
        runtime: {
          resources: { requests: { cpu: '100m', memory: '128Mi' } },
          env: [
            envFromConfigMap('THRESHOLD', 'iris-settings', 'threshold'),
            envFromConfigMap('EXTRA', 'iris-extra', 'extra'),
            envFromSecret('TOKEN', 'iris-token', 'token'),
          ],
        },
      },
    },
    {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'LearningPipeline',
      metadata: { name: 'train', namespace: ns, annotations: { 'ymera.io/run': 'first' } },
      spec: {
        artifacts: { pvc: { claimName: 'ml-artifacts' } },
        steps: [{ name: 'a', image: 'busybox' }],
      },
    },
  ];
}

const restore = (name: string, spec: Record<string, unknown> = {}) => restoreOf(ns, name, spec);

const until = <T extends Observed>(kind: string, name: string, what: string, check: (o: T) => boolean) =>
  untilReported<T>([kind, name, '-n', ns], what, check, op, 120_000);

/** Sets spec.encryption of the policy nightly (a merge patch). */
const patchPolicy = (encryption: Record<string, unknown>) =>
  kubectlOk([
    'patch',
    'backuppolicy',
    'nightly',
    '-n',
    ns,
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { encryption } }),
  ]);

/** A Restore that reached a final phase. */
const finished = (name: string) =>
  until<RestoreObj>(
    'restore',
    name,
    `Restore ${name} to finish`,
    (r) => r.status?.phase === 'Succeeded' || r.status?.phase === 'Failed',
  );

/** The workload's objects (kind, name). */
const WORKLOAD = [
  ['configmap', 'iris-settings'],
  ['configmap', 'iris-extra'],
  ['secret', 'iris-token'],
  ['inferenceservice', 'iris'],
  ['learningpipeline', 'train'],
] as const;

/** The workload's objects present in the namespace now (kind/name). */
async function present(): Promise<string[]> {
  const out: string[] = [];
  for (const [kind, name] of WORKLOAD) {
    if (await getJson(['get', kind, name, '-n', ns])) out.push(`${kind}/${name}`);
  }
  return out;
}

beforeAll(async () => {
  store = openStore(BACKUP_BUCKET, prefix);
  await kubectlOk(['create', 'namespace', ns]);
  await kubectlOk(['apply', '-f', '-'], toYaml([...policyAndSecrets(), ...workload()]));
  // a ConfigMap owned by another: its owner reference is rebound to the restored owner's new UID
  const owner = await getJson<Obj>(['get', 'configmap', 'iris-settings', '-n', ns]);
  await kubectlOk(
    ['apply', '-f', '-'],
    toYaml([
      ownedConfigMap(ns, 'iris-extra', { name: 'iris-settings', uid: owner?.metadata.uid }, { extra: '1' }),
    ]),
  );
  op = await startOperator('op-restore', [`--watch-namespaces=${ns}`]);
});

afterAll(async () => {
  await deleteAllOf(ns, 'inferenceservices,learningpipelines,backuppolicies,restores');
  await op?.stop();
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await dropStore(store);
});

describe('Restore', () => {
  it('a fresh namespace holding only the BackupPolicy finds its backups in the bucket', async () => {
    // the LearningPipeline started its creation run before the backup
    await until<Obj>('learningpipeline', 'train', 'the pipeline to start its creation run', (o) =>
      Boolean((o.status?.runs as unknown[] | undefined)?.length),
    );
    await kubectlOk(['annotate', 'backuppolicy', 'nightly', '-n', ns, 'ymera.io/backup-now=t1']);
    const p = await until<Policy>('backuppolicy', 'nightly', 'the backup to complete', backupCompleted());
    backupId = p.status?.lastBackup?.id ?? '';

    // the namespace goes, and comes back with only the policy and its Secrets
    await loseNamespace(ns, { workload: 60, namespace: 120 });
    await kubectlOk(['create', 'namespace', ns]);
    await kubectlOk(['apply', '-f', '-'], toYaml(policyAndSecrets()));
    const fresh = await until<Policy>('backuppolicy', 'nightly', 'the new policy to list its backups', (o) =>
      Boolean(o.status?.backups?.some((b) => b.id === backupId)),
    );
    expect(fresh.status?.lastBackup).toBeUndefined();
    expect(await present()).toEqual([]);
  });

  it('a dry run records the plan in status and writes nothing', async () => {
    await kubectlOk(['apply', '-f', '-'], toYaml([restore('plan', { dryRun: true })]));
    const r = await finished('plan');
    expect(r.status?.phase).toBe('Succeeded');
    expect(cond(r, 'Succeeded')).toMatchObject({ status: 'True', reason: 'DryRun' });
    expect(r.status?.backupId).toBe(backupId); // the latest, resolved and pinned
    // the workload is created; the policy and its S3 Secret exist already (the key is never in a backup)
    expect(r.status?.plan).toMatchObject({ create: 5, skip: 2, overwrite: 0, conflict: 0 });
    // Secrets and ConfigMaps first (an owner before what it owns), then the ymera resources
    expect(r.status?.plan?.objects?.map((o) => `${o.action} ${o.kind}/${o.name}`)).toEqual([
      'create ConfigMap/iris-settings',
      'create ConfigMap/iris-extra',
      'skip Secret/backup-s3',
      'create Secret/iris-token',
      'create InferenceService/iris',
      'create LearningPipeline/train',
      'skip BackupPolicy/nightly',
    ]);
    expect(r.status?.restoredObjects).toBeUndefined();
    expect(await present()).toEqual([]);
  });

  it('a corrupted item: Failed naming the item, nothing written', async () => {
    const dir = backupPrefix({ namespace: ns, name: 'nightly' }, backupId);
    const item = `${dir}items/000001.bin`;
    // its last byte flipped while the Restore runs
    await withDamagedObject(store, item, -1, 1, async () => {
      await kubectlOk(['apply', '-f', '-'], toYaml([restore('corrupt', { backupId })]));
      const r = await finished('corrupt');
      expect(r.status?.phase).toBe('Failed');
      expect(cond(r, 'Stalled')).toMatchObject({ status: 'True', reason: 'Corrupted' });
      expect(r.status?.message).toContain('nothing was restored (item items/000001.bin)');
      expect(r.status?.restoredObjects).toBeUndefined();
      expect(await present()).toEqual([]);
      await untilEvent(ns, 'corrupt', 'Corrupted', 'Restore');
    });
  });

  it('a wrong key: Failed with WrongKey naming the key id, nothing written', async () => {
    // rotated to key B without keeping A
    await kubectlOk(['apply', '-f', '-'], toYaml([keySecret(ns, 'backup-key-2', { key: keyB, old: keyA })]));
    await patchPolicy({ keySecret: { name: 'backup-key-2' } });
    await kubectlOk(['apply', '-f', '-'], toYaml([restore('wrong-key', { backupId })]));
    const r = await finished('wrong-key');
    expect(r.status?.phase).toBe('Failed');
    expect(cond(r, 'Stalled')).toMatchObject({ status: 'True', reason: 'WrongKey' });
    expect(r.status?.message).toContain(`was encrypted with key ${keyIdOf(keyA)}`);
    expect(r.status?.message).toContain(`the keySecret holds ${keyIdOf(keyB)}`);
    expect(r.status?.message).toMatch(/^nothing was restored: BackupPolicy nightly spec\.encryption: /);
    expect(await present()).toEqual([]);
  });

  it('after rotating with the old key kept, restores everything: labelled, InferenceService Ready, no pipeline run', async () => {
    await patchPolicy({ keySecret: { name: 'backup-key-2' }, previousKeys: ['old'] });
    await kubectlOk(['apply', '-f', '-'], toYaml([restore('full')]));
    const r = await finished('full');
    expect(r.status?.phase, JSON.stringify(r.status)).toBe('Succeeded');
    expect(r.status).toMatchObject({ backupId, restoredObjects: 5, skippedObjects: 2, failedObjects: 0 });
    expect(cond(r, 'Ready')).toMatchObject({ status: 'True', reason: 'Succeeded', observedGeneration: 1 });
    expect(await present()).toHaveLength(5);
    const settings = await getJson<Obj>(['get', 'configmap', 'iris-settings', '-n', ns]);
    const extra = await getJson<Obj & { metadata: { ownerReferences?: { uid: string; name: string }[] } }>([
      'get',
      'configmap',
      'iris-extra',
      '-n',
      ns,
    ]);
    expect(extra?.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'iris-settings', uid: settings?.metadata.uid },
    ]);

    for (const [kind, name] of WORKLOAD) {
      const o = await getJson<Obj>(['get', kind, name, '-n', ns]);
      expect(o?.metadata.labels, `${kind}/${name}`).toMatchObject({
        'ymera.io/restored-from-backup': backupId,
        'ymera.io/restore': 'full',
      });
    }
    const token = await getJson<{ data: Record<string, string> }>(['get', 'secret', 'iris-token', '-n', ns]);
    expect(Buffer.from(token?.data.token ?? '', 'base64').toString()).toBe('s3cr3t-token');
    // skipped objects are not touched
    const policy = await getJson<Obj>(['get', 'backuppolicy', 'nightly', '-n', ns]);
    expect(policy?.metadata.labels?.['ymera.io/restore']).toBeUndefined();

    const is = await until<Obj>(
      'inferenceservice',
      'iris',
      'the restored InferenceService to be Ready',
      (o) => cond(o, 'Ready')?.status === 'True',
    );
    expect(is.metadata.labels?.app).toBe('iris');
    // the pipeline took its creation run before the backup: restored, it starts none
    const lp = await until<Obj>('learningpipeline', 'train', 'the restored pipeline to be reconciled', (o) =>
      Boolean((o.status?.handled as { creation?: boolean } | undefined)?.creation),
    );
    expect(lp.status?.runs ?? []).toEqual([]);
    expect(lp.status?.handled).toMatchObject({ creation: true, runRequest: 'first' });
    const jobs = await getJson<{ items: unknown[] }>(['get', 'jobs', '-n', ns]);
    expect(jobs?.items).toEqual([]);

    await untilEvent(ns, 'full', 'Succeeded', 'Restore');
    const cloud = await eventually('the restore.completed CloudEvent of full', async () =>
      (await cloudEventsOf('ymera.events.restore', `${ns}/full`)).find((e) =>
        e.type.endsWith('restore.completed'),
      ),
    );
    expect(cloud.data).toMatchObject({ phase: 'Succeeded', backupId, restored: 5, skipped: 2, failed: 0 });
    expect(await op?.metric('ymera_restore_total', { namespace: ns, result: 'Succeeded' })).toBe(1);
  });

  it('a second Restore with conflictPolicy Skip skips every object', async () => {
    await kubectlOk(['apply', '-f', '-'], toYaml([restore('again', { backupId, conflictPolicy: 'Skip' })]));
    const r = await finished('again');
    expect(r.status).toMatchObject({
      phase: 'Succeeded',
      restoredObjects: 0,
      skippedObjects: 7,
      failedObjects: 0,
    });
    const cm = await getJson<Obj>(['get', 'configmap', 'iris-settings', '-n', ns]);
    expect(cm?.metadata.labels?.['ymera.io/restore']).toBe('full');
  });

  it('a targetNamespace other than its own: Failed, Stalled naming the field, nothing read or written', async () => {
    await kubectlOk(['apply', '-f', '-'], toYaml([restore('elsewhere', { targetNamespace: 'kube-system' })]));
    const r = await finished('elsewhere');
    expect(r.status?.phase).toBe('Failed');
    expect(cond(r, 'Stalled')).toMatchObject({ status: 'True', reason: 'NamespaceNotAllowed' });
    expect(cond(r, 'Stalled')?.message).toMatch(/^spec\.targetNamespace: .*kube-system is not allowed/);
    expect(r.status?.backupId).toBeUndefined();
  });

  it('a finished Restore never runs again, even after an operator restart', async () => {
    await kubectlOk(['delete', 'configmap', 'iris-settings', '-n', ns]);
    await op?.stop();
    op = await startOperator('op-restore', [`--watch-namespaces=${ns}`]);
    // a new Restore finishing proves the restarted operator went through the Restores
    await kubectlOk(['apply', '-f', '-'], toYaml([restore('after-restart', { dryRun: true })]));
    const plan = await finished('after-restart');
    expect(plan.status?.plan?.objects).toContainEqual({
      action: 'create',
      kind: 'ConfigMap',
      namespace: ns,
      name: 'iris-settings',
    });
    expect(await getJson(['get', 'configmap', 'iris-settings', '-n', ns])).toBeUndefined();
    const full = await getJson<RestoreObj>(['get', 'restore', 'full', '-n', ns]);
    expect(full?.status).toMatchObject({ phase: 'Succeeded', restoredObjects: 5 });
  });
});
