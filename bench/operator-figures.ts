// Pure arithmetic of bench/operator.ts: Prometheus text parsing, counter
// deltas between two scrapes (API requests by verb and resource), histogram
// quantiles from bucket deltas (reconcile p99) and the throughput ratio to
// kube-controller-manager. No I/O, so it is unit-tested alone.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text exposition format (comments and blank lines skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL))
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** verb → resource → count */
export type Table = Record<string, Record<string, number>>;

/**
 * The increase of counter `name` between two scrapes, summed by two labels
 * (row, column) over all others (e.g. the HTTP code). Series absent before
 * count from 0 (created during the window).
 */
export function counterDelta(
  before: Sample[],
  after: Sample[],
  name: string,
  row: string,
  column: string,
  where: (labels: Record<string, string>) => boolean = () => true,
): Table {
  const table: Table = {};
  const add = (s: Sample, sign: number) => {
    if (s.name !== name || !where(s.labels)) return;
    const r = s.labels[row] ?? '';
    const c = s.labels[column] ?? '';
    const cells = (table[r] ??= {});
    cells[c] = (cells[c] ?? 0) + sign * s.value;
  };
  for (const s of after) add(s, 1);
  for (const s of before) add(s, -1);
  // drop cells that did not move
  for (const [r, cells] of Object.entries(table)) {
    for (const [c, v] of Object.entries(cells)) if (v === 0) delete cells[c];
    if (Object.keys(cells).length === 0) delete table[r];
  }
  return table;
}

/** Verbs that change state on the server: ours (client-go style) and raw HTTP methods. */
const WRITE_VERBS = new Set([
  'CREATE',
  'UPDATE',
  'PATCH',
  'APPLY',
  'DELETE',
  'DELETECOLLECTION',
  'POST',
  'PUT',
]);
export const isWrite = (verb: string): boolean => WRITE_VERBS.has(verb.toUpperCase());

export interface Totals {
  reads: number;
  writes: number;
  byVerb: Record<string, number>;
}

export function totals(
  table: Table,
  include: (verb: string, resource: string) => boolean = () => true,
): Totals {
  const byVerb: Record<string, number> = {};
  let reads = 0;
  let writes = 0;
  for (const [verb, cells] of Object.entries(table)) {
    for (const [resource, n] of Object.entries(cells)) {
      if (!include(verb, resource)) continue;
      byVerb[verb] = (byVerb[verb] ?? 0) + n;
      if (isWrite(verb)) writes += n;
      else reads += n;
    }
  }
  return { reads, writes, byVerb };
}

/** Every cell divided by `by` (per object, per minute), rounded to 3 decimals. */
export function scaleTable(table: Table, by: number): Table {
  const out: Table = {};
  for (const [r, cells] of Object.entries(table))
    out[r] = Object.fromEntries(Object.entries(cells).map(([c, v]) => [c, round3(v / by)]));
  return out;
}

export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

export interface Bucket {
  /** upper bound; Infinity for +Inf */
  le: number;
  /** cumulative count */
  count: number;
}

/** Cumulative buckets of histogram `name` (summed over series matching `where`), after minus before. */
export function histogramDelta(
  before: Sample[],
  after: Sample[],
  name: string,
  where: (labels: Record<string, string>) => boolean = () => true,
): Bucket[] {
  const byLe = new Map<number, number>();
  const add = (s: Sample, sign: number) => {
    if (s.name !== `${name}_bucket` || !where(s.labels) || s.labels.le === undefined) return;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + sign * s.value);
  };
  for (const s of after) add(s, 1);
  for (const s of before) add(s, -1);
  return [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/**
 * The q-quantile of cumulative buckets as Prometheus' histogram_quantile
 * computes it: linear within the bucket holding the rank; a rank in the +Inf
 * bucket answers the highest finite bound. undefined without observations.
 */
export function histogramQuantile(q: number, buckets: Bucket[]): number | undefined {
  if (q < 0 || q > 1) throw new Error(`quantile must be within [0, 1], got ${q}`);
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lowerBound;
      const inBucket = b.count - lowerCount;
      return inBucket === 0 ? b.le : lowerBound + ((b.le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = b.le;
    lowerCount = b.count;
  }
  return lowerBound;
}

/** Objects brought to their goal per second. */
export const throughput = (objects: number, seconds: number): number => (seconds > 0 ? objects / seconds : 0);

/**
 * Our throughput over theirs (1 = as fast as kube-controller-manager; the
 * target is ≥ 0.8). undefined when either side did not finish.
 */
export function throughputRatio(
  ours: { objects: number; seconds: number | null },
  theirs: { objects: number; seconds: number | null },
): number | undefined {
  if (ours.seconds === null || theirs.seconds === null || ours.seconds <= 0 || theirs.seconds <= 0)
    return undefined;
  return round3(throughput(ours.objects, ours.seconds) / throughput(theirs.objects, theirs.seconds));
}

/** The first sample of `name` matching `where`, or undefined. */
export function gauge(
  samples: Sample[],
  name: string,
  where: (labels: Record<string, string>) => boolean = () => true,
): number | undefined {
  return samples.find((s) => s.name === name && where(s.labels))?.value;
}

/**
 * Increases of a cumulative series per window of `windowS` seconds, from
 * samples taken at `t` seconds (t = 0 is the window's start, value the
 * baseline): [increase in (0, w], increase in (w, 2w], ...]; the last
 * window may be partial.
 */
export function increasesPerWindow(samples: { t: number; value: number }[], windowS: number): number[] {
  if (samples.length === 0) return [];
  const sorted = [...samples].sort((a, b) => a.t - b.t);
  const end = sorted.at(-1)?.t ?? 0;
  const valueAt = (t: number) => {
    let v = sorted[0]?.value ?? 0;
    for (const s of sorted) if (s.t <= t) v = s.value;
    return v;
  };
  const out: number[] = [];
  for (let from = 0; from < end; from += windowS)
    out.push(valueAt(Math.min(from + windowS, end)) - valueAt(from));
  return out;
}
