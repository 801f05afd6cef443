// Every ymera kind, in the order the CRDs are generated and installed, and
// the controller-side spec validator of each.
import { crd as backupPolicy } from '../../controllers/backuppolicy/schema.ts';
import { validateBackupPolicy } from '../../controllers/backuppolicy/validate.ts';
import { crd as inferenceService } from '../../controllers/inferenceservice/schema.ts';
import { validateInferenceService } from '../../controllers/inferenceservice/validate.ts';
import { crd as learningPipeline } from '../../controllers/learningpipeline/schema.ts';
import { validateLearningPipeline } from '../../controllers/learningpipeline/validate.ts';
import { crd as maintenancePlan } from '../../controllers/maintenanceplan/schema.ts';
import { validateMaintenancePlan } from '../../controllers/maintenanceplan/validate.ts';
import { crd as optimizationLoop } from '../../controllers/optimizationloop/schema.ts';
import { validateOptimizationLoop } from '../../controllers/optimizationloop/validate.ts';
import { crd as restore } from '../../controllers/restore/schema.ts';
import { validateRestore } from '../../controllers/restore/validate.ts';
import type { KindDefinition } from './crd.ts';
import type { FieldError } from './validation.ts';

export { backupPolicy, inferenceService, learningPipeline, maintenancePlan, optimizationLoop, restore };

export const kinds: readonly KindDefinition[] = [
  inferenceService,
  learningPipeline,
  maintenancePlan,
  optimizationLoop,
  backupPolicy,
  restore,
];

/** The kind definition for a kind name (e.g. `InferenceService`), or undefined. */
export function kindByName(kind: string): KindDefinition | undefined {
  return kinds.find((k) => k.kind === kind);
}

/**
 * Controller-side spec validation by kind name, for code that handles kinds
 * generically. `namespace` is the object's namespace (BackupPolicy uses it).
 */
export function validateSpec(kind: string, spec: unknown, namespace?: string): FieldError[] {
  switch (kind) {
    case inferenceService.kind:
      return validateInferenceService(spec as Parameters<typeof validateInferenceService>[0]);
    case learningPipeline.kind:
      return validateLearningPipeline(spec as Parameters<typeof validateLearningPipeline>[0]);
    case maintenancePlan.kind:
      return validateMaintenancePlan(spec as Parameters<typeof validateMaintenancePlan>[0]);
    case optimizationLoop.kind:
      return validateOptimizationLoop(spec as Parameters<typeof validateOptimizationLoop>[0]);
    case backupPolicy.kind:
      return validateBackupPolicy(spec as Parameters<typeof validateBackupPolicy>[0], { namespace });
    case restore.kind:
      return validateRestore(spec as Parameters<typeof validateRestore>[0]);
    default:
      throw new Error(`unknown kind ${kind}`);
  }
}
