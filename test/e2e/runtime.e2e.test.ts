// The controller runtime's I/O pieces against the real API server: the
// informer's list+watch cache, server-side apply with our field manager, and
// status writes that only happen on change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer } from '../../operator/informer.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core } from '../../operator/kube/resources.ts';
import { createLogger } from '../../operator/logger.ts';
import { eventually, freshNamespace, getJson, kubectl, kubectlOk } from './support.ts';

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

  it('get returns undefined for a missing object and delete tolerates one', async () => {
    expect(await client.get(core.configMap, 'missing', ns)).toBeUndefined();
    await expect(client.delete(core.configMap, 'missing', ns)).resolves.toBeUndefined();
  });
});
