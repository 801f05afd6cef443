// Pure: what one measurement of a candidate says, compared with the last
// known good values measured under the same load. The order is the safety
// order: too few samples (hold: a p95 of three requests is noise), then a
// broken constraint (roll back, even when the objective has no data), then
// missing data or a different load (hold), then the improvement.
// The trial state machine (state.ts) turns a Promising judgement into a
// second measurement (Confirming) before it adopts anything.
import type { Measurement, OptimizationLoopSpec } from './schema.ts';

export type Judgement =
  | { kind: 'Inconclusive'; reason: string }
  | { kind: 'Violated'; constraint: string; reason: string }
  | { kind: 'Rejected'; improvementPercent: number; reason: string }
  | { kind: 'Promising'; improvementPercent: number; reason: string };

type Spec = Pick<
  OptimizationLoopSpec,
  'objective' | 'constraints' | 'minSamples' | 'load' | 'minImprovementPercent'
>;
type Operator = NonNullable<OptimizationLoopSpec['constraints']>[number]['operator'];

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

export function holds(value: number, operator: Operator, threshold: number): boolean {
  switch (operator) {
    case 'LessThan':
      return value < threshold;
    case 'LessThanOrEqual':
      return value <= threshold;
    case 'GreaterThan':
      return value > threshold;
    case 'GreaterThanOrEqual':
      return value >= threshold;
  }
}

const OPERATOR_TEXT: Record<Operator, string> = {
  LessThan: '<',
  LessThanOrEqual: '<=',
  GreaterThan: '>',
  GreaterThanOrEqual: '>=',
};

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4));

/**
 * The constraints as measured: value and met per constraint, in spec order.
 * A missing or NaN value has neither (no data).
 */
export function constraintResults(
  spec: Pick<OptimizationLoopSpec, 'constraints'>,
  values: Readonly<Record<string, number | undefined>>,
): NonNullable<Measurement['constraints']> {
  return (spec.constraints ?? []).map((c) => {
    const value = values[c.name];
    return finite(value)
      ? { name: c.name, value, met: holds(value, c.operator, c.threshold) }
      : { name: c.name };
  });
}

/**
 * Improvement of `value` over `reference` in percent, positive when better for
 * the goal. Against a reference of 0 the relative change is undefined: any
 * better value counts as 100%, an equal one as 0.
 */
export function improvementPercent(value: number, reference: number, goal: 'Minimize' | 'Maximize'): number {
  const better = goal === 'Maximize' ? value - reference : reference - value;
  if (reference === 0) return better > 0 ? 100 : better < 0 ? -100 : 0;
  return (100 * better) / Math.abs(reference);
}

/** Violations and missing data of a measurement, without comparing it with anything (also used for the baseline). */
export function checkMeasurement(spec: Spec, m: Measurement): Judgement | undefined {
  const results = m.constraints ?? [];
  // A constraint broken with too few samples is noise, not a breach: the sample check comes first.
  if (spec.minSamples) {
    if (!finite(m.samples))
      return { kind: 'Inconclusive', reason: 'no data for the sample count (minSamples.query)' };
    if (m.samples < spec.minSamples.minimum) {
      return {
        kind: 'Inconclusive',
        reason: `${fmt(m.samples)} samples in the window, fewer than minSamples.minimum (${spec.minSamples.minimum})`,
      };
    }
  }
  for (const c of spec.constraints ?? []) {
    const r = results.find((x) => x.name === c.name);
    if (r?.value !== undefined && r.met === false) {
      return {
        kind: 'Violated',
        constraint: c.name,
        reason: `constraint ${c.name} broken: ${fmt(r.value)} is not ${OPERATOR_TEXT[c.operator]} ${fmt(c.threshold)}`,
      };
    }
  }
  if (!finite(m.objective))
    return { kind: 'Inconclusive', reason: 'no data for the objective (empty or NaN)' };
  const missing = (spec.constraints ?? []).find(
    (c) => results.find((x) => x.name === c.name)?.value === undefined,
  );
  if (missing)
    return { kind: 'Inconclusive', reason: `no data for constraint ${missing.name} (empty or NaN)` };
  if (spec.load && !finite(m.load))
    return { kind: 'Inconclusive', reason: 'no data for the load (load.query)' };
  return undefined;
}

/** Whether two loads are within the tolerance of each other (relative to the reference). */
export function sameLoad(load: number, reference: number, tolerancePercent: number): boolean {
  if (reference === 0) return load === 0;
  return (100 * Math.abs(load - reference)) / Math.abs(reference) <= tolerancePercent;
}

/** Judges a candidate's measurement against the reference (the last known good values' measurement). */
export function judge(spec: Spec, m: Measurement, reference: Measurement): Judgement {
  const problem = checkMeasurement(spec, m);
  if (problem) return problem;
  if (!finite(reference.objective))
    return { kind: 'Inconclusive', reason: 'the baseline has no objective to compare with' };
  if (spec.load && finite(m.load) && finite(reference.load)) {
    const tolerance = spec.load.tolerancePercent ?? 20;
    if (!sameLoad(m.load, reference.load, tolerance)) {
      return {
        kind: 'Inconclusive',
        reason: `load ${fmt(m.load)} differs from the baseline's ${fmt(reference.load)} by more than ${tolerance}%`,
      };
    }
  }
  const objective = m.objective!;
  const pct = improvementPercent(objective, reference.objective, spec.objective.goal);
  const min = spec.minImprovementPercent ?? 2;
  const text = `objective ${fmt(objective)} vs baseline ${fmt(reference.objective)} (${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%)`;
  return pct >= min && pct > 0
    ? { kind: 'Promising', improvementPercent: pct, reason: `${text}, at least the ${min}% required` }
    : { kind: 'Rejected', improvementPercent: pct, reason: `${text}, less than the ${min}% required` };
}
