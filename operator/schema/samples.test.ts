// Every sample in config/samples/ passes its kind's schema (as far as it can
// be checked offline: types, required fields, enums, bounds, patterns,
// unknown fields, list keys) and its controller-side validator; every file in
// test/e2e/invalid/ names the message the API server must answer with.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, openAPIV3Schema } from './crd.ts';
import { kindByName, kinds, validateSpec } from './kinds.ts';
import { validateValue } from './openapi.ts';
import { checkDnsSubdomain } from './validation.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: unknown;
  status?: unknown;
}

function load(path: string): Manifest[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => {
    expect(doc.errors, path).toEqual([]);
    return doc.toJS() as Manifest;
  });
}

/** The schema check without metadata (the API server owns its validation). */
function schemaErrors(obj: Manifest) {
  const def = kindByName(obj.kind)!;
  const schema = openAPIV3Schema(def);
  const { metadata: _metadata, ...rest } = obj;
  return validateValue(
    {
      ...schema,
      properties: {
        ...schema.properties,
        metadata: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
    },
    { ...rest, metadata: {} },
  );
}

describe('config/samples', () => {
  const dir = join(root, 'config/samples');
  it('has one sample per kind, named <kind>.yaml', () => {
    expect(readdirSync(dir).sort()).toEqual(kinds.map((k) => `${k.kind.toLowerCase()}.yaml`).sort());
  });

  describe.each(kinds.map((k) => [k.kind, k] as const))('%s', (_name, def) => {
    const docs = load(join(dir, `${def.kind.toLowerCase()}.yaml`));
    const obj = docs[0]!;

    it('is one object of the kind, in ymera-demo unless cluster-scoped', () => {
      expect(docs).toHaveLength(1);
      expect(obj.apiVersion).toBe(API_VERSION);
      expect(obj.kind).toBe(def.kind);
      expect(checkDnsSubdomain(obj.metadata.name)).toBeUndefined();
      expect(obj.metadata.namespace).toBe(def.scope === 'Namespaced' ? 'ymera-demo' : undefined);
      expect(obj.status).toBeUndefined();
    });

    it('passes the OpenAPI schema', () => {
      expect(schemaErrors(obj)).toEqual([]);
    });

    it('passes the controller-side validation', () => {
      expect(validateSpec(obj.kind, obj.spec, obj.metadata.namespace)).toEqual([]);
    });
  });
});

describe('test/e2e/invalid', () => {
  const dir = join(root, 'test/e2e/invalid');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  /** The kind a fixture file is for: <kind>.yaml or <kind>-<case>.yaml. */
  const kindOf = (file: string) =>
    kinds.find((k) => new RegExp(`^${k.kind.toLowerCase()}(-[a-z0-9-]+)?\\.yaml$`).test(file));

  it('has an invalid object for every kind, and only files named after a kind', () => {
    for (const k of kinds) expect(files).toContain(`${k.kind.toLowerCase()}.yaml`);
    expect(files.filter((f) => !kindOf(f))).toEqual([]);
  });

  describe.each(files.map((f) => [f] as const))('%s', (file) => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');

    it('names the expected message on its first line', () => {
      expect(text.split('\n')[0]).toMatch(/^# expect: \S.*$/);
    });

    it('is one object of the kind its name says', () => {
      const docs = load(path);
      expect(docs).toHaveLength(1);
      expect(docs[0]!.kind).toBe(kindOf(file)?.kind);
      expect(docs[0]!.apiVersion).toBe(API_VERSION);
    });
  });
});
