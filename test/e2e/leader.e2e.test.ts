// Two operator processes share one Lease (the chart's, the one its
// ServiceAccount may hold): only the leader reconciles, a killed leader is
// replaced within the lease duration, a leader stopped with SIGTERM releases
// the lease for an immediate hand-over, and a leader paused past its lease
// (SIGSTOP) writes nothing once it runs again: it exits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSamples, resourceRef, toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  operatorLease,
  startOperator,
  sumMetric,
  untilObserved,
} from './support.ts';

const LEASE_SECONDS = 6;
const RETRY_SECONDS = 1;
const leaseFlags = (ns: string) => [
  `--lease-duration-seconds=${LEASE_SECONDS}`,
  '--renew-deadline-seconds=4',
  `--retry-period-seconds=${RETRY_SECONDS}`,
  `--watch-namespaces=${ns}`,
];

const MUTATING_VERBS = ['CREATE', 'UPDATE', 'PATCH', 'APPLY', 'DELETE'];
/** Mutating requests a process has sent, by its rest_client_requests_total. */
const writesIn = (metricsText: string) =>
  MUTATING_VERBS.reduce(
    (sum, verb) => sum + (sumMetric(metricsText, 'rest_client_requests_total', { verb }) ?? 0),
    0,
  );

interface Lease {
  spec: { holderIdentity?: string | null; leaseTransitions?: number };
}
const readLease = () => {
  const { namespace, name } = operatorLease();
  return getJson<Lease>(['get', 'lease', '-n', namespace, name]);
};

