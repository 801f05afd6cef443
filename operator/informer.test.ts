// The informer against a local server speaking the list/watch protocol:
// relist on 410 Gone, re-watch after a stream ends or breaks, and resync.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Informer, RECONNECT_MAX_MS, reconnectDelayMs } from './informer.ts';
import type { LocalApiServer, SeenRequest } from './kube/local-apiserver.ts';
import { listBody, obj, sendJson, startLocalApiServer, status, watchStream } from './kube/local-apiserver.ts';
import type { KubeObject } from './kube/resources.ts';
import { core } from './kube/resources.ts';
import { createLogger } from './logger.ts';

const logger = createLogger({ level: 'error', sink: { write: () => undefined } });
const cm = (name: string, rv: string) => obj('ConfigMap', 'v1', 'a', name, rv);

let api: LocalApiServer | undefined;
let informer: Informer<KubeObject> | undefined;
afterEach(async () => {
  await informer?.stop();
  informer = undefined;
  await api?.close();
  api = undefined;
  vi.useRealTimers();
});

const isWatch = (r: SeenRequest) => r.query.get('watch') === 'true';

/** Resolves when `check` holds; checked after every informer event and server request. */
function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (check()) return resolve();
      if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

function start(resyncMs: number, onError?: (e: unknown) => void): Informer<KubeObject> {
  if (!api) throw new Error('no server');
  informer = new Informer<KubeObject>(api.client(), core.configMap, {
    namespace: 'a',
    resyncMs,
    logger,
    onError,
  });
  return informer;
}

describe('Informer', () => {
  it('relists on 410 Gone and emits deletes for objects the new list no longer has', async () => {
    let lists = 0;
    api = await startLocalApiServer((req, res) => {
      if (!isWatch(req)) {
        lists++;
        const items = lists === 1 ? [cm('c1', '1'), cm('c2', '2')] : [cm('c1', '1')];
        return sendJson(res, 200, listBody(items, lists === 1 ? '2' : '5'));
      }
      // the first watch is too old; the one after the relist stays open
      if (req.query.get('resourceVersion') === '2') {
        watchStream(res).send('ERROR', status(410, 'Expired', 'too old resource version: 2'));
      } else {
        watchStream(res);
      }
    });
    const deleted: string[] = [];
    const inf = start(0);
    inf.on({ delete: (o) => deleted.push(o.metadata.name) });
    inf.start();
    await inf.waitForSync();
    await until(() => deleted.length > 0, 'the relist');
    expect(deleted).toEqual(['c2']);
    expect(inf.list().map((o) => o.metadata.name)).toEqual(['c1']);
    await until(
      () => api?.seen.some((r) => isWatch(r) && r.query.get('resourceVersion') === '5') ?? false,
      'a watch from the new list',
    );
  });

  it('re-watches from the last event it applied when the server ends the stream', async () => {
    let watches = 0;
    api = await startLocalApiServer((req, res) => {
      if (!isWatch(req)) return sendJson(res, 200, listBody([], '3'));
      watches++;
      const w = watchStream(res);
      if (watches === 1) {
        w.send('ADDED', cm('c1', '4'));
        w.end(); // the server-side timeout
      }
    });
    const inf = start(0);
    inf.start();
    await until(() => watches >= 2, 'a second watch');
    const rvs = api.seen.filter(isWatch).map((r) => r.query.get('resourceVersion'));
    expect(rvs.slice(0, 2)).toEqual(['3', '4']);
    expect(api.seen.filter((r) => !isWatch(r))).toHaveLength(1); // no relist needed
    expect(inf.get('a/c1')?.metadata.resourceVersion).toBe('4');
  });

  it('restarts a watch whose stream carries a malformed line, and applies the events after', async () => {
    let watches = 0;
    api = await startLocalApiServer((req, res) => {
      if (!isWatch(req)) return sendJson(res, 200, listBody([], '3'));
      watches++;
      const w = watchStream(res);
      if (watches === 1) {
        w.send('ADDED', cm('c1', '4'));
        w.raw('this is not json');
      } else {
        w.send('ADDED', cm('c2', '6'));
      }
    });
    const errors: unknown[] = [];
    const inf = start(0, (e) => errors.push(e));
    inf.start();
    await until(() => inf.get('a/c2') !== undefined, 'the event after the garbage line');
    expect(inf.get('a/c1')).toBeDefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: 'MalformedWatchEvent' });
    // resumed after the last good event, not from the list
    expect(api.seen.filter(isWatch).map((r) => r.query.get('resourceVersion'))).toEqual(['3', '4']);
  });

  describe('resync', () => {
    const oneObject = async () => {
      api = await startLocalApiServer((req, res) => {
        if (!isWatch(req)) return sendJson(res, 200, listBody([cm('c1', '1')], '1'));
        watchStream(res);
      });
    };

    it('re-delivers every cached object as an update once per period', async () => {
      await oneObject();
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const updates: [KubeObject, KubeObject][] = [];
      const inf = start(60_000);
      inf.on({ update: (o, n) => updates.push([o, n]) });
      inf.start();
      await inf.waitForSync();
      expect(updates).toHaveLength(0);
      vi.advanceTimersByTime(60_000);
      expect(updates).toHaveLength(1);
      expect(updates[0]?.[0]).toBe(updates[0]?.[1]);
    });

    it('is off with a period of 0 (no timer at all, rather than a hot loop)', async () => {
      await oneObject();
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const updates: KubeObject[] = [];
      const inf = start(0);
      inf.on({ update: (_o, n) => updates.push(n) });
      inf.start();
      await inf.waitForSync();
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(3_600_000);
      expect(updates).toHaveLength(0);
    });
  });
});

