// Every controller the operator runs.
import type { Reconciler } from '../operator/controller.ts';
import type { KubeObject } from '../operator/kube/resources.ts';
import { backupPolicyReconciler } from './backuppolicy/controller.ts';
import { inferenceServiceReconciler } from './inferenceservice/controller.ts';
import { learningPipelineReconciler } from './learningpipeline/controller.ts';
import { maintenancePlanReconciler } from './maintenanceplan/controller.ts';
import { optimizationLoopReconciler } from './optimizationloop/controller.ts';
import { restoreReconciler } from './restore/controller.ts';

export function allReconcilers(): Reconciler<KubeObject>[] {
  return [
    inferenceServiceReconciler(),
    learningPipelineReconciler(),
    maintenancePlanReconciler(),
    optimizationLoopReconciler(),
    backupPolicyReconciler(),
    restoreReconciler(),
  ] as unknown as Reconciler<KubeObject>[];
}
