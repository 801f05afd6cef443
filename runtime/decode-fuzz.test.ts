// Property-based tests of everything that parses untrusted request bytes: the
// v2 JSON body, the binary tensor data extension and the gRPC message. Any
// input is answered with a RequestError of a 4xx status or a decoded request
// that holds what was sent; never another exception (a 500) or a hang.
// Seeded, so a failure reproduces; the counterexamples found are pinned as
// plain tests at the bottom.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ELEMENT_BYTES, splitBody, toBinary } from './binary.ts';
import { decodeInferRequest } from './codec.ts';
import type { InferRequest } from './codec.ts';
import { RequestError } from './errors.ts';
import { checkDecoded, loadServiceDefinition, tolerantModelInfer } from './grpc.ts';
import { decodeGrpcInferRequest } from './grpc-codec.ts';
import type { GrpcInferRequest } from './grpc-codec.ts';
import { V2_DATATYPES, v2ToOrt } from './tensor.ts';
import type { HostTensor, V2Datatype } from './tensor.ts';
import { validateRequest } from './validate.ts';
import type { ModelSignature } from './validate.ts';

const SEED = 18;

// the fraud model's signature, and one with a fixed shape and a string input
const signatures: ModelSignature[] = [
  {
    inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 8] }],
    outputs: [{ name: 'score', datatype: 'FP32', shape: [-1, 1] }],
  },
  {
    inputs: [
      { name: 'text', datatype: 'BYTES', shape: [2] },
      { name: 'n', datatype: 'INT64', shape: [1, 1] },
    ],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [1] }],
  },
];

type Outcome = { ok: InferRequest } | { status: number };

/** What the server does with a body: decode (binary extension when the header is given), then validate. */
function answerHttp(body: Uint8Array, headerLength?: string): Outcome {
  return settle(() => {
    const req =
      headerLength === undefined
        ? decodeInferRequest(Buffer.from(body).toString('utf8'))
        : (() => {
            const split = splitBody(body, headerLength);
            return decodeInferRequest(split.json, split.binary);
          })();
    for (const sig of signatures) settle(() => validateRequest(sig, req));
    return req;
  });
}

function settle<T extends InferRequest | unknown>(f: () => T): Outcome {
  try {
    return { ok: f() as InferRequest };
  } catch (e) {
    if (e instanceof RequestError && e.status >= 400 && e.status < 500 && e.message !== '') {
      return { status: e.status };
    }
    throw e;
  }
}

// ---------------------------------------------------------------- generators

const dims = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 4 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(-1, 1.5, 2 ** 31, 2 ** 53 - 1, 2 ** 53, 1e300, -0, '2', null),
  },
);
// many huge dimensions: element counts past 2^53, to Infinity, and (with a 0) to NaN
const hugeShape = fc.array(
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(2 ** 53 - 1) },
    { weight: 1, arbitrary: fc.constantFrom(0, 1, 2 ** 31) },
  ),
  {
    minLength: 15,
    maxLength: 25,
  },
);
const shape = fc.oneof(
  { weight: 4, arbitrary: fc.array(dims, { maxLength: 6 }) },
  { weight: 1, arbitrary: hugeShape },
);
const datatype = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...V2_DATATYPES) },
  // BYTES has its own length-prefixed binary layout: more cases to get wrong
  { weight: 2, arbitrary: fc.constant('BYTES') },
  { weight: 1, arbitrary: fc.constantFrom('fp32', 'FLOAT', '', 7) },
);
const element = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.string({ maxLength: 6 }),
  fc.constantFrom('9223372036854775807', '-9223372036854775809', '1e3', '\u0000', null),
);
const data = fc.oneof(
  fc.array(element, { maxLength: 12 }),
  fc.array(fc.array(element, { maxLength: 4 }), { maxLength: 4 }),
);

