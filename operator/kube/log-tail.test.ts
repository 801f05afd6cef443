import { describe, expect, it } from 'vitest';
import { TailKeeper } from './log-tail.ts';

function keep(keepBytes: number, chunks: string[]) {
  const k = new TailKeeper(keepBytes);
  for (const c of chunks) k.push(Buffer.from(c));
  return k.result();
}

describe('TailKeeper', () => {
  it('keeps a short answer whole and counts its lines', () => {
    expect(keep(100, ['a\nb', 'c\n'])).toEqual({ text: 'a\nbc\n', bytes: 5, lines: 2 });
    // a last line without a newline (still being written) counts
    expect(keep(100, ['a\nb'])).toEqual({ text: 'a\nb', bytes: 3, lines: 2 });
    expect(keep(100, [])).toEqual({ text: '', bytes: 0, lines: 0 });
  });

  it('keeps the newest whole lines, not the first bytes, when lines are long', () => {
    const long = 'x'.repeat(50);
    const lines = [`${long} 1`, `${long} 2`, 'ymera-metrics {"accuracy":0.9,"step":3}'];
    const r = keep(
      64,
      lines.map((l) => `${l}\n`),
    );
    expect(r.text).toBe('ymera-metrics {"accuracy":0.9,"step":3}\n');
    expect(r.bytes).toBe(lines.join('\n').length + 1);
    expect(r.lines).toBe(3);
  });

  it('drops a line cut at a chunk boundary, and keeps one that starts right after a newline', () => {
    // keep 10: the first chunk is dropped whole and the rest is exactly 10 bytes, starting mid-line
    expect(keep(10, ['abc defgh', 'ij\nklmnop\n']).text).toBe('klmnop\n');
    // the dropped chunk ended with a newline: the first kept line is whole
    expect(keep(10, ['abc defg\n', 'ij\nklmno\n']).text).toBe('ij\nklmno\n');
    // cut inside the buffer right after a newline: that whole line stays
    expect(keep(6, ['ab\ncdef\n']).text).toBe('cdef\n');
  });

  it('never splits a character: the cut line is dropped', () => {
    const r = keep(6, ['é'.repeat(10), '\nok\n']);
    expect(r.text).toBe('ok\n');
    // one line longer than keepBytes: nothing whole is left
    expect(keep(4, ['abcdefgh']).text).toBe('');
  });

  it('bounds memory whatever the answer size', () => {
    const k = new TailKeeper(1024);
    for (let i = 0; i < 10_000; i++) k.push(Buffer.from(`line ${i} ${'y'.repeat(100)}\n`));
    const r = k.result();
    expect(Buffer.byteLength(r.text)).toBeLessThanOrEqual(1024);
    expect(r.text.endsWith(`line 9999 ${'y'.repeat(100)}\n`)).toBe(true);
    expect(r.lines).toBe(10_000);
  });
});
