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
//   node bench/loadgen.ts <url> <concurrency> <durationMs> <maxRequests> <body-file> [server-pid] [headers-json]
//
// headers-json: extra request headers as a JSON object (the binary tensor extension's
// {"content-type": "application/octet-stream", "inference-header-content-length": "…"});
// a content-type given there replaces application/json.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { frameResponse } from './http-frame.ts';
import { measureWindow, summarize } from './load-window.ts';

const [url, c, d, max, bodyFile, serverPid, headersJson] = process.argv.slice(2);
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

const headers: Record<string, string> = {
  'content-type': 'application/json',
  ...(headersJson ? (JSON.parse(headersJson) as Record<string, string>) : {}),
};
const request = Buffer.concat([
  Buffer.from(
    `POST ${target.pathname} HTTP/1.1\r\nhost: ${target.host}\r\n` +
      Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('') +
      `content-length: ${body.length}\r\n\r\n`,
    'latin1',
  ),
  body,
]);

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

const window = await measureWindow({
  workers: Array.from({ length: concurrency }, client),
  warmupMs: WARMUP_MS,
  durationMs,
  serverPid,
  startMeasuring: () => (measuring = true),
  stop: () => (stop = true),
});
const summary = summarize({ concurrency, latencies, errors, ...window });
process.stdout.write(JSON.stringify(summary) + '\n');
