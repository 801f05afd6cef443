// Shared by the e2e tests that run the AutoML trainer (test/e2e/fixtures/trainer)
// on the real node: its image, where its pods go, an artifacts PVC the host can
// read, and a check of the ONNX model it writes.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { boundVolume } from './learningpipeline-fixtures.ts';

/** The trainer's image in the real node's containerd (test/e2e/stack/trainer-image.sh env). */
export const TRAINER_IMAGE = process.env.YMERA_TRAINER_IMAGE ?? '';
export const REAL_NODE = process.env.YMERA_REAL_NODE ?? '';

/** Why the trainer tests cannot run here, or '' when they can. */
export const trainerSkipReason = !REAL_NODE
  ? ' (skipped: YMERA_REAL_NODE is unset, the stack runs without the real node; see test/e2e/cluster/README.md "The real node")'
  : !TRAINER_IMAGE
    ? ' (skipped: YMERA_TRAINER_IMAGE is unset; test/e2e/stack/trainer-image.sh env exports it)'
    : '';

/**
 * The trainer's known good region (fixtures/trainer/README.md): learning_rate
 * >= 0.3 with hidden_units >= 4 scores 0.965..0.995 held-out accuracy; nothing
 * outside it reaches 0.93. A score at or above this is in the good region.
 */
export const GOOD_ACCURACY = 0.95;

/** Pins a pod to real-node-1 (past its taint). */
export const realNodePlacement = () => ({
  nodeSelector: { 'kubernetes.io/hostname': REAL_NODE },
  tolerations: [{ key: 'ymera.io/real-node', operator: 'Exists', effect: 'NoSchedule' }],
});

/**
 * A PVC `claim` in `ns` bound to a hostPath PV in a fresh host directory (the
 * kubelet of real-node-1 runs on this host, so the test reads what the pods
 * wrote). The directory is world-writable: the kubelet applies no fsGroup to
 * hostPath volumes, and the trainer runs as 65532.
 */
export function hostPathArtifacts(
  ns: string,
  claim: string,
): { dir: string; pv: string; objects: unknown[]; cleanup: () => void } {
  const base = process.env.YMERA_STATE_DIR ?? '/tmp';
  const dir = path.join(base, 'e2e-artifacts', ns);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  const pv = `${ns}-${claim}`;
  return {
    dir,
    pv,
    objects: boundVolume(ns, claim, pv, { path: dir, type: 'Directory' }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Noise-free points of the two moons (label 0: upper arc, 1: lower arc), as the trainer's data. */
export function moonPoints(perArc = 16): { features: number[][]; labels: number[] } {
  const features: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < perArc; i++) {
    const t = (Math.PI * (i + 0.5)) / perArc;
    features.push([Math.cos(t), Math.sin(t)], [1 - Math.cos(t), 0.5 - Math.sin(t)]);
    labels.push(0, 1);
  }
  return { features, labels };
}

/** Share of the noise-free moon points the ONNX model classifies right (onnxruntime, as the runtime serves it). */
export async function moonAccuracy(model: Uint8Array): Promise<number> {
  const session = await ort.InferenceSession.create(model);
  try {
    const { features, labels } = moonPoints();
    const input = new ort.Tensor('float32', Float32Array.from(features.flat()), [features.length, 2]);
    const out = await session.run({ features: input });
    const p = out.probability?.data as Float32Array;
    return labels.filter((y, i) => ((p[i] ?? 0) >= 0.5 ? 1 : 0) === y).length / labels.length;
  } finally {
    await session.release();
  }
}
