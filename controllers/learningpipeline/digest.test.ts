import { describe, expect, it } from 'vitest';
import { reportedDigest, resolveDigest } from './digest.ts';
import type { LearningPipelineSpec } from './schema.ts';

const sha = 'AB'.repeat(32);
const steps: LearningPipelineSpec['steps'] = [
  { name: 'train', image: 't', outputs: [{ name: 'model', path: 'train/model.onnx' }] },
];
const onPvc: LearningPipelineSpec = { artifacts: { pvc: { claimName: 'ml' } }, steps };
const onS3: LearningPipelineSpec = { artifacts: { s3: { bucket: 'ml-artifacts' } }, steps };

describe('reportedDigest', () => {
  it('reads {"sha256": …} from a termination message, also next to metrics, lower-cased', () => {
    expect(reportedDigest(JSON.stringify({ sha256: sha }))).toEqual({ sha256: sha.toLowerCase() });
    expect(reportedDigest(JSON.stringify({ auc: 0.9, sha256: sha }))).toEqual({ sha256: sha.toLowerCase() });
  });

  it('no report: no message, not JSON, no sha256 key', () => {
    expect(reportedDigest(undefined)).toBeUndefined();
    expect(reportedDigest('  ')).toBeUndefined();
    expect(reportedDigest('done')).toBeUndefined();
    expect(reportedDigest('{"auc": 0.9}')).toBeUndefined();
  });

  it('a malformed sha256 is an error, not a silent miss', () => {
    expect(reportedDigest('{"sha256": "abc"}')).toEqual({
      error: 'the sha256 in its termination message is not 64 hex digits',
    });
    expect(reportedDigest('{"sha256": 42}')).toHaveProperty('error');
  });
});

describe('resolveDigest', () => {
  const computed = { sha256: sha.toLowerCase() };

  it('PVC: the step’s report, else an error saying how to provide it', () => {
    expect(resolveDigest(onPvc, 'train', { sha256: 'cd'.repeat(32) }, undefined)).toEqual({
      sha256: 'cd'.repeat(32),
    });
    const missing = resolveDigest(onPvc, 'train', undefined, undefined);
    expect(missing).toMatchObject({ retry: false });
    expect('error' in missing && missing.error).toMatch(
      /step train reported no sha256 .*cannot read a PVC.*write \{"sha256": .*\/dev\/termination-log/,
    );
  });

  it('S3: the operator’s own hash; a report must agree with it', () => {
    expect(resolveDigest(onS3, 'train', undefined, computed)).toEqual(computed);
    expect(resolveDigest(onS3, 'train', computed, computed)).toEqual(computed);
    const mismatch = resolveDigest(onS3, 'train', { sha256: 'cd'.repeat(32) }, computed);
    expect(mismatch).toMatchObject({ retry: false });
    expect('error' in mismatch && mismatch.error).toMatch(
      /reported sha256 cdcd.* but the model file hashes to abab/,
    );
  });

  it('S3: a store outage is retried, a missing object is not', () => {
    expect(resolveDigest(onS3, 'train', undefined, { error: 'down', transient: true })).toEqual({
      error: 'down',
      retry: true,
    });
    expect(resolveDigest(onS3, 'train', undefined, { error: 'gone', transient: false })).toEqual({
      error: 'gone',
      retry: false,
    });
  });

  it('a malformed report is an error whatever the store', () => {
    expect(resolveDigest(onS3, 'train', { error: 'bad' }, computed)).toEqual({
      error: 'step train: bad',
      retry: false,
    });
  });
});
