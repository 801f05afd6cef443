// Spec checks the API server cannot make: durations, cron windows, that each
// parameter path names a numeric field of the target (checked against the
// InferenceService schema for InferenceService targets, within its bounds),
// that ranges and steps make sense, and (again, for objects that predate the
// CEL rules) the allow-lists of tunable paths.
import type { JSONSchemaProps } from '../../operator/schema/builder.ts';
import type { FieldError } from '../../operator/schema/validation.ts';
import { checkCron, checkDuration, checkTimeZone } from '../../operator/schema/validation.ts';
import { specSchema as inferenceServiceSpec } from '../inferenceservice/schema.ts';
import {
  DEPLOYMENT_PATH_REGEX,
  DEPLOYMENT_PATHS_TEXT,
  INFERENCE_SERVICE_PATH_REGEX,
  INFERENCE_SERVICE_PATHS,
} from './schema.ts';
import type { OptimizationLoopParameter, OptimizationLoopSpec } from './schema.ts';

/** An RE2 allow-list from schema.ts as a JavaScript RegExp (`[]]` is a bracket in RE2, not in JS). */
export function allowListRegExp(re2: string): RegExp {
  return new RegExp(re2.replaceAll('[]]', '\\]'));
}
const DEPLOYMENT_PATH_RE = allowListRegExp(DEPLOYMENT_PATH_REGEX);
const INFERENCE_SERVICE_PATH_RE = allowListRegExp(INFERENCE_SERVICE_PATH_REGEX);

/** Deployment fields that only take whole numbers (memory in bytes, replicas). */
const DEPLOYMENT_INTEGER_PATH_RE =
  /^spec\.(replicas|template\.spec\.containers\[[0-9]+\]\.resources\.(requests|limits)\.memory)$/;

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
  const delayError = checkDuration(spec.initialDelay ?? '1m', 0, 3_600_000);
  if (delayError) errors.push({ field: 'spec.initialDelay', message: delayError });
  const windowError = checkDuration(spec.evaluationWindow ?? '5m', 30_000, 86_400_000);
  if (windowError) errors.push({ field: 'spec.evaluationWindow', message: windowError });
  if ((spec.maxFailedTrials ?? 3) > (spec.maxTrials ?? 30)) {
    errors.push({ field: 'spec.maxFailedTrials', message: 'must not exceed maxTrials' });
  }
  (spec.safety?.windows ?? []).forEach((w, i) => {
    const f = `spec.safety.windows[${i}]`;
    const tzError = w.timeZone === undefined ? undefined : checkTimeZone(w.timeZone);
    if (tzError) errors.push({ field: `${f}.timeZone`, message: tzError });
    const cronError = checkCron(w.schedule, tzError ? undefined : w.timeZone);
    if (cronError) errors.push({ field: `${f}.schedule`, message: cronError });
    const durationError = checkDuration(w.duration, 60_000, 7 * 86_400_000);
    if (durationError) errors.push({ field: `${f}.duration`, message: durationError });
  });

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
      if (!INFERENCE_SERVICE_PATH_RE.test(p.path) && resolveSpecPath(inferenceServiceSpec.json, p.path)) {
        errors.push({
          field: `${f}.path`,
          message: `${p.path} is not tunable: use one of ${INFERENCE_SERVICE_PATHS.join(', ')}`,
        });
      } else {
        errors.push(...checkParameterAgainst(f, p, inferenceServiceSpec.json));
      }
    } else if (!DEPLOYMENT_PATH_RE.test(p.path)) {
      errors.push({
        field: `${f}.path`,
        message: `for a Deployment, tune ${DEPLOYMENT_PATHS_TEXT} (nothing under securityContext, no image)`,
      });
    } else {
      const candidates = p.values ?? [p.min, p.max, p.step].filter((v): v is number => v !== undefined);
      if (DEPLOYMENT_INTEGER_PATH_RE.test(p.path) && candidates.some((v) => !Number.isInteger(v))) {
        errors.push({
          field: p.values ? `${f}.values` : `${f}.step`,
          message: `${p.path} takes whole numbers: use integer ${p.values ? 'values' : 'min, max and step'}`,
        });
      }
      if (!p.path.endsWith('.value') && candidates.some((v) => v < 0)) {
        errors.push({
          field: p.values ? `${f}.values` : `${f}.min`,
          message: `${p.path} must not be negative`,
        });
      }
    }
  });
  return errors;
}
