// BackupPolicy controller (walking skeleton): validates what admission cannot and
// reports truthfully that the kind's behaviour is not implemented yet.
import type { Reconciler } from '../../operator/controller.ts';
import type { Integrations } from '../../operator/integrations.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { resourceTypeOf } from '../../operator/kube/ymera.ts';
import { skeletonReconciler } from '../shared/skeleton.ts';
import type { BackupPolicySpec } from './schema.ts';
import { crd } from './schema.ts';
import { validateBackupPolicy } from './validate.ts';

export type BackupPolicyObject = KubeObject & { spec: BackupPolicySpec };

export function backupPolicyReconciler(integrations: Integrations): Reconciler<BackupPolicyObject> {
  return skeletonReconciler<BackupPolicyObject>(
    {
      name: 'backuppolicy',
      resource: resourceTypeOf(crd),
      owns: [],
      validate: (spec) => validateBackupPolicy(spec),
      desired: () => [],
      notImplemented:
        'The spec is valid; backups, retention and drills are not implemented in this operator version yet.',
    },
    integrations,
  );
}
