import { describe, expect, it } from 'vitest';
import { ELEMENT_BYTES, fromBinary, splitBody, toBinary } from './binary.ts';
import { decodeInferRequest, encodeBinaryInferResponse, wantsBinary } from './codec.ts';
import { RequestError } from './errors.ts';
import type { HostTensor, V2Datatype } from './tensor.ts';
import { toHalfBits, v2ToOrt } from './tensor.ts';

/** The message of the RequestError(400) f throws. */
function badRequest(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof RequestError && e.status === 400) return e.message;
    throw e;
  }
  throw new Error('no error thrown');
}

// Little-endian bytes written independently of the codec, through DataView.
function le(datatype: Exclude<V2Datatype, 'BYTES'>, values: readonly (number | bigint)[]): Uint8Array {
  const size = ELEMENT_BYTES[datatype];
  const out = new Uint8Array(values.length * size);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => {
    const at = i * size;
    switch (datatype) {
      case 'BOOL':
      case 'UINT8':
        return v.setUint8(at, x as number);
      case 'INT8':
        return v.setInt8(at, x as number);
      case 'UINT16':
      case 'FP16':
        return v.setUint16(at, x as number, true);
      case 'INT16':
        return v.setInt16(at, x as number, true);
      case 'UINT32':
        return v.setUint32(at, x as number, true);
      case 'INT32':
        return v.setInt32(at, x as number, true);
      case 'FP32':
        return v.setFloat32(at, x as number, true);
      case 'FP64':
        return v.setFloat64(at, x as number, true);
      case 'UINT64':
        return v.setBigUint64(at, x as bigint, true);
      case 'INT64':
        return v.setBigInt64(at, x as bigint, true);
    }
  });
  return out;
}

function bytesElements(strings: readonly string[]): Uint8Array {
  const enc = strings.map((s) => new TextEncoder().encode(s));
  const out = new Uint8Array(enc.reduce((n, e) => n + 4 + e.length, 0));
  const v = new DataView(out.buffer);
  let at = 0;
  for (const e of enc) {
    v.setUint32(at, e.length, true);
    out.set(e, at + 4);
    at += 4 + e.length;
  }
  return out;
}

/** A binary request body: JSON header, then the parts; and its header length. */
function body(json: unknown, ...parts: Uint8Array[]): { bytes: Uint8Array; headerLength: string } {
  const header = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(header.length + parts.reduce((n, p) => n + p.length, 0));
  out.set(header);
  let at = header.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return { bytes: out, headerLength: String(header.length) };
}

function decode(b: { bytes: Uint8Array; headerLength: string }) {
  const { json, binary } = splitBody(b.bytes, b.headerLength);
  return decodeInferRequest(json, binary);
}

const CASES: [Exclude<V2Datatype, 'BYTES'>, (number | bigint)[]][] = [
  ['BOOL', [1, 0, 1]],
  ['UINT8', [0, 7, 255]],
  ['INT8', [-128, 0, 127]],
  ['UINT16', [0, 1, 65535]],
  ['INT16', [-32768, -1, 32767]],
  ['UINT32', [0, 1, 4294967295]],
  ['INT32', [-2147483648, -1, 2147483647]],
  ['UINT64', [0n, 1n, 18446744073709551615n]],
  ['INT64', [-9223372036854775808n, -1n, 9223372036854775807n]],
  ['FP16', [toHalfBits(1), toHalfBits(-2.5), 0x7c00]],
  ['FP32', [1.5, -0.25, 3.4028234663852886e38]],
  ['FP64', [0.1, -1e300, Number.MIN_VALUE]],
];

