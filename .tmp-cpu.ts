import { createHash, randomBytes } from 'node:crypto';
import { encryptItem } from './controllers/backuppolicy/crypto.ts';
const N = 512 * 1024 * 1024;
async function* bytes(n: number) { const b = randomBytes(8 << 20); for (let s = 0; s < n; s += b.length) yield b.subarray(0, Math.min(b.length, n - s)); }
let s = performance.now(); const h = createHash('sha256'); for await (const c of bytes(N)) h.update(c); h.digest(); console.log('sha256', (N / ((performance.now() - s) / 1000) / 2 ** 20).toFixed(0), 'MiB/s');
s = performance.now(); let n = 0; for await (const c of encryptItem(bytes(N), randomBytes(32), 'p')) n += c.length; console.log('encrypt', (N / ((performance.now() - s) / 1000) / 2 ** 20).toFixed(0), 'MiB/s');
