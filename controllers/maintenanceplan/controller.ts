// MaintenancePlan controller (walking skeleton): validates what admission cannot and
// reports truthfully that the kind's behaviour is not implemented yet.
import type { Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { skeletonReconciler } from '../shared/skeleton.ts';
import type { MaintenancePlanSpec } from './schema.ts';
import { crd } from './schema.ts';
import { validateMaintenancePlan } from './validate.ts';

export type MaintenancePlanObject = KubeObject & { spec: MaintenancePlanSpec };

export function maintenancePlanReconciler(integrations: Integrations): Reconciler<MaintenancePlanObject> {
  return skeletonReconciler<MaintenancePlanObject>(
    {
      name: 'maintenanceplan',
      resource: resourceTypeOf(crd),
      owns: [],
      validate: (spec) => validateMaintenancePlan(spec),
      desired: () => [],
      notImplemented:
        'The spec is valid; failure prediction and maintenance actions are not implemented in this operator version yet.',
    },
    integrations,
  );
}
