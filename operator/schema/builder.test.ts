import { describe, expect, expectTypeOf, it } from 'vitest';
import { s } from './builder.ts';
import type { Defaulted, Infer } from './builder.ts';
import { applyDefaults, lintSchema, validateValue } from './openapi.ts';

const d = (text: string) => ({ description: text });

describe('schema shapes', () => {
  const spec = s.object(
    {
      name: s.string({ description: 'Name.', maxLength: 63, pattern: '^[a-z]+$' }),
      replicas: s.optional(s.integer({ description: 'Replicas.', minimum: 0, maximum: 10 })),
      mode: s.enum(['Fast', 'Safe'], { description: 'Mode.', default: 'Safe' }),
      ratio: s.number({ description: 'Ratio.', minimum: 0, maximum: 1, default: 0.5 }),
      enabled: s.optional(s.boolean(d('Enabled.'))),
      tags: s.optional(
        s.array(s.string({ description: 'Tag.', maxLength: 10 }), {
          description: 'Tags.',
          maxItems: 4,
          listType: 'set',
        }),
      ),
      labels: s.optional(
        s.map(s.string({ description: 'Value.', maxLength: 63 }), {
          description: 'Labels.',
          maxProperties: 8,
        }),
      ),
      items: s.array(
        s.object(
          {
            key: s.string({ description: 'Key.', maxLength: 8 }),
            size: s.quantity(d('Size.')),
          },
          d('An item.'),
        ),
        { description: 'Items.', maxItems: 3, listType: 'map', listMapKeys: ['key'] },
      ),
      surge: s.intOrString({ description: 'Surge.', maxLength: 4, default: 1 }),
      extra: s.optional(s.preserveUnknown(d('Anything.'))),
      when: s.optional(s.dateTime(d('When.'))),
    },
    {
      description: 'A spec.',
      validations: [
        {
          rule: '!has(self.replicas) || self.replicas >= 0',
          message: 'replicas must not be negative',
          fieldPath: '.replicas',
        },
      ],
    },
  );

  it('infers the TypeScript type: required, optional and defaulted fields', () => {
    type Spec = Infer<typeof spec>;
    expectTypeOf<Spec['name']>().toEqualTypeOf<string>();
    expectTypeOf<Spec['replicas']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<Spec['mode']>().toEqualTypeOf<'Fast' | 'Safe' | undefined>();
    expectTypeOf<Spec['items']>().toEqualTypeOf<{ key: string; size: number | string }[]>();
    expectTypeOf<Spec['labels']>().toEqualTypeOf<Record<string, string> | undefined>();
    expectTypeOf<Spec['surge']>().toEqualTypeOf<number | string | undefined>();
    expectTypeOf<Spec['extra']>().toEqualTypeOf<Record<string, unknown> | undefined>();
    const ok: Spec = { name: 'a', items: [] };
    expect(ok.name).toBe('a');
  });

  it('infers the defaulted type: defaulted fields are present', () => {
    type Out = Defaulted<typeof spec>;
    expectTypeOf<Out['mode']>().toEqualTypeOf<'Fast' | 'Safe'>();
    expectTypeOf<Out['ratio']>().toEqualTypeOf<number>();
    expectTypeOf<Out['replicas']>().toEqualTypeOf<number | undefined>();
  });

  it('emits the OpenAPI schema', () => {
    const json = spec.json;
    expect(json.type).toBe('object');
    expect(json.description).toBe('A spec.');
    expect(json.required).toEqual(['name', 'items']);
    expect(json.properties?.name).toEqual({
      description: 'Name.',
      type: 'string',
      pattern: '^[a-z]+$',
      maxLength: 63,
    });
    expect(json.properties?.mode).toEqual({
      description: 'Mode.',
      default: 'Safe',
      type: 'string',
      enum: ['Fast', 'Safe'],
    });
    expect(json.properties?.tags?.['x-kubernetes-list-type']).toBe('set');
    expect(json.properties?.labels?.additionalProperties?.type).toBe('string');
    expect(json.properties?.items?.['x-kubernetes-list-map-keys']).toEqual(['key']);
    expect(json.properties?.items?.items?.properties?.size).toMatchObject({
      'x-kubernetes-int-or-string': true,
      anyOf: [{ type: 'integer' }, { type: 'string' }],
    });
    expect(json.properties?.surge?.default).toBe(1);
    expect(json.properties?.extra?.['x-kubernetes-preserve-unknown-fields']).toBe(true);
    expect(json.properties?.when?.format).toBe('date-time');
    expect(json['x-kubernetes-validations']).toEqual([
      {
        rule: '!has(self.replicas) || self.replicas >= 0',
        message: 'replicas must not be negative',
        fieldPath: '.replicas',
      },
    ]);
  });

  it('passes the structural lint', () => {
    expect(lintSchema(spec.json)).toEqual([]);
  });

  it('validates values offline', () => {
    expect(validateValue(spec.json, { name: 'abc', items: [{ key: 'a', size: '1Gi' }] })).toEqual([]);
    const errors = validateValue(spec.json, {
      name: 'ABC',
      replicas: 11,
      mode: 'Slow',
      items: [
        { key: 'a', size: '1Gi' },
        { key: 'a', size: 'lots' },
      ],
      typo: true,
    });
    expect(errors.map((e) => e.field).sort()).toEqual(
      ['mode', 'name', 'replicas', 'items[1]', 'items[1].size', 'typo'].sort(),
    );
    expect(validateValue(spec.json, { items: [] })).toEqual([{ field: 'name', message: 'Required value' }]);
  });

  it('applies defaults like the API server', () => {
    const out = applyDefaults(spec, { name: 'a', items: [] });
    expect(out).toEqual({ name: 'a', items: [], mode: 'Safe', ratio: 0.5, surge: 1 });
  });
});

