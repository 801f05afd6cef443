// Walkers over the JSON schemas the builder emits:
// - lintSchema: structural-schema rules, descriptions, bounds (for CEL cost);
// - validateValue: the OpenAPI part of admission, offline (types, required,
//   enums, bounds, patterns, unknown fields, list keys) — CEL rules excepted;
// - applyDefaults: the API server's schema defaulting, in memory;
// - collectValidations: every CEL rule with the path it is attached to.
import type { AnySchema, Defaulted, Infer, JSONSchemaProps, Validation } from './builder.ts';
import type { FieldError } from './validation.ts';

function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

// ---------------------------------------------------------------- lint

/**
 * Returns every violation of the rules a CRD schema must follow here:
 * structural (every node typed, no properties beside additionalProperties,
 * anyOf only for int-or-string), every property described, every array and
 * string bounded (maxItems/maxLength, so CEL cost can be estimated), defaults
 * valid.
 */
export function lintSchema(schema: JSONSchemaProps, path = ''): string[] {
  const problems: string[] = [];
  const at = path || '<root>';
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (!schema.type && !intOrString && !preserve) problems.push(`${at}: no type`);
  if (schema.anyOf && !intOrString) problems.push(`${at}: anyOf is only used for int-or-string`);
  if (intOrString && schema.type) problems.push(`${at}: int-or-string must not set type`);
  if (schema.properties && schema.additionalProperties) {
    problems.push(`${at}: properties and additionalProperties are mutually exclusive`);
  }
  if (schema.type === 'array') {
    if (!schema.items) problems.push(`${at}: array without items`);
    if (schema.maxItems === undefined) problems.push(`${at}: array without maxItems`);
  }
  if (
    schema.type === 'string' &&
    !schema.enum &&
    schema.format !== 'date-time' &&
    schema.maxLength === undefined
  ) {
    problems.push(`${at}: string without maxLength`);
  }
  if (schema.type === 'object' && schema.additionalProperties && schema.maxProperties === undefined) {
    problems.push(`${at}: map without maxProperties`);
  }
  for (const v of schema['x-kubernetes-validations'] ?? []) {
    if (!v.message && !v.messageExpression) problems.push(`${at}: CEL rule without message: ${v.rule}`);
  }
  if (schema.default !== undefined) {
    for (const e of validateValue(schema, schema.default, `${at}(default)`)) {
      problems.push(`${e.field}: default is invalid: ${e.message}`);
    }
  }
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    const p = childPath(path, key);
    // metadata at the root is ObjectMeta, documented by the API server, which forbids a description here.
    const isRootMetadata = path === '' && key === 'metadata';
    if (isRootMetadata && Object.keys(prop).some((k) => k !== 'type')) {
      problems.push('metadata: must specify nothing but type: object');
    }
    if (!prop.description?.trim() && !isRootMetadata) problems.push(`${p}: no description`);
    problems.push(...lintSchema(prop, p));
  }
  for (const req of schema.required ?? []) {
    if (!schema.properties?.[req]) problems.push(`${at}: required field ${req} is not a property`);
  }
  if (schema.items) problems.push(...lintSchema(schema.items, `${path}[*]`));
  if (schema.additionalProperties) problems.push(...lintSchema(schema.additionalProperties, `${path}[*]`));
  return problems;
}

/** Property paths (dotted, `[*]` for list items and map values) without a description. */
export function undocumentedFields(schema: JSONSchemaProps): string[] {
  return lintSchema(schema)
    .filter((p) => p.endsWith(': no description'))
    .map((p) => p.slice(0, -': no description'.length));
}

// ---------------------------------------------------------------- validate

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Validates a value against a schema as the API server's OpenAPI validation
 * would (CEL rules are not evaluated). Unknown fields count as errors, as with
 * `kubectl apply`'s strict field validation.
 */
