import { describe, expect, it } from 'vitest';
import type { ChaosObject } from './chaos-checks.ts';
import {
  backupFindings,
  checkAll,
  clean,
  duplicates,
  lostStatus,
  notConverged,
  orphans,
} from './chaos-checks.ts';

const ready = (status: string, extra: Record<string, unknown> = {}, generation = 1) => ({
  observedGeneration: generation,
  conditions: [{ type: 'Ready', status, reason: status === 'True' ? 'Ready' : 'Progressing', message: '' }],
  ...extra,
});

const pipeline: ChaosObject = {
  kind: 'LearningPipeline',
  metadata: { name: 'lp', namespace: 'ns', uid: 'u-lp', generation: 1 },
  status: ready('True', { runs: [{ id: 'r1' }, { id: 'r2' }] }),
};
const service: ChaosObject = {
  kind: 'InferenceService',
  metadata: { name: 'is', namespace: 'ns', uid: 'u-is', generation: 3 },
  status: ready('True', { revisions: { stable: 'b' } }, 3),
};
const ref = (o: ChaosObject) => [
  { kind: o.kind, name: o.metadata.name, uid: o.metadata.uid ?? '', controller: true },
];
const job = (name: string, run: string, step = 'train', attempt = '1', owner = pipeline): ChaosObject => ({
  kind: 'Job',
  metadata: {
    name,
    namespace: 'ns',
    labels: { 'ymera.io/run': run, 'ymera.io/step': step, 'ymera.io/attempt': attempt },
    ownerReferences: ref(owner),
  },
});
const deployment = (name: string, revision: string): ChaosObject => ({
  kind: 'Deployment',
  metadata: {
    name,
    namespace: 'ns',
    labels: { 'ymera.io/revision': revision },
    ownerReferences: ref(service),
  },
});

describe('lostStatus', () => {
  it('finds a missing status, a stale observedGeneration and a missing Ready condition', () => {
    const found = lostStatus([
      pipeline,
      { ...pipeline, metadata: { ...pipeline.metadata, name: 'none' }, status: undefined },
      { ...service, metadata: { ...service.metadata, name: 'stale', generation: 4 } },
      { ...service, metadata: { ...service.metadata, name: 'noready' }, status: { observedGeneration: 3 } },
    ]);
    expect(found.map((f) => [f.object, f.detail])).toEqual([
      ['LearningPipeline ns/none', 'no status'],
      ['InferenceService ns/stale', 'observedGeneration 3 != generation 4'],
      ['InferenceService ns/noready', 'no Ready condition'],
    ]);
  });
});

describe('notConverged', () => {
  it('accepts Ready=True and Stalled=True, reports the rest with the Ready reason', () => {
    const stalled: ChaosObject = {
      ...service,
      metadata: { ...service.metadata, name: 'stalled' },
      status: {
        observedGeneration: 3,
        conditions: [
          { type: 'Ready', status: 'False' },
          { type: 'Stalled', status: 'True' },
        ],
      },
    };
    const progressing: ChaosObject = {
      ...service,
      metadata: { ...service.metadata, name: 'busy' },
      status: ready('False', {}, 3),
    };
    expect(notConverged([pipeline, stalled, progressing]).map((f) => f.object)).toEqual([
      'InferenceService ns/busy',
    ]);
  });
});

