import { describe, expect, it } from 'vitest';
import type { OptimizationLoopSpec } from './schema.ts';
import { validateOptimizationLoop } from './validate.ts';

const base: OptimizationLoopSpec = {
  target: { kind: 'InferenceService', name: 'fraud' },
  parameters: [{ path: 'spec.batching.maxBatchSize', min: 4, max: 64, step: 4 }],
  objective: { query: 'sum(rate(x[5m]))', goal: 'Maximize' },
};

describe('validateOptimizationLoop', () => {
  it('accepts a valid loop', () => {
    expect(validateOptimizationLoop(base)).toEqual([]);
    expect(
      validateOptimizationLoop({
        ...base,
        parameters: [{ path: 'spec.batching.maxDelayMs', values: [1, 2, 5] }],
      }),
    ).toEqual([]);
  });

  it('checks parameter paths against the InferenceService schema', () => {
    const errors = validateOptimizationLoop({
      ...base,
      parameters: [
        { path: 'spec.batching.maxBatchSise', min: 1, max: 2, step: 1 },
        { path: 'spec.model.uri', values: [1] },
        { path: 'spec.batching.maxBatchSize', min: 1, max: 4096, step: 0.5 },
      ],
    });
    expect(errors).toEqual([
      {
        field: 'spec.parameters[0].path',
        message: 'InferenceService has no field spec.batching.maxBatchSise',
      },
      {
        field: 'spec.parameters[1].path',
        message: 'spec.model.uri is not a numeric field of InferenceService',
      },
      {
        field: 'spec.parameters[2].step',
        message: 'spec.batching.maxBatchSize is an integer field: use integer min, max and step',
      },
      { field: 'spec.parameters[2].max', message: 'spec.batching.maxBatchSize must be at most 1024' },
    ]);
  });

  it('checks ranges and steps', () => {
    const errors = validateOptimizationLoop({
      ...base,
      parameters: [
        { path: 'spec.batching.maxBatchSize', min: 8, max: 4, step: 1 },
        { path: 'spec.batching.maxDelayMs', min: 1, max: 5, step: 10 },
        { path: 'spec.runtime.threads', min: 1 },
      ],
    });
    expect(errors.map((e) => e.field)).toEqual([
      'spec.parameters[0].min',
      'spec.parameters[1].step',
      'spec.parameters[2]',
    ]);
  });

  it('checks interval and evaluation window', () => {
    expect(validateOptimizationLoop({ ...base, interval: '5m', evaluationWindow: '10m' })).toEqual([
      { field: 'spec.evaluationWindow', message: 'must not be longer than interval (5m)' },
    ]);
    expect(validateOptimizationLoop({ ...base, interval: '10s' })[0]?.field).toBe('spec.interval');
    expect(validateOptimizationLoop({ ...base, maxTrials: 2, maxFailedTrials: 3 })[0]?.field).toBe(
      'spec.maxFailedTrials',
    );
  });

  it('limits Deployment targets to replicas and the pod template', () => {
    const deployment = (path: string): OptimizationLoopSpec => ({
      ...base,
      target: { kind: 'Deployment', name: 'web' },
      parameters: [{ path, min: 1, max: 4, step: 1 }],
    });
    expect(validateOptimizationLoop(deployment('spec.replicas'))).toEqual([]);
    expect(validateOptimizationLoop(deployment('spec.template.spec.containers[0].args[1]'))).toEqual([]);
    expect(validateOptimizationLoop(deployment('spec.paused'))[0]?.field).toBe('spec.parameters[0].path');
  });
});
