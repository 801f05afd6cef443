// Whether a desired child is already applied, so that a reconcile with
// nothing to change sends no server-side apply. Every requeue and resync of
// an InferenceService used to re-apply its ConfigMap, Deployment, Service and
// PDB: thousands of no-op PATCHes a minute at 1,000 objects, each a write the
// API server must admit, diff and answer.
//
// A child counts as applied when (1) we applied exactly this desired object
// before (a hash of it), and (2) the cached child still holds, in the fields
// the desired object sets, what the API server stored for our apply (a hash
// of the response projected onto the desired object's fields: defaulting and
// normalisation, such as "0.5" CPU stored as "500m", compare equal). Someone
// else changing one of our fields, or a field we no longer set, makes it
// apply again. The memo is in memory: after a restart each child is applied
// once more.
import { createHash } from 'node:crypto';

/** Pure: `actual` reduced to the fields `shape` has (arrays element by element when the lengths agree). */
export function projectOnto(actual: unknown, shape: unknown): unknown {
  if (Array.isArray(shape)) {
    if (!Array.isArray(actual) || actual.length !== shape.length) return actual;
    return shape.map((s, i) => projectOnto(actual[i], s));
  }
  if (shape !== null && typeof shape === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return actual;
    const out: Record<string, unknown> = {};
    for (const [k, s] of Object.entries(shape)) {
      if (s === undefined) continue;
      out[k] = projectOnto((actual as Record<string, unknown>)[k], s);
    }
    return out;
  }
  return actual;
}

/** Pure: a short hash of a JSON value, independent of key order. */
export function fingerprint(value: unknown): string {
  return createHash('sha256').update(canonical(value)).digest('base64url').slice(0, 22);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

interface Applied {
  desired: string;
  stored: string;
}

export class AppliedMemo {
  private readonly byKey = new Map<string, Applied>();

  /** Whether applying `desired` again would change nothing, judged from the cached child. */
  upToDate(key: string, desired: unknown, cached: unknown): boolean {
    const seen = this.byKey.get(key);
    if (!seen || cached === undefined) return false;
    return seen.desired === fingerprint(desired) && seen.stored === fingerprint(projectOnto(cached, desired));
  }

  /** Records an apply of `desired` and what the API server answered. */
  record(key: string, desired: unknown, stored: unknown): void {
    this.byKey.set(key, { desired: fingerprint(desired), stored: fingerprint(projectOnto(stored, desired)) });
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }

  get size(): number {
    return this.byKey.size;
  }
}