describe('builder rules', () => {
  it('requires a description on every property, listing the missing ones', () => {
    expect(() =>
      s.object({ a: s.string({ maxLength: 1 }), b: s.integer({}), c: s.boolean(d('C.')) }, d('X.')),
    ).toThrow('properties without a description: a, b');
  });

  it('requires list map keys to be required scalars', () => {
    const item = s.object(
      { name: s.optional(s.string({ description: 'N.', maxLength: 5 })), v: s.integer(d('V.')) },
      d('Item.'),
    );
    expect(() =>
      s.array(item, { description: 'L.', maxItems: 2, listType: 'map', listMapKeys: ['name'] }),
    ).toThrow('must be required or defaulted');
    expect(() =>
      s.array(item, { description: 'L.', maxItems: 2, listType: 'map', listMapKeys: ['nope'] }),
    ).toThrow('must be a scalar property');
    expect(() => s.array(item, { description: 'L.', maxItems: 2, listType: 'set' })).toThrow('scalar items');
  });

  it('checks defaults of enums and integers', () => {
    // @ts-expect-error the default must be one of the values
    expect(() => s.enum(['A', 'B'], { description: 'E.', default: 'C' })).toThrow('not one of');
    expect(() => s.integer({ description: 'I.', default: 1.5 })).toThrow('not an integer');
  });

  it('lints unbounded strings and arrays, invalid defaults and rules without messages', () => {
    const bad = s.object(
      {
        text: s.string(d('Text.')),
        list: s.array(s.integer(d('I.')), d('List.')),
        n: s.integer({ description: 'N.', maximum: 3, default: 4, validations: [{ rule: 'self > 0' }] }),
      },
      d('Bad.'),
    );
    const problems = lintSchema(bad.json);
    expect(problems).toContain('text: string without maxLength');
    expect(problems).toContain('list: array without maxItems');
    expect(problems).toContain('n: CEL rule without message: self > 0');
    expect(problems.some((p) => p.startsWith('n(default)'))).toBe(true);
  });

  it('builds the metav1.Condition list', () => {
    const conditions = s.conditions(['ModelLoaded']);
    expect(conditions.json['x-kubernetes-list-type']).toBe('map');
    expect(conditions.json['x-kubernetes-list-map-keys']).toEqual(['type']);
    expect(conditions.json.items?.required).toEqual([
      'type',
      'status',
      'lastTransitionTime',
      'reason',
      'message',
    ]);
    expect(conditions.json.description).toContain('Ready, Reconciling, Stalled, ModelLoaded');
    expect(lintSchema(conditions.json)).toEqual([]);
    expect(
      validateValue(conditions.json, [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Reconciled',
          message: '',
          lastTransitionTime: '2025-01-01T00:00:00Z',
        },
      ]),
    ).toEqual([]);
  });
});
