// A small typed builder for structural OpenAPI v3 schemas (the dialect of
// apiextensions.k8s.io/v1 CRDs). One definition yields both the JSON schema
// that goes into the CRD and, through `Infer<S>`, the TypeScript type of a
// value that satisfies it — so the CRD YAML and the controllers' types cannot
// drift apart.
//
//   const spec = s.object({
//     min: s.integer({ minimum: 0, description: 'Lower bound.' }),
//     max: s.optional(s.integer({ description: 'Upper bound.' })),
//   }, { description: 'Bounds.', validations: [{ rule: '!has(self.max) || self.min <= self.max', message: '…' }] });
//   type Spec = Infer<typeof spec>; // { min: number; max?: number }
//
// Rules the builder enforces when a schema is built (it throws otherwise):
// - every object property has a description (so `kubectl explain` reads well);
// - a field with a `default` is optional in the input type and never listed as
//   required (the API server fills it in);
// - list-type `map` keys are required or defaulted scalars, list-type `set`
//   items are scalars.

/** One `x-kubernetes-validations` entry (a CEL rule evaluated at admission). */
export interface Validation {
  /** CEL expression; `self` is the value of the field the rule is attached to. */
  readonly rule: string;
  /** Message shown when the rule evaluates to false. */
  readonly message?: string;
  /** CEL expression producing the message (falls back to `message` on error). */
  readonly messageExpression?: string;
  /** Relative JSON path (e.g. `.min`, `.steps`) of the field the error is reported on. */
  readonly fieldPath?: string;
  readonly reason?:
    'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  readonly optionalOldSelf?: boolean;
}

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps this builder emits. */
export interface JSONSchemaProps {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  items?: JSONSchemaProps;
  anyOf?: JSONSchemaProps[];
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: Validation[];
}

/**
 * A schema node. `I` is the type a user may write (optional and defaulted
 * fields are `?`), `O` the type after the API server applied schema defaults
 * (defaulted fields present). The type parameters live on a phantom property
 * only; at run time a node is its JSON schema plus two flags.
 */
export interface Schema<I = unknown, O = I, Opt extends boolean = boolean, Def extends boolean = boolean> {
  readonly '~types'?: { readonly in: I; readonly out: O };
  readonly json: JSONSchemaProps;
  /** Not listed in the parent's `required` (wrapped with `s.optional`). */
  readonly optional: Opt;
  /** Has a schema default, so the API server always fills it in. */
  readonly hasDefault: Def;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the widest node type, used as a constraint
export type AnySchema = Schema<any, any, boolean, boolean>;

/** The TypeScript type of a value a user may write for schema `S`. */
export type Infer<S> = S extends { readonly '~types'?: { readonly in: infer I; readonly out: unknown } }
  ? I
  : never;
/** The TypeScript type of a value once the API server applied the schema's defaults. */
export type Defaulted<S> = S extends { readonly '~types'?: { readonly in: unknown; readonly out: infer O } }
  ? O
  : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type Shape = Record<string, AnySchema>;
type InOptionalKeys<P extends Shape> = {
  [K in keyof P]: P[K] extends { optional: false; hasDefault: false } ? never : K;
}[keyof P];
type OutOptionalKeys<P extends Shape> = {
  [K in keyof P]: P[K] extends { optional: true; hasDefault: false } ? K : never;
}[keyof P];
type ObjectIn<P extends Shape> = Simplify<
  { -readonly [K in Exclude<keyof P, InOptionalKeys<P>>]: Infer<P[K]> } & {
    -readonly [K in InOptionalKeys<P>]?: Infer<P[K]>;
  }
>;
type ObjectOut<P extends Shape> = Simplify<
  { -readonly [K in Exclude<keyof P, OutOptionalKeys<P>>]: Defaulted<P[K]> } & {
    -readonly [K in OutOptionalKeys<P>]?: Defaulted<P[K]>;
  }
>;
type HasDefault<O> = O extends { default: unknown } ? true : false;

/** Options every node accepts. */
export interface BaseOptions<T> {
  /** Shown by `kubectl explain`; required on every object property. */
  readonly description?: string;
  /** Schema default, applied by the API server when the field is absent. */
  readonly default?: T;
  readonly validations?: readonly Validation[];
}

export interface StringOptions extends BaseOptions<string> {
  readonly pattern?: string;
  readonly format?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
}

export interface NumberOptions extends BaseOptions<number> {
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: boolean;
  readonly exclusiveMaximum?: boolean;
  readonly format?: 'int32' | 'int64' | 'double' | 'float';
}

export interface ArrayOptions<T> extends BaseOptions<T[]> {
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly listType?: 'atomic' | 'set' | 'map';
  readonly listMapKeys?: readonly string[];
}

export interface ObjectOptions<T> extends BaseOptions<T> {
  readonly minProperties?: number;
  readonly maxProperties?: number;
}

export interface MapOptions<T> extends BaseOptions<Record<string, T>> {
  readonly minProperties?: number;
  readonly maxProperties?: number;
  readonly mapType?: 'atomic' | 'granular';
}

/** Drops undefined members so the emitted JSON (and YAML) stays minimal and stable. */
function clean(props: JSONSchemaProps): JSONSchemaProps {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) if (v !== undefined) out[k] = v;
  return out as JSONSchemaProps;
}

