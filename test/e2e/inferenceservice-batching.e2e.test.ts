// Batching is not part of an InferenceService revision: an edit of
// spec.batching reaches the running pods through the revision's ConfigMap
// entry (the runtime re-reads it, runtime/reload.ts), with no new revision, no
// canary and no pod restarted. And an InferenceService left by an operator
// whose revision names hashed batching keeps its revision across the upgrade.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import type { InferenceServiceObject } from '../../controllers/inferenceservice/desired.ts';
import {
  configKey,
  configMapName,
  deploymentName,
  desiredChildren,
  revisionOf,
  servingSpecOf,
  stableServing,
} from '../../controllers/inferenceservice/desired.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  eventsAbout,
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  startOperator,
  untilObserved,
} from './support.ts';

interface InfSvc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; generation?: number; uid?: string };
  spec: InferenceServiceObject['spec'];
  status?: {
    observedGeneration?: number;
    phase?: string;
    conditions?: Condition[];
    revisions?: { stable?: string; canary?: string; lastRolledBack?: string };
    canary?: unknown;
    stable?: { revision: string };
  };
}
interface Deployment {
  metadata: { name: string; generation: number; uid: string };
}
interface Pod {
  metadata: { name: string; uid: string };
}

const ready = (r: InfSvc) => r.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

