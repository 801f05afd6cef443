// A replica on a lost node is replaced within a bound, not after Kubernetes'
// default 5 minutes: the real node's kubelet stops (test/e2e/lost-node.ts),
// the node lifecycle controller marks the node unreachable after its grace
// period (40 s) and taints it NoExecute; the serving pods tolerate that for
// 30 s (controllers/inferenceservice/node-loss.ts) instead of the 300 s
// DefaultTolerationSeconds would give them, so the taint manager evicts the
// pod and its ReplicaSet starts a replacement on the node that is left.
//
// Skipped, saying why, without the real node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_LOSS_TOLERATION_SECONDS } from '../../controllers/inferenceservice/node-loss.ts';
import type { Condition } from '../../operator/conditions.ts';
import type { PodObj } from './lost-node.ts';
import {
  REAL_POOL,
  UNREACHABLE_TAINT,
  cordon,
  createFallbackNode,
  deleteFallbackNode,
  freezeKubelet,
  podReady,
  realKubeletPid,
  thawKubelet,
  untilNodeHealthy,
} from './lost-node.ts';
import type { RealModel } from './real-model.ts';
import { realModelSpec, setUpRealModel } from './real-model.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  podsWith,
  startOperator,
  untilObserved,
} from './support.ts';

const NODE = process.env.YMERA_REAL_NODE;
const skipReason = !NODE ? ' (skipped: YMERA_REAL_NODE is unset, the stack runs without the real node)' : '';

interface InfSvc {
  metadata: { name: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

const NAME = 'survivor';
// node-monitor-grace-period (40 s) + the 30 s toleration + eviction, scheduling and start, with
// room for a busy machine; Kubernetes' default toleration alone (300 s) is far beyond it
const BOUND_MS = 150_000;

describe.skipIf(skipReason !== '')(`InferenceService replica on a lost node${skipReason}`, () => {
  const fallback = `fallback-${Math.random().toString(36).slice(2, 8)}`;
  let ns = '';
  let op: OperatorProcess | undefined;
  let model: RealModel | undefined;
  let kubelet = 0;

  const pods = () => podsWith<PodObj>(ns, `ymera.io/inferenceservice=${NAME}`);

  beforeAll(async () => {
    kubelet = realKubeletPid();
    ns = await freshNamespace('e2e-node-loss');
    model = await setUpRealModel(ns);
    await createFallbackNode(fallback);
    op = await startOperator('op-node-loss', [`--watch-namespaces=${ns}`]);
  });

  afterAll(async () => {
    if (kubelet) thawKubelet(kubelet);
    if (NODE) await untilNodeHealthy(NODE);
    if (ns) await deleteInferenceServices(ns);
    await op?.stop();
    await deleteFallbackNode(fallback);
    await model?.cleanup();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it(`replaces it on another node within ${BOUND_MS / 1000} s of the node's kubelet stopping`, async () => {
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: NAME, namespace: ns },
        spec: {
          model: realModelSpec(model!.uri),
          runtime: {
            resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
            ...REAL_POOL,
          },
          scaling: { minReplicas: 1 },
        },
      }),
    );
    await untilObserved<InfSvc>(
      ['-n', ns, `inferenceservice.ymera.io/${NAME}`],
      `${NAME}: Ready`,
      (r) => r.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
      240_000,
    );
    const [pod] = await eventually('one Ready pod', async () => {
      const ready = (await pods()).filter(podReady);
      return ready.length === 1 ? ready : undefined;
    });
    expect(pod!.spec.nodeName).toBe(NODE);
    // the pod carries the short toleration (the API server added no 300 s one of its own)
    expect(pod!.spec.tolerations?.filter((t) => t.key === UNREACHABLE_TAINT)).toEqual([
      {
        key: UNREACHABLE_TAINT,
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: NODE_LOSS_TOLERATION_SECONDS,
      },
    ]);
    await cordon(fallback, false);

    freezeKubelet(kubelet);
    try {
      const replacement = await eventually(
        `a Ready replacement of pod ${pod!.metadata.name} on the node left`,
        async () => (await pods()).find((p) => p.metadata.name !== pod!.metadata.name && podReady(p)),
        BOUND_MS,
        1000,
      );
      expect(replacement.spec.nodeName).toBe(fallback);
      // it went the Kubernetes way: the node lifecycle controller tainted the silent node
      const node = await getJson<{ spec?: { taints?: { key: string; effect: string }[] } }>([
        'get',
        'node',
        NODE!,
      ]);
      expect(node?.spec?.taints).toContainEqual(
        expect.objectContaining({ key: UNREACHABLE_TAINT, effect: 'NoExecute' }),
      );
    } finally {
      thawKubelet(kubelet);
    }
    await untilNodeHealthy(NODE!);
  }, 420_000);
});
