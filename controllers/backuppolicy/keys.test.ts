import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Keyring, keyIdOf, newDataKey, unwrapDataKey, wrapDataKey } from './crypto.ts';
import { WrongKeyError } from './errors.ts';
import { keyringOf } from './keys.ts';

const b64 = (b: Buffer) => b.toString('base64');
/** A Secret's data as the API returns it: base64 of the stored value (itself base64 of the key). */
const data = (keys: Record<string, Buffer>) =>
  Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, b64(Buffer.from(b64(v)))]));

describe('keyringOf (key rotation)', () => {
  const a = randomBytes(32);
  const b = randomBytes(32);
  const ID = '20261204T194745Z-0a1b2c3d';

  it('puts the current key first and keeps previous keys for reading', () => {
    const ring = keyringOf('backup-key', data({ key: b, old: a }), 'key', ['old']);
    if (!(ring instanceof Keyring)) throw new Error(ring.message);
    expect(ring.ids).toEqual([keyIdOf(b), keyIdOf(a)]);
    expect(ring.primary.id).toBe(keyIdOf(b)); // new backups use the current key
  });

  it('opens a backup sealed with key A after rotating to B with A kept; without A: WrongKey naming the key id', () => {
    const dataKey = newDataKey();
    const wrapped = wrapDataKey(dataKey, new Keyring([a]).primary, ID);
    const rotated = keyringOf('backup-key', data({ key: b, old: a }), 'key', ['old']) as Keyring;
    expect(unwrapDataKey(wrapped, keyIdOf(a), rotated, ID)).toEqual(dataKey);
    const withoutA = keyringOf('backup-key', data({ key: b, old: a }), 'key', []) as Keyring;
    let error: unknown;
    try {
      unwrapDataKey(wrapped, keyIdOf(a), withoutA, ID);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WrongKeyError);
    expect((error as WrongKeyError).message).toBe(
      `backup ${ID} was encrypted with key ${keyIdOf(a)}; the keySecret holds ${keyIdOf(b)}`,
    );
  });

  it('names the field and key of a missing or invalid key', () => {
    expect(keyringOf('backup-key', data({ key: b }), 'key', ['old'])).toEqual({
      reason: 'KeyUnavailable',
      message: 'spec.encryption.previousKeys[0]: Secret backup-key has no key "old"',
    });
    expect(keyringOf('backup-key', {}, 'key', [])).toMatchObject({
      message: 'spec.encryption.keySecret: Secret backup-key has no key "key"',
    });
    const bad = keyringOf('backup-key', { key: b64(b), old: b64(Buffer.from('hunter2')) }, 'key', ['old']);
    expect(bad).toMatchObject({ reason: 'InvalidKey' });
    expect((bad as { message: string }).message).toMatch(
      /^spec\.encryption\.previousKeys\[0\]: Secret backup-key key "old"/,
    );
  });
});
