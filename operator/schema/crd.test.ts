import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cron } from 'croner';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CRON_REGEX } from './common.ts';
import {
  crdFileName,
  GENERATED_HEADER,
  openAPIV3Schema,
  renderCrdYaml,
  toCustomResourceDefinition,
} from './crd.ts';
import { kinds } from './kinds.ts';
import { collectValidations, lintSchema, undocumentedFields } from './openapi.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe.each(kinds.map((k) => [k.kind, k] as const))('%s CRD', (_name, def) => {
  const crd = toCustomResourceDefinition(def) as {
    metadata: { name: string };
    spec: {
      group: string;
      scope: string;
      names: { kind: string; plural: string; shortNames: string[]; categories: string[] };
      versions: {
        name: string;
        served: boolean;
        storage: boolean;
        subresources: { status: object };
        additionalPrinterColumns: { name: string; jsonPath: string; type: string }[];
        schema: { openAPIV3Schema: Record<string, unknown> };
      }[];
    };
  };
  const version = crd.spec.versions[0]!;

  it('names the group, version, category and a short name', () => {
    expect(crd.metadata.name).toBe(`${def.plural}.ymera.io`);
    expect(crd.spec.group).toBe('ymera.io');
    expect(crd.spec.versions.map((v) => v.name)).toEqual(['v1alpha1']);
    expect(version.served && version.storage).toBe(true);
    expect(crd.spec.names.categories).toEqual(['ymera']);
    expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
    expect(version.subresources).toEqual({ status: {} });
  });

  it('defaults status to an observedGeneration no object has, so kstatus reads a new object as InProgress', () => {
    const status = (
      version.schema.openAPIV3Schema as {
        properties: {
          status: { default?: unknown; properties: { observedGeneration: { minimum: number } } };
        };
      }
    ).properties.status;
    expect(status.default).toEqual({ observedGeneration: 0 });
    // the API server rejects a CRD whose default breaks its own schema
    expect(status.properties.observedGeneration.minimum).toBeLessThanOrEqual(0);
  });

  it('has the scope the API asks for', () => {
    expect(crd.spec.scope).toBe(def.kind === 'MaintenancePlan' ? 'Cluster' : 'Namespaced');
  });

  it('documents every field', () => {
    expect(undocumentedFields(openAPIV3Schema(def))).toEqual([]);
    expect(def.description.length).toBeGreaterThan(40);
  });

  it('is structural and bounded (maxItems/maxLength for CEL cost estimation)', () => {
    const problems = lintSchema(openAPIV3Schema(def)).filter(
      (p) => !/^(apiVersion|kind): string without maxLength$/.test(p),
    );
    expect(problems).toEqual([]);
  });

  it('prints Ready, a phase, kind-specific columns and Age', () => {
    const cols = version.additionalPrinterColumns;
    expect(cols[0]).toMatchObject({
      name: 'Ready',
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
    });
    expect(cols[1]).toMatchObject({ name: 'Phase', jsonPath: '.status.phase' });
    expect(cols.at(-1)).toMatchObject({ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' });
    expect(cols.length).toBeGreaterThanOrEqual(4);
    // Every column's path exists in the schema.
    const schema = openAPIV3Schema(def);
    for (const col of cols.slice(0, -1)) {
      const path = col.jsonPath
        .replace(/\[\?\(.*?\)\]/, '')
        .split('.')
        .filter(Boolean);
      let node: Record<string, unknown> | undefined = schema as Record<string, unknown>;
      for (const key of path) {
        const n = node as {
          properties?: Record<string, Record<string, unknown>>;
          items?: Record<string, unknown>;
        };
        node = n.properties?.[key] ?? n.items?.['properties']?.[key as never];
      }
      expect(node, `${col.name}: ${col.jsonPath}`).toBeDefined();
    }
  });

  it('has status.observedGeneration, status.conditions and status.phase', () => {
    const status = def.status.json.properties!;
    expect(Object.keys(status)).toEqual(
      expect.arrayContaining(['observedGeneration', 'conditions', 'phase']),
    );
    expect(status.conditions!['x-kubernetes-list-map-keys']).toEqual(['type']);
    for (const t of def.conditionTypes) expect(status.conditions!.description).toContain(t);
  });

  it('gives every CEL rule a message', () => {
    for (const v of collectValidations(openAPIV3Schema(def))) {
      expect(v.message ?? v.messageExpression, v.rule).toBeTruthy();
    }
  });
});

