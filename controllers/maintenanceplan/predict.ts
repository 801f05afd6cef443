// The pure core of MaintenancePlan predictions: per-signal Prometheus results
// → one feature row per node in the model's input order (a missing, stale or
// non-finite value makes the node Unknown, never healthy), risk for all nodes
// and the contribution of every signal in ONE scorer call, the top signals,
// and the rules that turn risks into action: N consecutive evaluations at or
// over the threshold, and the mass-flag stop. The scorer (onnxruntime) is
// passed in; see risk-model.ts.

/** One signal's value for one node, as an instant query returns it. */
export type SignalSample = {
  value: number;
  /** Seconds since the epoch (Prometheus' unit). */
  timestamp: number;
  /** The query returned more than one series for the node: which to use is ambiguous. */
  duplicate?: boolean;
};

/** Per signal name: per node name, its sample. */
export type SignalResults = ReadonlyMap<string, ReadonlyMap<string, SignalSample>>;

/** Why one signal of one node cannot be used. */
export type SignalProblem = {
  signal: string;
  reason: 'Missing' | 'Stale' | 'NotFinite' | 'Duplicate';
};

export type FeatureBatch = {
  signals: readonly string[];
  /** Nodes with a complete, fresh row, in the order of `data`. */
  nodes: string[];
  /** nodes.length × signals.length, row-major. */
  data: Float32Array;
  /** Nodes without a usable row, with every problem. */
  unknown: { node: string; problems: SignalProblem[] }[];
};

export type BuildOptions = {
  /** Evaluation time, seconds since the epoch. */
  now: number;
  /** A sample older than this (seconds) is stale. */
  maxAgeSeconds: number;
};

/**
 * One row per node, in the order of `signals`. A node lacking a signal, or whose
 * sample is older than maxAgeSeconds or not a finite number, is Unknown: it
 * abstains, with the problems named, and is never scored as healthy.
 */
export function buildFeatures(
  signals: readonly string[],
  nodes: readonly string[],
  results: SignalResults,
  options: BuildOptions,
): FeatureBatch {
  const width = signals.length;
  const data = new Float32Array(nodes.length * width);
  const scored: string[] = [];
  const unknown: FeatureBatch['unknown'] = [];
  for (const node of nodes) {
    const problems: SignalProblem[] = [];
    const row = scored.length * width;
    signals.forEach((signal, j) => {
      const sample = results.get(signal)?.get(node);
      if (!sample) problems.push({ signal, reason: 'Missing' });
      else if (sample.duplicate) problems.push({ signal, reason: 'Duplicate' });
      else if (!Number.isFinite(sample.value)) problems.push({ signal, reason: 'NotFinite' });
      else if (options.now - sample.timestamp > options.maxAgeSeconds)
        problems.push({ signal, reason: 'Stale' });
      else data[row + j] = sample.value;
    });
    if (problems.length) unknown.push({ node, problems });
    else scored.push(node);
  }
  return { signals, nodes: scored, data: data.slice(0, scored.length * width), unknown };
}

/** A Prometheus vector sample: its labels and value. */
export type LabelledSample = { labels: Readonly<Record<string, string>>; value: number; timestamp: number };

/**
 * One query's samples keyed by the node label. A node with two series is
 * ambiguous: it is marked duplicate, so the node abstains rather than being
 * scored on an arbitrary series. Samples without the label are dropped.
 */
export function groupByNode(
  samples: readonly LabelledSample[],
  nodeLabel: string,
): Map<string, SignalSample> {
  const out = new Map<string, SignalSample>();
  for (const s of samples) {
    const node = s.labels[nodeLabel];
    if (node === undefined || node === '') continue;
    out.set(
      node,
      out.has(node)
        ? { value: Number.NaN, timestamp: s.timestamp, duplicate: true }
        : { value: s.value, timestamp: s.timestamp },
    );
  }
  return out;
}

/** Human-readable problems, for a condition or an Event: "gpu-temp missing, ecc-sbe-1h stale". */
export function describeProblems(problems: readonly SignalProblem[]): string {
  const words: Record<SignalProblem['reason'], string> = {
    Missing: 'missing',
    Stale: 'stale',
    NotFinite: 'not a finite number',
    Duplicate: 'more than one series',
  };
  return problems.map((p) => `${p.signal} ${words[p.reason]}`).join(', ');
}

/** Scores `rows` feature rows (row-major, `width` each) → one risk per row, 0..1. */
export type Scorer = (data: Float32Array, rows: number, width: number) => Promise<Float32Array>;

/** The per-signal median over the rows (the baseline of contributions when none is given). */
export function columnMedians(data: Float32Array, rows: number, width: number): Float32Array {
  const out = new Float32Array(width);
  const col = new Float64Array(rows);
  for (let j = 0; j < width; j++) {
    for (let i = 0; i < rows; i++) col[i] = data[i * width + j]!;
    col.sort();
    out[j] = rows === 0 ? 0 : rows % 2 ? col[(rows - 1) / 2]! : (col[rows / 2 - 1]! + col[rows / 2]!) / 2;
  }
  return out;
}

