import { describe, expect, it } from 'vitest';
import {
  XmlParseError,
  completeMultipartBody,
  decodeEntities,
  deleteObjectsBody,
  parseCompleteMultipartUpload,
  parseDeleteResult,
  parseInitiateMultipartUpload,
  parseListObjectsV2,
  parseS3Error,
  parseXml,
} from './xml.ts';

// Bodies as MinIO RELEASE.2026-02-12T20-18-48Z sends them.
const LIST_PAGE = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>ymera-models</Name><Prefix>runs%2F</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><EncodingType>url</EncodingType><Contents><Key>runs/a+b%26c.onnx</Key><LastModified>2026-11-21T09:05:50.123Z</LastModified><ETag>&#34;9e107d9d372bb6826bd81d3542a419d6&#34;</ETag><Size>43</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>runs/b</Key><LastModified>2026-11-21T09:05:51.000Z</LastModified><ETag>"d41d8cd98f00b204e9800998ecf8427e-2"</ETag><Size>10485760</Size><StorageClass>STANDARD</StorageClass></Contents><NextContinuationToken>1+cEsfyGXnvnNh/sQ==</NextContinuationToken></ListBucketResult>`;

const LAST_PAGE = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`;

const NO_SUCH_BUCKET = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><Key>missing</Key><BucketName>nobucket</BucketName><Resource>/nobucket/missing</Resource><RequestId>18EA042348A801F6</RequestId><HostId>470a0afc</HostId></Error>`;

describe('parseXml', () => {
  it('builds a tree with local names, decoded text, CDATA and self-closing tags', () => {
    const root = parseXml(
      '<?xml version="1.0"?><!-- c --><s3:R xmlns:s3="x" a=\'1>2\'><A>x &amp; y &#x41;&#66;</A>' +
        '<B/><C><![CDATA[<raw> & ]]></C></s3:R>',
    );
    expect(root.name).toBe('R');
    expect(root.children.map((c) => c.name)).toEqual(['A', 'B', 'C']);
    expect(root.children[0]?.text).toBe('x & y AB');
    expect(root.children[2]?.text).toBe('<raw> & ');
  });

  it('refuses DTDs, so no entity can expand', () => {
    const bomb = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><r>&b;</r>';
    expect(() => parseXml(bomb)).toThrow(/DTDs are not accepted/);
    expect(() => decodeEntities('&b;')).toThrow(XmlParseError);
  });

  it('rejects malformed documents instead of guessing', () => {
    for (const bad of [
      '',
      'text only',
      '<a><b></a>',
      '<a>',
      '<a></a><b></b>',
      '<a><b>unterminated',
      '<a x="1></a>',
      '<a>&#0;</a>',
      '<a>&#xD800;</a>',
      '<1a></1a>',
    ]) {
      expect(() => parseXml(bad), bad).toThrow(XmlParseError);
    }
  });

  it('bounds the nesting depth', () => {
    expect(() => parseXml('<a>'.repeat(100) + '</a>'.repeat(100))).toThrow(/nesting deeper/);
  });
});

describe('S3 bodies', () => {
  it('reads a truncated ListObjectsV2 page with its continuation token', () => {
    const page = parseListObjectsV2(LIST_PAGE);
    expect(page.isTruncated).toBe(true);
    expect(page.nextContinuationToken).toBe('1+cEsfyGXnvnNh/sQ==');
    expect(page.objects).toEqual([
      {
        key: 'runs/a+b%26c.onnx', // still url-encoded: the client decodes (encoding-type=url)
        size: 43,
        etag: '9e107d9d372bb6826bd81d3542a419d6',
        lastModified: new Date('2026-11-21T09:05:50.123Z'),
      },
      {
        key: 'runs/b',
        size: 10485760,
        etag: 'd41d8cd98f00b204e9800998ecf8427e-2',
        lastModified: new Date('2026-11-21T09:05:51.000Z'),
      },
    ]);
  });

  it('reads the last (empty) page', () => {
    expect(parseListObjectsV2(LAST_PAGE)).toEqual({ objects: [], commonPrefixes: [], isTruncated: false });
  });

  it('refuses a truncated page without a token (it would loop or stop early)', () => {
    expect(() =>
      parseListObjectsV2('<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>'),
    ).toThrow(/NextContinuationToken/);
  });

  it('refuses an error document where a listing was expected', () => {
    expect(() => parseListObjectsV2(NO_SUCH_BUCKET)).toThrow(/expected <ListBucketResult>/);
  });

  it('reads an S3 error', () => {
    expect(parseS3Error(NO_SUCH_BUCKET)).toEqual({
      code: 'NoSuchBucket',
      message: 'The specified bucket does not exist',
      requestId: '18EA042348A801F6',
      resource: '/nobucket/missing',
      bucket: 'nobucket',
      key: 'missing',
    });
    expect(parseS3Error('<html><body>502 Bad Gateway</body></html>')).toBeUndefined();
    expect(parseS3Error('not xml at all')).toBeUndefined();
    expect(parseS3Error('<Error><Message>no code</Message></Error>')).toBeUndefined();
  });

  it('reads multipart and multi-delete answers', () => {
    expect(
      parseInitiateMultipartUpload(
        '<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>abc-123</UploadId></InitiateMultipartUploadResult>',
      ),
    ).toBe('abc-123');
    expect(() => parseInitiateMultipartUpload('<InitiateMultipartUploadResult/>')).toThrow(/UploadId/);
    expect(
      parseCompleteMultipartUpload(
        '<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>http://x/b/k</Location>' +
          '<Bucket>b</Bucket><Key>k</Key><ETag>&#34;3858f62230ac3c915f300c664312c11f-3&#34;</ETag></CompleteMultipartUploadResult>',
      ),
    ).toBe('3858f62230ac3c915f300c664312c11f-3');
    expect(
      parseDeleteResult(
        '<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code>' +
          '<Message>Access Denied.</Message></Error></DeleteResult>',
      ),
    ).toEqual({ deleted: ['a'], errors: [{ key: 'b', code: 'AccessDenied', message: 'Access Denied.' }] });
  });

  it('escapes keys in request bodies so they round-trip through the parser', () => {
    const body = deleteObjectsBody(['a&b', '<c>', 'd"e\'f']);
    const keys = parseXml(body)
      .children.filter((c) => c.name === 'Object')
      .map((o) => o.children[0]?.text);
    expect(keys).toEqual(['a&b', '<c>', 'd"e\'f']);
    expect(completeMultipartBody([{ partNumber: 1, etag: 'abc' }])).toContain(
      '<Part><PartNumber>1</PartNumber><ETag>"abc"</ETag></Part>',
    );
  });
});
