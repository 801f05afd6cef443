// The client over real HTTP (a local server speaking the Kubernetes REST
// shape): request metrics, the write gate, aborts, broken watch streams, pod log tails.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { OperatorMetrics } from '../metrics.ts';
import type { RequestRecord, WatchEvent } from './client.ts';
import { KubeApiError, KubeClient, WriteRefusedError } from './client.ts';
import type { LocalApiServer } from './local-apiserver.ts';
import { listBody, obj, sendJson, startLocalApiServer, status, watchStream } from './local-apiserver.ts';
import type { KubeObject } from './resources.ts';
import { core } from './resources.ts';

let api: LocalApiServer | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

const cm = (name: string, rv = '1') => obj('ConfigMap', 'v1', 'a', name, rv);

/** Answers like an API server holding one ConfigMap "c1". */
async function configMapServer() {
  api = await startLocalApiServer((req, res) => {
    if (req.method === 'GET' && req.path === '/api/v1/namespaces/a/configmaps') {
      return sendJson(res, 200, listBody([cm('c1')], '7'));
    }
    if (req.path === '/api/v1/namespaces/a/configmaps/missing') {
      return sendJson(res, 404, status(404, 'NotFound', 'configmaps "missing" not found'));
    }
    if (req.method === 'POST') return sendJson(res, 201, JSON.parse(req.body));
    if (req.method === 'DELETE') return sendJson(res, 200, status(200, '', ''));
    return sendJson(res, 200, cm('c1', '8'));
  });
  return api;
}

describe('KubeClient request metrics', () => {
  it('reports verb, resource (with subresource) and code of every request, and OperatorMetrics serves them', async () => {
    const server = await configMapServer();
    const client = server.client();
    const metrics = new OperatorMetrics();
    const records: RequestRecord[] = [];
    client.onRequest((r) => {
      records.push(r);
      metrics.observeRequest(r);
    });

    await client.get(core.configMap, 'c1', 'a');
    await client.get(core.configMap, 'missing', 'a');
    await client.list(core.configMap, { namespace: 'a' });
    await client.create(core.configMap, cm('c2'));
    await client.apply(core.configMap, cm('c1'));
    await client.patch(core.deployment, 'd', 'a', 'merge', {}, 'status');
    await client.delete(core.configMap, 'c2', 'a');

    expect(records.map(({ verb, resource, code }) => `${verb} ${resource} ${code}`)).toEqual([
      'GET configmaps 200',
      'GET configmaps 404',
      'LIST configmaps 200',
      'CREATE configmaps 201',
      'APPLY configmaps 200',
      'PATCH deployments/status 200',
      'DELETE configmaps 200',
    ]);
    expect(records.every((r) => r.seconds >= 0 && r.seconds < 5)).toBe(true);
    const text = await metrics.registry.metrics();
    expect(text).toContain('rest_client_requests_total{verb="CREATE",resource="configmaps",code="201"} 1');
    expect(text).toContain('rest_client_request_duration_seconds_count{verb="LIST",resource="configmaps"} 1');
  });

  it('reports <error> when no answer came back', async () => {
    const server = await configMapServer();
    const client = server.client();
    await server.close();
    api = undefined;
    const records: RequestRecord[] = [];
    client.onRequest((r) => records.push(r));
    await expect(client.get(core.configMap, 'c1', 'a')).rejects.toThrow(KubeApiError);
    expect(records.map((r) => `${r.verb} ${r.code}`)).toEqual(['GET <error>']);
  });
});