/**
 * The rows to score in one call: the nodes' rows first, then for every node and
 * signal its row with that signal replaced by the baseline (rows × (1 + width) rows).
 */
export function explanationRows(data: Float32Array, rows: number, width: number, baseline: Float32Array) {
  const out = new Float32Array(rows * (1 + width) * width);
  out.set(data.subarray(0, rows * width));
  let at = rows * width;
  for (let i = 0; i < rows; i++) {
    const row = data.subarray(i * width, (i + 1) * width);
    for (let j = 0; j < width; j++) {
      out.set(row, at);
      out[at + j] = baseline[j]!;
      at += width;
    }
  }
  return out;
}

export type Contribution = {
  signal: string;
  /** risk − risk with this signal at the baseline: > 0 when the signal raises the risk. */
  contribution: number;
};

export type NodePrediction =
  | { node: string; state: 'Scored'; risk: number; topSignals: Contribution[] }
  | { node: string; state: 'Unknown'; problems: SignalProblem[]; message: string };

export type PredictOptions = {
  /** Per-signal baseline of contributions (e.g. training medians); default: the median of the scored nodes. */
  baseline?: Float32Array | readonly number[];
  /** Signals kept per node, by |contribution|. Default 3. */
  topK?: number;
  /** Skip contributions (one row per node scored). Default true. */
  explain?: boolean;
};

/**
 * Risk and top contributions of every node in the batch, in one scorer call,
 * plus an Unknown prediction for each node that abstains.
 */
export async function predict(
  batch: FeatureBatch,
  scorer: Scorer,
  options: PredictOptions = {},
): Promise<NodePrediction[]> {
  const width = batch.signals.length;
  const rows = batch.nodes.length;
  const explain = options.explain ?? true;
  const topK = options.topK ?? 3;
  const out: NodePrediction[] = [];
  if (rows > 0) {
    let baseline: Float32Array | undefined;
    if (explain) {
      baseline = options.baseline
        ? Float32Array.from(options.baseline)
        : columnMedians(batch.data, rows, width);
      if (baseline.length !== width)
        throw new RangeError(`baseline has ${baseline.length} values for ${width} signals`);
    }
    const input = baseline ? explanationRows(batch.data, rows, width, baseline) : batch.data;
    const total = input.length / width;
    const risk = await scorer(input, total, width);
    if (risk.length !== total) throw new RangeError(`scorer returned ${risk.length} risks for ${total} rows`);
    batch.nodes.forEach((node, i) => {
      const r = risk[i]!;
      const contributions: Contribution[] = [];
      if (baseline)
        for (let j = 0; j < width; j++)
          contributions.push({ signal: batch.signals[j]!, contribution: r - risk[rows + i * width + j]! });
      contributions.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
      out.push({ node, state: 'Scored', risk: r, topSignals: contributions.slice(0, topK) });
    });
  }
  for (const u of batch.unknown)
    out.push({ node: u.node, state: 'Unknown', problems: u.problems, message: describeProblems(u.problems) });
  return out;
}

/** A node's recent risks, oldest first; null where its prediction was Unknown. */
export type RiskHistory = readonly (number | null)[];

/** The history with this evaluation appended, keeping the last `keep` entries. */
export function recordRisk(history: RiskHistory, risk: number | null, keep: number): (number | null)[] {
  return [...history, risk].slice(-Math.max(1, keep));
}

/**
 * At risk: the last `consecutive` evaluations all scored at or over the
 * threshold. An Unknown evaluation breaks the run (abstaining is no evidence).
 */
export function isAtRisk(history: RiskHistory, threshold: number, consecutive: number): boolean {
  if (consecutive < 1 || history.length < consecutive) return false;
  return history.slice(-consecutive).every((r) => r !== null && r >= threshold);
}

export type MassFlag = { stop: boolean; flagged: number; selected: number; share: number; message?: string };

/**
 * Stop when more than maxShare of the selected nodes are flagged at once: model
 * drift or an outage, not a reason to evacuate the cluster. Fewer than
 * minFlagged flagged nodes never stop the plan (one node of three is no mass event).
 */
export function massFlagCheck(flagged: number, selected: number, maxShare = 0.3, minFlagged = 2): MassFlag {
  const share = selected > 0 ? flagged / selected : 0;
  const stop = flagged >= minFlagged && share > maxShare;
  return {
    stop,
    flagged,
    selected,
    share,
    ...(stop
      ? {
          message: `${flagged} of ${selected} selected nodes (${Math.round(share * 100)}%) are at risk at once, more than ${Math.round(maxShare * 100)}%: suspected model drift or an outage, no maintenance is started`,
        }
      : {}),
  };
}
