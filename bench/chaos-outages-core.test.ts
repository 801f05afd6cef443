import { describe, expect, it } from 'vitest';
import type { FaultResult, WriteSample } from './chaos-outages-core.ts';
import {
  apiFaultFigures,
  backoffRetriesWithin,
  doubleWrites,
  faultPassed,
  formatTable,
  outageOptionsFromEnv,
  reconcileBound,
  reconcileRate,
  restartedComponent,
  summarize,
} from './chaos-outages-core.ts';

const shape = { baseMs: 500, factor: 2, maxMs: 300_000, jitter: 0 };

describe('backoffRetriesWithin', () => {
  it('counts the doubling delays that fit', () => {
    // 0.5 + 1 + 2 + 4 + 8 + 16 = 31.5 s; the next (32 s) does not fit in 60
    expect(backoffRetriesWithin(60, shape)).toBe(6);
    expect(backoffRetriesWithin(0, shape)).toBe(0);
    expect(backoffRetriesWithin(0.5, shape)).toBe(1);
  });
  it('counts jitter as shortening every delay', () => {
    expect(backoffRetriesWithin(60, { ...shape, jitter: 0.5 })).toBe(7);
  });
  it('stops growing at maxMs', () => {
    expect(backoffRetriesWithin(10, { ...shape, maxMs: 1000 })).toBe(10);
  });
  it('refuses a negative duration', () => {
    expect(() => backoffRetriesWithin(-1)).toThrow(/seconds must be >= 0/);
  });
});

describe('reconcileBound', () => {
  it('allows per object the larger of backoff retries and requeue hints, plus what the run causes', () => {
    // 60 s: 6 retries vs 12 requeues of 5 s → 12 + 1 + 2 per object
    expect(
      reconcileBound({
        objects: 4,
        outageSeconds: 60,
        shortestRequeueSeconds: 5,
        causedPerObject: 2,
        backoff: shape,
      }),
    ).toBe(4 * 15);
    // long requeues: backoff decides
    expect(
      reconcileBound({
        objects: 1,
        outageSeconds: 60,
        shortestRequeueSeconds: 300,
        causedPerObject: 0,
        backoff: shape,
      }),
    ).toBe(7);
  });
  it('stays far below a hot loop (100 reconciles a second)', () => {
    const bound = reconcileBound({
      objects: 5,
      outageSeconds: 60,
      shortestRequeueSeconds: 10,
      causedPerObject: 3,
    });
    expect(bound).toBeLessThan(100 * 60);
  });
  it('names the bad field', () => {
    expect(() =>
      reconcileBound({ objects: 1, outageSeconds: 1, shortestRequeueSeconds: 0, causedPerObject: 0 }),
    ).toThrow(/shortestRequeueSeconds must be > 0/);
  });
});

const s = (identity: string, atMs: number, writes: number, leader: boolean): WriteSample => ({
  identity,
  atMs,
  writes,
  leader,
});

describe('doubleWrites', () => {
  it('finds none in a clean hand-over', () => {
    expect(
      doubleWrites([
        s('a', 0, 0, true),
        s('a', 1000, 10, true),
        s('b', 0, 0, false),
        s('b', 1000, 0, false),
        s('b', 8000, 0, true),
        s('b', 9000, 12, true),
      ]),
    ).toEqual([]);
  });
  it('flags writes of a follower', () => {
    const v = doubleWrites([s('b', 0, 0, false), s('b', 1000, 3, false)]);
    expect(v).toEqual([{ identity: 'b', fromMs: 0, toMs: 1000, writes: 3, why: 'not-leader' }]);
  });
  it('flags two replicas writing in the same period', () => {
    const v = doubleWrites([
      s('a', 0, 0, true),
      s('a', 1000, 5, true),
      s('b', 500, 0, true),
      s('b', 1500, 2, true),
    ]);
    expect(v.map((x) => x.identity).sort()).toEqual(['a', 'b']);
    expect(v.every((x) => x.why === 'overlap')).toBe(true);
  });
  it('sorts each replica’s samples by time', () => {
    expect(doubleWrites([s('a', 1000, 5, true), s('a', 0, 0, true)])).toEqual([]);
  });
});

const fault = (over: Partial<FaultResult> = {}): FaultResult => ({
  fault: 'api-unreachable',
  downSeconds: 5,
  objectsChecked: 4,
  lost: 0,
  orphaned: 0,
  recoverySeconds: 2.5,
  recoveryBoundSeconds: 10,
  operatorSurvived: true,
  notes: [],
  ...over,
});

describe('faultPassed and the report', () => {
  it('passes a clean fault and fails each broken promise', () => {
    expect(faultPassed(fault())).toBe(true);
    expect(faultPassed(fault({ lost: 1 }))).toBe(false);
    expect(faultPassed(fault({ orphaned: 1 }))).toBe(false);
    expect(faultPassed(fault({ operatorSurvived: false }))).toBe(false);
    expect(faultPassed(fault({ recoverySeconds: null }))).toBe(false);
    expect(faultPassed(fault({ recoverySeconds: 11 }))).toBe(false);
    expect(faultPassed(fault({ conditionShown: false }))).toBe(false);
    expect(faultPassed(fault({ reconciles: 50, reconcileBound: 40 }))).toBe(false);
    expect(faultPassed(fault({ doubleWrites: 2 }))).toBe(false);
    expect(faultPassed(fault({ fault: 'etcd-restart', clusterHealthyAfter: false }))).toBe(false);
    expect(faultPassed(fault({ fault: 'etcd-restart', clusterHealthyAfter: true }))).toBe(true);
  });
  it('sums the figures and prints one row per fault', () => {
    const r = summarize(
      [
        fault(),
        fault({ fault: 'kafka-outage', lost: 1, reconciles: 12, reconcileBound: 60, conditionShown: true }),
      ],
      new Date('2026-12-05T08:00:00Z'),
    );
    expect(r.totals).toEqual({ faultsInjected: 2, objectsChecked: 8, lost: 1, orphaned: 0, failed: 1 });
    const table = formatTable(r);
    expect(table).toContain('| api-unreachable | 5.0 | 4 | 0 | 0 | 2.5 (≤ 10) | yes | - | - | - | - | yes |');
    expect(table).toContain(
      '| kafka-outage | 5.0 | 4 | 1 | 0 | 2.5 (≤ 10) | yes | yes | 12 (≤ 60) | 2.4 | - | NO |',
    );
    expect(table).toContain('faults injected 2, objects checked 8, lost 1, orphaned 0, failed 1');
  });
});

