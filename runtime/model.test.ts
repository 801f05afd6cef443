// Model loading against the real shipped model file and the real onnxruntime
// binding (no network): sha256 checks, URI schemes, the signature and one run.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModelLoadError, fetchModel, loadModel, sessionLoadError, verifySha256 } from './model.ts';
import { executionProviders, isProviderUnavailable } from './session.ts';
import {
  ECHO_MODEL,
  FRAUD_MODEL,
  MODEL_SHA256,
  featureRows,
  fraudReference,
} from './models/fraud-reference.ts';
import type { HostTensor } from './tensor.ts';
import { toHalfBits, v2ToOrt } from './tensor.ts';
import { zeroInputs } from './validate.ts';

const uri = pathToFileURL(FRAUD_MODEL).href;

describe('model loading', () => {
  it('verifies sha256 (case-insensitive) and refuses a mismatch', async () => {
    const bytes = await fetchModel(uri);
    expect(verifySha256(bytes, undefined)).toBe(MODEL_SHA256['fraud.onnx']);
    expect(verifySha256(bytes, MODEL_SHA256['fraud.onnx']!.toUpperCase())).toBe(MODEL_SHA256['fraud.onnx']);
    expect(() => verifySha256(bytes, 'f'.repeat(64))).toThrow(
      /sha256 mismatch: expected f{64}, got [0-9a-f]{64}; refusing/,
    );
  });

  it('rejects unsupported or broken URIs with a reason', async () => {
    await expect(fetchModel('ftp://h/m.onnx')).rejects.toMatchObject({ reason: 'InvalidUri' });
    await expect(fetchModel('not a uri')).rejects.toMatchObject({ reason: 'InvalidUri' });
    await expect(fetchModel('file:///nonexistent/m.onnx')).rejects.toMatchObject({ reason: 'FetchFailed' });
    await expect(fetchModel('s3://bucket/m.onnx', {})).rejects.toMatchObject({ reason: 'NoCredentials' });
  });

  it('refuses bytes that are not an ONNX model', async () => {
    const notOnnx = pathToFileURL(new URL(import.meta.url).pathname).href; // this test file
    await expect(loadModel(notOnnx)).rejects.toBeInstanceOf(ModelLoadError);
    await expect(loadModel(notOnnx)).rejects.toMatchObject({ reason: 'InvalidModel' });
  });

  it('loads the fraud model: signature from the session, outputs match the reference', async () => {
    const m = await loadModel(uri, { sha256: MODEL_SHA256['fraud.onnx']!, threads: 1 });
    expect(m.signature).toEqual({
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 8] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
    });
    const rows = featureRows(4, 3);
    const out = await m.run({
      features: { type: 'float32', dims: [4, 8], data: Float32Array.from(rows.flat()) },
    });
    const p = out.probabilities!;
    expect(p.dims).toEqual([4, 2]);
    rows.forEach((r, i) => {
      const [a, b] = fraudReference(r);
      expect(p.data[2 * i] as number).toBeCloseTo(a, 5);
      expect(p.data[2 * i + 1] as number).toBeCloseTo(b, 5);
    });
    await m.close();
  });
});

