// Pure: finds where one HTTP/1.1 response ends in the bytes read so far, for
// bench/loadgen.ts's minimal client. Only what the runtime sends is framed
// (status line + Content-Length); anything else throws rather than guessing,
// so a framing mistake shows as load-generator errors, not as wrong numbers.

const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');

export type Framed = { length: number; status: number };

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
  if (/\r\ntransfer-encoding:/i.test(head)) throw new Error('chunked responses are not framed');
  const len = /\r\ncontent-length:[ \t]*(\d+)[ \t]*(?:\r\n|$)/i.exec(head);
  if (!len) throw new Error('response without content-length');
  const length = end + HEADER_END.length + Number(len[1]);
  return buf.length >= length ? { length, status: Number(status[1]) } : undefined;
}
