// Every controller the operator runs.
import type { Reconciler } from '../operator/controller.ts';
import type { Integrations } from '../operator/integrations.ts';
import type { KubeObject } from '../operator/kube/resources.ts';
import { backupPolicyReconciler } from './backuppolicy/controller.ts';
import { inferenceServiceReconciler } from './inferenceservice/controller.ts';
import { learningPipelineReconciler } from './learningpipeline/controller.ts';
import { maintenancePlanReconciler } from './maintenanceplan/controller.ts';
import { optimizationLoopReconciler } from './optimizationloop/controller.ts';
import { restoreReconciler } from './restore/controller.ts';

export function allReconcilers(integrations: Integrations): Reconciler<KubeObject>[] {
  return [
    inferenceServiceReconciler(integrations),
    learningPipelineReconciler(integrations),
    maintenancePlanReconciler(integrations),
    optimizationLoopReconciler(integrations),
    backupPolicyReconciler(integrations),
    restoreReconciler(integrations),
    // each reconciler is typed for its own kind; the manager handles them as plain objects
  ] as unknown as Reconciler<KubeObject>[];
}
