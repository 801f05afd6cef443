// Structural equality that ignores key order, so a status read back from the
// API server compares equal to the same status computed here.

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const aKeys = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bKeys = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return aKeys.length === bKeys.length && aKeys.every((k) => deepEqual(ao[k], bo[k]));
}

/** True when something other than status / bookkeeping metadata changed. */
export function changedBeyondStatus<T extends { metadata: object }>(oldObj: T, newObj: T): boolean {
  const strip = (o: T) => {
    const { status: _s, metadata, ...rest } = o as T & { status?: unknown };
    const { resourceVersion: _rv, managedFields: _mf, ...meta } = metadata as Record<string, unknown>;
    return { ...rest, metadata: meta };
  };
  return !deepEqual(strip(oldObj), strip(newObj));
}
