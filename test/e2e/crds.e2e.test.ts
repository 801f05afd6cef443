// The real API server judges the generated CRDs: every sample is accepted,
// and an invalid resource of each kind is rejected with a message that names
// the field (OpenAPI + CEL at admission).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadSamples, toYaml } from './samples.ts';
import { freshNamespace, getJson, kubectl, repo } from './support.ts';

const invalidDir = path.join(repo, 'test/e2e/invalid');
const invalidFiles = readdirSync(invalidDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('CRDs at admission', () => {
  let ns: string;
  beforeAll(async () => {
    ns = await freshNamespace('e2e-crd');
  });
  afterAll(async () => {
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('installs every CRD as Established with the ymera category and short names', async () => {
    const list = await getJson<{
      items: { spec: { group: string; names: { categories?: string[]; shortNames?: string[] } } }[];
    }>(['get', 'crd']);
    const ours = list?.items.filter((c) => c.spec.group === 'ymera.io') ?? [];
    expect(ours.length).toBeGreaterThanOrEqual(5);
    for (const crd of ours) {
      expect(crd.spec.names.categories).toContain('ymera');
      expect(crd.spec.names.shortNames?.length).toBeGreaterThan(0);
    }
    // the printer columns kubectl shows: Ready first, Age last, the kind's own between
    const crd = await getJson<{ spec: { versions: { additionalPrinterColumns?: { name: string }[] }[] } }>([
      'get',
      'crd',
      'inferenceservices.ymera.io',
    ]);
    const names = crd?.spec.versions[0]?.additionalPrinterColumns?.map((c) => c.name) ?? [];
    expect(names[0]).toBe('Ready');
    expect(names.at(-1)).toBe('Age');
    expect(names).toEqual(expect.arrayContaining(['URL', 'Model', 'Canary%', 'Replicas']));
  });

  it('accepts every sample (server-side dry run)', async () => {
    const samples = loadSamples(ns);
    expect(samples.map((s) => s.kind)).toEqual(
      expect.arrayContaining([
        'InferenceService',
        'LearningPipeline',
        'MaintenancePlan',
        'OptimizationLoop',
        'BackupPolicy',
      ]),
    );
    for (const s of samples) {
      const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], toYaml([s.object]));
      expect(r.stderr, `${s.file} must be accepted`).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it.each(invalidFiles)('rejects %s with a message naming the field', async (file) => {
    const text = readFileSync(path.join(invalidDir, file), 'utf8');
    const expected = /^# expect: (.+)$/m.exec(text)?.[1]?.trim();
    expect(expected, `${file} must say "# expect: <fragment>"`).toBeTruthy();
    const docs = parseAllDocuments(text).map((d) => d.toJS() as { metadata: { namespace?: string } });
    for (const doc of docs) if (doc.metadata.namespace !== undefined) doc.metadata.namespace = ns;
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], toYaml(docs));
    expect(r.code, `${file} must be rejected`).not.toBe(0);
    expect(r.stderr).toContain(expected);
  });
});