describe('generated files', () => {
  for (const dir of ['crds', 'charts/ymera-operator/crds']) {
    it(`${dir}/ matches the schema (run npm run crds if this fails)`, () => {
      const expected = new Map(kinds.map((def) => [crdFileName(def), renderCrdYaml(def)]));
      const present = readdirSync(join(root, dir)).filter((f) => f.endsWith('.ymera.io.yaml'));
      expect(present.sort()).toEqual([...expected.keys()].sort());
      for (const [name, content] of expected) {
        expect(readFileSync(join(root, dir, name), 'utf8'), `${dir}/${name} is stale`).toBe(content);
      }
    });
  }

  it('starts with the generated header and parses back to the CRD', () => {
    for (const def of kinds) {
      const text = renderCrdYaml(def);
      expect(text.startsWith(GENERATED_HEADER)).toBe(true);
      expect(parse(text)).toEqual(toCustomResourceDefinition(def));
    }
  });
});

describe('CEL rules the API asks for', () => {
  const rulesOf = (kind: string) => {
    const def = kinds.find((k) => k.kind === kind)!;
    return collectValidations(openAPIV3Schema(def));
  };
  const has = (kind: string, path: string, fragment: string) =>
    expect(
      rulesOf(kind).some((v) => v.path === path && v.rule.includes(fragment)),
      `${kind} ${path}: ${fragment}`,
    ).toBe(true);

  it('InferenceService', () => {
    has('InferenceService', 'spec.scaling', 'self.minReplicas <= self.maxReplicas');
    has('InferenceService', 'spec.model.uri', "self.startsWith('s3://')");
    has('InferenceService', 'spec.model.uri', "self.startsWith('pvc://')");
    const canary = openAPIV3Schema(kinds.find((k) => k.kind === 'InferenceService')!).properties!.spec!
      .properties!.rollout!.properties!.canaryPercent!;
    expect([canary.minimum, canary.maximum]).toEqual([0, 100]);
  });

  it('LearningPipeline', () => {
    has('LearningPipeline', 'spec.steps', 'self.exists(t, t.name == d)');
    has('LearningPipeline', 'spec.steps[*]', '!(self.name in self.dependsOn)');
    has('LearningPipeline', 'spec.schedule', 'self.matches(');
    has('LearningPipeline', 'spec', 'self.model.outputArtifact');
    const steps = openAPIV3Schema(kinds.find((k) => k.kind === 'LearningPipeline')!).properties!.spec!
      .properties!.steps!;
    expect(steps['x-kubernetes-list-type']).toBe('map'); // step names are unique
    expect(steps['x-kubernetes-list-map-keys']).toEqual(['name']);
  });

  it('MaintenancePlan', () => {
    has('MaintenancePlan', 'spec.window.schedule', 'self.matches(');
    const threshold = openAPIV3Schema(kinds.find((k) => k.kind === 'MaintenancePlan')!).properties!.spec!
      .properties!.predictor!.properties!.threshold!;
    expect([threshold.minimum, threshold.maximum]).toEqual([0, 1]);
  });

  it('OptimizationLoop', () => {
    has('OptimizationLoop', 'spec.parameters[*]', 'self.min <= self.max');
    has('OptimizationLoop', 'spec.parameters[*]', 'has(self.values) ?');
  });

  it('BackupPolicy and Restore', () => {
    has('BackupPolicy', 'spec.storage', 'has(self.s3)');
    has('BackupPolicy', 'spec.schedule', 'self.matches(');
    has('BackupPolicy', 'spec.drill.schedule', 'self.matches(');
    has('Restore', 'spec', 'self == oldSelf');
  });

  it('use no backslashes in CEL string literals (escapes differ between CEL and RE2)', () => {
    for (const def of kinds) {
      for (const v of collectValidations(openAPIV3Schema(def))) expect(v.rule, v.rule).not.toContain('\\');
    }
  });
});

describe('cron regex (admission) agrees with croner (controller)', () => {
  const re = new RegExp(CRON_REGEX.replace('(?i)', ''), 'i');
  const valid = [
    '* * * * *',
    '*/5 * * * *',
    '0 2 * * *',
    '0 2 * * 6',
    '30 3 1,15 * *',
    '0 0-23/2 * * 1-5',
    '15 4 ? * MON-FRI',
    '0 12 1 jan,jul *',
    '0 0 31 12 7',
    '@daily',
    '@hourly',
    '@weekly',
    '@monthly',
    '@yearly',
    '@annually',
    '@midnight',
  ];
  const invalid = [
    '',
    '* * * *',
    '* * * * * *',
    '60 * * * *',
    '* 24 * * *',
    '* * 32 * *',
    '* * * 13 *',
    '* * * * 8',
    '@every 5m',
    '@reboot',
    'TZ=UTC 0 2 * * *',
    ' 0 2 * * *',
    '0 2 * * * ',
    'a b c d e',
  ];
  it.each(valid)('accepts %j', (expr) => {
    expect(re.test(expr)).toBe(true);
    expect(() => new Cron(expr, { paused: true }).stop()).not.toThrow();
  });
  it.each(invalid)('rejects %j', (expr) => {
    expect(re.test(expr)).toBe(false);
  });
});
