// Pure helpers that stamp a child with its owner: the ownerReference the
// garbage collector follows, and the labels every child of ymera carries.
import type { KubeObject, OwnerReference } from './kube/resources.ts';

export const MANAGED_BY = 'ymera-operator';

/** Label naming the owning CR, e.g. `ymera.io/inferenceservice: fraud-model`. */
export function ownerLabelKey(ownerKind: string): string {
  return `ymera.io/${ownerKind.toLowerCase()}`;
}

export function ownerLabels(owner: KubeObject): Record<string, string> {
  return {
    'app.kubernetes.io/managed-by': MANAGED_BY,
    'app.kubernetes.io/part-of': 'ymera',
    [ownerLabelKey(owner.kind)]: owner.metadata.name,
  };
}

export function controllerRef(owner: KubeObject): OwnerReference {
  if (!owner.metadata.uid) throw new Error(`${owner.kind} ${owner.metadata.name} has no uid yet`);
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Returns the child with owner labels and a controller ownerReference added. */
export function owned<C extends KubeObject>(owner: KubeObject, child: C): C {
  return {
    ...child,
    metadata: {
      ...child.metadata,
      labels: { ...child.metadata.labels, ...ownerLabels(owner) },
      ownerReferences: [controllerRef(owner)],
    },
  };
}

/** The controller ownerReference of an object, if any. */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((ref) => ref.controller);
}

export function isOwnedBy(child: KubeObject, owner: KubeObject): boolean {
  return controllerOf(child)?.uid === owner.metadata.uid;
}