function node<I, O, D extends boolean>(json: JSONSchemaProps, hasDefault: D): Schema<I, O, false, D> {
  return { json: clean(json), optional: false, hasDefault };
}

function base<T>(opts: BaseOptions<T>): JSONSchemaProps {
  return { description: opts.description, default: opts.default };
}

function validations(opts: BaseOptions<unknown>): Validation[] | undefined {
  return opts.validations && opts.validations.length > 0
    ? opts.validations.map((v) => clean(v as JSONSchemaProps) as Validation)
    : undefined;
}

function isScalar(json: JSONSchemaProps): boolean {
  return (
    json.type === 'string' ||
    json.type === 'integer' ||
    json.type === 'number' ||
    json.type === 'boolean' ||
    json['x-kubernetes-int-or-string'] === true
  );
}

function string<const O extends StringOptions>(opts: O): Schema<string, string, false, HasDefault<O>> {
  return node(
    {
      ...base(opts),
      type: 'string',
      format: opts.format,
      pattern: opts.pattern,
      minLength: opts.minLength,
      maxLength: opts.maxLength,
      'x-kubernetes-validations': validations(opts),
    },
    ('default' in opts) as HasDefault<O>,
  );
}

function numeric(type: 'integer' | 'number', opts: NumberOptions): JSONSchemaProps {
  return {
    ...base(opts),
    type,
    format: opts.format,
    minimum: opts.minimum,
    exclusiveMinimum: opts.exclusiveMinimum,
    maximum: opts.maximum,
    exclusiveMaximum: opts.exclusiveMaximum,
    'x-kubernetes-validations': validations(opts),
  };
}

function integer<const O extends NumberOptions>(opts: O): Schema<number, number, false, HasDefault<O>> {
  if (opts.default !== undefined && !Number.isInteger(opts.default)) {
    throw new Error(`s.integer: default ${opts.default} is not an integer`);
  }
  return node(numeric('integer', opts), ('default' in opts) as HasDefault<O>);
}

function number<const O extends NumberOptions>(opts: O): Schema<number, number, false, HasDefault<O>> {
  return node(numeric('number', opts), ('default' in opts) as HasDefault<O>);
}

function boolean<const O extends BaseOptions<boolean>>(
  opts: O,
): Schema<boolean, boolean, false, HasDefault<O>> {
  return node(
    { ...base(opts), type: 'boolean', 'x-kubernetes-validations': validations(opts) },
    ('default' in opts) as HasDefault<O>,
  );
}

/** A string limited to the given values: `s.enum(['Allow', 'Forbid'], {…})`. */
function enumOf<const V extends readonly [string, ...string[]], const O extends BaseOptions<V[number]>>(
  values: V,
  opts: O,
): Schema<V[number], V[number], false, HasDefault<O>> {
  if (opts.default !== undefined && !values.includes(opts.default)) {
    throw new Error(`s.enum: default ${opts.default} is not one of ${values.join(', ')}`);
  }
  return node(
    { ...base(opts), type: 'string', enum: [...values], 'x-kubernetes-validations': validations(opts) },
    ('default' in opts) as HasDefault<O>,
  );
}

