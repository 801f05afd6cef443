import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { ModelRef } from './models.ts';
import { decide, groupSources, modelRefsOf, pairings, pinMismatch } from './models.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function infsvc(name: string, model: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, namespace: 'team' },
    spec: { model },
  } as KubeObject;
}

function pipeline(name: string, status: Record<string, unknown>, s3?: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'LearningPipeline',
    metadata: { name, namespace: 'team' },
    spec: { artifacts: s3 ? { s3 } : { pvc: { claimName: 'x' } } },
    status,
  } as KubeObject;
}

describe('modelRefsOf', () => {
  it('an InferenceService: spec.model.uri with its pin (lowercased) and credentialsSecret, paired', () => {
    const refs = modelRefsOf(
      infsvc('iris', {
        uri: 's3://models/iris.onnx',
        version: 'v1',
        sha256: A.toUpperCase(),
        credentialsSecret: { name: 'dl' },
      }),
    );
    expect(refs).toEqual([
      {
        owner: 'InferenceService team/iris',
        field: 'spec.model.uri',
        uri: 's3://models/iris.onnx',
        sha256: A,
        paired: true,
        access: { via: 'modelSecret', namespace: 'team', secret: 'dl' },
      },
    ]);
  });

  it('a LearningPipeline: latestModel (paired) and the promoted model, once each, through its artifacts bucket', () => {
    const s3 = { bucket: 'art', endpoint: 'http://minio:9000', forcePathStyle: true };
    const refs = modelRefsOf(
      pipeline(
        'train',
        {
          latestModel: { version: 'r2', uri: 's3://art/r2/model.onnx', sha256: B },
          promotion: { model: { version: 'r1', uri: 's3://art/r1/model.onnx', sha256: A } },
        },
        s3,
      ),
    );
    expect(refs.map((r) => [r.field, r.uri, r.sha256, r.paired])).toEqual([
      ['status.latestModel.uri', 's3://art/r2/model.onnx', B, true],
      ['status.promotion.model.uri', 's3://art/r1/model.onnx', A, false],
    ]);
    expect(refs[0]?.access).toEqual({ via: 'artifacts', namespace: 'team', pipeline: 'train', s3 });
    // the promoted model is the latest: one reference
    const same = modelRefsOf(
      pipeline(
        'train',
        {
          latestModel: { version: 'r1', uri: 's3://art/r1/model.onnx', sha256: A },
          promotion: { model: { version: 'r1', uri: 's3://art/r1/model.onnx', sha256: A } },
        },
        s3,
      ),
    );
    expect(same).toHaveLength(1);
  });

  it('other kinds and objects without a model reference none', () => {
    expect(
      modelRefsOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } } as KubeObject),
    ).toEqual([]);
    expect(modelRefsOf(pipeline('p', {}))).toEqual([]);
  });
});

describe('decide', () => {
  const ref = (
    uri: string,
    access: ModelRef['access'] = { via: 'modelSecret', namespace: 'team' },
  ): ModelRef => ({
    owner: 'InferenceService team/x',
    field: 'spec.model.uri',
    uri,
    paired: true,
    access,
  });

  it('copies s3:// (bucket and key)', () => {
    expect(decide(ref('s3://models/a/b.onnx'))).toEqual({ copy: true, bucket: 'models', key: 'a/b.onnx' });
  });

  it('file:// is not copied, and is no failure', () => {
    expect(decide(ref('file:///models/iris.onnx'))).toMatchObject({ copy: false, failed: false });
  });

  it('pvc:// and http(s):// are failures that say they are not supported', () => {
    expect(decide(ref('pvc://claim/model.onnx'))).toMatchObject({
      copy: false,
      failed: true,
      message: expect.stringContaining('not supported') as string,
    });
    expect(decide(ref('https://example.com/m.onnx'))).toMatchObject({ copy: false, failed: true });
    expect(decide(ref('s3://models/'))).toMatchObject({ copy: false, failed: true });
  });

  it("a pipeline's model outside its artifacts bucket is a failure naming the bucket", () => {
    const d = decide(
      ref('s3://elsewhere/m.onnx', {
        via: 'artifacts',
        namespace: 'team',
        pipeline: 'p',
        s3: { bucket: 'art' },
      }),
    );
    expect(d).toMatchObject({
      copy: false,
      failed: true,
      message: expect.stringContaining('(art)') as string,
    });
  });
});

describe('groupSources, pinMismatch, pairings', () => {
  const ref = (owner: string, uri: string, sha256?: string, paired = true): ModelRef => ({
    owner,
    field: 'spec.model.uri',
    uri,
    ...(sha256 ? { sha256 } : {}),
    paired,
    access: { via: 'modelSecret', namespace: 'team' },
  });

  it('the same file (endpoint, bucket, key) referenced by several objects is one source; another endpoint is another', () => {
    const one = ref('InferenceService team/a', 's3://m/k');
    const two = ref('InferenceService team/b', 's3://m/k');
    const three = ref('InferenceService team/c', 's3://m/k');
    const sources = groupSources([
      { ref: one, endpoint: 'http://minio:9000', bucket: 'm', key: 'k', conn: 1 },
      { ref: two, endpoint: 'http://minio:9000/', bucket: 'm', key: 'k', conn: 2 },
      { ref: three, endpoint: 'http://other:9000', bucket: 'm', key: 'k', conn: 3 },
    ]);
    expect(sources.map((s) => [s.id, s.refs.map((r) => r.owner), s.conn])).toEqual([
      ['http://minio:9000|m|k', ['InferenceService team/a', 'InferenceService team/b'], 1],
      ['http://other:9000|m|k', ['InferenceService team/c'], 3],
    ]);
  });

  it('a pin the bytes do not match is named; matching or absent pins pass', () => {
    expect(pinMismatch([ref('x', 'u', A), ref('y', 'u')], A)).toBeUndefined();
    const why = pinMismatch([ref('InferenceService team/x', 'u', A)], B);
    expect(why).toContain('InferenceService team/x pins sha256 ' + A);
    expect(why).toContain('spec.model.sha256');
    expect(why).toContain(B);
  });

  it('pairs each paired reference with the digest of its copy; a failed copy pairs nothing', () => {
    const sources = groupSources([
      { ref: ref('InferenceService team/a', 's3://m/k'), endpoint: 'e', bucket: 'm', key: 'k', conn: 0 },
      {
        ref: ref('LearningPipeline team/p', 's3://m/k', undefined, false),
        endpoint: 'e',
        bucket: 'm',
        key: 'k',
        conn: 0,
      },
      { ref: ref('InferenceService team/b', 's3://m/j'), endpoint: 'e', bucket: 'm', key: 'j', conn: 0 },
    ]);
    const digests = pairings(sources, new Map([['e|m|k', A]]));
    expect([...digests]).toEqual([['InferenceService team/a', `sha256:${A}`]]);
  });
});
