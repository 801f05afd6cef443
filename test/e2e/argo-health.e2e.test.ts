// The Argo CD health scripts (resource_customizations/ymera.io/<Kind>/) judged
// by Argo CD's own Lua engine: tools/argo-health imports argo-cd's util/lua
// (built from the Go module proxy, cached like the cluster binaries) and runs
// every health_test.yaml case the way argocd-cm health customizations run.
// The testdata come from the kinds' real status functions (cases.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { healthCases, KINDS } from '../../controllers/argo-health/cases.ts';
import { repo } from './support.ts';

const customizations = path.join(repo, 'resource_customizations');
let runner = '';
let dir = '';

function runHealth(root: string): { code: number; out: string } {
  const r = spawnSync(runner, [root], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

beforeAll(() => {
  // a cold build (empty Go caches) took 170s on two shared cores; cached, it is instant
  runner = execFileSync('bash', [path.join(repo, 'tools/argo-health/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  }).trim();
  dir = mkdtempSync(path.join(tmpdir(), 'ymera-argo-health-'));
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Argo CD health checks run by Argo CD’s Lua engine', () => {
  it('every health_test.yaml case of the six kinds passes', () => {
    const { code, out } = runHealth(customizations);
    expect(out).not.toMatch(/^FAIL/m);
    expect(out).toContain(`${healthCases().length} cases, 0 failed`);
    expect(code).toBe(0);
    for (const kind of KINDS) expect(out).toContain(`ymera.io/${kind}/testdata/`);
  });

  it('reports a case whose expectation the script does not meet, and exits non-zero', () => {
    const copy = path.join(dir, 'resource_customizations');
    cpSync(customizations, copy, { recursive: true });
    const testFile = path.join(copy, 'ymera.io', 'Restore', 'health_test.yaml');
    const tests = parse(readFileSync(testFile, 'utf8')) as {
      tests: { healthStatus: { status: string; message: string }; inputPath: string }[];
    };
    const wrong = tests.tests.find((t) => t.inputPath === 'testdata/succeeded.yaml');
    if (!wrong) throw new Error('Restore has no succeeded case');
    wrong.healthStatus.status = 'Progressing';
    writeFileSync(testFile, stringify(tests));
    const { code, out } = runHealth(copy);
    expect(out).toMatch(/^FAIL .*Restore\/testdata\/succeeded\.yaml: want Progressing .*, got Healthy /m);
    expect(out).toContain(`${healthCases().length} cases, 1 failed`);
    expect(code).toBe(1);
  });

  it('reports a script that does not run (a Lua error) as a failure', () => {
    const copy = path.join(dir, 'broken');
    cpSync(path.join(customizations, 'ymera.io', 'Restore'), path.join(copy, 'ymera.io', 'Restore'), {
      recursive: true,
    });
    // string.* is off in argocd-cm scripts: a script that uses it fails in Argo CD too
    writeFileSync(
      path.join(copy, 'ymera.io', 'Restore', 'health.lua'),
      'return { status = "Healthy", message = string.lower("X") }\n',
    );
    const { code, out } = runHealth(copy);
    expect(out).toMatch(/^FAIL .*Restore\/testdata\/no-status\.yaml: .*string/m);
    expect(code).toBe(1);
  });
});
