import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { toCloudEvent } from '../../operator/kafka/events.ts';
import type { DeploymentObject, PodObject } from '../../operator/kube/workloads.ts';
import { byPod, HealingMetrics, PODS_REPLACED_TOTAL } from './heal.ts';
import type { HealingInput, HealingPod, HealingSignals, HealingSpec, Replacement } from './healing.ts';
import {
  decideHealing,
  deploymentRollingOut,
  EvictionMemory,
  healingStatusWith,
  errorRateCandidates,
  healingPodOf,
  healingQueries,
  healingRequeueMs,
  MAX_REPLACEMENTS,
  memoryCandidates,
  podReplacedEvent,
  recordReplacement,
} from './healing.ts';

const MiB = 1048576;
const now = new Date('2026-12-05T10:00:00Z');
const started = now.getTime() - 600_000;
const pod = (name: string, extra: Partial<HealingPod> = {}): HealingPod => ({
  name,
  revision: 'r1',
  ready: true,
  terminating: false,
  startedMs: started,
  memoryLimitBytes: 100 * MiB,
  ...extra,
});
const signals = (s: Partial<Record<keyof HealingSignals, Record<string, number>>>): HealingSignals => ({
  memoryMinBytes: new Map(Object.entries(s.memoryMinBytes ?? {})),
  errorMinRatio: new Map(Object.entries(s.errorMinRatio ?? {})),
  errorRatio: new Map(Object.entries(s.errorRatio ?? {})),
  requestRate: new Map(Object.entries(s.requestRate ?? {})),
});
const memorySpec: HealingSpec = { memory: { percentOfLimit: 90, forSeconds: 60 }, minIntervalSeconds: 60 };
const errorSpec: HealingSpec = {
  errorRate: { maxRatio: 0.05, forSeconds: 60, minRequestsPerSecond: 1 },
  minIntervalSeconds: 60,
};
const input = (over: Partial<HealingInput>): HealingInput => ({
  spec: memorySpec,
  pods: [pod('svc-r1-a'), pod('svc-r1-b'), pod('svc-r1-c')],
  replicas: 3,
  now,
  ...over,
});

describe('healingQueries', () => {
  it('reads the runtime container working set of the service pods, lowest over the window', () => {
    const q = healingQueries('ns', 'svc', memorySpec);
    expect(q.memoryMinBytes).toBe(
      'max by (pod) (min_over_time(container_memory_working_set_bytes{namespace="ns",container="runtime",pod=~"svc-.+"}[60s]))',
    );
    expect(q.errorRatio).toBeUndefined();
  });

  it('reads per-pod 5xx ratios (lowest short-window ratio over the window) and request rates', () => {
    const q = healingQueries('ns', 'a.b', errorSpec);
    expect(q.memoryMinBytes).toBeUndefined();
    expect(q.errorMinRatio).toBe(
      'min_over_time((sum by (pod) (rate(ymera_inference_requests_total{namespace="ns",inferenceservice="a.b",code=~"5.."}[30s])) / sum by (pod) (rate(ymera_inference_requests_total{namespace="ns",inferenceservice="a.b"}[30s])))[60s:5s])',
    );
    expect(q.requestRate).toBe(
      'sum by (pod) (rate(ymera_inference_requests_total{namespace="ns",inferenceservice="a.b"}[60s]))',
    );
    // a name's regex metacharacters are escaped in the pod match
    expect(healingQueries('ns', 'a.b', memorySpec).memoryMinBytes).toContain('pod=~"a\\\\.b-.+"');
  });
});

describe('healingPodOf', () => {
  const base = (limits?: Record<string, string>): PodObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'svc-r1-a',
      labels: { 'ymera.io/revision': 'r1' },
      creationTimestamp: '2026-12-05T09:00:00Z',
    },
    spec: { containers: [{ name: 'runtime', ...(limits ? { resources: { limits } } : {}) }] },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      startTime: '2026-12-05T09:01:00Z',
    } as PodObject['status'],
  });

  it('takes the runtime container memory limit, readiness and start time', () => {
    expect(healingPodOf(base({ memory: '512Mi', cpu: '1' }))).toEqual({
      name: 'svc-r1-a',
      revision: 'r1',
      ready: true,
      terminating: false,
      startedMs: Date.parse('2026-12-05T09:01:00Z'),
      memoryLimitBytes: 512 * MiB,
    });
  });

  it('has no limit when the runtime container sets none', () => {
    expect(healingPodOf(base()).memoryLimitBytes).toBeUndefined();
    expect(healingPodOf(base({ cpu: '1' })).memoryLimitBytes).toBeUndefined();
  });
});

