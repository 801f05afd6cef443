// The controller runtime's I/O pieces against the real API server: the
// informer's list+watch cache, server-side apply with our field manager, and
// status writes that only happen on change.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer } from '../../operator/informer.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core } from '../../operator/kube/resources.ts';
import { createLogger } from '../../operator/logger.ts';
import { eventually, freshNamespace, getJson, kubectl, kubectlOk, repo } from './support.ts';

const run = promisify(execFile);

const quiet = createLogger({ level: 'error', name: 'e2e' });

describe('controller runtime against the API server', () => {
  let ns: string;
  let client: KubeClient;
  beforeAll(async () => {
    ns = await freshNamespace('e2e-rt');
    client = KubeClient.fromEnvironment(process.env.KUBECONFIG);
  });
  afterAll(async () => {
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('informer lists, then follows adds, updates and deletes through the watch', async () => {
    await kubectlOk(['create', 'configmap', '-n', ns, 'before', '--from-literal=a=1']);
    const informer = new Informer<KubeObject>(client, core.configMap, {
      namespace: ns,
      resyncMs: 60_000,
      logger: quiet,
    });
    const seen: string[] = [];
    informer.on({
      add: (o) => seen.push(`add:${o.metadata.name}`),
      update: (_o, n) => seen.push(`update:${n.metadata.name}`),
      delete: (o) => seen.push(`delete:${o.metadata.name}`),
    });
    informer.start();
    try {
      await informer.waitForSync();
      expect(informer.get(`${ns}/before`)?.kind).toBe('ConfigMap');
      await kubectlOk(['create', 'configmap', '-n', ns, 'after', '--from-literal=b=2']);
      await kubectlOk(['patch', 'configmap', '-n', ns, 'after', '--type=merge', '-p', '{"data":{"b":"3"}}']);
      await kubectlOk(['delete', 'configmap', '-n', ns, 'before']);
      await eventually(
        'watch events',
        async () => seen.includes('delete:before') && seen.includes('update:after'),
      );
      expect(seen).toEqual(
        expect.arrayContaining(['add:before', 'add:after', 'update:after', 'delete:before']),
      );
      expect(informer.get(`${ns}/before`)).toBeUndefined();
      expect((informer.get(`${ns}/after`) as { data?: Record<string, string> }).data).toEqual({ b: '3' });
    } finally {
      await informer.stop();
    }
  });

  it('server-side apply creates, converges and records the ymera-operator field manager', async () => {
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'applied', namespace: ns },
      data: { k: 'v1' },
    };
    const first = await client.apply(core.configMap, cm);
    const again = await client.apply(core.configMap, cm);
    expect(again.metadata.resourceVersion).toBe(first.metadata.resourceVersion); // no-op apply writes nothing
    await client.apply(core.configMap, { ...cm, data: { k: 'v2' } });
    const got = await getJson<{
      data: Record<string, string>;
      metadata: { managedFields: { manager: string; operation: string }[] };
    }>(['get', 'configmap', '-n', ns, 'applied', '--show-managed-fields']);
    expect(got?.data.k).toBe('v2');
    expect(got?.metadata.managedFields).toEqual(
      expect.arrayContaining([expect.objectContaining({ manager: 'ymera-operator', operation: 'Apply' })]),
    );
  });

  // restarts our own local cluster's API server; a cluster we were pointed at is not ours to kill
  it.skipIf(process.env.YMERA_USE_EXISTING_CLUSTER === '1')(
    'informer rides out an API server crash: the watch restarts with backoff and sees later changes',
    async () => {
      const errors: unknown[] = [];
      const informer = new Informer<KubeObject>(client, core.configMap, {
        namespace: ns,
        resyncMs: 60_000,
        logger: quiet,
        onError: (e) => errors.push(e),
      });
      informer.start();
      try {
        await informer.waitForSync();
        const pidFile = path.join(os.homedir(), '.kwok/clusters/ymera/pids/kube-apiserver.pid');
        process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
        await eventually('the informer to notice the outage', async () => errors.length > 0, 30_000);
        await run('bash', [path.join(repo, 'test/e2e/cluster/cluster.sh'), 'up']);
        await kubectlOk(['create', 'configmap', '-n', ns, 'after-crash', '--from-literal=k=v']);
        await eventually(
          'the restarted watch to deliver the new object',
          async () => informer.get(`${ns}/after-crash`),
          60_000,
        );
      } finally {
        await informer.stop();
      }
    },
  );

  it('get returns undefined for a missing object and delete tolerates one', async () => {
    expect(await client.get(core.configMap, 'missing', ns)).toBeUndefined();
    await expect(client.delete(core.configMap, 'missing', ns)).resolves.toBeUndefined();
  });
});
