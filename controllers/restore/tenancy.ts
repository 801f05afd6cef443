// Pure: where a Restore may write. A Restore restores only into its own
// namespace: a targetNamespace elsewhere, objects of a backup of another
// namespace (without a targetNamespace that maps them here) and
// cluster-scoped objects are refused, naming the field. Cross-namespace
// restores are for a cluster admin to grant (one place to change: here).
import type { PlanEntry } from './plan.ts';

export type Refusal = { reason: string; message: string };

export const NAMESPACE_NOT_ALLOWED = 'NamespaceNotAllowed';

/** The spec alone: a targetNamespace other than the Restore's own. */
export function targetRefusal(
  restoreNamespace: string,
  targetNamespace: string | undefined,
): Refusal | undefined {
  if (targetNamespace === undefined || targetNamespace === restoreNamespace) return undefined;
  return {
    reason: NAMESPACE_NOT_ALLOWED,
    message: `spec.targetNamespace: a Restore restores only into its own namespace (${restoreNamespace}); ${targetNamespace} is not allowed`,
  };
}

/** The plan: every object must land in the Restore's namespace. */
export function planRefusal(restoreNamespace: string, plan: readonly PlanEntry[]): Refusal | undefined {
  const clusterScoped = plan.find((e) => e.namespace === undefined);
  if (clusterScoped)
    return {
      reason: NAMESPACE_NOT_ALLOWED,
      message: `spec.kinds: ${clusterScoped.kind} ${clusterScoped.name} is cluster-scoped; a Restore restores only into its own namespace (${restoreNamespace}); leave ${clusterScoped.kind} out of spec.kinds`,
    };
  const elsewhere = plan.filter((e) => e.namespace !== restoreNamespace);
  const first = elsewhere[0];
  if (!first) return undefined;
  const namespaces = [...new Set(elsewhere.map((e) => e.namespace))].sort();
  return {
    reason: NAMESPACE_NOT_ALLOWED,
    message: `spec.targetNamespace: the backup holds objects of namespace ${namespaces.join(', ')} (e.g. ${first.kind} ${first.name}); a Restore restores only into its own namespace (${restoreNamespace}): set spec.targetNamespace: ${restoreNamespace}`,
  };
}
