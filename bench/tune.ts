// OptimizationLoop tuning benchmark, in one run, two sections:
//
// live — the real runtime (runtime/server.ts) serving the bench model
//   (bench/bench-model.ts, the compute-bound MLP of `make bench`), pinned as
//   `make bench` pins it, tuned for maxBatchSize × maxDelayMs by the loop's
//   real state machine (bench/tune-live.ts: `step` with the Bayesian algorithm
//   by default) under the bench's load (bench/loadgen.ts, 64 closed-loop
//   clients). A trial writes the runtime's config file, waits until /metrics
//   reports the values (the runtime re-reads the file and applies batching
//   live), and measures throughput and p95 over a short window; the objective
//   is throughput, the constraint p95 ≤ 2× the default setting's p95. The
//   default setting (the runtime's own: maxBatchSize 32, maxDelayMs 0) is
//   measured the same way before the loop and again after it (drift), the
//   closing windows interleaving it with the kept values (tuned, default,
//   default, tuned): tuned ÷ default throughput. maxBatchSize 1 (no batching,
//   an InferenceService without spec.batching) is measured once for reference.
// simulation — pure, no runtime: the same state machine and the three
//   algorithms against simulated services whose objective and constraint are
//   known functions of the tuned values (bench/tune-sim.ts), with seeded noise,
//   over several seeds: the share within 10% of the optimum, trials it takes,
//   violations and rollbacks, against Random.
// Prints tables and writes bench/results/tune.json. Not a test: no asserts.
//
//   make bench-tune
//   BENCH_TUNE_LIVE=0 make bench-tune                 (the simulation only; BENCH_TUNE_SIM=0: the live part only)
//   BENCH_TUNE_ALGORITHM=HillClimb BENCH_TUNE_LIVE_TRIALS=15 BENCH_TUNE_WINDOW_MS=3000 BENCH_TUNE_BUDGET_S=300 make bench-tune
//   BENCH_TUNE_SEEDS=50 BENCH_TUNE_NOISE=0.05 BENCH_TUNE_MAX_TRIALS=20 make bench-tune   (simulation knobs)
//   BENCH_PIN=0 make bench-tune                       (leave CPU placement to the scheduler)
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Algorithm } from '../controllers/optimizationloop/schema.ts';
import { algorithms } from '../controllers/optimizationloop/schema.ts';
import { benchModel } from './bench-model.ts';
import { describeLayout, layoutFromEnv } from './cpu-pin.ts';
import type { Batching, LiveRun } from './tune-live.ts';
import { DELAY, SIZE, batchingOf, liveSpec, paramsOf, runLive } from './tune-live.ts';
import type { LoadResult } from './tune-runtime.ts';
import { startRuntime } from './tune-runtime.ts';
import type { RunResult, Summary } from './tune-sim.ts';
import { SERVICES, optimumOf, runLoop, summarize } from './tune-sim.ts';

const SEEDS = Number(process.env.BENCH_TUNE_SEEDS ?? 20);
const NOISE = Number(process.env.BENCH_TUNE_NOISE ?? 0.03);
const MAX_TRIALS = Number(process.env.BENCH_TUNE_MAX_TRIALS ?? 30);
const ALGORITHMS: readonly Algorithm[] = ['Random', 'HillClimb', 'Bayesian'];
const LIVE_ON = process.env.BENCH_TUNE_LIVE !== '0';
const SIM_ON = process.env.BENCH_TUNE_SIM !== '0';
const LIVE = {
  algorithm: (process.env.BENCH_TUNE_ALGORITHM ?? 'Bayesian') as Algorithm,
  seed: Number(process.env.BENCH_TUNE_SEED ?? 1),
  maxTrials: Number(process.env.BENCH_TUNE_LIVE_TRIALS ?? 20),
  windowMs: Number(process.env.BENCH_TUNE_WINDOW_MS ?? 5000),
  budgetS: Number(process.env.BENCH_TUNE_BUDGET_S ?? 240),
  concurrency: Number(process.env.BENCH_TUNE_CONCURRENCY ?? 64),
  /** The constraint: p95 at most this multiple of the default setting's p95 (measured first). */
  p95Factor: 2,
  maxBatchSizeMax: 128,
  delaysMs: [0, 1, 2, 5, 10, 20],
};
/**
 * The default setting the tuned one is judged against: the runtime's own batching defaults
 * (runtime/config.ts: a batching section that sets neither value, or no config file). An
 * InferenceService without spec.batching runs unbatched (maxBatchSize 1): measured once too,
 * for reference, not judged against (the bench would flatter the loop).
 */
const DEFAULT: Batching = { maxBatchSize: 32, maxDelayMs: 0 };
const UNBATCHED: Batching = { maxBatchSize: 1, maxDelayMs: 0 };
const print = (line: string): void => void process.stdout.write(line + '\n');
const fmt = (x: number | null, digits = 1) => (x === null || Number.isNaN(x) ? '—' : x.toFixed(digits));