describe('KubeClient write gate', () => {
  it('refuses every mutating request while the gate says no, before it is sent; reads still pass', async () => {
    const server = await configMapServer();
    const base = server.client();
    const records: RequestRecord[] = [];
    base.onRequest((r) => records.push(r));
    let refusal: string | undefined = 'leadership lost';
    const gated = base.withWriteGate(() => refusal);

    await expect(gated.create(core.configMap, cm('c2'))).rejects.toThrow(WriteRefusedError);
    await expect(gated.replace(core.configMap, cm('c1'))).rejects.toThrow(/not sent: leadership lost/);
    await expect(gated.apply(core.configMap, cm('c1'))).rejects.toThrow(WriteRefusedError);
    await expect(gated.patch(core.configMap, 'c1', 'a', 'merge', {})).rejects.toThrow(WriteRefusedError);
    await expect(gated.delete(core.configMap, 'c1', 'a')).rejects.toThrow(WriteRefusedError);
    expect(await gated.get(core.configMap, 'c1', 'a')).toMatchObject({ metadata: { name: 'c1' } });
    expect(server.seen.map((r) => r.method)).toEqual(['GET']);
    // the gate's metrics are the base client's
    expect(records.map((r) => r.verb)).toEqual(['GET']);

    // checked per request: once the gate opens, writes go out again
    refusal = undefined;
    await gated.create(core.configMap, cm('c3'));
    expect(server.seen.map((r) => r.method)).toEqual(['GET', 'POST']);
  });
});