describe('binary tensor data: every datatype round-trips', () => {
  it.each(CASES)('%s', (datatype, values) => {
    const wire = le(datatype, values);
    const b = body(
      { inputs: [{ name: 'x', shape: [3], datatype, parameters: { binary_data_size: wire.length } }] },
      wire,
    );
    const input = decode(b).inputs[0]!;
    expect(input.datatype).toBe(datatype);
    expect(Array.from(input.data as ArrayLike<number | bigint>)).toEqual(values);
    // and back out: the same bytes
    const tensor: HostTensor = { type: v2ToOrt(datatype), dims: [3], data: input.data };
    expect(Array.from(toBinary(tensor))).toEqual(Array.from(wire));
  });

  it('BYTES: 4-byte little-endian lengths, UTF-8 contents, empty elements', () => {
    const strings = ['', 'a', 'hé ✓', 'x'.repeat(300)];
    const wire = bytesElements(strings);
    const b = body(
      {
        inputs: [
          { name: 's', shape: [2, 2], datatype: 'BYTES', parameters: { binary_data_size: wire.length } },
        ],
      },
      wire,
    );
    const input = decode(b).inputs[0]!;
    expect(input.data).toEqual(strings);
    expect(Array.from(toBinary({ type: 'string', dims: [2, 2], data: strings }))).toEqual(Array.from(wire));
  });

  it('reads from an unaligned offset (the header length is arbitrary)', () => {
    const wire = le('FP64', [1.25, -3]);
    const b = body(
      {
        inputs: [{ name: 'x', shape: [2], datatype: 'FP64', parameters: { binary_data_size: 16 } }],
        id: 'abc',
      },
      wire,
    );
    expect(Number(b.headerLength) % 8).not.toBe(0);
    expect(Array.from(decode(b).inputs[0]!.data as Float64Array)).toEqual([1.25, -3]);
  });

  it('mixes binary and JSON inputs; the binary section follows input order', () => {
    const a = le('INT32', [1, 2]);
    const c = le('UINT8', [9]);
    const b = body(
      {
        inputs: [
          { name: 'a', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } },
          { name: 'b', shape: [1], datatype: 'FP32', data: [0.5] },
          { name: 'c', shape: [1, 1], datatype: 'UINT8', parameters: { binary_data_size: 1 } },
        ],
      },
      a,
      c,
    );
    const r = decode(b);
    expect(r.inputs.map((i) => Array.from(i.data as ArrayLike<number>))).toEqual([[1, 2], [0.5], [9]]);
  });

  it('a zero-element tensor has binary_data_size 0', () => {
    const b = body({
      inputs: [{ name: 'x', shape: [0, 8], datatype: 'FP32', parameters: { binary_data_size: 0 } }],
    });
    expect((decode(b).inputs[0]!.data as Float32Array).length).toBe(0);
  });

  it('a header length equal to the body means JSON only', () => {
    const b = body({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [2] }] });
    expect(Array.from(decode(b).inputs[0]!.data as Float32Array)).toEqual([2]);
  });
});

