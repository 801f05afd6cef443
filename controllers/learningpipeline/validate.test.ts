import { describe, expect, it } from 'vitest';
import type { LearningPipelineSpec, LearningPipelineStep } from './schema.ts';
import { findCycles, validateLearningPipeline } from './validate.ts';

const step = (
  name: string,
  dependsOn?: string[],
  extra: Partial<LearningPipelineStep> = {},
): LearningPipelineStep => ({
  name,
  image: `registry.example.com/${name}:1`,
  ...(dependsOn ? { dependsOn } : {}),
  ...extra,
});
const spec = (
  steps: LearningPipelineStep[],
  extra: Partial<LearningPipelineSpec> = {},
): LearningPipelineSpec => ({
  steps,
  artifacts: { pvc: { claimName: 'artifacts' } },
  ...extra,
});

describe('findCycles', () => {
  it('finds none in a DAG', () => {
    expect(findCycles([step('a'), step('b', ['a']), step('c', ['a', 'b'])])).toEqual([]);
  });
  it('reports each cycle once, with its path', () => {
    expect(findCycles([step('a', ['c']), step('b', ['a']), step('c', ['b']), step('d', ['a'])])).toEqual([
      ['a', 'c', 'b', 'a'],
    ]);
    expect(findCycles([step('a', ['b']), step('b', ['a']), step('x', ['y']), step('y', ['x'])])).toHaveLength(
      2,
    );
  });
});

describe('validateLearningPipeline', () => {
  it('accepts a linear pipeline with wired artifacts', () => {
    expect(
      validateLearningPipeline(
        spec(
          [
            step('prepare', undefined, { outputs: [{ name: 'data', path: 'prepare/data' }] }),
            step('train', ['prepare'], {
              inputs: ['data'],
              outputs: [{ name: 'model', path: 'train/model.onnx' }],
            }),
            step('evaluate', ['train'], {
              inputs: ['model', 'data'],
              outputs: [{ name: 'metrics', path: 'eval/m.json' }],
            }),
          ],
          {
            schedule: '0 2 * * *',
            timeZone: 'Europe/Berlin',
            model: { name: 'fraud', outputArtifact: 'model' },
            promotion: { target: 'fraud', gate: { metricsArtifact: 'metrics', metric: 'auc', min: 0.9 } },
          },
        ),
      ),
    ).toEqual([]);
  });

  it('reports a dependency cycle on the step that closes it, with the path', () => {
    expect(validateLearningPipeline(spec([step('a', ['c']), step('b', ['a']), step('c', ['b'])]))).toEqual([
      { field: 'spec.steps[0].dependsOn', message: 'dependency cycle: a → c → b → a' },
    ]);
  });

  it('reports unknown and self dependencies', () => {
    expect(validateLearningPipeline(spec([step('a', ['a']), step('b', ['x'])]))).toEqual([
      { field: 'spec.steps[0].dependsOn', message: 'a step cannot depend on itself' },
      { field: 'spec.steps[1].dependsOn', message: 'no step named x' },
    ]);
  });

  it('checks that inputs are produced upstream and outputs do not collide', () => {
    const errors = validateLearningPipeline(
      spec([
        step('a', undefined, { outputs: [{ name: 'data', path: 'shared' }] }),
        step('b', undefined, { inputs: ['data', 'nothing'], outputs: [{ name: 'data', path: 'shared/' }] }),
      ]),
    );
    expect(errors).toEqual([
      { field: 'spec.steps[1].outputs[0].name', message: 'output data is also produced by step a' },
      { field: 'spec.steps[1].outputs[0].path', message: 'path shared/ is also written by output data' },
      {
        field: 'spec.steps[1].inputs[0]',
        message: 'data is produced by step a, which b does not depend on (add it to dependsOn)',
      },
      { field: 'spec.steps[1].inputs[1]', message: 'no step has an output named nothing' },
    ]);
  });

  it('checks the schedule with croner and the time zone', () => {
    expect(validateLearningPipeline(spec([step('a')], { schedule: '0 25 * * *' }))[0]?.field).toBe(
      'spec.schedule',
    );
    expect(
      validateLearningPipeline(spec([step('a')], { schedule: '@daily', timeZone: 'Nowhere/City' })),
    ).toEqual([{ field: 'spec.timeZone', message: expect.stringContaining('unknown time zone') }]);
  });

  it('checks model and gate artifacts and trigger filters', () => {
    const errors = validateLearningPipeline(
      spec([step('a')], {
        model: { name: 'm', outputArtifact: 'model' },
        promotion: { target: 'svc', gate: { metricsArtifact: 'metrics', metric: 'auc', min: 1 } },
        triggers: { kafka: { topic: 'drift', filter: { 'bad key': 'x', 'model.name': 'm' } } },
      }),
    );
    expect(errors.map((e) => e.field)).toEqual([
      'spec.model.outputArtifact',
      'spec.promotion.gate.metricsArtifact',
      'spec.triggers.kafka.filter[bad key]',
    ]);
  });
});
