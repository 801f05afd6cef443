// BackupPolicy under faults, with the operator as a real process, the real
// API server, MinIO and Kafka: a cron schedule firing on its own (and its
// backup.completed CloudEvent on Kafka), the admin grant for another
// namespace, MinIO stopped in the middle of a backup, and the operator
// SIGKILLed in the middle of one. Each test waits for what it asserts.
//
// "In the middle" is made deterministic by size and by watching the bucket:
// the policies of the fault tests back up every ConfigMap of a namespace
// holding CONFIGMAPS of them (one stored item each, written one after the
// other, about 6 seconds in all), and the fault is injected as soon as the
// backup's first item object is in the bucket, long before its last item
// and its manifest (written last) could be. Each fault test then checks
// that it did hit the middle: the bucket holds that backup's items and no
// manifest (Incomplete).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '../../controllers/backuppolicy/crypto.ts';
import { policyPrefix } from '../../controllers/backuppolicy/format.ts';
import { listBackups } from '../../controllers/backuppolicy/store.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { PrometheusClient } from '../../operator/prometheus/client.ts';
import {
  BACKUP_MISSING_ALERT,
  BACKUP_NEVER_COMPLETED_ALERT,
} from '../../operator/prometheus/generators/backuppolicy.ts';
import { ruleFileOf } from '../../operator/prometheus/rule-objects.ts';
import type { ObjectStore } from '../../operator/storage/s3.ts';
import type { Policy } from './backup-fixtures.ts';
import {
  BACKUP_BUCKET,
  backupCompleted,
  backupNow,
  backupPolicy,
  cloudEventsOf,
  condition as cond,
  configMap,
  deleteAllOf,
  dropStore,
  openStore,
  policyRef,
  policySecrets,
  readVerified,
  untilReported,
} from './backup-fixtures.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventually,
  freshNamespace,
  getJson,
  kafkaBrokers,
  kubectl,
  kubectlOk,
  prometheusStack,
  repo,
  startOperator,
} from './support.ts';

// ~6 s of backup on the dev machine; the faults land within the first ~0.7 s
const CONFIGMAPS = 1500;
const minioSh = path.join(repo, 'test/e2e/stack/minio.sh');
const kek = randomBytes(32);
const keyring = new Keyring([kek]);
let ns: string;
let other: string; // granted to ns by the admin
let refused: string; // not granted
let op: OperatorProcess | undefined;
let store: ObjectStore;
let prefix: string;
const promFiles: string[] = [];

const ref = (p: Policy) => policyRef(ns, p);
const get = (name: string) => ['backuppolicy', name, '-n', ns];
const minio = (command: 'up' | 'down') => execFileSync('bash', [minioSh, command], { stdio: 'ignore' });
const operatorFlags = () => [
  `--watch-namespaces=${ns}`,
  `--backup-namespace-grant=${ns}=${other}`,
  `--kafka-brokers=${kafkaBrokers().join(',')}`,
];

// once a year unless a test says otherwise: only on-demand backups
const policy = (name: string, spec: Record<string, unknown>, token?: string) =>
  backupPolicy({ namespace: ns, name, prefix, annotations: backupNow(token), spec });

const until = (name: string, what: string, check: (p: Policy) => boolean, timeoutMs = 90_000) =>
  untilReported<Policy>(get(name), what, check, op, timeoutMs);

/** The id of the first backup of `name` whose first item is in the bucket (polled fast: the fault goes in right after). */
async function firstItemOfNewBackup(name: string): Promise<string> {
  const dir = `${ns}/${name}/`;
  return eventually(
    `the first item of a backup of ${name} in the bucket`,
    async () => {
      for await (const o of store.list(dir)) {
        const m = /^([^/]+)\/items\//.exec(o.key.slice(dir.length));
        if (m?.[1]) return m[1];
      }
      return undefined;
    },
    60_000,
    20,
  );
}

beforeAll(async () => {
  ns = await freshNamespace('e2e-bfault');
  other = await freshNamespace('e2e-bfault-other');
  refused = await freshNamespace('e2e-bfault-refused');
  prefix = `e2e-bfault/${ns}`;
  store = openStore(BACKUP_BUCKET, prefix);
  const filler = 'x'.repeat(4096);
  await kubectlOk(
    ['apply', '--server-side', '--field-manager=e2e', '-f', '-'],
    toYaml([
      ...policySecrets(ns, kek),
      configMap(other, 'granted-data', { a: '1' }),
      ...Array.from({ length: CONFIGMAPS }, (_, i) =>
        configMap(ns, `bulk-${String(i).padStart(4, '0')}`, { filler }),
      ),
    ]),
  );
  op = await startOperator('op-bfault', operatorFlags());
}, 180_000);

