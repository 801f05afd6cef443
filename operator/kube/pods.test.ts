import { describe, expect, it } from 'vitest';
import { containerResources, gpuPlacement, podPlacement, restrictedContainerSecurity } from './pods.ts';

describe('containerResources', () => {
  it('adds nvidia.com/gpu to requests and limits, keeping the rest', () => {
    expect(containerResources({ requests: { cpu: '2' } }, { count: 2 })).toEqual({
      requests: { cpu: '2', 'nvidia.com/gpu': '2' },
      limits: { 'nvidia.com/gpu': '2' },
    });
  });

  it('is undefined when nothing is asked for, and leaves CPU-only resources as they are', () => {
    expect(containerResources(undefined, undefined)).toBeUndefined();
    expect(containerResources({ limits: { memory: '1Gi' } }, undefined)).toEqual({
      limits: { memory: '1Gi' },
    });
  });
});

describe('gpuPlacement', () => {
  it('selects GPU nodes (of the product) and tolerates their taint', () => {
    expect(gpuPlacement({ count: 1, product: 'NVIDIA-A100-SXM4-80GB' })).toEqual({
      nodeSelector: { 'nvidia.com/gpu.present': 'true', 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    });
    expect(gpuPlacement({}).nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(gpuPlacement(undefined)).toEqual({});
  });
});

describe('podPlacement', () => {
  it('is empty without a GPU or user placement, and keeps a CPU pod where the user puts it', () => {
    expect(podPlacement(undefined, undefined, undefined)).toEqual({});
    expect(podPlacement(undefined, {}, [])).toEqual({});
    expect(podPlacement(undefined, { pool: 'real' }, [{ key: 'dedicated', operator: 'Exists' }])).toEqual({
      nodeSelector: { pool: 'real' },
      tolerations: [{ key: 'dedicated', operator: 'Exists' }],
    });
  });

  it('adds the GPU selector and toleration to the user ones, the GPU keys winning', () => {
    expect(podPlacement({ count: 1 }, { 'nvidia.com/gpu.present': 'false', zone: 'a' }, undefined)).toEqual({
      nodeSelector: { 'nvidia.com/gpu.present': 'true', zone: 'a' },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    });
  });
});

describe('restrictedContainerSecurity', () => {
  it('drops all capabilities, forbids escalation and root, and sets the root filesystem read-only on request', () => {
    expect(restrictedContainerSecurity(true)).toMatchObject({
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(restrictedContainerSecurity(false)).not.toHaveProperty('readOnlyRootFilesystem');
  });
});
