import { describe, expect, it } from 'vitest';
import type { InferenceServiceSpec } from './schema.ts';
import { validateInferenceService } from './validate.ts';

const base: InferenceServiceSpec = { model: { uri: 's3://models/fraud/model.onnx', version: 'v3' } };

describe('validateInferenceService', () => {
  it('accepts a minimal spec', () => {
    expect(validateInferenceService(base)).toEqual([]);
  });

  it('checks the model URI beyond its scheme', () => {
    expect(validateInferenceService({ ...base, model: { ...base.model, uri: 's3://models' } })).toEqual([
      { field: 'spec.model.uri', message: expect.stringContaining('bucket and a key') },
    ]);
  });

  it('checks quantities and requests against limits', () => {
    const errors = validateInferenceService({
      ...base,
      runtime: { resources: { requests: { cpu: 'two', memory: '8Gi' }, limits: { memory: '4Gi' } } },
    });
    expect(errors.map((e) => e.field)).toEqual([
      'spec.runtime.resources.requests.cpu',
      'spec.runtime.resources.requests.memory',
    ]);
  });

  it('checks the analysis interval', () => {
    const spec = (interval: string): InferenceServiceSpec => ({
      ...base,
      rollout: { analysis: { interval } },
    });
    expect(validateInferenceService(spec('1m'))).toEqual([]);
    expect(validateInferenceService(spec('5s'))).toEqual([
      { field: 'spec.rollout.analysis.interval', message: 'must be at least 10s' },
    ]);
    expect(validateInferenceService(spec('2h'))[0]?.message).toBe('must be at most 1h');
  });

  it('re-checks replica bounds', () => {
    expect(validateInferenceService({ ...base, scaling: { minReplicas: 3, maxReplicas: 2 } })).toEqual([
      { field: 'spec.scaling.minReplicas', message: 'must be less than or equal to maxReplicas' },
    ]);
  });
});
