// Client-side envelope encryption of backups, on node:crypto only (no
// primitive is written here).
//
// Keys
// - KEK (key-encryption key): 32 bytes from the policy's keySecret, raw or
//   base64 (parseKey). Its id (keyIdOf) is the first 16 hex digits of
//   SHA-256("ymera-backup-kek-id\0" || KEK): recorded in the manifest so a
//   keyring of old and new KEKs finds the one a backup needs (rotation), and
//   a wrong key is named instead of failing as "bad tag". 64 bits of a hash
//   of a random 256-bit key reveal nothing usable about it.
// - Data key: 32 random bytes per backup, stored only wrapped: AES-256-GCM
//   under the KEK with a random 12-byte IV and the backup id and key id as
//   AAD (a wrapped key cannot be moved to another backup).
// - From the data key, HKDF-SHA256 derives two subkeys, so no key serves two
//   algorithms: one encrypts the items, one MACs the manifest (HMAC-SHA256 of
//   its canonical JSON), which authenticates the item list itself: without
//   it, an attacker with write access to the bucket could drop items from the
//   manifest unnoticed.
//
// Items: chunked AES-256-GCM ("frames"). One GCM operation over a whole
// multi-GiB item would release plaintext before the tag at its very end is
// checked (or force buffering the item); a restorer must never act on
// unauthenticated bytes. So an item is cut into frames of FRAME_BYTES (1 MiB)
// plaintext, each sealed on its own (the STREAM construction of Hoang,
// Reyhanitabar, Rogaway, Vizár, as used by age and Tink):
//
//   stored item = header || frame_0 || frame_1 || … || frame_n
//   header      = "YBK1" || uint32be(frameBytes) || baseIV (12 random bytes)
//   frame_i     = AES-256-GCM(itemKey, nonce_i, plaintext_i, aad_i) || tag_i (16 bytes)
//   nonce_i     = baseIV[0..8] || uint32be(uint32be(baseIV[8..12]) + i mod 2^32)
//   aad_i       = header || uint64be(i) || final_i (1 byte: 1 on the last frame) || item path
//
// Every frame but the last holds exactly frameBytes of plaintext; the last
// 0..frameBytes (an empty item is one empty final frame). The decryptor
// releases a frame's plaintext only after its tag verified, so memory stays
// about two frames whatever the item's size, and:
// - a flipped bit fails that frame's tag;
// - reordered or duplicated frames fail (the counter is in nonce and AAD);
// - truncation at a frame boundary fails: the frame now last was sealed with
//   final=0; appended data fails: the real last frame was sealed with final=1;
// - an item moved to another key or backup fails: its path (which holds the
//   backup id) is in the AAD;
// - the header (frame size, IV) is in every AAD.
// Nonces: a random 96-bit base per item, consecutive counters per frame; a
// data key seals one backup, so collisions need two of its items' random
// 64-bit prefixes to meet (about 2^-64 per pair).
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { InvalidKeyError, TamperedError, WrongKeyError } from './errors.ts';
import { releaseChunk } from './release.ts';

export const KEY_BYTES = 32;
export const FRAME_BYTES = 1024 * 1024;
/** A frame size read from an (untrusted) header is refused above this: it bounds the decryptor's memory. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
export const HEADER_BYTES = 20;
export const TAG_BYTES = 16;
const IV_BYTES = 12;
const MAGIC = Buffer.from('YBK1', 'ascii');
/** Names recorded in the manifest. */
export const ITEM_ALGORITHM = 'AES-256-GCM-STREAM-1MiB';
export const WRAP_ALGORITHM = 'AES-256-GCM';

// --- keys -----------------------------------------------------------------------------

/** Where a key came from, for error messages (never the key itself). */
export type KeySource = { secret: string; key: string };

/**
 * The 32-byte KEK held in a Secret's value: exactly 32 raw bytes, or base64
 * (standard or URL-safe alphabet, padding optional, surrounding whitespace and
 * a trailing newline ignored) of 32 bytes, e.g. `openssl rand -base64 32`.
 * 32 printable characters are refused: that is a password, not a key.
 */
