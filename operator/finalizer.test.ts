import { describe, expect, it } from 'vitest';
import {
  FINALIZER,
  cleanupBlockedMessage,
  deletingForMs,
  finalizersFor,
  kubectlRef,
  skipCleanupRequested,
} from './finalizer.ts';

const infsvc = {
  group: 'ymera.io',
  version: 'v1alpha1',
  kind: 'InferenceService',
  plural: 'inferenceservices',
  namespaced: true,
};

describe('cleanup finalizer', () => {
  it('adds the finalizer only when wanted and removes it when no longer wanted, keeping others', () => {
    expect(finalizersFor(undefined, false)).toBeUndefined();
    expect(finalizersFor(undefined, true)).toEqual([FINALIZER]);
    expect(finalizersFor(['other'], true)).toEqual(['other', FINALIZER]);
    expect(finalizersFor(['other', FINALIZER], true)).toBeUndefined();
    expect(finalizersFor(['other', FINALIZER], false)).toEqual(['other']);
  });

  it('counts the time since deletionTimestamp (survives restarts)', () => {
    const now = new Date('2026-01-01T00:10:00Z');
    expect(deletingForMs('2026-01-01T00:05:00Z', now)).toBe(300_000);
    expect(deletingForMs(undefined, now)).toBe(0);
    expect(deletingForMs('2026-01-01T00:11:00Z', now)).toBe(0);
  });

  it('takes only "true" as the skip-cleanup request', () => {
    expect(skipCleanupRequested({ 'ymera.io/skip-cleanup': 'true' })).toBe(true);
    expect(skipCleanupRequested({ 'ymera.io/skip-cleanup': ' TRUE ' })).toBe(true);
    expect(skipCleanupRequested({ 'ymera.io/skip-cleanup': 'yes' })).toBe(false);
    expect(skipCleanupRequested(undefined)).toBe(false);
  });

  it('says what fails, for how long, and both ways to force the deletion', () => {
    const obj = { metadata: { name: 'fraud', namespace: 'ml' } };
    expect(kubectlRef(infsvc, obj)).toBe('-n ml inferenceservices.ymera.io/fraud');
    const m = cleanupBlockedMessage(infsvc, obj, 300_000, 'Kafka is unavailable: connect ECONNREFUSED');
    expect(m).toContain('has failed for more than 5m (Kafka is unavailable: connect ECONNREFUSED)');
    expect(m).toContain('kubectl annotate -n ml inferenceservices.ymera.io/fraud ymera.io/skip-cleanup=true');
    expect(m).toContain(
      `kubectl patch -n ml inferenceservices.ymera.io/fraud --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]'`,
    );
    expect(cleanupBlockedMessage(infsvc, obj, 5_000, 'x')).toContain('for more than 5s');
  });
});