/** An RFC 3339 timestamp (`metav1.Time` on the wire), e.g. `2025-01-31T12:00:00Z`. */
function dateTime<const O extends BaseOptions<string>>(
  opts: O,
): Schema<string, string, false, HasDefault<O>> {
  return node(
    { ...base(opts), type: 'string', format: 'date-time', 'x-kubernetes-validations': validations(opts) },
    ('default' in opts) as HasDefault<O>,
  );
}

/** `x-kubernetes-int-or-string` (e.g. `maxUnavailable: 1` or `"25%"`). */
export interface IntOrStringOptions extends BaseOptions<number | string> {
  /** Applies to string values only. */
  readonly pattern?: string;
  readonly maxLength?: number;
}

function intOrString<const O extends IntOrStringOptions>(
  opts: O,
): Schema<number | string, number | string, false, HasDefault<O>> {
  return node(
    {
      ...base(opts),
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      pattern: opts.pattern,
      maxLength: opts.maxLength,
      'x-kubernetes-int-or-string': true,
      'x-kubernetes-validations': validations(opts),
    },
    ('default' in opts) as HasDefault<O>,
  );
}

/** The regular expression the API server uses for resource.Quantity. */
export const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** A Kubernetes resource quantity (`500m`, `2Gi`, `4`). */
function quantity<const O extends BaseOptions<number | string>>(
  opts: O,
): Schema<number | string, number | string, false, HasDefault<O>> {
  return node(
    {
      ...base(opts),
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      pattern: QUANTITY_PATTERN,
      'x-kubernetes-int-or-string': true,
      'x-kubernetes-validations': validations(opts),
    },
    ('default' in opts) as HasDefault<O>,
  );
}

/** An object whose content the API server keeps as is (no pruning, no validation). */
function preserveUnknown<const O extends BaseOptions<Record<string, unknown>>>(
  opts: O,
): Schema<Record<string, unknown>, Record<string, unknown>, false, HasDefault<O>> {
  return node(
    {
      ...base(opts),
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
      'x-kubernetes-validations': validations(opts),
    },
    ('default' in opts) as HasDefault<O>,
  );
}

function array<S extends AnySchema, const O extends ArrayOptions<Infer<S>>>(
  item: S,
  opts: O,
): Schema<Infer<S>[], Defaulted<S>[], false, HasDefault<O>> {
  const listType = opts.listType;
  if (listType === 'map') {
    const keys = opts.listMapKeys ?? [];
    if (keys.length === 0) throw new Error('s.array: listType map needs listMapKeys');
    const itemJson = item.json;
    if (itemJson.type !== 'object' || !itemJson.properties) {
      throw new Error('s.array: listType map needs object items');
    }
    for (const key of keys) {
      const prop = itemJson.properties[key];
      if (!prop || !isScalar(prop)) throw new Error(`s.array: list map key ${key} must be a scalar property`);
      if (!(itemJson.required ?? []).includes(key) && prop.default === undefined) {
        throw new Error(`s.array: list map key ${key} must be required or defaulted`);
      }
    }
  } else if (opts.listMapKeys) {
    throw new Error('s.array: listMapKeys is only valid with listType map');
  }
  if (listType === 'set' && !isScalar(item.json)) throw new Error('s.array: listType set needs scalar items');
  return node(
    {
      ...base(opts),
      type: 'array',
      minItems: opts.minItems,
      maxItems: opts.maxItems,
      items: item.json,
      'x-kubernetes-list-type': listType,
      'x-kubernetes-list-map-keys': opts.listMapKeys ? [...opts.listMapKeys] : undefined,
      'x-kubernetes-validations': validations(opts),
    },
    ('default' in opts) as HasDefault<O>,
  );
}

