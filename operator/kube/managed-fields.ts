// Pure: who owns a field of an object, read from metadata.managedFields
// (server-side apply's field ownership, FieldsV1 format).
import type { KubeObject } from './resources.ts';

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsV1?: Record<string, unknown>;
}

/** The managedFields entries that own the field at `path` (e.g. ['spec', 'replicas']). */
export function ownersOf(obj: KubeObject, path: readonly string[]): ManagedFieldsEntry[] {
  const entries = (obj.metadata.managedFields ?? []) as ManagedFieldsEntry[];
  return entries.filter((entry) => {
    let node: unknown = entry.fieldsV1;
    for (const key of path) {
      if (!node || typeof node !== 'object') return false;
      node = (node as Record<string, unknown>)[`f:${key}`];
    }
    return node !== undefined;
  });
}

/**
 * Whether `manager`'s apply is the only owner of the field: leaving the field
 * out of its next apply would then remove it (reset it to its default).
 */
export function ownsAlone(obj: KubeObject, manager: string, path: readonly string[]): boolean {
  const owners = ownersOf(obj, path);
  return owners.length > 0 && owners.every((o) => o.manager === manager && o.operation === 'Apply');
}
