// Load generator for bench/inference.ts, run as its own process so it does
// not share an event loop with the server: `concurrency` closed-loop clients
// on one keep-alive agent post v2 requests for `durationMs` (after a warm-up)
// or until `maxRequests`, then print one JSON line of results, including the
// CPU time this process and (given its pid, read from /proc on Linux) the
// server used during the measured window: with both on one machine, their sum
// shows whether the cores, not the server's design, are the bound.
//
//   node bench/loadgen.ts <url> <concurrency> <durationMs> <maxRequests> <body-file> [server-pid]
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const [url, c, d, max, bodyFile, serverPid] = process.argv.slice(2);
if (!url || !c || !d || !max || !bodyFile)
  throw new Error('usage: loadgen <url> <concurrency> <durationMs> <maxRequests> <body-file>');
const target = new URL(url);
if (target.hostname !== '127.0.0.1') throw new Error('loadgen only targets 127.0.0.1');
const concurrency = Number(c);
const durationMs = Number(d);
const maxRequests = Number(max);
const body = readFileSync(bodyFile);
const WARMUP_MS = 500;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU seconds (user + system, all threads) of process `pid` so far, from /proc; NaN elsewhere. */
function processCpuSeconds(pid: string | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
  } catch {
    return NaN;
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function post(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const latencies: number[] = [];
let errors = 0;
let measuring = false;
let stop = false;
let sent = 0;

async function client(): Promise<void> {
  while (!stop) {
    const t0 = performance.now();
    const status = await post().catch(() => 0);
    const ms = performance.now() - t0;
    if (!measuring) continue;
    if (status !== 200) errors++;
    latencies.push(ms);
    if (++sent >= maxRequests) stop = true;
  }
}

const clients = Array.from({ length: concurrency }, client);
await new Promise((r) => setTimeout(r, WARMUP_MS));
measuring = true;
const start = performance.now();
const cpu0 = process.cpuUsage();
const server0 = processCpuSeconds(serverPid);
const timer = setTimeout(() => (stop = true), durationMs);
await Promise.all(clients);
clearTimeout(timer);
const elapsed = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
const loadgenCpu = (cpu.user + cpu.system) / 1e6;
const serverCpu = processCpuSeconds(serverPid) - server0;
agent.destroy();
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
process.stdout.write(
  JSON.stringify({
    concurrency,
    requests: latencies.length,
    errors,
    seconds: elapsed,
    throughput: latencies.length / elapsed,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    maxMs: latencies[latencies.length - 1] ?? NaN,
    // cores busy on average during the window, and CPU µs per request
    serverCpuCores: serverCpu / elapsed,
    loadgenCpuCores: loadgenCpu / elapsed,
    serverCpuUsPerRequest: (serverCpu * 1e6) / latencies.length,
    loadgenCpuUsPerRequest: (loadgenCpu * 1e6) / latencies.length,
  }) + '\n',
);