describe('memoryCandidates', () => {
  it('picks a pod whose working set stayed over the share of its limit, worst first', () => {
    const got = memoryCandidates(
      input({
        signals: signals({
          memoryMinBytes: { 'svc-r1-a': 50 * MiB, 'svc-r1-b': 95 * MiB, 'svc-r1-c': 92 * MiB },
        }),
      }),
    );
    expect(got.map((c) => c.pod)).toEqual(['svc-r1-b', 'svc-r1-c']);
    expect(got[0]).toMatchObject({ reason: 'MemoryGrowth', revision: 'r1' });
    expect(got[0]?.message).toBe(
      'pod svc-r1-b: memory working set stayed over 90.0% of its 100.0MiB limit for 60s (at least 95.0MiB, 95.0%)',
    );
  });

  it('does not pick a pod at the share, without a limit, younger than the window, or not ready', () => {
    const got = memoryCandidates(
      input({
        pods: [
          pod('at', {}),
          pod('nolimit', { memoryLimitBytes: undefined }),
          pod('young', { startedMs: now.getTime() - 30_000 }),
          pod('unready', { ready: false }),
          pod('gone', { terminating: true }),
        ],
        signals: signals({
          memoryMinBytes: {
            at: 90 * MiB,
            nolimit: 99 * MiB,
            young: 99 * MiB,
            unready: 99 * MiB,
            gone: 99 * MiB,
          },
        }),
      }),
    );
    expect(got).toEqual([]);
  });
});

describe('errorRateCandidates', () => {
  const traffic = { 'svc-r1-a': 10, 'svc-r1-b': 10, 'svc-r1-c': 10 };
  it('picks the pod whose 5xx ratio stayed over the bound while the others stayed under it', () => {
    const got = errorRateCandidates(
      input({
        spec: errorSpec,
        signals: signals({
          errorMinRatio: { 'svc-r1-a': 0.3, 'svc-r1-b': 0, 'svc-r1-c': 0.01 },
          errorRatio: { 'svc-r1-a': 0.4, 'svc-r1-b': 0, 'svc-r1-c': 0.01 },
          requestRate: traffic,
        }),
      }),
    );
    expect(got.map((c) => c.pod)).toEqual(['svc-r1-a']);
    expect(got[0]?.reason).toBe('ErrorRateOutlier');
    expect(got[0]?.message).toBe(
      'pod svc-r1-a: 5xx ratio stayed over 0.050 for 60s (0.400 over the window at 10.0 req/s) while the other 2 pod(s) stayed under it',
    );
  });

  it('picks none when the others fail too (the model, not a pod), or half of them fail', () => {
    const both = input({
      spec: errorSpec,
      signals: signals({
        errorMinRatio: { 'svc-r1-a': 0.3, 'svc-r1-b': 0.01, 'svc-r1-c': 0 },
        errorRatio: { 'svc-r1-a': 0.4, 'svc-r1-b': 0.2, 'svc-r1-c': 0 },
        requestRate: traffic,
      }),
    });
    expect(errorRateCandidates(both)).toEqual([]);
    const half = input({
      spec: errorSpec,
      pods: [pod('a'), pod('b')],
      signals: signals({
        errorMinRatio: { a: 0.3, b: 0 },
        errorRatio: { a: 0.4, b: 0 },
        requestRate: { a: 10, b: 10 },
      }),
    });
    expect(errorRateCandidates(half)).toEqual([]);
  });

  it('ignores pods with less traffic than minRequestsPerSecond, and a pod with no healthy peer', () => {
    const quiet = input({
      spec: errorSpec,
      signals: signals({
        errorMinRatio: { 'svc-r1-a': 0.9 },
        errorRatio: { 'svc-r1-a': 0.9 },
        requestRate: { 'svc-r1-a': 0.5, 'svc-r1-b': 10, 'svc-r1-c': 10 },
      }),
    });
    expect(errorRateCandidates(quiet)).toEqual([]);
    const alone = input({
      spec: errorSpec,
      signals: signals({
        errorMinRatio: { 'svc-r1-a': 0.9 },
        errorRatio: { 'svc-r1-a': 0.9 },
        requestRate: { 'svc-r1-a': 10 },
      }),
    });
    expect(errorRateCandidates(alone)).toEqual([]);
  });
});

