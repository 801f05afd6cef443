// LearningPipeline controller (walking skeleton): validates what admission cannot and
// reports truthfully that the kind's behaviour is not implemented yet.
import type { Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import { ruleObjectType } from '../../operator/integrations.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { learningPipelineRuleGroups } from '../../operator/prometheus/generators/learningpipeline.ts';
import { ruleChildren } from '../../operator/prometheus/rule-objects.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { skeletonReconciler } from '../shared/skeleton.ts';
import type { LearningPipelineSpec } from './schema.ts';
import { crd } from './schema.ts';
import { validateLearningPipeline } from './validate.ts';

export type LearningPipelineObject = KubeObject & { spec: LearningPipelineSpec };

export function learningPipelineReconciler(integrations: Integrations): Reconciler<LearningPipelineObject> {
  return skeletonReconciler<LearningPipelineObject>(
    {
      name: 'learningpipeline',
      resource: resourceTypeOf(crd),
      owns: [ruleObjectType(integrations.rules)],
      validate: (spec) => validateLearningPipeline(spec),
      // alerts on failed, stuck and missed runs
      desired: (obj) => ruleChildren(obj, learningPipelineRuleGroups(obj), integrations.rules),
      notImplemented:
        'The spec is valid and its alerting rules are in place; running pipelines (step Jobs, schedules, triggers, promotion) is not implemented in this operator version yet.',
    },
    integrations,
  );
}
