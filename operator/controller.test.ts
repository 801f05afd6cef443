// ReconcileContext.applyChildren over real HTTP (a local server that stores
// applied ConfigMaps and streams their changes to the child informer).
import { afterEach, describe, expect, it } from 'vitest';
import { ReconcileContext } from './controller.ts';
import { EventRecorder } from './events.ts';
import { Informer } from './informer.ts';
import { InformerSet } from './informer-set.ts';
import type { LocalApiServer } from './kube/local-apiserver.ts';
import { listBody, obj, sendJson, startLocalApiServer, watchStream } from './kube/local-apiserver.ts';
import type { KubeObject } from './kube/resources.ts';
import { core, keyOf } from './kube/resources.ts';
import { createLogger } from './logger.ts';
import { MANAGED_BY } from './ownership.ts';

const logger = createLogger({ level: 'error', sink: { write: () => undefined } });
let api: LocalApiServer | undefined;
let informer: Informer<KubeObject> | undefined;
afterEach(async () => {
  await informer?.stop();
  await api?.close();
  informer = undefined;
  api = undefined;
});

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

describe('ReconcileContext.applyChildren', () => {
  it('sends no apply for a child that already holds what was applied, and applies again after someone changes it or the desired object changes', async () => {
    const store = new Map<string, KubeObject>();
    let rv = 10;
    let watch: ReturnType<typeof watchStream> | undefined;
    const put = (o: KubeObject) => {
      const saved = { ...o, metadata: { ...o.metadata, resourceVersion: String(++rv), uid: 'u1' } };
      const type = store.has(o.metadata.name) ? 'MODIFIED' : 'ADDED';
      store.set(o.metadata.name, saved);
      watch?.send(type, saved);
      return saved;
    };
    api = await startLocalApiServer((req, res) => {
      if (req.method === 'PATCH') {
        const body = JSON.parse(req.body) as KubeObject;
        // a server default the desired object does not set
        return sendJson(res, 200, put({ ...body, immutable: false } as KubeObject));
      }
      if (req.query.get('watch') === 'true') {
        watch = watchStream(res);
        return;
      }
      return sendJson(res, 200, listBody([...store.values()], String(rv)));
    });
    const client = api.client();
    informer = new Informer<KubeObject>(client, core.configMap, { namespace: 'a', resyncMs: 0, logger });
    const children = new InformerSet(new Map([['', informer]]));
    informer.start();
    await informer.waitForSync();
    await until(() => watch !== undefined, 'the watch');
    const ctx = new ReconcileContext({
      client,
      log: logger,
      events: new EventRecorder({ client, controller: 'test', instance: 'test', logger }),
      informers: () => children,
      primaries: () => children,
    });
    const owner = obj('Widget', 'test.ymera.io/v1', 'a', 'w1', '1');
    const child = (data: Record<string, string>) => ({
      type: core.configMap,
      object: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: 'w1-config',
          namespace: 'a',
          labels: { 'app.kubernetes.io/managed-by': MANAGED_BY },
          ownerReferences: [
            { apiVersion: 'test.ymera.io/v1', kind: 'Widget', name: 'w1', uid: 'uid-w1', controller: true },
          ],
        },
        data,
      } as KubeObject,
    });
    const applies = () => api?.seen.filter((r) => r.method === 'PATCH').length ?? 0;
    const cachedRv = () =>
      informer?.get(keyOf({ name: 'w1-config', namespace: 'a' }))?.metadata.resourceVersion;
    const settle = () => until(() => cachedRv() === String(rv), 'the cache to see the last write');

    await ctx.applyChildren(owner, [child({ a: '1', b: '2' })], [core.configMap]);
    expect(applies()).toBe(1);
    await settle();
    // a requeue or resync with nothing to change: no write
    await ctx.applyChildren(owner, [child({ a: '1', b: '2' })], [core.configMap]);
    await ctx.applyChildren(owner, [child({ a: '1', b: '2' })], [core.configMap]);
    expect(applies()).toBe(1);

    // someone else edits one of our fields: it is applied back
    put({ ...(store.get('w1-config') as KubeObject), data: { a: 'edited', b: '2' } } as KubeObject);
    await settle();
    await ctx.applyChildren(owner, [child({ a: '1', b: '2' })], [core.configMap]);
    expect(applies()).toBe(2);
    await settle();

    // a key we no longer set must be removed: applied although the cached child holds all we set
    await ctx.applyChildren(owner, [child({ a: '1' })], [core.configMap]);
    expect(applies()).toBe(3);
  });
});
