// Spec checks the API server cannot make: label selector well-formedness,
// cron schedule and time zone, durations, action order, quantities.
import type { FieldError } from '../../operator/schema/validation.ts';
import {
  checkCron,
  checkDuration,
  checkLabelSelector,
  checkModelUri,
  checkResources,
  checkTimeZone,
} from '../../operator/schema/validation.ts';
import type { MaintenancePlanSpec } from './schema.ts';

export function validateMaintenancePlan(spec: MaintenancePlanSpec): FieldError[] {
  const errors: FieldError[] = [];
  errors.push(...checkLabelSelector('spec.nodeSelector', spec.nodeSelector));

  const uriError = checkModelUri(spec.predictor.model.uri);
  if (uriError) errors.push({ field: 'spec.predictor.model.uri', message: uriError });
  if (spec.predictor.interval !== undefined) {
    const e = checkDuration(spec.predictor.interval, 5_000, 86_400_000);
    if (e) errors.push({ field: 'spec.predictor.interval', message: e });
  }

  const tz = spec.window.timeZone;
  const tzError = tz === undefined ? undefined : checkTimeZone(tz);
  if (tzError) errors.push({ field: 'spec.window.timeZone', message: tzError });
  const cronError = checkCron(spec.window.schedule, tzError ? undefined : tz);
  if (cronError) errors.push({ field: 'spec.window.schedule', message: cronError });

  const mu = spec.maxUnavailable;
  if (typeof mu === 'number' && (!Number.isInteger(mu) || mu < 1)) {
    errors.push({ field: 'spec.maxUnavailable', message: 'must be at least 1' });
  } else if (typeof mu === 'string') {
    const m = /^([0-9]+)%$/.exec(mu);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 100) {
      errors.push({
        field: 'spec.maxUnavailable',
        message: 'must be a number or a percentage from 1% to 100%',
      });
    }
  }

  // Actions: Cordon, Drain and Uncordon at most once; Drain after Cordon; Uncordon last and only after Cordon.
  const actions = spec.actions ?? [];
  const position = new Map<string, number>();
  actions.forEach((a, i) => {
    const f = `spec.actions[${i}]`;
    if (a.type !== 'Job') {
      if (position.has(a.type))
        errors.push({ field: `${f}.type`, message: `${a.type} appears more than once` });
      else position.set(a.type, i);
    }
    if (a.type === 'Job' && a.job) errors.push(...checkResources(`${f}.job.resources`, a.job.resources));
  });
  const cordon = position.get('Cordon');
  const drain = position.get('Drain');
  const uncordon = position.get('Uncordon');
  // the Job runs on the drained node: after the Drain (Uncordon, last, comes after it)
  actions.forEach((a, i) => {
    if (a.type === 'Job' && (drain === undefined || drain > i))
      errors.push({
        field: `spec.actions[${i}].type`,
        message: 'Job must come after a Drain (it runs on the emptied node)',
      });
  });
  if (drain !== undefined && (cordon === undefined || cordon > drain)) {
    errors.push({ field: `spec.actions[${drain}].type`, message: 'Drain must come after a Cordon' });
  }
  if (uncordon !== undefined) {
    if (cordon === undefined || cordon > uncordon) {
      errors.push({ field: `spec.actions[${uncordon}].type`, message: 'Uncordon must come after a Cordon' });
    } else if (uncordon !== actions.length - 1) {
      errors.push({ field: `spec.actions[${uncordon}].type`, message: 'Uncordon must be the last action' });
    }
  }
  return errors;
}
