import { describe, expect, it } from 'vitest';
import { releaseChunk } from './release.ts';

describe('releaseChunk', () => {
  it('frees a chunk that is the whole of its ArrayBuffer at once', () => {
    const chunk = Buffer.allocUnsafeSlow(1024 * 1024).fill(1);
    const before = process.memoryUsage().arrayBuffers;
    expect(releaseChunk(chunk)).toBe(true);
    expect((chunk.buffer as ArrayBuffer).detached).toBe(true);
    expect(chunk.length).toBe(0);
    // no GC in between: the memory went back when the chunk was released
    expect(before - process.memoryUsage().arrayBuffers).toBeGreaterThanOrEqual(1024 * 1024);
    expect(releaseChunk(chunk)).toBe(false);
  });

  it('leaves slices alone: a pooled Buffer shares its ArrayBuffer with others', () => {
    const a = Buffer.from('first');
    const b = Buffer.from('second');
    expect(a.buffer).toBe(b.buffer); // Node's 8 KiB pool
    expect(releaseChunk(a)).toBe(false);
    expect(releaseChunk(Buffer.allocUnsafeSlow(64).subarray(1))).toBe(false);
    expect(a.toString()).toBe('first');
    expect(b.toString()).toBe('second');
  });
});
