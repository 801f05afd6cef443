import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ITEM_ALGORITHM, WRAP_ALGORITHM } from './crypto.ts';
import { InvalidManifestError } from './errors.ts';
import {
  backupIdTime,
  backupPrefix,
  countsOf,
  itemKey,
  newBackupId,
  parseManifest,
  redactSource,
  selectForDeletion,
  serializeManifest,
} from './format.ts';
import type { Manifest, ManifestItem, RetentionCandidate } from './format.ts';

const hex = (c: string) => c.repeat(64);
const ID = '20261204T194745Z-0a1b2c3d';

function manifest(): Manifest {
  const items: ManifestItem[] = [
    {
      key: itemKey(1),
      type: 'resource',
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'InferenceService',
      namespace: 'team-a',
      name: 'iris',
      modelDigest: `sha256:${hex('c')}`,
      size: 120,
      sha256: hex('a'),
      plaintextSize: 84,
      plaintextSha256: hex('b'),
    },
    {
      key: itemKey(2),
      type: 'model',
      source: 's3://models/iris.onnx',
      modelDigest: `sha256:${hex('c')}`,
      size: 1100,
      sha256: hex('d'),
      plaintextSize: 1000,
      plaintextSha256: hex('c'),
    },
  ];
  return {
    formatVersion: 1,
    policy: { namespace: 'team-a', name: 'nightly', uid: '8f1c0a7e-0000-4000-8000-000000000001' },
    backupId: ID,
    startedAt: '2026-12-04T19:47:45.000Z',
    completedAt: '2026-12-04T19:48:00.000Z',
    encryption: {
      algorithm: ITEM_ALGORITHM,
      keyWrap: WRAP_ALGORITHM,
      keyId: '0123456789abcdef',
      wrappedDataKey: randomBytes(60).toString('base64'),
      frameBytes: 1048576,
      manifestMac: randomBytes(32).toString('base64'),
    },
    items,
    failures: { count: 0, first: [] },
    counts: countsOf(items),
  };
}

const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

