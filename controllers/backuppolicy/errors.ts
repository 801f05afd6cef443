// Typed verdicts about a backup or a key. Each has a `reason` fit for a
// condition reason (Stalled / Failed) and a message fit for users: it names
// the backup, the item or the Secret key, never key material.
//
// Failures to reach the store are not among them: those stay
// ObjectStoreError (transient, retried by the caller).

export type BackupErrorReason =
  | 'InvalidKey'
  | 'WrongKey'
  | 'KeyRequired'
  | 'NotEncrypted'
  | 'InvalidManifest'
  | 'Missing'
  | 'Corrupted'
  | 'Tampered';

export class BackupError extends Error {
  readonly reason: BackupErrorReason;
  /** The item's key inside the backup (e.g. items/000003.bin), when one item is at fault. */
  readonly item: string | undefined;
  constructor(reason: BackupErrorReason, message: string, item?: string) {
    super(message);
    this.name = `${reason}Error`;
    this.reason = reason;
    this.item = item;
  }
}

/** The key in the Secret is not 32 bytes, raw or base64. */
export class InvalidKeyError extends BackupError {
  constructor(message: string) {
    super('InvalidKey', message);
  }
}

/** The backup was encrypted with a key the keyring does not hold. */
export class WrongKeyError extends BackupError {
  readonly keyId: string;
  readonly available: readonly string[];
  constructor(backupId: string, keyId: string, available: readonly string[]) {
    const held = available.length === 0 ? 'no key' : available.join(', ');
    super('WrongKey', `backup ${backupId} was encrypted with key ${keyId}; the keySecret holds ${held}`);
    this.keyId = keyId;
    this.available = available;
  }
}

/** The backup is encrypted and no key was given. */
export class KeyRequiredError extends BackupError {
  constructor(message: string) {
    super('KeyRequired', message);
  }
}

/** The backup is stored in clear where encryption is required (a downgrade: anyone could have written it). */
export class NotEncryptedError extends BackupError {
  constructor(message: string) {
    super('NotEncrypted', message);
  }
}

/** The manifest is not a valid manifest of this format (untrusted input: the field is named). */
export class InvalidManifestError extends BackupError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('InvalidManifest', `manifest: ${field}: ${message}`);
    this.field = field;
  }
}

/** The manifest or an item is not in the store. */
export class MissingError extends BackupError {
  constructor(message: string, item?: string) {
    super('Missing', message, item);
  }
}

/** Stored bytes differ from what the manifest recorded (size or sha256). */
export class CorruptedError extends BackupError {
  constructor(message: string, item?: string) {
    super('Corrupted', message, item);
  }
}

/** Authentication failed: a GCM tag, the wrapped data key, or the manifest's MAC. */
export class TamperedError extends BackupError {
  constructor(message: string, item?: string) {
    super('Tampered', message, item);
  }
}
