import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BACKUP_DRILL_PASSED, BACKUP_LAST_SUCCESS_TIMESTAMP, BackupMetrics } from './metrics.ts';

const labels = { namespace: 'team-a', backuppolicy: 'nightly' };

async function value(registry: Registry, name: string): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  const values = (await metric?.get())?.values ?? [];
  return values.find((v) => v.labels.namespace === 'team-a' && v.labels.backuppolicy === 'nightly')?.value;
}

describe('BackupMetrics', () => {
  it('exports the last success and the drill result from status, and forgets a drill-less policy', async () => {
    const registry = new Registry();
    const m = new BackupMetrics(registry);
    m.observe(labels, '2026-12-04T10:00:00Z', 'Failed');
    expect(await value(registry, BACKUP_LAST_SUCCESS_TIMESTAMP)).toBe(
      Date.parse('2026-12-04T10:00:00Z') / 1000,
    );
    expect(await value(registry, BACKUP_DRILL_PASSED)).toBe(0);
    m.drill(labels, true);
    expect(await value(registry, BACKUP_DRILL_PASSED)).toBe(1);
    m.observe(labels, undefined, undefined);
    expect(await value(registry, BACKUP_DRILL_PASSED)).toBeUndefined();
    m.forget(labels);
    expect(await value(registry, BACKUP_LAST_SUCCESS_TIMESTAMP)).toBeUndefined();
  });
});
