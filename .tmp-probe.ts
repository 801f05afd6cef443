import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createObjectStore, objectStoreConfigFromEnv } from './operator/storage/s3.ts';
import { writeBackup } from './controllers/backuppolicy/store.ts';
import { Keyring } from './controllers/backuppolicy/crypto.ts';
const N = Number(process.env.N ?? 256 * 1024 * 1024);
const cfg = objectStoreConfigFromEnv(process.env)!;
const models = createObjectStore({ ...cfg, bucket: 'ymera-models', timeoutMs: 60000, maxGetBytes: 2 ** 40 });
async function* bytes(n: number) { const b = randomBytes(8 << 20); for (let s = 0; s < n; s += b.length) yield b.subarray(0, Math.min(b.length, n - s)); }
const t = async (what: string, f: () => Promise<unknown>) => { const s = performance.now(); await f(); const sec = (performance.now() - s) / 1000; console.log(what, sec.toFixed(2), 's', (N / sec / 2 ** 20).toFixed(0), 'MiB/s', 'rss', (process.memoryUsage().rss / 2 ** 20).toFixed(0)); };
await models.putStream('probe/m.bin', bytes(N));
await t('read', async () => { const s = await models.getStream('probe/m.bin'); for await (const _ of s); });
for (const q of [2, 4]) {
  const st = createObjectStore({ ...cfg, bucket: 'ymera-backups', timeoutMs: 60000, uploadQueueSize: q });
  await t(`put q${q} mem`, () => st.putStream('probe/x.bin', bytes(N)));
  await t(`put q${q} from minio`, async () => st.putStream('probe/y.bin', await models.getStream('probe/m.bin')));
  const kr = new Keyring([randomBytes(32)]);
  await t(`writeBackup q${q} mem enc`, () => writeBackup(st, { namespace: 'probe', name: 'p', uid: 'u' }, [{ type: 'model', source: 's3://x/y', body: bytes(N) }], { keyring: kr }));
  await t(`writeBackup q${q} minio enc`, async () => writeBackup(st, { namespace: 'probe', name: 'p', uid: 'u' }, [{ type: 'model', source: 's3://x/y', body: await models.getStream('probe/m.bin') }], { keyring: kr }));
  await st.deletePrefix('probe/');
}
await models.deletePrefix('probe/');
