// Spec checks the API server cannot make (admission already enforced the
// OpenAPI schema and the CEL rules): URIs, quantities, durations.
import type { FieldError } from '../../operator/schema/validation.ts';
import { checkDuration, checkModelUri, checkResources } from '../../operator/schema/validation.ts';
import type { InferenceServiceSpec } from './schema.ts';

export function validateInferenceService(spec: InferenceServiceSpec): FieldError[] {
  const errors: FieldError[] = [];
  const uriError = checkModelUri(spec.model.uri);
  if (uriError) errors.push({ field: 'spec.model.uri', message: uriError });

  errors.push(...checkResources('spec.runtime.resources', spec.runtime?.resources));

  const scaling = spec.scaling;
  if (scaling?.maxReplicas !== undefined && (scaling.minReplicas ?? 1) > scaling.maxReplicas) {
    errors.push({ field: 'spec.scaling.minReplicas', message: 'must be less than or equal to maxReplicas' });
  }
  if (scaling?.metric === 'cpu' && scaling.target !== undefined && scaling.target > 1000) {
    errors.push({
      field: 'spec.scaling.target',
      message: 'a CPU utilisation target is a percentage of the request (at most 1000)',
    });
  }

  const interval = spec.rollout?.analysis?.interval;
  if (interval !== undefined) {
    const e = checkDuration(interval, 10_000, 3_600_000);
    if (e) errors.push({ field: 'spec.rollout.analysis.interval', message: e });
  }
  return errors;
}
