import { describe, expect, it } from 'vitest';
import { changedBeyondStatus, deepEqual } from './equality.ts';

describe('deepEqual', () => {
  it('ignores key order and undefined members', () => {
    expect(deepEqual({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1, d: undefined })).toBe(true);
  });
  it('sees differences in nested values, array order and length', () => {
    expect(deepEqual({ a: { b: 1 } }, { a: { b: 2 } })).toBe(false);
    expect(deepEqual([1, 2], [2, 1])).toBe(false);
    expect(deepEqual([1], [1, 1])).toBe(false);
    expect(deepEqual({ a: [] }, { a: {} })).toBe(false);
    expect(deepEqual(null, {})).toBe(false);
  });
});

describe('changedBeyondStatus', () => {
  type Obj = { metadata: Record<string, unknown>; spec?: unknown; status?: unknown };
  const base: Obj = {
    metadata: { name: 'x', resourceVersion: '1', generation: 1 },
    spec: { a: 1 },
    status: { s: 1 },
  };
  it('ignores status, resourceVersion and managedFields', () => {
    const next = {
      ...base,
      metadata: { ...base.metadata, resourceVersion: '2', managedFields: [{}] },
      status: { s: 2 },
    };
    expect(changedBeyondStatus(base, next)).toBe(false);
  });
  it('sees spec, label, annotation and deletion changes', () => {
    expect(changedBeyondStatus(base, { ...base, spec: { a: 2 } })).toBe(true);
    expect(changedBeyondStatus(base, { ...base, metadata: { ...base.metadata, labels: { l: 'v' } } })).toBe(
      true,
    );
    expect(
      changedBeyondStatus(base, { ...base, metadata: { ...base.metadata, deletionTimestamp: 'now' } }),
    ).toBe(true);
  });
});
