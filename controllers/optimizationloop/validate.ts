// Spec checks the API server cannot make: durations, that each parameter
// path names a numeric field of the target (checked against the
// InferenceService schema for InferenceService targets, within its bounds),
// and that ranges and steps make sense.
import type { JSONSchemaProps } from '../../operator/schema/builder.ts';
import type { FieldError } from '../../operator/schema/validation.ts';
import { checkDuration, parseDuration } from '../../operator/schema/validation.ts';
import { specSchema as inferenceServiceSpec } from '../inferenceservice/schema.ts';
import type { OptimizationLoopParameter, OptimizationLoopSpec } from './schema.ts';

/** The schema node a path (`spec.a.b`, `spec.a[0].b`) leads to in a spec schema, or undefined. */
export function resolveSpecPath(spec: JSONSchemaProps, path: string): JSONSchemaProps | undefined {
  const tokens = path.replace(/^spec/, '').match(/\.[A-Za-z][A-Za-z0-9]*|\[[0-9]+\]/g) ?? [];
  let node: JSONSchemaProps | undefined = spec;
  for (const token of tokens) {
    if (!node) return undefined;
    node = token.startsWith('[') ? node.items : node.properties?.[token.slice(1)];
  }
  return node;
}

function checkParameterAgainst(
  field: string,
  p: OptimizationLoopParameter,
  target: JSONSchemaProps,
): FieldError[] {
  const errors: FieldError[] = [];
  const node = resolveSpecPath(target, p.path);
  if (!node) return [{ field: `${field}.path`, message: `InferenceService has no field ${p.path}` }];
  if (node.type !== 'integer' && node.type !== 'number') {
    return [{ field: `${field}.path`, message: `${p.path} is not a numeric field of InferenceService` }];
  }
  const candidates = p.values ?? [p.min, p.max, p.step].filter((v): v is number => v !== undefined);
  if (node.type === 'integer' && candidates.some((v) => !Number.isInteger(v))) {
    errors.push({
      field: p.values ? `${field}.values` : `${field}.step`,
      message: `${p.path} is an integer field: use integer ${p.values ? 'values' : 'min, max and step'}`,
    });
  }
  const lo = p.values ? Math.min(...p.values) : p.min;
  const hi = p.values ? Math.max(...p.values) : p.max;
  if (node.minimum !== undefined && lo !== undefined && lo < node.minimum) {
    errors.push({
      field: `${field}.${p.values ? 'values' : 'min'}`,
      message: `${p.path} must be at least ${node.minimum}`,
    });
  }
  if (node.maximum !== undefined && hi !== undefined && hi > node.maximum) {
    errors.push({
      field: `${field}.${p.values ? 'values' : 'max'}`,
      message: `${p.path} must be at most ${node.maximum}`,
    });
  }
  return errors;
}

export function validateOptimizationLoop(spec: OptimizationLoopSpec): FieldError[] {
  const errors: FieldError[] = [];
  const interval = spec.interval ?? '10m';
  const window = spec.evaluationWindow ?? '5m';
  const intervalError = checkDuration(interval, 30_000, 7 * 86_400_000);
  if (intervalError) errors.push({ field: 'spec.interval', message: intervalError });
  const windowError = checkDuration(window, 10_000);
  if (windowError) errors.push({ field: 'spec.evaluationWindow', message: windowError });
  if (!intervalError && !windowError && parseDuration(window)! > parseDuration(interval)!) {
    errors.push({
      field: 'spec.evaluationWindow',
      message: `must not be longer than interval (${interval})`,
    });
  }
  if ((spec.maxFailedTrials ?? 3) > (spec.maxTrials ?? 30)) {
    errors.push({ field: 'spec.maxFailedTrials', message: 'must not exceed maxTrials' });
  }

  spec.parameters.forEach((p, i) => {
    const f = `spec.parameters[${i}]`;
    if (p.values === undefined && (p.min === undefined || p.max === undefined || p.step === undefined)) {
      errors.push({ field: f, message: 'set either min, max and step, or values' });
    }
    if (p.min !== undefined && p.max !== undefined && p.step !== undefined) {
      if (p.min > p.max) errors.push({ field: `${f}.min`, message: 'must be less than or equal to max' });
      else if (p.step > p.max - p.min && p.max !== p.min) {
        errors.push({ field: `${f}.step`, message: `must not exceed max - min (${p.max - p.min})` });
      } else if (p.step > 0 && (p.max - p.min) / p.step > 100_000) {
        errors.push({ field: `${f}.step`, message: 'too small: the range has more than 100000 values' });
      }
    }
    if (spec.target.kind === 'InferenceService') {
      errors.push(...checkParameterAgainst(f, p, inferenceServiceSpec.json));
    } else if (p.path !== 'spec.replicas' && !p.path.startsWith('spec.template.spec.')) {
      errors.push({
        field: `${f}.path`,
        message: 'for a Deployment, tune spec.replicas or a field under spec.template.spec',
      });
    }
  });
  return errors;
}
