// The Argo CD health scripts (resource_customizations/ymera.io/<Kind>/
// health.lua and the chart's copies), composed from lua/<Kind>.lua (the
// kind's header comment, then its own rules) and lua/prelude.lua (what every
// script shares: the helpers, the missing-status and observedGeneration
// checks, Stalled → Degraded). Argo CD runs each script alone (argocd-cm has
// no way to share code between them), so the prelude is copied into each;
// `npm run health-fixtures` writes them and cases.test.ts fails when a
// written one is stale.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kind } from './cases.ts';

const dir = join(import.meta.dirname, 'lua');

export function healthScript(kind: Kind): string {
  const lines = readFileSync(join(dir, `${kind}.lua`), 'utf8').split('\n');
  const headerEnd = lines.findIndex((l) => !l.startsWith('--'));
  if (headerEnd <= 0)
    throw new Error(`lua/${kind}.lua must start with a comment saying what the kind's health means`);
  const prelude = readFileSync(join(dir, 'prelude.lua'), 'utf8').replace(/\n$/, '');
  return [...lines.slice(0, headerEnd), prelude, ...lines.slice(headerEnd)].join('\n');
}
