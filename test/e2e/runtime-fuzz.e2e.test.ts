// The inference runtime as a real process on the fraud model, fed a few
// hundred seeded random and mutated request bodies over HTTP (v2 JSON and the
// binary tensor extension) and gRPC: every answer is 200 or a 4xx (gRPC: OK
// or a code a 4xx maps to), and afterwards the server is alive, live and ready.
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mutated } from '../../operator/schema/fuzz.ts';
import type { Json } from '../../operator/schema/fuzz.ts';
import { FRAUD_MODEL } from '../../runtime/models/fraud-reference.ts';
import { killRuntimes, startRuntime } from './clients/harness.ts';
import type { Runtime } from './clients/harness.ts';

const SEED = 18;
const VALID: Json = {
  id: 'r1',
  inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] }],
  outputs: [{ name: 'score' }],
};
// gRPC codes of client errors (grpcStatusOf's images of 4xx statuses)
const CLIENT_CODES = new Set([
  grpc.status.OK,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.UNIMPLEMENTED,
  grpc.status.FAILED_PRECONDITION,
]);

type Body = { body: Uint8Array; headers: Record<string, string> };

const bodies: fc.Arbitrary<Body> = fc.oneof(
  // random bytes, with or without a binary-extension header
  fc
    .tuple(fc.uint8Array({ maxLength: 512 }), fc.option(fc.nat({ max: 600 }), { nil: undefined }))
    .map(([body, n]): Body => {
      const headers: Record<string, string> = {};
      if (n !== undefined) headers['inference-header-content-length'] = String(n);
      return { body, headers };
    }),
  // a valid request, mutated (wrong types, bounds, missing fields, huge and non-ASCII strings)
  mutated(VALID, { hugeLength: 50_000 }).map((req) => ({
    body: new Uint8Array(Buffer.from(JSON.stringify(req))),
    headers: { 'content-type': 'application/json' },
  })),
  // the binary extension: a mutated JSON header, then random bytes
  fc
    .tuple(mutated(VALID), fc.uint8Array({ maxLength: 64 }), fc.integer({ min: -4, max: 4 }))
    .map(([req, bin, skew]) => {
      const json = Buffer.from(JSON.stringify(req));
      return {
        body: new Uint8Array(Buffer.concat([json, bin])),
        headers: { 'inference-header-content-length': String(json.length + skew) },
      };
    }),
);

describe('runtime under fuzzed requests', () => {
  let rt: Runtime;
  let client: grpc.Client;

  beforeAll(async () => {
    rt = await startRuntime(['--model', pathToFileURL(FRAUD_MODEL).href], { grpc: true });
    client = new grpc.Client(rt.grpcTarget!, grpc.credentials.createInsecure());
  });
  afterAll(() => {
    client?.close();
    killRuntimes();
  });

  it('answers every random HTTP body with 200 or a 4xx, and stays healthy', async () => {
    const samples = fc.sample(bodies, { seed: SEED, numRuns: 300 });
    const statuses = new Map<number, number>();
    for (const [i, { body, headers }] of samples.entries()) {
      const res = await fetch(`${rt.url}/v2/models/fraud/infer`, { method: 'POST', body, headers });
      const text = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const ok = res.status === 200 || (res.status >= 400 && res.status < 500);
      expect(ok, `sample ${i}: ${res.status} ${text.slice(0, 300)}`).toBe(true);
      if (res.status !== 200) expect(JSON.parse(text)).toHaveProperty('error');
    }
    // some are answered, most refused: both halves of the property are exercised
    expect(statuses.get(200)).toBeGreaterThan(0);
    expect(statuses.get(400)).toBeGreaterThan(0);
    expect(rt.child.exitCode).toBeNull();
    expect((await fetch(`${rt.url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${rt.url}/v2/health/ready`)).status).toBe(200);
  });

  it('answers every random gRPC ModelInfer message with OK or a client-error code, and stays healthy', async () => {
    const messages = fc.sample(fc.uint8Array({ maxLength: 512 }), { seed: SEED, numRuns: 200 });
    const raw = (bytes: Uint8Array) =>
      new Promise<grpc.status>((resolve) => {
        client.makeUnaryRequest(
          '/inference.GRPCInferenceService/ModelInfer',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from(bytes),
          (err) => resolve(err ? err.code : grpc.status.OK),
        );
      });
    for (const [i, bytes] of messages.entries()) {
      const code = await raw(bytes);
      expect(CLIENT_CODES.has(code), `message ${i}: ${grpc.status[code]}`).toBe(true);
    }
    expect(rt.child.exitCode).toBeNull();
    expect((await fetch(`${rt.url}/v2/health/ready`)).status).toBe(200);
  });
});
