import { describe, expect, it } from 'vitest';
import {
  decodeInferRequest,
  encodeInferResponse,
  encodeRequestJson,
  flatten,
  toJsonData,
  toTypedData,
} from './codec.ts';
import { RequestError } from './errors.ts';
import { fromHalfBits, toHalfBits } from './tensor.ts';

function status(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof RequestError ? e.status : -1;
  }
  return undefined;
}

const req = (inputs: unknown[], extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ inputs, ...extra });

describe('decodeInferRequest', () => {
  it('decodes flat and nested data into typed arrays', () => {
    const flat = decodeInferRequest(
      req([{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] }]),
    );
    const nested = decodeInferRequest(
      req(
        [
          {
            name: 'x',
            shape: [2, 2],
            datatype: 'FP32',
            data: [
              [1, 2],
              [3, 4],
            ],
          },
        ],
        { id: 'r1', outputs: [{ name: 'y' }] },
      ),
    );
    expect(flat.inputs[0]!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(nested.inputs[0]!.data as Float32Array)).toEqual([1, 2, 3, 4]);
    expect(nested.id).toBe('r1');
    expect(nested.outputs).toEqual(['y']);
  });

  it.each([
    ['malformed JSON', '{"inputs": ['],
    ['not an object', '[1]'],
    ['no inputs', '{}'],
    ['empty inputs', '{"inputs": []}'],
    ['input not an object', req([1])],
    ['missing name', req([{ shape: [1], datatype: 'FP32', data: [1] }])],
    ['unknown datatype', req([{ name: 'x', shape: [1], datatype: 'FLOAT', data: [1] }])],
    ['bad shape', req([{ name: 'x', shape: [-1], datatype: 'FP32', data: [1] }])],
    ['shape not array', req([{ name: 'x', shape: 3, datatype: 'FP32', data: [1, 2, 3] }])],
    ['data not array', req([{ name: 'x', shape: [1], datatype: 'FP32', data: 1 }])],
    ['too few elements', req([{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3] }])],
    ['too many elements', req([{ name: 'x', shape: [1], datatype: 'FP32', data: [1, 2] }])],
    [
      'duplicate input',
      req([
        { name: 'x', shape: [1], datatype: 'FP32', data: [1] },
        { name: 'x', shape: [1], datatype: 'FP32', data: [1] },
      ]),
    ],
    ['bad id', req([{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], { id: 3 })],
    ['bad outputs', req([{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], { outputs: ['y'] })],
  ])('400 on %s', (_, body) => {
    expect(status(() => decodeInferRequest(body))).toBe(400);
  });
});

describe('toTypedData', () => {
  it.each([
    ['BOOL', [true, false], Uint8Array, [1, 0]],
    ['UINT8', [0, 255], Uint8Array, [0, 255]],
    ['UINT16', [65535], Uint16Array, [65535]],
    ['UINT32', [4294967295], Uint32Array, [4294967295]],
    ['INT8', [-128, 127], Int8Array, [-128, 127]],
    ['INT16', [-32768], Int16Array, [-32768]],
    ['INT32', [-2147483648], Int32Array, [-2147483648]],
    ['FP32', [1.5, -2], Float32Array, [1.5, -2]],
    ['FP64', [0.1], Float64Array, [0.1]],
  ] as const)('%s', (dt, values, ctor, expected) => {
    const d = toTypedData(dt, values, 'x');
    expect(d).toBeInstanceOf(ctor);
    expect(Array.from(d as Uint8Array)).toEqual(expected);
  });

  it('64-bit integers from numbers and exact strings', () => {
    expect(Array.from(toTypedData('INT64', [-5, '9223372036854775807'], 'x') as BigInt64Array)).toEqual([
      -5n,
      9223372036854775807n,
    ]);
    expect(Array.from(toTypedData('UINT64', ['18446744073709551615'], 'x') as BigUint64Array)).toEqual([
      18446744073709551615n,
    ]);
  });

  it('FP16 as half bits', () => {
    const d = toTypedData('FP16', [1, -2, 0.5, 65504], 'x') as Uint16Array;
    expect(Array.from(d)).toEqual([0x3c00, 0xc000, 0x3800, 0x7bff]);
  });

  it('BYTES as strings', () => {
    expect(toTypedData('BYTES', ['a', ''], 'x')).toEqual(['a', '']);
  });

  it.each([
    ['BOOL', [1]],
    ['UINT8', [256]],
    ['UINT8', [-1]],
    ['INT8', [128]],
    ['INT16', [32768]],
    ['INT32', [2147483648]],
    ['UINT32', [-1]],
    ['INT32', [1.5]],
    ['INT64', [2 ** 60]],
    ['INT64', ['9223372036854775808']],
    ['UINT64', [-1]],
    ['INT64', ['1e3']],
    ['FP32', ['1']],
    ['FP32', [null]],
    ['FP64', [true]],
    ['FP16', ['x']],
    ['BYTES', [1]],
    ['BYTES', ['a\0b']],
  ] as const)('400 on %s %j', (dt, values) => {
    expect(status(() => toTypedData(dt, values, 'x'))).toBe(400);
  });
});

