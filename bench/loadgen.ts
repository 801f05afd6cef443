// Load generator for bench/inference.ts, run as its own process so it does
// not share an event loop with the server: `concurrency` closed-loop clients,
// each on its own keep-alive TCP connection, post one v2 request at a time
// for `durationMs` (after a warm-up) or until `maxRequests`, then print one
// JSON line of results, including the CPU time this process and (given its
// pid, read from /proc on Linux) the server used during the measured window:
// with both on one machine, their sum shows whether the cores, not the
// server's design, are the bound.
//
// Like wrk, it writes a prebuilt request and reads the response with a
// minimal HTTP/1.1 parser (status line + Content-Length) instead of going
// through node:http's client (http-frame.ts): on one machine the load
// generator takes cores the server needs, and node:http's client cost ~85 µs
// of CPU per request where this costs ~20. The runtime's responses always
// carry Content-Length; one that cannot be framed is counted as an error and
// its connection replaced.
//
//   node bench/loadgen.ts <url> <concurrency> <durationMs> <maxRequests> <body-file> [server-pid]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseTaskStat } from './cpu-pin.ts';
import { frameResponse } from './http-frame.ts';

const [url, c, d, max, bodyFile, serverPid] = process.argv.slice(2);
if (!url || !c || !d || !max || !bodyFile)
  throw new Error('usage: loadgen <url> <concurrency> <durationMs> <maxRequests> <body-file>');
const target = new URL(url);
if (target.hostname !== '127.0.0.1') throw new Error('loadgen only targets 127.0.0.1');
const port = Number(target.port);
const concurrency = Number(c);
const durationMs = Number(d);
const maxRequests = Number(max);
const body = readFileSync(bodyFile);
const WARMUP_MS = 500;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

const request = Buffer.concat([
  Buffer.from(
    `POST ${target.pathname} HTTP/1.1\r\nhost: ${target.host}\r\n` +
      `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
    'latin1',
  ),
  body,
]);

/** CPU seconds (user + system, all threads) of process `pid` so far, from /proc; NaN elsewhere. */
function processCpuSeconds(pid: string | undefined): number {
  if (!pid) return NaN;
  try {
    return parseTaskStat(Number(pid), readFileSync(`/proc/${pid}/stat`, 'utf8')).cpuTicks / CLK_TCK;
  } catch {
    return NaN;
  }
}

let measuring = false;
let stop = false;
let sent = 0;
let errors = 0;
const latencies: number[] = [];

/** One closed-loop client on its own connection; resolves when the run stops. */
function client(): Promise<void> {
  return new Promise((done) => {
    let sock: net.Socket;
    let pending: Buffer = Buffer.alloc(0);
    let t0 = 0;
    const send = () => {
      if (stop) {
        sock.destroy();
        done();
        return;
      }
      t0 = performance.now();
      sock.write(request);
    };
    const finish = (status: number) => {
      const ms = performance.now() - t0;
      if (measuring) {
        if (status !== 200) errors++;
        latencies.push(ms);
        if (++sent >= maxRequests) stop = true;
      }
    };
    const connect = () => {
      pending = Buffer.alloc(0);
      sock = net.createConnection({ port, host: '127.0.0.1', noDelay: true }, send);
      sock.on('data', (chunk: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        let framed;
        try {
          framed = frameResponse(pending);
        } catch {
          sock.destroy(new Error('unframeable response'));
          return;
        }
        if (!framed) return;
        pending = pending.subarray(framed.length);
        finish(framed.status);
        send();
      });
      sock.on('error', () => undefined);
      sock.on('close', (hadError) => {
        if (stop) return done();
        // the server closed or broke the connection mid-request: count it and reconnect
        if (hadError || pending.length) finish(0);
        connect();
      });
    };
    connect();
  });
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