describe('decideHealing', () => {
  const leaking = signals({ memoryMinBytes: { 'svc-r1-b': 95 * MiB } });

  it('replaces the worst pod when everything else is fine', () => {
    const d = decideHealing(input({ signals: leaking }));
    expect(d).toMatchObject({ action: 'replace', candidate: { pod: 'svc-r1-b', reason: 'MemoryGrowth' } });
  });

  it('prefers memory growth to an error-rate outlier', () => {
    const d = decideHealing(
      input({
        spec: { ...memorySpec, ...errorSpec },
        signals: signals({
          memoryMinBytes: { 'svc-r1-c': 95 * MiB },
          errorMinRatio: { 'svc-r1-a': 0.5 },
          errorRatio: { 'svc-r1-a': 0.5 },
          requestRate: { 'svc-r1-a': 10, 'svc-r1-b': 10, 'svc-r1-c': 10 },
        }),
      }),
    );
    expect(d).toMatchObject({ action: 'replace', candidate: { pod: 'svc-r1-c' } });
  });

  it('replaces one pod at a time: waits while the evicted pod exists, then for its replacement to be Ready', () => {
    const pending = { pod: 'svc-r1-a', reason: 'MemoryGrowth', time: '2026-12-05T09:50:00Z' };
    const stillThere = decideHealing(
      input({
        pending,
        pods: [pod('svc-r1-a', { terminating: true, ready: false }), pod('svc-r1-b'), pod('svc-r1-c')],
        signals: leaking,
      }),
    );
    expect(stillThere).toMatchObject({ action: 'none', reason: 'Replacing', replacing: true });
    const starting = decideHealing(
      input({
        pending,
        pods: [pod('svc-r1-d', { ready: false }), pod('svc-r1-b'), pod('svc-r1-c')],
        signals: leaking,
      }),
    );
    expect(starting).toMatchObject({ action: 'none', reason: 'Replacing' });
    expect(starting.action === 'none' && starting.message).toContain(
      'waiting for its replacement to be Ready (2/3 ready)',
    );
    const done = decideHealing(
      input({ pending, pods: [pod('svc-r1-d'), pod('svc-r1-b'), pod('svc-r1-c')], signals: leaking }),
    );
    expect(done).toMatchObject({ action: 'replace', candidate: { pod: 'svc-r1-b' } });
  });

  it('clears a pending replacement that is done even when nothing else is to replace', () => {
    const pending = { pod: 'gone', reason: 'MemoryGrowth', time: '2026-12-05T09:50:00Z' };
    expect(decideHealing(input({ pending, signals: signals({}) }))).toMatchObject({
      action: 'none',
      reason: 'Watching',
      clearPending: true,
    });
  });

  it('holds during a canary, a rollout or a failing service, and while pods are missing', () => {
    expect(
      decideHealing(input({ unhealthy: 'canary revision r2 is being analysed', signals: leaking })),
    ).toEqual({
      action: 'none',
      reason: 'Held',
      message: 'not healing: canary revision r2 is being analysed',
    });
    expect(decideHealing(input({ replicas: 4, signals: leaking }))).toMatchObject({
      action: 'none',
      reason: 'Held',
      message: 'not healing: 3/4 pods ready',
    });
    expect(
      decideHealing(
        input({
          pods: [pod('svc-r1-a'), pod('svc-r1-b'), pod('x', { terminating: true })],
          replicas: 2,
          signals: leaking,
        }),
      ),
    ).toMatchObject({ action: 'none', reason: 'Held' });
  });

  it('waits minIntervalSeconds between replacements', () => {
    const d = decideHealing(input({ lastReplacementTime: '2026-12-05T09:59:30Z', signals: leaking }));
    expect(d).toMatchObject({ action: 'none', reason: 'RateLimited' });
    expect(d.action === 'none' && d.message).toContain(
      'next replacement allowed at 2026-12-05T10:00:30Z (minIntervalSeconds 60)',
    );
    expect(
      decideHealing(input({ lastReplacementTime: '2026-12-05T09:58:59Z', signals: leaking })).action,
    ).toBe('replace');
  });

  it('watches when all pods are within bounds, and says when memory healing cannot apply', () => {
    expect(decideHealing(input({ signals: signals({ memoryMinBytes: { 'svc-r1-a': 10 * MiB } }) }))).toEqual({
      action: 'none',
      reason: 'Watching',
      message: 'all 3 pod(s) within bounds',
    });
    const d = decideHealing(
      input({ pods: [pod('a', { memoryLimitBytes: undefined })], replicas: 1, signals: signals({}) }),
    );
    expect(d.action === 'none' && d.message).toContain(
      'memory healing does not apply to 1 pod(s): the runtime container has no memory limit',
    );
  });
});