describe('every datatype through onnxruntime (echo.onnx)', () => {
  const values: Record<string, HostTensor['data']> = {
    BOOL: Uint8Array.of(1, 0, 1),
    UINT8: Uint8Array.of(0, 1, 255),
    UINT16: Uint16Array.of(0, 1, 65535),
    UINT32: Uint32Array.of(0, 1, 4294967295),
    UINT64: BigUint64Array.of(0n, 1n, 18446744073709551615n),
    INT8: Int8Array.of(-128, -1, 127),
    INT16: Int16Array.of(-32768, -1, 32767),
    INT32: Int32Array.of(-2147483648, -1, 2147483647),
    INT64: BigInt64Array.of(-9223372036854775808n, -1n, 9223372036854775807n),
    // Node 24 has Float16Array: onnxruntime-common wraps a float16 Uint16Array in one, which
    // the native binding read as 0 bytes; the runtime keeps FP16 as half bits both ways.
    FP16: Uint16Array.of(toHalfBits(1), toHalfBits(-2.5), 0x7bff),
    FP32: Float32Array.of(0.5, -0, 3.4028234663852886e38),
    FP64: Float64Array.of(0.1, -1e300, Number.MIN_VALUE),
    BYTES: ['', 'a', 'hé ✓'],
  };
  it.each(['main', 'worker'] as const)('each input comes back unchanged (%s)', async (inferenceThread) => {
    const m = await loadModel(pathToFileURL(ECHO_MODEL).href, { threads: 1, inferenceThread });
    try {
      const inputs = zeroInputs(m.signature);
      // the worker engine transfers (detaches) input buffers: compare with copies
      const want: Record<string, unknown[]> = {};
      for (const [dt, data] of Object.entries(values)) {
        want[dt] = Array.from(data as ArrayLike<unknown>);
        inputs[`in_${dt}`] = { type: v2ToOrt(dt as never), dims: [1, 3], data: data.slice() };
      }
      const out = await m.run(inputs);
      for (const [dt, data] of Object.entries(values)) {
        const got = out[`out_${dt}`]!;
        expect(got.type, dt).toBe(v2ToOrt(dt as never));
        expect(got.data.constructor, dt).toBe(data.constructor);
        expect(Array.from(got.data as ArrayLike<unknown>), dt).toEqual(want[dt]);
      }
    } finally {
      await m.close();
    }
  });
});

// The message onnxruntime-node gives when its CUDA provider library is not installed.
const NO_CUDA_LIB = 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library';

describe('execution providers', () => {
  it('asks onnxruntime for CUDA then the CPU, or the CPU alone', () => {
    expect(executionProviders('cuda')).toEqual(['cuda', 'cpu']);
    expect(executionProviders('cpu')).toEqual(['cpu']);
    expect(executionProviders()).toEqual(['cpu']);
  });

  it('tells a missing provider from a model onnxruntime cannot read', () => {
    expect(isProviderUnavailable(NO_CUDA_LIB)).toBe(true);
    expect(isProviderUnavailable('CUDA failure 100: no CUDA-capable device is detected')).toBe(true);
    expect(isProviderUnavailable('Load model from buffer failed: Protobuf parsing failed.')).toBe(false);
    const cuda = sessionLoadError('file:///m.onnx', { executionProvider: 'cuda' }, NO_CUDA_LIB);
    expect(cuda.reason).toBe('ExecutionProviderUnavailable');
    expect(cuda.message).toMatch(/^executionProvider "cuda": .*CUDA runtime image/);
    // on the CPU the same text is not a provider problem
    expect(sessionLoadError('file:///m.onnx', {}, NO_CUDA_LIB).reason).toBe('InvalidModel');
    expect(
      sessionLoadError('file:///m.onnx', { executionProvider: 'cuda' }, 'Protobuf parsing failed').reason,
    ).toBe('InvalidModel');
  });

  // This image and machine carry onnxruntime-node without its CUDA provider (installed with
  // ONNXRUNTIME_NODE_INSTALL=skip): asking for CUDA must fail the load and say why.
  const bin = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  const cudaInstalled = ['napi-v6', 'napi-v3'].some((v) =>
    existsSync(path.join(bin, 'bin', v, 'linux/x64/libonnxruntime_providers_cuda.so')),
  );
  it.skipIf(cudaInstalled).each(['main', 'worker'] as const)(
    'refuses to load with CUDA where onnxruntime has no CUDA provider (%s)',
    async (inferenceThread) => {
      const load = loadModel(uri, { executionProvider: 'cuda', inferenceThread });
      await expect(load).rejects.toBeInstanceOf(ModelLoadError);
      await expect(loadModel(uri, { executionProvider: 'cuda', inferenceThread })).rejects.toMatchObject({
        reason: 'ExecutionProviderUnavailable',
        message: expect.stringMatching(/AppendExecutionProvider_Cuda/),
      });
    },
  );
});
