// Pure: lastBackup from what a backup left behind. A finished backup's
// phase comes from its manifest: Completed, or PartiallyFailed when some
// model files could not be copied (the manifest's failures: still a
// restorable backup). A backup status says is InProgress but the operator
// is not running (it crashed or was stopped midway) is judged by the store:
// a manifest means it finished (the status write was lost), none means it
// was Interrupted (Failed; the trigger was not consumed, so it is retried).
import { metaTime } from '../../operator/conditions.ts';
import type { Manifest } from './format.ts';
import type { LastBackup } from './schema.ts';
import type { BackupListing } from './store.ts';

/** Failed items named in status (the manifest names up to 20). */
export const MAX_FAILURES_IN_STATUS = 5;

export const INTERRUPTED = 'Interrupted';

type Trigger = LastBackup['trigger'];

/** What status says about a backup whose manifest is written. */
export function finishedBackup(
  manifest: Manifest,
  trigger: Trigger,
  startedAt: Date,
  completedAt: Date,
): LastBackup {
  const failed = manifest.failures.count;
  const notCopied = manifest.notCopied?.count ?? 0;
  const notes: string[] = [];
  if (failed > 0)
    notes.push(
      `${failed} model file${failed === 1 ? '' : 's'} could not be copied: ` +
        manifest.failures.first
          .slice(0, MAX_FAILURES_IN_STATUS)
          .map((f) => `${f.what}: ${f.message}`)
          .join('; '),
    );
  if (notCopied > 0)
    notes.push(
      `${notCopied} model file${notCopied === 1 ? '' : 's'} not copied: ` +
        (manifest.notCopied?.first ?? []).map((f) => `${f.what} (${f.message})`).join('; '),
    );
  return {
    id: manifest.backupId,
    phase: failed > 0 ? 'PartiallyFailed' : 'Completed',
    trigger,
    startedAt: metaTime(startedAt),
    completedAt: metaTime(completedAt),
    items: manifest.counts.items,
    bytes: manifest.counts.storedBytes,
    ...(manifest.counts.models > 0 || failed > 0 ? { models: manifest.counts.models } : {}),
    ...(failed > 0
      ? {
          reason: 'PartiallyFailed',
          failures: {
            count: failed,
            first: manifest.failures.first.slice(0, MAX_FAILURES_IN_STATUS).map((f) => ({
              what: f.what.slice(0, 1024),
              message: f.message.slice(0, 1024),
            })),
          },
        }
      : {}),
    ...(notes.length > 0 ? { message: notes.join('. ').slice(0, 4096) } : {}),
  };
}

/** The id status says is in progress, when it is (then no reconcile of this operator is taking it). */
export function inProgressId(last: LastBackup | undefined): string | undefined {
  return last?.phase === 'InProgress' ? last.id : undefined;
}

/** The request (token or scheduled time) a lastBackup records, as its own fields. */
function requestOf(last: LastBackup): Pick<LastBackup, 'token' | 'scheduledAt'> {
  return {
    ...(last.token !== undefined ? { token: last.token } : {}),
    ...(last.scheduledAt !== undefined ? { scheduledAt: last.scheduledAt } : {}),
  };
}

/**
 * What status must record as acted on once an interrupted backup is settled:
 * a backup that finished (Completed or PartiallyFailed, its manifest written)
 * consumed its token or scheduled time even though the operator stopped
 * before recording it; without this the same request is backed up twice. An
 * Interrupted (Failed) one consumed nothing: it is retried.
 */
export function consumedRequest(settled: LastBackup): { backupNowToken?: string; lastScheduleTime?: string } {
  if (settled.phase !== 'Completed' && settled.phase !== 'PartiallyFailed') return {};
  if (settled.trigger === 'OnDemand' && settled.token !== undefined) return { backupNowToken: settled.token };
  if (settled.trigger === 'Schedule' && settled.scheduledAt !== undefined)
    return { lastScheduleTime: settled.scheduledAt };
  return {};
}

/**
 * lastBackup for a backup status left InProgress, from the store's listing
 * of that id (undefined: the store has nothing of it).
 */
export function settleInterrupted(
  last: LastBackup,
  listing: BackupListing | undefined,
  now: Date,
): LastBackup {
  if (listing?.state === 'Completed' && listing.manifest) {
    const m = listing.manifest;
    return {
      ...finishedBackup(m, last.trigger, new Date(m.startedAt), new Date(m.completedAt)),
      ...requestOf(last),
    };
  }
  const state =
    listing?.state === 'Invalid' ? `its manifest is invalid (${listing.error ?? ''})` : 'it has no manifest';
  return {
    ...(last.id ? { id: last.id } : {}),
    phase: 'Failed',
    trigger: last.trigger,
    startedAt: last.startedAt,
    completedAt: metaTime(now),
    reason: INTERRUPTED,
    message:
      `backup ${last.id ?? ''} was interrupted (the operator stopped while taking it) and ${state}; ` +
      'it is retried, and retention deletes the incomplete one',
  };
}

/**
 * Retention's verdicts minus the newest backup without failures: a run of
 * PartiallyFailed backups (restorable, but without some model files) must
 * not push out the last one that holds every model. `listing` newest first.
 */
export function keepNewestWhole<V extends { id: string }>(
  listing: readonly BackupListing[],
  doomed: V[],
): V[] {
  const whole = listing.find((b) => b.state === 'Completed' && b.manifest?.failures.count === 0)?.id;
  return doomed.filter((v) => v.id !== whole);
}
