// The pure part of `make bench-heal` (bench/heal.ts): per scenario, the MTTR
// of each round (seconds from the fault to the InferenceService serving at
// full strength again, or rolled back), summarized as median and max, and
// the table the bench prints.

/** Where the bench is aiming: far below the 5 minutes the seeds ask for. */
export const TARGET_SECONDS = 300;

export interface Round {
  /** Seconds from the fault to recovery; null: not recovered within the round's timeout. */
  seconds: number | null;
  /** What recovered it, in a few words (e.g. "rolled back v2-crash-1", "pod x replaced"). */
  note: string;
}

export interface ScenarioResult {
  scenario: string;
  /** Where the fault was real: the real node (kubelet, containerd, the runtime) or kwok. */
  where: 'real-node' | 'kwok';
  fault: string;
  recovered: string;
  rounds: Round[];
  /** Why the scenario did not run (a missing prerequisite), instead of rounds. */
  skipped?: string;
  /** When it ran (ISO 8601). */
  when?: string;
}

export interface Summary {
  scenario: string;
  where: string;
  rounds: number;
  recovered: number;
  medianSeconds: number | null;
  maxSeconds: number | null;
  /** Every round recovered, and the slowest under TARGET_SECONDS. */
  withinTarget: boolean;
  skipped?: string;
}

/** Median of `xs` (mean of the middle two for an even count); null when empty. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

export function summarize(r: ScenarioResult): Summary {
  const done = r.rounds.flatMap((x) => (x.seconds === null ? [] : [x.seconds]));
  const med = median(done);
  const max = done.length > 0 ? Math.max(...done) : null;
  return {
    scenario: r.scenario,
    where: r.where,
    rounds: r.rounds.length,
    recovered: done.length,
    medianSeconds: med === null ? null : round1(med),
    maxSeconds: max === null ? null : round1(max),
    withinTarget:
      r.rounds.length > 0 && done.length === r.rounds.length && max !== null && max < TARGET_SECONDS,
    ...(r.skipped !== undefined ? { skipped: r.skipped } : {}),
  };
}

const secs = (x: number | null) => (x === null ? '-' : `${x.toFixed(1)}s`);

/** A Markdown table of the summaries, one row per scenario. */
export function table(summaries: readonly Summary[]): string {
  const header = ['scenario', 'where', 'recovered/rounds', 'median MTTR', 'max MTTR', `< ${TARGET_SECONDS}s`];
  const rows = summaries.map((s) =>
    s.skipped !== undefined
      ? [s.scenario, s.where, `skipped: ${s.skipped}`, '-', '-', '-']
      : [
          s.scenario,
          s.where,
          `${s.recovered}/${s.rounds}`,
          secs(s.medianSeconds),
          secs(s.maxSeconds),
          s.withinTarget ? 'yes' : 'NO',
        ],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/**
 * The scenarios of a run of some of them (BENCH_HEAL_SCENARIOS) merged into
 * an earlier run's: a fresh result replaces the earlier one of its scenario,
 * the others are kept, in the earlier order, new ones last.
 */
export function mergeScenarios(
  earlier: readonly ScenarioResult[],
  fresh: readonly ScenarioResult[],
): ScenarioResult[] {
  const byName = new Map(fresh.map((r) => [r.scenario, r]));
  const merged = earlier.map((r) => byName.get(r.scenario) ?? r);
  return [...merged, ...fresh.filter((r) => !earlier.some((e) => e.scenario === r.scenario))];
}