if (!(SEEDS >= 1 && NOISE >= 0 && MAX_TRIALS >= 1)) {
  throw new Error('BENCH_TUNE_SEEDS and BENCH_TUNE_MAX_TRIALS must be ≥ 1, BENCH_TUNE_NOISE ≥ 0');
}
if (!(algorithms as readonly string[]).includes(LIVE.algorithm))
  throw new Error(`BENCH_TUNE_ALGORITHM must be one of ${algorithms.join(', ')} (got "${LIVE.algorithm}")`);
if (!(LIVE.maxTrials >= 1 && LIVE.windowMs >= 500 && LIVE.budgetS >= 10 && LIVE.concurrency >= 1))
  throw new Error(
    'BENCH_TUNE_LIVE_TRIALS and BENCH_TUNE_CONCURRENCY must be ≥ 1, BENCH_TUNE_WINDOW_MS ≥ 500, BENCH_TUNE_BUDGET_S ≥ 10',
  );

const started = Date.now();

type Point = {
  batching: Batching;
  throughput: number;
  p95Ms: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  serverCpuCores: number;
};
const point = (batching: Batching, r: LoadResult): Point => ({
  batching,
  throughput: r.throughput,
  p95Ms: r.p95Ms,
  p50Ms: r.p50Ms,
  p99Ms: r.p99Ms,
  requests: r.requests,
  errors: r.errors,
  serverCpuCores: r.serverCpuCores,
});
/** Two windows of one setting: mean throughput and latencies, their requests summed. */
const combine = (a: Point, b: Point): Point => ({
  batching: a.batching,
  throughput: (a.throughput + b.throughput) / 2,
  p95Ms: (a.p95Ms + b.p95Ms) / 2,
  p50Ms: (a.p50Ms + b.p50Ms) / 2,
  p99Ms: (a.p99Ms + b.p99Ms) / 2,
  requests: a.requests + b.requests,
  errors: a.errors + b.errors,
  serverCpuCores: (a.serverCpuCores + b.serverCpuCores) / 2,
});
const show = (b: Batching) => `maxBatchSize ${b.maxBatchSize}, maxDelayMs ${b.maxDelayMs}`;
const showPoint = (p: Point) =>
  `${p.throughput.toFixed(0).padStart(6)} req/s  p95 ${p.p95Ms.toFixed(2).padStart(6)} ms  (${show(p.batching)})`;

