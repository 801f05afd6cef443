// Resource types the operator talks to, and REST paths for them. A static
// table instead of discovery: the operator only ever touches the kinds listed
// here, and the table doubles as the inventory RBAC must cover.

export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  managedFields?: unknown[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

/** Collection path, e.g. /apis/apps/v1/namespaces/ns/deployments. */
export function collectionPath(type: ResourceType, namespace?: string): string {
  const base = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
  if (type.namespaced && namespace)
    return `${base}/namespaces/${encodeURIComponent(namespace)}/${type.plural}`;
  return `${base}/${type.plural}`;
}

export function objectPath(
  type: ResourceType,
  name: string,
  namespace?: string,
  subresource?: string,
): string {
  if (type.namespaced && !namespace) {
    throw new Error(`${type.kind} ${name}: a namespace is required for a namespaced resource`);
  }
  const path = `${collectionPath(type, namespace)}/${encodeURIComponent(name)}`;
  return subresource ? `${path}/${subresource}` : path;
}

/** Cache and queue key: "namespace/name", or "name" for cluster-scoped objects. */
export function keyOf(meta: { name: string; namespace?: string }): string {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  if (slash < 0) return { name: key };
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

const t = (
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced = true,
): ResourceType => ({
  group,
  version,
  kind,
  plural,
  namespaced,
});

export const core = {
  configMap: t('', 'v1', 'ConfigMap', 'configmaps'),
  service: t('', 'v1', 'Service', 'services'),
  serviceAccount: t('', 'v1', 'ServiceAccount', 'serviceaccounts'),
  pod: t('', 'v1', 'Pod', 'pods'),
  secret: t('', 'v1', 'Secret', 'secrets'),
  node: t('', 'v1', 'Node', 'nodes', false),
  namespace: t('', 'v1', 'Namespace', 'namespaces', false),
  deployment: t('apps', 'v1', 'Deployment', 'deployments'),
  job: t('batch', 'v1', 'Job', 'jobs'),
  hpa: t('autoscaling', 'v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers'),
  pdb: t('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets'),
  lease: t('coordination.k8s.io', 'v1', 'Lease', 'leases'),
  event: t('events.k8s.io', 'v1', 'Event', 'events'),
  crd: t('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'customresourcedefinitions', false),
} as const;
