import { describe, expect, it } from 'vitest';
import { ownersOf, ownsAlone } from './managed-fields.ts';

const replicas = { 'f:spec': { 'f:replicas': {}, 'f:template': {} } };
const templateOnly = { 'f:spec': { 'f:template': {} } };
const deployment = (managedFields: unknown[]) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'svc-abc', managedFields },
});

describe('managed fields', () => {
  it('finds the owners of a nested field', () => {
    const d = deployment([
      { manager: 'ymera-operator', operation: 'Apply', fieldsV1: replicas },
      { manager: 'kube-controller-manager', operation: 'Update', subresource: 'status', fieldsV1: {} },
    ]);
    expect(ownersOf(d, ['spec', 'replicas']).map((o) => o.manager)).toEqual(['ymera-operator']);
    expect(ownersOf(d, ['spec', 'paused'])).toEqual([]);
  });

  it('says when one applier owns a field alone, so dropping it from its apply would reset it', () => {
    const ours = { manager: 'ymera-operator', operation: 'Apply', fieldsV1: replicas };
    expect(ownsAlone(deployment([ours]), 'ymera-operator', ['spec', 'replicas'])).toBe(true);
    // kubectl scale (or the HPA) took the field over through the scale subresource
    const scaled = { manager: 'kubectl', operation: 'Update', subresource: 'scale', fieldsV1: replicas };
    const afterScale = deployment([{ ...ours, fieldsV1: templateOnly }, scaled]);
    expect(ownsAlone(afterScale, 'ymera-operator', ['spec', 'replicas'])).toBe(false);
    // shared with another applier (the handover): dropping ours keeps the value
    const handover = { manager: 'ymera-operator-handover', operation: 'Apply', fieldsV1: replicas };
    expect(ownsAlone(deployment([ours, handover]), 'ymera-operator', ['spec', 'replicas'])).toBe(false);
    expect(ownsAlone(deployment([]), 'ymera-operator', ['spec', 'replicas'])).toBe(false);
  });
});
