import { randomBytes } from 'node:crypto';
import { createObjectStore, objectStoreConfigFromEnv } from './operator/storage/s3.ts';
import { writeBackup } from './controllers/backuppolicy/store.ts';
import { Keyring } from './controllers/backuppolicy/crypto.ts';
const N = 256 * 1024 * 1024;
const cfg = objectStoreConfigFromEnv(process.env)!;
const models = createObjectStore({ ...cfg, bucket: 'ymera-models', timeoutMs: 60000, maxGetBytes: 2 ** 40 });
const st = createObjectStore({ ...cfg, bucket: 'ymera-backups', timeoutMs: 60000 });
async function* bytes(n: number) { const b = randomBytes(8 << 20); for (let s = 0; s < n; s += b.length) yield b.subarray(0, Math.min(b.length, n - s)); }
if (process.env.UP) await models.putStream('probe3/m.bin', bytes(N));
const base = process.memoryUsage().rss; let peak = base;
const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
const s = performance.now();
await writeBackup(st, { namespace: 'probe3', name: 'p', uid: 'u' }, [{ type: 'model', source: 's3://x/y', body: await models.getStream('probe3/m.bin') }], { keyring: new Keyring([randomBytes(32)]) });
clearInterval(t);
console.log(process.env.MALLOC_MMAP_THRESHOLD_ ?? 'default', ((performance.now() - s) / 1000).toFixed(2), 's', 'rss growth MiB', ((peak - base) / 2 ** 20).toFixed(0));
await st.deletePrefix('probe3/');
