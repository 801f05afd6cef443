// Test support: every series selector in a PromQL expression, so tests can
// check that each one is scoped to its CR (a rule that forgets the scope
// would alert on every object of the kind in the cluster).
import type { RuleGroup } from '../rules.ts';

export interface SeriesSelector {
  metric: string;
  labels: Record<string, string>;
}

/** Selectors of all ymera series (raw metrics and recording rules) in `expr`. */
export function ymeraSelectors(expr: string): SeriesSelector[] {
  // blank out string contents (same length) so a label value like "ymera-demo" is not read as a metric
  const masked = expr.replace(/"(?:[^"\\]|\\.)*"/g, (s) => `"${'x'.repeat(s.length - 2)}"`);
  const out: SeriesSelector[] = [];
  for (const m of masked.matchAll(/(?<![\w:])(ymera[\w:]*)(\{[^}]*\})?/g)) {
    const matchers = m[2] ? expr.slice(m.index + m[1]!.length, m.index + m[0].length) : '{}';
    const labels = Object.fromEntries(
      [...matchers.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1] ?? '', x[2] ?? '']),
    );
    out.push({ metric: m[1] ?? '', labels });
  }
  return out;
}

export function allExprs(groups: RuleGroup[]): string[] {
  return groups.flatMap((g) => g.rules.map((r) => r.expr));
}
