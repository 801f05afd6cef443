// InferenceService traffic split by Gateway API HTTPRoute weights: with the
// HTTPRoute CRD installed (a minimal fixture when the cluster has none) before
// the operator starts, an InferenceService naming a Gateway gets a Service per
// revision and an HTTPRoute weighting them: all to the stable revision, then
// (100 - canaryPercent)/canaryPercent while a canary runs, and all to the new
// revision once it is promoted. The stable revision keeps its replicas.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  repo,
  startOperator,
  untilObserved,
} from './support.ts';

const CRD = 'httproutes.gateway.networking.k8s.io';
const fixture = path.join(repo, 'test/e2e/fixtures/httproute-crd.yaml');

interface InfSvc {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    phase?: string;
    revisions?: { stable?: string; canary?: string };
    traffic?: { revision: string; percent: number }[];
    conditions?: { type: string; status: string }[];
  };
}
interface Route {
  metadata: { labels?: Record<string, string>; ownerReferences?: { kind: string; name: string }[] };
  spec: {
    parentRefs: Record<string, string>[];
    rules: { backendRefs: { name: string; port: number; weight: number }[] }[];
  };
}

describe('InferenceService traffic split through an HTTPRoute', () => {
  let ns: string;
  let op: OperatorProcess | undefined;
  let createdCrd = false;
  const name = 'routed';
  const ref = ['inferenceservice.ymera.io', name];

  const until = (what: string, check: (r: InfSvc) => boolean, timeoutMs = 90_000) =>
    untilObserved<InfSvc>(['-n', ns, ...ref], `${name}: ${what}`, check, timeoutMs);
  const route = () => getJson<Route>(['get', 'httproutes.gateway.networking.k8s.io', '-n', ns, name]);
  const weights = (r: Route | undefined) =>
    r?.spec.rules[0]?.backendRefs.map((b) => [b.name, b.weight] as [string, number]);
  const replicas = async (revision: string) =>
    (await getJson<{ spec: { replicas?: number } }>(['get', 'deployment', '-n', ns, `${name}-${revision}`]))
      ?.spec.replicas;

  beforeAll(async () => {
    if (!(await getJson(['get', 'crd', CRD]))) {
      await kubectlOk(['apply', '--server-side', '--field-manager=ymera-e2e', '-f', fixture]);
      createdCrd = true;
    }
    await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD}`]);
    // the REST mapping can lag behind Established: wait until the resource lists
    await eventually('HTTPRoutes to be served', async () => {
      const r = await kubectl(['get', 'httproutes.gateway.networking.k8s.io', '-A']);
      return r.code === 0;
    });
    ns = await freshNamespace('e2e-gateway');
    // started after the CRD is Established: detection happens once, at start-up
    op = await startOperator('op-gateway', [`--watch-namespaces=${ns}`, '--gateway-api=auto']);
  });

  afterAll(async () => {
    if (ns) await kubectl(['delete', '-n', ns, ...ref, '--wait=true', '--timeout=60s']);
    await op?.stop();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
    if (createdCrd) await kubectl(['delete', '-f', fixture, '--wait=true', '--timeout=60s']);
  });

  it('routes by weight: 100 to the stable revision, then the canary share, then 100 to the promoted one', async () => {
    // the operator found the HTTPRoute CRD at start-up (the line is logged either way)
    expect(op?.logs()).toMatch(/"msg":"gateway api".*"httpRoutes":true/);
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        {
          apiVersion: 'ymera.io/v1alpha1',
          kind: 'InferenceService',
          metadata: { name, namespace: ns },
          spec: {
            model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
            runtime: { resources: { requests: { cpu: '100m', memory: '128Mi' } } },
            scaling: { minReplicas: 2 },
            rollout: { canaryPercent: 20, gateway: { name: 'public', sectionName: 'http' } },
          },
        },
      ]),
    );
    const ready = await until('Ready', (x) =>
      Boolean(x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')),
    );
    const oldRev = ready.status?.revisions?.stable as string;
    expect(ready.status?.traffic).toEqual([{ revision: oldRev, percent: 100 }]);

    const first = await eventually('the HTTPRoute', route);
    expect(first.metadata.labels?.['ymera.io/inferenceservice']).toBe(name);
    expect(first.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'InferenceService', name });
    expect(first.spec.parentRefs).toEqual([
      { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'public', sectionName: 'http' },
    ]);
    expect(first.spec.rules).toHaveLength(1);
    expect(weights(first)).toEqual([[`${name}-${oldRev}`, 100]]);
    expect(first.spec.rules[0]?.backendRefs[0]?.port).toBe(80);
    const revSvc = await getJson<{ spec: { selector: Record<string, string> } }>([
      'get',
      'service',
      '-n',
      ns,
      `${name}-${oldRev}`,
    ]);
    expect(revSvc?.spec.selector).toMatchObject({ 'ymera.io/revision': oldRev });
    expect(await getJson(['get', 'service', '-n', ns, name])).toBeDefined();

    // a new model version: a canary weighted 80/20, the stable revision keeping both replicas
    await kubectlOk(['patch', '-n', ns, ...ref, '--type=merge', '-p', '{"spec":{"model":{"version":"v2"}}}']);
    const canary = await until('a canary', (x) => x.status?.revisions?.canary !== undefined, 30_000);
    const newRev = canary.status?.revisions?.canary as string;
    expect(newRev).not.toBe(oldRev);
    expect(canary.status?.traffic).toEqual([
      { revision: oldRev, percent: 80 },
      { revision: newRev, percent: 20 },
    ]);
    const split = await eventually(
      'the HTTPRoute to weight the canary',
      async () => {
        const w = weights(await route());
        return w?.length === 2 ? w : undefined;
      },
      30_000,
      200,
    );
    expect(split).toEqual([
      [`${name}-${oldRev}`, 80],
      [`${name}-${newRev}`, 20],
    ]);
    expect(await replicas(oldRev)).toBe(2);
    expect(await getJson(['get', 'service', '-n', ns, `${name}-${newRev}`])).toBeDefined();

    // promoted: everything to the new revision, the old revision's Service pruned
    const done = await until(
      'the canary to be promoted',
      (x) => x.status?.revisions?.stable === newRev && x.status.revisions.canary === undefined,
    );
    expect(done.status?.traffic).toEqual([{ revision: newRev, percent: 100 }]);
    await eventually('the HTTPRoute to send everything to the new revision', async () => {
      const w = weights(await route());
      return w?.length === 1 && w[0]?.[0] === `${name}-${newRev}` && w[0][1] === 100;
    });
    await eventually(
      'the old revision Service to be pruned',
      async () => (await getJson(['get', 'service', '-n', ns, `${name}-${oldRev}`])) === undefined,
    );
  });
});
