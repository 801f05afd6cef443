// BackupPolicy spec.modelArtifacts against the real API server and MinIO:
// a model file uploaded to the bucket ymera-models is copied into the
// backup once for two InferenceServices that serve it, each paired with its
// digest; a file:// model is not copied and said so; models at a refused
// endpoint, on a PVC or whose bytes differ from the pin make the backup
// PartiallyFailed, naming them. A backup whose model source is held (a
// paused TCP proxy in front of MinIO) is seen InProgress; the operator
// SIGKILLed then leaves a backup without manifest that the next operator
// reports as Interrupted, and the retry completes.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '../../controllers/backuppolicy/crypto.ts';
import type { ModelItem, ResourceItem } from '../../controllers/backuppolicy/format.ts';
import { listBackups } from '../../controllers/backuppolicy/store.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import type { Policy } from './backup-fixtures.ts';
import {
  BACKUP_BUCKET,
  MODEL_BUCKET,
  backupCompleted,
  backupNow,
  backupPolicy,
  condition as cond,
  deleteAllOf,
  dropStore,
  openModelStore,
  openStore,
  policyRef,
  policySecrets,
  readVerified,
  s3Config,
  s3Secret,
  untilReported,
} from './backup-fixtures.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  eventsAbout,
  eventually,
  freshNamespace,
  kubectl,
  kubectlOk,
  startOperator,
} from './support.ts';

const kek = randomBytes(32);
const keyring = new Keyring([kek]);
// over one 8 MiB part: the copy is a multipart upload read from a stream
const model = randomBytes(9 * 1024 * 1024 + 123);
const modelSha = createHash('sha256').update(model).digest('hex');
let ns: string;
let op: OperatorProcess | undefined;
let backups: ObjectStore;
let models: ObjectStore;
let prefix: string;
let proxy: HeldProxy | undefined;

const ref = (p: Policy) => policyRef(ns, p);
const modelUri = (name: string) => `s3://${MODEL_BUCKET}/${prefix}/${name}`;

/** A TCP proxy to `target` that holds every connection until release(): a model source that does not answer yet. */
type HeldProxy = { port: number; release: () => void; close: () => Promise<void> };

async function heldProxy(target: { host: string; port: number }): Promise<HeldProxy> {
  let released = false;
  const held: net.Socket[] = [];
  const sockets = new Set<net.Socket>();
  const forward = (client: net.Socket) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
    client.resume();
  };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    if (released) forward(client);
    else {
      client.pause();
      held.push(client);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    release: () => {
      released = true;
      for (const c of held.splice(0)) if (!c.destroyed) forward(c);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const policy = (name: string, set: string, token: string) =>
  backupPolicy({
    namespace: ns,
    name,
    prefix,
    annotations: backupNow(token),
    spec: { include: { labelSelector: { matchLabels: { set } } }, modelArtifacts: true },
  });

function infsvc(name: string, set: string, m: Record<string, unknown>) {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, namespace: ns, labels: { set } },
    spec: { model: { version: 'v1', ...m } },
  };
}

const get = (name: string) => ['backuppolicy', name, '-n', ns];
const until = (name: string, what: string, check: (p: Policy) => boolean) =>
  untilReported<Policy>(get(name), what, check, op);

