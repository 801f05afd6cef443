// gRPC load generator for bench/inference.ts, the gRPC twin of bench/loadgen.ts:
// `concurrency` closed-loop callers of inference.GRPCInferenceService/ModelInfer
// on one @grpc/grpc-js channel (one HTTP/2 connection, as a client application
// holds it), for `durationMs` after a warm-up or until `maxRequests`, then one
// JSON line in bench/loadgen.ts's shape (bench/load-window.ts).
//
// Like loadgen.ts it keeps its own cost down: the request message is encoded
// once (tensor bytes in raw_input_contents, as tritonclient.grpc sends them)
// and answers are not decoded, only counted; the first call is decoded in full
// and its output checked against the expected values, so a wrong answer fails
// the run instead of being timed. grpc-js still frames HTTP/2 and runs its
// call machinery for each call, which costs more CPU than loadgen.ts's
// minimal HTTP/1.1 client (compare loadgenCpuUsPerRequest).
//
//   node bench/grpc-loadgen.ts <host:port> <concurrency> <durationMs> <maxRequests> <request-json> [server-pid]
//
// request-json: {"model": name, "rows": [[…8 floats]], "expected": [probabilities…]}
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { loadServiceDefinition } from '../runtime/grpc.ts';
import { measureWindow, summarize } from './load-window.ts';

const [target, c, d, max, requestFile, serverPid] = process.argv.slice(2);
if (!target || !c || !d || !max || !requestFile)
  throw new Error('usage: grpc-loadgen <host:port> <concurrency> <durationMs> <maxRequests> <request-json>');
if (!target.startsWith('127.0.0.1:')) throw new Error('grpc-loadgen only targets 127.0.0.1');
const concurrency = Number(c);
const durationMs = Number(d);
const maxRequests = Number(max);
const spec = JSON.parse(readFileSync(requestFile, 'utf8')) as {
  model: string;
  rows: number[][];
  expected: number[];
};
const WARMUP_MS = 500;
const METHOD = '/inference.GRPCInferenceService/ModelInfer';

// the runtime's own loading of the proto, so client and server read it alike
const service = loadServiceDefinition();
const infer = service.ModelInfer!;
type Response = { outputs: { name: string }[]; raw_output_contents: Buffer[] };

const features = Float32Array.from(spec.rows.flat());
const message = infer.requestSerialize({
  model_name: spec.model,
  inputs: [{ name: 'features', datatype: 'FP32', shape: [spec.rows.length, spec.rows[0]!.length] }],
  raw_input_contents: [Buffer.from(features.buffer, features.byteOffset, features.byteLength)],
});

const client = new grpc.Client(target, grpc.credentials.createInsecure(), {
  'grpc.max_receive_message_length': -1,
});

function call(): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      METHOD,
      () => message,
      (b: Buffer) => b,
      {},
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
}

// The first answer in full: the right output, or no run at all.
const first = infer.responseDeserialize(await call()) as Response;
const raw = first.raw_output_contents[0];
if (!raw) throw new Error(`no raw_output_contents in the answer: ${JSON.stringify(first.outputs)}`);
const got = Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
if (got.length !== spec.expected.length || got.some((v, i) => Math.abs(v - spec.expected[i]!) > 1e-5))
  throw new Error(`gRPC answers ${got} where ${spec.expected} is expected`);

let measuring = false;
let stop = false;
let sent = 0;
let errors = 0;
const latencies: number[] = [];

async function caller(): Promise<void> {
  while (!stop) {
    const t0 = performance.now();
    let ok = true;
    try {
      await call();
    } catch {
      ok = false;
    }
    if (measuring) {
      latencies.push(performance.now() - t0);
      if (!ok) errors++;
      if (++sent >= maxRequests) stop = true;
    }
  }
}

const window = await measureWindow({
  workers: Array.from({ length: concurrency }, caller),
  warmupMs: WARMUP_MS,
  durationMs,
  serverPid,
  startMeasuring: () => (measuring = true),
  stop: () => (stop = true),
});
const summary = summarize({ concurrency, latencies, errors, ...window });
client.close();
process.stdout.write(JSON.stringify(summary) + '\n');
