// Pure: which parameter values to try next. Every parameter is a sorted list
// of allowed values (a range becomes min + k·step), so a point is a vector of
// indexes and a proposal can only ever be an allowed value (integers stay
// integers). Proposals stay within maxStep indexes of the incumbent (the last
// known good point), so the safety validator never has to refuse one.
// Stateless: the next proposal is a function of the history and a seed mixed
// with the trial number, so a reconcile (or an operator restart) proposes the
// same point again.
import type { Algorithm, OptimizationLoopParameter } from './schema.ts';

/** The allowed values of each parameter, ascending. */
export type Space = readonly (readonly number[])[];
/** A point: one index into each parameter's values. */
export type Point = readonly number[];

export type Observation = {
  point: Point;
  /** Higher is better (a Minimize objective is negated by the caller). Undefined: not measured. */
  score?: number;
  /** False when the point broke a constraint. */
  feasible: boolean;
};

export type ProposeInput = {
  algorithm: Algorithm;
  space: Space;
  history: readonly Observation[];
  /** Where steps are measured from: the last known good point. */
  incumbent: Point;
  /** Largest move per parameter, in indexes (at least 1). */
  maxStep: readonly number[];
  seed: number;
  /** The trial being proposed (mixed into the seed so each trial draws afresh). */
  trial: number;
};

export type Proposal = { point: Point; reason: string };

// ---------------------------------------------------------------- space

/** Decimal places of a step (0.25 → 2), so min + k·step prints without float noise. */
function decimals(x: number): number {
  const text = String(x);
  if (text.includes('e-')) return Number(text.split('e-')[1]);
  return text.includes('.') ? text.split('.')[1]!.length : 0;
}

/** The allowed values of a parameter, ascending (a range at most 100000 long, see validate.ts). */
export function valuesOf(p: OptimizationLoopParameter): number[] {
  if (p.values) return [...new Set(p.values)].sort((a, b) => a - b);
  const { min = 0, max = 0, step = 1 } = p;
  const places = Math.max(decimals(min), decimals(step));
  const out: number[] = [];
  for (let k = 0; min + k * step <= max + step * 1e-9; k++)
    out.push(Number((min + k * step).toFixed(places)));
  return out;
}

export function spaceOf(parameters: readonly OptimizationLoopParameter[]): Space {
  return parameters.map(valuesOf);
}

/**
 * A dimension of a search space in general terms (the LearningPipeline sweep's
 * parameters): a real range, an integer range (both optionally on a log
 * scale) or a choice among `count` categories. Each becomes a sorted list of
 * values the algorithms index into; a category is its index.
 */
export type Dimension =
  | { kind: 'real'; min: number; max: number; logScale?: boolean }
  | { kind: 'integer'; min: number; max: number; step?: number; logScale?: boolean }
  | { kind: 'choice'; count: number };

/** Points of a real range (and most of an integer one): enough for the algorithms, few enough to enumerate. */
export const GRID_POINTS = 101;

/** `x` to 6 significant digits (grid points print without float noise). */
const round6 = (x: number) => Number(x.toPrecision(6));

/** The sorted values of a dimension (at most GRID_POINTS for ranges, unless an integer range with a step). */
export function dimensionValues(d: Dimension): number[] {
  if (d.kind === 'choice') return Array.from({ length: d.count }, (_, i) => i);
  const n = GRID_POINTS;
  const at = (k: number) =>
    d.logScale
      ? Math.exp(Math.log(d.min) + ((Math.log(d.max) - Math.log(d.min)) * k) / (n - 1))
      : d.min + ((d.max - d.min) * k) / (n - 1);
  if (d.kind === 'real') {
    if (d.min === d.max) return [d.min];
    return [...new Set(Array.from({ length: n }, (_, k) => (k === n - 1 ? d.max : round6(at(k)))))];
  }
  const step = d.step ?? 1;
  const count = Math.floor((d.max - d.min) / step) + 1;
  if (!d.logScale && count <= 10 * GRID_POINTS)
    return valuesOf({ path: '', min: d.min, max: d.min + (count - 1) * step, step });
  // log-spaced (or, for a wide range, evenly spaced) integers on the step's lattice, duplicates dropped
  const snap = (x: number) => Math.min(d.max, d.min + Math.round((x - d.min) / step) * step);
  return [...new Set(Array.from({ length: n }, (_, k) => snap(at(k))))].sort((a, b) => a - b);
}

/** Incumbent for a search with no result yet: the middle of every dimension. */
export function centreOf(space: Space): Point {
  return space.map((vals) => Math.floor((vals.length - 1) / 2));
}

