import { describe, expect, it } from 'vitest';
import { frameResponse } from './http-frame.ts';

const response = (status: number, body: string, extra = '') =>
  Buffer.from(
    `HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    'latin1',
  );

describe('frameResponse', () => {
  it('frames a complete response and reports its status', () => {
    const r = response(200, '{"a":1}');
    expect(frameResponse(r)).toEqual({ length: r.length, status: 200 });
  });

  it('waits for the rest of the headers or the body', () => {
    const r = response(400, '{"error":"bad"}');
    const headEnd = r.indexOf('\r\n\r\n');
    expect(frameResponse(r.subarray(0, headEnd))).toBeUndefined();
    expect(frameResponse(r.subarray(0, r.length - 1))).toBeUndefined();
    expect(frameResponse(r)).toEqual({ length: r.length, status: 400 });
  });

  it('frames only the first of two responses read together', () => {
    const a = response(200, 'x');
    const both = Buffer.concat([a, response(503, 'yy')]);
    expect(frameResponse(both)).toEqual({ length: a.length, status: 200 });
    expect(frameResponse(both.subarray(a.length))).toEqual({ length: both.length - a.length, status: 503 });
  });

  it('refuses what it cannot frame instead of guessing', () => {
    expect(() => frameResponse(Buffer.from('garbage\r\n\r\n'))).toThrow(/status line/);
    expect(() => frameResponse(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'))).toThrow(/content-length/);
    expect(() => frameResponse(Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n'))).toThrow(
      /transfer-encoding gzip/,
    );
    expect(() =>
      frameResponse(Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n')),
    ).toThrow(/chunk size/);
    expect(() =>
      frameResponse(
        Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx-trailer: 1\r\n\r\n'),
      ),
    ).toThrow(/trailers/);
  });

  it('frames a chunked body (KServe answers binary tensors that way), waiting for its last chunk', () => {
    const a = Buffer.from(
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\na;ext=1\r\n0123456789\r\n0\r\n\r\n',
      'latin1',
    );
    for (let cut = 0; cut < a.length; cut++) expect(frameResponse(a.subarray(0, cut))).toBeUndefined();
    const both = Buffer.concat([a, response(200, 'x')]);
    expect(frameResponse(both)).toEqual({ length: a.length, status: 200 });
  });
});
