// Fuzzing against the real API server with the operator running: mutated
// config/samples/ specs of every kind (seeded: wrong types, out-of-range
// numbers, missing fields, huge and non-ASCII strings, unknown fields, fields
// redrawn within their schema; operator/schema/fuzz.ts) are each either
// rejected at admission with a field path in the message, or accepted and
// then given a status (Ready or Stalled, with a message, for their
// generation). Afterwards the operator is alive and healthy, and the
// namespace is deletable: every finalizer is released.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KindDefinition } from '../../operator/schema/crd.ts';
import { API_VERSION } from '../../operator/schema/crd.ts';
import { mutated } from '../../operator/schema/fuzz.ts';
import type { Json } from '../../operator/schema/fuzz.ts';
import { kinds } from '../../operator/schema/kinds.ts';
import type { OperatorProcess } from './support.ts';
import { eventually, freshNamespace, getJson, kubectl, repo, startOperator } from './support.ts';

const SEED = 18;
/** Mutated samples per kind. */
const PER_KIND = 50;
const FUZZ_LABEL = 'ymera.io/fuzz';

type Condition = { type: string; status: string; reason?: string; message?: string };
type Obj = {
  metadata: { name: string; namespace?: string; generation?: number; labels?: Record<string, string> };
  status?: { observedGeneration?: number; conditions?: Condition[] };
};

function sampleSpec(def: KindDefinition): Json {
  const file = path.join(repo, 'config/samples', `${def.kind.toLowerCase()}.yaml`);
  return (parse(readFileSync(file, 'utf8')) as { spec: Json }).spec;
}

/** A status for its generation that says Ready (either way) or Stalled, with a message. */
function hasVerdict(o: Obj): boolean {
  if (o.status?.observedGeneration !== o.metadata.generation) return false;
  return (o.status?.conditions ?? []).some(
    (c) =>
      (c.type === 'Stalled' && c.status === 'True' && !!c.message) ||
      (c.type === 'Ready' && (c.status === 'True' || c.status === 'False') && !!c.message),
  );
}

/** Runs `f` over `items` with at most `n` at a time. */
async function pool<T>(items: readonly T[], n: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}

describe('fuzzed specs of every kind against the API server and the operator', () => {
  let ns: string;
  let op: OperatorProcess | undefined;
  const accepted = new Map<string, string[]>();
  const outcomes: Record<string, { rejected: number; accepted: number }> = {};

  beforeAll(async () => {
    ns = await freshNamespace('e2e-fuzz');
    op = await startOperator('op-fuzz', [
      `--watch-namespaces=${ns}`,
      '--cluster-scoped-kinds=true', // the fuzzed MaintenancePlans are cluster-scoped
    ]);
  });

  afterAll(async () => {
    // MaintenancePlans are not in the namespace: delete them while the operator still runs
    await kubectl([
      'delete',
      'maintenanceplans.ymera.io',
      '-l',
      `${FUZZ_LABEL}=${ns}`,
      '--wait=true',
      '--timeout=60s',
    ]);
    await op?.stop();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('rejects each at admission with a field path, or accepts it and gives it a status', async () => {
    for (const def of kinds) {
      const sample = sampleSpec(def);
      const specs = fc.sample(mutated(sample, { hugeLength: 20_000 }, def.spec.json), {
        seed: SEED,
        numRuns: PER_KIND,
      });
      const clusterScoped = def.scope === 'Cluster';
      const counts = { rejected: 0, accepted: 0 };
      outcomes[def.kind] = counts;
      const names: string[] = [];
      accepted.set(def.kind, names);
      await pool(
        specs.map((spec, i) => ({ spec, i })),
        4,
        async ({ spec, i }) => {
          const name = clusterScoped ? `${ns}-${i}` : `fuzz-${i}`;
          if (clusterScoped && spec && typeof spec === 'object' && !Array.isArray(spec)) {
            // never select a node of the shared cluster: a plan that passed could cordon and drain it
            spec.nodeSelector = { matchLabels: { [FUZZ_LABEL]: 'no-such-node' } };
          }
          const manifest = {
            apiVersion: API_VERSION,
            kind: def.kind,
            metadata: {
              name,
              ...(clusterScoped ? {} : { namespace: ns }),
              labels: { [FUZZ_LABEL]: ns },
            },
            spec,
          };
          const r = await kubectl(['create', '-f', '-'], JSON.stringify(manifest));
          if (r.code === 0) {
            counts.accepted++;
            names.push(name);
            return;
          }
          counts.rejected++;
          // the API server's answer names the field: spec.x.y: ..., or unknown field "spec.x"
          expect(r.stderr, `${def.kind} ${JSON.stringify(spec).slice(0, 500)}`).toMatch(/\bspec[.[:]/);
        },
      );
    }
    process.stdout.write(`fuzz outcomes per kind: ${JSON.stringify(outcomes)}\n`);
    for (const def of kinds) {
      // the mutations reach both sides of admission, so both halves of the property are exercised
      expect(outcomes[def.kind]!.rejected, def.kind).toBeGreaterThan(0);
      expect(outcomes[def.kind]!.accepted, def.kind).toBeGreaterThan(0);
    }

    for (const def of kinds) {
      const names = new Set(accepted.get(def.kind));
      const listArgs =
        def.scope === 'Cluster'
          ? ['get', `${def.plural}.${def.group}`, '-l', `${FUZZ_LABEL}=${ns}`]
          : ['get', `${def.plural}.${def.group}`, '-n', ns];
      await eventually(
        `a status (Ready or Stalled with a message) on every accepted ${def.kind}`,
        async () => {
          const list = await getJson<{ items: Obj[] }>(listArgs);
          const items = (list?.items ?? []).filter((o) => names.has(o.metadata.name));
          const without = items.filter((o) => !hasVerdict(o)).map((o) => o.metadata.name);
          if (items.length !== names.size) throw new Error(`${names.size - items.length} missing`);
          if (without.length > 0) throw new Error(`no verdict yet: ${without.slice(0, 10).join(', ')}`);
          return true;
        },
        120_000,
        2_000,
      );
    }
    expect(op?.alive()).toBe(true);
    const health = await fetch(`${op!.healthUrl}/healthz`);
    expect(health.status).toBe(200);
  }, 600_000);

  it('stays alive, and the namespace is deletable (every finalizer released)', async () => {
    const r = await kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=180s']);
    expect(r.code, r.stderr).toBe(0);
    await eventually(
      `namespace ${ns} to be gone`,
      async () => (await getJson(['get', 'namespace', ns])) === undefined,
      60_000,
    );
    const plans = await kubectl([
      'delete',
      'maintenanceplans.ymera.io',
      '-l',
      `${FUZZ_LABEL}=${ns}`,
      '--wait=true',
      '--timeout=60s',
    ]);
    expect(plans.code, plans.stderr).toBe(0);
    expect(op?.alive()).toBe(true);
  }, 300_000);
});
