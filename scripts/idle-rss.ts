// Measures the RSS and JS heap of an idle operator (no objects): starts a
// scripted API server that answers every list empty and holds every watch
// open, runs `node operator/main.ts` against it as the chart does, waits for
// /readyz, lets it settle, and prints VmRSS from /proc and the heap metrics.
// Usage: node scripts/idle-rss.ts [extra operator flags...]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  listBody,
  sendJson,
  startLocalApiServer,
  status,
  watchStream,
} from '../operator/kube/local-apiserver.ts';

const repo = path.resolve(import.meta.dirname, '..');
const api = await startLocalApiServer((req, res) => {
  if (req.method === 'GET' && req.query.get('watch') === 'true') return void watchStream(res);
  if (req.method === 'GET' && /\/(apis?\/.*)?$/.test(req.path) && !req.path.endsWith('/apis'))
    return sendJson(res, 200, listBody([], '1'));
  sendJson(res, 404, status(404, 'NotFound', 'not found'));
});
const dir = mkdtempSync(path.join(tmpdir(), 'idle-rss-'));
const kubeconfig = path.join(dir, 'kubeconfig');
writeFileSync(
  kubeconfig,
  `apiVersion: v1\nkind: Config\nclusters: [{name: l, cluster: {server: "${api.url}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: l, context: {cluster: l, user: u}}]\ncurrent-context: l\n`,
);
const port = 20000 + Math.floor(Math.random() * 20000);
const child = spawn(
  process.execPath,
  [
    '--disable-warning=ExperimentalWarning',
    path.join(repo, 'operator/main.ts'),
    `--kubeconfig=${kubeconfig}`,
    '--leader-elect=false',
    '--watch-namespaces=idle',
    `--metrics-bind-address=127.0.0.1:${port}`,
    `--health-probe-bind-address=127.0.0.1:${port + 1}`,
    ...process.argv.slice(2),
  ],
  {
    env: { ...process.env, NODE_OPTIONS: '--max-semi-space-size=1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
try {
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://127.0.0.1:${port + 1}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 600 || child.exitCode !== null) throw new Error('operator did not become ready');
    await sleep(100);
  }
  await sleep(5_000); // let start-up garbage be collected
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const heap = /^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1];
  process.stdout.write(
    `idle RSS ${(Number(rss) / 1024).toFixed(1)} MiB, JS heap used ${(Number(heap) / 2 ** 20).toFixed(1)} MiB\n`,
  );
} finally {
  child.kill('SIGKILL');
  await api.close();
}
