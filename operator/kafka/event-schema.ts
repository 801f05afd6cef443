// JSON Schemas for Kafka events: compiling a pipeline's declared trigger
// schema (ajv, JSON Schema draft-07) and turning validation errors into one short line that names
// where the event was wrong. Compiled validators are cached by the schema's
// JSON text, so reconciles do not recompile an unchanged schema.
import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import type { ErrorObject, Options, ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';
import { clip } from '../text.ts';

export type EventValidator = (payload: unknown) => string | undefined;

const MAX_MESSAGE = 512;
const CACHE_LIMIT = 256;
// Tenants write `pattern` and `patternProperties`: with JavaScript's
// backtracking RegExp one pattern such as ^(a+)+$ freezes the event loop (and
// every controller). RE2 matches in linear time; what it cannot express
// (lookaround, backreferences) fails to compile, so the schema is InvalidSchema.
type RegExpEngine = NonNullable<NonNullable<Options['code']>['regExp']>;
const re2: RegExpEngine = Object.assign(
  (pattern: string) => {
    let re: RE2JS;
    try {
      re = RE2JS.compile(pattern);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(
        `regular expression ${JSON.stringify(pattern)} is not supported (RE2 syntax: no lookaround or backreferences): ${why}`,
        { cause: error },
      );
    }
    return { test: (s: string) => re.test(s) };
  },
  // only used by ajv's standalone code generation, which this operator does not use
  { code: 'require("re2js").RE2JS.compile' },
);

// allErrors off: the first error is what the dead-letter reason names; strict
// off: user schemas may carry unknown keywords (e.g. "examples", vendor keys).
const ajv = new Ajv({ allErrors: false, strict: false, validateSchema: true, code: { regExp: re2 } });
const cache = new Map<string, ValidateFunction>();

/** Stable text for a schema (a hash of its JSON), for comparing subscriptions. */
export function schemaDigest(schema: unknown): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('hex').slice(0, 16);
}

/** One line per ajv error: `<instancePath or "event"> <message>`. */
export function describeSchemaErrors(errors: readonly ErrorObject[] | null | undefined): string {
  const parts = (errors ?? []).map((e) => {
    const where = e.instancePath === '' ? 'event' : `event${e.instancePath.replaceAll('/', '.')}`;
    const extra =
      e.keyword === 'additionalProperties' && typeof e.params.additionalProperty === 'string'
        ? ` (${e.params.additionalProperty})`
        : e.keyword === 'enum' && Array.isArray(e.params.allowedValues)
          ? ` (${e.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')})`
          : '';
    return `${where} ${e.message ?? 'is invalid'}${extra}`;
  });
  return clip(parts.join('; ') || 'event does not match the schema', MAX_MESSAGE);
}

/**
 * A validator for `schema`, or a message saying why it is not a usable JSON
 * Schema (the caller prefixes the spec field). Never throws.
 */
export function compileEventSchema(schema: unknown): { validate: EventValidator } | { error: string } {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    return { error: 'a JSON Schema must be a JSON object' };
  }
  const key = JSON.stringify(schema);
  let fn = cache.get(key);
  if (!fn) {
    try {
      // A schema's own $id would collide with another pipeline's copy in the shared instance.
      const { $id: _ignored, ...rest } = schema as Record<string, unknown>;
      fn = ajv.compile(rest);
    } catch (error) {
      return {
        error: `invalid JSON Schema: ${clip(error instanceof Error ? error.message : String(error), MAX_MESSAGE)}`,
      };
    }
    cache.set(key, fn);
    if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  }
  const validate = fn;
  return {
    validate: (payload) => (validate(payload) ? undefined : describeSchemaErrors(validate.errors)),
  };
}
