// Backup benchmark on the local stack, in one run against the local MinIO.
// (a) and (b) alternate, ROUNDS of each (a, b, a, b, …): on a shared machine
// one sample of either swings by ±20%, so the figures are the medians, their
// ratio the ratio of the medians, with every sample in the JSON; the RSS
// growth is the worst round's (peak over every backup minus the baseline
// before the first):
//
//  (a) reference: a plain multipart upload of N bytes with @aws-sdk/lib-storage
//      (its defaults: 5 MiB parts, 4 at once, each part's payload SHA-256
//      signed) to the same MinIO, from bytes already in memory;
//  (b) a backup taken by the real operator process (startOperator: `node
//      operator/main.ts` as the chart's ServiceAccount) of a namespace with
//      OBJECTS ConfigMaps and one InferenceService whose model file of the
//      same N bytes lies in MinIO (spec.modelArtifacts, encrypted): its
//      throughput (bytes stored / seconds from the on-demand request to
//      status Completed, as a user waits for it) over (a)'s, and the
//      operator's RSS growth during it (sampled every 100 ms from /proc).
//      What differs from (a): the backup reads its N bytes from the same
//      MinIO (which shares the machine's cores), hashes them twice
//      (plaintext and stored bytes, both in the manifest), encrypts them,
//      and sends its parts as UNSIGNED-PAYLOAD (see
//      controllers/backuppolicy/store.ts); plus the OBJECTS small puts;
//  (c) the restore time of the OBJECTS objects: the restore engine
//      (controllers/restore/engine.ts restoreBackup, as the Restore
//      controller and drills run it) verifying the whole backup and
//      creating the ConfigMaps in a fresh namespace, from this process; and
//      its ratio to the backup's time.
//
// Prints the ratios and writes bench/results/backup.json. Not a test: no
// asserts; targets (issue 14): throughput ratio >= 0.8, RSS growth <= 64 MiB.
//
//   make bench-backup
//   BENCH_BACKUP_BYTES=268435456 BENCH_BACKUP_OBJECTS=200 BENCH_BACKUP_ROUNDS=1 make bench-backup
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { BackupPolicyStatus } from '../controllers/backuppolicy/schema.ts';
import { Keyring } from '../controllers/backuppolicy/crypto.ts';
import { listBackups } from '../controllers/backuppolicy/store.ts';
import { restoreBackup } from '../controllers/restore/engine.ts';
import { crd as backupPolicyCrd } from '../controllers/backuppolicy/schema.ts';
import { KubeClient } from '../operator/kube/client.ts';
import { resourceTypeOf } from '../operator/kube/ymera.ts';
import { core } from '../operator/kube/resources.ts';
import type { KubeObject } from '../operator/kube/resources.ts';
import { createObjectStore, objectStoreConfigFromEnv } from '../operator/storage/s3.ts';
import setupStack from '../test/e2e/global-setup.ts';
import { freshNamespace, kubectl, kubectlOk, repo, startOperator } from '../test/e2e/support.ts';
import { toYaml } from '../test/e2e/samples.ts';

