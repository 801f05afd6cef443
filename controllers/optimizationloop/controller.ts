// OptimizationLoop controller (walking skeleton): validates what admission cannot and
// reports truthfully that the kind's behaviour is not implemented yet.
import type { Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { skeletonReconciler } from '../shared/skeleton.ts';
import type { OptimizationLoopSpec } from './schema.ts';
import { crd } from './schema.ts';
import { validateOptimizationLoop } from './validate.ts';

export type OptimizationLoopObject = KubeObject & { spec: OptimizationLoopSpec };

export function optimizationLoopReconciler(integrations: Integrations): Reconciler<OptimizationLoopObject> {
  return skeletonReconciler<OptimizationLoopObject>(
    {
      name: 'optimizationloop',
      resource: resourceTypeOf(crd),
      owns: [],
      validate: (spec) => validateOptimizationLoop(spec),
      desired: () => [],
      notImplemented: 'The spec is valid; tuning trials are not implemented in this operator version yet.',
    },
    integrations,
  );
}
