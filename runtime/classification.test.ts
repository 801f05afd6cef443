import { describe, expect, it } from 'vitest';
import { checkClassifiable, classificationCount, classify } from './classification.ts';
import { RequestError } from './errors.ts';
import { toHalfBits } from './tensor.ts';

function message400(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof RequestError && e.status === 400) return e.message;
    throw e;
  }
  throw new Error('no error thrown');
}

describe('classify', () => {
  it('ranks each batch row: top K "value:index", floats with six decimals, largest first', () => {
    const t = {
      type: 'float32' as const,
      dims: [2, 3],
      data: Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.25, 0.25]),
    };
    expect(classify(t, 2, true)).toEqual({
      type: 'string',
      dims: [2, 2],
      // ties go to the lower index; float32 values print as their double does (C++ std::to_string)
      data: ['0.700000:1', '0.200000:2', '0.500000:0', '0.250000:1'],
    });
  });

  it('returns all classes when K exceeds them, and ranks the whole tensor without a batch dimension', () => {
    const t = { type: 'float64' as const, dims: [2, 2], data: Float64Array.from([3, -1, 7.25, 0]) };
    expect(classify(t, 9, false)).toEqual({
      type: 'string',
      dims: [4],
      data: ['7.250000:2', '3.000000:0', '0.000000:3', '-1.000000:1'],
    });
    expect(classify(t, 9, true).dims).toEqual([2, 2]);
  });

  it('prints integers as integers (64-bit exactly) and reads FP16', () => {
    expect(
      classify({ type: 'int32', dims: [1, 3], data: Int32Array.from([5, -2, 9]) }, 2, true).data,
    ).toEqual(['9:2', '5:0']);
    const big = BigInt64Array.from([9007199254740993n, 1n]);
    expect(classify({ type: 'int64', dims: [2], data: big }, 1, false).data).toEqual(['9007199254740993:0']);
    const half = Uint16Array.from([0.5, 1.5].map(toHalfBits));
    expect(classify({ type: 'float16', dims: [1, 2], data: half }, 1, true).data).toEqual(['1.500000:1']);
  });

  it('keeps an empty batch empty', () => {
    expect(classify({ type: 'float32', dims: [0, 2], data: new Float32Array(0) }, 1, true)).toEqual({
      type: 'string',
      dims: [0, 0],
      data: [],
    });
  });
});

describe('classificationCount and checkClassifiable', () => {
  it('takes a positive integer (or its digits, as gRPC int64 arrive)', () => {
    expect(classificationCount(3, 'p')).toBe(3);
    expect(classificationCount('2', 'p')).toBe(2);
  });

  it.each([0, -1, 1.5, 'two', true, null, {}])('refuses %j naming the output and the parameter', (v) => {
    expect(message400(() => classificationCount(v, 'p'))).toMatch(
      /^output "p": parameters.classification must be a positive integer, the number of top classes to return .*; got /,
    );
  });

  it('refuses outputs that are not scores', () => {
    expect(message400(() => checkClassifiable({ name: 's', datatype: 'BYTES', shape: [-1] }))).toBe(
      'output "s": parameters.classification needs a numeric output; this one is BYTES',
    );
    expect(() => checkClassifiable({ name: 'b', datatype: 'BOOL', shape: [-1] })).toThrow(/BOOL/);
    expect(() => checkClassifiable({ name: 'p', datatype: 'FP32', shape: [-1, 2] })).not.toThrow();
  });
});
