import { describe, expect, it } from 'vitest';
import {
  metaTime,
  conditionsEqualIgnoringTime,
  getCondition,
  isTrue,
  Reason,
  removeCondition,
  setCondition,
  summarize,
} from './conditions.ts';
import type { Condition } from './conditions.ts';

const t1 = new Date('2025-01-01T10:00:00.123Z');
const t2 = new Date('2025-01-01T11:30:00.999Z');

describe('setCondition', () => {
  const ready = {
    type: 'Ready',
    status: 'False',
    reason: 'Progressing',
    message: 'waiting',
    observedGeneration: 1,
  } as const;

  it('adds a new condition with a second-precision transition time', () => {
    const list = setCondition(undefined, ready, t1);
    expect(list).toEqual([{ ...ready, lastTransitionTime: '2025-01-01T10:00:00Z' }]);
  });

  it('keeps lastTransitionTime when the status is unchanged but updates the rest', () => {
    const before = setCondition([], ready, t1);
    const after = setCondition(
      before,
      { ...ready, reason: 'ApplyFailed', message: 'boom', observedGeneration: 2 },
      t2,
    );
    expect(after).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'ApplyFailed',
        message: 'boom',
        observedGeneration: 2,
        lastTransitionTime: '2025-01-01T10:00:00Z',
      },
    ]);
  });

  it('moves lastTransitionTime when the status changes', () => {
    const before = setCondition([], ready, t1);
    const after = setCondition(before, { ...ready, status: 'True', reason: 'Reconciled' }, t2);
    expect(after[0]?.lastTransitionTime).toBe('2025-01-01T11:30:00Z');
  });

  it('returns a new array, leaves the input untouched and keeps positions', () => {
    const a = { ...ready, type: 'A' };
    const b = { ...ready, type: 'B' };
    const before = setCondition(setCondition([], a, t1), b, t1);
    const frozen = JSON.stringify(before);
    const after = setCondition(before, { ...a, status: 'True' }, t2);
    expect(after).not.toBe(before);
    expect(JSON.stringify(before)).toBe(frozen);
    expect(after.map((c) => c.type)).toEqual(['A', 'B']);
  });

  it('drops observedGeneration when the update omits it', () => {
    const before = setCondition([], ready, t1);
    const { observedGeneration: _omit, ...rest } = ready;
    const after = setCondition(before, rest, t2);
    expect(after[0]).not.toHaveProperty('observedGeneration');
  });

  it('rejects reasons the API server would refuse and truncates huge messages', () => {
    expect(() => setCondition([], { ...ready, reason: 'not camel case' }, t1)).toThrow(/reason/);
    expect(() => setCondition([], { ...ready, reason: '' }, t1)).toThrow(/reason/);
    expect(() => setCondition([], { ...ready, observedGeneration: -1 }, t1)).toThrow(/observedGeneration/);
    const [c] = setCondition([], { ...ready, message: 'x'.repeat(40_000) }, t1);
    expect(c?.message.length).toBe(32768);
    expect(c?.message.endsWith('...')).toBe(true);
  });
});

describe('lookups', () => {
  const list = setCondition(
    setCondition([], { type: 'Ready', status: 'True', reason: 'Reconciled', message: '' }, t1),
    { type: 'ModelLoaded', status: 'False', reason: 'Progressing', message: '' },
    t1,
  );

  it('getCondition and isTrue find by type and tolerate a missing list', () => {
    expect(getCondition(list, 'ModelLoaded')?.status).toBe('False');
    expect(getCondition(list, 'Nope')).toBeUndefined();
    expect(isTrue(list, 'Ready')).toBe(true);
    expect(isTrue(list, 'ModelLoaded')).toBe(false);
    expect(isTrue(undefined, 'Ready')).toBe(false);
  });

  it('removeCondition removes by type', () => {
    expect(removeCondition(list, 'Ready').map((c) => c.type)).toEqual(['ModelLoaded']);
  });

  it('metaTime truncates to whole seconds', () => {
    expect(metaTime(t2)).toBe('2025-01-01T11:30:00Z');
  });
});

describe('conditionsEqualIgnoringTime', () => {
  const a: Condition = {
    type: 'Ready',
    status: 'True',
    reason: 'Reconciled',
    message: 'ok',
    observedGeneration: 3,
    lastTransitionTime: '2025-01-01T10:00:00Z',
  };
  const b: Condition = { ...a, type: 'ModelLoaded' };

  it('ignores lastTransitionTime and order', () => {
    expect(conditionsEqualIgnoringTime([a, b], [{ ...b, lastTransitionTime: 'x' }, a])).toBe(true);
    expect(conditionsEqualIgnoringTime(undefined, [])).toBe(true);
  });

  it('sees every other field and length differences', () => {
    expect(conditionsEqualIgnoringTime([a], [{ ...a, status: 'False' }])).toBe(false);
    expect(conditionsEqualIgnoringTime([a], [{ ...a, reason: 'Progressing' }])).toBe(false);
    expect(conditionsEqualIgnoringTime([a], [{ ...a, message: 'other' }])).toBe(false);
    expect(conditionsEqualIgnoringTime([a], [{ ...a, observedGeneration: 4 }])).toBe(false);
    expect(conditionsEqualIgnoringTime([a], [a, b])).toBe(false);
    expect(conditionsEqualIgnoringTime([a, a], [a, b])).toBe(false);
  });
});

