// The manager over real HTTP (a local server speaking list/watch and Lease):
// losing the lease mid-reconcile, and pods that enqueue the CR their label names.
import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reconciler } from './controller.ts';
import { WriteRefusedError } from './kube/client.ts';
import type { LocalApiServer, SeenRequest } from './kube/local-apiserver.ts';
import {
  LeaseStore,
  listBody,
  obj,
  sendJson,
  startLocalApiServer,
  status,
  watchStream,
} from './kube/local-apiserver.ts';
import type { KubeObject, ResourceType } from './kube/resources.ts';
import { core } from './kube/resources.ts';
import { createLogger } from './logger.ts';
import { Manager } from './manager.ts';
import { OperatorMetrics } from './metrics.ts';

const logger = createLogger({ level: 'error', sink: { write: () => undefined } });
const widgets: ResourceType = {
  group: 'test.ymera.io',
  version: 'v1',
  kind: 'Widget',
  plural: 'widgets',
  namespaced: true,
};
// no finalizer: these reconcilers hold no external state, so the manager has none to add or remove
const widget = obj('Widget', 'test.ymera.io/v1', 'a', 'w1', '1');
const pod = (rv: string, phase: string) => ({
  ...obj('Pod', 'v1', 'a', 'w1-abc', rv, {
    labels: { 'app.kubernetes.io/managed-by': 'ymera-operator', 'ymera.io/widget': 'w1' },
  }),
  status: { phase },
});

type Watch = ReturnType<typeof watchStream>;

/** Serves widgets, pods (list, then watches the test can push to) and the Lease; `down` drops every connection. */
async function apiServer(lease: LeaseStore, pods: KubeObject[] = []) {
  const watches = new Map<string, Watch>();
  const state = { down: false };
  const api = await startLocalApiServer((req: SeenRequest, res: http.ServerResponse) => {
    if (state.down) {
      res.socket?.destroy(); // as an unreachable API server: no answer, the connection reset
      return;
    }
    if (lease.handle(req, res)) return;
    const collection = req.path.split('/').pop() ?? '';
    if (req.method === 'GET' && (collection === 'widgets' || collection === 'pods')) {
      if (req.query.get('watch') === 'true') {
        watches.set(collection, watchStream(res));
        return;
      }
      return sendJson(res, 200, listBody(collection === 'widgets' ? [widget] : pods, '1'));
    }
    return sendJson(res, 404, status(404, 'NotFound', req.path));
  });
  return { api, watches, state };
}

const until = (check: () => boolean) =>
  new Promise<void>((resolve) => {
    const tick = () => (check() ? resolve() : setTimeout(tick, 10));
    tick();
  });

let api: LocalApiServer | undefined;
let manager: Manager | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
  // workers stop; the elector's last requests fail fast against the closed server
  await manager?.stop().catch(() => undefined);
  manager = undefined;
});

const leaderElection = {
  namespace: 'le',
  name: 'leader',
  leaseDurationSeconds: 10,
  renewDeadlineSeconds: 8,
  retryPeriodSeconds: 0.1,
};

