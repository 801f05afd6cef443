// Wiring of the reconciler that needs no API server.
import { describe, expect, it } from 'vitest';
import { discardEvents } from '../../operator/integrations.ts';
import { inferenceServiceReconciler } from './controller.ts';

describe('inferenceServiceReconciler', () => {
  it('drops in-process state of a deleted InferenceService (forget: its last eviction, EvictionMemory)', async () => {
    const r = inferenceServiceReconciler({
      rules: { mode: 'ConfigMap', labels: {} },
      kafkaBrokers: [],
      events: discardEvents,
      gatewayApi: false,
    });
    expect(r.forget).toBeTypeOf('function');
    await expect(r.forget?.('ns/svc')).resolves.toBeUndefined();
  });
});