/** A v2 input object, plausible or not. */
const input = fc.record(
  {
    name: fc.oneof(fc.constantFrom('features', 'text', 'n', 'x', ''), fc.string({ maxLength: 5 })),
    datatype,
    shape,
    data,
    parameters: fc.oneof(
      fc.record({ binary_data_size: fc.oneof(fc.nat({ max: 64 }), fc.constantFrom(-1, 1.5, 2 ** 60, '8')) }),
      fc.constantFrom(null, 3, [], {}),
    ),
  },
  { requiredKeys: [] },
);

const request = fc.record(
  {
    id: fc.oneof(fc.string({ maxLength: 5 }), fc.integer()),
    inputs: fc.oneof(fc.array(input, { minLength: 0, maxLength: 3 }), fc.constantFrom(null, {}, 'x')),
    outputs: fc.oneof(
      fc.array(
        fc.record(
          {
            name: fc.oneof(fc.constantFrom('score', 'y'), fc.integer()),
            parameters: fc.oneof(
              fc.record(
                { binary_data: fc.oneof(fc.boolean(), fc.integer()), classification: fc.nat() },
                {
                  requiredKeys: [],
                },
              ),
              fc.constant(7),
            ),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 2 },
      ),
      fc.constant('score'),
    ),
    parameters: fc.oneof(
      fc.record({ binary_data_output: fc.oneof(fc.boolean(), fc.string()) }),
      fc.constant([]),
    ),
  },
  { requiredKeys: ['inputs'] },
);

/** A body of the binary extension: the JSON header, then random bytes; the header length right or not. */
const binaryBody = fc
  .tuple(request, fc.uint8Array({ maxLength: 96 }), fc.oneof(fc.constant(0), fc.integer({ min: -8, max: 8 })))
  .map(([req, bin, skew]) => {
    const json = Buffer.from(JSON.stringify(req));
    const body = Buffer.concat([json, bin]);
    return { body: new Uint8Array(body), header: String(json.length + skew) };
  });

/** Inputs all in the binary section, with bytes for exactly the sizes they declare (their content random). */
const binaryInputsBody = fc
  .array(
    fc.record({
      name: fc.constantFrom('features', 'text', 'n', 'x'),
      datatype,
      shape,
      size: fc.nat({ max: 48 }),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .chain((inputs) => {
    const total = inputs.reduce((a, i) => a + i.size, 0);
    return fc.uint8Array({ minLength: total, maxLength: total }).map((bin) => {
      const json = Buffer.from(
        JSON.stringify({
          inputs: inputs.map((i) => ({
            name: i.name,
            datatype: i.datatype,
            shape: i.shape,
            parameters: { binary_data_size: i.size },
          })),
        }),
      );
      return { body: new Uint8Array(Buffer.concat([json, bin])), header: String(json.length) };
    });
  });

const headerValue = fc.oneof(
  fc.nat({ max: 200 }).map(String),
  fc.constantFrom('', ' ', '-1', '0', '1e3', '0x10', '99999999999999999999', '١٢'),
);

// ---------------------------------------------------------------- the HTTP decoder

describe('HTTP request decoding (v2 JSON and the binary tensor extension)', () => {
  it('answers random bytes with a 4xx', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 256 }),
        fc.option(headerValue, { nil: undefined }),
        (body, header) => {
          answerHttp(body, header);
        },
      ),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('answers random JSON with a 4xx', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(answerHttp(Buffer.from(text))).toHaveProperty('status');
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('answers plausible v2 requests, JSON or binary, with a 4xx or a decoded request', () => {
    fc.assert(
      fc.property(request, (req) => {
        answerHttp(Buffer.from(JSON.stringify(req)));
      }),
      { seed: SEED, numRuns: 1500 },
    );
    fc.assert(
      fc.property(fc.oneof(binaryBody, binaryInputsBody), ({ body, header }) => {
        answerHttp(body, header);
      }),
      { seed: SEED, numRuns: 1500 },
    );
  });
});

// ---------------------------------------------------------------- round trips: what decodes is what was sent

/** A well-formed tensor: its JSON values and its host form. */
const tensor = fc
  .tuple(
    fc.constantFrom(...V2_DATATYPES.filter((d) => d !== 'FP16')),
    fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
  )
  .chain(([dt, shp]) => {
    const n = shp.reduce((a, b) => a * b, 1);
    const value = elementOf(dt);
    return fc
      .array(value, { minLength: n, maxLength: n })
      .map((values) => ({ datatype: dt, shape: shp, values }));
  });

function elementOf(dt: V2Datatype): fc.Arbitrary<number | string | boolean> {
  switch (dt) {
    case 'BOOL':
      return fc.boolean();
    case 'BYTES':
      return fc.string({ unit: 'grapheme', maxLength: 6 }).filter((s) => !s.includes('\0'));
    case 'INT8':
      return fc.integer({ min: -128, max: 127 });
    case 'UINT8':
      return fc.integer({ min: 0, max: 255 });
    case 'INT16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'UINT16':
      return fc.integer({ min: 0, max: 65535 });
    case 'INT32':
      return fc.integer();
    case 'UINT32':
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case 'INT64':
    case 'UINT64':
      return fc.bigInt({ min: dt === 'INT64' ? -(2n ** 63n) : 0n, max: 2n ** 63n - 1n }).map(String);
    case 'FP32':
      return fc.float({ noNaN: true, noDefaultInfinity: true }).map((x) => Math.fround(x));
    default:
      return fc.double({ noNaN: true, noDefaultInfinity: true });
  }
}

/** The decoded data as JSON values, to compare with what was sent. */
function asValues(dt: V2Datatype, d: HostTensor['data']): unknown[] {
  if (Array.isArray(d)) return d;
  if (dt === 'BOOL') return [...(d as Uint8Array)].map((x) => x === 1);
  return Array.from(d as ArrayLike<number | bigint>).map((x) => (typeof x === 'bigint' ? String(x) : x));
}

describe('HTTP request decoding round trips', () => {
  it('decodes a JSON request to the values sent', () => {
    fc.assert(
      fc.property(tensor, ({ datatype: dt, shape: shp, values }) => {
        const body = JSON.stringify({ inputs: [{ name: 'x', datatype: dt, shape: shp, data: values }] });
        const r = answerHttp(Buffer.from(body));
        if (!('ok' in r)) throw new Error(`refused ${body}`);
        const got = r.ok.inputs[0]!;
        expect(got.shape).toEqual(shp);
        expect(asValues(dt, got.data)).toEqual(values.map((v) => (Object.is(v, -0) ? 0 : v)));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('decodes a binary request to the values sent', () => {
    fc.assert(
      fc.property(tensor, ({ datatype: dt, shape: shp, values }) => {
        const host = decodeInferRequest(
          JSON.stringify({ inputs: [{ name: 'x', datatype: dt, shape: shp, data: values }] }),
        ).inputs[0]!;
        const bin = toBinary({ type: v2ToOrt(dt), dims: shp, data: host.data });
        const json = Buffer.from(
          JSON.stringify({
            inputs: [{ name: 'x', datatype: dt, shape: shp, parameters: { binary_data_size: bin.length } }],
          }),
        );
        const r = answerHttp(new Uint8Array(Buffer.concat([json, bin])), String(json.length));
        if (!('ok' in r)) throw new Error(`refused ${dt} ${JSON.stringify(shp)}`);
        expect(asValues(dt, r.ok.inputs[0]!.data)).toEqual(asValues(dt, host.data));
        if (dt !== 'BYTES') expect(bin.length).toBe(values.length * ELEMENT_BYTES[dt]);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------- the gRPC decoder

const modelInfer = tolerantModelInfer(loadServiceDefinition()).ModelInfer!;
const serialize = (msg: unknown) => modelInfer.requestSerialize(msg) as Buffer;

/** What the gRPC server does with a ModelInferRequest's bytes: protobuf, then decode and validate. */
function answerGrpc(bytes: Uint8Array): Outcome {
  return settle(() => {
    const msg = modelInfer.requestDeserialize(Buffer.from(bytes)) as GrpcInferRequest;
    checkDecoded(msg);
    const req = decodeGrpcInferRequest(msg);
    for (const sig of signatures) settle(() => validateRequest(sig, req));
    return req;
  });
}

const grpcInput = fc.record(
  {
    name: fc.constantFrom('features', 'text', 'n', ''),
    datatype: fc.oneof(fc.constantFrom(...V2_DATATYPES), fc.constant('X')),
    shape: fc.array(
      fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom(-1, 2 ** 53, '9223372036854775807')),
      {
        maxLength: 25,
      },
    ),
    contents: fc.record(
      {
        bool_contents: fc.array(fc.boolean(), { maxLength: 8 }),
        int_contents: fc.array(fc.integer(), { maxLength: 8 }),
        int64_contents: fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String), {
          maxLength: 4,
        }),
        fp32_contents: fc.array(fc.float(), { maxLength: 8 }),
        bytes_contents: fc.array(fc.uint8Array({ maxLength: 6 }), { maxLength: 4 }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

const grpcMessage = fc.record(
  {
    id: fc.string({ maxLength: 4 }),
    inputs: fc.array(grpcInput, { maxLength: 3 }),
    outputs: fc.array(fc.record({ name: fc.constantFrom('score', 'y', '') }), { maxLength: 2 }),
    raw_input_contents: fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 3 }),
  },
  { requiredKeys: [] },
);

describe('gRPC request decoding (ModelInferRequest)', () => {
  it('answers random bytes with a 4xx or a decoded request', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        answerGrpc(bytes);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('answers plausible messages (serialized, then bit-flipped or not) with a 4xx or a decoded request', () => {
    fc.assert(
      fc.property(grpcMessage, fc.option(fc.tuple(fc.nat(), fc.nat({ max: 7 }))), (msg, flip) => {
        const bytes = new Uint8Array(serialize(msg));
        if (flip && bytes.length > 0) bytes[flip[0] % bytes.length]! ^= 1 << flip[1];
        answerGrpc(bytes);
      }),
      { seed: SEED, numRuns: 1500 },
    );
  });
});

// ---------------------------------------------------------------- counterexamples the properties found

describe('decoder counterexamples', () => {
  // 20 dims of 2^53-1 multiply to Infinity, and Infinity × 0 is NaN: `new Array(NaN)` threw a RangeError (a 500)
  const overflowing = [...Array<number>(20).fill(2 ** 53 - 1), 0];

  it('a BYTES input of a zero-element shape whose other dims overflow is an empty tensor, not a 500', () => {
    const json = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'x', datatype: 'BYTES', shape: overflowing, parameters: { binary_data_size: 0 } }],
      }),
    );
    const r = answerHttp(new Uint8Array(json), String(json.length));
    expect(r).toHaveProperty('ok');
    if ('ok' in r) expect(r.ok.inputs[0]!.data).toEqual([]);
  });

  it('bytes protobuf cannot decode are a 400 (INVALID_ARGUMENT), not an INTERNAL error', () => {
    // a field tag with wire type 7, which protobuf does not have
    expect(answerGrpc(new Uint8Array([0x0f]))).toEqual({ status: 400 });
  });

  it('the same shape over gRPC with raw_input_contents is an empty tensor, not a 500', () => {
    const bytes = serialize({
      inputs: [{ name: 'x', datatype: 'BYTES', shape: overflowing.map(String) }],
      raw_input_contents: [new Uint8Array(0)],
    });
    const r = answerGrpc(new Uint8Array(bytes));
    expect(r).toHaveProperty('ok');
  });
});
