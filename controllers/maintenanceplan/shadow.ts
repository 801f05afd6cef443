// Shadow mode's scorecard (pure): the plan's past flags against what happened
// (a node going NotReady), as precision and recall, so a user can judge the
// model before letting it act. Times are seconds since the epoch.

/** The plan flagged `node` at risk at `at`: it predicts a failure within the horizon after. */
export type Flag = { node: string; at: number };
/** `node` became NotReady at `at`. */
export type Failure = { node: string; at: number };

export type Scorecard = {
  /** Flags followed by a failure of their node within the horizon. */
  truePositives: number;
  /** Flags whose horizon passed without a failure of their node. */
  falsePositives: number;
  /** Flags still inside their horizon, no failure yet: not counted either way. */
  pending: number;
  /** Failures observed (after `since` + horizon) and whether a flag preceded them within the horizon. */
  failures: number;
  caught: number;
  /** truePositives / (truePositives + falsePositives); absent until a flag resolves. */
  precision?: number;
  /** caught / failures; absent until a failure is observed. */
  recall?: number;
};

/**
 * Scores flags against failures. A failure counts toward recall only when the
 * plan was watching for a whole horizon before it (at ≥ since + horizon), so a
 * failure right after the plan started is not held against the model.
 */
export function scoreShadow(
  flags: readonly Flag[],
  failures: readonly Failure[],
  horizonSeconds: number,
  now: number,
  since: number,
): Scorecard {
  const failed = (node: string, from: number, to: number) =>
    failures.some((f) => f.node === node && f.at > from && f.at <= to);
  let truePositives = 0;
  let falsePositives = 0;
  let pending = 0;
  for (const f of flags) {
    if (failed(f.node, f.at, f.at + horizonSeconds)) truePositives++;
    else if (now >= f.at + horizonSeconds) falsePositives++;
    else pending++;
  }
  const counted = failures.filter((f) => f.at >= since + horizonSeconds && f.at <= now);
  const caught = counted.filter((f) =>
    flags.some((g) => g.node === f.node && g.at < f.at && g.at >= f.at - horizonSeconds),
  ).length;
  const resolved = truePositives + falsePositives;
  return {
    truePositives,
    falsePositives,
    pending,
    failures: counted.length,
    caught,
    ...(resolved ? { precision: truePositives / resolved } : {}),
    ...(counted.length ? { recall: caught / counted.length } : {}),
  };
}
