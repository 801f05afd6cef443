// Pure: where a Restore may write. A Restore restores only into its own
// namespace: a targetNamespace elsewhere, objects of a backup of another
// namespace (without a targetNamespace that maps them here) and
// cluster-scoped objects are refused, naming the field. Cross-namespace
// restores are for a cluster admin to grant: the same grant that lets a
// BackupPolicy of this namespace back up other namespaces
// (--backup-namespace-grant, chart backup.namespaceGrants) lets a Restore of
// this namespace write there.
import type { PlanEntry } from './plan.ts';

export type Refusal = { reason: string; message: string };

export const NAMESPACE_NOT_ALLOWED = 'NamespaceNotAllowed';

export type TenancyInput = {
  /** The Restore's own namespace. */
  restoreNamespace: string;
  targetNamespace: string | undefined;
  /** The plan, once known (the spec alone is checked before anything is read). */
  plan?: readonly PlanEntry[] | undefined;
  /** Whether the cluster admin granted this namespace to the Restore's namespace; default: none. */
  granted?: ((namespace: string) => boolean) | undefined;
};

const GRANT_HINT =
  ' unless the cluster admin grants it (--backup-namespace-grant, chart backup.namespaceGrants)';

/** Why the Restore may not write where it would, or undefined. */
export function tenancyRefusal(input: TenancyInput): Refusal | undefined {
  const { restoreNamespace: own, targetNamespace } = input;
  const allowed = (namespace: string) => namespace === own || (input.granted?.(namespace) ?? false);
  if (targetNamespace !== undefined && !allowed(targetNamespace))
    return {
      reason: NAMESPACE_NOT_ALLOWED,
      message: `spec.targetNamespace: a Restore restores only into its own namespace (${own})${GRANT_HINT}; ${targetNamespace} is not allowed`,
    };
  const plan = input.plan ?? [];
  const clusterScoped = plan.find((e) => e.namespace === undefined);
  if (clusterScoped)
    return {
      reason: NAMESPACE_NOT_ALLOWED,
      message: `spec.kinds: ${clusterScoped.kind} ${clusterScoped.name} is cluster-scoped; a Restore restores only into its own namespace (${own}); leave ${clusterScoped.kind} out of spec.kinds`,
    };
  const elsewhere = plan.filter((e) => e.namespace !== undefined && !allowed(e.namespace));
  const first = elsewhere[0];
  if (!first) return undefined;
  const namespaces = [...new Set(elsewhere.map((e) => e.namespace))].sort();
  return {
    reason: NAMESPACE_NOT_ALLOWED,
    message: `spec.targetNamespace: the backup holds objects of namespace ${namespaces.join(', ')} (e.g. ${first.kind} ${first.name}); a Restore restores only into its own namespace (${own})${GRANT_HINT}: set spec.targetNamespace: ${own}`,
  };
}
