import { afterEach, describe, expect, it } from 'vitest';
import type { LocalApiServer } from './kube/local-apiserver.ts';
import { LeaseStore, sendJson, startLocalApiServer, status } from './kube/local-apiserver.ts';
import { LeaderElector, leadershipAction, microTime } from './leader.ts';
import { createLogger } from './logger.ts';

describe('microTime', () => {
  it('formats with the six fractional digits metav1.MicroTime requires', () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02T03:04:05.678000Z');
  });
});

describe('leadershipAction', () => {
  it('pauses and re-acquires when renewals failed, exits when another replica took the lease', () => {
    expect(leadershipAction({ lost: 'not-renewed' }, true)).toBe('pause-and-reacquire');
    expect(leadershipAction({ lost: 'taken' }, true)).toBe('exit');
  });
  it('a replica that led exits when it finds another holder while re-acquiring; one that never led stands by', () => {
    expect(leadershipAction('held-by-another', true)).toBe('exit');
    expect(leadershipAction('held-by-another', false)).toBe('stand-by');
  });
});

const logger = createLogger({ level: 'error', sink: { write: () => undefined } });

/** A Lease endpoint that can be told to stop answering. */
async function leaseServer() {
  const store = new LeaseStore('le', 'leader');
  const state = { hang: false };
  const api = await startLocalApiServer((req, res) => {
    if (state.hang) return; // accept and never answer: a wedged connection
    if (!store.handle(req, res)) sendJson(res, 404, status(404, 'NotFound', req.path));
  });
  return { api, state, store };
}

let api: LocalApiServer | undefined;
let elector: LeaderElector | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
  await elector?.stop();
  elector = undefined;
});

function elect(server: LocalApiServer, timings: { lease: number; renew: number; retry: number }) {
  let started!: () => void;
  let stopped!: () => void;
  const leading = new Promise<void>((r) => (started = r));
  const lost = new Promise<void>((r) => (stopped = r));
  elector = new LeaderElector({
    client: server.client(30_000),
    namespace: 'le',
    name: 'leader',
    identity: 'me',
    leaseDurationSeconds: timings.lease,
    renewDeadlineSeconds: timings.renew,
    retryPeriodSeconds: timings.retry,
    logger,
    onStartedLeading: () => started(),
    onStoppedLeading: () => stopped(),
  });
  elector.start();
  return { elector, leading, lost };
}

describe('LeaderElector', () => {
  it('acquires a free lease and keeps renewing it', async () => {
    const { api: server, store } = await leaseServer();
    api = server;
    const { elector: e, leading } = elect(server, { lease: 3, renew: 2, retry: 0.1 });
    await leading;
    expect(e.isLeader()).toBe(true);
    expect(e.holdsLease()).toBe(true);
    expect(store.lease?.spec?.holderIdentity).toBe('me');
    const first = store.lease?.spec?.renewTime;
    await new Promise<void>((resolve) => {
      const check = () => (store.lease?.spec?.renewTime !== first ? resolve() : setTimeout(check, 20));
      check();
    });
  });

  it('gives up when a renewal hangs: the attempt is aborted at the renew deadline, not the 30 s request timeout', async () => {
    const { api: server, state } = await leaseServer();
    api = server;
    const { elector: e, leading, lost } = elect(server, { lease: 1.5, renew: 1, retry: 0.2 });
    await leading;
    state.hang = true;
    const hungAt = Date.now();
    await lost;
    // the last renewal started at most one retry period before the hang
    expect(Date.now() - hungAt).toBeLessThan(5_000);
    expect(e.isLeader()).toBe(false);
    expect(e.holdsLease()).toBe(false);
  });

  it('loses leadership at the first look at a lease another replica took, and does not write it back', async () => {
    const { api: server, store } = await leaseServer();
    api = server;
    const { elector: e, leading, lost } = elect(server, { lease: 10, renew: 8, retry: 0.1 });
    await leading;
    store.takeOver('other');
    const tookAt = Date.now();
    const before = server.seen.length;
    await lost;
    expect(Date.now() - tookAt).toBeLessThan(4_000); // not the 8 s renew deadline
    expect(e.holdsLease()).toBe(false);
    expect(store.lease?.spec?.holderIdentity).toBe('other');
    expect(server.seen.slice(before).filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('holds the lease only until renewDeadline after the last renewal, by the clock alone', async () => {
    const { api: server } = await leaseServer();
    api = server;
    let now = Date.now();
    let started!: () => void;
    const leading = new Promise<void>((r) => (started = r));
    elector = new LeaderElector({
      client: server.client(),
      namespace: 'le',
      name: 'leader',
      identity: 'me',
      leaseDurationSeconds: 15,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
      logger,
      onStartedLeading: () => started(),
      onStoppedLeading: () => undefined,
      now: () => now,
    });
    elector.start();
    await leading;
    const renewedAt = now;
    // e.g. a process resumed after SIGSTOP: no timer has run yet, the clock moved on
    expect(elector.holdsLease(renewedAt + 9_999)).toBe(true);
    now = renewedAt + 10_000;
    expect(elector.holdsLease()).toBe(false);
  });
});