describe('leader election', () => {
  let ns: string;
  const ops: OperatorProcess[] = [];

  beforeAll(async () => {
    ns = await freshNamespace('e2e-le');
    ops.push(await startOperator('op-a', leaseFlags(ns)));
    ops.push(await startOperator('op-b', leaseFlags(ns)));
  });

  afterAll(async () => {
    for (const op of ops) await op.stop('SIGKILL');
    if (ns) {
      // finalizers would block the namespace without an operator: drop them
      const list = await getJson<{ items: { metadata: { name: string } }[] }>([
        'get',
        'inferenceservices',
        '-n',
        ns,
      ]);
      for (const item of list?.items ?? []) {
        await kubectl([
          'patch',
          'inferenceservice',
          '-n',
          ns,
          item.metadata.name,
          '--type=merge',
          '-p',
          '{"metadata":{"finalizers":null}}',
        ]);
      }
      await kubectl(['delete', 'namespace', ns, '--wait=false']);
    }
  });

  const leaderOf = async (all: OperatorProcess[]) => {
    const candidates = all.filter((op) => op.alive());
    const flags = await Promise.all(candidates.map((op) => op.metric('ymera_leader_is_leader')));
    const leaders = candidates.filter((_, i) => flags[i] === 1);
    return leaders.length === 1 ? leaders[0] : undefined;
  };

  const applyInfsvc = async (suffix: string) => {
    const sample = loadSamples(ns, suffix).find((s) => s.kind === 'InferenceService');
    if (!sample) throw new Error('no InferenceService sample');
    await kubectlOk(['apply', '-f', '-'], toYaml([sample.object]));
    return sample;
  };

  it('elects exactly one leader, recorded in the Lease, and only it reconciles', async () => {
    const leader = await eventually('exactly one leader', () => leaderOf(ops), 30_000);
    const follower = ops.find((op) => op !== leader && op.alive()) as OperatorProcess;
    const lease = await readLease();
    expect(lease?.spec.holderIdentity).toBe(leader.identity);

    const sample = await applyInfsvc('-le1');
    await eventually('the leader to reconcile the new object', async () => {
      const r = await getJson<{ status?: { observedGeneration?: number } }>(['get', ...resourceRef(sample)]);
      return r?.status?.observedGeneration !== undefined;
    });
    // counted when the reconcile ends, a moment after its status write
    await eventually(
      'the leader to count its reconcile',
      async () =>
        ((await leader.metric('ymera_reconcile_total', { controller: 'inferenceservice' })) ?? 0) > 0,
    );
    expect((await follower.metric('ymera_reconcile_total', { controller: 'inferenceservice' })) ?? 0).toBe(0);
    expect(await follower.metric('ymera_leader_is_leader')).toBe(0);
  });

  it('hands over within the lease duration when the leader is killed', async () => {
    const leader = await eventually('a leader', () => leaderOf(ops), 30_000);
    const follower = ops.find((op) => op !== leader && op.alive()) as OperatorProcess;
    const killedAt = Date.now();
    await leader.stop('SIGKILL');
    await eventually(
      'the follower to take over',
      async () => (await follower.metric('ymera_leader_is_leader')) === 1,
      30_000,
      200,
    );
    const handOverMs = Date.now() - killedAt;
    // the follower may have seen the last renewal up to one retry period before the kill
    // (plus slack for two API round trips and the 200 ms poll on a loaded machine)
    expect(handOverMs).toBeLessThanOrEqual((LEASE_SECONDS + 2 * RETRY_SECONDS) * 1000 + 4000);
    const lease = await readLease();
    expect(lease?.spec.holderIdentity).toBe(follower.identity);

    const sample = await applyInfsvc('-le2');
    await eventually('the new leader to reconcile', async () => {
      const r = await getJson<{ status?: { observedGeneration?: number } }>(['get', ...resourceRef(sample)]);
      return r?.status?.observedGeneration !== undefined;
    });
  });

  it('releases the lease on SIGTERM so a new replica takes over at once', async () => {
    const leader = await eventually('a leader', () => leaderOf(ops), 30_000);
    const code = await leader.stop('SIGTERM');
    expect(code).toBe(0);
    const lease = await readLease();
    expect(lease?.spec.holderIdentity ?? '').toBe('');
    const next = await startOperator('op-c', leaseFlags(ns));
    ops.push(next);
    // an empty holder is free: no need to wait for the lease to expire
    await eventually(
      'the new replica to lead',
      async () => (await next.metric('ymera_leader_is_leader')) === 1,
      5_000,
      200,
    );
    expect(next.logs()).toMatch(/became leader/);
  });

  it('a leader paused past its lease makes no write once the standby took over, and exits 1', async () => {
    ops.push(await startOperator('op-d', leaseFlags(ns)));
    const leader = await eventually('a leader', () => leaderOf(ops), 30_000);
    const standby = ops.find((op) => op !== leader && op.alive()) as OperatorProcess;
    // work that keeps the leader writing: a new object, and requeues while its pods start
    const sample = await applyInfsvc('-le3');
    await eventually('the leader to reconcile it', async () => {
      const r = await getJson<{ status?: { observedGeneration?: number } }>(['get', ...resourceRef(sample)]);
      return r?.status?.observedGeneration !== undefined;
    });
    const before = await (await fetch(leader.metricsUrl)).text();
    expect(writesIn(before)).toBeGreaterThan(0);
    expect(
      sumMetric(before, 'rest_client_requests_total', { verb: 'UPDATE', resource: 'leases' }),
    ).toBeGreaterThan(0);

    const exited = new Promise<number | null>((resolve) =>
      leader.child.once('exit', (code) => resolve(code)),
    );
    leader.child.kill('SIGSTOP');
    await eventually(
      'the standby to take over from the paused leader',
      async () => (await standby.metric('ymera_leader_is_leader')) === 1,
      30_000,
      200,
    );
    expect((await readLease())?.spec.holderIdentity).toBe(standby.identity);

    // a change the paused leader will see on resuming: its informer delivers it, and a
    // leader that kept going would reconcile it (and write) before noticing it lost the lease
    await kubectlOk([
      'patch',
      ...resourceRef(sample),
      '--type=merge',
      '-p',
      '{"spec":{"scaling":{"maxReplicas":5}}}',
    ]);
    await untilObserved(resourceRef(sample), 'the standby to reconcile the change', () => true);

    // scrapes sent while it is paused are answered (if at all) right after it resumes; keep
    // scraping until it exits: no answer may show a write more than the first one
    const scrape = () =>
      fetch(leader.metricsUrl).then(
        (r) => r.text(),
        () => undefined,
      );
    const answers: Promise<string | undefined>[] = [scrape()];
    const resumedAt = Date.now();
    leader.child.kill('SIGCONT');
    await eventually(
      'the old leader to exit',
      async () => {
        if (!leader.alive()) return true;
        answers.push(scrape());
        return false;
      },
      30_000,
      50,
    );
    expect(await exited).toBe(1);
    // it exits on resuming, not after draining its reconciles (whose requests time out after 30 s)
    expect(Date.now() - resumedAt).toBeLessThan(15_000);
    const counts = (await Promise.all(answers)).filter((t) => t !== undefined).map(writesIn);
    expect(new Set(counts).size).toBeLessThanOrEqual(1);
    expect(leader.logs()).toMatch(/lost leadership/);
    // the standby still holds the Lease: the old leader did not write it back either
    expect((await readLease())?.spec.holderIdentity).toBe(standby.identity);
    expect(await standby.metric('ymera_leader_is_leader')).toBe(1);
  });
});
