// What bench/loadgen.ts (HTTP) and bench/grpc-loadgen.ts (gRPC) share: the
// CPU time of the server under load, read from /proc, the measured window
// itself, and the one JSON line each prints for it, so both paths are
// measured and summed up alike.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseTaskStat } from './cpu-pin.ts';

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU seconds (user + system, all threads) of process `pid` so far, from /proc; NaN elsewhere. */
export function processCpuSeconds(pid: string | undefined): number {
  if (!pid) return NaN;
  try {
    return parseTaskStat(Number(pid), readFileSync(`/proc/${pid}/stat`, 'utf8')).cpuTicks / CLK_TCK;
  } catch {
    return NaN;
  }
}

export type Window = {
  concurrency: number;
  /** Each answered request's latency in ms (sorted in place). */
  latencies: number[];
  errors: number;
  seconds: number;
  loadgenCpuSeconds: number;
  serverCpuSeconds: number;
};

/** The window's summary: throughput, latency quantiles, and CPU cores and µs per request on each side. */
export function summarize(w: Window) {
  const { latencies } = w;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return {
    concurrency: w.concurrency,
    requests: latencies.length,
    errors: w.errors,
    seconds: w.seconds,
    throughput: latencies.length / w.seconds,
    p50Ms: q(0.5),
    p95Ms: q(0.95),
    p99Ms: q(0.99),
    maxMs: latencies[latencies.length - 1] ?? NaN,
    // cores busy on average during the window, and CPU µs per request
    serverCpuCores: w.serverCpuSeconds / w.seconds,
    loadgenCpuCores: w.loadgenCpuSeconds / w.seconds,
    serverCpuUsPerRequest: (w.serverCpuSeconds * 1e6) / latencies.length,
    loadgenCpuUsPerRequest: (w.loadgenCpuSeconds * 1e6) / latencies.length,
  };
}

/**
 * The measured window of a load generator whose workers are already running:
 * after `warmupMs` it opens the window (`startMeasuring`: from now on answers
 * count), signals `stop` after `durationMs` and waits for every worker. Returns
 * the window's length and both sides' CPU seconds in it.
 */
export async function measureWindow(o: {
  workers: Promise<void>[];
  warmupMs: number;
  durationMs: number;
  serverPid: string | undefined;
  startMeasuring: () => void;
  stop: () => void;
}): Promise<Pick<Window, 'seconds' | 'loadgenCpuSeconds' | 'serverCpuSeconds'>> {
  await new Promise((r) => setTimeout(r, o.warmupMs));
  o.startMeasuring();
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const server0 = processCpuSeconds(o.serverPid);
  const timer = setTimeout(o.stop, o.durationMs);
  await Promise.all(o.workers);
  clearTimeout(timer);
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    seconds,
    loadgenCpuSeconds: (cpu.user + cpu.system) / 1e6,
    serverCpuSeconds: processCpuSeconds(o.serverPid) - server0,
  };
}
