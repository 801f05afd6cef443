import { describe, expect, it } from 'vitest';
import { DEFAULT_STORAGE_ACCESS } from '../../operator/storage/egress.ts';
import type { S3Location } from './artifact-access.ts';
import {
  artifactEndpoint,
  credentialsSource,
  locationConnection,
  metricsReadCap,
} from './artifact-access.ts';

const operatorKeys = { accessKeyId: 'OPERATORKEY', secretAccessKey: 'operator-secret' };
const at = (endpoint: string | undefined, extra: Partial<S3Location> = {}): S3Location => ({
  bucket: 'ml',
  forcePathStyle: true,
  ...(endpoint ? { endpoint } : {}),
  ...extra,
});

describe('credentialsSource', () => {
  it("reads the credentialsSecret in the pipeline's own namespace, whatever else the reference carries", () => {
    // a reference smuggling a namespace in (the CRD has no such field) still reads the pipeline's namespace
    const ref = { name: 's3', namespace: 'kube-system' } as { name: string };
    expect(
      credentialsSource(
        'team-a',
        at('http://evil.example', { credentialsSecret: ref }),
        DEFAULT_STORAGE_ACCESS,
        operatorKeys,
      ),
    ).toEqual({
      secret: { namespace: 'team-a', name: 's3' },
    });
  });

  it("never lends the operator's credentials to an endpoint the admin did not list", () => {
    const got = credentialsSource(
      'team-a',
      at('http://127.0.0.1:8999'),
      DEFAULT_STORAGE_ACCESS,
      operatorKeys,
    );
    expect(got).toEqual({
      error:
        'spec.artifacts.s3.credentialsSecret is not set, and http://127.0.0.1:8999 is not an endpoint where the ' +
        'operator may use its own credentials (allowed by the cluster admin through ' +
        '--s3-ambient-credentials-endpoints: none); set spec.artifacts.s3.credentialsSecret to a Secret in ' +
        'namespace team-a with the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    });
    const listed = { ...DEFAULT_STORAGE_ACCESS, ambientCredentialsEndpoints: ['http://127.0.0.1:9000'] };
    expect(credentialsSource('team-a', at('http://127.0.0.1:8999'), listed, operatorKeys)).toEqual({
      error: expect.stringContaining('--s3-ambient-credentials-endpoints: only http://127.0.0.1:9000)'),
    });
    // the default AWS endpoint is no exception
    expect(credentialsSource('team-a', at(undefined), DEFAULT_STORAGE_ACCESS, operatorKeys)).toHaveProperty(
      'error',
    );
  });

  it('hands out the ambient chain (IRSA, Pod Identity, instance metadata) only where listed, never resolving it elsewhere', async () => {
    const asked: string[] = [];
    const chain = async () => {
      asked.push('resolved');
      return operatorKeys;
    };
    const listed = { ...DEFAULT_STORAGE_ACCESS, ambientCredentialsEndpoints: ['https://*.amazonaws.com'] };
    expect(credentialsSource('team-a', at('https://s3.evil.example'), listed, chain)).toHaveProperty('error');
    expect(credentialsSource('team-a', at(undefined, { region: 'eu-west-1' }), listed, chain)).toEqual({
      ambient: chain,
    });
    // deciding never resolves it: only a request to the allowed endpoint does
    expect(asked).toEqual([]);
  });

  it('lends them to listed endpoints, when the operator has any', () => {
    const listed = {
      ...DEFAULT_STORAGE_ACCESS,
      ambientCredentialsEndpoints: ['http://127.0.0.1:9000', 'https://*.amazonaws.com'],
    };
    expect(credentialsSource('a', at('http://127.0.0.1:9000'), listed, operatorKeys)).toEqual({
      ambient: operatorKeys,
    });
    expect(credentialsSource('a', at(undefined, { region: 'eu-west-1' }), listed, operatorKeys)).toEqual({
      ambient: operatorKeys,
    });
    expect(credentialsSource('a', at('http://127.0.0.1:9000'), listed, undefined)).toEqual({
      error: expect.stringMatching(/operator has no credentials of its own/),
    });
  });
});

describe('artifactEndpoint and metricsReadCap', () => {
  it('defaults to AWS S3 of the region', () => {
    expect(artifactEndpoint(at(undefined))).toBe('https://s3.us-east-1.amazonaws.com');
    expect(artifactEndpoint(at(undefined, { region: 'eu-central-1' }))).toBe(
      'https://s3.eu-central-1.amazonaws.com',
    );
    expect(artifactEndpoint(at('http://minio:9000'))).toBe('http://minio:9000');
  });

  it("connects path-style only when asked, in the location's region", () => {
    expect(locationConnection(at('http://minio:9000'))).toEqual({
      endpoint: 'http://minio:9000',
      region: 'us-east-1',
      addressing: 'path',
    });
    expect(locationConnection(at(undefined, { region: 'eu-central-1', forcePathStyle: false }))).toEqual({
      endpoint: 'https://s3.eu-central-1.amazonaws.com',
      region: 'eu-central-1',
      addressing: 'virtual-host',
    });
  });

  it("reads metrics up to the admin's cap, never more than the gate accepts", () => {
    expect(metricsReadCap(DEFAULT_STORAGE_ACCESS)).toBe(4096);
    expect(metricsReadCap({ ...DEFAULT_STORAGE_ACCESS, maxReadBytes: 1024 })).toBe(1024);
  });
});
