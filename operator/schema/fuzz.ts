// Generators of specs for property-based tests (fast-check): shapes drawn
// from a kind's OpenAPI schema (mostly valid, sometimes not), and mutations
// of a realistic sample (wrong types, out-of-range numbers, missing fields,
// huge and non-ASCII strings, unknown fields). Shared by the unit property
// tests and the e2e that applies the same mutations to the real API server.
import fc from 'fast-check';
import type { JSONSchemaProps } from './builder.ts';

/** A JSON value (what a manifest can hold). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface FuzzOptions {
  /** Length of the "huge" strings (the API server's request limit is 3 MiB). */
  hugeLength?: number;
  /** Whether null may be written (the API server drops or rejects it). */
  nulls?: boolean;
  /** Draw from the schema only values its OpenAPI part accepts (types, bounds, patterns). */
  strict?: boolean;
}

/** Strings a careless or hostile user writes: empty, blanks, non-ASCII, control characters, huge. */
export function nastyString(opts: FuzzOptions = {}): fc.Arbitrary<string> {
  const huge = opts.hugeLength ?? 100_000;
  return fc.oneof(
    fc.constantFrom(
      '',
      ' ',
      '-',
      '.',
      '..',
      '/',
      '0',
      '-1',
      'a'.repeat(64),
      'a'.repeat(254),
      'x'.repeat(huge),
      'ünïcødé',
      '😀😀',
      '\u202e\u0000\t\n',
      'A_Upper',
      '${HOME}',
      "'; drop table",
      '1e309',
      'NaN',
      '*/5 * * * * *',
      '@every',
      'P1D',
      '1h1h',
      '999999999h',
      's3://',
      'file:///',
      'http://[::1',
    ),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
  );
}

/** Numbers outside any sensible range (all JSON-representable). */
export function nastyNumber(): fc.Arbitrary<number> {
  return fc.oneof(
    fc.constantFrom(
      0,
      -1,
      1,
      0.5,
      -0.5,
      1.5,
      2 ** 31,
      -(2 ** 31),
      2 ** 53 - 1,
      -(2 ** 53) + 1,
      1e300,
      -1e300,
    ),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
  );
}

/** Any JSON value of a wrong kind for most fields. */
export function nastyValue(opts: FuzzOptions = {}): fc.Arbitrary<Json> {
  const scalar: fc.Arbitrary<Json>[] = [nastyString(opts), nastyNumber(), fc.boolean()];
  if (opts.nulls ?? true) scalar.push(fc.constant(null));
  const leaf = fc.oneof(...scalar);
  return fc.oneof(
    { weight: 6, arbitrary: leaf },
    { weight: 1, arbitrary: fc.array(leaf, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), leaf, { maxKeys: 3 }) },
  );
}

// ---------------------------------------------------------------- from the schema

