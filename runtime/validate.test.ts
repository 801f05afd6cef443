import { describe, expect, it } from 'vitest';
import { decodeInferRequest } from './codec.ts';
import { RequestError } from './errors.ts';
import { isBatchable, signatureFromMetadata, validateRequest, zeroInputs } from './validate.ts';
import type { ModelSignature } from './validate.ts';

const fraud: ModelSignature = signatureFromMetadata(
  [{ name: 'features', type: 'float32', shape: ['batch', 8] }],
  [{ name: 'probabilities', type: 'float32', shape: ['batch', 2] }],
);
const masked: ModelSignature = signatureFromMetadata(
  [
    { name: 'ids', type: 'int64', shape: ['batch', 4] },
    { name: 'mask', type: 'bool', shape: ['batch', 4] },
  ],
  [
    { name: 'sum', type: 'int64', shape: ['batch', 1] },
    { name: 'other', type: 'float32', shape: [] },
  ],
);
const fixed: ModelSignature = signatureFromMetadata(
  [{ name: 'x', type: 'float32', shape: [1, 3] }],
  [{ name: 'y', type: 'float32', shape: [1, 3] }],
);

const features = (rows: number, cols = 8, datatype = 'FP32') => ({
  name: 'features',
  shape: [rows, cols],
  datatype,
  data: new Array(rows * cols).fill(datatype === 'BOOL' ? true : 0),
});

function check(sig: ModelSignature, body: object) {
  return validateRequest(sig, decodeInferRequest(JSON.stringify(body)));
}

function message(sig: ModelSignature, body: object): string {
  try {
    check(sig, body);
  } catch (e) {
    expect(e).toBeInstanceOf(RequestError);
    expect((e as RequestError).status).toBe(400);
    return (e as Error).message;
  }
  throw new Error('expected a validation error');
}

describe('signatureFromMetadata', () => {
  it('maps symbolic dims to -1 and ort types to v2', () => {
    expect(fraud.inputs).toEqual([{ name: 'features', datatype: 'FP32', shape: [-1, 8] }]);
    expect(masked.inputs[1]).toEqual({ name: 'mask', datatype: 'BOOL', shape: [-1, 4] });
  });
  it('rejects types v2 cannot carry', () => {
    expect(() => signatureFromMetadata([{ name: 'c', type: 'complex64', shape: [1] }], [])).toThrow(
      /cannot serve/,
    );
  });
  it('batchable only when every input has a dynamic first dim', () => {
    expect(isBatchable(fraud)).toBe(true);
    expect(isBatchable(masked)).toBe(true);
    expect(isBatchable(fixed)).toBe(false);
  });
});

describe('validateRequest', () => {
  it('accepts a good request and reports rows and all outputs', () => {
    const v = check(fraud, { inputs: [features(3)] });
    expect(v.rows).toBe(3);
    expect(v.outputs).toEqual(['probabilities']);
    expect(v.inputs.features!.dims).toEqual([3, 8]);
    expect(v.inputs.features!.type).toBe('float32');
  });
  it('returns only the requested outputs', () => {
    const v = check(masked, {
      inputs: [
        { name: 'ids', shape: [1, 4], datatype: 'INT64', data: [1, 2, 3, 4] },
        { name: 'mask', shape: [1, 4], datatype: 'BOOL', data: [true, false, true, true] },
      ],
      outputs: [{ name: 'sum' }],
    });
    expect(v.outputs).toEqual(['sum']);
  });
  it('fixed-shape models: exact shape, rows undefined', () => {
    expect(
      check(fixed, { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }).rows,
    ).toBe(undefined);
    expect(
      message(fixed, { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] }),
    ).toMatch(/shape \[2, 3\] does not match the model's \[1, 3\]/);
  });
  it.each([
    ['wrong datatype', { inputs: [features(1, 8, 'FP64')] }, /datatype FP64 does not match the model's FP32/],
    ['wrong inner dim', { inputs: [features(1, 7)] }, /shape \[1, 7\] does not match/],
    [
      'wrong rank',
      { inputs: [{ name: 'features', shape: [8], datatype: 'FP32', data: new Array(8).fill(0) }] },
      /shape \[8\]/,
    ],
    ['zero rows', { inputs: [features(0)] }, /at least 1/],
    [
      'unknown input',
      { inputs: [features(1), { name: 'extra', shape: [1], datatype: 'FP32', data: [0] }] },
      /unknown input "extra"/,
    ],
    [
      'missing input',
      { inputs: [{ name: 'other', shape: [1], datatype: 'FP32', data: [0] }] },
      /unknown input "other"/,
    ],
    ['unknown output', { inputs: [features(1)], outputs: [{ name: 'nope' }] }, /unknown output "nope"/],
  ])('400 on %s', (_, body, re) => {
    expect(message(fraud, body)).toMatch(re);
  });
  it('400 on a missing input and on inputs disagreeing on rows', () => {
    expect(
      message(masked, { inputs: [{ name: 'ids', shape: [1, 4], datatype: 'INT64', data: [1, 2, 3, 4] }] }),
    ).toMatch(/missing input "mask"/);
    expect(
      message(masked, {
        inputs: [
          { name: 'ids', shape: [1, 4], datatype: 'INT64', data: [1, 2, 3, 4] },
          { name: 'mask', shape: [2, 4], datatype: 'BOOL', data: new Array(8).fill(true) },
        ],
      }),
    ).toMatch(/disagree on the batch dimension/);
  });
});

describe('zeroInputs', () => {
  it('one zero row of each input, dynamic dims as 1', () => {
    const z = zeroInputs(masked);
    expect(z.ids!.dims).toEqual([1, 4]);
    expect(z.ids!.data).toBeInstanceOf(BigInt64Array);
    expect(z.mask!.data).toEqual(new Uint8Array(4));
  });
});
