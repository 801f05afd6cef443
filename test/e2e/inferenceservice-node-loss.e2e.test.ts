// A replica on a lost node is replaced within a bound, not after Kubernetes'
// default 5 minutes: the node (kwok's) stops heartbeating, the node lifecycle
// controller marks it unreachable after its grace period (40 s) and taints it
// NoExecute; the serving pods tolerate that for 30 s
// (controllers/inferenceservice/node-loss.ts) instead of the 300 s
// DefaultTolerationSeconds would give them, so the taint manager evicts the
// pod and its ReplicaSet starts a replacement on the node that is left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import { NODE_LOSS_TOLERATION_SECONDS } from '../../controllers/inferenceservice/node-loss.ts';
import type { PodObj } from './lost-node.ts';
import {
  UNREACHABLE_TAINT,
  createLosableNodes,
  deleteLosableNodes,
  loseNode,
  placementOn,
  podReady,
} from './lost-node.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  startOperator,
  untilObserved,
} from './support.ts';

interface InfSvc {
  metadata: { name: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

const KEY = 'ymera.io/e2e-node-loss';
const NAME = 'survivor';
// node-monitor-grace-period (40 s) + the 30 s toleration + eviction, scheduling and start, with
// room for a busy machine; Kubernetes' default toleration alone (300 s) is far beyond it
const BOUND_MS = 150_000;

describe('InferenceService replica on a lost node', () => {
  const run = Math.random().toString(36).slice(2, 8);
  const nodes = [`nl-${run}-a`, `nl-${run}-b`];
  let ns = '';
  let op: OperatorProcess | undefined;

  const pods = async () =>
    (await getJson<{ items: PodObj[] }>(['get', 'pods', '-n', ns, '-l', `ymera.io/inferenceservice=${NAME}`]))
      ?.items ?? [];

  beforeAll(async () => {
    ns = await freshNamespace('e2e-node-loss');
    await createLosableNodes(KEY, run, nodes);
    op = await startOperator('op-node-loss', [`--watch-namespaces=${ns}`]);
  });

  afterAll(async () => {
    if (ns) await deleteInferenceServices(ns);
    await op?.stop();
    await deleteLosableNodes(nodes);
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it(`replaces it on another node within ${BOUND_MS / 1000} s of the node going silent`, async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: NAME, namespace: ns },
        spec: {
          model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
          runtime: {
            resources: { requests: { cpu: '100m', memory: '128Mi' } },
            ...placementOn(KEY, run),
          },
          scaling: { minReplicas: 1 },
        },
      }),
    );
    await untilObserved<InfSvc>(
      ['-n', ns, `inferenceservice.ymera.io/${NAME}`],
      `${NAME}: Ready`,
      (r) => r.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
    );
    const [pod] = await eventually('one Ready pod', async () => {
      const ready = (await pods()).filter(podReady);
      return ready.length === 1 ? ready : undefined;
    });
    const lost = pod!.spec.nodeName ?? '';
    expect(nodes).toContain(lost);
    // the pod carries the short toleration (the API server added no 300 s one of its own)
    expect(pod!.spec.tolerations?.filter((t) => t.key === UNREACHABLE_TAINT)).toEqual([
      {
        key: UNREACHABLE_TAINT,
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: NODE_LOSS_TOLERATION_SECONDS,
      },
    ]);

    await loseNode(lost);
    const replacement = await eventually(
      `a Ready replacement of pod ${pod!.metadata.name} on the node left`,
      async () => (await pods()).find((p) => p.metadata.name !== pod!.metadata.name && podReady(p)),
      BOUND_MS,
      1000,
    );
    expect(replacement.spec.nodeName).toBe(nodes.find((n) => n !== lost));
    // it went the Kubernetes way: the node lifecycle controller tainted the silent node
    const node = await getJson<{ spec?: { taints?: { key: string; effect: string }[] } }>([
      'get',
      'node',
      lost,
    ]);
    expect(node?.spec?.taints).toContainEqual(
      expect.objectContaining({ key: UNREACHABLE_TAINT, effect: 'NoExecute' }),
    );
  }, 240_000);
});
