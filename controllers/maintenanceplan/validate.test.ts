import { describe, expect, it } from 'vitest';
import type { MaintenancePlanSpec } from './schema.ts';
import { validateMaintenancePlan } from './validate.ts';

const base: MaintenancePlanSpec = {
  nodeSelector: { matchLabels: { 'nvidia.com/gpu.present': 'true' } },
  signals: [{ name: 'temp', query: 'max by (node) (DCGM_FI_DEV_GPU_TEMP)' }],
  predictor: { model: { uri: 'pvc://models/risk.onnx' }, interval: '5m' },
  window: { schedule: '0 2 * * 6', durationMinutes: 120 },
};

describe('validateMaintenancePlan', () => {
  it('accepts a valid plan', () => {
    expect(validateMaintenancePlan(base)).toEqual([]);
    expect(
      validateMaintenancePlan({
        ...base,
        maxUnavailable: '10%',
        actions: [
          { type: 'Cordon' },
          { type: 'Drain' },
          { type: 'Job', job: { image: 'x' } },
          { type: 'Uncordon' },
        ],
      }),
    ).toEqual([]);
  });

  it('checks the node selector', () => {
    const errors = validateMaintenancePlan({
      ...base,
      nodeSelector: {
        matchLabels: { 'bad key!': 'x' },
        matchExpressions: [{ key: 'gpu', operator: 'NotIn' }],
      },
    });
    expect(errors.map((e) => e.field)).toEqual([
      'spec.nodeSelector.matchLabels[bad key!]',
      'spec.nodeSelector.matchExpressions[0].values',
    ]);
  });

  it('checks the window schedule, time zone and predictor interval', () => {
    const errors = validateMaintenancePlan({
      ...base,
      predictor: { ...base.predictor, interval: '2s' },
      window: { schedule: '0 2 * * 9', timeZone: 'Europe/Nowhere', durationMinutes: 60 },
    });
    expect(errors.map((e) => e.field)).toEqual([
      'spec.predictor.interval',
      'spec.window.timeZone',
      'spec.window.schedule',
    ]);
  });

  it('checks the order of actions', () => {
    const fields = (actions: MaintenancePlanSpec['actions']) =>
      validateMaintenancePlan({ ...base, actions }).map((e) => `${e.field}: ${e.message}`);
    expect(fields([{ type: 'Drain' }, { type: 'Cordon' }])).toEqual([
      'spec.actions[0].type: Drain must come after a Cordon',
    ]);
    expect(
      fields([
        { type: 'Cordon' },
        { type: 'Drain' },
        { type: 'Uncordon' },
        { type: 'Job', job: { image: 'x' } },
      ]),
    ).toEqual(['spec.actions[2].type: Uncordon must be the last action']);
    expect(fields([{ type: 'Cordon' }, { type: 'Job', job: { image: 'x' } }, { type: 'Drain' }])).toEqual([
      'spec.actions[1].type: Job must come after a Drain (it runs on the emptied node)',
    ]);
    expect(fields([{ type: 'Cordon' }, { type: 'Cordon' }])).toEqual([
      'spec.actions[1].type: Cordon appears more than once',
    ]);
    expect(fields([{ type: 'Uncordon' }])).toEqual([
      'spec.actions[0].type: Uncordon must come after a Cordon',
    ]);
  });

  it('checks maxUnavailable', () => {
    expect(validateMaintenancePlan({ ...base, maxUnavailable: '0%' })[0]?.field).toBe('spec.maxUnavailable');
    expect(validateMaintenancePlan({ ...base, maxUnavailable: 0 })[0]?.field).toBe('spec.maxUnavailable');
  });
});