describe('bookkeeping', () => {
  it('keeps the last replacements, newest first, bounded', () => {
    let list: Replacement[] = [];
    for (let i = 0; i < MAX_REPLACEMENTS + 3; i++)
      list = recordReplacement(list, { pod: `p${i}`, reason: 'MemoryGrowth', message: 'm', time: `t${i}` });
    expect(list).toHaveLength(MAX_REPLACEMENTS);
    expect(list[0]?.pod).toBe(`p${MAX_REPLACEMENTS + 2}`);
  });

  it('looks again within a quarter of the shortest window, 5 s to 30 s', () => {
    expect(healingRequeueMs({ memory: { percentOfLimit: 90, forSeconds: 10 } })).toBe(5_000);
    expect(healingRequeueMs({ memory: { percentOfLimit: 90, forSeconds: 60 } })).toBe(15_000);
    expect(healingRequeueMs({ errorRate: { maxRatio: 0.1, forSeconds: 3600 } })).toBe(30_000);
  });

  it('reads per-pod values from a vector', () => {
    expect(
      byPod({
        resultType: 'vector',
        samples: [
          { labels: { pod: 'a' }, timestamp: 1, value: 2 },
          { labels: {}, timestamp: 1, value: 3 },
        ],
      }),
    ).toEqual(new Map([['a', 2]]));
    expect(byPod({ resultType: 'scalar', timestamp: 1, value: 1 })).toEqual(new Map());
  });

  it('exports the replacement counter by reason from the start', async () => {
    const registry = new Registry();
    const m = new HealingMetrics(registry);
    m.replacedPod('ErrorRateOutlier');
    const text = await registry.metrics();
    expect(text).toContain(`${PODS_REPLACED_TOTAL}{reason="MemoryGrowth"} 0`);
    expect(text).toContain(`${PODS_REPLACED_TOTAL}{reason="ErrorRateOutlier"} 1`);
  });

  it('builds a pod.replaced CloudEvent that matches its published schema', () => {
    const dir = path.resolve(import.meta.dirname, '../../operator/kafka/schemas/events');
    const ajv = new Ajv({ strict: true, allErrors: true });
    for (const f of ['cloudevent.json', 'io.ymera.inferenceservice.pod.replaced.json'])
      ajv.addSchema(JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as object);
    const validate = ajv.getSchema(
      'https://ymera.io/schemas/events/io.ymera.inferenceservice.pod.replaced.json',
    );
    const resource = {
      group: 'ymera.io',
      version: 'v1alpha1',
      kind: 'InferenceService',
      plural: 'inferenceservices',
      namespaced: true,
    };
    const event = podReplacedEvent(
      resource,
      { metadata: { name: 'svc', namespace: 'ns', uid: 'u-1', generation: 2 } },
      {
        pod: 'svc-r1-a',
        revision: 'r1',
        reason: 'MemoryGrowth',
        message: 'pod svc-r1-a: …',
        time: '2026-12-05T10:00:00Z',
      },
    );
    const wire = JSON.parse(JSON.stringify(toCloudEvent(event, now))) as Record<string, unknown>;
    expect(wire.type).toBe('io.ymera.inferenceservice.pod.replaced');
    expect(validate?.(wire), ajv.errorsText(validate?.errors)).toBe(true);
    expect(validate?.({ ...wire, data: { pod: 'x', reason: 'Bored', message: '', generation: 1 } })).toBe(
      false,
    );
  });
});

