// Pure: keeps the newest bytes of a streamed pod log. The kubelet's limitBytes
// keeps the FIRST bytes of what it sends (with tailLines: the oldest of the
// newest lines), which cuts the newest lines when lines are long; so a tail
// is read without limitBytes and only its last `keepBytes` are kept here:
// memory stays bounded however long a line is, and the newest lines survive.

/** What a bounded log read saw: the kept text, and the size of the whole answer. */
export interface LogTail {
  /** The newest whole lines of the answer, at most keepBytes bytes. */
  text: string;
  /** Bytes the answer had in all (more than text's when older ones were dropped). */
  bytes: number;
  /** Lines the answer had in all (a last line without a newline counts). */
  lines: number;
}

export class TailKeeper {
  readonly #keep: number;
  #chunks: Buffer[] = [];
  #kept = 0;
  #bytes = 0;
  #newlines = 0;
  #last = -1;
  /** The last byte of the newest chunk dropped (-1: none dropped). */
  #lastDropped = -1;

  constructor(keepBytes: number) {
    this.#keep = keepBytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.#newlines++;
    this.#last = chunk[chunk.length - 1]!;
    this.#chunks.push(chunk);
    this.#kept += chunk.length;
    // drop whole chunks while the rest still holds keepBytes; the excess is cut in result()
    while (this.#chunks.length > 1 && this.#kept - this.#chunks[0]!.length >= this.#keep) {
      const dropped = this.#chunks.shift()!;
      this.#kept -= dropped.length;
      this.#lastDropped = dropped[dropped.length - 1]!;
    }
  }

  result(): LogTail {
    let buf = Buffer.concat(this.#chunks);
    // the byte before what is kept: a newline there means the first kept line is whole
    let before = this.#lastDropped;
    if (buf.length > this.#keep) {
      before = buf[buf.length - this.#keep - 1]!;
      buf = buf.subarray(buf.length - this.#keep);
    }
    if (before !== -1 && before !== 10) {
      // the cut fell inside a line (maybe inside a character): that line is not whole, drop it
      const nl = buf.indexOf(10);
      buf = nl === -1 ? Buffer.alloc(0) : buf.subarray(nl + 1);
    }
    const lines = this.#newlines + (this.#bytes > 0 && this.#last !== 10 ? 1 : 0);
    return { text: buf.toString('utf8'), bytes: this.#bytes, lines };
  }
}