function stringFor(schema: JSONSchemaProps, opts: FuzzOptions): fc.Arbitrary<string> {
  if (schema.format === 'date-time') {
    return fc
      .date({
        min: new Date('2000-01-01T00:00:00Z'),
        max: new Date('2100-01-01T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString());
  }
  const max = schema.maxLength ?? 40;
  const min = schema.minLength ?? 0;
  const plain = fc.string({ minLength: min, maxLength: Math.max(min, Math.min(max, 40)) });
  if (schema.pattern) {
    const re = new RegExp(schema.pattern);
    const matching = fc
      .stringMatching(re)
      .map((v) => v.slice(0, max))
      .filter((v) => v.length >= min && re.test(v));
    return opts.strict
      ? matching
      : fc.oneof({ weight: 4, arbitrary: matching }, { weight: 1, arbitrary: plain });
  }
  return opts.strict
    ? plain
    : fc.oneof({ weight: 4, arbitrary: plain }, { weight: 1, arbitrary: nastyString(opts) });
}

function numberFor(schema: JSONSchemaProps, integer: boolean, opts: FuzzOptions): fc.Arbitrary<number> {
  const lo = schema.minimum ?? -1000;
  const hi = schema.maximum ?? Math.max(lo + 1000, 1000);
  const inRange = integer
    ? fc.integer({ min: Math.ceil(lo), max: Math.floor(hi) })
    : fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true });
  if (opts.strict) return inRange;
  return fc.oneof({ weight: 5, arbitrary: inRange }, { weight: 1, arbitrary: nastyNumber() });
}

/**
 * Values shaped by a schema: the right types, enums, required fields and (mostly)
 * bounds and patterns, so most get past the OpenAPI check and reach the
 * controller-side validator and the reconcile logic; some do not.
 */
export function fromSchema(schema: JSONSchemaProps, opts: FuzzOptions = {}, depth = 0): fc.Arbitrary<Json> {
  // built once per node and options: building an arbitrary (regexes of patterns) costs more than drawing
  const key = `${JSON.stringify(opts)}/${depth}`;
  const byNode = cache.get(schema) ?? new Map<string, fc.Arbitrary<Json>>();
  cache.set(schema, byNode);
  let arb = byNode.get(key);
  if (!arb) {
    arb = buildFromSchema(schema, opts, depth);
    byNode.set(key, arb);
  }
  return arb;
}

const cache = new WeakMap<JSONSchemaProps, Map<string, fc.Arbitrary<Json>>>();

function buildFromSchema(schema: JSONSchemaProps, opts: FuzzOptions, depth: number): fc.Arbitrary<Json> {
  if (schema.enum) return fc.constantFrom(...(schema.enum as Json[]));
  if (schema['x-kubernetes-int-or-string']) {
    const str = schema.pattern ? stringFor(schema, opts) : fc.constantFrom('0%', '25%', '100%');
    if (opts.strict) return fc.oneof(fc.integer({ min: 0, max: 10 }), str);
    return fc.oneof(
      fc.integer({ min: -5, max: 200 }),
      fc.constantFrom('0%', '25%', '100%', '150%', '3', 'x'),
    );
  }
  if (schema['x-kubernetes-preserve-unknown-fields'] && !schema.properties) {
    if (opts.strict) return fc.constant({});
    return fc.dictionary(fc.string({ maxLength: 8 }), nastyValue(opts), { maxKeys: 2 });
  }
  switch (schema.type) {
    case 'string':
      return stringFor(schema, opts);
    case 'integer':
      return numberFor(schema, true, opts);
    case 'number':
      return numberFor(schema, false, opts);
    case 'boolean':
      return fc.boolean();
    case 'array': {
      if (!schema.items || depth > 6) return fc.constant([]);
      const max = Math.min(schema.maxItems ?? 3, 3);
      const constraints = { minLength: Math.min(schema.minItems ?? 0, max), maxLength: max };
      const items = fromSchema(schema.items, opts, depth + 1);
      const listType = schema['x-kubernetes-list-type'];
      const mapKeys = schema['x-kubernetes-list-map-keys'] ?? [];
      if (opts.strict && listType === 'set')
        return fc.uniqueArray(items, { ...constraints, selector: (v) => JSON.stringify(v) });
      if (opts.strict && listType === 'map')
        return fc.uniqueArray(items, {
          ...constraints,
          selector: (v) => JSON.stringify(mapKeys.map((k) => (v as Record<string, Json>)[k])),
        });
      return fc.array(items, constraints);
    }
    case 'object':
    default: {
      if (schema.properties) {
        const required = new Set(schema.required ?? []);
        const entries = Object.entries(schema.properties).filter(([k]) => required.has(k) || depth < 6);
        const model = Object.fromEntries(entries.map(([k, p]) => [k, fromSchema(p, opts, depth + 1)]));
        return fc.record(model, {
          requiredKeys: [...required].filter((k) => k in model),
        }) as fc.Arbitrary<Json>;
      }
      if (schema.additionalProperties) {
        return fc.dictionary(
          fc.stringMatching(/^[a-z][a-z0-9.\-/]{0,20}$/),
          fromSchema(schema.additionalProperties, opts, depth + 1),
          { maxKeys: 3 },
        );
      }
      return fc.constant({});
    }
  }
}

// ---------------------------------------------------------------- mutations of a sample

export type Mutation =
  | { op: 'delete'; at: number }
  | { op: 'set'; at: number; value: Json }
  | { op: 'number'; at: number; factor: number; add: number }
  | { op: 'string'; at: number; suffix: string }
  | { op: 'unknown'; at: number; key: string; value: Json };

type Path = (string | number)[];

function paths(value: Json, prefix: Path = []): Path[] {
  const out: Path[] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push([...prefix, i], ...paths(v, [...prefix, i]));
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push([...prefix, k], ...paths(v, [...prefix, k]));
  }
  return out;
}