describe('deploymentRollingOut', () => {
  const deployment = (generation: number, status: DeploymentObject['status']): DeploymentObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'svc-r1', namespace: 'ns', generation },
    spec: { replicas: 3 },
    status,
  });
  const settled = { observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 3 };
  const podOf = (name: string, hash: string, phase = 'Running'): PodObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'ns', labels: { 'pod-template-hash': hash } },
    status: { phase },
  });
  const threePods = [podOf('a', 'h2'), podOf('b', 'h2'), podOf('c', 'h2')];

  it('is quiet for a settled Deployment (a finished pod of an old template does not count)', () => {
    expect(deploymentRollingOut(deployment(2, settled), threePods)).toBeUndefined();
    expect(
      deploymentRollingOut(deployment(2, settled), [...threePods, podOf('old', 'h1', 'Failed')]),
    ).toBeUndefined();
    expect(deploymentRollingOut(undefined, [])).toBeUndefined();
  });

  it('holds while the Deployment controller has not seen the new template', () => {
    expect(deploymentRollingOut(deployment(3, settled), threePods)).toMatch(/svc-r1 has a change/);
  });

  it('holds during a same-revision RollingUpdate with every surge pod Ready', () => {
    // the new tolerations changed the template: 4 pods (one surge), 2 of the new template
    const rolling = { observedGeneration: 3, replicas: 4, updatedReplicas: 2, readyReplicas: 4 };
    expect(deploymentRollingOut(deployment(3, rolling), threePods)).toMatch(/2\/3 pods updated/);
    const surge = { observedGeneration: 3, replicas: 4, updatedReplicas: 3, readyReplicas: 4 };
    expect(deploymentRollingOut(deployment(3, surge), threePods)).toMatch(/4 pods for 3 replicas/);
    const mixed = [podOf('a', 'h2'), podOf('b', 'h2'), podOf('c', 'h1')];
    expect(deploymentRollingOut(deployment(3, { ...settled, observedGeneration: 3 }), mixed)).toMatch(
      /pods of 2 pod templates/,
    );
  });
});

describe('healingStatusWith (an eviction whose status write failed)', () => {
  const replacement: Replacement = {
    pod: 'svc-r1-a',
    revision: 'r1',
    reason: 'MemoryGrowth',
    message: 'working set 95% of its limit',
    time: '2026-12-05T10:00:00Z',
  };
  const eviction = {
    pending: { pod: 'svc-r1-a', reason: 'MemoryGrowth', time: replacement.time },
    replacement,
  };
  const older: Replacement = { ...replacement, pod: 'svc-r1-z', time: '2026-12-05T09:00:00Z' };
  const written = { lastReplacementTime: older.time, replacements: [older] };

  it('adds the record, lastReplacementTime and pending that status lacks', () => {
    expect(healingStatusWith(written, eviction)).toEqual({
      lastReplacementTime: replacement.time,
      pending: eviction.pending,
      replacements: [replacement, older],
    });
    expect(healingStatusWith({}, eviction).lastReplacementTime).toBe(replacement.time);
  });

  it('keeps the record once the replacement is done (pending cleared) and enforces the rate limit', () => {
    const { pending: _done, ...rest } = healingStatusWith(written, eviction);
    expect(rest).toEqual({ lastReplacementTime: replacement.time, replacements: [replacement, older] });
    // a restart: the status written from it rate-limits the next candidate
    const d = decideHealing(
      input({
        lastReplacementTime: rest.lastReplacementTime,
        now: new Date(Date.parse(replacement.time) + 30_000),
        signals: signals({ memoryMinBytes: { 'svc-r1-b': 95 * MiB } }),
      }),
    );
    expect(d).toMatchObject({ action: 'none', reason: 'RateLimited' });
  });

  it('changes nothing once status shows the eviction', () => {
    const shown = { lastReplacementTime: replacement.time, replacements: [replacement, older] };
    expect(healingStatusWith(shown, eviction)).toBe(shown);
    expect(healingStatusWith(written, undefined)).toBe(written);
  });
});

describe('EvictionMemory', () => {
  const eviction = {
    pending: { pod: 'p', reason: 'MemoryGrowth', time: '2026-12-05T10:00:00Z' },
    replacement: { pod: 'p', reason: 'MemoryGrowth' as const, message: 'm', time: '2026-12-05T10:00:00Z' },
  };

  it('recalls an eviction for the same object, not for a new one of the same name', () => {
    const m = new EvictionMemory();
    m.remember('ns/svc', 'uid-1', eviction);
    expect(m.recall('ns/svc', 'uid-1')).toBe(eviction);
    expect(m.recall('ns/svc', 'uid-2')).toBeUndefined();
    expect(m.size).toBe(0);
  });

  it('forgets a deleted object', () => {
    const m = new EvictionMemory();
    m.remember('ns/svc', 'uid-1', eviction);
    m.forget('ns/svc');
    expect(m.recall('ns/svc', 'uid-1')).toBeUndefined();
    expect(m.size).toBe(0);
  });
});