describe('restart faults', () => {
  it('name the cluster process they restart', () => {
    expect(restartedComponent('apiserver-restart')).toBe('kube-apiserver');
    expect(restartedComponent('etcd-restart')).toBe('etcd');
    expect(restartedComponent('api-unreachable')).toBeUndefined();
    expect(restartedComponent('minio-outage')).toBeUndefined();
  });
});

describe('apiFaultFigures', () => {
  const same = { pidBefore: 42, pidAfter: 42, alive: true };
  it('measures down time to /readyz ok and recovery from it', () => {
    expect(apiFaultFigures({ stoppedAt: 1_000, backAt: 18_340, reconciledAt: 19_870 }, same)).toEqual({
      downSeconds: 17.3,
      recoverySeconds: 1.5,
      operatorSurvived: true,
    });
  });
  it('has no recovery when the API or the reconcile never came back', () => {
    expect(apiFaultFigures({ stoppedAt: 0 }, same)).toMatchObject({ downSeconds: 0, recoverySeconds: null });
    expect(apiFaultFigures({ stoppedAt: 0, backAt: 5_000 }, same)).toMatchObject({
      downSeconds: 5,
      recoverySeconds: null,
    });
  });
  it('counts an operator restarted under the same name (another pid) or dead as not surviving', () => {
    const t = { stoppedAt: 0, backAt: 1_000, reconciledAt: 2_000 };
    expect(apiFaultFigures(t, { pidBefore: 42, pidAfter: 43, alive: true }).operatorSurvived).toBe(false);
    expect(apiFaultFigures(t, { ...same, alive: false }).operatorSurvived).toBe(false);
    expect(
      apiFaultFigures(t, { pidBefore: undefined, pidAfter: undefined, alive: true }).operatorSurvived,
    ).toBe(false);
  });
  it('refuses a reconcile before the API was back', () => {
    expect(() => apiFaultFigures({ stoppedAt: 0, backAt: 5_000, reconciledAt: 4_000 }, same)).toThrow(
      /reconciledAt \(4000\) must come after backAt \(5000\)/,
    );
    expect(() => apiFaultFigures({ stoppedAt: 0, reconciledAt: 4_000 }, same)).toThrow(
      /must come after backAt/,
    );
  });
  it('fails the fault when the recovery misses the 10 s bound', () => {
    const f = apiFaultFigures({ stoppedAt: 0, backAt: 15_000, reconciledAt: 25_100 }, same);
    expect(faultPassed(fault({ fault: 'apiserver-restart', ...f }))).toBe(false);
    const g = apiFaultFigures({ stoppedAt: 0, backAt: 15_000, reconciledAt: 24_900 }, same);
    expect(faultPassed(fault({ fault: 'apiserver-restart', ...g }))).toBe(true);
  });
});

describe('reconcileRate', () => {
  it('is reconciles per second of outage', () => {
    expect(reconcileRate({ reconciles: 30, downSeconds: 60 })).toBe(0.5);
    expect(reconcileRate({ reconciles: 10, downSeconds: 3 })).toBe(3.33);
  });
  it('is unknown without reconciles or without an outage', () => {
    expect(reconcileRate({ downSeconds: 60 })).toBeUndefined();
    expect(reconcileRate({ reconciles: 3, downSeconds: 0 })).toBeUndefined();
  });
});

describe('outageOptionsFromEnv', () => {
  it('reads the knobs', () => {
    expect(
      outageOptionsFromEnv({
        CHAOS_FAULTS: 'api-unreachable, kafka-outage',
        CHAOS_OUTAGE_SECONDS: '15',
        CHAOS_FAILOVER_OBJECTS: '10',
      }),
    ).toEqual({ faults: ['api-unreachable', 'kafka-outage'], outageSeconds: 15, failoverObjects: 10 });
    expect(
      outageOptionsFromEnv({
        CHAOS_FAULTS: 'apiserver-restart,etcd-restart',
        CHAOS_RESTART_DOWN_SECONDS: '20',
      }),
    ).toEqual({ faults: ['apiserver-restart', 'etcd-restart'], restartDownSeconds: 20 });
    expect(outageOptionsFromEnv({})).toEqual({});
  });
  it('names the variable and what is allowed', () => {
    expect(() => outageOptionsFromEnv({ CHAOS_OUTAGE_SECONDS: '-1' })).toThrow(
      /CHAOS_OUTAGE_SECONDS must be a positive number \(got "-1"\)/,
    );
    expect(() => outageOptionsFromEnv({ CHAOS_RESTART_DOWN_SECONDS: 'soon' })).toThrow(
      /CHAOS_RESTART_DOWN_SECONDS must be a positive number \(got "soon"\)/,
    );
    expect(() => outageOptionsFromEnv({ CHAOS_FAULTS: 'disk-full' })).toThrow(
      /CHAOS_FAULTS: unknown fault "disk-full" \(allowed: api-unreachable/,
    );
  });
});
