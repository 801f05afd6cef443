// Spec checks the API server cannot make: dependency cycles (with the cycle
// path), cron schedules and time zones, artifact wiring (inputs produced
// upstream, output names and paths unique), quantities.
import type { FieldError } from '../../operator/schema/validation.ts';
import { checkCron, checkResources, checkTimeZone } from '../../operator/schema/validation.ts';
import type { LearningPipelineSpec, LearningPipelineStep } from './schema.ts';

/**
 * Finds the dependency cycles among steps. Each cycle is returned once, as
 * the list of step names starting and ending with the same step, in the
 * direction of dependsOn (`a → b` means a depends on b).
 */
export function findCycles(steps: readonly LearningPipelineStep[]): string[][] {
  const deps = new Map(steps.map((s) => [s.name, (s.dependsOn ?? []).filter((d) => d !== s.name)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const seen = new Set<string>();

  const visit = (name: string): void => {
    state.set(name, 'visiting');
    stack.push(name);
    for (const dep of deps.get(name) ?? []) {
      if (!deps.has(dep)) continue;
      const st = state.get(dep);
      if (st === 'visiting') {
        const cycle = [...stack.slice(stack.indexOf(dep)), dep];
        const key = [...cycle.slice(0, -1)].sort().join('\u0000');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push(cycle);
        }
      } else if (st === undefined) {
        visit(dep);
      }
    }
    stack.pop();
    state.set(name, 'done');
  };
  for (const s of steps) if (!state.has(s.name)) visit(s.name);
  return cycles;
}

/** Names of every step `name` depends on, directly or transitively. */
function upstreamOf(name: string, byName: Map<string, LearningPipelineStep>): Set<string> {
  const out = new Set<string>();
  const todo = [...(byName.get(name)?.dependsOn ?? [])];
  while (todo.length > 0) {
    const next = todo.pop()!;
    if (out.has(next)) continue;
    out.add(next);
    todo.push(...(byName.get(next)?.dependsOn ?? []));
  }
  return out;
}

export function validateLearningPipeline(spec: LearningPipelineSpec): FieldError[] {
  const errors: FieldError[] = [];
  const steps = spec.steps ?? [];
  const byName = new Map<string, LearningPipelineStep>();
  const index = new Map<string, number>();

  steps.forEach((step, i) => {
    if (byName.has(step.name)) {
      errors.push({ field: `spec.steps[${i}].name`, message: `duplicate step name ${step.name}` });
    } else {
      byName.set(step.name, step);
      index.set(step.name, i);
    }
  });

  steps.forEach((step, i) => {
    const f = `spec.steps[${i}]`;
    for (const dep of step.dependsOn ?? []) {
      if (dep === step.name)
        errors.push({ field: `${f}.dependsOn`, message: 'a step cannot depend on itself' });
      else if (!byName.has(dep)) errors.push({ field: `${f}.dependsOn`, message: `no step named ${dep}` });
    }
    errors.push(...checkResources(`${f}.resources`, step.resources));
    const backoff = step.retry?.backoff;
    if (backoff && (backoff.durationSeconds ?? 10) > (backoff.maxDurationSeconds ?? 600)) {
      errors.push({
        field: `${f}.retry.backoff.durationSeconds`,
        message: 'must not exceed maxDurationSeconds',
      });
    }
  });

  for (const cycle of findCycles(steps)) {
    const first = cycle[0]!;
    errors.push({
      field: `spec.steps[${index.get(first)}].dependsOn`,
      message: `dependency cycle: ${cycle.join(' → ')}`,
    });
  }

  // Artifacts: output names and paths unique across the pipeline; inputs produced upstream.
  const producer = new Map<string, string>();
  const pathOwner = new Map<string, string>();
  steps.forEach((step, i) => {
    (step.outputs ?? []).forEach((out, j) => {
      const f = `spec.steps[${i}].outputs[${j}]`;
      const other = producer.get(out.name);
      if (other !== undefined && other !== step.name) {
        errors.push({ field: `${f}.name`, message: `output ${out.name} is also produced by step ${other}` });
      } else {
        producer.set(out.name, step.name);
      }
      const path = out.path.replace(/\/+$/, '');
      const owner = pathOwner.get(path);
      if (owner !== undefined) {
        errors.push({ field: `${f}.path`, message: `path ${out.path} is also written by output ${owner}` });
      } else {
        pathOwner.set(path, out.name);
      }
    });
  });
  steps.forEach((step, i) => {
    const upstream = upstreamOf(step.name, byName);
    (step.inputs ?? []).forEach((input, j) => {
      const f = `spec.steps[${i}].inputs[${j}]`;
      const from = producer.get(input);
      if (from === undefined) errors.push({ field: f, message: `no step has an output named ${input}` });
      else if (from === step.name) errors.push({ field: f, message: `${input} is an output of this step` });
      else if (!upstream.has(from)) {
        errors.push({
          field: f,
          message: `${input} is produced by step ${from}, which ${step.name} does not depend on (add it to dependsOn)`,
        });
      }
    });
  });
  if (spec.model && !producer.has(spec.model.outputArtifact)) {
    errors.push({
      field: 'spec.model.outputArtifact',
      message: `no step has an output named ${spec.model.outputArtifact}`,
    });
  }
  const gate = spec.promotion?.gate;
  if (gate && !producer.has(gate.metricsArtifact)) {
    errors.push({
      field: 'spec.promotion.gate.metricsArtifact',
      message: `no step has an output named ${gate.metricsArtifact}`,
    });
  }
  if (spec.promotion && !spec.model) {
    errors.push({ field: 'spec.promotion', message: 'promotion needs model (which output is the model)' });
  }

  if (spec.timeZone !== undefined) {
    const e = checkTimeZone(spec.timeZone);
    if (e) errors.push({ field: 'spec.timeZone', message: e });
  }
  if (spec.schedule !== undefined) {
    const tzOk = spec.timeZone === undefined || checkTimeZone(spec.timeZone) === undefined;
    const e = checkCron(spec.schedule, tzOk ? spec.timeZone : undefined);
    if (e) errors.push({ field: 'spec.schedule', message: e });
  }
  for (const key of Object.keys(spec.triggers?.kafka?.filter ?? {})) {
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(key)) {
      errors.push({
        field: `spec.triggers.kafka.filter[${key}]`,
        message: 'keys are dotted field paths (e.g. model.name)',
      });
    }
  }
  return errors;
}
