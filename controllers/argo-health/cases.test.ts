import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { healthCases, healthFiles, KINDS } from './cases.ts';
import { healthScript } from './scripts.ts';

const root = join(import.meta.dirname, '../../resource_customizations/ymera.io');
const chartScripts = join(import.meta.dirname, '../../charts/ymera-operator/files/argocd-health');

describe('Argo CD health fixtures', () => {
  it('testdata and health_test.yaml match what the status functions produce (npm run health-fixtures)', () => {
    for (const [path, text] of healthFiles()) {
      expect(readFileSync(join(root, path), 'utf8'), path).toBe(text);
    }
  });

  it('no testdata file is left over from a case that is gone', () => {
    const wanted = new Set(healthFiles().keys());
    for (const kind of KINDS) {
      for (const f of readdirSync(join(root, kind, 'testdata'))) {
        expect(wanted.has(`${kind}/testdata/${f}`), `${kind}/testdata/${f}`).toBe(true);
      }
    }
  });

  it('covers every health each kind can report: Healthy, Progressing, Degraded and Suspended where it suspends', () => {
    const by = (kind: string) =>
      new Set(
        healthCases()
          .filter((c) => c.kind === kind)
          .map((c) => c.expected.status),
      );
    for (const kind of KINDS) {
      expect([...by(kind)].sort(), kind).toEqual(
        expect.arrayContaining(
          kind === 'OptimizationLoop'
            ? ['Degraded', 'Progressing', 'Suspended']
            : ['Degraded', 'Progressing'],
        ),
      );
    }
    for (const kind of ['LearningPipeline', 'MaintenancePlan', 'OptimizationLoop', 'BackupPolicy'])
      expect(by(kind).has('Suspended'), kind).toBe(true);
  });

  it('each health.lua is its template: lua/<Kind>.lua around the shared lua/prelude.lua (npm run health-fixtures)', () => {
    for (const kind of KINDS) {
      const script = healthScript(kind);
      expect(readFileSync(join(root, kind, 'health.lua'), 'utf8'), kind).toBe(script);
      expect(script, kind).toContain('Waiting for the operator to observe generation');
    }
  });

  it('the chart ships the same scripts as resource_customizations', () => {
    for (const kind of KINDS) {
      expect(readFileSync(join(chartScripts, `${kind}.lua`), 'utf8'), kind).toBe(
        readFileSync(join(root, kind, 'health.lua'), 'utf8'),
      );
    }
  });
});
