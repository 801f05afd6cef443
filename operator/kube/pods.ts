// Pure pieces of a pod spec every workload the operator creates shares:
// container resources with GPUs, GPU placement, and the settings the
// `restricted` Pod Security Standard asks for.

export interface GpuRequest {
  count?: number;
  product?: string;
}

export interface ResourceRequirements {
  requests?: Record<string, string | number>;
  limits?: Record<string, string | number>;
}

export const GPU_RESOURCE = 'nvidia.com/gpu';

/** The container's resources with `nvidia.com/gpu` requested and limited; undefined when there are none. */
export function containerResources(
  resources: ResourceRequirements | undefined,
  gpu: GpuRequest | undefined,
): ResourceRequirements | undefined {
  const requests: Record<string, string | number> = { ...resources?.requests };
  const limits: Record<string, string | number> = { ...resources?.limits };
  if (gpu) {
    requests[GPU_RESOURCE] = String(gpu.count ?? 1);
    limits[GPU_RESOURCE] = String(gpu.count ?? 1);
  }
  const out: ResourceRequirements = {};
  if (Object.keys(requests).length > 0) out.requests = requests;
  if (Object.keys(limits).length > 0) out.limits = limits;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Node selector and toleration that put a GPU pod on a GPU node (of the product, when given). */
export function gpuPlacement(gpu: GpuRequest | undefined): {
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string; operator: string; effect: string }[];
} {
  if (!gpu) return {};
  return {
    nodeSelector: {
      'nvidia.com/gpu.present': 'true',
      ...(gpu.product ? { 'nvidia.com/gpu.product': gpu.product } : {}),
    },
    tolerations: [{ key: GPU_RESOURCE, operator: 'Exists', effect: 'NoSchedule' }],
  };
}

/** A toleration in the Kubernetes shape (spec.tolerations[]). */
export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

/**
 * Where a pod runs: the user's node selector and tolerations merged with what
 * a GPU request needs. The GPU's keys win over a user's same key, so a GPU pod
 * can never be steered onto a node without the GPU it asked for.
 */
export function podPlacement(
  gpu: GpuRequest | undefined,
  userNodeSelector: Record<string, string> | undefined,
  userTolerations: readonly Toleration[] | undefined,
): { nodeSelector?: Record<string, string>; tolerations?: Toleration[] } {
  const forGpu = gpuPlacement(gpu);
  const nodeSelector = { ...userNodeSelector, ...forGpu.nodeSelector };
  const tolerations = [...(userTolerations ?? []), ...(forGpu.tolerations ?? [])];
  return {
    ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}),
    ...(tolerations.length > 0 ? { tolerations } : {}),
  };
}

/** Container securityContext of the restricted standard (the root filesystem is the caller's choice). */
export function restrictedContainerSecurity(readOnlyRootFilesystem: boolean): Record<string, unknown> {
  return {
    allowPrivilegeEscalation: false,
    ...(readOnlyRootFilesystem ? { readOnlyRootFilesystem: true } : {}),
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Pod securityContext of the restricted standard. */
export const RESTRICTED_POD_SECURITY = {
  runAsNonRoot: true,
  seccompProfile: { type: 'RuntimeDefault' },
} as const;
