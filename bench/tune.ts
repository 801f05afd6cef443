// OptimizationLoop tuning benchmark, pure (no cluster): the loop's real state
// machine and algorithms (bench/tune-sim.ts) against simulated services whose
// objective and constraint are known functions of the tuned values, measured
// with seeded noise, over several seeds per algorithm. For HillClimb, Random
// and Bayesian: the share of seeds whose kept values come within 10% of the
// optimum within maxTrials, the median judged trials (and simulated hours) it
// takes, violations (trials that broke the constraint) and rollbacks per run,
// with Random, run in the same invocation, as the reference ratio. Prints a
// table and writes bench/results/tune.json. Not a test: no asserts.
//
//   make bench-tune
//   BENCH_TUNE_SEEDS=50 BENCH_TUNE_NOISE=0.05 BENCH_TUNE_MAX_TRIALS=20 make bench-tune
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Algorithm } from '../controllers/optimizationloop/schema.ts';
import type { RunResult, Summary } from './tune-sim.ts';
import { SERVICES, optimumOf, runLoop, summarize } from './tune-sim.ts';

const SEEDS = Number(process.env.BENCH_TUNE_SEEDS ?? 20);
const NOISE = Number(process.env.BENCH_TUNE_NOISE ?? 0.03);
const MAX_TRIALS = Number(process.env.BENCH_TUNE_MAX_TRIALS ?? 30);
const ALGORITHMS: readonly Algorithm[] = ['Random', 'HillClimb', 'Bayesian'];
const print = (line: string): void => void process.stdout.write(line + '\n');
const fmt = (x: number | null, digits = 1) => (x === null || Number.isNaN(x) ? '—' : x.toFixed(digits));

if (!(SEEDS >= 1 && NOISE >= 0 && MAX_TRIALS >= 1)) {
  throw new Error('BENCH_TUNE_SEEDS and BENCH_TUNE_MAX_TRIALS must be ≥ 1, BENCH_TUNE_NOISE ≥ 0');
}

const started = Date.now();
const services = SERVICES.map((service) => {
  const optimum = optimumOf(service);
  const runs: RunResult[] = [];
  for (const algorithm of ALGORITHMS) {
    for (let seed = 1; seed <= SEEDS; seed++) {
      runs.push(runLoop(service, { algorithm, seed, noise: NOISE, maxTrials: MAX_TRIALS }));
    }
  }
  return {
    service: service.name,
    description: service.description,
    goal: service.goal,
    start: service.start,
    startObjective: service.objective(service.start),
    optimum,
    summaries: summarize(service.name, runs),
    runs,
  };
});

print(
  `OptimizationLoop tuning: ${SEEDS} seeds × ${ALGORITHMS.join(', ')}; noise ${NOISE * 100}% per measurement; ` +
    `maxTrials ${MAX_TRIALS}; reach = the kept values within 10% of the optimum`,
);
const row = (s: Summary) =>
  [
    s.algorithm.padEnd(10),
    `${(100 * s.reachedShare).toFixed(0)}%`.padStart(7),
    fmt(s.medianTrialsToReach).padStart(8),
    fmt(s.medianHoursToReach).padStart(7),
    fmt(s.meanViolations, 2).padStart(10),
    fmt(s.meanRollbacks, 2).padStart(9),
    fmt(s.medianFinalRatio, 3).padStart(7),
    fmt(s.vsRandom.trialsToReach, 2).padStart(12),
    fmt(s.vsRandom.reachedShare, 2).padStart(12),
  ].join('  ');
for (const s of services) {
  print('');
  print(`${s.service}: ${s.description}`);
  print(
    `  start objective ${s.startObjective.toFixed(1)}, optimum ${s.optimum.value.toFixed(1)} at ` +
      Object.entries(s.optimum.params)
        .map(([k, v]) => `${k.replace(/^spec\./, '')}=${v}`)
        .join(', '),
  );
  print(
    [
      'algorithm ',
      'reached',
      'trials50',
      'hours50',
      'violations',
      'rollbacks',
      'final',
      'trials/Rand',
      'reached/Rand',
    ]
      .map((h, i) => (i === 0 ? h : h.padStart([7, 8, 7, 10, 9, 7, 12, 12][i - 1]!)))
      .join('  '),
  );
  for (const sum of s.summaries) print(row(sum));
}
print('');
print(
  'reached: share of seeds within 10% by maxTrials; trials50/hours50: median judged trials / simulated hours to get ' +
    'there (seeds that did); violations, rollbacks: per run; final: kept objective / optimum (median)',
);

const out = new URL('results/tune.json', import.meta.url);
mkdirSync(new URL('.', out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      bench: 'tune',
      date: new Date().toISOString(),
      seconds: (Date.now() - started) / 1000,
      settings: { seeds: SEEDS, noise: NOISE, maxTrials: MAX_TRIALS, algorithms: ALGORITHMS },
      services,
    },
    null,
    2,
  ) + '\n',
);
print(`wrote ${out.pathname} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