export function parseKey(value: Uint8Array, source: KeySource): Buffer {
  const where = `Secret ${source.secret} key "${source.key}"`;
  if (value.length === KEY_BYTES) {
    // 32 random bytes are all printable with odds of about 1e-14: this is a password or a hex
    // string, far weaker than a key, and most likely a mistake
    if (value.every((b) => b >= 0x20 && b <= 0x7e)) {
      throw new InvalidKeyError(
        `${where} holds 32 characters of text, not 32 random bytes: a password is not a key; ` +
          'store the base64 of 32 random bytes (e.g. the output of `openssl rand -base64 32`)',
      );
    }
    return Buffer.from(value);
  }
  const text = Buffer.from(value).toString('latin1').trim();
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    const decoded = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (decoded.length === KEY_BYTES) return decoded;
  }
  throw new InvalidKeyError(
    `${where} does not hold an encryption key: expected 32 raw bytes ` +
      `or the base64 of 32 bytes (e.g. the output of \`openssl rand -base64 32\`); it holds ${value.length} bytes`,
  );
}

export function keyIdOf(kek: Uint8Array): string {
  return createHash('sha256').update('ymera-backup-kek-id\0').update(kek).digest('hex').slice(0, 16);
}

export type Kek = { readonly id: string; readonly key: Buffer };

/**
 * KEKs by id. The first is the one new backups are sealed with; the others
 * only open older backups (rotation: add the new key first, keep the old one
 * while backups sealed with it are kept).
 */
export class Keyring {
  readonly keys: readonly Kek[];
  constructor(keys: readonly Uint8Array[]) {
    if (keys.length === 0) throw new TypeError('a keyring needs at least one key');
    const seen = new Map<string, Kek>();
    for (const k of keys) {
      if (k.length !== KEY_BYTES) throw new TypeError(`a key must be ${KEY_BYTES} bytes (use parseKey)`);
      const kek = { id: keyIdOf(k), key: Buffer.from(k) };
      if (!seen.has(kek.id)) seen.set(kek.id, kek);
    }
    this.keys = [...seen.values()];
  }
  get primary(): Kek {
    return this.keys[0] as Kek;
  }
  get ids(): string[] {
    return this.keys.map((k) => k.id);
  }
  find(id: string): Kek | undefined {
    return this.keys.find((k) => k.id === id);
  }
}

/** The two keys derived from a backup's data key. */
export type BackupKeys = { readonly items: Buffer; readonly mac: Buffer };

export function newDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

export function deriveKeys(dataKey: Uint8Array): BackupKeys {
  const derive = (info: string) =>
    Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), `ymera-backup/v1 ${info}`, KEY_BYTES));
  return { items: derive('items'), mac: derive('manifest-mac') };
}

const wrapAad = (backupId: string, keyId: string) =>
  Buffer.from(`ymera-backup/v1 data-key\0${backupId}\0${keyId}`, 'utf8');

/** base64(iv || ciphertext || tag) of the data key under the KEK. */
export function wrapDataKey(dataKey: Uint8Array, kek: Kek, backupId: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek.key, iv);
  cipher.setAAD(wrapAad(backupId, kek.id));
  const sealed = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  return Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64');
}

/** Bytes of a wrapped data key (iv, key, tag). */
export const WRAPPED_KEY_BYTES = IV_BYTES + KEY_BYTES + TAG_BYTES;

/**
 * The data key of backup `backupId`: WrongKeyError when the keyring holds no
 * KEK with `keyId`, TamperedError when the wrapped key does not authenticate.
 */
export function unwrapDataKey(wrapped: string, keyId: string, keyring: Keyring, backupId: string): Buffer {
  const kek = keyring.find(keyId);
  if (!kek) throw new WrongKeyError(backupId, keyId, keyring.ids);
  const bytes = Buffer.from(wrapped, 'base64');
  if (bytes.length !== WRAPPED_KEY_BYTES) {
    throw new TamperedError(
      `backup ${backupId}: the wrapped data key is ${bytes.length} bytes, not ${WRAPPED_KEY_BYTES}`,
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek.key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(wrapAad(backupId, keyId));
    decipher.setAuthTag(bytes.subarray(IV_BYTES + KEY_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, IV_BYTES + KEY_BYTES)), decipher.final()]);
  } catch {
    throw new TamperedError(
      `backup ${backupId}: the wrapped data key does not authenticate under key ${keyId}`,
    );
  }
}

