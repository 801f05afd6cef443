// The short version of `make chaos-kill` (bench/chaos-kill.ts): the operator
// is SIGKILLed 6 times (3 of them right after a write, through the test-only
// hook YMERA_CHAOS_KILL_AFTER_WRITES) while ~24 changes to one set of the
// samples need reconciles; after a clean restart everything converges with 0
// orphaned children, 0 duplicate children and 0 lost status.
import { describe, expect, it } from 'vitest';
import { runKillChaos } from '../../bench/chaos-kill.ts';

describe('kill chaos (short)', () => {
  it('leaves no orphaned or duplicate children and no lost status after SIGKILLs at writes and at random times', async () => {
    const report = await runKillChaos({
      kills: 6,
      reconciles: 24,
      sets: 1,
      seed: 27,
      convergeTimeoutMs: 150_000,
    });
    expect(report.faultsInjected.total).toBe(6);
    // the hook fired at least once: the worst moments were hit, not only random ones
    expect(report.faultsInjected.afterWrite).toBeGreaterThan(0);
    expect(report.reconcilesDriven).toBe(24);
    expect(report.objectsChecked).toBe(5);
    expect(report.findings).toEqual({ lost: [], orphaned: [], duplicates: [], notConverged: [] });
    expect(report.secondsToConvergeAfterLastKill).not.toBeNull();
    expect(report.forbidden).toBe(0);
  }, 420_000);
});