function parentOf(root: Json, path: Path): Json {
  let node = root;
  for (const key of path.slice(0, -1)) node = (node as Record<string | number, Json>)[key]!;
  return node;
}

/** Applies one mutation to a copy of `root` (`at` picks the field among every field, modulo their count). */
export function applyMutation(root: Json, m: Mutation): Json {
  const copy = structuredClone(root);
  const all = paths(copy);
  if (m.op === 'unknown') {
    const objects = [[], ...all].filter((p) => {
      const v = p.length === 0 ? copy : (parentOf(copy, [...p, '']) as Json);
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    });
    const target = objects[m.at % objects.length]!;
    const obj = (target.length === 0 ? copy : parentOf(copy, [...target, ''])) as Record<string, Json>;
    obj[m.key] = m.value;
    return copy;
  }
  if (all.length === 0) return copy;
  const path = all[m.at % all.length]!;
  const parent = parentOf(copy, path) as Record<string | number, Json>;
  const key = path.at(-1)!;
  const current = parent[key];
  switch (m.op) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case 'set':
      parent[key] = m.value;
      break;
    case 'number':
      parent[key] = typeof current === 'number' ? current * m.factor + m.add : m.add;
      break;
    case 'string':
      parent[key] = `${typeof current === 'string' ? current : JSON.stringify(current)}${m.suffix}`;
      break;
  }
  return copy;
}

export function mutation(opts: FuzzOptions = {}): fc.Arbitrary<Mutation> {
  const at = fc.nat();
  return fc.oneof(
    fc.record({ op: fc.constant('delete' as const), at }),
    fc.record({ op: fc.constant('set' as const), at, value: nastyValue(opts) }),
    fc.record({
      op: fc.constant('number' as const),
      at,
      factor: fc.constantFrom(-1, 0, 2, 1000, 1e12),
      add: fc.constantFrom(-1, 0, 0.5, 1, 7),
    }),
    fc.record({ op: fc.constant('string' as const), at, suffix: nastyString(opts) }),
    fc.record({
      op: fc.constant('unknown' as const),
      at,
      key: fc.constantFrom('extra', 'Spec', 'sPec', 'ünknown'),
      value: nastyValue(opts),
    }),
  );
}

/** The schema of the field at `path` (undefined where the schema says nothing). */
export function schemaAt(
  schema: JSONSchemaProps,
  path: readonly (string | number)[],
): JSONSchemaProps | undefined {
  let node: JSONSchemaProps | undefined = schema;
  for (const key of path) {
    if (!node) return undefined;
    node = typeof key === 'number' ? node.items : (node.properties?.[key] ?? node.additionalProperties);
  }
  return node;
}

/** Replaces one field of the sample with a value its own schema allows (bounds, enums, patterns). */
function schemaReplacement(sample: Json, schema: JSONSchemaProps, opts: FuzzOptions): fc.Arbitrary<Json> {
  const candidates = paths(sample)
    .map((path) => ({ path, node: schemaAt(schema, path) }))
    .filter((c): c is { path: Path; node: JSONSchemaProps } => c.node !== undefined);
  if (candidates.length === 0) return fc.constant(sample);
  return fc.constantFrom(...candidates).chain(({ path, node }) =>
    fromSchema(node, { ...opts, strict: true }).map((value) => {
      const copy = structuredClone(sample);
      (parentOf(copy, path) as Record<string | number, Json>)[path.at(-1)!] = value;
      return copy;
    }),
  );
}

/**
 * A sample with mutations applied: one to three blind ones (wrong types,
 * bounds, deletions, unknown fields), or, given the schema, one to three
 * fields redrawn within their schema (which reach the validator and the
 * reconcile logic with unusual but admissible values).
 */
export function mutated(sample: Json, opts: FuzzOptions = {}, schema?: JSONSchemaProps): fc.Arbitrary<Json> {
  const blind = fc
    .array(mutation(opts), { minLength: 1, maxLength: 3 })
    .map((ms) => ms.reduce<Json>((v, m) => applyMutation(v, m), sample));
  if (!schema) return blind;
  const one = (v: Json) => schemaReplacement(v, schema, opts);
  const redrawn = fc.oneof(one(sample), one(sample).chain(one), one(sample).chain(one).chain(one));
  return fc.oneof(blind, redrawn);
}
