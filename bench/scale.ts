// Scale check of the operator on the local stack: for each N, apply N
// one-replica CPU InferenceServices at once into a fresh namespace watched by
// a fresh operator process, wait until every one is Ready (or the time runs
// out), and report the seconds to all Ready, how many objects ended without
// a Ready condition at all (the target is 0 at every N: a user must never
// meet an empty status), how many were not Ready and why, and the operator's
// resident memory (peak and at the end). Prints a table and writes
// bench/results/scale.json. Not a test: no asserts.
//
//   make bench-scale                         (N = 100 and 1000)
//   SCALE_COUNTS=100,1000,3000 make bench-scale
//   SCALE_TIMEOUT_S=900 make bench-scale     (per N; default 600)
//
// The local cluster is sized for it (test/e2e/cluster/README.md): a
// ServiceCIDR with room for 8,000 more Services and CPU nodes with 1,500
// pods each.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Condition } from '../operator/conditions.ts';
import { KubeClient } from '../operator/kube/client.ts';
import type { KubeObject } from '../operator/kube/resources.ts';
import { resourceTypeOf } from '../operator/kube/ymera.ts';
import { crd } from '../controllers/inferenceservice/schema.ts';
import setupStack from '../test/e2e/global-setup.ts';
import { freshNamespace, kubectl, repo, startOperator } from '../test/e2e/support.ts';

const type = resourceTypeOf(crd);
const counts = (process.env.SCALE_COUNTS ?? '100,1000').split(',').map((n) => Number.parseInt(n, 10));
const timeoutMs = Number(process.env.SCALE_TIMEOUT_S ?? '600') * 1000;
/** Creates in flight at once: "all at once" as kubectl apply of a big file would send them, bounded by sockets. */
const CREATE_CONCURRENCY = 32;
const POLL_MS = 2_000;

interface Row {
  count: number;
  createSeconds: number;
  allReadySeconds: number | null;
  ready: number;
  withoutReadyCondition: number;
  notReadyByReason: Record<string, number>;
  operatorPeakRssMiB: number;
  operatorEndRssMiB: number;
}

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

function service(namespace: string, name: string): KubeObject {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, namespace },
    spec: {
      model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
      runtime: { resources: { requests: { cpu: '10m', memory: '32Mi' } } },
      scaling: { minReplicas: 1, maxReplicas: 1 },
    },
  } as KubeObject;
}

async function inBatches<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  });
  await Promise.all(workers);
}

async function runOnce(client: KubeClient, count: number): Promise<Row> {
  const namespace = await freshNamespace(`scale-${count}`);
  const op = await startOperator(`op-scale-${count}`, [
    `--watch-namespaces=${namespace}`,
    '--log-level=warn',
  ]);
  const pid = op.child.pid ?? 0;
  let peak = rssMiB(pid);
  try {
    const names = Array.from({ length: count }, (_, i) => `svc-${String(i).padStart(5, '0')}`);
    const started = Date.now();
    await inBatches(names, CREATE_CONCURRENCY, (name) => client.create(type, service(namespace, name)));
    const createSeconds = (Date.now() - started) / 1000;

    let items: KubeObject[] = [];
    let allReadySeconds: number | null = null;
    while (Date.now() - started < timeoutMs) {
      items = (await client.list<KubeObject>(type, { namespace })).items;
      peak = Math.max(peak, rssMiB(pid));
      const readyCount = items.filter((o) => readyOf(o)?.status === 'True').length;
      if (readyCount === count) {
        allReadySeconds = (Date.now() - started) / 1000;
        break;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const notReadyByReason: Record<string, number> = {};
    let withoutReadyCondition = 0;
    let ready = 0;
    for (const o of items) {
      const c = readyOf(o);
      if (!c) withoutReadyCondition++;
      else if (c.status === 'True') ready++;
      else notReadyByReason[c.reason] = (notReadyByReason[c.reason] ?? 0) + 1;
    }
    withoutReadyCondition += count - items.length;
    return {
      count,
      createSeconds,
      allReadySeconds,
      ready,
      withoutReadyCondition,
      notReadyByReason,
      operatorPeakRssMiB: peak,
      operatorEndRssMiB: rssMiB(pid),
    };
  } finally {
    await op.stop();
    // the namespace goes with everything in it; finalizers are not needed for these (no topics)
    await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  }
}

function readyOf(o: KubeObject): Condition | undefined {
  return (o.status as { conditions?: Condition[] } | undefined)?.conditions?.find((c) => c.type === 'Ready');
}

async function main(): Promise<void> {
  setupStack();
  const client = KubeClient.fromEnvironment();
  const rows: Row[] = [];
  for (const count of counts) {
    process.stdout.write(`scale: ${count} InferenceServices...\n`);
    const row = await runOnce(client, count);
    rows.push(row);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
  process.stdout.write(
    '\n|      N | created in | all Ready after | Ready | without Ready condition | not Ready (reason: n) | operator RSS peak / end |\n' +
      '|-------:|-----------:|----------------:|------:|------------------------:|-----------------------|------------------------:|\n',
  );
  for (const r of rows) {
    const reasons = Object.entries(r.notReadyByReason)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
    process.stdout.write(
      `| ${String(r.count).padStart(6)} | ${r.createSeconds.toFixed(1).padStart(9)}s | ${(r.allReadySeconds === null ? `> ${timeoutMs / 1000}` : r.allReadySeconds.toFixed(1)).padStart(14)}s | ${String(r.ready).padStart(5)} | ${String(r.withoutReadyCondition).padStart(23)} | ${(reasons || '-').padEnd(21)} | ${`${r.operatorPeakRssMiB} / ${r.operatorEndRssMiB} MiB`.padStart(23)} |\n`,
    );
  }
  const out = path.join(repo, 'bench/results/scale.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ when: new Date().toISOString(), timeoutMs, rows }, null, 2)}\n`);
  process.stdout.write(`\nwrote ${out}\n`);
}

await main();