describe('binary tensor data: malformed requests are 400s naming the input', () => {
  const fp32 = (size: number, shape = [2]) => ({
    inputs: [{ name: 'feat', shape, datatype: 'FP32', parameters: { binary_data_size: size } }],
  });

  it.each([
    ['not a number', 'abc', /Inference-Header-Content-Length must be .* got "abc"/],
    ['zero', '0', /between 1 and the body's/],
    ['negative', '-5', /got "-5"/],
    ['beyond the body', '100000', /between 1 and the body's \d+; got "100000"/],
    ['two values', ['10', '10'], /got "10, 10"/],
  ])('header length %s', (_, value, message) => {
    const b = body(fp32(8), le('FP32', [1, 2]));
    expect(badRequest(() => splitBody(b.bytes, value))).toMatch(message);
  });

  it('a header length that cuts the JSON is a JSON error', () => {
    const b = body(fp32(8), le('FP32', [1, 2]));
    const cut = { bytes: b.bytes, headerLength: String(Number(b.headerLength) - 3) };
    expect(badRequest(() => decode(cut))).toMatch(/malformed JSON/);
  });

  it('binary_data_size not matching shape × datatype size', () => {
    const b = body(fp32(4), le('FP32', [1]));
    expect(badRequest(() => decode(b))).toBe(
      'input "feat": binary_data_size is 4 bytes, but shape [2] of FP32 needs 8 (2 elements × 4 bytes)',
    );
  });

  it('binary_data_size past the end of the body', () => {
    const b = body(fp32(16), le('FP32', [1, 2]));
    expect(badRequest(() => decode(b))).toMatch(
      /^input "feat": binary_data_size 16 runs past the end of the body: 8 bytes of binary data are left/,
    );
  });

  it('the second input runs past what the first left', () => {
    const b = body(
      {
        inputs: [
          { name: 'a', shape: [1], datatype: 'INT32', parameters: { binary_data_size: 4 } },
          { name: 'b', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } },
        ],
      },
      le('INT32', [1, 2]),
    );
    expect(badRequest(() => decode(b))).toMatch(/^input "b": .* 4 bytes .* and the inputs before it/);
  });

  it('trailing bytes after the last input', () => {
    const b = body(fp32(8), le('FP32', [1, 2, 3]));
    expect(badRequest(() => decode(b))).toMatch(/the body has 4 bytes after the inputs' binary data/);
  });

  it('binary data with no input claiming it', () => {
    const b = body({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }, le('FP32', [1]));
    expect(badRequest(() => decode(b))).toMatch(/4 bytes after the inputs' binary data/);
  });

  it('binary_data_size without the header', () => {
    expect(badRequest(() => decodeInferRequest(JSON.stringify(fp32(8))))).toMatch(
      /^input "feat": parameters.binary_data_size needs the Inference-Header-Content-Length header/,
    );
  });

  it.each([-1, 1.5, '8', null])('binary_data_size %j', (size) => {
    const json = {
      inputs: [{ name: 'feat', shape: [2], datatype: 'FP32', parameters: { binary_data_size: size } }],
    };
    const withSize = body(json, le('FP32', [1, 2]));
    expect(badRequest(() => decode(withSize))).toBe(
      'input "feat": parameters.binary_data_size must be a non-negative integer (bytes)',
    );
  });

  it('both data and binary_data_size', () => {
    const b = body(
      {
        inputs: [
          { name: 'feat', shape: [1], datatype: 'FP32', data: [1], parameters: { binary_data_size: 4 } },
        ],
      },
      le('FP32', [1]),
    );
    expect(badRequest(() => decode(b))).toMatch(
      /^input "feat": has both "data" and parameters.binary_data_size/,
    );
  });

  it('BOOL bytes other than 0 and 1', () => {
    const b = body(
      { inputs: [{ name: 'flag', shape: [2], datatype: 'BOOL', parameters: { binary_data_size: 2 } }] },
      Uint8Array.of(1, 2),
    );
    expect(badRequest(() => decode(b))).toBe(
      'input "flag": BOOL element 1 is byte 2; a BOOL is one byte, 0 or 1',
    );
  });

  const bytesInput = (shape: number[], wire: Uint8Array) =>
    body(
      { inputs: [{ name: 's', shape, datatype: 'BYTES', parameters: { binary_data_size: wire.length } }] },
      wire,
    );

  it('BYTES: an element longer than what is left', () => {
    const wire = bytesElements(['abc']);
    new DataView(wire.buffer).setUint32(0, 99, true);
    expect(badRequest(() => decode(bytesInput([1], wire)))).toBe(
      'input "s": BYTES element 0 declares 99 bytes, but only 3 of binary_data_size 7 remain',
    );
  });

  it('BYTES: fewer elements than the shape', () => {
    // 3 elements need at least 12 bytes; two of them fill 12 bytes and the third has no length
    const wire = bytesElements(['ab', 'cd']);
    expect(badRequest(() => decode(bytesInput([3], wire)))).toBe(
      'input "s": BYTES element 2 has no 4-byte length: 0 bytes left of binary_data_size 12',
    );
  });

  it('BYTES: more bytes than the shape elements', () => {
    const wire = bytesElements(['ab', 'cd']);
    expect(badRequest(() => decode(bytesInput([1], wire)))).toBe(
      'input "s": binary_data_size is 12 bytes, but the 1 BYTES elements of shape [1] end at byte 6',
    );
  });

  it('BYTES: a huge shape is refused before anything is allocated', () => {
    const wire = bytesElements(['a']);
    expect(badRequest(() => decode(bytesInput([1_000_000_000_000], wire)))).toMatch(
      /^input "s": binary_data_size 5 is too small for shape \[1000000000000\]/,
    );
  });

  it('BYTES: a NUL byte (onnxruntime-node would cut the string there)', () => {
    expect(badRequest(() => decode(bytesInput([2], bytesElements(['ok', 'a\0b']))))).toBe(
      'input "s": BYTES element 1 contains a NUL byte, which onnxruntime\'s string tensors cannot carry',
    );
  });

  it('BYTES: invalid UTF-8', () => {
    const wire = Uint8Array.of(2, 0, 0, 0, 0xc3, 0x28);
    expect(badRequest(() => decode(bytesInput([1], wire)))).toMatch(
      /^input "s": BYTES element 0 is not valid UTF-8/,
    );
  });

  it('a fixed-size tensor with a huge shape is refused by its size', () => {
    expect(badRequest(() => fromBinary('FP64', [2 ** 40, 2 ** 20], new Uint8Array(8), 'input "x"'))).toMatch(
      /^input "x": binary_data_size is 8 bytes, but shape \[1099511627776, 1048576\] of FP64 needs/,
    );
  });
});

describe('binary outputs', () => {
  const req = (extra: Record<string, unknown>) =>
    decodeInferRequest(
      JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], ...extra }),
    );

  it('binary_data per output overrides binary_data_output', () => {
    const r = req({
      parameters: { binary_data_output: true },
      outputs: [{ name: 'a', parameters: { binary_data: false } }, { name: 'b' }],
    });
    expect(wantsBinary(r, 'a')).toBe(false);
    expect(wantsBinary(r, 'b')).toBe(true);
    expect(wantsBinary(req({ outputs: [{ name: 'a', parameters: { binary_data: true } }] }), 'a')).toBe(true);
    expect(wantsBinary(req({}), 'a')).toBe(false);
  });

  it.each([
    [{ parameters: { binary_data_output: 'yes' } }, 'parameters.binary_data_output must be true or false'],
    [{ parameters: [] }, '"parameters" must be an object'],
    [
      { outputs: [{ name: 'a', parameters: { binary_data: 1 } }] },
      'output "a": parameters.binary_data must be true or false',
    ],
    [
      { outputs: [{ name: 'a', parameters: { classification: 0 } }] },
      'output "a": parameters.classification must be a positive integer, the number of top classes to return ' +
        "(Triton's classification extension); got 0",
    ],
  ])('400 on %j', (extra, message) => {
    expect(badRequest(() => req(extra))).toBe(message);
  });

  it("takes an output's parameters.classification as its top K", () => {
    const r = req({
      outputs: [{ name: 'a', parameters: { classification: 2, binary_data: true } }, { name: 'b' }],
    });
    expect(r.classification).toEqual(new Map([['a', 2]]));
    expect(wantsBinary(r, 'a')).toBe(true);
  });

  it('encodes binary outputs after the header and leaves the rest JSON', () => {
    const r = encodeBinaryInferResponse({ name: 'm', version: '1' }, 'id1', [
      {
        name: 'p',
        tensor: { type: 'float32', dims: [1, 2], data: Float32Array.of(0.25, 0.75) },
        binary: true,
      },
      { name: 'j', tensor: { type: 'int32', dims: [1], data: Int32Array.of(5) }, binary: false },
      { name: 's', tensor: { type: 'string', dims: [1], data: ['hé'] }, binary: true },
    ]);
    expect(JSON.parse(r.header)).toEqual({
      model_name: 'm',
      model_version: '1',
      id: 'id1',
      outputs: [
        { name: 'p', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } },
        { name: 'j', datatype: 'INT32', shape: [1], data: [5] },
        { name: 's', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 7 } },
      ],
    });
    const headerBytes = Buffer.byteLength(r.header);
    expect(r.body.subarray(0, headerBytes).toString()).toBe(r.header);
    expect(Array.from(r.body.subarray(headerBytes))).toEqual([
      ...le('FP32', [0.25, 0.75]),
      ...bytesElements(['hé']),
    ]);
  });
});