/** The live section: defaults, the loop, the kept values and the defaults again, on one runtime process. */
async function live() {
  const layout = layoutFromEnv();
  const modelFile = benchModel();
  const runtime = await startRuntime({
    modelFile,
    initial: DEFAULT,
    concurrency: LIVE.concurrency,
    windowMs: LIVE.windowMs,
    layout,
  });
  const t0 = Date.now();
  try {
    print(
      `live: the runtime on the bench model, ${LIVE.concurrency} clients, ${LIVE.windowMs} ms windows, ` +
        `${layout ? `pinned (inference | shared CPUs: ${describeLayout(layout)})` : 'not pinned'}; ` +
        `${LIVE.algorithm}, maxTrials ${LIVE.maxTrials}, budget ${LIVE.budgetS} s`,
    );
    // a first window warms the model, the JIT and the connections; not judged
    await runtime.measureBatching(DEFAULT);
    const defaultStart = point(DEFAULT, await runtime.measureBatching(DEFAULT));
    print(`  default (start)    ${showPoint(defaultStart)}`);
    const unbatched = point(UNBATCHED, await runtime.measureBatching(UNBATCHED));
    print(`  unbatched          ${showPoint(unbatched)}`);
    await runtime.set(paramsOf(DEFAULT)); // the loop starts from the default
    const p95LimitMs = Number((LIVE.p95Factor * defaultStart.p95Ms).toFixed(2));
    const spec = liveSpec({ ...LIVE, p95LimitMs });
    // the loop gets the budget minus the closing windows (four, plus slack for one overrunning window)
    const closing = 5 * (LIVE.windowMs + 1500);
    const loopDeadline = t0 + LIVE.budgetS * 1000 - closing;
    let n = 0;
    const run: LiveRun = await runLive(spec, paramsOf(DEFAULT), runtime, {
      deadline: () => Date.now() > loopDeadline,
      onWindow: (w) =>
        print(
          `  window ${String(++n).padStart(2)}  ${showPoint(point(batchingOf(w.params), w.window as LoadResult))}` +
            (w.verdict ? `  → ${w.verdict}` : ''),
        ),
    });
    const kept = batchingOf(run.kept);
    // tuned and default interleaved (tuned, default, default, tuned): a drift of the machine over
    // the closing minute weighs on both alike, and the two windows of each show the noise
    const closingWindows: Point[] = [];
    for (const b of [kept, DEFAULT, DEFAULT, kept])
      closingWindows.push(point(b, await runtime.measureBatching(b)));
    const [t1, d1, d2, t2] = closingWindows as [Point, Point, Point, Point];
    const tuned = combine(t1, t2);
    const defaultEnd = combine(d1, d2);
    const result = {
      model: 'bench (bench/bench-model.ts)',
      concurrency: LIVE.concurrency,
      windowMs: LIVE.windowMs,
      pinned: layout ? describeLayout(layout) : null,
      algorithm: LIVE.algorithm,
      seed: LIVE.seed,
      maxTrials: LIVE.maxTrials,
      budgetS: LIVE.budgetS,
      space: { maxBatchSize: [1, LIVE.maxBatchSizeMax], maxDelayMs: LIVE.delaysMs },
      default: DEFAULT,
      p95LimitMs,
      defaultStart,
      defaultEnd,
      /** maxBatchSize 1 (an InferenceService without spec.batching), for reference. */
      unbatched,
      /** default at the end ÷ at the start: the machine's drift over the run. */
      drift: defaultEnd.throughput / defaultStart.throughput,
      tuned,
      /** The loop adopted nothing: "tuned" is the default, and the ratio only the noise between windows. */
      keptDefault: kept.maxBatchSize === DEFAULT.maxBatchSize && kept.maxDelayMs === DEFAULT.maxDelayMs,
      /** tuned ÷ default throughput over the interleaved closing windows. */
      ratio: tuned.throughput / defaultEnd.throughput,
      closingWindows,
      tunedP95MeetsLimit: tuned.p95Ms <= p95LimitMs,
      loop: {
        end: run.end,
        trials: run.trials,
        failedTrials: run.failedTrials,
        windows: run.windows.length,
        writes: run.writes,
        kept,
        keptObjective: run.keptObjective ?? null,
        baselineObjective: run.baselineObjective ?? null,
        simulatedHours: run.simulatedHours,
        history: run.history.map((t) => ({
          id: t.id,
          maxBatchSize: t.params[SIZE],
          maxDelayMs: t.params[DELAY],
          verdict: t.verdict,
          throughput: t.measurement?.objective ?? null,
          p95Ms: t.measurement?.constraints?.[0]?.value ?? null,
          reason: t.reason,
        })),
      },
      seconds: (Date.now() - t0) / 1000,
    };
    print('');
    print(
      `  ${'trial'.padEnd(5)}  ${'size'.padStart(4)}  ${'delay'.padStart(5)}  ${'req/s'.padStart(6)}  ${'p95 ms'.padStart(6)}  verdict`,
    );
    for (const t of result.loop.history)
      print(
        `  ${String(t.id).padEnd(5)}  ${String(t.maxBatchSize).padStart(4)}  ${String(t.maxDelayMs).padStart(5)}  ` +
          `${fmt(t.throughput, 0).padStart(6)}  ${fmt(t.p95Ms, 2).padStart(6)}  ${t.verdict}`,
      );
    print('');
    print(`  default (start)    ${showPoint(defaultStart)}`);
    print(
      `  tuned (2 windows)  ${showPoint(tuned)}  p95 limit ${p95LimitMs} ms: ${result.tunedP95MeetsLimit ? 'met' : 'NOT met'}`,
    );
    print(`  default (2, end)   ${showPoint(defaultEnd)}  drift ${result.drift.toFixed(3)}`);
    print(`  unbatched          ${showPoint(unbatched)}  (reference: no spec.batching)`);
    if (result.keptDefault)
      print(
        '  the loop kept the default: no candidate beat it by minImprovementPercent twice; the ratio is noise',
      );
    print(
      `  tuned ÷ default throughput ${result.ratio.toFixed(3)}; the loop ${run.end} after ${run.trials} trials ` +
        `(${run.failedTrials} violated, ${run.windows.length} windows, ${result.seconds.toFixed(0)} s)`,
    );
    print('');
    return result;
  } finally {
    await runtime.stop();
  }
}

function simulation() {
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
    `simulation: ${SEEDS} seeds × ${ALGORITHMS.join(', ')}; noise ${NOISE * 100}% per measurement; ` +
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
  return {
    settings: { seeds: SEEDS, noise: NOISE, maxTrials: MAX_TRIALS, algorithms: ALGORITHMS },
    services,
  };
}

const liveResult = LIVE_ON ? await live() : null;
const simResult = SIM_ON ? simulation() : null;

const out = new URL('results/tune.json', import.meta.url);
mkdirSync(new URL('.', out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      bench: 'tune',
      date: new Date().toISOString(),
      seconds: (Date.now() - started) / 1000,
      live: liveResult,
      simulation: simResult,
    },
    null,
    2,
  ) + '\n',
);
print(`wrote ${out.pathname} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
