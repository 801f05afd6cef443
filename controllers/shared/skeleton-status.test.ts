import { describe, expect, it } from 'vitest';
import { skeletonStatus, skeletonVerdict } from './skeleton-status.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:05:00Z');
const base = { generation: 3, errors: [], notImplemented: 'serving is not implemented yet' };

describe('skeletonStatus', () => {
  it('never claims Ready: a valid spec is Ready=False/NotImplemented and Stalled', () => {
    const s = skeletonStatus(base, undefined, t0);
    expect(s.observedGeneration).toBe(3);
    const ready = s.conditions.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'NotImplemented', observedGeneration: 3 });
    expect(s.conditions.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'NotImplemented',
    });
    expect(s.conditions.find((c) => c.type === 'Reconciling')).toBeUndefined();
  });

  it('reports InvalidSpec with the field named, ahead of everything else', () => {
    const obs = {
      ...base,
      errors: [{ field: 'spec.steps', message: 'dependency cycle: a → b → a' }],
      applyError: { reason: 'ChildApplyFailed', message: 'x', transient: false },
    };
    expect(skeletonVerdict(obs).reason).toBe('InvalidSpec');
    const s = skeletonStatus(obs, undefined, t0);
    const ready = s.conditions.find((c) => c.type === 'Ready');
    expect(ready?.reason).toBe('InvalidSpec');
    expect(ready?.message).toContain('spec.steps');
    expect(ready?.message).toContain('cycle');
  });

  it('reports a refused child with the failure class as the reason, Stalled', () => {
    const refused = {
      reason: 'QuotaExceeded',
      message: 'exceeded quota: q, requested: services=1',
      transient: false,
    };
    expect(skeletonVerdict({ ...base, applyError: refused })).toEqual(refused);
    const s = skeletonStatus({ ...base, applyError: refused }, undefined, t0);
    expect(s.conditions.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'QuotaExceeded',
    });
    expect(s.conditions.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'QuotaExceeded',
    });
  });

  it('is stable when nothing changed: same conditions, same lastTransitionTime (no churn for GitOps)', () => {
    const first = skeletonStatus(base, undefined, t0);
    const again = skeletonStatus(base, first, t1);
    expect(again).toEqual(first);
  });

  it('moves lastTransitionTime only when a status flips, and keeps unrelated status fields', () => {
    const first = { ...skeletonStatus(base, undefined, t0), url: 'http://x' };
    const invalid = skeletonStatus({ ...base, errors: [{ field: 'spec.x', message: 'bad' }] }, first, t1);
    // Ready stays False (time kept) though the reason changed; Stalled stays True
    expect(invalid.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(
      first.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime,
    );
    expect(invalid.url).toBe('http://x');
  });
});

describe('skeletonStatus with dependency blockers', () => {
  it('reports a transient blocker as Reconciling (it heals by itself), not Stalled', () => {
    const s = skeletonStatus(
      { ...base, blockers: [{ reason: 'KafkaUnavailable', message: 'broker down', transient: true }] },
      undefined,
      t0,
    );
    expect(s.conditions.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'KafkaUnavailable',
    });
    expect(s.conditions.find((c) => c.type === 'Reconciling')).toMatchObject({
      status: 'True',
      reason: 'KafkaUnavailable',
    });
    expect(s.conditions.find((c) => c.type === 'Stalled')).toBeUndefined();
  });

  it('reports a blocker that needs a user as Stalled, and spec errors still win', () => {
    const conflict = { reason: 'ResourceConflict', message: 'topic owned by ns/other', transient: false };
    const s = skeletonStatus({ ...base, blockers: [conflict] }, undefined, t0);
    expect(s.conditions.find((c) => c.type === 'Stalled')?.reason).toBe('ResourceConflict');
    const invalid = { ...base, errors: [{ field: 'spec.x', message: 'bad' }], blockers: [conflict] };
    expect(skeletonVerdict(invalid).reason).toBe('InvalidSpec');
  });

  it('carries kind-specific conditions with the generation', () => {
    const s = skeletonStatus(
      { ...base, extra: [{ type: 'KafkaReady', status: 'True', reason: 'TopicReady', message: 'ok' }] },
      undefined,
      t0,
    );
    expect(s.conditions.find((c) => c.type === 'KafkaReady')).toMatchObject({
      status: 'True',
      observedGeneration: 3,
    });
  });
});
