import { describe, expect, it } from 'vitest';
import {
  batchingGaugeQuery,
  deploymentLive,
  expandQuery,
  inferenceServiceCanary,
  inferenceServiceLive,
  numberAt,
  targetValues,
} from './observe.ts';

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', generation: 3 },
  spec: {
    replicas: 2,
    template: {
      spec: {
        containers: [
          {
            name: 'app',
            resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: 2 } },
            env: [
              { name: 'WORKERS', value: '8' },
              { name: 'MODE', value: 'fast' },
            ],
          },
        ],
      },
    },
  },
  status: { observedGeneration: 3, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 },
};

describe('reading the target', () => {
  it('reads numbers, quantities and env values at a path', () => {
    expect(numberAt(deployment, 'spec.replicas')).toBe(2);
    expect(numberAt(deployment, 'spec.template.spec.containers[0].resources.requests.cpu')).toBe(0.5);
    expect(numberAt(deployment, 'spec.template.spec.containers[0].resources.requests.memory')).toBe(2 ** 30);
    expect(numberAt(deployment, 'spec.template.spec.containers[0].resources.limits.cpu')).toBe(2);
    expect(numberAt(deployment, 'spec.template.spec.containers[0].env[0].value')).toBe(8);
    expect(numberAt(deployment, 'spec.template.spec.containers[0].env[1].value')).toBeUndefined(); // "fast"
    expect(numberAt(deployment, 'spec.template.spec.containers[3].env[0].value')).toBeUndefined();
  });

  it('leaves paths without a value out', () => {
    expect(
      targetValues(deployment, ['spec.replicas', 'spec.template.spec.containers[0].resources.limits.memory']),
    ).toEqual({
      'spec.replicas': 2,
    });
  });

  it('a Deployment is live when every replica runs the current template and is ready', () => {
    expect(deploymentLive(deployment)).toBe(true);
    expect(deploymentLive({ ...deployment, status: { ...deployment.status, updatedReplicas: 1 } })).toBe(
      false,
    );
    expect(deploymentLive({ ...deployment, status: { ...deployment.status, observedGeneration: 2 } })).toBe(
      false,
    );
    expect(deploymentLive({ ...deployment, status: { ...deployment.status, replicas: 3 } })).toBe(false); // old pods left
  });
});

describe('InferenceService liveness and canaries', () => {
  const isvc = {
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name: 'fraud', generation: 5 },
    spec: { batching: { maxBatchSize: 16, maxDelayMs: 5 }, scaling: { minReplicas: 2 } },
    status: {
      observedGeneration: 5,
      phase: 'Serving',
      stable: { batching: { maxBatchSize: 16, maxDelayMs: 5 } },
    },
  };
  const values = {
    'spec.batching.maxBatchSize': 16,
    'spec.batching.maxDelayMs': 5,
    'spec.scaling.minReplicas': 2,
  };

  it('is live when it serves the values from its stable revision with no rollout in flight', () => {
    expect(inferenceServiceLive(isvc, values)).toBe(true);
    expect(
      inferenceServiceLive(
        { ...isvc, status: { ...isvc.status, phase: 'Canary', canary: { revision: 'x' } } },
        values,
      ),
    ).toBe(false);
    expect(inferenceServiceLive({ ...isvc, status: { ...isvc.status, observedGeneration: 4 } }, values)).toBe(
      false,
    );
    expect(
      inferenceServiceLive(isvc, { ...values, 'spec.scaling.minReplicas': 3, 'spec.runtime.threads': 4 }),
    ).toBe(false);
  });

  it('batching is live when every pod series of the runtime gauges holds the value', () => {
    const live = { ...values, 'spec.batching.maxBatchSize': 32 };
    // the stable revision still says 16 (batching applied live, no new revision): the gauges decide
    expect(
      inferenceServiceLive(isvc, live, {
        'spec.batching.maxBatchSize': [32, 32],
        'spec.batching.maxDelayMs': [5, 5],
      }),
    ).toBe(true);
    // one pod has not re-read its ConfigMap yet
    expect(
      inferenceServiceLive(isvc, live, {
        'spec.batching.maxBatchSize': [32, 16],
        'spec.batching.maxDelayMs': [5, 5],
      }),
    ).toBe(false);
    // a path without series falls back to the observed generation, never to a revision's stale
    // record of batching (maxBatchSize: 16 in status.stable of a pre-upgrade revision, 32 wanted)
    expect(inferenceServiceLive(isvc, live, { 'spec.batching.maxDelayMs': [5, 5] })).toBe(true);
    // the gauges never override the status: a canary or an old generation is not live
    expect(
      inferenceServiceLive({ ...isvc, status: { ...isvc.status, observedGeneration: 4 } }, live, {
        'spec.batching.maxBatchSize': [32],
        'spec.batching.maxDelayMs': [5],
      }),
    ).toBe(false);
  });

  it("with no series, the observed generation decides batching, also over a pre-upgrade revision's stale record", () => {
    const outside = { ...isvc, status: { ...isvc.status, stable: { revision: 'abc' } } };
    expect(inferenceServiceLive(outside, { ...values, 'spec.batching.maxBatchSize': 32 })).toBe(true);
    expect(inferenceServiceLive(isvc, { ...values, 'spec.batching.maxBatchSize': 32 })).toBe(true);
    expect(
      inferenceServiceLive({ ...outside, status: { ...outside.status, observedGeneration: 4 } }, values),
    ).toBe(false);
  });

  it('runtime.threads is live only when the stable revision holds it', () => {
    const threads = { ...isvc, status: { ...isvc.status, stable: { runtime: { threads: 2 } } } };
    expect(inferenceServiceLive(threads, { 'spec.runtime.threads': 2 })).toBe(true);
    expect(inferenceServiceLive(threads, { 'spec.runtime.threads': 4 })).toBe(false);
  });

  it('queries the gauges of the service by namespace and name', () => {
    expect(batchingGaugeQuery('spec.batching.maxDelayMs', 'ml', 'fraud')).toBe(
      'ymera_runtime_batching_max_delay_ms{namespace="ml",inferenceservice="fraud"}',
    );
  });

  it('sees a canary in status.canary or the phase', () => {
    expect(inferenceServiceCanary(isvc)).toBe(false);
    expect(inferenceServiceCanary({ ...isvc, status: { ...isvc.status, canary: { revision: 'x' } } })).toBe(
      true,
    );
    expect(inferenceServiceCanary({ ...isvc, status: { ...isvc.status, phase: 'Progressing' } })).toBe(true);
  });
});

it('expandQuery fills $window everywhere', () => {
  expect(expandQuery('rate(a[$window]) / rate(b[$window])', '5m')).toBe('rate(a[5m]) / rate(b[5m])');
});
