// Pure: what a backup holds. The ymera objects of the included namespaces
// (filtered by include.kinds and labelSelector), then the ConfigMaps and
// (with include.secrets) the Secrets they reference. "Reference" means a
// field of the object's spec that names one by `name` under a key that says
// which kind it is: `configMapKeyRef`, `configMapRef`, `configMap`… for
// ConfigMaps, `secretKeyRef`, `credentialsSecret`, `keySecret`, `secretRef`…
// for Secrets (any key containing "configmap" / "secret", case-insensitive),
// at any depth; always in the referencing object's own namespace.
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { NamespaceGrants } from '../../operator/namespace-grants.ts';
import { namespaceGranted } from '../../operator/namespace-grants.ts';
import type { BackupPolicySpec } from './schema.ts';

export const BACKUP_NOW_ANNOTATION = 'ymera.io/backup-now';

/** Kinds never backed up: a Restore is a one-shot request, replaying it would restore again. */
export const EXCLUDED_KINDS: readonly string[] = ['Restore'];

type Selector = NonNullable<NonNullable<BackupPolicySpec['include']>['labelSelector']>;

/** A labelSelector as the API server's query string (matchLabels, then matchExpressions). */
export function selectorString(selector: Selector | undefined): string | undefined {
  if (!selector) return undefined;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(selector.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)))
    parts.push(`${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.length > 0 ? parts.join(',') : undefined;
}

/**
 * The ymera kinds to list: every one (except Restore) without include.kinds,
 * else those it names. `ConfigMap` in include.kinds means every ConfigMap of
 * the namespace (not only the referenced ones). `Secret` changes nothing:
 * only referenced Secrets are backed up (include.secrets), since the
 * operator may get a Secret by name but never list them. Other names are
 * returned in `unsupported`.
 */
export function kindsToBackUp(
  ymeraKinds: readonly string[],
  include: readonly string[] | undefined,
): { ymera: string[]; allConfigMaps: boolean; unsupported: string[] } {
  const candidates = ymeraKinds.filter((k) => !EXCLUDED_KINDS.includes(k));
  if (!include) return { ymera: candidates, allConfigMaps: false, unsupported: [] };
  const unsupported = include.filter((k) => !candidates.includes(k) && k !== 'ConfigMap' && k !== 'Secret');
  return {
    ymera: candidates.filter((k) => include.includes(k)),
    allConfigMaps: include.includes('ConfigMap'),
    unsupported,
  };
}

export type References = { configMaps: string[]; secrets: string[] };

/** Names of the ConfigMaps and Secrets an object's spec references (sorted, unique). */
export function referencesOf(obj: KubeObject): References {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const walk = (value: unknown, key: string): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v, key);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    const name = record.name;
    if (typeof name === 'string' && name !== '') {
      const k = key.toLowerCase();
      if (k.includes('configmap')) configMaps.add(name);
      else if (k.includes('secret')) secrets.add(name);
    }
    for (const [k, v] of Object.entries(record)) walk(v, k);
  };
  walk((obj as { spec?: unknown }).spec, '');
  return { configMaps: [...configMaps].sort(), secrets: [...secrets].sort() };
}

/** The references of many objects, per namespace. */
export function referencedIn(objects: readonly KubeObject[]): Map<string, References> {
  const out = new Map<string, { configMaps: Set<string>; secrets: Set<string> }>();
  for (const obj of objects) {
    const ns = obj.metadata.namespace ?? '';
    const refs = referencesOf(obj);
    const entry = out.get(ns) ?? { configMaps: new Set<string>(), secrets: new Set<string>() };
    for (const c of refs.configMaps) entry.configMaps.add(c);
    for (const s of refs.secrets) entry.secrets.add(s);
    out.set(ns, entry);
  }
  return new Map(
    [...out].map(([ns, e]) => [ns, { configMaps: [...e.configMaps].sort(), secrets: [...e.secrets].sort() }]),
  );
}

/**
 * Namespaces the policy may back up: its own, and others only when the
 * cluster admin granted them to the policy's namespace (--backup-namespace-grant;
 * none by default). Returns the refused ones, for the message.
 */
export function namespacesToBackUp(
  policyNamespace: string,
  requested: readonly string[] | undefined,
  grants: NamespaceGrants | ((policyNamespace: string, target: string) => boolean) = {},
): { namespaces: string[]; refused: string[] } {
  const wanted = requested ?? [policyNamespace];
  const allowed = (ns: string) =>
    ns === policyNamespace ||
    (typeof grants === 'function'
      ? grants(policyNamespace, ns)
      : namespaceGranted(grants, policyNamespace, ns));
  const refused = wanted.filter((ns) => !allowed(ns));
  return { namespaces: wanted.filter((ns) => !refused.includes(ns)), refused };
}