describe('reconnect delay', () => {
  it('never waits longer than RECONNECT_MAX_MS (≤ 4 s), so watches are back within seconds of the API server', () => {
    expect(RECONNECT_MAX_MS).toBeLessThanOrEqual(4_000);
    for (let attempt = 1; attempt <= 30; attempt++) {
      expect(reconnectDelayMs(attempt)).toBeLessThanOrEqual(4_000);
      expect(reconnectDelayMs(attempt)).toBeGreaterThan(0);
    }
    // still backs off: the first retries are quicker than the cap
    expect(reconnectDelayMs(1)).toBeLessThanOrEqual(1_000);
  });
});

describe('Informer transform', () => {
  it('caches and emits what the transform keeps of listed and watched objects', async () => {
    const withFields = (name: string, rv: string) => ({
      ...cm(name, rv),
      metadata: { ...cm(name, rv).metadata, managedFields: [{ manager: 'm', fieldsV1: {} }] },
    });
    let watch: ReturnType<typeof watchStream> | undefined;
    api = await startLocalApiServer((req, res) => {
      if (!isWatch(req)) return sendJson(res, 200, listBody([withFields('c1', '1')], '1'));
      watch = watchStream(res);
    });
    informer = new Informer<KubeObject>(api.client(), core.configMap, {
      namespace: 'a',
      resyncMs: 0,
      logger,
      transform: (o) => {
        const { managedFields: _mf, ...metadata } = o.metadata;
        return { ...o, metadata };
      },
    });
    const added: KubeObject[] = [];
    informer.on({ add: (o) => added.push(o) });
    informer.start();
    await informer.waitForSync();
    await until(() => watch !== undefined, 'the watch');
    watch?.send('ADDED', withFields('c2', '2'));
    await until(() => added.length === 2, 'both adds');
    for (const o of [...added, ...informer.list()]) expect(o.metadata.managedFields).toBeUndefined();
  });
});

describe('Informer controller index', () => {
  it('finds objects by their controller uid through adds, owner changes, deletes and relists', async () => {
    const child = (name: string, rv: string, owner?: string) =>
      obj('ConfigMap', 'v1', 'a', name, rv, {
        ...(owner
          ? { ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: owner, uid: owner, controller: true }] }
          : {}),
      });
    let lists = 0;
    let watch: ReturnType<typeof watchStream> | undefined;
    api = await startLocalApiServer((req, res) => {
      if (!isWatch(req)) {
        lists++;
        return sendJson(
          res,
          200,
          listBody(lists === 1 ? [child('c1', '1', 'o1'), child('c2', '1')] : [], '1'),
        );
      }
      watch = watchStream(res);
    });
    const inf = start(0);
    const names = (uid: string) =>
      inf
        .controlledBy(uid)
        .map((o) => o.metadata.name)
        .sort();
    inf.start();
    await inf.waitForSync();
    await until(() => watch !== undefined, 'the watch');
    expect(names('o1')).toEqual(['c1']);
    watch?.send('ADDED', child('c3', '2', 'o1'));
    watch?.send('MODIFIED', child('c1', '3', 'o2')); // adopted by another owner
    await until(() => names('o2').length === 1, 'the owner change');
    expect(names('o1')).toEqual(['c3']);
    watch?.send('DELETED', child('c3', '4', 'o1'));
    await until(() => names('o1').length === 0, 'the delete');
    // a relist without the object drops it from the index too
    const w = watch;
    watch = undefined;
    w?.send('ERROR', status(410, 'Expired', 'too old'));
    await until(() => lists === 2 && names('o2').length === 0, 'the relist');
  });
});
