// Load generator for bench/inference.ts, run as its own process so it does
// not share an event loop with the server: `concurrency` closed-loop clients
// on one keep-alive agent post v2 requests for `durationMs` (after a warm-up)
// or until `maxRequests`, then print one JSON line of results.
//
//   node bench/loadgen.ts <url> <concurrency> <durationMs> <maxRequests> <body-file>
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const [url, c, d, max, bodyFile] = process.argv.slice(2);
if (!url || !c || !d || !max || !bodyFile)
  throw new Error('usage: loadgen <url> <concurrency> <durationMs> <maxRequests> <body-file>');
const target = new URL(url);
if (target.hostname !== '127.0.0.1') throw new Error('loadgen only targets 127.0.0.1');
const concurrency = Number(c);
const durationMs = Number(d);
const maxRequests = Number(max);
const body = readFileSync(bodyFile);
const WARMUP_MS = 500;

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
const timer = setTimeout(() => (stop = true), durationMs);
await Promise.all(clients);
clearTimeout(timer);
const elapsed = (performance.now() - start) / 1000;
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
  }) + '\n',
);
