// kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, what Flux health
// checks, kpt and cli-utils' apply --wait use) reading the same fixtures
// the Argo CD health checks are tested on: tools/kstatus (built from the Go
// module proxy, cached like the cluster binaries) computes each fixture's
// status, and it must be what the case means (kstatusOf in cases.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { healthCases, KINDS, kstatusOf } from '../../controllers/argo-health/cases.ts';
import { repo } from './support.ts';

const fixtures = path.join(repo, 'resource_customizations', 'ymera.io');
let bin = '';
let dir = '';

type Line = { path: string; status?: string; message?: string; error?: string };

export function kstatusBinary(): string {
  // cold (modules downloaded) ~25s on two shared cores; cached, instant
  return execFileSync('bash', [path.join(repo, 'tools/kstatus/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 300_000,
  }).trim();
}

function kstatus(...args: string[]): { code: number; lines: Line[] } {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  const lines = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
  return { code: r.status ?? -1, lines };
}

beforeAll(() => {
  bin = kstatusBinary();
  dir = mkdtempSync(path.join(tmpdir(), 'ymera-kstatus-'));
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('kstatus reads every kind’s status fixtures as they mean', () => {
  it('each fixture of the six kinds: InProgress, Current or Failed as its case says', () => {
    const { code, lines } = kstatus(fixtures);
    expect(lines.filter((l) => l.error)).toEqual([]);
    expect(code).toBe(0);
    const got = new Map(lines.map((l) => [path.relative(fixtures, l.path), l.status]));
    const cases = healthCases();
    expect(got.size).toBe(cases.length);
    const mismatches = cases
      .map((c) => ({ file: `${c.kind}/testdata/${c.file}.yaml`, ...kstatusOf(c) }))
      .filter((c) => got.get(c.file) !== c.kstatus)
      .map((c) => `${c.file}: kstatus ${got.get(c.file)}, meant ${c.kstatus} (${c.why})`);
    expect(mismatches).toEqual([]);
    for (const kind of KINDS) {
      const seen = new Set(
        cases.filter((c) => c.kind === kind).map((c) => got.get(`${kind}/testdata/${c.file}.yaml`)),
      );
      expect([...seen].sort(), kind).toEqual(['Current', 'Failed', 'InProgress']);
    }
  });

  it('tells a status the operator has not observed (observedGeneration behind) and a Stalled one apart from Current', () => {
    const meta = { name: 'x', namespace: 'ml', generation: 2 };
    const ready = { type: 'Ready', status: 'True', reason: 'Reconciled', message: 'ok' };
    const objects = {
      behind: { status: { observedGeneration: 1, conditions: [ready] } },
      stalled: {
        status: {
          observedGeneration: 2,
          conditions: [{ type: 'Stalled', status: 'True', reason: 'InvalidSpec', message: 'spec.x: bad' }],
        },
      },
      current: { status: { observedGeneration: 2, conditions: [ready] } },
    };
    for (const [name, o] of Object.entries(objects))
      writeFileSync(
        path.join(dir, `${name}.yaml`),
        stringify({ apiVersion: 'ymera.io/v1alpha1', kind: 'Restore', metadata: meta, ...o }),
      );
    const { code, lines } = kstatus(...Object.keys(objects).map((n) => path.join(dir, `${n}.yaml`)));
    expect(code).toBe(0);
    expect(lines.map((l) => [path.basename(l.path), l.status, l.message])).toEqual([
      ['behind.yaml', 'InProgress', 'Restore generation is 2, but latest observed generation is 1'],
      ['stalled.yaml', 'Failed', 'spec.x: bad'],
      ['current.yaml', 'Current', 'Resource is Ready'],
    ]);
  });

  it('reports an object it cannot read as an error and exits non-zero', () => {
    writeFileSync(path.join(dir, 'bad.yaml'), 'metadata: [');
    const { code, lines } = kstatus(path.join(dir, 'bad.yaml'));
    expect(lines).toHaveLength(1);
    expect(lines[0]?.error).toBeTruthy();
    expect(code).toBe(1);
  });
});
