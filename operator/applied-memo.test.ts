import { describe, expect, it } from 'vitest';
import { AppliedMemo, fingerprint, projectOnto } from './applied-memo.ts';

const desired = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'd', namespace: 'a', labels: { app: 'd' } },
  spec: { template: { spec: { containers: [{ name: 'c', resources: { requests: { cpu: '0.5' } } }] } } },
};
/** What the API server stores for it: defaults added, the quantity normalised. */
const stored = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'd', namespace: 'a', labels: { app: 'd' }, resourceVersion: '5', uid: 'u' },
  spec: {
    replicas: 1,
    template: {
      spec: {
        containers: [{ name: 'c', imagePullPolicy: 'Always', resources: { requests: { cpu: '500m' } } }],
        restartPolicy: 'Always',
      },
    },
  },
  status: { replicas: 1 },
};

describe('projectOnto', () => {
  it('keeps only the fields the shape has, element by element in lists of the same length', () => {
    expect(projectOnto(stored, desired)).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', namespace: 'a', labels: { app: 'd' } },
      spec: { template: { spec: { containers: [{ name: 'c', resources: { requests: { cpu: '500m' } } }] } } },
    });
    // a list of another length is kept whole (it differs from what was applied)
    expect(projectOnto([1, 2, 3], [{}, {}])).toEqual([1, 2, 3]);
    expect(projectOnto(undefined, { a: 1 })).toBeUndefined();
  });
});

describe('fingerprint', () => {
  it('ignores key order and undefined fields, not values', () => {
    expect(fingerprint({ a: 1, b: { c: [1, 2] } })).toBe(
      fingerprint({ b: { c: [1, 2] }, a: 1, d: undefined }),
    );
    expect(fingerprint({ a: 1 })).not.toBe(fingerprint({ a: '1' }));
    expect(fingerprint([1, 2])).not.toBe(fingerprint([2, 1]));
  });
});

describe('AppliedMemo', () => {
  it('is up to date once applied while the cached child holds what the server stored (defaults and normalisation included)', () => {
    const memo = new AppliedMemo();
    expect(memo.upToDate('k', desired, stored)).toBe(false); // never applied by this process
    memo.record('k', desired, stored);
    expect(memo.upToDate('k', desired, stored)).toBe(true);
    // the status and the resourceVersion moved on: still nothing to apply
    const later = {
      ...stored,
      metadata: { ...stored.metadata, resourceVersion: '9' },
      status: { replicas: 3 },
    };
    expect(memo.upToDate('k', desired, later)).toBe(true);
  });

  it('is not up to date when someone changed one of our fields, when we no longer set a field, or without a cached child', () => {
    const memo = new AppliedMemo();
    memo.record('k', desired, stored);
    const edited = { ...stored, metadata: { ...stored.metadata, labels: { app: 'other' } } };
    expect(memo.upToDate('k', desired, edited)).toBe(false);
    // a label dropped from the desired object must be removed by an apply
    const fewer = { ...desired, metadata: { name: 'd', namespace: 'a' } };
    expect(memo.upToDate('k', fewer, stored)).toBe(false);
    expect(memo.upToDate('k', desired, undefined)).toBe(false);
    memo.forget('k');
    expect(memo.upToDate('k', desired, stored)).toBe(false);
  });
});
