// InferenceService controller (walking skeleton): validates, keeps the
// runtime ConfigMap in place, reports that serving is not implemented yet.
import type { Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import { ruleObjectType, uniqueTypes } from '../../operator/integrations.ts';
import { core } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { skeletonReconciler } from '../shared/skeleton.ts';
import type { InferenceServiceObject } from './desired.ts';
import { declaredTopics, desiredChildren } from './desired.ts';
import { crd } from './schema.ts';
import { validateInferenceService } from './validate.ts';

export function inferenceServiceReconciler(integrations: Integrations): Reconciler<InferenceServiceObject> {
  return skeletonReconciler<InferenceServiceObject>(
    {
      name: 'inferenceservice',
      resource: resourceTypeOf(crd),
      owns: uniqueTypes([core.configMap, ruleObjectType(integrations.rules)]),
      validate: validateInferenceService,
      desired: (obj) => desiredChildren(obj, integrations.rules),
      topics: declaredTopics,
      notImplemented:
        'The spec is valid and the runtime ConfigMap, SLO rules and logging topic are in place; serving (Deployments, Service, autoscaling, canary rollout) is not implemented in this operator version yet.',
    },
    integrations,
  );
}