export function validateValue(schema: JSONSchemaProps, value: unknown, path = ''): FieldError[] {
  const errors: FieldError[] = [];
  const err = (message: string, at = path): void => {
    errors.push({ field: at || '<root>', message });
  };
  if (value === null || value === undefined) {
    err('must not be null');
    return errors;
  }
  const actual = typeOf(value);
  if (schema['x-kubernetes-int-or-string']) {
    if (actual !== 'integer' && actual !== 'string') {
      err(`must be an integer or a string, not ${actual}`);
      return errors;
    }
  } else if (schema.type) {
    const ok =
      schema.type === actual ||
      (schema.type === 'number' && actual === 'integer') ||
      (schema.type === 'object' && actual === 'object');
    if (!ok) {
      err(`must be of type ${schema.type}, not ${actual}`);
      return errors;
    }
  }
  if (schema.enum && !schema.enum.includes(value)) {
    err(
      `unsupported value ${JSON.stringify(value)}: must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`,
    );
  }
  if (typeof value === 'string') {
    const len = [...value].length;
    if (schema.minLength !== undefined && len < schema.minLength)
      err(`must be at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && len > schema.maxLength)
      err(`must be at most ${schema.maxLength} characters`);
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) err(`must match ${schema.pattern}`);
    if (schema.format === 'date-time' && !RFC3339.test(value)) err('must be an RFC 3339 date-time');
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined) {
      if (schema.exclusiveMinimum ? value <= schema.minimum : value < schema.minimum) {
        err(`must be ${schema.exclusiveMinimum ? 'greater than' : 'at least'} ${schema.minimum}`);
      }
    }
    if (schema.maximum !== undefined) {
      if (schema.exclusiveMaximum ? value >= schema.maximum : value > schema.maximum) {
        err(`must be ${schema.exclusiveMaximum ? 'less than' : 'at most'} ${schema.maximum}`);
      }
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      err(`must have at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      err(`must have at most ${schema.maxItems} items`);
    const listType = schema['x-kubernetes-list-type'];
    const seen = new Map<string, number>();
    value.forEach((item, i) => {
      const p = `${path}[${i}]`;
      if (schema.items) errors.push(...validateValue(schema.items, item, p));
      let key: string | undefined;
      if (listType === 'set') key = JSON.stringify(item);
      if (listType === 'map' && item && typeof item === 'object') {
        key = JSON.stringify(
          (schema['x-kubernetes-list-map-keys'] ?? []).map((k) => (item as Record<string, unknown>)[k]),
        );
      }
      if (key !== undefined) {
        if (seen.has(key)) err(`duplicate value ${key} (also at index ${seen.get(key)})`, p);
        else seen.set(key, i);
      }
    });
  } else if (actual === 'object' && schema.type === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (schema.minProperties !== undefined && keys.length < schema.minProperties) {
      err(`must have at least ${schema.minProperties} entries`);
    }
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
      err(`must have at most ${schema.maxProperties} entries`);
    }
    for (const req of schema.required ?? []) {
      if (obj[req] === undefined) err('Required value', childPath(path, req));
    }
    for (const key of keys) {
      const prop = schema.properties?.[key];
      if (prop) {
        if (obj[key] !== undefined) errors.push(...validateValue(prop, obj[key], childPath(path, key)));
      } else if (schema.additionalProperties) {
        errors.push(...validateValue(schema.additionalProperties, obj[key], `${path}[${key}]`));
      } else if (!schema['x-kubernetes-preserve-unknown-fields']) {
        err(`unknown field ${JSON.stringify(key)}`, childPath(path, key));
      }
    }
  }
  return errors;
}

// ---------------------------------------------------------------- defaults

function defaultsOf(schema: JSONSchemaProps, value: unknown): unknown {
  if (Array.isArray(value)) {
    return schema.items ? value.map((item) => defaultsOf(schema.items!, item)) : value;
  }
  if (value === null || typeof value !== 'object') return value;
  const obj = { ...(value as Record<string, unknown>) };
  if (schema.properties) {
    for (const [key, prop] of Object.entries(schema.properties)) {
      if (obj[key] === undefined && prop.default !== undefined) obj[key] = structuredClone(prop.default);
      if (obj[key] !== undefined) obj[key] = defaultsOf(prop, obj[key]);
    }
  } else if (schema.additionalProperties) {
    for (const key of Object.keys(obj)) obj[key] = defaultsOf(schema.additionalProperties, obj[key]);
  }
  return obj;
}

/**
 * Applies the schema's defaults the way the API server does (a missing field
 * with a default gets it; defaults inside an absent object are not applied).
 * Returns a new value; the input is not modified.
 */
export function applyDefaults<S extends AnySchema>(schema: S, value: Infer<S>): Defaulted<S> {
  return defaultsOf(schema.json, value) as Defaulted<S>;
}

// ---------------------------------------------------------------- CEL rules

export interface LocatedValidation extends Validation {
  /** Dotted path of the node the rule is attached to (`[*]` for list items). */
  readonly path: string;
  /** The schema of that node (the rule's `self`). */
  readonly node: JSONSchemaProps;
}

/** Every `x-kubernetes-validations` rule in the schema, with where it sits. */
export function collectValidations(schema: JSONSchemaProps, path = ''): LocatedValidation[] {
  const out: LocatedValidation[] = (schema['x-kubernetes-validations'] ?? []).map((v) => ({
    ...v,
    path,
    node: schema,
  }));
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    out.push(...collectValidations(prop, childPath(path, key)));
  }
  if (schema.items) out.push(...collectValidations(schema.items, `${path}[*]`));
  if (schema.additionalProperties) out.push(...collectValidations(schema.additionalProperties, `${path}[*]`));
  return out;
}
