import { describe, expect, it } from 'vitest';
import { dedupeKey } from './events.ts';

const node = (name: string, uid?: string) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, ...(uid ? { uid } : {}) },
});

describe('dedupeKey', () => {
  it('tells apart objects passed without a uid (a Node by name): the same note about two nodes is two events', () => {
    // MaintenancePlan's maintenance Events name the plan, not the node, in their note
    const note = 'MaintenancePlan p: cordoned';
    expect(dedupeKey(node('a'), 'Normal', 'Cordoned', note)).not.toBe(
      dedupeKey(node('b'), 'Normal', 'Cordoned', note),
    );
  });

  it('is the same for the same object, type, reason and note', () => {
    expect(dedupeKey(node('a', 'u1'), 'Warning', 'R', 'n')).toBe(
      dedupeKey(node('a', 'u1'), 'Warning', 'R', 'n'),
    );
  });

  it('differs by uid (a recreated object), kind, namespace, type, reason or note', () => {
    const base = dedupeKey(node('a', 'u1'), 'Normal', 'R', 'n');
    expect(dedupeKey(node('a', 'u2'), 'Normal', 'R', 'n')).not.toBe(base);
    expect(dedupeKey({ ...node('a', 'u1'), kind: 'Pod' }, 'Normal', 'R', 'n')).not.toBe(base);
    expect(
      dedupeKey(
        { ...node('a', 'u1'), metadata: { name: 'a', uid: 'u1', namespace: 'x' } },
        'Normal',
        'R',
        'n',
      ),
    ).not.toBe(base);
    expect(dedupeKey(node('a', 'u1'), 'Warning', 'R', 'n')).not.toBe(base);
    expect(dedupeKey(node('a', 'u1'), 'Normal', 'S', 'n')).not.toBe(base);
    expect(dedupeKey(node('a', 'u1'), 'Normal', 'R', 'm')).not.toBe(base);
  });
});
