// The fraud model computed independently in plain TypeScript from the
// weights make_fraud_model.py wrote next to the .onnx: tests and the
// benchmark compare onnxruntime's answers with this.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const FRAUD_MODEL = path.join(here, 'fraud.onnx');
export const MASKED_MODEL = path.join(here, 'masked.onnx');
/** One Identity per v2 datatype, in_<DATATYPE> → out_<DATATYPE>, [-1, 3] (make_echo_model.py). */
export const ECHO_MODEL = path.join(here, 'echo.onnx');
export const MODEL_SHA256 = JSON.parse(readFileSync(path.join(here, 'models.sha256.json'), 'utf8')) as Record<
  string,
  string
>;

type Weights = { w1: number[][]; b1: number[]; w2: number[][]; b2: number[] };
const W = JSON.parse(readFileSync(path.join(here, 'fraud.weights.json'), 'utf8')) as Weights;

/** probabilities for one row of 8 features. */
export function fraudReference(features: readonly number[]): [number, number] {
  const hidden = W.b1.map((b, j) => {
    let s = b;
    for (let i = 0; i < 8; i++) s += (features[i] as number) * (W.w1[i] as number[])[j]!;
    return Math.max(0, s);
  });
  const logits = W.b2.map((b, k) => {
    let s = b;
    for (let j = 0; j < hidden.length; j++) s += (hidden[j] as number) * (W.w2[j] as number[])[k]!;
    return s;
  });
  const m = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - m));
  const z = e.reduce((a, b) => a + b, 0);
  return [(e[0] as number) / z, (e[1] as number) / z];
}

/** Deterministic pseudo-random feature rows (mulberry32). */
export function featureRows(rows: number, seed: number): number[][] {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: rows }, () =>
    Array.from({ length: 8 }, () => Math.round((rnd() * 4 - 2) * 1000) / 1000),
  );
}