describe('KubeClient aborts', () => {
  it('aborts a request that gets no answer when its signal fires, long before the request timeout', async () => {
    api = await startLocalApiServer(() => {
      /* never answers */
    });
    const client = api.client(30_000);
    const started = Date.now();
    await expect(
      client.get(core.lease, 'l', 'a', { signal: AbortSignal.timeout(200) }),
    ).rejects.toMatchObject({ reason: 'Aborted' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('KubeClient watch', () => {
  it('rejects a stream with a malformed line (no uncaught exception) after delivering the good events before it', async () => {
    api = await startLocalApiServer((_req, res) => {
      const w = watchStream(res);
      w.send('ADDED', cm('c1', '10'));
      w.raw('{"type":"MODIFIED","object":{"metadata"'); // cut off mid-object
      w.send('ADDED', cm('c2', '11'));
    });
    const client = api.client();
    const events: WatchEvent<KubeObject>[] = [];
    const watching = client.watch(
      core.configMap,
      { namespace: 'a', resourceVersion: '9', timeoutSeconds: 60, signal: new AbortController().signal },
      (e) => events.push(e),
    );
    await expect(watching).rejects.toMatchObject({ reason: 'MalformedWatchEvent' });
    expect(events.map((e) => e.object.metadata.name)).toEqual(['c1']);
  });

  it('rejects with the status of an ERROR event (410 Gone) so the informer can relist', async () => {
    api = await startLocalApiServer((_req, res) => {
      watchStream(res).send('ERROR', status(410, 'Expired', 'too old resource version'));
    });
    const watching = api
      .client()
      .watch(
        core.configMap,
        { namespace: 'a', resourceVersion: '1', timeoutSeconds: 60, signal: new AbortController().signal },
        () => undefined,
      );
    await expect(watching).rejects.toMatchObject({ status: 410 });
  });
});

describe('KubeClient connections', () => {
  it('sends sequential requests of a client and its gated twin over one kept-alive connection', async () => {
    const server = await configMapServer();
    const client = server.client();
    const gated = client.withWriteGate(() => undefined);
    for (let i = 0; i < 10; i++) {
      await client.get(core.configMap, 'c1', 'a');
      await gated.apply(core.configMap, cm('c1'));
    }
    expect(server.seen).toHaveLength(20);
    // a new agent per request (client-node's default) opened 20
    expect(server.connections()).toBe(1);
  });
});

describe('KubeClient with a kubeconfig proxy-url', () => {
  it("sends requests through the cluster's proxy (client-node's agent is kept)", async () => {
    const server = await configMapServer();
    // an HTTP CONNECT proxy (what client-node's proxy agents speak): records the tunnels it opened
    const proxied: string[] = [];
    const proxy = http.createServer();
    proxy.on('connect', (req: http.IncomingMessage, client: Duplex, head: Buffer) => {
      proxied.push(`${req.method} ${req.url}`);
      const [host, port] = (req.url ?? '').split(':');
      const up = net.connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        up.write(head);
        up.pipe(client);
        client.pipe(up);
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [
          {
            name: 'local',
            server: server.url,
            proxyUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
            skipTLSVerify: true,
          },
        ],
        users: [{ name: 'test' }],
        contexts: [{ name: 'local', cluster: 'local', user: 'test' }],
        currentContext: 'local',
      });
      const client = new KubeClient(kc);
      const got = await client.get(core.configMap, 'c1', 'a');
      expect(got?.metadata.name).toBe('c1');
      expect(proxied).toEqual([`CONNECT ${new URL(server.url).host}`]);
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});

describe('KubeClient keep-alive', () => {
  it('sends a GET once more on a new connection when the server closed the pooled one as it was written', async () => {
    let n = 0;
    api = await startLocalApiServer((_req, res) => {
      n++;
      // the second request lands on the reused connection: close it unanswered, as an idle timeout would
      if (n === 2) return void res.socket?.destroy();
      sendJson(res, 200, cm('c1', String(n)));
    });
    const client = api.client();
    await client.get(core.configMap, 'c1', 'a');
    const again = await client.get(core.configMap, 'c1', 'a');
    expect(again?.metadata.resourceVersion).toBe('3');
    expect(api.connections()).toBe(2);
  });

  it('does not send a POST twice', async () => {
    let n = 0;
    api = await startLocalApiServer((req, res) => {
      n++;
      if (n === 2) return void res.socket?.destroy();
      sendJson(res, 201, JSON.parse(req.body || '{}'));
    });
    const client = api.client();
    await client.create(core.configMap, cm('c1'));
    await expect(client.create(core.configMap, cm('c2'))).rejects.toThrow(/socket hang up/);
    expect(n).toBe(2);
  });
});

describe('KubeClient podLogTail', () => {
  it('asks for the newest lines without limitBytes and keeps their last bytes, the newest report included', async () => {
    // 600 lines of ~200 bytes: the kubelet's tailLines 500 answers ~100 KiB
    const log = Array.from(
      { length: 600 },
      (_, i) => `ymera-metrics {"accuracy":0.5,"step":${i + 1}} ${'p'.repeat(160)}`,
    );
    let query: URLSearchParams | undefined;
    api = await startLocalApiServer((req, res) => {
      query = req.query;
      const tail = log.slice(-Number(req.query.get('tailLines')));
      // as the kubelet: limitBytes keeps the FIRST bytes of the tail
      const body = Buffer.from(tail.map((l) => `${l}\n`).join(''));
      const limit = Number(req.query.get('limitBytes') ?? body.length);
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      for (let i = 0; i < Math.min(limit, body.length); i += 4096)
        res.write(body.subarray(i, Math.min(i + 4096, limit)));
      res.end();
    });
    const read = await api
      .client()
      .podLogTail('p', 'a', { tailLines: 500, keepBytes: 64 * 1024, maxBytes: 1024 * 1024 });
    expect(query?.get('tailLines')).toBe('500');
    expect(query?.has('limitBytes')).toBe(false);
    expect(read.lines).toBe(500);
    expect(read.bytes).toBe(Buffer.byteLength(log.slice(-500).join('\n') + '\n'));
    expect(Buffer.byteLength(read.text)).toBeLessThanOrEqual(64 * 1024);
    expect(read.text.endsWith(`${log[599]}\n`)).toBe(true);
    // only whole lines are kept
    expect(log).toContain(read.text.split('\n')[0]);
  });

  it('gives up on a tail over maxBytes instead of reading it all', async () => {
    let closed: Promise<void> | undefined;
    api = await startLocalApiServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      // an endless line (a progress bar without newlines): only the client can end it
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const timer = setInterval(() => res.write(chunk), 1);
      closed = new Promise((done) =>
        res.on('close', () => {
          clearInterval(timer);
          done();
        }),
      );
    });
    await expect(
      api.client().podLogTail('p', 'a', { tailLines: 500, keepBytes: 1024, maxBytes: 256 * 1024 }),
    ).rejects.toMatchObject({ reason: 'TooLarge' });
    await closed;
  });

  it('fails a refused read with the API status (403), like any request', async () => {
    api = await startLocalApiServer((_req, res) =>
      sendJson(res, 403, status(403, 'Forbidden', 'pods "p" is forbidden')),
    );
    await expect(
      api.client().podLogTail('p', 'a', { tailLines: 500, keepBytes: 1024, maxBytes: 4096 }),
    ).rejects.toMatchObject({ status: 403 });
  });
});