describe('pending work', () => {
  it('counts a run or backup request not acted on, a run still going and a backup in progress as not converged', () => {
    const asked = (
      o: ChaosObject,
      annotations: Record<string, string>,
      status: Record<string, unknown>,
    ): ChaosObject => ({
      ...o,
      metadata: { ...o.metadata, annotations },
      status: { ...ready('True'), ...status },
    });
    const policy: ChaosObject = {
      kind: 'BackupPolicy',
      metadata: { name: 'bp', namespace: 'ns', uid: 'u-bp', generation: 1 },
    };
    const found = notConverged([
      asked(pipeline, { 'ymera.io/run': 'b' }, { handled: { runRequest: 'a' } }),
      asked(
        pipeline,
        { 'ymera.io/run': 'b' },
        { handled: { runRequest: 'b' }, runs: [{ id: 'r', phase: 'Running' }] },
      ),
      asked(
        pipeline,
        { 'ymera.io/run': 'b' },
        { handled: { runRequest: 'b' }, runs: [{ id: 'r', phase: 'Succeeded' }] },
      ),
      asked(policy, { 'ymera.io/backup-now': 't2' }, { backupNowToken: 't1' }),
      asked(
        policy,
        { 'ymera.io/backup-now': 't2' },
        { backupNowToken: 't2', lastBackup: { phase: 'InProgress' } },
      ),
      asked(
        policy,
        { 'ymera.io/backup-now': 't2' },
        { backupNowToken: 't2', lastBackup: { phase: 'Completed' } },
      ),
    ]);
    expect(found.map((f) => f.detail)).toEqual([
      'run request b not acted on',
      'run r Running',
      'backup request t2 not acted on',
      'backup in progress',
    ]);
  });
});

describe('orphans', () => {
  it('finds children whose owner is gone, that have no owner, or that the desired state does not account for', () => {
    const gone: ChaosObject = {
      ...job('lp-gone', 'r1'),
      metadata: {
        ...job('x', 'r1').metadata,
        name: 'lp-gone',
        ownerReferences: [{ kind: 'LearningPipeline', name: 'old', uid: 'u-old', controller: true }],
      },
    };
    const unowned: ChaosObject = { kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'ns' } };
    const found = orphans(
      [pipeline, service],
      [
        job('lp-r1', 'r1'),
        job('lp-r3', 'r3'),
        gone,
        unowned,
        deployment('is-b', 'b'),
        deployment('is-a', 'a'),
      ],
    );
    expect(found.map((f) => f.object)).toEqual([
      'Job ns/lp-r3',
      'Job ns/lp-gone',
      'ConfigMap ns/cm',
      'Deployment ns/is-a',
    ]);
  });

  it('does not count children already being deleted', () => {
    const leaving = job('lp-r3', 'r3');
    leaving.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    expect(orphans([pipeline], [leaving])).toEqual([]);
  });
});

describe('duplicates', () => {
  it('finds two Jobs for one step attempt and two Deployments for one revision', () => {
    const found = duplicates([
      job('a', 'r1'),
      job('b', 'r1'),
      job('c', 'r1', 'train', '2'),
      job('d', 'r2'),
      deployment('is-b', 'b'),
      deployment('is-b-2', 'b'),
    ]);
    expect(found.map((f) => f.object)).toEqual(['Job ns/b', 'Deployment ns/is-b-2']);
  });
});

describe('backupFindings', () => {
  it('counts complete backups beyond the requests as duplicates, and the incomplete ones', () => {
    const stored = [
      { id: '1', state: 'Completed' },
      { id: '2', state: 'Completed' },
      { id: '3', state: 'Incomplete' },
      { id: '4', state: 'Invalid' },
      { id: '5', state: 'Completed' },
    ];
    const f = backupFindings('ns/bp', 2, stored);
    expect(f.duplicates.map((d) => d.object)).toEqual(['backup ns/bp/5']);
    expect(f.incomplete).toBe(1);
    expect(backupFindings('ns/bp', 3, stored.slice(0, 2))).toEqual({ duplicates: [], incomplete: 0 });
  });
});

describe('checkAll', () => {
  it('is clean for converged owners with exactly their children', () => {
    const s = checkAll(
      [pipeline, service],
      [job('lp-r1', 'r1'), job('lp-r2', 'r2'), deployment('is-b', 'b')],
    );
    expect(s.objectsChecked).toBe(2);
    expect(s.childrenChecked).toBe(3);
    expect(clean(s)).toBe(true);
    expect(clean(checkAll([pipeline], [job('lp-r1', 'r1'), job('lp-r1b', 'r1')]))).toBe(false);
  });
});