describe('encoding', () => {
  it('writes bools, halves and exact 64-bit integers', () => {
    expect(toJsonData({ type: 'bool', dims: [2], data: Uint8Array.from([1, 0]) })).toEqual([true, false]);
    expect(toJsonData({ type: 'float16', dims: [1], data: Uint16Array.from([0x3c00]) })).toEqual([1]);
    const body = encodeInferResponse({ name: 'm', version: '2' }, 'id1', [
      {
        name: 'big',
        tensor: { type: 'int64', dims: [2], data: BigInt64Array.from([9223372036854775807n, -3n]) },
      },
      { name: 's', tensor: { type: 'string', dims: [1], data: ['hé'] } },
    ]);
    expect(body).toBe(
      '{"model_name":"m","model_version":"2","id":"id1","outputs":[' +
        '{"name":"big","datatype":"INT64","shape":[2],"data":[9223372036854775807,-3]},' +
        '{"name":"s","datatype":"BYTES","shape":[1],"data":["hé"]}]}',
    );
  });

  it('flatten leaves flat arrays alone and flattens row-major', () => {
    const flat = [1, 2];
    expect(flatten(flat)).toBe(flat);
    expect(
      flatten([
        [[1], [2]],
        [[3], [4]],
      ]),
    ).toEqual([1, 2, 3, 4]);
  });
});

describe('half precision', () => {
  it('round-trips representable values and rounds to nearest even', () => {
    for (const v of [
      0,
      -0,
      1,
      -1,
      0.333251953125,
      65504,
      6.103515625e-5,
      5.960464477539063e-8,
      Infinity,
      -Infinity,
    ]) {
      expect(fromHalfBits(toHalfBits(v))).toBe(v);
    }
    expect(Number.isNaN(fromHalfBits(toHalfBits(NaN)))).toBe(true);
    expect(fromHalfBits(toHalfBits(1e6))).toBe(Infinity);
    expect(fromHalfBits(toHalfBits(1 + 2 ** -11))).toBe(1); // tie → even
    expect(fromHalfBits(toHalfBits(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(toHalfBits(1e-10)).toBe(0);
  });
});

describe('encodeRequestJson', () => {
  it('writes a decoded request (as gRPC or binary requests arrive) as the v2 JSON it stands for', () => {
    const half = toHalfBits(1.5);
    const req = decodeInferRequest(
      JSON.stringify({
        id: 'r1',
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [1, 2], data: [0.5, -2] },
          { name: 'h', datatype: 'FP16', shape: [1], data: [1.5] },
          { name: 's', datatype: 'BYTES', shape: [1], data: ['a'] },
        ],
        outputs: [{ name: 'y' }],
      }),
    );
    expect(JSON.parse(encodeRequestJson(req))).toEqual({
      id: 'r1',
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [1, 2], data: [0.5, -2] },
        { name: 'h', datatype: 'FP16', shape: [1], data: [fromHalfBits(half)] },
        { name: 's', datatype: 'BYTES', shape: [1], data: ['a'] },
      ],
      outputs: [{ name: 'y' }],
    });
  });
});
