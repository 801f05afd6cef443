import { describe, expect, it } from 'vitest';
import { NODE_LOSS_TOLERATION_SECONDS, withNodeLossTolerations } from './node-loss.ts';

const short = (key: string) => ({
  key,
  operator: 'Exists',
  effect: 'NoExecute',
  tolerationSeconds: NODE_LOSS_TOLERATION_SECONDS,
});

describe('withNodeLossTolerations', () => {
  it('adds short not-ready and unreachable tolerations (Kubernetes would default both to 300 s)', () => {
    expect(NODE_LOSS_TOLERATION_SECONDS).toBeLessThan(300);
    expect(withNodeLossTolerations(undefined)).toEqual([
      short('node.kubernetes.io/not-ready'),
      short('node.kubernetes.io/unreachable'),
    ]);
  });

  it("keeps the user's tolerations first and unchanged", () => {
    const user = [{ key: 'ymera.io/real-node', operator: 'Exists', effect: 'NoSchedule' }];
    expect(withNodeLossTolerations(user)).toEqual([
      ...user,
      short('node.kubernetes.io/not-ready'),
      short('node.kubernetes.io/unreachable'),
    ]);
  });

  it("leaves a taint the user tolerates themselves to the user's toleration", () => {
    const user = [
      {
        key: 'node.kubernetes.io/unreachable',
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 600,
      },
    ];
    expect(withNodeLossTolerations(user)).toEqual([...user, short('node.kubernetes.io/not-ready')]);
    // no effect = every effect, NoExecute included
    const anyEffect = [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }];
    expect(withNodeLossTolerations(anyEffect)).toEqual([
      ...anyEffect,
      short('node.kubernetes.io/unreachable'),
    ]);
  });

  it('adds nothing when the user tolerates every taint', () => {
    const all = [{ operator: 'Exists' }];
    expect(withNodeLossTolerations(all)).toEqual(all);
  });

  it('still adds them next to a toleration of the same key for another effect', () => {
    const user = [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoSchedule' }];
    expect(withNodeLossTolerations(user)).toEqual([
      ...user,
      short('node.kubernetes.io/not-ready'),
      short('node.kubernetes.io/unreachable'),
    ]);
  });
});
