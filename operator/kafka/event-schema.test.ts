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
