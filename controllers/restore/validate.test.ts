import { describe, expect, it } from 'vitest';
import { validateRestore } from './validate.ts';

describe('validateRestore', () => {
  it('accepts a restore of the latest backup', () => {
    expect(validateRestore({ backupPolicyRef: { name: 'ml-platform' } })).toEqual([]);
    expect(
      validateRestore({
        backupPolicyRef: { name: 'p' },
        targetNamespace: 'copy',
        kinds: ['InferenceService'],
      }),
    ).toEqual([]);
  });

  it('refuses cluster-scoped kinds with a target namespace', () => {
    expect(
      validateRestore({
        backupPolicyRef: { name: 'p' },
        targetNamespace: 'copy',
        kinds: ['MaintenancePlan'],
      })[0]?.field,
    ).toBe('spec.kinds');
  });
});