const BYTES = Number(process.env.BENCH_BACKUP_BYTES ?? 1024 ** 3);
const OBJECTS = Number(process.env.BENCH_BACKUP_OBJECTS ?? 1000);
const BACKUPS = 'ymera-backups';
const MODELS = 'ymera-models';
const ROUNDS = Number(process.env.BENCH_BACKUP_ROUNDS ?? 3);
const CREATE_CONCURRENCY = 32;
/** One backup of the bench must finish within this (it takes seconds). */
const BACKUP_TIMEOUT_MS = 5 * 60_000;
const MiB = 1024 * 1024;
const policyType = resourceTypeOf(backupPolicyCrd);

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** N bytes in 8 MiB chunks of one random block (content does not matter to MinIO: no compression). */
async function* bytes(n: number): AsyncGenerator<Buffer> {
  const block = randomBytes(8 * MiB);
  for (let sent = 0; sent < n; sent += block.length)
    yield block.subarray(0, Math.min(block.length, n - sent));
}

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The local stack's MinIO server (test/e2e/stack/minio.sh keeps its pid), if it can be found. */
function minioPid(): number | undefined {
  const state =
    process.env.YMERA_STATE_DIR ??
    path.join(process.env.YMERA_CACHE ?? path.join(homedir(), '.cache/ymera'), 'stack');
  try {
    const pid = Number(readFileSync(path.join(state, 'minio/minio.pid'), 'utf8').trim());
    return pid > 0 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('minio') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds of this process, MinIO's and (given) another's used by `work`. */
async function cpuOf<T>(
  work: () => Promise<T>,
  other?: number,
): Promise<{
  result: T;
  cpu: { benchSeconds: number; minioSeconds: number | null; operatorSeconds?: number };
}> {
  const minio = minioPid();
  const bench0 = process.cpuUsage();
  const minio0 = minio ? cpuSeconds(minio) : 0;
  const other0 = other ? cpuSeconds(other) : 0;
  const result = await work();
  const bench = process.cpuUsage(bench0);
  return {
    result,
    cpu: {
      benchSeconds: (bench.user + bench.system) / 1e6,
      minioSeconds: minio ? cpuSeconds(minio) - minio0 : null,
      ...(other ? { operatorSeconds: cpuSeconds(other) - other0 } : {}),
    },
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function inBatches<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

async function main(): Promise<void> {
  setupStack();
  const config = objectStoreConfigFromEnv(process.env);
  if (!config) throw new Error('YMERA_S3_ENDPOINT is not set (the stack exports it)');
  const creds = config.credentials as { accessKeyId: string; secretAccessKey: string };
  const client = KubeClient.fromEnvironment();
  const ns = await freshNamespace('bench-backup');
  const prefix = `bench-backup/${ns}`;
  const models = createObjectStore({ ...config, bucket: MODELS, timeoutMs: 60_000 });
  const backups = createObjectStore({ ...config, bucket: BACKUPS, prefix, timeoutMs: 60_000 });
  const modelKey = `${prefix}/model.onnx`;
  const s3 = new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: true,
    credentials: creds,
    // as the operator's client (operator/storage/s3.ts): no per-part checksum computed
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  let op: Awaited<ReturnType<typeof startOperator>> | undefined;
  let restoreNs: string | undefined;
  try {
    process.stdout.write(`bench-backup: ${BYTES} bytes, ${OBJECTS} objects, namespace ${ns}\n`);
    // the model file the InferenceService serves
    await models.putStream(modelKey, bytes(BYTES));

    // (a) reference: plain lib-storage multipart upload of the same bytes
    const reference = async (round: number): Promise<number> => {
      const refStart = performance.now();
      await new Upload({
        client: s3,
        params: {
          Bucket: BACKUPS,
          Key: `${prefix}/reference-${round}.bin`,
          Body: Readable.from(bytes(BYTES), { objectMode: true, highWaterMark: 1 }),
        },
      }).done();
      const seconds = (performance.now() - refStart) / 1000;
      process.stdout.write(`round ${round}: reference upload ${seconds.toFixed(2)} s\n`);
      return seconds;
    };

    // the namespace: OBJECTS ConfigMaps, one InferenceService, the Secrets
    const kek = randomBytes(32);
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'backup-s3', namespace: ns },
          stringData: { AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'model-dl', namespace: ns },
          stringData: {
            AWS_ACCESS_KEY_ID: creds.accessKeyId,
            AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
            AWS_ENDPOINT_URL: config.endpoint,
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'backup-key', namespace: ns },
          data: { key: Buffer.from(kek.toString('base64')).toString('base64') },
        },
        {
          apiVersion: 'ymera.io/v1alpha1',
          kind: 'InferenceService',
          metadata: { name: 'big', namespace: ns },
          spec: {
            model: {
              uri: `s3://${MODELS}/${modelKey}`,
              version: 'v1',
              credentialsSecret: { name: 'model-dl' },
            },
            runtime: { resources: { requests: { cpu: '10m', memory: '32Mi' } } },
            scaling: { minReplicas: 1, maxReplicas: 1 },
          },
        },
      ]),
    );
    const names = Array.from({ length: OBJECTS }, (_, i) => `cm-${String(i).padStart(5, '0')}`);
    await inBatches(names, CREATE_CONCURRENCY, (name) =>
      client.create(core.configMap, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace: ns },
        data: { 'settings.json': JSON.stringify({ name, threshold: 0.5, pad: 'x'.repeat(512) }) },
      } as KubeObject),
    );

    op = await startOperator('op-bench-backup', [`--watch-namespaces=${ns}`, '--log-level=warn']);
    const pid = op.child.pid ?? 0;
    // the policy first, with no backup requested: each round then asks for one with a new token
    await client.create(policyType, {
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'BackupPolicy',
      metadata: { name: 'bench', namespace: ns },
      spec: {
        schedule: '0 0 1 1 *',
        include: { kinds: ['InferenceService', 'ConfigMap'] },
        modelArtifacts: true,
        storage: {
          s3: {
            endpoint: config.endpoint,
            bucket: BACKUPS,
            prefix,
            forcePathStyle: true,
            credentialsSecret: { name: 'backup-s3' },
          },
        },
        encryption: { keySecret: { name: 'backup-key' } },
      },
    } as KubeObject);
    type Policy = { metadata: { uid: string }; status?: BackupPolicyStatus };
    // let the operator settle (the InferenceService and the policy reconciled) before the baseline
    await new Promise((r) => setTimeout(r, 5_000));
    const baseline = rssBytes(pid);

    type BackupRound = {
      id: string;
      seconds: number;
      writerSeconds: number;
      storedBytes: number;
      items: number;
      rssBeforeMiB: number;
      rssPeakMiB: number;
    };
    const backup = async (round: number): Promise<BackupRound> => {
      const token = `b${round}`;
      const before = (await client.get<KubeObject & Policy>(policyType, 'bench', ns))?.status?.lastBackup?.id;
      const rssBefore = rssBytes(pid);
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 100);
      const started = performance.now();
      await client.patch(policyType, 'bench', ns, 'merge', {
        metadata: { annotations: { 'ymera.io/backup-now': token } },
      });
      let last: BackupPolicyStatus['lastBackup'];
      // polled in process: a kubectl every 100 ms would take a good part of a core from the operator
      for (;;) {
        const status = (await client.get<KubeObject & Policy>(policyType, 'bench', ns))?.status;
        last = status?.lastBackup;
        const fresh = last !== undefined && last.id !== before;
        if (fresh && status?.backupNowToken === token && last?.phase !== 'InProgress') break;
        if (fresh && last?.phase === 'Failed') break;
        if (performance.now() - started > BACKUP_TIMEOUT_MS) throw new Error(`backup ${token} timed out`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const seconds = (performance.now() - started) / 1000;
      clearInterval(sampler);
      peak = Math.max(peak, rssBytes(pid));
      if (last?.phase !== 'Completed')
        throw new Error(`the backup did not complete: ${JSON.stringify(last)}`);
      const listing = await listBackups(backups, { namespace: ns, name: 'bench' });
      const manifest = listing.find((b) => b.id === last.id)?.manifest;
      if (!manifest) throw new Error(`backup ${last.id ?? ''} has no manifest`);
      const writerSeconds = (Date.parse(manifest.completedAt) - Date.parse(manifest.startedAt)) / 1000;
      process.stdout.write(
        `round ${round}: operator backup  ${seconds.toFixed(2)} s (writer ${writerSeconds.toFixed(2)} s), ` +
          `RSS +${((peak - baseline) / MiB).toFixed(1)} MiB over the baseline\n`,
      );
      return {
        id: last.id ?? '',
        seconds,
        writerSeconds,
        storedBytes: manifest.counts.storedBytes,
        items: manifest.counts.items,
        rssBeforeMiB: rssBefore / MiB,
        rssPeakMiB: peak / MiB,
      };
    };

    // alternated in one run: both see the same phases of the machine's other load
    const referenceSeconds: number[] = [];
    const backupRounds: BackupRound[] = [];
    // where the CPU of each went (the machine has few cores: MinIO's share bounds both)
    type Cpu = Awaited<ReturnType<typeof cpuOf>>['cpu'];
    const referenceCpu: Cpu[] = [];
    const backupCpu: Cpu[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const ref = await cpuOf(() => reference(round));
      referenceSeconds.push(ref.result);
      referenceCpu.push(ref.cpu);
      const taken = await cpuOf(() => backup(round), pid);
      backupRounds.push(taken.result);
      backupCpu.push(taken.cpu);
    }
    const lastRound = backupRounds.at(-1) as BackupRound;
    const last = { id: lastRound.id };
    const referenceMiBps = referenceSeconds.map((sec) => BYTES / sec / MiB);
    const backupMiBps = backupRounds.map((r) => r.storedBytes / r.seconds / MiB);
    const peakMiB = Math.max(...backupRounds.map((r) => r.rssPeakMiB));
    const backupSeconds = median(backupRounds.map((r) => r.seconds));
    const throughputRatio = median(backupMiBps) / median(referenceMiBps);

    // (c) the ConfigMaps restored into a fresh namespace (verify everything first, then create)
    restoreNs = `${ns}-restored`;
    const runRestore = (dryRun: boolean) =>
      restoreBackup(client, backups, { namespace: ns, name: 'bench' }, last.id ?? '', new Keyring([kek]), {
        targetNamespace: restoreNs,
        createNamespace: true,
        kinds: ['ConfigMap'],
        conflictPolicy: 'Skip',
        dryRun,
      });
    // first a dry run (verify and plan, nothing written): how much of the restore is verification
    const dryStarted = performance.now();
    const dry = await runRestore(true);
    const verifySeconds = (performance.now() - dryStarted) / 1000;
    if (!dry.ok) throw new Error(`the dry run was refused: ${dry.reason}: ${dry.message}`);
    const restoreStarted = performance.now();
    const restored = await runRestore(false);
    const restoreSeconds = (performance.now() - restoreStarted) / 1000;
    if (!restored.ok) throw new Error(`the restore was refused: ${restored.reason}: ${restored.message}`);
    // the namespace itself counts as restored; kube-root-ca.crt, backed up too, exists already (skipped)
    if (restored.counts.restored < OBJECTS || restored.counts.failed !== 0)
      throw new Error(`the restore did not restore every ConfigMap: ${JSON.stringify(restored.counts)}`);
    const restore = {
      what: 'restore engine (restoreBackup) from this process: verify the whole backup (manifest, every item incl. the model file, GCM tags, sha256), then create the ConfigMaps in a fresh namespace',
      restored: restored.counts.restored,
      skipped: restored.counts.skipped,
      seconds: restoreSeconds,
      dryRunSeconds: verifySeconds,
      dryRunWhat: 'the same restore with dryRun: verify everything and plan, nothing written',
      objectsPerSecond: OBJECTS / restoreSeconds,
      ratioToBackupSeconds: restoreSeconds / backupSeconds,
    };

    const result = {
      when: new Date().toISOString(),
      bytes: BYTES,
      objects: OBJECTS,
      rounds: ROUNDS,
      method:
        'reference and backup alternated in one run (reference, backup, reference, backup, …); medians of each, the ratio of the medians; RSS growth: the highest peak over every backup minus the baseline before the first',
      reference: {
        what: 'lib-storage Upload (defaults: 5 MiB parts, 4 at once, SHA-256-signed payloads) of the same bytes, from memory, to the same MinIO',
        seconds: median(referenceSeconds),
        MiBps: median(referenceMiBps),
        samples: referenceSeconds.map((seconds, i) => ({
          seconds,
          MiBps: referenceMiBps[i],
          cpu: referenceCpu[i],
        })),
      },
      backup: {
        what: 'operator process (startOperator), on-demand backup with modelArtifacts and encryption; seconds from the request to status Completed',
        items: lastRound.items,
        storedBytes: lastRound.storedBytes,
        seconds: backupSeconds,
        writerSeconds: median(backupRounds.map((r) => r.writerSeconds)),
        MiBps: median(backupMiBps),
        throughputRatio,
        target: '>= 0.8',
        samples: backupRounds.map((r, i) => ({ ...r, MiBps: backupMiBps[i], cpu: backupCpu[i] })),
        ratioPerRound: backupMiBps.map((b, i) => b / (referenceMiBps[i] as number)),
      },
      cpu: {
        what: 'median CPU seconds (user + system, /proc) during each: the uploading process (bench for the reference, operator for the backup) and MinIO (null: its pid not found); the backup also reads the bytes from MinIO and writes OBJECTS small objects',
        reference: {
          uploaderSeconds: median(referenceCpu.map((c) => c.benchSeconds)),
          minioSeconds: referenceCpu.every((c) => c.minioSeconds !== null)
            ? median(referenceCpu.map((c) => c.minioSeconds as number))
            : null,
        },
        backup: {
          uploaderSeconds: median(backupCpu.map((c) => c.operatorSeconds ?? 0)),
          minioSeconds: backupCpu.every((c) => c.minioSeconds !== null)
            ? median(backupCpu.map((c) => c.minioSeconds as number))
            : null,
        },
      },
      operatorRss: {
        baselineMiB: baseline / MiB,
        peakMiB,
        growthMiB: peakMiB - baseline / MiB,
        growthPerRoundMiB: backupRounds.map((r) => r.rssPeakMiB - baseline / MiB),
        target: '<= 64 MiB',
      },
      restore,
    };
    const out = path.join(repo, 'bench/results/backup.json');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    const list = (values: readonly number[]) => values.map((v) => v.toFixed(2)).join(', ');
    process.stdout.write(
      `\nreference upload  median ${result.reference.seconds.toFixed(2)} s  ${result.reference.MiBps.toFixed(1)} MiB/s  (samples: ${list(referenceSeconds)} s)\n` +
        `operator backup   median ${backupSeconds.toFixed(2)} s  ${result.backup.MiBps.toFixed(1)} MiB/s  ` +
        `(samples: ${list(backupRounds.map((r) => r.seconds))} s; ${lastRound.items} items, ${lastRound.storedBytes} bytes; writer median ${result.backup.writerSeconds.toFixed(2)} s)\n` +
        `throughput ratio  ${throughputRatio.toFixed(3)}  (ratio of the medians; per round: ${list(result.backup.ratioPerRound)}; target >= 0.8)\n` +
        `CPU (median)      reference: uploader ${result.cpu.reference.uploaderSeconds.toFixed(2)} s, MinIO ${result.cpu.reference.minioSeconds?.toFixed(2) ?? '?'} s; ` +
        `backup: operator ${result.cpu.backup.uploaderSeconds.toFixed(2)} s, MinIO ${result.cpu.backup.minioSeconds?.toFixed(2) ?? '?'} s\n` +
        `operator RSS      +${result.operatorRss.growthMiB.toFixed(1)} MiB  (per round: ${list(result.operatorRss.growthPerRoundMiB)}; baseline ${result.operatorRss.baselineMiB.toFixed(1)}, peak ${peakMiB.toFixed(1)}; target <= 64)\n` +
        `restore           ${OBJECTS} objects in ${restoreSeconds.toFixed(2)} s  (${restore.objectsPerSecond.toFixed(0)}/s; ${restore.ratioToBackupSeconds.toFixed(2)} × the backup's median time; its dry run, verification and plan only: ${verifySeconds.toFixed(2)} s)\n` +
        `\nwrote ${out}\n`,
    );
  } finally {
    await op?.stop();
    await kubectl(['delete', 'backuppolicies', '--all', '-n', ns, '--wait=true', '--timeout=60s']);
    await kubectl(['delete', 'inferenceservices', '--all', '-n', ns, '--wait=true', '--timeout=60s']);
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
    if (restoreNs) await kubectl(['delete', 'namespace', restoreNs, '--wait=false']);
    await backups.deletePrefix('').catch(() => undefined);
    await models.deletePrefix(`${prefix}/`).catch(() => undefined);
    backups.close();
    models.close();
    s3.destroy();
  }
}

await main();
