// The short version of `make chaos-outages` (bench/chaos-outages.ts): the API
// unreachable for 15 s (the operator's proxy cut, past its renew deadline),
// one 15 s MinIO outage and one leader failover on the local stack, then a
// real restart of the shared cluster's kube-apiserver (stopped 10 s, started
// again by `cluster.sh restart`, which never creates or deletes the cluster;
// skipped on a cluster this checkout did not make), each undone in a finally
// (and the cluster's stopped components started again in afterAll). Asserts
// what the issue promises after waiting for it: the operator (not restarted)
// reconciles a change within 10 s of the API being back (the restart: and the
// cluster is whole again); the BackupPolicy says StorageUnavailable
// during the outage, the operator lives, its reconciles stay under the bound
// and the condition clears by itself; a killed leader's successor converges
// every object and no two replicas write in the same period.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { API_RECOVERY_BOUND_S, runOutageChaos } from '../../bench/chaos-outages.ts';
import { repo } from './support.ts';

const existingCluster = process.env.YMERA_USE_EXISTING_CLUSTER === '1';

describe('chaos: outages (short)', () => {
  it('recovers from the API unreachable, a MinIO outage and a leader failover without help', async () => {
    const report = await runOutageChaos({
      faults: ['api-unreachable', 'minio-outage', 'leader-failover'],
      outageSeconds: 15,
      apiDownSeconds: 15,
      failoverObjects: 10,
      resultFile: '',
      log: (line) => process.stderr.write(`${line}\n`),
    });
    const byFault = new Map(report.faults.map((f) => [f.fault, f]));
    const explain = (name: string) => JSON.stringify(byFault.get(name as never), null, 1);

    const api = byFault.get('api-unreachable');
    expect(api, explain('api-unreachable')).toMatchObject({ lost: 0, orphaned: 0, operatorSurvived: true });
    expect(api?.recoverySeconds, explain('api-unreachable')).not.toBeNull();
    expect(api?.recoverySeconds ?? Infinity, explain('api-unreachable')).toBeLessThanOrEqual(
      API_RECOVERY_BOUND_S,
    );

    const minio = byFault.get('minio-outage');
    expect(minio, explain('minio-outage')).toMatchObject({
      lost: 0,
      orphaned: 0,
      operatorSurvived: true,
      conditionShown: true,
    });
    expect(minio?.recoverySeconds, explain('minio-outage')).not.toBeNull();
    expect(minio?.reconciles ?? Infinity, explain('minio-outage')).toBeLessThanOrEqual(
      minio?.reconcileBound ?? 0,
    );

    const failover = byFault.get('leader-failover');
    expect(failover, explain('leader-failover')).toMatchObject({
      lost: 0,
      orphaned: 0,
      operatorSurvived: true,
      doubleWrites: 0,
    });
    expect(failover?.recoverySeconds, explain('leader-failover')).not.toBeNull();

    expect(report.totals).toMatchObject({ faultsInjected: 3, lost: 0, orphaned: 0, failed: 0 });
  }, 900_000);

  describe.skipIf(existingCluster)('a real kube-apiserver restart', () => {
    afterAll(() => {
      // the fault restores in a finally; this only matters if the test process was cut short there.
      // Tried three times: every later e2e file needs the API (restart is a no-op on a healthy cluster)
      for (let attempt = 1; ; attempt++) {
        try {
          execFileSync('bash', [path.join(repo, 'test/e2e/cluster/cluster.sh'), 'restart'], {
            stdio: ['ignore', 'inherit', 'inherit'],
            timeout: 120_000,
          });
          return;
        } catch (e) {
          if (attempt === 3) throw e;
        }
      }
    }, 400_000);

    it('the same operator process reconciles a change within 10 s of /readyz, and the cluster is whole again', async () => {
      const report = await runOutageChaos({
        faults: ['apiserver-restart'],
        restartDownSeconds: 10,
        resultFile: '',
        log: (line) => process.stderr.write(`${line}\n`),
      });
      const restart = report.faults[0];
      const explain = JSON.stringify(restart, null, 1);
      expect(restart, explain).toMatchObject({
        fault: 'apiserver-restart',
        lost: 0,
        orphaned: 0,
        operatorSurvived: true,
        clusterHealthyAfter: true,
      });
      expect(restart?.recoverySeconds, explain).not.toBeNull();
      expect(restart?.recoverySeconds ?? Infinity, explain).toBeLessThanOrEqual(API_RECOVERY_BOUND_S);
      expect(restart?.reconciles ?? Infinity, explain).toBeLessThanOrEqual(restart?.reconcileBound ?? 0);
      expect(report.totals.failed, explain).toBe(0);
    }, 600_000);
  });
});