/** HMAC-SHA256 (base64) of the manifest's canonical bytes under the backup's MAC key. */
export function macOf(keys: BackupKeys, canonical: Uint8Array): string {
  return createHmac('sha256', keys.mac).update(canonical).digest('base64');
}

export function macMatches(keys: BackupKeys, canonical: Uint8Array, mac: string): boolean {
  const expected = createHmac('sha256', keys.mac).update(canonical).digest();
  const given = Buffer.from(mac, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

// --- item streams ---------------------------------------------------------------------

function nonceOf(baseIv: Buffer, counter: number): Buffer {
  const nonce = Buffer.from(baseIv);
  nonce.writeUInt32BE((baseIv.readUInt32BE(8) + counter) >>> 0, 8);
  return nonce;
}

function frameAad(header: Buffer, counter: number, final: boolean, path: Buffer): Buffer {
  const position = Buffer.alloc(9);
  position.writeBigUInt64BE(BigInt(counter), 0);
  position[8] = final ? 1 : 0;
  return Buffer.concat([header, position, path]);
}

/** Frames beyond this count would repeat a nonce of the item. */
const MAX_FRAMES = 2 ** 32;

/** Ciphertext is passed on in pieces of at most this size (each a fresh buffer from the cipher). */
const SEAL_PIECE_BYTES = 64 * 1024;

/**
 * The stored form of an item (see the file comment), as its plaintext
 * streams in: at most one frame held, the ciphertext passed on as it is
 * produced, in pieces of at most SEAL_PIECE_BYTES, then each frame's tag.
 *
 * Memory: a frame's plaintext is held until it is sealed (the last-frame
 * flag is in the AAD, which GCM needs first). Holding the source's own
 * chunks for that long (a 1 MiB frame is 16 socket reads) kept each alive
 * across young-generation GCs: promoted, they were freed only by a major GC,
 * which V8 starts once some 64 MiB of such garbage has piled up (measured in
 * the operator during bench/backup.ts: that pile was most of the RSS growth
 * of a 1 GiB backup). So an item that spans more than one chunk is copied
 * into one frame buffer reused for all its frames, and every chunk dies
 * young; an item of one chunk (an object) is sealed from a copy of it.
 */
export async function* encryptItem(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  itemKey: Buffer,
  path: string,
  frameBytes = FRAME_BYTES,
  options: {
    /**
     * Each ciphertext piece is freed (releaseChunk) once the consumer asks for
     * the next: for a consumer that copies every piece on at once and keeps
     * none (the multipart upload), so pieces never wait for a GC.
     */
    transientPieces?: boolean;
  } = {},
): AsyncGenerator<Buffer> {
  if (!Number.isInteger(frameBytes) || frameBytes < 1 || frameBytes > MAX_FRAME_BYTES) {
    throw new RangeError(`frameBytes must be in 1..${MAX_FRAME_BYTES}`);
  }
  const baseIv = randomBytes(IV_BYTES);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(frameBytes, 4);
  baseIv.copy(header, 8);
  const pathBytes = Buffer.from(path, 'utf8');
  let counter = 0;
  // the frame's plaintext: its only piece so far (a copy: small), or in `frame` once it spans more
  // than one; never a view of the source's chunk, which the source may then reuse or drop
  let only: Buffer | undefined;
  let frame: Buffer | undefined;
  let pendingBytes = 0;
  const hold = (piece: Buffer) => {
    if (pendingBytes === 0 && !frame) {
      only = Buffer.from(piece);
    } else {
      if (!frame) {
        // outside V8's pool: reused for every frame of the item, never freed early
        frame = Buffer.allocUnsafeSlow(frameBytes);
        only?.copy(frame, 0);
        only = undefined;
      }
      piece.copy(frame, pendingBytes);
    }
    pendingBytes += piece.length;
  };
  function* seal(final: boolean): Generator<Buffer> {
    if (counter >= MAX_FRAMES) throw new RangeError('item too large for one frame sequence');
    const cipher = createCipheriv('aes-256-gcm', itemKey, nonceOf(baseIv, counter));
    cipher.setAAD(frameAad(header, counter, final, pathBytes));
    counter++;
    const plaintext = frame ? frame.subarray(0, pendingBytes) : (only ?? Buffer.alloc(0));
    only = undefined;
    for (let at = 0; at < plaintext.length; at += SEAL_PIECE_BYTES) {
      const piece = cipher.update(plaintext.subarray(at, at + SEAL_PIECE_BYTES));
      yield piece;
      if (options.transientPieces) releaseChunk(piece);
    }
    const last = cipher.final();
    yield last.length > 0 ? Buffer.concat([last, cipher.getAuthTag()]) : cipher.getAuthTag();
    pendingBytes = 0;
  }
  yield header;
  try {
    for await (const chunk of source) {
      let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      while (rest.length > 0) {
        // a frame is sealed non-final only once a byte past it has arrived
        if (pendingBytes === frameBytes) yield* seal(false);
        const n = Math.min(rest.length, frameBytes - pendingBytes);
        hold(rest.subarray(0, n));
        rest = rest.subarray(n);
      }
    }
    yield* seal(true);
  } finally {
    // never handed out (the cipher reads it, its output is new memory): freed now, not at a major GC
    if (frame) releaseChunk(frame);
  }
}

/**
 * The plaintext of a stored item, each frame released only after its tag
 * verified; fails with TamperedError (naming `path`) on any authentication
 * failure, truncation or extension.
 */
export async function* decryptItem(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  itemKey: Buffer,
  path: string,
): AsyncGenerator<Buffer> {
  const tampered = (what: string) => new TamperedError(`item ${path}: ${what}`, path);
  const pathBytes = Buffer.from(path, 'utf8');
  let header: Buffer | undefined;
  let baseIv = Buffer.alloc(0);
  let frameBytes = 0;
  let counter = 0;
  const open = (sealed: Buffer, final: boolean): Buffer => {
    if (counter >= MAX_FRAMES) throw tampered('more frames than one item may hold');
    const decipher = createDecipheriv('aes-256-gcm', itemKey, nonceOf(baseIv, counter));
    decipher.setAAD(frameAad(header as Buffer, counter, final, pathBytes));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      const plain = Buffer.concat([
        decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]);
      counter++;
      return plain;
    } catch {
      throw tampered(
        final
          ? `frame ${counter} (the last one) does not authenticate: altered, truncated or extended`
          : `frame ${counter} does not authenticate: altered, reordered or truncated`,
      );
    }
  };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of source) {
    if (chunk.length === 0) continue;
    pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    pendingBytes += chunk.length;
    let buf: Buffer | undefined;
    if (!header) {
      if (pendingBytes < HEADER_BYTES) continue;
      buf = Buffer.concat(pending, pendingBytes);
      header = Buffer.from(buf.subarray(0, HEADER_BYTES));
      if (!header.subarray(0, 4).equals(MAGIC)) throw tampered('not an encrypted item (bad header)');
      frameBytes = header.readUInt32BE(4);
      if (frameBytes < 1 || frameBytes > MAX_FRAME_BYTES) {
        throw tampered(`header frame size ${frameBytes} is outside 1..${MAX_FRAME_BYTES}`);
      }
      baseIv = Buffer.from(header.subarray(8, 8 + IV_BYTES));
      buf = buf.subarray(HEADER_BYTES);
      pending = [buf];
      pendingBytes = buf.length;
    }
    const sealedBytes = frameBytes + TAG_BYTES;
    if (pendingBytes <= sealedBytes) continue;
    buf ??= Buffer.concat(pending, pendingBytes);
    while (buf.length > sealedBytes) {
      yield open(buf.subarray(0, sealedBytes), false);
      buf = buf.subarray(sealedBytes);
    }
    pending = [buf];
    pendingBytes = buf.length;
  }
  if (!header) throw tampered('truncated: no complete header');
  if (pendingBytes < TAG_BYTES) throw tampered('truncated: the last frame is incomplete');
  yield open(Buffer.concat(pending, pendingBytes), true);
}

/** Stored size of an item of `plainBytes` bytes. */
export function encryptedSize(plainBytes: number, frameBytes = FRAME_BYTES): number {
  const frames = Math.max(1, Math.ceil(plainBytes / frameBytes));
  return HEADER_BYTES + plainBytes + frames * TAG_BYTES;
}
