// The live target of bench/tune.ts: the real runtime (runtime/server.ts) as a
// child process serving the bench model from a config file it re-reads every
// CONFIG_POLL_MS, pinned like bench/inference.ts pins it (bench/cpu-pin.ts),
// and bench/loadgen.ts as a separate process for each measured window. A
// trial's values are live when the runtime's /metrics reports them
// (ymera_runtime_batching_*, runtime/reload.ts), as the operator checks.
import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../test/e2e/support.ts';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Params } from '../controllers/optimizationloop/safety.ts';
import { featureRows } from '../runtime/models/fraud-reference.ts';
import { type CpuLayout, loadgenPrefix, pinServer } from './cpu-pin.ts';
import type { Batching, LiveTarget, LoadWindow } from './tune-live.ts';
import { batchingFromMetrics, batchingOf } from './tune-live.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const NODE = [process.execPath, '--disable-warning=ExperimentalWarning'];
/** How often the runtime re-reads its config file (the operator's pods: 5 s; here a trial should not wait). */
const CONFIG_POLL_MS = 100;
const LIVE_TIMEOUT_MS = 15_000;

/** A window as bench/loadgen.ts prints it (bench/load-window.ts). */
export type LoadResult = LoadWindow & {
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuCores: number;
  loadgenCpuCores: number;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type Runtime = LiveTarget & {
  /** The batching /metrics reports now. */
  batching(): Promise<Batching | undefined>;
  measureBatching(b: Batching): Promise<LoadResult>;
  pinned: boolean;
  stop(): Promise<void>;
};

/**
 * Starts the runtime on `modelFile` with `initial` batching in its config file
 * (one onnxruntime thread, the inference thread on a core of its own under
 * `layout`) and returns the live target the loop drives.
 */
export async function startRuntime(o: {
  modelFile: string;
  initial: Batching;
  concurrency: number;
  windowMs: number;
  layout: CpuLayout | undefined;
}): Promise<Runtime> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ymera-bench-tune-'));
  const configFile = path.join(dir, 'runtime.json');
  // atomically, like the kubelet's ConfigMap swap: the poller never reads half a file
  const writeConfig = (b: Batching) => {
    const tmp = `${configFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ batching: b }) + '\n');
    renameSync(tmp, configFile);
  };
  writeConfig(o.initial);
  const bodyFile = path.join(dir, 'body.json');
  const row = featureRows(1, 7)[0]!;
  writeFileSync(
    bodyFile,
    JSON.stringify({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: row }] }),
  );
  const port = await freePort();
  // batching only in the config file: a flag would take precedence over it and pin the values
  const child = spawn(
    NODE[0]!,
    [
      ...NODE.slice(1),
      path.join(repo, 'runtime/server.ts'),
      '--config',
      configFile,
      '--config-poll-ms',
      String(CONFIG_POLL_MS),
      '--model',
      pathToFileURL(o.modelFile).href,
      '--model-name',
      'bench',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--threads',
      '1',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  let exited = false;
  child.on('exit', () => (exited = true));
  const url = `http://127.0.0.1:${port}`;
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited) throw new Error('the runtime exited during start-up');
      try {
        if ((await fetch(`${url}/v2/health/ready`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error('the runtime did not become ready within 60 s');
      await sleep(100);
    }
    // the runtime's default inference thread is a worker (runtime/config.ts)
    if (o.layout) pinServer(child.pid!, 'worker', o.layout);
  } catch (e) {
    child.kill('SIGTERM');
    cleanup();
    throw e;
  }

  const batching = async () => batchingFromMetrics(await (await fetch(`${url}/metrics`)).text());
  const set = async (b: Batching) => {
    writeConfig(b);
    const deadline = Date.now() + LIVE_TIMEOUT_MS;
    for (;;) {
      const now = await batching();
      if (now?.maxBatchSize === b.maxBatchSize && now.maxDelayMs === b.maxDelayMs) return;
      if (exited) throw new Error('the runtime exited');
      if (Date.now() > deadline)
        throw new Error(`the runtime did not report ${JSON.stringify(b)} within ${LIVE_TIMEOUT_MS} ms`);
      await sleep(20);
    }
  };
  const loadgen = (): Promise<LoadResult> =>
    new Promise((resolve, reject) => {
      const [command, ...prefix] = [...(o.layout ? loadgenPrefix(o.layout, true) : []), NODE[0]!];
      const lg = spawn(
        command!,
        [
          ...prefix,
          ...NODE.slice(1),
          path.join(here, 'loadgen.ts'),
          `${url}/v2/models/bench/infer`,
          String(o.concurrency),
          String(o.windowMs),
          String(10_000_000),
          bodyFile,
          String(child.pid),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      lg.stdout.on('data', (d: Buffer) => (out += d.toString()));
      lg.on('exit', (code) =>
        code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`loadgen exited ${code}`)),
      );
    });
  // the values are live already (set waited for them); the load generator warms up 500 ms before its window
  const measureBatching = async (b: Batching) => {
    await set(b);
    return loadgen();
  };
  return {
    pinned: !!o.layout,
    batching,
    measureBatching,
    set: (v: Params) => set(batchingOf(v)),
    measure: (v: Params) => measureBatching(batchingOf(v)),
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      cleanup();
    },
  };
}
