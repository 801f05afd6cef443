// The keyring of a BackupPolicy, read from its keySecret: the current key
// (spec.encryption.keySecret.key) seals new backups; the keys named in
// spec.encryption.previousKeys (other keys of the same Secret) only open
// older backups, so keys rotate without losing what was sealed before.
// Shared by the BackupPolicy controller (backups, drills) and the Restore
// controller. Errors name the Secret and key, never key material.
import type { KubeClient } from '../../operator/kube/client.ts';
import { KubeApiError } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core } from '../../operator/kube/resources.ts';
import { Keyring, parseKey } from './crypto.ts';
import { BackupError } from './errors.ts';

/** spec.encryption of a BackupPolicy (kept structural so both controllers can pass theirs). */
export type EncryptionRef = {
  keySecret: { name: string; key?: string | undefined };
  previousKeys?: readonly string[] | undefined;
};

/** Why no keyring: a condition reason and a message naming the field. */
export type KeyStall = { reason: string; message: string };

type SecretObject = KubeObject & { data?: Record<string, string> };

const FIELD = 'spec.encryption.keySecret';

/**
 * The keyring of `encryption` (current key first, then previousKeys in
 * order), or why it cannot be built (never the key itself). API failures
 * other than 403 are thrown (transient: the caller retries).
 */
export async function readKeyring(
  client: KubeClient,
  namespace: string,
  encryption: EncryptionRef,
): Promise<Keyring | KeyStall> {
  const ref = encryption.keySecret;
  let secret: SecretObject | undefined;
  try {
    secret = await client.get<SecretObject>(core.secret, ref.name, namespace);
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 403)
      return {
        reason: 'KeyUnavailable',
        message: `${FIELD}: the operator may not read Secret ${ref.name} (Helm values rbac.secretsAccess, rbac.secretsNamespaces)`,
      };
    throw e;
  }
  if (!secret) return { reason: 'KeyUnavailable', message: `${FIELD}: Secret ${ref.name} does not exist` };
  return keyringOf(ref.name, secret.data ?? {}, ref.key ?? 'key', encryption.previousKeys ?? []);
}

/**
 * Pure: the keyring from a Secret's data (base64 values, as the API returns
 * them): `current` first, then each of `previous`.
 */
export function keyringOf(
  secretName: string,
  data: Record<string, string>,
  current: string,
  previous: readonly string[],
): Keyring | KeyStall {
  const keys: Buffer[] = [];
  for (const [i, key] of [current, ...previous].entries()) {
    const field = i === 0 ? FIELD : `spec.encryption.previousKeys[${i - 1}]`;
    const value = data[key];
    if (value === undefined)
      return { reason: 'KeyUnavailable', message: `${field}: Secret ${secretName} has no key "${key}"` };
    try {
      keys.push(parseKey(Buffer.from(value, 'base64'), { secret: secretName, key }));
    } catch (e) {
      if (e instanceof BackupError) return { reason: e.reason, message: `${field}: ${e.message}` };
      throw e;
    }
  }
  return new Keyring(keys);
}
