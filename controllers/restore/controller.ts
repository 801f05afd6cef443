// Restore controller (walking skeleton): validates what admission cannot and
// reports truthfully that the kind's behaviour is not implemented yet.
import type { Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { skeletonReconciler } from '../shared/skeleton.ts';
import type { RestoreSpec } from './schema.ts';
import { crd } from './schema.ts';
import { validateRestore } from './validate.ts';

export type RestoreObject = KubeObject & { spec: RestoreSpec };

export function restoreReconciler(integrations: Integrations): Reconciler<RestoreObject> {
  return skeletonReconciler<RestoreObject>(
    {
      name: 'restore',
      resource: resourceTypeOf(crd),
      owns: [],
      validate: (spec) => validateRestore(spec),
      desired: () => [],
      notImplemented: 'The spec is valid; restoring backups is not implemented in this operator version yet.',
    },
    integrations,
  );
}
