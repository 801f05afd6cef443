// Model loading against the real shipped model file and the real onnxruntime
// binding (no network): sha256 checks, URI schemes, the signature and one run.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModelLoadError, fetchModel, loadModel, sessionLoadError, verifySha256 } from './model.ts';
import { executionProviders, isProviderUnavailable } from './session.ts';
import { FRAUD_MODEL, MODEL_SHA256, featureRows, fraudReference } from './models/fraud-reference.ts';

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