/** Nearest index of each value (a target may hold a value off the grid). */
export function pointOf(space: Space, values: readonly number[]): Point {
  return space.map((vals, d) => {
    const v = values[d] ?? vals[0]!;
    let best = 0;
    for (let i = 1; i < vals.length; i++) if (Math.abs(vals[i]! - v) < Math.abs(vals[best]! - v)) best = i;
    return best;
  });
}

export function valuesAt(space: Space, point: Point): number[] {
  return space.map((vals, d) => vals[point[d]!]!);
}

/** maxStepPercent of each parameter's index range, at least one index. */
export function maxStepOf(space: Space, maxStepPercent: number): number[] {
  return space.map((vals) => Math.max(1, Math.floor(((vals.length - 1) * maxStepPercent) / 100)));
}

const keyOf = (p: Point) => p.join(',');

// ---------------------------------------------------------------- PRNG

/** mulberry32: a small, fast, seedable PRNG; returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes the loop's seed with the trial number (splitmix-style), so trials draw independently. */
export function trialSeed(seed: number, trial: number): number {
  let z = (seed ^ Math.imul(trial + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** A 32-bit seed from a string (e.g. the object uid), FNV-1a. */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

// ---------------------------------------------------------------- candidates

/** Points within maxStep of the incumbent: all of them when few, else a seeded sample. */
function region(input: ProposeInput, rand: () => number, limit = 4096): Point[] {
  const { space, incumbent, maxStep } = input;
  const ranges = space.map((vals, d) => {
    const lo = Math.max(0, incumbent[d]! - maxStep[d]!);
    const hi = Math.min(vals.length - 1, incumbent[d]! + maxStep[d]!);
    return [lo, hi] as const;
  });
  const size = ranges.reduce((n, [lo, hi]) => n * (hi - lo + 1), 1);
  if (size <= limit) {
    let points: number[][] = [[]];
    for (const [lo, hi] of ranges) {
      const next: number[][] = [];
      for (const p of points) for (let i = lo; i <= hi; i++) next.push([...p, i]);
      points = next;
    }
    return points;
  }
  const out: Point[] = [];
  for (let k = 0; k < limit; k++) out.push(ranges.map(([lo, hi]) => lo + Math.floor(rand() * (hi - lo + 1))));
  return out;
}

function untried(points: Point[], history: readonly Observation[]): Point[] {
  const seen = new Set(history.map((o) => keyOf(o.point)));
  const out: Point[] = [];
  for (const p of points) {
    const k = keyOf(p);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(p);
    }
  }
  return out;
}

// ---------------------------------------------------------------- algorithms

function random(input: ProposeInput, rand: () => number): Proposal | undefined {
  const candidates = untried(region(input, rand), input.history);
  if (candidates.length === 0) return undefined;
  return {
    point: candidates[Math.floor(rand() * candidates.length)]!,
    reason: 'random point within maxStep',
  };
}

/**
 * Pattern search from the incumbent: try ±s along each parameter, s from
 * maxStep halving down to 1; a neighbour tried before was not better (else it
 * would be the incumbent), so the first step size with an untried neighbour
 * is the one to search at. Nothing left at step 1: a local optimum.
 */
function hillClimb(input: ProposeInput, rand: () => number): Proposal | undefined {
  const { space, incumbent, maxStep } = input;
  const tried = new Set(input.history.map((o) => keyOf(o.point)));
  const largest = Math.max(...maxStep);
  for (let s = largest; s >= 1; s = s === 1 ? 0 : Math.max(1, Math.floor(s / 2))) {
    const neighbours: Point[] = [];
    space.forEach((vals, d) => {
      const step = Math.min(s, maxStep[d]!);
      for (const dir of [-1, 1]) {
        const i = incumbent[d]! + dir * step;
        if (i < 0 || i >= vals.length) continue;
        const p = [...incumbent];
        p[d] = i;
        if (!tried.has(keyOf(p))) neighbours.push(p);
      }
    });
    if (neighbours.length > 0) {
      return { point: shuffle(neighbours, rand)[0]!, reason: `neighbour of the best point at step ${s}` };
    }
  }
  return undefined;
}

/** Standard normal density and distribution (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7). */
function normPdf(z: number): number {
  return Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}
export function normCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
}

/** Lower-triangular L with L·Lᵀ = A (A symmetric positive definite), or undefined. */
function cholesky(a: number[][]): number[][] | undefined {
  const n = a.length;
  const l = a.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i]![j]!;
      for (let k = 0; k < j; k++) sum -= l[i]![k]! * l[j]![k]!;
      if (i === j) {
        if (sum <= 0) return undefined;
        l[i]![i] = Math.sqrt(sum);
      } else l[i]![j] = sum / l[j]![j]!;
    }
  }
  return l;
}

