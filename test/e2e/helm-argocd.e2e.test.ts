// The chart's Argo CD health checks (argocd.healthChecks): the rendered
// ConfigMap carries exactly the argocd-cm keys of the six kinds with the
// scripts of resource_customizations/ymera.io, and the README's merge command
// puts them into an argocd-cm on the real API server without touching the
// keys already there.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KINDS } from '../../controllers/argo-health/cases.ts';
import { freshNamespace, getJson, kubectl, kubectlOk, repo } from './support.ts';

const chartDir = path.join(repo, 'charts', 'ymera-operator');
const binDir = process.env.YMERA_BIN_DIR ?? path.join(homedir(), '.cache', 'ymera', 'bin', 'current');
const helm = existsSync(path.join(binDir, 'helm')) ? path.join(binDir, 'helm') : 'helm';
const release = 'ah';
const configMapName = `${release}-ymera-operator-argocd-health`;

type Obj = { kind: string; metadata: { name: string; namespace?: string }; data?: Record<string, string> };

function sh(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: repo, env: process.env, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function render(ns: string, args: string[] = []): Promise<Obj[]> {
  const r = await sh(helm, ['template', release, chartDir, '--namespace', ns, ...args]);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}):\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

const script = (kind: string) =>
  readFileSync(path.join(repo, 'resource_customizations', 'ymera.io', kind, 'health.lua'), 'utf8');

let releaseNs = '';
let argoNs = '';
beforeAll(async () => {
  releaseNs = await freshNamespace('helm-argocd');
  argoNs = await freshNamespace('argocd-e2e');
});
afterAll(async () => {
  for (const ns of [releaseNs, argoNs]) if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('chart: argocd.healthChecks', () => {
  it('renders nothing for Argo CD by default', async () => {
    const objs = await render('ml');
    expect(objs.filter((o) => o.metadata.name.endsWith('-argocd-health'))).toEqual([]);
  });

  it('renders the argocd-cm health keys of all six kinds, each the script of resource_customizations', async () => {
    const objs = await render('ml', ['--set', 'argocd.healthChecks.enabled=true']);
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === configMapName);
    expect(cm?.metadata.namespace).toBe('ml');
    expect(Object.keys(cm?.data ?? {}).sort()).toEqual(
      KINDS.map((k) => `resource.customizations.health.ymera.io_${k}`).sort(),
    );
    for (const kind of KINDS)
      expect(cm?.data?.[`resource.customizations.health.ymera.io_${kind}`]).toBe(script(kind));
  });

  it('rejects a value that is not a boolean, naming the field', async () => {
    const r = await sh(helm, [
      'template',
      release,
      chartDir,
      '--set-string',
      'argocd.healthChecks.enabled=yes',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/argocd.*healthChecks.*enabled|enabled.*boolean/s);
  });

  it('the README merge command adds the keys to an existing argocd-cm and keeps its other keys', async () => {
    const objs = await render(releaseNs, ['--set', 'argocd.healthChecks.enabled=true']);
    const cm = objs.find((o) => o.metadata.name === configMapName);
    await kubectlOk(['apply', '--server-side', '--field-manager=helm', '-f', '-'], JSON.stringify(cm));
    await kubectlOk([
      '-n',
      argoNs,
      'create',
      'configmap',
      'argocd-cm',
      '--from-literal=url=https://argocd.example.com',
    ]);
    // the command of README "Argo CD", with the namespaces of this test
    const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
    const command = /```sh\n(kubectl -n argocd patch configmap argocd-cm[^`]*)```/.exec(readme)?.[1];
    if (!command) throw new Error('README has no argocd-cm merge command');
    const r = await sh('bash', [
      '-c',
      command
        .replaceAll('-n argocd ', `-n ${argoNs} `)
        .replaceAll('<release-namespace>', releaseNs)
        .replaceAll('<release>', release),
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const merged = await getJson<Obj>(['-n', argoNs, 'get', 'configmap', 'argocd-cm']);
    expect(merged?.data?.url).toBe('https://argocd.example.com');
    for (const kind of KINDS)
      expect(merged?.data?.[`resource.customizations.health.ymera.io_${kind}`]).toBe(script(kind));
  });
});
