// Cross-namespace reach granted by the cluster admin: which other namespaces
// a namespaced resource in namespace A may back up (BackupPolicy
// spec.include.namespaces) or restore into (Restore). Pure; none by default.
//
// Written as the operator flag --backup-namespace-grant (chart value
// backup.namespaceGrants): comma-separated `<policyNamespace>=<target>`
// entries, target an exact namespace or `<prefix>*` (`*` alone: every
// namespace); the policy namespace `*` applies to every namespace. A
// namespace always reaches itself.

/** Policy namespace ("*" = every namespace) → target namespaces and "prefix*" patterns. */
export type NamespaceGrants = Readonly<Record<string, readonly string[]>>;

/** The flag and chart value that grant more (named in messages). */
export const NAMESPACE_GRANT_FLAG = '--backup-namespace-grant';
export const NAMESPACE_GRANT_VALUE = 'backup.namespaceGrants';

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// a prefix may end in "-" (team-*), so only its first character is constrained
const PREFIX = /^([a-z0-9][-a-z0-9]*)?\*$/;

function validTarget(t: string): boolean {
  return t.length <= 63 && (LABEL.test(t) || PREFIX.test(t));
}

/** Parses "a=b,a=team-*,*=shared"; throws an Error naming the bad entry and the format. */
export function parseNamespaceGrants(text: string): NamespaceGrants {
  const out: Record<string, string[]> = {};
  for (const entry of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const eq = entry.indexOf('=');
    const from = eq > 0 ? entry.slice(0, eq).trim() : '';
    const to = eq > 0 ? entry.slice(eq + 1).trim() : '';
    const fromOk = from === '*' || (from.length <= 63 && LABEL.test(from));
    if (!fromOk || !validTarget(to)) {
      throw new Error(
        `entry ${JSON.stringify(entry)} must be <policyNamespace>=<namespace> or <policyNamespace>=<prefix>* ` +
          '(namespaces: RFC 1123 labels; policyNamespace * = every namespace, target * = every namespace)',
      );
    }
    const list = out[from] ?? [];
    if (!list.includes(to)) list.push(to);
    out[from] = list;
  }
  return out;
}

/** The patterns granted to resources of `namespace`. */
export function grantedNamespaces(grants: NamespaceGrants, namespace: string): string[] {
  return [...new Set([...(grants[namespace] ?? []), ...(grants['*'] ?? [])])];
}

/** Whether a resource in `from` may reach namespace `target` (its own always). */
export function namespaceGranted(grants: NamespaceGrants, from: string, target: string): boolean {
  if (from === target) return true;
  return grantedNamespaces(grants, from).some((p) =>
    p.endsWith('*') ? target.startsWith(p.slice(0, -1)) : p === target,
  );
}

/**
 * Why the `refused` namespaces may not be reached from `from`, naming the
 * field, what is granted and how an admin grants more.
 */
export function namespacesNotAllowedMessage(
  grants: NamespaceGrants,
  from: string,
  refused: readonly string[],
  field: string,
): string {
  const granted = grantedNamespaces(grants, from);
  return (
    `${field}: a resource in namespace ${from} reaches only its own namespace` +
    (granted.length > 0 ? ` and those the cluster admin granted (${granted.join(', ')})` : '') +
    `; ${refused.join(', ')} ${refused.length === 1 ? 'is' : 'are'} not allowed` +
    `; a cluster admin grants more with the operator flag ${NAMESPACE_GRANT_FLAG}=${from}=<namespace> (chart value ${NAMESPACE_GRANT_VALUE})`
  );
}