describe('InferenceService batching edits reach the running revision', () => {
  let ns: string;
  let upgraded: string;
  let op: OperatorProcess | undefined;

  const ref = (namespace: string, name: string) => ['-n', namespace, `inferenceservice.ymera.io/${name}`];
  const get = (namespace: string, name: string) => getJson<InfSvc>(['get', ...ref(namespace, name)]);
  const until = (namespace: string, name: string, what: string, check: (r: InfSvc) => boolean) =>
    untilObserved<InfSvc>(ref(namespace, name), `${name}: ${what}`, check, 120_000);
  const list = async <T>(kind: string, namespace: string, name: string) =>
    (await getJson<{ items: T[] }>(['get', kind, '-n', namespace, '-l', `ymera.io/inferenceservice=${name}`]))
      ?.items ?? [];
  const revisionConfig = async (namespace: string, name: string, revision: string) => {
    const cm = await getJson<{ data: Record<string, string> }>([
      'get',
      'configmap',
      '-n',
      namespace,
      configMapName(name),
    ]);
    const text = cm?.data[configKey(revision)];
    return text
      ? (JSON.parse(text) as { batching?: { maxBatchSize: number; maxDelayMs: number } })
      : undefined;
  };
  const service = (namespace: string, name: string): InfSvc => ({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, namespace },
    spec: {
      model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
      runtime: { resources: { requests: { cpu: '100m', memory: '128Mi' } } },
      scaling: { minReplicas: 2 },
      rollout: { canaryPercent: 50 },
      batching: { maxBatchSize: 8, maxDelayMs: 2 },
    } as InferenceServiceObject['spec'],
  });
  const patchBatching = (
    namespace: string,
    name: string,
    batching: { maxBatchSize: number; maxDelayMs: number },
  ) =>
    kubectlOk([
      'patch',
      ...ref(namespace, name),
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { batching } }),
    ]);

  /**
   * Edits batching of a Ready service and checks: the ConfigMap entry of the
   * stable revision holds the new values, no canary ever started, the same
   * Deployment (same generation: its pod template did not change) and the same
   * pods serve, and the service stays Ready.
   */
  async function expectLiveEdit(
    namespace: string,
    name: string,
    batching: { maxBatchSize: number; maxDelayMs: number },
  ) {
    const before = await until(namespace, name, 'Ready', ready);
    const stable = before.status?.revisions?.stable as string;
    const deployments = await list<Deployment>('deployments', namespace, name);
    expect(deployments.map((d) => d.metadata.name)).toEqual([deploymentName(name, stable)]);
    const pods = (await list<Pod>('pods', namespace, name)).map((p) => p.metadata.uid).sort();
    expect(pods).toHaveLength(2);

    await patchBatching(namespace, name, batching);
    const generation = (await get(namespace, name))?.metadata.generation ?? 0;
    await eventually(
      `${name}: the ConfigMap entry of revision ${stable} to hold ${JSON.stringify(batching)}`,
      async () => {
        const config = await revisionConfig(namespace, name, stable);
        return JSON.stringify(config?.batching) === JSON.stringify(batching);
      },
      60_000,
    );
    const after = await until(
      namespace,
      name,
      'the edit observed',
      (r) => (r.status?.observedGeneration ?? 0) >= generation,
    );
    expect(ready(after)).toBe(true);
    expect(after.status?.phase).toBe('Serving');
    expect(after.status?.revisions).toEqual({ stable });
    expect(after.status?.canary).toBeUndefined();
    const now = await list<Deployment>('deployments', namespace, name);
    expect(now.map((d) => [d.metadata.name, d.metadata.uid, d.metadata.generation])).toEqual(
      deployments.map((d) => [d.metadata.name, d.metadata.uid, d.metadata.generation]),
    );
    expect((await list<Pod>('pods', namespace, name)).map((p) => p.metadata.uid).sort()).toEqual(pods);
    const reasons = (await eventsAbout(namespace, name, 'InferenceService')).map((e) => e.reason);
    expect(reasons).not.toContain('CanaryStarted');
  }

  beforeAll(async () => {
    ns = await freshNamespace('e2e-infsvc-batching');
    upgraded = await freshNamespace('e2e-infsvc-upgrade');
    await leaveAsAnOlderOperatorWould(upgraded, 'legacy');
    op = await startOperator('op-infsvc-batching', [`--watch-namespaces=${ns},${upgraded}`]);
  });

  afterAll(async () => {
    for (const n of [ns, upgraded]) if (n) await deleteInferenceServices(n);
    await op?.stop();
    for (const n of [ns, upgraded]) if (n) await kubectl(['delete', 'namespace', n, '--wait=false']);
  });

  it('an edit of spec.batching updates the ConfigMap of the running revision: no new revision, no canary, still Ready', async () => {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(service(ns, 'live')));
    const first = await until(ns, 'live', 'Ready', ready);
    const stable = first.status?.revisions?.stable as string;
    expect((await revisionConfig(ns, 'live', stable))?.batching).toEqual({ maxBatchSize: 8, maxDelayMs: 2 });
    await expectLiveEdit(ns, 'live', { maxBatchSize: 32, maxDelayMs: 5 });
    // and back (as an optimisation loop's rollback would)
    await expectLiveEdit(ns, 'live', { maxBatchSize: 8, maxDelayMs: 2 });
  });

  it('a revision named by an older operator (its name hashed batching) is kept across the upgrade, and takes batching edits live', async () => {
    const legacy = await until(upgraded, 'legacy', 'Ready', ready);
    const obj = legacy as unknown as InferenceServiceObject;
    const legacyRevision = revisionOf({ ...servingSpecOf(obj.spec), batching: obj.spec.batching });
    expect(legacyRevision).not.toBe(revisionOf(servingSpecOf(obj.spec)));
    expect(legacy.status?.revisions).toEqual({ stable: legacyRevision });
    expect(legacy.status?.stable?.revision).toBe(legacyRevision);
    await expectLiveEdit(upgraded, 'legacy', { maxBatchSize: 16, maxDelayMs: 1 });
  });

  /**
   * The state an operator from before this change leaves: the revision name
   * hashes model, runtime and batching; status.stable and the Deployment's
   * annotation record that serving spec. Written with the operator's field
   * manager, before any operator of this version watches the namespace.
   */
  async function leaveAsAnOlderOperatorWould(namespace: string, name: string): Promise<void> {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(service(namespace, name)));
    const created = (await get(namespace, name)) as unknown as InferenceServiceObject;
    const serving = { ...servingSpecOf(created.spec), batching: created.spec.batching };
    const revision = revisionOf(serving);
    const children = desiredChildren(
      created,
      { mode: 'ConfigMap', labels: {} },
      {
        stable: revision,
        servingSpecs: { [revision]: serving },
      },
    )
      .map((c) => c.object)
      .filter(
        (o) =>
          (o.kind === 'ConfigMap' && o.metadata.name === configMapName(name)) ||
          o.kind === 'Deployment' ||
          o.kind === 'Service',
      );
    expect(children.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Service']);
    await kubectlOk(
      ['apply', '--server-side', '--field-manager=ymera-operator', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: children }),
    );
    await kubectlOk([
      'patch',
      ...ref(namespace, name),
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          observedGeneration: created.metadata.generation,
          revisions: { stable: revision },
          stable: stableServing(revision, serving),
        },
      }),
    ]);
    await eventually(
      `${name}: the older operator's pods to be ready`,
      async () => {
        const d = await getJson<{ status?: { readyReplicas?: number } }>([
          'get',
          'deployment',
          '-n',
          namespace,
          deploymentName(name, revision),
        ]);
        return (d?.status?.readyReplicas ?? 0) >= 2;
      },
      90_000,
    );
  }
});
