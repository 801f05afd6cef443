import { describe, expect, it } from 'vitest';
import { checkCelRule, parseCel } from './cel.ts';
import { openAPIV3Schema } from './crd.ts';
import { kinds } from './kinds.ts';
import { collectValidations } from './openapi.ts';
import { s } from './builder.ts';

describe('parseCel', () => {
  it.each([
    "self.startsWith('s3://') || self.matches('^a[.]b$')",
    '!has(self.maxReplicas) || self.minReplicas <= self.maxReplicas',
    'self.all(s, !has(s.dependsOn) || s.dependsOn.all(d, self.exists(t, t.name == d)))',
    "type(self) == int ? self >= 1 : self.matches('^[0-9]+%$')",
    "self.operator in ['In', 'NotIn'] ? size(self.values) > 0 : true",
    'self == oldSelf',
    "{'a': 1, 'b': [1, 2,]}.size() == 2",
    "r'\\d+' != '' && -1 < 2.5e3 && 0x1F == 31 && 1u > 0u && b'x' != b''",
    'self.?field.orValue(1) == self[?0].orValue(2)',
  ])('parses %s', (rule) => expect(() => parseCel(rule)).not.toThrow());

  it.each([
    ['self.a ||', /unexpected end of input/],
    ['self.a == (1', /expected \)/],
    ["self.matches('\\d')", /invalid escape/],
    ["'unterminated", /unterminated/],
    ['self.a # 1', /unexpected character/],
    ['a ? b', /expected :/],
    ['if(self)', /reserved word/],
  ])('rejects %s', (rule, message) => expect(() => parseCel(rule)).toThrow(message));
});

describe('checkCelRule', () => {
  const schema = s.object(
    {
      min: s.integer({ description: 'Min.' }),
      max: s.optional(s.integer({ description: 'Max.' })),
      items: s.array(
        s.object({ name: s.string({ description: 'N.', maxLength: 5 }) }, { description: 'I.' }),
        {
          description: 'Items.',
          maxItems: 3,
        },
      ),
      labels: s.map(s.string({ maxLength: 5 }), { description: 'L.', maxProperties: 3 }),
    },
    { description: 'X.' },
  ).json;

  it('accepts references to existing fields, macro variables and map entries', () => {
    expect(checkCelRule('!has(self.max) || self.min <= self.max', schema)).toEqual([]);
    expect(
      checkCelRule("self.items.all(i, i.name != '') && self.labels.all(k, self.labels[k] != '')", schema),
    ).toEqual([]);
    expect(checkCelRule('self.labels.anything == "x"', schema)).toEqual([]);
  });

  it('reports unknown fields, identifiers and bad macros', () => {
    expect(checkCelRule('self.minimum <= self.max', schema)).toEqual([
      'no field minimum (fields: min, max, items, labels)',
    ]);
    expect(checkCelRule('self.items.exists(i, i.nme == "a")', schema)).toEqual([
      'no field nme (fields: name)',
    ]);
    expect(checkCelRule('slef.min > 0', schema)).toEqual(['unknown identifier slef']);
    expect(checkCelRule('self.items.all(i)', schema)).toEqual(['all() takes a variable and an expression']);
    expect(checkCelRule('has(self)', schema)).toEqual(['has() takes one field selection']);
    expect(checkCelRule('self.min.x > 0', schema)).toEqual([
      '.x is not a field (the value is not an object)',
    ]);
    expect(checkCelRule('self.min >', schema)[0]).toMatch(/^syntax: /);
  });
});

describe('the CEL rules of every CRD', () => {
  for (const def of kinds) {
    const schema = openAPIV3Schema(def);
    for (const v of collectValidations(schema)) {
      it(`${def.kind} ${v.path || '<root>'}: ${v.rule}`, () => {
        expect(checkCelRule(v.rule, v.node, v.path === '')).toEqual([]);
      });
    }
  }
});
