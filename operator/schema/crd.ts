// Kind definitions (names, scope, printer columns, spec and status schemas)
// and their rendering as apiextensions.k8s.io/v1 CustomResourceDefinitions.
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { AnySchema, JSONSchemaProps, Validation } from './builder.ts';
import { lintSchema } from './openapi.ts';

export const GROUP = 'ymera.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const CATEGORY = 'ymera';

/** A ymera custom resource as read from the API server. */
export interface CustomResource<Kind extends string, Spec, Status> {
  apiVersion: typeof API_VERSION;
  kind: Kind;
  metadata: V1ObjectMeta;
  spec: Spec;
  status?: Status;
}

export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description: string;
  /** 0 (default): shown by `kubectl get`; 1: only with `-o wide`. */
  readonly priority?: number;
  readonly format?: string;
}

export interface KindDefinition<Spec extends AnySchema = AnySchema, Status extends AnySchema = AnySchema> {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly listKind: string;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly scope: 'Namespaced' | 'Cluster';
  /** What the kind is for; the top of `kubectl explain <kind>`. */
  readonly description: string;
  readonly spec: Spec;
  readonly status: Status;
  readonly printerColumns: readonly PrinterColumn[];
  /** Condition types this kind reports besides Ready, Reconciling and Stalled. */
  readonly conditionTypes: readonly string[];
  /** Rules on the whole object (may use `self.metadata.name`, `self.spec`). */
  readonly validations?: readonly Validation[];
}

type KindInput<Spec extends AnySchema, Status extends AnySchema> = Omit<
  KindDefinition<Spec, Status>,
  'group' | 'version' | 'categories' | 'listKind' | 'singular'
> &
  Partial<Pick<KindDefinition<Spec, Status>, 'categories' | 'listKind' | 'singular'>>;

/** Fills in group, version, category, list kind and singular for a ymera kind. */
export function defineKind<Spec extends AnySchema, Status extends AnySchema>(
  input: KindInput<Spec, Status>,
): KindDefinition<Spec, Status> {
  return {
    group: GROUP,
    version: VERSION,
    categories: [CATEGORY],
    listKind: `${input.kind}List`,
    singular: input.kind.toLowerCase(),
    ...input,
  };
}

/** Columns every kind starts with (Ready) and ends with (Age). */
export const READY_COLUMN: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether the resource is ready (the Ready condition).',
};
export const AGE_COLUMN: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the resource was created.',
};

/** `crds/<plural>.<group>.yaml` */
export function crdFileName(def: KindDefinition): string {
  return `${def.plural}.${def.group}.yaml`;
}

/** The CRD's metadata.name. */
export function crdName(def: KindDefinition): string {
  return `${def.plural}.${def.group}`;
}

/**
 * The API server fills this in on every read of an object the operator has
 * not written status to yet. kstatus (Flux, kpt, cli-utils) reads an object
 * without status as Current, i.e. ready before the operator looked at it;
 * observedGeneration 0 never equals metadata.generation (1 or more), so it
 * reads InProgress until the operator reports. Flux's CRDs do the same.
 */
export const STATUS_DEFAULT = { observedGeneration: 0 } as const;

/** The openAPIV3Schema of a kind: apiVersion, kind, metadata, spec, status. */
export function openAPIV3Schema(def: KindDefinition): JSONSchemaProps {
  const schema: JSONSchemaProps = {
    description: def.description,
    type: 'object',
    properties: {
      apiVersion: {
        description:
          'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
        type: 'string',
      },
      kind: {
        description:
          'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
        type: 'string',
      },
      // The API server documents metadata itself (ObjectMeta) and forbids
      // anything but name/generateName constraints here, a description included.
      metadata: { type: 'object' },
      spec: def.spec.json,
      status: { ...def.status.json, default: { ...STATUS_DEFAULT } },
    },
    required: ['spec'],
  };
  if (def.validations && def.validations.length > 0)
    schema['x-kubernetes-validations'] = [...def.validations];
  return schema;
}

/**
 * The apiextensions.k8s.io/v1 CustomResourceDefinition of a kind. Throws if
 * the schema breaks a rule (see lintSchema), listing every problem, e.g. the
 * fields without a description.
 */
export function toCustomResourceDefinition(def: KindDefinition): Record<string, unknown> {
  const schema = openAPIV3Schema(def);
  const problems = lintSchema(schema).filter((p) => !p.startsWith('apiVersion') && !p.startsWith('kind:'));
  if (problems.length > 0) {
    throw new Error(`${def.kind} schema is invalid:\n  ${problems.join('\n  ')}`);
  }
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: crdName(def),
      labels: {
        'app.kubernetes.io/name': 'ymera-operator',
        'app.kubernetes.io/part-of': 'ymera',
      },
    },
    spec: {
      group: def.group,
      names: {
        kind: def.kind,
        listKind: def.listKind,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: [...def.categories],
      },
      scope: def.scope,
      versions: [
        {
          name: def.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

export const GENERATED_HEADER = '# generated by npm run crds — do not edit\n';

/** The YAML file content for a kind's CRD (header comment included). */
export function renderCrdYaml(def: KindDefinition): string {
  return (
    GENERATED_HEADER +
    stringify(toCustomResourceDefinition(def), { lineWidth: 0, aliasDuplicateObjects: false })
  );
}