beforeAll(async () => {
  ns = await freshNamespace('e2e-bmod');
  prefix = `e2e-bmod/${ns}`;
  backups = openStore(BACKUP_BUCKET, prefix);
  models = await openModelStore();
  await models.put(`${prefix}/iris.onnx`, model);
  const minio = new URL(s3Config().endpoint);
  proxy = await heldProxy({ host: minio.hostname, port: Number(minio.port || 80) });
  const download = (name: string, endpoint: string) => s3Secret(ns, name, { AWS_ENDPOINT_URL: endpoint });
  await kubectlOk(
    ['apply', '-f', '-'],
    toYaml([
      ...policySecrets(ns, kek),
      download('model-dl', s3Config().endpoint),
      // link-local: where cloud metadata services answer, refused by the egress policy
      download('refused-dl', 'http://169.254.169.254:9000'),
      download('held-dl', `http://127.0.0.1:${proxy.port}`),
      // good: one file served by two services (copied once), one model inside the image
      infsvc('iris', 'good', {
        uri: modelUri('iris.onnx'),
        sha256: modelSha,
        credentialsSecret: { name: 'model-dl' },
      }),
      infsvc('iris-copy', 'good', { uri: modelUri('iris.onnx'), credentialsSecret: { name: 'model-dl' } }),
      infsvc('baked', 'good', { uri: 'file:///models/baked.onnx' }),
      // bad: a refused endpoint, a PVC, bytes that differ from the pin
      infsvc('far', 'bad', { uri: modelUri('iris.onnx'), credentialsSecret: { name: 'refused-dl' } }),
      infsvc('on-pvc', 'bad', { uri: 'pvc://models-claim/iris.onnx' }),
      infsvc('pinned', 'bad', {
        uri: modelUri('iris.onnx'),
        sha256: 'f'.repeat(64),
        credentialsSecret: { name: 'model-dl' },
      }),
      // held: its source answers only once the test releases the proxy
      infsvc('slow', 'held', { uri: modelUri('iris.onnx'), credentialsSecret: { name: 'held-dl' } }),
    ]),
  );
  op = await startOperator('op-bmod', [`--watch-namespaces=${ns}`]);
});

afterAll(async () => {
  proxy?.release();
  if (ns) {
    await deleteAllOf(ns, 'backuppolicies');
    await deleteInferenceServices(ns);
  }
  await op?.stop();
  await proxy?.close();
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await dropStore(backups);
  await dropStore(models, `${prefix}/`);
});

