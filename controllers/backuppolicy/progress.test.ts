import { describe, expect, it } from 'vitest';
import { itemKey } from './format.ts';
import type { Manifest } from './format.ts';
import { consumedRequest, finishedBackup, keepNewestWhole, settleInterrupted } from './progress.ts';
import { planBackup } from './plan.ts';
import type { LastBackup } from './schema.ts';
import type { BackupListing } from './store.ts';

const ID = '20261204T194745Z-0a1b2c3d';
const hex = (c: string) => c.repeat(64);

function manifest(over: Partial<Manifest> = {}): Manifest {
  return {
    formatVersion: 1,
    policy: { namespace: 'team', name: 'nightly', uid: 'u' },
    backupId: ID,
    startedAt: '2026-12-04T19:47:45.000Z',
    completedAt: '2026-12-04T19:48:00.000Z',
    encryption: null,
    items: [
      {
        key: itemKey(1),
        type: 'model',
        source: 's3://models/a.onnx',
        modelDigest: `sha256:${hex('a')}`,
        size: 10,
        sha256: hex('a'),
        plaintextSize: 10,
        plaintextSha256: hex('a'),
      },
    ],
    failures: { count: 0, first: [] },
    counts: { items: 1, resources: 0, models: 1, storedBytes: 10, plaintextBytes: 10 },
    ...over,
  };
}

const started = new Date('2026-12-04T19:47:45Z');
const done = new Date('2026-12-04T19:48:00Z');

/** The status of backup ID as a killed operator left it: InProgress (by default a scheduled one). */
const inProgress = (over: Partial<LastBackup> = {}): LastBackup => ({
  id: ID,
  phase: 'InProgress',
  trigger: 'Schedule',
  startedAt: '2026-12-04T19:47:45Z',
  ...over,
});

/** What the store lists for a backup whose manifest `m` was written (backup ID by default). */
const listed = (m: Manifest, over: Partial<BackupListing> = {}): BackupListing => ({
  id: ID,
  state: 'Completed',
  startedAt: '',
  storedObjects: 2,
  storedBytes: 20,
  manifest: m,
  ...over,
});

describe('finishedBackup', () => {
  it('Completed when every model was copied, with the count of model files', () => {
    expect(finishedBackup(manifest(), 'OnDemand', started, done)).toEqual({
      id: ID,
      phase: 'Completed',
      trigger: 'OnDemand',
      startedAt: '2026-12-04T19:47:45Z',
      completedAt: '2026-12-04T19:48:00Z',
      items: 1,
      bytes: 10,
      models: 1,
    });
  });

  it('PartiallyFailed with the count and the first failed items named (at most 5)', () => {
    const first = Array.from({ length: 7 }, (_, i) => ({ what: `model s3://m/${i}`, message: `gone ${i}` }));
    const b = finishedBackup(manifest({ failures: { count: 9, first } }), 'Schedule', started, done);
    expect(b.phase).toBe('PartiallyFailed');
    expect(b.reason).toBe('PartiallyFailed');
    expect(b.failures?.count).toBe(9);
    expect(b.failures?.first).toEqual(first.slice(0, 5));
    expect(b.message).toContain('9 model files could not be copied: model s3://m/0: gone 0');
  });

  it('Completed, saying which models were not copied on purpose (file://)', () => {
    const b = finishedBackup(
      manifest({
        notCopied: { count: 1, first: [{ what: 'model file:///m.onnx', message: 'inside the image' }] },
      }),
      'Schedule',
      started,
      done,
    );
    expect(b.phase).toBe('Completed');
    expect(b.message).toBe('1 model file not copied: model file:///m.onnx (inside the image)');
  });
});

describe('settleInterrupted', () => {
  const last = inProgress();
  const now = new Date('2026-12-04T20:00:00Z');

  it('no manifest in the store: Failed, reason Interrupted, naming the backup', () => {
    for (const listing of [
      undefined,
      { id: ID, state: 'Incomplete', startedAt: '', storedObjects: 3, storedBytes: 9 } as BackupListing,
    ]) {
      const b = settleInterrupted(last, listing, now);
      expect(b).toMatchObject({ id: ID, phase: 'Failed', reason: 'Interrupted', trigger: 'Schedule' });
      expect(b.completedAt).toBe('2026-12-04T20:00:00Z');
      expect(b.message).toContain(`backup ${ID} was interrupted`);
    }
  });

  it('a manifest in the store: the backup finished (only its status was lost), as the manifest says', () => {
    const listing = listed(
      manifest({ failures: { count: 1, first: [{ what: 'model s3://m/x', message: 'gone' }] } }),
    );
    expect(settleInterrupted(last, listing, now)).toMatchObject({
      id: ID,
      phase: 'PartiallyFailed',
      completedAt: '2026-12-04T19:48:00Z',
    });
  });
});

describe('consumedRequest (a kill between the manifest and the status write)', () => {
  const completed = listed(manifest());
  const now = new Date('2026-12-04T20:00:00Z');
  const since = new Date('2026-12-04T00:00:00Z');

  it('a finished on-demand backup consumed its token: the request is not backed up twice', () => {
    const last = inProgress({ trigger: 'OnDemand', token: 't1' });
    const settled = settleInterrupted(last, completed, now);
    const handled = consumedRequest(settled);
    expect(handled).toEqual({ backupNowToken: 't1' });
    const plan = planBackup({
      schedule: '0 0 1 1 *',
      token: 't1',
      handledToken: handled.backupNowToken,
      since,
      now,
    });
    expect(plan.run).toBeUndefined();
  });

  it('a finished scheduled backup consumed its scheduled time: the slot is not backed up twice', () => {
    const last = inProgress({ scheduledAt: '2026-12-04T19:00:00Z', startedAt: '2026-12-04T19:00:01Z' });
    const handled = consumedRequest(settleInterrupted(last, completed, now));
    expect(handled).toEqual({ lastScheduleTime: '2026-12-04T19:00:00Z' });
    const plan = planBackup({ schedule: '0 19 * * *', since: new Date(handled.lastScheduleTime ?? ''), now });
    expect(plan.run).toBeUndefined();
    // without it the 19:00 slot is due again
    expect(planBackup({ schedule: '0 19 * * *', since, now }).run).toMatchObject({ trigger: 'Schedule' });
  });

  it('an interrupted backup (no manifest) consumed nothing: it is retried', () => {
    const last = inProgress({ trigger: 'OnDemand', token: 't1' });
    expect(consumedRequest(settleInterrupted(last, undefined, now))).toEqual({});
  });
});

describe('keepNewestWhole', () => {
  const listing = (id: string, failed: number): BackupListing =>
    listed(manifest({ failures: { count: failed, first: [] } }), { id, storedObjects: 1, storedBytes: 1 });

  it('spares the newest backup without failures when newer ones are PartiallyFailed', () => {
    const all = [listing('c', 2), listing('b', 1), listing('a', 0), listing('z', 0)];
    const doomed = [{ id: 'b' }, { id: 'a' }, { id: 'z' }];
    expect(keepNewestWhole(all, doomed)).toEqual([{ id: 'b' }, { id: 'z' }]);
    // the newest is whole: retention as it decided
    expect(keepNewestWhole([listing('d', 0), ...all], doomed)).toEqual(doomed);
  });
});
