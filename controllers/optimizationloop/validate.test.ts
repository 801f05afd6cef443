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
        message:
          'spec.model.uri is not tunable: use one of spec.batching.maxBatchSize, spec.batching.maxDelayMs, spec.runtime.threads, spec.scaling.minReplicas, spec.scaling.maxReplicas',
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

  it('checks durations, windows and the failure budget', () => {
    expect(validateOptimizationLoop({ ...base, evaluationWindow: '10s' })).toEqual([
      { field: 'spec.evaluationWindow', message: 'must be at least 30s' },
    ]);
    expect(validateOptimizationLoop({ ...base, initialDelay: '2h' })[0]?.field).toBe('spec.initialDelay');
    expect(validateOptimizationLoop({ ...base, maxTrials: 2, maxFailedTrials: 3 })[0]?.field).toBe(
      'spec.maxFailedTrials',
    );
    const windows = validateOptimizationLoop({
      ...base,
      safety: {
        windows: [
          { schedule: '0 9 * * 1-5', timeZone: 'Europe/Berlin', duration: '8h' },
          { schedule: '0 9 * *', timeZone: 'Mars/Olympus', duration: '30s' },
        ],
      },
    });
    expect(windows.map((e) => e.field)).toEqual([
      'spec.safety.windows[1].timeZone',
      'spec.safety.windows[1].schedule',
      'spec.safety.windows[1].duration',
    ]);
  });

  it('limits Deployment targets to replicas, container CPU and memory, and env values', () => {
    const deployment = (path: string, step = 1): OptimizationLoopSpec => ({
      ...base,
      target: { kind: 'Deployment', name: 'web' },
      parameters: [{ path, min: 1, max: 4, step }],
    });
    for (const ok of [
      'spec.replicas',
      'spec.template.spec.containers[0].resources.requests.cpu',
      'spec.template.spec.containers[1].resources.limits.memory',
      'spec.template.spec.containers[0].env[3].value',
    ]) {
      expect(validateOptimizationLoop(deployment(ok)), ok).toEqual([]);
    }
    for (const bad of [
      'spec.paused',
      'spec.template.spec.containers[0].args[1]',
      'spec.template.spec.containers[0].image',
      'spec.template.spec.containers[0].securityContext.runAsUser',
      'spec.template.spec.securityContext.runAsUser',
      'spec.template.spec.containers[0].env[0].name',
      'spec.template.spec.containers[0].resources.requests.nvidia',
    ]) {
      const errors = validateOptimizationLoop(deployment(bad));
      expect(errors[0]?.field, bad).toBe('spec.parameters[0].path');
      expect(errors[0]?.message).toContain('nothing under securityContext');
    }
    expect(validateOptimizationLoop(deployment('spec.replicas', 0.5))).toEqual([
      {
        field: 'spec.parameters[0].step',
        message: 'spec.replicas takes whole numbers: use integer min, max and step',
      },
    ]);
    expect(
      validateOptimizationLoop(deployment('spec.template.spec.containers[0].resources.requests.cpu', 0.5)),
    ).toEqual([]);
  });
});
