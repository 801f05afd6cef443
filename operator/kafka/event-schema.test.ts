import { describe, expect, it } from 'vitest';
import { compileEventSchema, schemaDigest } from './event-schema.ts';

const drift = {
  type: 'object',
  required: ['type', 'model'],
  properties: {
    type: { enum: ['drift'] },
    model: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
  },
};

function validator(schema: unknown) {
  const compiled = compileEventSchema(schema);
  if ('error' in compiled) throw new Error(compiled.error);
  return compiled.validate;
}

describe('compileEventSchema', () => {
  it('accepts a matching event and names where a wrong one is wrong', () => {
    const validate = validator(drift);
    expect(validate({ type: 'drift', model: { name: 'fraud' } })).toBeUndefined();
    expect(validate({ type: 'drift', model: {} })).toBe("event.model must have required property 'name'");
    expect(validate({ type: 'spike', model: { name: 'x' } })).toBe(
      'event.type must be equal to one of the allowed values ("drift")',
    );
    expect(validate('text')).toBe('event must be object');
  });

  it('refuses what is not a JSON Schema, saying why', () => {
    expect(compileEventSchema({ type: 'nonsense' })).toEqual({
      error: expect.stringMatching(/^invalid JSON Schema: .*type/) as unknown,
    });
    expect(compileEventSchema([])).toEqual({ error: 'a JSON Schema must be a JSON object' });
    expect(compileEventSchema(null)).toEqual({ error: 'a JSON Schema must be a JSON object' });
  });

  it('matches tenant patterns in linear time, so a catastrophic pattern cannot freeze the operator', () => {
    // ^(a+)+$ against "aaa…a!" backtracks exponentially in JavaScript's RegExp (28 a's took 10 s)
    const evil = 'a'.repeat(10_000) + '!';
    const validate = validator({
      type: 'object',
      properties: { model: { type: 'string', pattern: '^(a+)+$' } },
      patternProperties: { '^(a+)+$': { type: 'number' } },
    });
    expect(validate({ model: evil })).toBe('event.model must match pattern "^(a+)+$"');
    expect(validate({ model: 'aaaa' })).toBeUndefined();
    expect(validate({ [evil]: 'text' })).toBeUndefined();
    expect(validate({ aaaa: 'text' })).toBe('event.aaaa must be number');
  });

  it('refuses a pattern the linear-time engine cannot express (lookaround, backreferences)', () => {
    expect(compileEventSchema({ type: 'string', pattern: '^(?!x)a' })).toEqual({
      error: expect.stringMatching(
        /^invalid JSON Schema: regular expression "\^\(\?!x\)a" is not supported \(RE2 syntax/,
      ) as unknown,
    });
    expect(compileEventSchema({ type: 'string', pattern: '^(a)\\1$' })).toEqual({
      error: expect.stringMatching(/^invalid JSON Schema: /) as unknown,
    });
  });

  it('lets two pipelines declare schemas with the same $id', () => {
    const a = validator({ $id: 'https://example.com/e', type: 'object', required: ['a'] });
    const b = validator({ $id: 'https://example.com/e', type: 'object', required: ['b'] });
    expect(a({ a: 1 })).toBeUndefined();
    expect(b({ a: 1 })).toBe("event must have required property 'b'");
  });

  it('digests equal schemas equally', () => {
    expect(schemaDigest(drift)).toBe(schemaDigest(structuredClone(drift)));
    expect(schemaDigest(drift)).not.toBe(schemaDigest({ ...drift, required: ['type'] }));
  });
});
