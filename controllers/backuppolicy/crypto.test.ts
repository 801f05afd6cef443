import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  HEADER_BYTES,
  Keyring,
  TAG_BYTES,
  decryptItem,
  deriveKeys,
  encryptItem,
  encryptedSize,
  keyIdOf,
  macMatches,
  macOf,
  newDataKey,
  parseKey,
  unwrapDataKey,
  wrapDataKey,
} from './crypto.ts';
import { InvalidKeyError, TamperedError, WrongKeyError } from './errors.ts';

const source = { secret: 'backup-key', key: 'key' };
const FRAME = 64; // small frames so tests cross frame boundaries cheaply

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of it) chunks.push(c);
  return Buffer.concat(chunks);
}

/** `data` delivered in chunks of `size` bytes (odd sizes exercise the reassembly). */
function* chunked(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

const itemKey = deriveKeys(newDataKey()).items;
const seal = (plain: Buffer, path = 'ns/pol/id/items/000001.bin') =>
  collect(encryptItem(chunked(plain, 7), itemKey, path, FRAME));
const open = (sealed: Buffer, path = 'ns/pol/id/items/000001.bin', chunk = 11) =>
  collect(decryptItem(chunked(sealed, chunk), itemKey, path));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe('parseKey', () => {
  const key = randomBytes(32);
  it('takes 32 raw bytes', () => {
    expect(parseKey(key, source).equals(key)).toBe(true);
  });
  it('takes base64 of 32 bytes, with a trailing newline, padding optional, URL-safe alphabet', () => {
    expect(parseKey(Buffer.from(`${key.toString('base64')}\n`), source).equals(key)).toBe(true);
    expect(parseKey(Buffer.from(key.toString('base64url')), source).equals(key)).toBe(true);
  });
  it('refuses 32 characters of text (a password or hex string), which raw-key parsing would accept', () => {
    for (const text of ['correct-horse-battery-staple-123', randomBytes(16).toString('hex')]) {
      expect(() => parseKey(Buffer.from(text), source)).toThrow(
        'Secret backup-key key "key" holds 32 characters of text, not 32 random bytes',
      );
    }
  });

  it('refuses anything else, naming the Secret key and what is allowed, never the value', () => {
    for (const bad of [
      randomBytes(16),
      Buffer.from(randomBytes(16).toString('base64')),
      Buffer.from(randomBytes(33).toString('base64')),
      Buffer.from('not a key at all!'),
      Buffer.alloc(0),
    ]) {
      let error: unknown;
      try {
        parseKey(bad, source);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidKeyError);
      const message = (error as Error).message;
      expect(message).toContain('Secret backup-key key "key"');
      expect(message).toContain('32 raw bytes or the base64 of 32 bytes');
      if (bad.length > 0) expect(message).not.toContain(bad.toString('latin1'));
    }
  });
});

describe('data key wrapping and key ids', () => {
  const kekA = randomBytes(32);
  const kekB = randomBytes(32);
  it('key ids are 16 hex digits, stable, different per key', () => {
    expect(keyIdOf(kekA)).toMatch(/^[0-9a-f]{16}$/);
    expect(keyIdOf(kekA)).toBe(keyIdOf(Buffer.from(kekA)));
    expect(keyIdOf(kekA)).not.toBe(keyIdOf(kekB));
  });

  it('round-trips with the key that wrapped it, found by id in a keyring of several', () => {
    const dataKey = newDataKey();
    const ringA = new Keyring([kekA]);
    const wrapped = wrapDataKey(dataKey, ringA.primary, 'b1');
    // rotated: the new key first, the old one still held
    const rotated = new Keyring([kekB, kekA]);
    expect(rotated.primary.id).toBe(keyIdOf(kekB));
    expect(unwrapDataKey(wrapped, keyIdOf(kekA), rotated, 'b1').equals(dataKey)).toBe(true);
  });

  it('a keyring without the key id: WrongKey naming both ids', () => {
    const wrapped = wrapDataKey(newDataKey(), new Keyring([kekA]).primary, 'b1');
    let error: unknown;
    try {
      unwrapDataKey(wrapped, keyIdOf(kekA), new Keyring([kekB]), 'b1');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WrongKeyError);
    expect((error as Error).message).toBe(
      `backup b1 was encrypted with key ${keyIdOf(kekA)}; the keySecret holds ${keyIdOf(kekB)}`,
    );
  });

  it('a wrapped key moved to another backup or altered does not authenticate', () => {
    const ring = new Keyring([kekA]);
    const wrapped = wrapDataKey(newDataKey(), ring.primary, 'b1');
    expect(() => unwrapDataKey(wrapped, ring.primary.id, ring, 'b2')).toThrow(TamperedError);
    const bytes = Buffer.from(wrapped, 'base64');
    bytes[20] = (bytes[20] ?? 0) ^ 1;
    expect(() => unwrapDataKey(bytes.toString('base64'), ring.primary.id, ring, 'b1')).toThrow(TamperedError);
  });

  it('the manifest MAC detects a change and only verifies under its own data key', () => {
    const keys = deriveKeys(newDataKey());
    const mac = macOf(keys, Buffer.from('{"a":1}'));
    expect(macMatches(keys, Buffer.from('{"a":1}'), mac)).toBe(true);
    expect(macMatches(keys, Buffer.from('{"a":2}'), mac)).toBe(false);
    expect(macMatches(deriveKeys(newDataKey()), Buffer.from('{"a":1}'), mac)).toBe(false);
    expect(macMatches(keys, Buffer.from('{"a":1}'), 'AAAA')).toBe(false);
  });
});

describe('item encryption (chunked GCM frames)', () => {
  it('round-trips items of every length around frame boundaries, in any chunking', async () => {
    for (const length of [0, 1, FRAME - 1, FRAME, FRAME + 1, 2 * FRAME, 3 * FRAME + 5]) {
      const plain = randomBytes(length);
      const sealed = await seal(plain);
      expect(sealed.length).toBe(encryptedSize(length, FRAME));
      for (const chunk of [1, 13, FRAME + TAG_BYTES, 10_000]) {
        expect((await open(sealed, undefined, chunk)).equals(plain)).toBe(true);
      }
    }
  });

  it('the same plaintext never gives the same ciphertext (random IV per item)', async () => {
    const plain = randomBytes(100);
    expect((await seal(plain)).equals(await seal(plain))).toBe(false);
  });

  it('a flipped bit anywhere (header, ciphertext, tag) is refused', async () => {
    const sealed = await seal(randomBytes(3 * FRAME));
    for (const at of [2, 5, 10, HEADER_BYTES, HEADER_BYTES + FRAME + 3, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[at] = (bad[at] ?? 0) ^ 0x01;
      expect(await rejection(open(bad)), `byte ${at}`).toBeInstanceOf(TamperedError);
    }
  });

  it('truncation at a frame boundary, mid-frame or into the header is refused', async () => {
    const sealed = await seal(randomBytes(3 * FRAME + 10));
    const frame = FRAME + TAG_BYTES;
    for (const length of [HEADER_BYTES + frame, HEADER_BYTES + 2 * frame, HEADER_BYTES + frame + 5, 10, 0]) {
      const error = await rejection(open(sealed.subarray(0, length)));
      expect(error, `length ${length}`).toBeInstanceOf(TamperedError);
    }
  });

  it('appended data (even a whole valid frame) is refused', async () => {
    const sealed = await seal(randomBytes(2 * FRAME));
    const frame = FRAME + TAG_BYTES;
    expect(await rejection(open(Buffer.concat([sealed, Buffer.alloc(1)])))).toBeInstanceOf(TamperedError);
    const firstFrame = sealed.subarray(HEADER_BYTES, HEADER_BYTES + frame);
    expect(await rejection(open(Buffer.concat([sealed, firstFrame])))).toBeInstanceOf(TamperedError);
  });

  it('reordered or duplicated frames are refused', async () => {
    const sealed = await seal(randomBytes(3 * FRAME + 1));
    const frame = FRAME + TAG_BYTES;
    const header = sealed.subarray(0, HEADER_BYTES);
    const f = (i: number) => sealed.subarray(HEADER_BYTES + i * frame, HEADER_BYTES + (i + 1) * frame);
    const last = sealed.subarray(HEADER_BYTES + 3 * frame);
    const swapped = Buffer.concat([header, f(1), f(0), f(2), last]);
    const duplicated = Buffer.concat([header, f(0), f(0), f(2), last]);
    expect(await rejection(open(swapped))).toBeInstanceOf(TamperedError);
    expect(await rejection(open(duplicated))).toBeInstanceOf(TamperedError);
  });

  it('an item moved to another key (path) or opened with another data key is refused', async () => {
    const sealed = await seal(randomBytes(10), 'ns/pol/b1/items/000001.bin');
    const error = await rejection(open(sealed, 'ns/pol/b1/items/000002.bin'));
    expect(error).toBeInstanceOf(TamperedError);
    expect((error as TamperedError).item).toBe('ns/pol/b1/items/000002.bin');
    const other = deriveKeys(newDataKey()).items;
    expect(
      await rejection(collect(decryptItem([sealed], other, 'ns/pol/b1/items/000001.bin'))),
    ).toBeInstanceOf(TamperedError);
  });

  it('never releases plaintext of a frame before its tag verified', async () => {
    const plain = randomBytes(3 * FRAME);
    const sealed = await seal(plain);
    const bad = Buffer.from(sealed);
    const at = HEADER_BYTES + FRAME + TAG_BYTES + 1; // inside frame 1
    bad[at] = (bad[at] ?? 0) ^ 0x80;
    const released: Buffer[] = [];
    await rejection(
      (async () => {
        for await (const c of decryptItem(chunked(bad, 5), itemKey, 'ns/pol/id/items/000001.bin'))
          released.push(c);
      })(),
    );
    // frame 0 only: authenticated before the bad frame was reached
    expect(Buffer.concat(released).equals(plain.subarray(0, FRAME))).toBe(true);
  });

  it('a header claiming a huge frame size is refused before anything is buffered', async () => {
    const sealed = await seal(randomBytes(10));
    sealed.writeUInt32BE(0xffffffff, 4);
    const error = await rejection(open(sealed));
    expect(error).toBeInstanceOf(TamperedError);
    expect((error as Error).message).toContain('frame size');
  });

  it('keeps no view of a source chunk once it asked for the next (the source may reuse its buffer)', async () => {
    // the frame's plaintext is copied, not held as the source's chunks: holding them kept each alive
    // across young-generation GCs (RSS growth of a 1 GiB backup, bench/backup.ts)
    for (const length of [5, FRAME - 1, FRAME + 1, 3 * FRAME + 5]) {
      const plain = randomBytes(length);
      const reused = Buffer.alloc(7);
      async function* refilled(): AsyncGenerator<Buffer> {
        for (let i = 0; i < plain.length; i += reused.length) {
          const n = plain.copy(reused, 0, i, i + reused.length);
          yield reused.subarray(0, n);
          reused.fill(0xee);
        }
      }
      const sealed = await collect(encryptItem(refilled(), itemKey, 'p', FRAME));
      const back = await collect(decryptItem(chunked(sealed, 11), itemKey, 'p'));
      expect(back.equals(plain)).toBe(true);
    }
  });

  it('transientPieces frees each ciphertext piece once the next is asked for; a consumer that copies gets the same item', async () => {
    const plain = randomBytes(3 * 1024 * 1024 + 5);
    const copies: Buffer[] = [];
    const pieces: Buffer[] = [];
    for await (const piece of encryptItem(chunked(plain, 65_536), itemKey, 'p', undefined, {
      transientPieces: true,
    })) {
      copies.push(Buffer.from(piece));
      pieces.push(piece);
    }
    // the 64 KiB pieces of every frame (header and tags are small and left to the GC)
    const released = pieces.filter((p) => (p.buffer as ArrayBuffer).detached);
    expect(released.length).toBeGreaterThanOrEqual((3 * 1024 * 1024) / 65_536);
    expect(released.every((p) => p.length === 0)).toBe(true);
    const back = await collect(decryptItem(chunked(Buffer.concat(copies), 100_000), itemKey, 'p'));
    expect(back.equals(plain)).toBe(true);
  });

  it('streams a large item with default 1 MiB frames', async () => {
    const plain = randomBytes(5 * 1024 * 1024 + 3);
    const sealed = await collect(encryptItem(chunked(plain, 300_000), itemKey, 'p'));
    expect(sealed.length).toBe(encryptedSize(plain.length));
    const back = await collect(decryptItem(chunked(sealed, 123_457), itemKey, 'p'));
    expect(createHash('sha256').update(back).digest('hex')).toBe(
      createHash('sha256').update(plain).digest('hex'),
    );
  });
});