/** A map with free-form keys (`additionalProperties`). */
function map<S extends AnySchema, const O extends MapOptions<Infer<S>>>(
  value: S,
  opts: O,
): Schema<Record<string, Infer<S>>, Record<string, Defaulted<S>>, false, HasDefault<O>> {
  return node(
    {
      ...base(opts),
      type: 'object',
      minProperties: opts.minProperties,
      maxProperties: opts.maxProperties,
      additionalProperties: value.json,
      'x-kubernetes-map-type': opts.mapType,
      'x-kubernetes-validations': validations(opts),
    },
    ('default' in opts) as HasDefault<O>,
  );
}

function object<P extends Shape, const O extends ObjectOptions<ObjectIn<P>>>(
  props: P,
  opts: O,
): Schema<ObjectIn<P>, ObjectOut<P>, false, HasDefault<O>> {
  const undocumented = Object.entries(props)
    .filter(([, p]) => !p.json.description?.trim())
    .map(([k]) => k);
  if (undocumented.length > 0) {
    throw new Error(`s.object: properties without a description: ${undocumented.join(', ')}`);
  }
  const properties: Record<string, JSONSchemaProps> = {};
  const required: string[] = [];
  for (const [key, p] of Object.entries(props)) {
    properties[key] = p.json;
    if (!p.optional && !p.hasDefault) required.push(key);
  }
  return node(
    {
      ...base(opts),
      type: 'object',
      minProperties: opts.minProperties,
      maxProperties: opts.maxProperties,
      properties,
      required: required.length > 0 ? required : undefined,
      'x-kubernetes-validations': validations(opts),
    },
    ('default' in opts) as HasDefault<O>,
  );
}

/** Marks a field as optional (not listed in the parent's `required`). */
function optional<I, O, D extends boolean>(schema: Schema<I, O, boolean, D>): Schema<I, O, true, D> {
  return { ...schema, optional: true };
}

/** Condition types every ymera kind uses (kstatus). */
export const COMMON_CONDITION_TYPES = ['Ready', 'Reconciling', 'Stalled'] as const;

/** Upstream pattern of metav1.Condition.type. */
const CONDITION_TYPE_PATTERN =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';
const CONDITION_REASON_PATTERN = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';

/**
 * A `metav1.Condition` list (listType map keyed by `type`), as in every
 * built-in API. `kindTypes` are the kind-specific condition types, listed in
 * the description after Ready, Reconciling and Stalled.
 */
function conditions(kindTypes: readonly string[] = [], maxItems = 16) {
  const types = [...COMMON_CONDITION_TYPES, ...kindTypes];
  const condition = object(
    {
      type: string({
        description: `Type of condition in CamelCase: ${types.join(', ')}.`,
        maxLength: 316,
        pattern: CONDITION_TYPE_PATTERN,
      }),
      status: enumOf(['True', 'False', 'Unknown'], {
        description: 'Status of the condition: True, False or Unknown.',
      }),
      observedGeneration: optional(
        integer({
          description:
            'The .metadata.generation the condition was set for; if it is older than the current generation, the condition is out of date.',
          format: 'int64',
          minimum: 0,
        }),
      ),
      lastTransitionTime: dateTime({
        description: 'Last time the condition changed from one status to another.',
      }),
      reason: string({
        description:
          'Programmatic identifier of the last transition, in CamelCase (e.g. InvalidSpec, RolledBack, InsufficientGPU).',
        minLength: 1,
        maxLength: 1024,
        pattern: CONDITION_REASON_PATTERN,
      }),
      message: string({
        description: 'Human-readable details about the transition; may be empty.',
        maxLength: 32768,
      }),
    },
    { description: 'One aspect of the current state of the object.' },
  );
  return array(condition, {
    description: `Latest observations of the object's state, one per type: ${types.join(', ')}. Ready summarises the others; Reconciling and Stalled follow kstatus.`,
    maxItems,
    listType: 'map',
    listMapKeys: ['type'],
  });
}

/** The builder namespace: `import { s } from './builder.ts'`. */
export const s = {
  string,
  integer,
  number,
  boolean,
  enum: enumOf,
  dateTime,
  intOrString,
  quantity,
  preserveUnknown,
  array,
  map,
  object,
  optional,
  conditions,
} as const;

/** The metav1.Condition shape, for status code that builds conditions. */
export type Condition = Infer<ReturnType<typeof conditions>>[number];
