// How long a serving pod stays bound to a node that stopped reporting.
//
// Kubernetes' DefaultTolerationSeconds admission gives every pod 300 s of
// tolerance for the node.kubernetes.io/not-ready and /unreachable NoExecute
// taints: a replica on a lost node is evicted (and so replaced by its
// ReplicaSet) only 5 minutes after the node controller noticed. An inference
// replica holds no state worth waiting for, so the serving pods carry a
// shorter tolerance; taint-based eviction stays Kubernetes' own (works while
// the operator is down, no second node-health judgement in the operator).
// A user toleration for either taint (spec.runtime.tolerations), or one for
// every taint, wins: the taint manager takes the shortest of the matching ones.
import type { Toleration } from '../../operator/kube/pods.ts';

/** Seconds a serving pod tolerates a NotReady/unreachable node before Kubernetes evicts it. */
export const NODE_LOSS_TOLERATION_SECONDS = 30;

export const NODE_LOSS_TAINTS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'] as const;

/** The user's tolerations plus the short node-loss ones for each taint the user did not tolerate themselves. */
export function withNodeLossTolerations(user: readonly Toleration[] | undefined): Toleration[] {
  const own = user ?? [];
  const added = NODE_LOSS_TAINTS.filter((key) => !own.some((t) => tolerates(t, key))).map(
    (key): Toleration => ({
      key,
      operator: 'Exists',
      effect: 'NoExecute',
      tolerationSeconds: NODE_LOSS_TOLERATION_SECONDS,
    }),
  );
  return [...own, ...added];
}

/** Whether `t` tolerates the NoExecute taint `key` (whatever its value). */
function tolerates(t: Toleration, key: string): boolean {
  const keyMatches = t.key === key || ((t.key ?? '') === '' && t.operator === 'Exists');
  return keyMatches && (t.effect === undefined || t.effect === 'NoExecute');
}
