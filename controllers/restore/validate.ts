// Spec checks the API server cannot make. Whether the policy and the backup
// exist is observed state, reported by the controller, not a spec error.
import type { FieldError } from '../../operator/schema/validation.ts';
import type { RestoreSpec } from './schema.ts';

export function validateRestore(spec: RestoreSpec): FieldError[] {
  const errors: FieldError[] = [];
  if (
    spec.targetNamespace !== undefined &&
    spec.kinds?.some((k) => k === 'Namespace' || k === 'MaintenancePlan')
  ) {
    errors.push({
      field: 'spec.kinds',
      message: 'cluster-scoped kinds (Namespace, MaintenancePlan) cannot be restored into a targetNamespace',
    });
  }
  return errors;
}
