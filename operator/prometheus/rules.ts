// Prometheus rule groups as data: the types the generators build, rendering
// to the rules-file YAML Prometheus and promtool read (`groups:`), and
// validation so a generator bug shows up as a clear error in a unit test
// instead of a rule file Prometheus refuses to load.
import { stringify } from 'yaml';

export interface AlertingRule {
  alert: string;
  expr: string;
  /** Prometheus duration the condition must hold before the alert fires; omitted or '0s' fires at once. */
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export type Rule = AlertingRule | RecordingRule;

export interface RuleGroup {
  name: string;
  /** Evaluation interval of the group; default: Prometheus' global evaluation_interval. */
  interval?: string;
  rules: Rule[];
}

export const isAlertingRule = (rule: Rule): rule is AlertingRule => 'alert' in rule;
export const isRecordingRule = (rule: Rule): rule is RecordingRule => 'record' in rule;

/**
 * One rule in the key order of the Prometheus docs, without empty fields, so
 * rendered files are stable (no diff, no re-apply, when nothing changed).
 */
export function normalizeRule(rule: Rule): Rule {
  if (isAlertingRule(rule)) {
    const out: AlertingRule = { alert: rule.alert, expr: rule.expr };
    if (rule.for && !isZeroDuration(rule.for)) out.for = rule.for;
    if (rule.labels && Object.keys(rule.labels).length) out.labels = sortedRecord(rule.labels);
    if (rule.annotations && Object.keys(rule.annotations).length) {
      out.annotations = sortedRecord(rule.annotations);
    }
    return out;
  }
  const out: RecordingRule = { record: rule.record, expr: rule.expr };
  if (rule.labels && Object.keys(rule.labels).length) out.labels = sortedRecord(rule.labels);
  return out;
}

export function normalizeGroups(groups: RuleGroup[]): RuleGroup[] {
  return groups.map((g) => ({
    name: g.name,
    ...(g.interval ? { interval: g.interval } : {}),
    rules: g.rules.map(normalizeRule),
  }));
}

/** The rules file: `groups:` as YAML (what Prometheus' rule_files and promtool read). */
export function renderRuleFile(groups: RuleGroup[]): string {
  // lineWidth 0: never fold long PromQL expressions
  return stringify({ groups: normalizeGroups(groups) }, { lineWidth: 0 });
}

// --- PromQL building blocks --------------------------------------------------

/** A PromQL string literal: double quotes, with \, " and newlines escaped. */
export function promqlString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export type Matcher = { name: string; op: '=' | '!=' | '=~' | '!~'; value: string };

/** `{a="x",b=~"y"}` from equality labels (sorted) followed by extra matchers. */
export function selector(labels: Record<string, string>, extra: Matcher[] = []): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${promqlString(labels[k] ?? '')}`);
  for (const m of extra) parts.push(`${m.name}${m.op}${promqlString(m.value)}`);
  return `{${parts.join(',')}}`;
}

// days are the largest unit: years and weeks read badly in alert windows
const DURATION_UNITS: [string, number][] = [
  ['d', 24 * 3600],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
];

/** Seconds → Prometheus duration, e.g. 300 → "5m", 5400 → "1h30m", 0 → "0s". */
export function formatDuration(seconds: number): string {
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new RangeError(`duration must be a non-negative whole number of seconds (got ${seconds})`);
  }
  if (seconds === 0) return '0s';
  let rest = seconds;
  let out = '';
  for (const [unit, size] of DURATION_UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** Prometheus duration → seconds, e.g. "1h30m" → 5400; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text);
  if (!m || text === '') return undefined;
  const [, y, w, d, h, min, s, ms] = m.map((x) => (x === undefined ? 0 : Number(x)));
  return (
    (y ?? 0) * 31_536_000 +
    (w ?? 0) * 604_800 +
    (d ?? 0) * 86_400 +
    (h ?? 0) * 3600 +
    (min ?? 0) * 60 +
    (s ?? 0) +
    (ms ?? 0) / 1000
  );
}

const isZeroDuration = (d: string): boolean => parseDuration(d) === 0;

/** A number as PromQL reads it back exactly, without float noise (14.4 * 0.001 → 0.0144). */
export function promqlNumber(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  return String(Number(value.toPrecision(12)));
}

// --- validation ----------------------------------------------------------------

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const ALERT_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * What Prometheus (rulefmt) would refuse, plus what makes two rules collide,
 * as human-readable messages; empty when the groups are fine. PromQL syntax is
 * left to promtool (the e2e tests run every generator through it).
 */
export function validateRuleGroups(groups: RuleGroup[]): string[] {
  const errors: string[] = [];
  const groupNames = new Set<string>();
  for (const [gi, group] of groups.entries()) {
    const where = `group ${gi} (${group.name || 'unnamed'})`;
    if (!group.name) errors.push(`${where}: name is empty`);
    else if (groupNames.has(group.name)) errors.push(`${where}: duplicate group name`);
    groupNames.add(group.name);
    if (group.interval !== undefined && !validDuration(group.interval)) {
      errors.push(`${where}: interval "${group.interval}" is not a Prometheus duration`);
    }
    if (group.rules.length === 0) errors.push(`${where}: has no rules`);
    const seen = new Set<string>();
    for (const [ri, rule] of group.rules.entries()) {
      const name = isAlertingRule(rule) ? rule.alert : rule.record;
      const at = `${where}, rule ${ri} (${name || 'unnamed'})`;
      const alerting = isAlertingRule(rule);
      if (alerting && 'record' in rule) errors.push(`${at}: has both alert and record`);
      if (alerting) {
        if (!ALERT_NAME_RE.test(rule.alert)) errors.push(`${at}: invalid alert name`);
        if (rule.for !== undefined && !validDuration(rule.for)) {
          errors.push(`${at}: for "${rule.for}" is not a Prometheus duration`);
        }
        for (const key of Object.keys(rule.annotations ?? {})) {
          if (!LABEL_NAME_RE.test(key)) errors.push(`${at}: invalid annotation name "${key}"`);
        }
      } else {
        if (!METRIC_NAME_RE.test(rule.record)) errors.push(`${at}: invalid recording rule name`);
        const r = rule as unknown as Record<string, unknown>;
        if ('for' in r || 'annotations' in r) {
          errors.push(`${at}: a recording rule cannot have for or annotations`);
        }
      }
      if (!rule.expr.trim()) errors.push(`${at}: expr is empty`);
      for (const [key, value] of Object.entries(rule.labels ?? {})) {
        if (!LABEL_NAME_RE.test(key) || key.startsWith('__'))
          errors.push(`${at}: invalid label name "${key}"`);
        if (typeof value !== 'string') errors.push(`${at}: label "${key}" must be a string`);
      }
      const identity = `${alerting ? 'alert' : 'record'}:${name}:${JSON.stringify(sortedRecord(rule.labels ?? {}))}:${rule.expr}`;
      if (seen.has(identity)) errors.push(`${at}: duplicate rule`);
      seen.add(identity);
    }
  }
  return errors;
}

/** Throws one error listing every problem; for generators' callers that must not ship a bad file. */
export function assertValidRuleGroups(groups: RuleGroup[]): void {
  const errors = validateRuleGroups(groups);
  if (errors.length) throw new Error(`invalid Prometheus rules:\n- ${errors.join('\n- ')}`);
}

function validDuration(text: string): boolean {
  return parseDuration(text) !== undefined;
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((k) => [k, record[k] ?? '']),
  );
}
