// Pure: Apply mode's writes to a Deployment or an InferenceService and what
// its managedFields say.
// The loop writes with server-side apply under its own field manager, only
// the tuned paths (the SSA body holds nothing else, so the loop owns nothing
// else), and reads managedFields to tell its own writes from someone else's.
// Also the trial history ConfigMap's text (JSON lines, bounded).
import type { KubeObject } from '../../operator/kube/resources.ts';
import type { Params } from './safety.ts';
import type { TrialRecord } from './schema.ts';

/**
 * The field manager of every OptimizationLoop's writes to its target. One
 * shared name (not one per loop) so an Argo CD Application needs one
 * `ignoreDifferences` entry (managedFieldsManagers is an exact match).
 */
export const LOOP_FIELD_MANAGER = 'ymera-optimizationloop';

type Json = Record<string, unknown>;

/** `spec.a[0].b` → ['spec', 'a', 0, 'b']. */
function tokens(path: string): (string | number)[] {
  return (path.match(/[A-Za-z][A-Za-z0-9]*|\[[0-9]+\]/g) ?? []).map((t) =>
    t.startsWith('[') ? Number(t.slice(1, -1)) : t,
  );
}

/** The list-map key of an element (containers and env are keyed by name in the Deployment schema). */
function keyOfElement(target: KubeObject, path: string, upTo: number): string {
  let node: unknown = target;
  for (const t of tokens(path).slice(0, upTo + 1)) {
    if (node === null || typeof node !== 'object') return '';
    node = (node as Json)[t as string];
  }
  const name = (node as Json | undefined)?.name;
  return typeof name === 'string' ? name : '';
}

/**
 * How a number is written at a path: a Deployment's replicas as an integer,
 * its quantities and env values as strings; an InferenceService's fields
 * (batching, threads, scaling bounds: all integers in its schema) as integers.
 */
export function formatValue(path: string, v: number, kind = 'Deployment'): number | string {
  if (kind === 'InferenceService' || path === 'spec.replicas') return Math.round(v);
  return String(v);
}

/**
 * The server-side apply body that sets `values` on the target (a Deployment
 * or an InferenceService, by its apiVersion and kind) and nothing
 * else: list elements are addressed by their key (`name`), read from the
 * target, so the body merges into the existing containers and env entries.
 * Throws when a path's list element does not exist on the target.
 */
export function applyBody(target: KubeObject, values: Params): KubeObject {
  const body: Json = {};
  for (const [path, v] of Object.entries(values)) {
    const ts = tokens(path);
    let node: Json = body;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      const last = i === ts.length - 1;
      if (typeof t === 'number') continue; // handled with its list name below
      const nextIsIndex = typeof ts[i + 1] === 'number';
      if (last) {
        node[t] = formatValue(path, v, target.kind);
      } else if (nextIsIndex) {
        const name = keyOfElement(target, path, i + 1);
        if (!name) throw new Error(`${path}: the target has no named element at ${t}[${ts[i + 1]}]`);
        const list = ((node[t] as Json[] | undefined) ??= []);
        let el = list.find((e) => e.name === name);
        if (!el) list.push((el = { name }));
        node = el;
      } else {
        node = (node[t] as Json | undefined) ?? (node[t] = {});
      }
    }
  }
  return {
    apiVersion: target.apiVersion ?? 'apps/v1',
    kind: target.kind ?? 'Deployment',
    metadata: {
      name: target.metadata.name,
      ...(target.metadata.namespace ? { namespace: target.metadata.namespace } : {}),
    },
    ...body,
  } as KubeObject;
}

/** The managedFields (fieldsV1) keys of a path: `f:spec`, `k:{"name":"app"}`, … */
export function fieldKeys(target: KubeObject, path: string): string[] {
  const ts = tokens(path);
  return ts.map((t, i) =>
    typeof t === 'number' ? `k:${JSON.stringify({ name: keyOfElement(target, path, i) })}` : `f:${t}`,
  );
}

type ManagedField = { manager?: string; operation?: string; fieldsV1?: Json };

/** The managers that own the field at a path. */
export function ownersOf(target: KubeObject, path: string): string[] {
  const keys = fieldKeys(target, path);
  const owners: string[] = [];
  for (const mf of (target.metadata.managedFields ?? []) as ManagedField[]) {
    let node: unknown = mf.fieldsV1;
    for (const k of keys) {
      node = node && typeof node === 'object' ? (node as Json)[k] : undefined;
    }
    if (node !== undefined && mf.manager && !owners.includes(mf.manager)) owners.push(mf.manager);
  }
  return owners;
}

/**
 * The managers that took a tuned field away from the loop: another manager
 * owns it and the loop no longer does (a write of another value with SSA
 * force, or any update, moves ownership). Shared ownership (someone applied
 * the same value) is not a change.
 */
export function takenOverBy(target: KubeObject, paths: readonly string[], manager: string): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const owners = ownersOf(target, p);
    if (owners.includes(manager)) continue;
    for (const o of owners) if (!out.includes(o)) out.push(o);
  }
  return out;
}

/** Whether the loop is the only owner of every path (so a value there is the loop's own write). */
export function ownedByLoopAlone(target: KubeObject, paths: readonly string[], manager: string): boolean {
  return paths.every((p) => {
    const owners = ownersOf(target, p);
    return owners.length === 1 && owners[0] === manager;
  });
}

/** Trial records kept in the history ConfigMap. */
export const HISTORY_MAX_TRIALS = 500;
/** Bytes of history kept (a ConfigMap holds at most 1 MiB with its metadata). */
export const HISTORY_MAX_BYTES = 900 * 1024;
export const HISTORY_KEY = 'trials.jsonl';

export function historyConfigMapName(loop: string): string {
  return `${loop}-trials`;
}

/** The records of a history text, oldest first; unreadable lines are skipped. */
export function parseHistory(text: string | undefined): TrialRecord[] {
  const out: TrialRecord[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as TrialRecord;
      if (r && typeof r.id === 'number' && typeof r.verdict === 'string') out.push(r);
    } catch {
      // a hand-edited line: not history
    }
  }
  return out;
}

/**
 * The history text with `added` appended (a record with the same id and
 * completion time is not added twice), trimmed to the newest `maxTrials`
 * records and `maxBytes` bytes.
 */
export function appendHistory(
  text: string | undefined,
  added: readonly TrialRecord[],
  maxTrials = HISTORY_MAX_TRIALS,
  maxBytes = HISTORY_MAX_BYTES,
): string {
  const records = parseHistory(text);
  const seen = new Set(records.map((r) => `${r.id}/${r.completionTime ?? ''}`));
  for (const r of added) {
    const k = `${r.id}/${r.completionTime ?? ''}`;
    if (!seen.has(k)) {
      records.push(r);
      seen.add(k);
    }
  }
  const lines = records.slice(-maxTrials).map((r) => JSON.stringify(r));
  let bytes = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  while (lines.length > 0 && bytes > maxBytes) bytes -= Buffer.byteLength(lines.shift()!) + 1;
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
