// LearningPipeline controller (walking skeleton): validates what admission cannot and
// reports truthfully that the kind's behaviour is not implemented yet.
import type { Reconciler } from '../../operator/controller.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { skeletonReconciler } from '../shared/skeleton.ts';
import type { LearningPipelineSpec } from './schema.ts';
import { crd } from './schema.ts';
import { validateLearningPipeline } from './validate.ts';

export type LearningPipelineObject = KubeObject & { spec: LearningPipelineSpec };

export function learningPipelineReconciler(): Reconciler<LearningPipelineObject> {
  return skeletonReconciler<LearningPipelineObject>({
    name: 'learningpipeline',
    resource: resourceTypeOf(crd),
    owns: [],
    validate: (spec) => validateLearningPipeline(spec),
    desired: () => [],
    notImplemented:
      'The spec is valid; running pipelines (step Jobs, schedules, triggers, promotion) is not implemented in this operator version yet.',
  });
}