function parseError(value: unknown, expected = {}): InvalidManifestError {
  try {
    parseManifest(typeof value === 'string' ? Buffer.from(value) : bytes(value), expected);
  } catch (error) {
    if (error instanceof InvalidManifestError) return error;
    throw error;
  }
  throw new Error('expected the manifest to be refused');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests write arbitrary bad shapes
type Loose = Record<string, any>;

/** A manifest changed by `edit` (a deep copy). */
function edited(edit: (m: Loose) => void): unknown {
  const m = structuredClone(manifest()) as Loose;
  edit(m);
  return m;
}

describe('layout and ids', () => {
  it('lays a backup out under namespace/name/id', () => {
    expect(backupPrefix({ namespace: 'team-a', name: 'nightly' }, ID)).toBe(`team-a/nightly/${ID}/`);
    expect(itemKey(3)).toBe('items/000003.bin');
  });

  it('ids sort by time and carry it', () => {
    const a = newBackupId(new Date('2026-12-04T19:47:45.999Z'), 'ffffffff');
    const b = newBackupId(new Date('2026-12-04T19:47:46.000Z'), '00000000');
    expect(a).toBe('20261204T194745Z-ffffffff');
    expect(a < b).toBe(true);
    expect(backupIdTime(b)?.toISOString()).toBe('2026-12-04T19:47:46.000Z');
    expect(backupIdTime('not-an-id')).toBeUndefined();
    expect(backupIdTime('20261304T194745Z-00000000')).toBeUndefined();
  });
});

describe('redactSource', () => {
  it('drops credentials, presigned query strings and fragments from URLs, keeps the rest', () => {
    expect(
      redactSource('https://u:p@models.example/iris.onnx?X-Amz-Signature=abc&X-Amz-Credential=AKIA#x'),
    ).toBe('https://models.example/iris.onnx');
    expect(redactSource('s3://ymera-models/iris/v3/model.onnx')).toBe('s3://ymera-models/iris/v3/model.onnx');
    expect(redactSource('pvc://models/iris.onnx')).toBe('pvc://models/iris.onnx');
    expect(redactSource('not a url')).toBe('not a url');
  });
});

describe('parseManifest', () => {
  it('reads back what serializeManifest wrote, checking id and policy', () => {
    const m = manifest();
    const parsed = parseManifest(serializeManifest(m), { backupId: ID, policy: m.policy });
    expect(parsed).toEqual(m);
    const clear = { ...m, encryption: null, items: [] as ManifestItem[], counts: countsOf([]) };
    expect(parseManifest(serializeManifest(clear))).toEqual(clear);
  });

  const cases: [string, unknown, string, object?][] = [
    ['not JSON', '{"formatVersion": 1,', '(file)'],
    ['a JSON array', '[]', '(file)'],
    ['a newer format', edited((m) => (m.formatVersion = 2)), 'formatVersion'],
    ['no formatVersion', edited((m) => delete m.formatVersion), 'formatVersion'],
    ['an unknown top-level field', edited((m) => (m.extra = 1)), 'extra'],
    ['a policy without uid', edited((m) => delete m.policy.uid), 'policy.uid'],
    ['a bad policy namespace', edited((m) => (m.policy.namespace = 'Team_A')), 'policy.namespace'],
    ['another policy', edited(() => undefined), 'policy', { policy: { namespace: 'team-a', name: 'other' } }],
    ['a bad backup id', edited((m) => (m.backupId = '../../etc')), 'backupId'],
    ['another backup id', edited(() => undefined), 'backupId', { backupId: '20261204T194745Z-ffffffff' }],
    ['a bad time', edited((m) => (m.startedAt = 'yesterday')), 'startedAt'],
    ['completion before start', edited((m) => (m.completedAt = '2026-12-04T19:00:00Z')), 'completedAt'],
    ['no encryption field', edited((m) => delete m.encryption), 'encryption'],
    ['another algorithm', edited((m) => (m.encryption.algorithm = 'AES-128-CBC')), 'encryption.algorithm'],
    ['a bad key id', edited((m) => (m.encryption.keyId = 'XYZ')), 'encryption.keyId'],
    [
      'a short wrapped key',
      edited((m) => (m.encryption.wrappedDataKey = 'AAAA')),
      'encryption.wrappedDataKey',
    ],
    ['a huge frame size', edited((m) => (m.encryption.frameBytes = 2 ** 31)), 'encryption.frameBytes'],
    ['items not an array', edited((m) => (m.items = {})), 'items'],
    ['an item of unknown type', edited((m) => (m.items[0].type = 'secret')), 'items[0].type'],
    ['an item key outside items/', edited((m) => (m.items[1].key = '../manifest.json')), 'items[1].key'],
    ['a duplicated item key', edited((m) => (m.items[1].key = m.items[0].key)), 'items[1].key'],
    ['a negative size', edited((m) => (m.items[0].size = -1)), 'items[0].size'],
    ['a fractional size', edited((m) => (m.items[0].size = 1.5)), 'items[0].size'],
    ['an uppercase sha256', edited((m) => (m.items[1].sha256 = 'A'.repeat(64))), 'items[1].sha256'],
    ['an unknown item field', edited((m) => (m.items[0].status = {})), 'items[0].status'],
    [
      'a model digest not of its content',
      edited((m) => (m.items[1].modelDigest = `sha256:${hex('e')}`)),
      'items[1].modelDigest',
    ],
    ['a resource without name', edited((m) => delete m.items[0].name), 'items[0].name'],
    ['counts that do not add up', edited((m) => (m.counts.storedBytes = 1)), 'counts.storedBytes'],
    [
      'more failures listed than counted',
      edited((m) => m.failures.first.push({ what: 'x', message: 'y' })),
      'failures.first',
    ],
    [
      'a clear backup whose plaintext hash differs',
      edited((m) => {
        m.encryption = null;
      }),
      'items[0].plaintextSize',
    ],
  ];
  for (const [what, value, field, expected] of cases) {
    it(`refuses ${what}, naming ${field}`, () => {
      const error = parseError(value, expected);
      expect(error.field).toBe(field);
      expect(error.reason).toBe('InvalidManifest');
      expect(error.message.startsWith(`manifest: ${field}: `)).toBe(true);
    });
  }

  it('says which versions it reads', () => {
    expect(parseError(edited((m) => (m.formatVersion = 2))).message).toBe(
      'manifest: formatVersion: version 2 is not supported (this operator reads version 1)',
    );
  });
});

describe('selectForDeletion', () => {
  const now = new Date('2026-12-10T00:00:00Z');
  /** A Completed backup finished `hoursAgo` before now. */
  const done = (hoursAgo: number, suffix = '00000000'): RetentionCandidate => {
    const t = new Date(now.getTime() - hoursAgo * 3_600_000);
    return { id: newBackupId(t, suffix), state: 'Completed', completedAt: t.toISOString() };
  };
  const started = (hoursAgo: number, state: 'Incomplete' | 'Invalid' = 'Incomplete'): RetentionCandidate => ({
    id: newBackupId(new Date(now.getTime() - hoursAgo * 3_600_000), '11111111'),
    state,
  });
  const ids = (v: { id: string }[]) => v.map((x) => x.id);

  it('without ttlHours keeps the keepLast newest Completed and deletes the rest, oldest first', () => {
    const b = [done(1), done(5), done(3), done(10), done(2)];
    const out = selectForDeletion({ backups: b, keepLast: 3, now });
    expect(ids(out)).toEqual([done(10).id, done(5).id]);
    expect(out[0]?.reason).toContain('keepLast');
  });

  it('with ttlHours deletes only what is both beyond keepLast and older than the TTL', () => {
    const b = [done(1), done(30), done(50), done(100)];
    expect(ids(selectForDeletion({ backups: b, keepLast: 1, ttlHours: 48, now }))).toEqual([
      done(100).id,
      done(50).id,
    ]);
    // the keepLast newest stay even when older than the TTL
    expect(ids(selectForDeletion({ backups: b, keepLast: 4, ttlHours: 1, now }))).toEqual([]);
  });

  it('never deletes the newest Completed backup, even if everything is expired or keepLast is 0', () => {
    const b = [done(500), done(400)];
    expect(ids(selectForDeletion({ backups: b, keepLast: 0, ttlHours: 1, now }))).toEqual([done(500).id]);
    expect(ids(selectForDeletion({ backups: [done(500)], keepLast: 1, ttlHours: 1, now }))).toEqual([]);
  });

  it('incomplete backups do not count toward keepLast and are garbage only after the grace period', () => {
    const b = [started(0.5), started(30), done(40), done(50)];
    const out = selectForDeletion({ backups: b, keepLast: 1, now, incompleteGraceHours: 24 });
    expect(ids(out)).toEqual([done(50).id, started(30).id]);
    expect(out.find((v) => v.id === started(30).id)?.reason).toContain('incomplete');
    // an incomplete newest backup (in progress) does not displace the newest Completed
    expect(ids(selectForDeletion({ backups: [started(0.1), done(5)], keepLast: 1, now }))).toEqual([]);
  });

  it('never deletes Invalid backups or ids it does not recognise', () => {
    const b = [started(1000, 'Invalid'), { id: 'lost+found', state: 'Incomplete' as const }, done(1)];
    expect(selectForDeletion({ backups: b, keepLast: 1, ttlHours: 1, now })).toEqual([]);
  });

  it('orders ties of completion time by id', () => {
    const a = done(10, 'aaaaaaaa');
    const z = done(10, 'ffffffff');
    expect(ids(selectForDeletion({ backups: [a, z], keepLast: 1, now }))).toEqual([a.id]);
  });
});

describe('resource item owners (optional, formatVersion 1)', () => {
  const withOwners = (owners: unknown) =>
    edited((m) => {
      m.items[0].owners = owners;
    });

  it('reads owners by kind and name; manifests without them still parse', () => {
    const owners = [
      { apiVersion: 'ymera.io/v1alpha1', kind: 'LearningPipeline', name: 'train', controller: true },
    ];
    const parsed = parseManifest(bytes(withOwners(owners)));
    expect(parsed.items[0]).toMatchObject({ owners });
    expect(parseManifest(bytes(manifest())).items[0]).not.toHaveProperty('owners');
  });

  it('refuses bad owners, naming the field', () => {
    expect(parseError(withOwners('x')).field).toBe('items[0].owners');
    expect(parseError(withOwners([{ kind: 'A', name: 'b' }])).field).toBe('items[0].owners[0].apiVersion');
    expect(parseError(withOwners([{ apiVersion: 'v1', kind: 'A', name: 'b', uid: 'u' }])).field).toBe(
      'items[0].owners[0].uid',
    );
    expect(
      parseError(withOwners([{ apiVersion: 'v1', kind: 'A', name: 'b', controller: 'yes' }])).field,
    ).toBe('items[0].owners[0].controller');
  });
});

describe('parseManifest: notCopied (models referenced but not copied, e.g. file://)', () => {
  it('reads it back when present; a manifest without it has none', () => {
    const m = {
      ...manifest(),
      notCopied: {
        count: 1,
        first: [{ what: 'model file:///models/iris.onnx', message: 'inside the image' }],
      },
    };
    expect(parseManifest(serializeManifest(m))).toEqual(m);
    expect(parseManifest(serializeManifest(manifest())).notCopied).toBeUndefined();
  });

  it('refuses more entries than counted, naming notCopied.first', () => {
    const m = { ...manifest(), notCopied: { count: 0, first: [{ what: 'x', message: 'y' }] } };
    expect(() => parseManifest(serializeManifest(m))).toThrow(/notCopied\.first/);
  });
});
