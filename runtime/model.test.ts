// Model loading against the real shipped model file and the real onnxruntime
// binding (no network): sha256 checks, URI schemes, the signature and one run.
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModelLoadError, fetchModel, loadModel, verifySha256 } from './model.ts';
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