/** Solves L·x = b (forward) and Lᵀ·x = b (backward). */
function forward(l: number[][], b: number[]): number[] {
  const x: number[] = [];
  for (let i = 0; i < b.length; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i]![k]! * x[k]!;
    x.push(s / l[i]![i]!);
  }
  return x;
}
function backward(l: number[][], b: number[]): number[] {
  const n = b.length;
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k]![i]! * x[k]!;
    x[i] = s / l[i]![i]!;
  }
  return x;
}

export type GaussianProcess = { predict: (x: readonly number[]) => { mean: number; sd: number } };

/**
 * A Gaussian process with an RBF kernel on standardised targets; the length
 * scale is the one of a small grid with the highest marginal likelihood.
 */
export function fitGaussianProcess(
  xs: readonly (readonly number[])[],
  ys: readonly number[],
  noise = 1e-4,
): GaussianProcess {
  const n = ys.length;
  const mean = ys.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(ys.reduce((a, b) => a + (b - mean) ** 2, 0) / n) || 1;
  const y = ys.map((v) => (v - mean) / sd);
  const sq = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0);
  let best: { l: number[][]; alpha: number[]; ls: number; lml: number } | undefined;
  for (const ls of [0.05, 0.1, 0.2, 0.3, 0.5, 1]) {
    const k = xs.map((a, i) => xs.map((b, j) => Math.exp(-sq(a, b) / (2 * ls * ls)) + (i === j ? noise : 0)));
    const l = cholesky(k);
    if (!l) continue;
    const alpha = backward(l, forward(l, y));
    const lml =
      -0.5 * y.reduce((s, v, i) => s + v * alpha[i]!, 0) - l.reduce((s, row, i) => s + Math.log(row[i]!), 0);
    if (!best || lml > best.lml) best = { l, alpha, ls, lml };
  }
  if (!best) return { predict: () => ({ mean, sd }) };
  const { l, alpha, ls } = best;
  return {
    predict: (x) => {
      const kx = xs.map((a) => Math.exp(-sq(a, x) / (2 * ls * ls)));
      const mu = kx.reduce((s, v, i) => s + v * alpha[i]!, 0);
      const v = forward(l, kx);
      const variance = Math.max(1e-12, 1 - v.reduce((s, e) => s + e * e, 0));
      return { mean: mean + sd * mu, sd: sd * Math.sqrt(variance) };
    },
  };
}

/** Expected improvement over `best` of a normal prediction (maximisation). */
export function expectedImprovement(mean: number, sd: number, best: number, xi = 0): number {
  if (sd <= 0) return Math.max(0, mean - best - xi);
  const z = (mean - best - xi) / sd;
  return (mean - best - xi) * normCdf(z) + sd * normPdf(z);
}

/** Initial random points before the model is trusted. */
const initialPoints = (dims: number) => Math.max(3, dims + 2);
/** Most recent observations the model is fitted on (Cholesky is cubic). */
const MODEL_WINDOW = 150;

function bayesian(input: ProposeInput, rand: () => number): Proposal | undefined {
  const measured = input.history.filter((o) => o.score !== undefined && Number.isFinite(o.score));
  if (measured.length < initialPoints(input.space.length)) {
    const r = random(input, rand);
    return r && { ...r, reason: 'initial random point for the model' };
  }
  const candidates = untried(region(input, rand), input.history);
  if (candidates.length === 0) return undefined;
  const norm = (p: Point) =>
    p.map((i, d) => (input.space[d]!.length > 1 ? i / (input.space[d]!.length - 1) : 0));
  const recent = measured.slice(-MODEL_WINDOW);
  const feasible = recent.filter((o) => o.feasible).map((o) => o.score!);
  const worst = Math.min(...recent.map((o) => o.score!));
  const spread = Math.max(...recent.map((o) => o.score!)) - worst || 1;
  // A violating point is modelled as worse than anything seen, so the model steers away from it.
  const ys = recent.map((o) => (o.feasible ? o.score! : worst - spread));
  const gp = fitGaussianProcess(
    recent.map((o) => norm(o.point)),
    ys,
  );
  const incumbentScore = feasible.length > 0 ? Math.max(...feasible) : Math.max(...ys);
  let best: { point: Point; ei: number } | undefined;
  for (const p of candidates) {
    const { mean, sd } = gp.predict(norm(p));
    const ei = expectedImprovement(mean, sd, incumbentScore, 0.01 * spread);
    if (!best || ei > best.ei) best = { point: p, ei };
  }
  return { point: best!.point, reason: `highest expected improvement (${best!.ei.toPrecision(3)})` };
}

/** The next point to try, or undefined when the algorithm has nothing left to try (converged). */
export function propose(input: ProposeInput): Proposal | undefined {
  const rand = prng(trialSeed(input.seed, input.trial));
  switch (input.algorithm) {
    case 'Random':
      return random(input, rand);
    case 'HillClimb':
      return hillClimb(input, rand);
    case 'Bayesian':
      return bayesian(input, rand);
  }
}
