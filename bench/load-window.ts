// What bench/loadgen.ts (HTTP) and bench/grpc-loadgen.ts (gRPC) share: the
// CPU time of the server under load, read from /proc, and the one JSON line
// each prints for a measured window, so both paths are summed up alike.
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