describe('Manager', () => {
  it('on losing the lease, reports it at once without waiting for an in-flight reconcile, whose later write is refused', async () => {
    const lease = new LeaseStore('le', 'leader');
    const server = await apiServer(lease);
    api = server.api;
    let inReconcile!: () => void;
    const reconciling = new Promise<void>((r) => (inReconcile = r));
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    let finished!: (e: unknown) => void;
    const writeOutcome = new Promise<unknown>((r) => (finished = r));
    const reconciler: Reconciler = {
      name: 'widget',
      resource: widgets,
      owns: [],
      async reconcile(ctx) {
        inReconcile();
        await resumed;
        try {
          await ctx.client.create(core.configMap, obj('ConfigMap', 'v1', 'a', 'late-write', ''));
          finished(undefined);
        } catch (e) {
          finished(e);
        }
      },
    };
    let lostLeadership!: () => void;
    const lost = new Promise<void>((r) => (lostLeadership = r));
    manager = new Manager({
      client: api.client(),
      logger,
      metrics: new OperatorMetrics(),
      identity: 'me',
      watchNamespaces: [],
      concurrency: 1,
      resyncSeconds: 0,
      leaderElection,
      onLostLeadership: () => lostLeadership(),
    });
    manager.register(reconciler);
    await manager.start();
    await reconciling;
    expect(manager.isLeader()).toBe(true);

    lease.takeOver('other');
    await lost; // while the reconcile is still blocked
    expect(manager.isLeader()).toBe(false);

    resume();
    const error = await writeOutcome;
    expect(error).toBeInstanceOf(WriteRefusedError);
    expect(api.seen.filter((r) => r.path.endsWith('/configmaps'))).toEqual([]);
  });

  it('caches pods by the managed-by label and enqueues the CR their ymera.io/<kind> label names when they change', async () => {
    const lease = new LeaseStore('le', 'leader');
    const server = await apiServer(lease, [pod('5', 'Pending')]);
    api = server.api;
    const seenPhases: string[] = [];
    const reconciler: Reconciler = {
      name: 'widget',
      resource: widgets,
      owns: [],
      watchesLabelled: [core.pod],
      async reconcile(ctx, w) {
        const pods = ctx.cachedIn(
          core.pod,
          w.metadata.namespace,
          (p) => p.metadata.labels?.['ymera.io/widget'] === w.metadata.name,
        );
        seenPhases.push(pods.map((p) => (p.status as { phase: string }).phase).join(','));
      },
    };
    manager = new Manager({
      client: api.client(),
      logger,
      metrics: new OperatorMetrics(),
      identity: 'me',
      watchNamespaces: [],
      concurrency: 1,
      resyncSeconds: 0,
      leaderElection,
    });
    manager.register(reconciler);
    await manager.start();
    await until(() => seenPhases.includes('Pending') && server.watches.has('pods'));
    // only our pods are cached: the pod informer lists with the managed-by selector
    const podList = api.seen.find((r) => r.path === '/api/v1/pods' && r.query.get('watch') !== 'true');
    expect(podList?.query.get('labelSelector')).toBe('app.kubernetes.io/managed-by=ymera-operator');

    server.watches.get('pods')?.send('MODIFIED', pod('6', 'Running'));
    await until(() => seenPhases.includes('Running'));
    expect(seenPhases.filter((p) => p === 'Running')).toHaveLength(1);
    expect(api.seen.filter((r) => r.path.endsWith('/pods') && r.query.get('watch') !== 'true')).toHaveLength(
      1,
    );
  });
  describe('when lease renewals fail because the API is unreachable', () => {
    const fast = {
      ...leaderElection,
      leaseDurationSeconds: 1.5,
      renewDeadlineSeconds: 1,
      retryPeriodSeconds: 0.1,
    };
    async function run() {
      const lease = new LeaseStore('le', 'leader');
      const server = await apiServer(lease);
      api = server.api;
      const reconciled: string[] = [];
      const reconciler: Reconciler = {
        name: 'widget',
        resource: widgets,
        owns: [],
        reconcile: async (_ctx, w) => {
          reconciled.push(w.metadata.name);
        },
      };
      const lost = { count: 0 };
      manager = new Manager({
        client: api.client(2_000),
        logger,
        metrics: new OperatorMetrics(),
        identity: 'me',
        watchNamespaces: [],
        concurrency: 1,
        resyncSeconds: 0,
        leaderElection: fast,
        onLostLeadership: () => lost.count++,
      });
      manager.register(reconciler);
      await manager.start();
      const m = manager;
      await until(() => m.isLeader() && reconciled.length > 0);
      server.state.down = true;
      await until(() => !m.isLeader());
      return { m, lease, server, reconciled, lost };
    }

    it('pauses (writes refused, no exit) and, once the lease is ours again, resumes and re-runs every object', async () => {
      const { m, server, reconciled, lost } = await run();
      expect(m.writeRefusal()).toMatch(/does not hold the leader lease/);
      const before = reconciled.length;
      server.state.down = false;
      await until(() => m.isLeader() && reconciled.length > before);
      expect(m.writeRefusal()).toBeUndefined();
      expect(lost.count).toBe(0);
    });

    it('exits (reports the loss) when another replica holds the lease once the API is back', async () => {
      const { m, lease, server, reconciled, lost } = await run();
      lease.takeOver('other');
      const before = reconciled.length;
      server.state.down = false;
      await until(() => lost.count > 0);
      expect(m.isLeader()).toBe(false);
      expect(reconciled.length).toBe(before);
      expect(lease.lease?.spec?.holderIdentity).toBe('other');
    });
  });
});