describe('BackupPolicy modelArtifacts', () => {
  it('copies the model file once, paired by digest with both services; a file:// model is not copied and said so', async () => {
    await kubectlOk(['apply', '-f', '-'], toYaml([policy('good', 'good', 'g1')]));
    const p = await until(
      'good',
      'good to complete its backup',
      (o) => o.status?.backupNowToken === 'g1' && o.status.lastBackup?.phase !== 'InProgress',
    );
    expect(p.status?.lastBackup).toMatchObject({ phase: 'Completed', models: 1 });
    expect(p.status?.lastBackup?.message).toContain('file:///models/baked.onnx');
    expect(cond(p, 'BackupHealthy')).toMatchObject({ status: 'True' });

    const backup = await readVerified(backups, ref(p), p.status?.lastBackup?.id ?? '', keyring);
    const m = backup.manifest;
    const modelItems = m.items.filter((i): i is ModelItem => i.type === 'model');
    expect(modelItems).toHaveLength(1);
    expect(modelItems[0]).toMatchObject({
      source: modelUri('iris.onnx'),
      modelDigest: `sha256:${modelSha}`,
      plaintextSize: model.length,
    });
    const byName = new Map(
      m.items.filter((i): i is ResourceItem => i.type === 'resource').map((i) => [`${i.kind}/${i.name}`, i]),
    );
    expect(byName.get('InferenceService/iris')?.modelDigest).toBe(`sha256:${modelSha}`);
    expect(byName.get('InferenceService/iris-copy')?.modelDigest).toBe(`sha256:${modelSha}`);
    expect(byName.get('InferenceService/baked')?.modelDigest).toBeUndefined();
    expect(m.failures.count).toBe(0);
    expect(m.notCopied?.first.map((n) => n.what)).toEqual(['model file:///models/baked.onnx']);
    // the stored copy decrypts to the very bytes of the file
    const item = backup.items.find((i) => i.item.type === 'model');
    const hash = createHash('sha256');
    for await (const chunk of item?.open() ?? []) hash.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(modelSha);
  });

  it('models at a refused endpoint, on a PVC or differing from their pin: PartiallyFailed naming them, no digest paired', async () => {
    await kubectlOk(['apply', '-f', '-'], toYaml([policy('bad', 'bad', 'b1')]));
    const p = await until(
      'bad',
      'bad to finish its backup',
      (o) => o.status?.backupNowToken === 'b1' && o.status.lastBackup?.phase !== 'InProgress',
    );
    const last = p.status?.lastBackup;
    expect(last).toMatchObject({ phase: 'PartiallyFailed', reason: 'PartiallyFailed', models: 0 });
    expect(last?.failures?.count).toBe(3);
    const named = (last?.failures?.first ?? []).map((f) => `${f.what}: ${f.message}`).join('\n');
    expect(named).toContain('InferenceService ' + ns + '/far');
    expect(named).toContain('169.254.169.254');
    expect(named).toContain('refused');
    expect(named).toContain('model pvc://models-claim/iris.onnx');
    expect(named).toContain('not supported');
    expect(named).toContain(`InferenceService ${ns}/pinned pins sha256 ${'f'.repeat(64)}`);
    expect(p.status?.phase).toBe('Degraded');
    expect(cond(p, 'BackupHealthy')).toMatchObject({ status: 'False', reason: 'PartiallyFailed' });
    expect(p.status?.lastSuccessfulBackupTime).toBeUndefined();
    expect(JSON.stringify(p.status)).not.toContain(s3Config().credentials.secretAccessKey);

    // still a restorable backup: a manifest, every resource, no model item, no digest paired
    const m = (await readVerified(backups, ref(p), last?.id ?? '', keyring)).manifest;
    expect(m.failures.count).toBe(3);
    expect(m.items.filter((i) => i.type === 'model')).toEqual([]);
    const services = m.items.filter(
      (i): i is ResourceItem => i.type === 'resource' && i.kind === 'InferenceService',
    );
    expect(services.map((i) => i.name).sort()).toEqual(['far', 'on-pvc', 'pinned']);
    expect(services.map((i) => i.modelDigest)).toEqual([undefined, undefined, undefined]);
    await eventually('a BackupPartiallyFailed Event', async () =>
      (await eventsAbout(ns, 'bad', 'BackupPolicy')).find((e) => e.reason === 'BackupPartiallyFailed'),
    );
  });

  it('InProgress while its model is read; SIGKILLed there: the next operator reports it Interrupted, and the retry completes', async () => {
    await kubectlOk(['apply', '-f', '-'], toYaml([policy('held', 'held', 'h1')]));
    // the source does not answer until released: the backup cannot finish before
    const running = await until(
      'held',
      'held to be InProgress',
      (o) => o.status?.lastBackup?.phase === 'InProgress',
    );
    const interrupted = running.status?.lastBackup?.id ?? '';
    expect(interrupted).not.toBe('');
    expect(cond(running, 'Reconciling')).toMatchObject({ status: 'True', reason: 'BackupInProgress' });
    expect((await kubectlOk(['get', ...get('held')])).split('\n')[1]).toContain('InProgress');

    await op?.stop('SIGKILL');
    op = await startOperator('op-bmod-2', [`--watch-namespaces=${ns}`]);
    const event = await eventually(
      'a BackupFailed Event saying the backup was interrupted',
      async () =>
        (await eventsAbout(ns, 'held', 'BackupPolicy')).find(
          (e) => e.reason === 'BackupFailed' && e.note.includes(`backup ${interrupted} was interrupted`),
        ),
      120_000,
    );
    expect(event.type).toBe('Warning');
    proxy?.release();

    const done = await until('held', 'held to complete h1 after the interruption', backupCompleted('h1'));
    const id = done.status?.lastBackup?.id;
    expect(id).not.toBe(interrupted);
    expect(done.status?.lastBackup?.models).toBe(1);
    // the interrupted one never became Completed: no manifest
    const listing = await listBackups(backups, ref(done));
    expect(listing.find((b) => b.id === interrupted)?.state ?? 'Incomplete').toBe('Incomplete');
    expect(listing.find((b) => b.id === id)?.state).toBe('Completed');
  });
});
