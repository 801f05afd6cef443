import { describe, expect, it } from 'vitest';
import { toBinary } from './binary.ts';
import { RequestError } from './errors.ts';
import { decodeGrpcInferRequest, encodeGrpcInferResponse, grpcStatusOf } from './grpc-codec.ts';
import type { GrpcInferRequest } from './grpc-codec.ts';

function badRequest(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof RequestError && e.status === 400) return e.message;
    throw e;
  }
  throw new Error('no error thrown');
}

const f32 = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

describe('decodeGrpcInferRequest', () => {
  it('reads typed contents per datatype, int64 as strings (proto-loader longs: String)', () => {
    const r = decodeGrpcInferRequest({
      id: 'r1',
      inputs: [
        { name: 'x', datatype: 'FP32', shape: ['1', '2'], contents: { fp32_contents: [1.5, -2] } },
        {
          name: 'n',
          datatype: 'INT64',
          shape: ['2'],
          contents: { int64_contents: ['9007199254740993', '-1'] },
        },
        { name: 'b', datatype: 'BOOL', shape: [1], contents: { bool_contents: [true] } },
        { name: 's', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('héllo')] } },
      ],
      outputs: [{ name: 'y' }],
    });
    expect(r.id).toBe('r1');
    expect(r.outputs).toEqual(['y']);
    expect(r.inputs.map((i) => [i.name, i.datatype, i.shape])).toEqual([
      ['x', 'FP32', [1, 2]],
      ['n', 'INT64', [2]],
      ['b', 'BOOL', [1]],
      ['s', 'BYTES', [1]],
    ]);
    expect(Array.from(r.inputs[0]?.data as Float32Array)).toEqual([1.5, -2]);
    expect(Array.from(r.inputs[1]?.data as BigInt64Array)).toEqual([9007199254740993n, -1n]);
    expect(Array.from(r.inputs[2]?.data as Uint8Array)).toEqual([1]);
    expect(r.inputs[3]?.data).toEqual(['héllo']);
  });

  it('reads raw_input_contents as the binary extension lays tensors out (tritonclient.grpc default)', () => {
    const bytes = toBinary({ type: 'string', dims: [2], data: ['a', 'bc'] });
    const r = decodeGrpcInferRequest({
      inputs: [
        { name: 'x', datatype: 'FP32', shape: ['3'] },
        { name: 's', datatype: 'BYTES', shape: ['2'] },
      ],
      raw_input_contents: [f32([1, 2, 3]), bytes],
    });
    expect(Array.from(r.inputs[0]?.data as Float32Array)).toEqual([1, 2, 3]);
    expect(r.inputs[1]?.data).toEqual(['a', 'bc']);
  });

  it('refuses malformed requests naming the field', () => {
    const x = (over: Partial<NonNullable<GrpcInferRequest['inputs']>[number]>): GrpcInferRequest => ({
      inputs: [{ name: 'x', datatype: 'FP32', shape: ['2'], contents: { fp32_contents: [1, 2] }, ...over }],
    });
    expect(badRequest(() => decodeGrpcInferRequest({ inputs: [] }))).toMatch(/"inputs" must be a non-empty/);
    expect(badRequest(() => decodeGrpcInferRequest(x({ datatype: 'FP8' })))).toMatch(
      /input "x": unknown datatype "FP8"/,
    );
    expect(badRequest(() => decodeGrpcInferRequest(x({ shape: ['3'] })))).toMatch(
      /input "x": shape \[3\] needs 3 elements, contents.fp32_contents has 2/,
    );
    expect(badRequest(() => decodeGrpcInferRequest(x({ shape: ['-1'] })))).toMatch(
      /"shape" must be non-negative/,
    );
    expect(badRequest(() => decodeGrpcInferRequest(x({ contents: { int_contents: [1, 2] } })))).toMatch(
      /contents.int_contents does not carry FP32; use contents.fp32_contents/,
    );
    expect(
      badRequest(() =>
        decodeGrpcInferRequest({
          inputs: [{ name: 'x', datatype: 'INT8', shape: ['1'], contents: { int_contents: [300] } }],
        }),
      ),
    ).toMatch(/input "x": element 0 \(300\) is not an integer in INT8 range/);
    expect(
      badRequest(() =>
        decodeGrpcInferRequest({ ...x({ contents: {} }), raw_input_contents: [f32([1]), f32([2])] }),
      ),
    ).toMatch(/raw_input_contents has 2 entries for 1 inputs/);
    expect(
      badRequest(() => decodeGrpcInferRequest({ ...x({ contents: {} }), raw_input_contents: [f32([1])] })),
    ).toMatch(/input "x": binary_data_size is 4 bytes, but shape \[2\] of FP32 needs 8/);
    expect(badRequest(() => decodeGrpcInferRequest({ ...x({}), raw_input_contents: [f32([1, 2])] }))).toMatch(
      /has both contents and raw_input_contents/,
    );
    expect(
      badRequest(() =>
        decodeGrpcInferRequest({
          inputs: [{ name: 'h', datatype: 'FP16', shape: ['1'], contents: { fp32_contents: [1] } }],
        }),
      ),
    ).toMatch(/send FP16 in raw_input_contents/);
    expect(
      badRequest(() =>
        decodeGrpcInferRequest({
          ...x({}),
          outputs: [
            {
              name: 'y',
              parameters: { classification: { bool_param: true, parameter_choice: 'bool_param' } },
            },
          ],
        }),
      ),
    ).toMatch(/output "y": parameters.classification must be a positive integer.*got true/);
  });

  it("takes an output's classification parameter (int64_param, as tritonclient.grpc sends it) as its top K", () => {
    const r = decodeGrpcInferRequest({
      inputs: [{ name: 'x', datatype: 'FP32', shape: ['2'], contents: { fp32_contents: [1, 2] } }],
      outputs: [
        { name: 'y', parameters: { classification: { int64_param: '3', parameter_choice: 'int64_param' } } },
      ],
    });
    expect(r.classification).toEqual(new Map([['y', 3]]));
  });
});

describe('encodeGrpcInferResponse', () => {
  it('puts every output in raw_output_contents, in output order', () => {
    const r = encodeGrpcInferResponse({ name: 'm', version: '2' }, 'id1', [
      { name: 'y', tensor: { type: 'float32', dims: [1, 2], data: Float32Array.from([0.25, 4]) } },
      { name: 'l', tensor: { type: 'int64', dims: [1], data: BigInt64Array.from([7n]) } },
    ]);
    expect(r.model_name).toBe('m');
    expect(r.model_version).toBe('2');
    expect(r.id).toBe('id1');
    expect(r.outputs).toEqual([
      { name: 'y', datatype: 'FP32', shape: [1, 2] },
      { name: 'l', datatype: 'INT64', shape: [1] },
    ]);
    expect(Array.from(new Float32Array(Uint8Array.from(r.raw_output_contents[0] ?? []).buffer))).toEqual([
      0.25, 4,
    ]);
    expect(Array.from(new BigInt64Array(Uint8Array.from(r.raw_output_contents[1] ?? []).buffer))).toEqual([
      7n,
    ]);
  });
});

it('grpcStatusOf maps the HTTP statuses to gRPC codes', () => {
  expect([400, 404, 413, 503, 500].map(grpcStatusOf)).toEqual([3, 5, 8, 14, 13]);
});
