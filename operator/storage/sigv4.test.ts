import { describe, expect, it } from 'vitest';
import {
  EMPTY_SHA256,
  canonicalHeaders,
  canonicalQueryString,
  encodeUriPath,
  sha256Hex,
  signRequest,
  signingHeaders,
  toAmzDate,
  uriEncode,
} from './sigv4.ts';

// The examples of "Signature Calculations for the Authorization Header:
// Transferring Payload in a Single Chunk" in the Amazon S3 API reference
// (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html),
// with their published canonical requests, string-to-sign hashes and signatures.
const S3_EXAMPLE = {
  credentials: {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  },
  scope: { region: 'us-east-1', service: 's3', date: new Date('2013-05-24T00:00:00Z') },
  host: 'examplebucket.s3.amazonaws.com',
  amzDate: '20130524T000000Z',
};
const CREDENTIAL = 'AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request';

function lastLine(text: string): string {
  return text.split('\n').at(-1) ?? '';
}

describe('SigV4: the S3 documentation examples', () => {
  it('GET Object (test.txt, Range: bytes=0-9)', () => {
    const signed = signRequest(
      {
        method: 'GET',
        path: encodeUriPath('test.txt'),
        headers: {
          Host: S3_EXAMPLE.host,
          Range: 'bytes=0-9',
          'x-amz-content-sha256': EMPTY_SHA256,
          'x-amz-date': S3_EXAMPLE.amzDate,
        },
        payloadHash: EMPTY_SHA256,
      },
      S3_EXAMPLE.credentials,
      S3_EXAMPLE.scope,
    );
    expect(signed.canonicalRequest).toBe(
      [
        'GET',
        '/test.txt',
        '',
        'host:examplebucket.s3.amazonaws.com',
        'range:bytes=0-9',
        `x-amz-content-sha256:${EMPTY_SHA256}`,
        'x-amz-date:20130524T000000Z',
        '',
        'host;range;x-amz-content-sha256;x-amz-date',
        EMPTY_SHA256,
      ].join('\n'),
    );
    expect(signed.stringToSign).toBe(
      'AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n' +
        '7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972',
    );
    expect(signed.authorization).toBe(
      `AWS4-HMAC-SHA256 Credential=${CREDENTIAL},SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,` +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });

  it('PUT Object (test$file.text, storage class header, signed payload)', () => {
    const payloadHash = sha256Hex('Welcome to Amazon S3.');
    expect(payloadHash).toBe('44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072');
    const signed = signRequest(
      {
        method: 'PUT',
        path: encodeUriPath('test$file.text'),
        headers: {
          Host: S3_EXAMPLE.host,
          Date: 'Fri, 24 May 2013 00:00:00 GMT',
          'x-amz-date': S3_EXAMPLE.amzDate,
          'x-amz-storage-class': 'REDUCED_REDUNDANCY',
          'x-amz-content-sha256': payloadHash,
        },
        payloadHash,
      },
      S3_EXAMPLE.credentials,
      S3_EXAMPLE.scope,
    );
    expect(signed.canonicalRequest.split('\n').slice(0, 2)).toEqual(['PUT', '/test%24file.text']);
    expect(lastLine(signed.stringToSign)).toBe(
      '9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d',
    );
    expect(signed.authorization).toBe(
      `AWS4-HMAC-SHA256 Credential=${CREDENTIAL},` +
        'SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,' +
        'Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
    );
  });

  it('GET Bucket Lifecycle (?lifecycle: a parameter without value)', () => {
    const signed = signRequest(
      {
        method: 'GET',
        path: '/',
        query: [['lifecycle', '']],
        headers: {
          Host: S3_EXAMPLE.host,
          'x-amz-date': S3_EXAMPLE.amzDate,
          'x-amz-content-sha256': EMPTY_SHA256,
        },
        payloadHash: EMPTY_SHA256,
      },
      S3_EXAMPLE.credentials,
      S3_EXAMPLE.scope,
    );
    expect(signed.canonicalRequest.split('\n').slice(0, 3)).toEqual(['GET', '/', 'lifecycle=']);
    expect(lastLine(signed.stringToSign)).toBe(
      '9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca',
    );
    expect(signed.signature).toBe('fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543');
  });

  it('Get Bucket / ListObjects (?max-keys=2&prefix=J, given out of order)', () => {
    const signed = signRequest(
      {
        method: 'GET',
        path: '/',
        query: [
          ['prefix', 'J'],
          ['max-keys', '2'],
        ],
        headers: {
          Host: S3_EXAMPLE.host,
          'x-amz-date': S3_EXAMPLE.amzDate,
          'x-amz-content-sha256': EMPTY_SHA256,
        },
        payloadHash: EMPTY_SHA256,
      },
      S3_EXAMPLE.credentials,
      S3_EXAMPLE.scope,
    );
    expect(signed.canonicalRequest.split('\n')[2]).toBe('max-keys=2&prefix=J');
    expect(lastLine(signed.stringToSign)).toBe(
      'df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7',
    );
    expect(signed.authorization).toBe(
      `AWS4-HMAC-SHA256 Credential=${CREDENTIAL},SignedHeaders=host;x-amz-content-sha256;x-amz-date,` +
        'Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
    );
  });

  it('a changed secret, date or region gives a different signature', () => {
    const req = {
      method: 'GET',
      path: '/test.txt',
      headers: { host: S3_EXAMPLE.host, 'x-amz-date': S3_EXAMPLE.amzDate },
      payloadHash: EMPTY_SHA256,
    };
    const base = signRequest(req, S3_EXAMPLE.credentials, S3_EXAMPLE.scope).signature;
    const otherSecret = { ...S3_EXAMPLE.credentials, secretAccessKey: 'x' };
    expect(signRequest(req, otherSecret, S3_EXAMPLE.scope).signature).not.toBe(base);
    expect(
      signRequest(req, S3_EXAMPLE.credentials, { ...S3_EXAMPLE.scope, region: 'eu-west-1' }).signature,
    ).not.toBe(base);
    expect(
      signRequest(req, S3_EXAMPLE.credentials, {
        ...S3_EXAMPLE.scope,
        date: new Date('2013-05-25T00:00:00Z'),
      }).signature,
    ).not.toBe(base);
  });
});

// The generic AWS SigV4 test suite (signature-v4-test-suite): service "service",
// credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z; the header style of the suite
// uses ", " between the parts, so the signature is compared.
describe('SigV4: the AWS test suite', () => {
  const credentials = {
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  };
  const scope = { region: 'us-east-1', service: 'service', date: new Date('2015-08-30T12:36:00Z') };
  const headers = { Host: 'example.amazonaws.com', 'X-Amz-Date': '20150830T123600Z' };

  it('get-vanilla', () => {
    const signed = signRequest(
      { method: 'GET', path: '/', headers, payloadHash: EMPTY_SHA256 },
      credentials,
      scope,
    );
    expect(signed.signedHeaders).toBe('host;x-amz-date');
    expect(signed.signature).toBe('5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  });

  it('get-vanilla-query-order-key-case', () => {
    const signed = signRequest(
      {
        method: 'GET',
        path: '/',
        query: [
          ['Param2', 'value2'],
          ['Param1', 'value1'],
        ],
        headers,
        payloadHash: EMPTY_SHA256,
      },
      credentials,
      scope,
    );
    expect(signed.canonicalRequest.split('\n')[2]).toBe('Param1=value1&Param2=value2');
    expect(signed.signature).toBe('b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500');
  });
});

describe('SigV4 building blocks', () => {
  it('formats x-amz-date without separators or milliseconds', () => {
    expect(toAmzDate(new Date('2026-02-12T20:18:48.123Z'))).toBe('20260212T201848Z');
    expect(() => toAmzDate(new Date('nope'))).toThrow(RangeError);
  });

  it('percent-encodes everything but unreserved characters, as UTF-8, uppercase hex', () => {
    expect(uriEncode('a-b_c.d~e')).toBe('a-b_c.d~e');
    expect(uriEncode('a b+c=d&e/f')).toBe('a%20b%2Bc%3Dd%26e%2Ff');
    expect(uriEncode('models/ü*.onnx', true)).toBe('models/%C3%BC%2A.onnx');
    expect(encodeUriPath('/bucket/a b')).toBe('/bucket/a%20b');
  });

  it('sorts query parameters by encoded name, then value', () => {
    expect(
      canonicalQueryString([
        ['b', '2'],
        ['a', 'y'],
        ['a', 'x'],
        ['continuation-token', 'a/b+c='],
      ]),
    ).toBe('a=x&a=y&b=2&continuation-token=a%2Fb%2Bc%3D');
  });

  it('lowercases and sorts header names, trims values and collapses inner spaces', () => {
    const { canonical, signedHeaders } = canonicalHeaders({
      'X-Amz-Meta-Note': '  two   words ',
      Host: 'h',
      'content-type': 'text/plain',
    });
    expect(signedHeaders).toBe('content-type;host;x-amz-meta-note');
    expect(canonical).toBe('content-type:text/plain\nhost:h\nx-amz-meta-note:two words\n');
  });

  it('adds the session token header only with a session token', () => {
    const date = new Date('2015-08-30T12:36:00Z');
    expect(signingHeaders(date, EMPTY_SHA256, { accessKeyId: 'a', secretAccessKey: 's' })).toEqual({
      'x-amz-date': '20150830T123600Z',
      'x-amz-content-sha256': EMPTY_SHA256,
    });
    expect(
      signingHeaders(date, EMPTY_SHA256, { accessKeyId: 'a', secretAccessKey: 's', sessionToken: 't' })[
        'x-amz-security-token'
      ],
    ).toBe('t');
  });
});
