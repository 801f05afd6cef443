// Pure: finds where one HTTP/1.1 response ends in the bytes read so far, for
// bench/loadgen.ts's minimal client. Only what the servers under test send is
// framed: status line + Content-Length (the runtime), or a chunked body
// without trailers (KServe's ModelServer answering with binary tensors);
// anything else throws rather than guessing, so a framing mistake shows as
// load-generator errors, not as wrong numbers.

const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');

export type Framed = { length: number; status: number };

/** The end of a chunked body starting at `at`, or undefined when more bytes are needed. */
function chunkedEnd(buf: Buffer, at: number): number | undefined {
  for (;;) {
    const lineEnd = buf.indexOf(CRLF, at);
    if (lineEnd < 0) return undefined;
    const m = /^([0-9a-fA-F]{1,8})(?:;.*)?$/.exec(buf.toString('latin1', at, lineEnd));
    if (!m) throw new Error(`bad chunk size line: ${JSON.stringify(buf.toString('latin1', at, lineEnd))}`);
    const size = parseInt(m[1]!, 16);
    const dataEnd = lineEnd + 2 + size;
    if (buf.length < dataEnd + 2) return undefined;
    if (buf[dataEnd] !== 0x0d || buf[dataEnd + 1] !== 0x0a) {
      throw new Error(size === 0 ? 'chunked responses with trailers are not framed' : 'chunk without CRLF');
    }
    if (size === 0) return dataEnd + 2;
    at = dataEnd + 2;
  }
}

/**
 * The length of the first complete response in `buf` and its status, or
 * undefined when more bytes are needed; throws on a response it cannot frame.
 */
export function frameResponse(buf: Buffer): Framed | undefined {
  const end = buf.indexOf(HEADER_END);
  if (end < 0) return undefined;
  const head = buf.toString('latin1', 0, end);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!status) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(head.slice(0, 80))}`);
  const te = /\r\ntransfer-encoding:[ \t]*([^\r]*)/i.exec(head);
  if (te) {
    if (te[1]!.trim().toLowerCase() !== 'chunked')
      throw new Error(`transfer-encoding ${te[1]} is not framed`);
    const length = chunkedEnd(buf, end + HEADER_END.length);
    return length === undefined ? undefined : { length, status: Number(status[1]) };
  }
  const len = /\r\ncontent-length:[ \t]*(\d+)[ \t]*(?:\r\n|$)/i.exec(head);
  if (!len) throw new Error('response without content-length');
  const length = end + HEADER_END.length + Number(len[1]);
  return buf.length >= length ? { length, status: Number(status[1]) } : undefined;
}
