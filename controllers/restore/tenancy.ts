// Pure: where a Restore may write. A Restore restores only into its own
// namespace: a targetNamespace elsewhere, objects of a backup of another
// namespace (without a targetNamespace that maps them here) and
// cluster-scoped objects are refused, naming the field. Cross-namespace
// restores are for a cluster admin to grant: this is the one function to
// change for it.
import type { PlanEntry } from './plan.ts';

export type Refusal = { reason: string; message: string };

export const NAMESPACE_NOT_ALLOWED = 'NamespaceNotAllowed';

export type TenancyInput = {
  /** The Restore's own namespace. */
  restoreNamespace: string;
  targetNamespace: string | undefined;
  /** The plan, once known (the spec alone is checked before anything is read). */
  plan?: readonly PlanEntry[] | undefined;
};

/** Why the Restore may not write where it would, or undefined. */
export function tenancyRefusal(input: TenancyInput): Refusal | undefined {
  const { restoreNamespace: own, targetNamespace } = input;
  if (targetNamespace !== undefined && targetNamespace !== own)
    return {
      reason: NAMESPACE_NOT_ALLOWED,
      message: `spec.targetNamespace: a Restore restores only into its own namespace (${own}); ${targetNamespace} is not allowed`,
    };
  const plan = input.plan ?? [];
  const clusterScoped = plan.find((e) => e.namespace === undefined);
  if (clusterScoped)
    return {
      reason: NAMESPACE_NOT_ALLOWED,
      message: `spec.kinds: ${clusterScoped.kind} ${clusterScoped.name} is cluster-scoped; a Restore restores only into its own namespace (${own}); leave ${clusterScoped.kind} out of spec.kinds`,
    };
  const elsewhere = plan.filter((e) => e.namespace !== own);
  const first = elsewhere[0];
  if (!first) return undefined;
  const namespaces = [...new Set(elsewhere.map((e) => e.namespace))].sort();
  return {
    reason: NAMESPACE_NOT_ALLOWED,
    message: `spec.targetNamespace: the backup holds objects of namespace ${namespaces.join(', ')} (e.g. ${first.kind} ${first.name}); a Restore restores only into its own namespace (${own}): set spec.targetNamespace: ${own}`,
  };
}