afterAll(async () => {
  for (const f of promFiles) rmSync(f, { force: true });
  if (promFiles.length > 0)
    await fetch(new URL('/-/reload', prometheusStack().url), { method: 'POST' }).catch(() => undefined);
  // MinIO is shared: whatever happened, it is up again when this file ends
  minio('up');
  if (ns) await deleteAllOf(ns, 'backuppolicies');
  await op?.stop();
  for (const n of [ns, other, refused]) if (n) await kubectl(['delete', 'namespace', n, '--wait=false']);
  await dropStore(store);
}, 120_000);

describe('BackupPolicy under faults', () => {
  it('a schedule fires on its own: a Schedule backup Completed, announced as a CloudEvent on Kafka', async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([policy('minutely', { schedule: '* * * * *', include: { kinds: ['BackupPolicy'] } })]),
    );
    const p = await until(
      'minutely',
      'minutely to complete a scheduled backup',
      (o) => o.status?.lastBackup?.phase === 'Completed' && o.status.lastBackup.trigger === 'Schedule',
      150_000,
    );
    const id = p.status?.lastBackup?.id ?? '';
    expect(p.status?.lastScheduleTime).toBeDefined();
    expect(cond(p, 'BackupHealthy')).toMatchObject({ status: 'True' });
    const listed = await listBackups(store, ref(p));
    expect(listed.find((b) => b.id === id)?.state).toBe('Completed');

    const event = await eventually('the backup.completed CloudEvent of the scheduled backup', async () =>
      (await cloudEventsOf('ymera.events.backuppolicy', `${ns}/minutely`)).find((e) => e.data.id === id),
    );
    expect(event).toMatchObject({
      type: 'io.ymera.backuppolicy.backup.completed',
      subject: `${ns}/minutely`,
      data: { phase: 'Completed', trigger: 'Schedule', id, items: p.status?.lastBackup?.items },
    });
  }, 200_000);

  it("the operator writes the policy's alert rules; the real Prometheus loads them and evaluates them on the operator's metrics", async () => {
    const name = 'minutely-backuppolicy-rules';
    const rules = await eventually(`ConfigMap ${name}`, () =>
      getJson<KubeObject>(['get', 'configmap', name, '-n', ns]),
    );
    expect(rules.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'BackupPolicy', name: 'minutely' });
    const text = ruleFileOf(rules);
    expect(text).toContain(BACKUP_MISSING_ALERT);
    // Prometheus scrapes this operator (file_sd) and loads the rules file as a sidecar would
    const env = prometheusStack();
    const target = path.join(env.targetsDir, `${ns}.json`);
    writeFileSync(
      target,
      JSON.stringify([{ targets: [new URL(op?.metricsUrl ?? '').host], labels: { job: `ymera-e2e-${ns}` } }]),
    );
    const file = path.join(env.rulesDir, `${ns}.yml`);
    writeFileSync(file, text ?? '');
    promFiles.push(target, file);
    const res = await fetch(new URL('/-/reload', env.url), { method: 'POST' });
    expect(res.ok).toBe(true);
    const prom = new PrometheusClient({ url: env.url, timeoutMs: 5000 });
    const sel = `{namespace="${ns}",backuppolicy="minutely"}`;
    await eventually(
      'the last-success timestamp scraped from the operator',
      async () => ((await prom.queryValue(`ymera_backup_last_success_timestamp_seconds${sel}`)) ?? 0) > 0,
      60_000,
    );
    // evaluated after the scrape: healthy, and quiet (a backup completed a minute ago)
    const group = await eventually(
      'the backup rules loaded, healthy and inactive',
      async () => {
        const g = (await prom.rules()).find((x) => x.file === file);
        return g && g.rules.every((r) => r.health === 'ok' && r.state === 'inactive') ? g : undefined;
      },
      60_000,
    );
    expect(group.rules.map((r) => r.name)).toEqual([BACKUP_MISSING_ALERT, BACKUP_NEVER_COMPLETED_ALERT]);
    await kubectlOk(['delete', ...get('minutely'), '--wait=true']);
  }, 150_000);

  it('backs up another namespace only when the admin granted it (--backup-namespace-grant)', async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        policy('granted', { include: { namespaces: [other], kinds: ['ConfigMap'] } }, 'g1'),
        policy('refused', { include: { namespaces: [ns, refused] } }, 'r1'),
      ]),
    );
    const p = await until('granted', 'granted to complete g1', backupCompleted());
    const backup = await readVerified(store, ref(p), p.status?.lastBackup?.id ?? '', keyring);
    const items = backup.manifest.items.map((i) =>
      i.type === 'resource' ? `${i.namespace}/${i.kind}/${i.name}` : i.type,
    );
    expect(items).toContain(`${other}/ConfigMap/granted-data`);
    expect(items.filter((i) => !i.startsWith(`${other}/`))).toEqual([]);

    const r = await until('refused', 'refused to be Stalled', (o) => cond(o, 'Stalled')?.status === 'True');
    expect(cond(r, 'Stalled')?.reason).toBe('NamespaceNotAllowed');
    expect(cond(r, 'Stalled')?.message).toContain(`spec.include.namespaces: a resource in namespace ${ns}`);
    expect(cond(r, 'Stalled')?.message).toContain(`(${other})`);
    expect(cond(r, 'Stalled')?.message).toContain(`${refused} is not allowed`);
    expect(cond(r, 'Stalled')?.message).toContain('--backup-namespace-grant');
    expect(r.status?.lastBackup).toBeUndefined();
  }, 150_000);

  it('MinIO stopped mid-backup: Failed with StorageUnavailable and retried; once MinIO is back the backup completes', async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([policy('minio-down', { include: { kinds: ['ConfigMap'] } }, 'm1')]),
    );
    let cut = '';
    try {
      cut = await firstItemOfNewBackup('minio-down');
      minio('down');
      const failed = await until(
        'minio-down',
        'minio-down to report the failed backup',
        (o) => o.status?.lastBackup?.phase === 'Failed',
        120_000,
      );
      expect(failed.status?.lastBackup?.reason).toBe('StorageUnavailable');
      expect(failed.status?.lastBackup?.message).toContain('could not be reached');
      expect(failed.status?.backupNowToken).toBeUndefined(); // not acted on: retried
      expect(cond(failed, 'Reconciling')).toMatchObject({ status: 'True', reason: 'BackupRetrying' });
      expect(failed.status?.lastSuccessfulBackupTime).toBeUndefined();
    } finally {
      minio('up');
    }
    const p = await until(
      'minio-down',
      'minio-down to complete m1 once MinIO is back',
      backupCompleted('m1'),
      180_000,
    );
    const done = p.status?.lastBackup?.id;
    expect(done).not.toBe(cut);
    expect(p.status?.lastBackup?.items).toBeGreaterThanOrEqual(CONFIGMAPS);
    expect(cond(p, 'Reconciling')).toBeUndefined();
    // the cut backup: its first items and no manifest, so never Completed
    const cutItems = await store.listAll(`${policyPrefix(ref(p))}${cut}/`);
    expect(cutItems.length).toBeLessThan(CONFIGMAPS);
    const listed = await listBackups(store, ref(p));
    expect(listed.find((b) => b.id === cut)?.state).toBe('Incomplete');
    expect(listed.find((b) => b.id === done)?.state).toBe('Completed');
  }, 400_000);

  it('operator SIGKILLed mid-backup: the backup stays Incomplete, never Completed; after a restart the next run completes', async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([policy('killed', { include: { kinds: ['ConfigMap'] } }, 'k1')]),
    );
    const cut = await firstItemOfNewBackup('killed');
    await op?.stop('SIGKILL');
    op = undefined;
    // nothing writes to the bucket now: the killed backup has its first items and no manifest
    const ref0 = { namespace: ns, name: 'killed' };
    const listing = await listBackups(store, ref0);
    expect(listing.map((b) => [b.id, b.state])).toEqual([[cut, 'Incomplete']]);
    expect((await store.listAll(`${policyPrefix(ref0)}${cut}/`)).length).toBeLessThan(CONFIGMAPS);
    // status says the cut backup was in progress (written before its first item), never Completed
    const before = await getJson<Policy>(['get', ...get('killed')]);
    expect(before?.status?.lastBackup).toMatchObject({ id: cut, phase: 'InProgress' });

    op = await startOperator('op-bfault-2', operatorFlags());
    const p = await until(
      'killed',
      'killed to complete k1 after the restart',
      backupCompleted('k1'),
      180_000,
    );
    const done = p.status?.lastBackup?.id;
    expect(done).not.toBe(cut);
    const listed = await listBackups(store, ref(p));
    expect(listed.find((b) => b.id === cut)?.state).toBe('Incomplete');
    expect(listed.find((b) => b.id === done)?.state).toBe('Completed');
    // status lists the killed one as it is, never as Completed
    expect(p.status?.backups?.find((b) => b.id === cut)?.state).toBe('Incomplete');
  }, 400_000);
});