describe('summarize', () => {
  const types = (list: Condition[]) => list.map((c) => `${c.type}=${c.status}/${c.reason}`);

  it('a converged object has only Ready=True (abnormal-true conditions absent)', () => {
    const list = summarize({ generation: 4 }, [], t1);
    expect(list).toEqual([
      {
        type: 'Ready',
        status: 'True',
        reason: Reason.Reconciled,
        message: 'All resources are ready',
        observedGeneration: 4,
        lastTransitionTime: '2025-01-01T10:00:00Z',
      },
    ]);
  });

  it('while reconciling: Reconciling=True and Ready=Unknown by default', () => {
    const list = summarize(
      { generation: 2, reconciling: { reason: Reason.Progressing, message: '1/3 replicas ready' } },
      [],
      t1,
    );
    expect(types(list)).toEqual(['Ready=Unknown/Progressing', 'Reconciling=True/Progressing']);
    expect(list.every((c) => c.observedGeneration === 2)).toBe(true);
  });

  it('an explicit Ready=True may coexist with Reconciling (serving while a canary rolls out)', () => {
    const list = summarize(
      {
        generation: 5,
        ready: { status: 'True', reason: Reason.Reconciled, message: 'stable serving' },
        reconciling: { reason: Reason.Progressing, message: 'canary at 10%' },
      },
      [],
      t1,
    );
    expect(types(list)).toEqual(['Ready=True/Reconciled', 'Reconciling=True/Progressing']);
  });

  it('stalled wins: no Reconciling, and Ready is forced False with the stalled reason', () => {
    const list = summarize(
      {
        generation: 7,
        ready: { status: 'True', reason: Reason.Reconciled, message: 'fine' },
        reconciling: { reason: Reason.Progressing, message: '...' },
        stalled: { reason: Reason.InvalidSpec, message: 'spec.model.uri: unsupported scheme ftp' },
      },
      [],
      t1,
    );
    expect(types(list)).toEqual(['Ready=False/InvalidSpec', 'Stalled=True/InvalidSpec']);
    expect(getCondition(list, 'Ready')?.message).toBe('spec.model.uri: unsupported scheme ftp');
  });

  it('keeps an explicit Ready=False reason while stalled', () => {
    const list = summarize(
      {
        generation: 1,
        ready: { status: 'False', reason: Reason.InsufficientGPU, message: 'no A100 nodes' },
        stalled: { reason: Reason.InsufficientGPU, message: 'no A100 nodes' },
      },
      [],
      t1,
    );
    expect(types(list)).toEqual(['Ready=False/InsufficientGPU', 'Stalled=True/InsufficientGPU']);
  });

  it('removes Reconciling/Stalled once cleared, and keeps transition times of unchanged statuses', () => {
    const first = summarize(
      {
        generation: 1,
        ready: { status: 'True', reason: Reason.Reconciled, message: 'ok' },
        reconciling: { reason: Reason.Progressing, message: 'rolling' },
        extra: [{ type: 'ModelLoaded', status: 'True', reason: 'Succeeded', message: 'v1' }],
      },
      [],
      t1,
    );
    const second = summarize(
      {
        generation: 2,
        ready: { status: 'True', reason: Reason.Reconciled, message: 'ok' },
        extra: [{ type: 'ModelLoaded', status: 'True', reason: 'Succeeded', message: 'v2' }],
      },
      first,
      t2,
    );
    expect(types(second)).toEqual(['Ready=True/Reconciled', 'ModelLoaded=True/Succeeded']);
    expect(second.map((c) => c.lastTransitionTime)).toEqual(['2025-01-01T10:00:00Z', '2025-01-01T10:00:00Z']);
    expect(second.map((c) => c.observedGeneration)).toEqual([2, 2]);
  });

  it('is idempotent for a converged object, so status does not churn', () => {
    const input = {
      generation: 3,
      extra: [
        { type: 'BackupHealthy', status: 'True' as const, reason: 'Succeeded', message: 'last backup ok' },
      ],
    };
    const first = summarize(input, [], t1);
    const again = summarize(input, first, t2);
    expect(again).toEqual(first);
    expect(conditionsEqualIgnoringTime(first, again)).toBe(true);
  });

  it('lets extras carry their own observedGeneration and drops stale extras', () => {
    const prev = summarize(
      { generation: 1, extra: [{ type: 'Old', status: 'True', reason: 'Succeeded', message: '' }] },
      [],
      t1,
    );
    const list = summarize(
      {
        generation: 9,
        extra: [
          { type: 'Promoted', status: 'False', reason: 'Progressing', message: '', observedGeneration: 8 },
        ],
      },
      prev,
      t2,
    );
    expect(list.map((c) => [c.type, c.observedGeneration])).toEqual([
      ['Ready', 9],
      ['Promoted', 8],
    ]);
  });

  it('refuses extras that collide with the summary types or each other', () => {
    const bad = (extra: { type: string }[]) => () =>
      summarize(
        {
          generation: 1,
          extra: extra.map((e) => ({ ...e, status: 'True' as const, reason: 'Succeeded', message: '' })),
        },
        [],
        t1,
      );
    expect(bad([{ type: 'Stalled' }])).toThrow(/managed by summarize/);
    expect(bad([{ type: 'X' }, { type: 'X' }])).toThrow(/twice/);
  });
});

describe('Reason vocabulary', () => {
  it('every reason is CamelCase and equals its name', () => {
    for (const [name, value] of Object.entries(Reason)) {
      expect(value).toBe(name);
      expect(value).toMatch(/^[A-Z][A-Za-z0-9]*$/);
    }
    expect(Object.keys(Reason)).toHaveLength(17);
  });
});
