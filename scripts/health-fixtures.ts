// Writes resource_customizations/ymera.io/<Kind>/testdata/*.yaml and
// health_test.yaml from the kinds' status functions (controllers/argo-health/
// cases.ts), and each health.lua, in resource_customizations and the chart,
// from its template (controllers/argo-health/scripts.ts). Run after changing a
// status function or a health script: `npm run health-fixtures`.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { healthFiles, KINDS } from '../controllers/argo-health/cases.ts';
import { healthScript } from '../controllers/argo-health/scripts.ts';

const root = join(import.meta.dirname, '../resource_customizations/ymera.io');
const chart = join(import.meta.dirname, '../charts/ymera-operator/files/argocd-health');
mkdirSync(chart, { recursive: true });
for (const kind of KINDS) {
  rmSync(join(root, kind, 'testdata'), { recursive: true, force: true });
  const script = healthScript(kind);
  writeFileSync(join(root, kind, 'health.lua'), script);
  writeFileSync(join(chart, `${kind}.lua`), script);
}
for (const [path, text] of healthFiles()) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}
for (const kind of KINDS)
  process.stdout.write(`${kind}: ${readdirSync(join(root, kind, 'testdata')).length} cases\n`);
