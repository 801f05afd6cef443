import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { RuleGroup } from './rules.ts';
import {
  assertValidRuleGroups,
  formatDuration,
  parseDuration,
  promqlNumber,
  promqlString,
  renderRuleFile,
  selector,
  validateRuleGroups,
} from './rules.ts';

const group: RuleGroup = {
  name: 'g',
  rules: [
    { record: 'job:errors:ratio_rate5m', expr: 'sum(rate(x[5m]))', labels: {} },
    {
      alert: 'TooManyErrors',
      expr: 'job:errors:ratio_rate5m > 0.1',
      for: '5m',
      labels: { severity: 'warning', a: '1' },
      annotations: { summary: 'errors: "many"' },
    },
    { alert: 'Instant', expr: 'up == 0', for: '0s' },
  ],
};

describe('renderRuleFile', () => {
  it('renders the groups: file Prometheus reads, with stable key order and no empty fields', () => {
    const text = renderRuleFile([group]);
    expect(text.startsWith('groups:\n')).toBe(true);
    expect(parse(text)).toEqual({
      groups: [
        {
          name: 'g',
          rules: [
            { record: 'job:errors:ratio_rate5m', expr: 'sum(rate(x[5m]))' },
            {
              alert: 'TooManyErrors',
              expr: 'job:errors:ratio_rate5m > 0.1',
              for: '5m',
              labels: { a: '1', severity: 'warning' },
              annotations: { summary: 'errors: "many"' },
            },
            // for: 0s means "fire at once", the same as no for
            { alert: 'Instant', expr: 'up == 0' },
          ],
        },
      ],
    });
    const alert = text.slice(text.indexOf('alert: TooManyErrors'));
    const order = ['alert:', 'expr:', 'for:', 'labels:', 'annotations:'].map((k) => alert.indexOf(k));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    // same input, same bytes: applying it again changes nothing
    expect(renderRuleFile([structuredClone(group)])).toBe(text);
  });

  it('keeps long multi-line PromQL intact', () => {
    const expr = `(\n  ${'a_very_long_metric_name_that_goes_on'.repeat(5)} > 1\nand\n  b > 2\n)`;
    const text = renderRuleFile([{ name: 'g', rules: [{ alert: 'A', expr }] }]);
    expect((parse(text) as { groups: { rules: { expr: string }[] }[] }).groups[0]?.rules[0]?.expr).toBe(expr);
  });
});

describe('PromQL helpers', () => {
  it('escapes label values in selectors and sorts equality matchers', () => {
    expect(selector({ namespace: 'ns', inferenceservice: 'a"b\\c' })).toBe(
      '{inferenceservice="a\\"b\\\\c",namespace="ns"}',
    );
    expect(selector({ a: 'x' }, [{ name: 'code', op: '=~', value: '5..' }])).toBe('{a="x",code=~"5.."}');
    expect(promqlString('line\nbreak')).toBe('"line\\nbreak"');
  });

  it('formats and parses Prometheus durations', () => {
    expect(formatDuration(300)).toBe('5m');
    expect(formatDuration(3600)).toBe('1h');
    expect(formatDuration(5400)).toBe('1h30m');
    expect(formatDuration(3 * 86400)).toBe('3d');
    expect(formatDuration(90061)).toBe('1d1h1m1s');
    expect(formatDuration(0)).toBe('0s');
    expect(() => formatDuration(1.5)).toThrow(RangeError);
    expect(() => formatDuration(-1)).toThrow(RangeError);
    for (const s of [1, 59, 300, 5400, 86400, 259200, 90061])
      expect(parseDuration(formatDuration(s))).toBe(s);
    expect(parseDuration('1w')).toBe(604800);
    expect(parseDuration('500ms')).toBe(0.5);
    expect(parseDuration('')).toBeUndefined();
    expect(parseDuration('5 minutes')).toBeUndefined();
    expect(parseDuration('1m1h')).toBeUndefined(); // units out of order
  });

  it('prints numbers without float noise', () => {
    expect(14.4 * 0.001).not.toBe(0.0144); // the noise this guards against
    expect(promqlNumber(14.4 * 0.001)).toBe('0.0144');
    expect(promqlNumber(0.1)).toBe('0.1');
    expect(promqlNumber(49380)).toBe('49380');
    expect(() => promqlNumber(Number.NaN)).toThrow(RangeError);
  });
});

describe('validateRuleGroups', () => {
  it('accepts well-formed groups', () => {
    expect(validateRuleGroups([group])).toEqual([]);
    expect(() => assertValidRuleGroups([group])).not.toThrow();
  });

  it('reports what Prometheus would refuse', () => {
    const bad: RuleGroup[] = [
      { name: 'g', interval: '1 minute', rules: [] },
      {
        name: 'g',
        rules: [
          { record: 'not a metric', expr: 'x' },
          { alert: 'Bad-Name', expr: ' ', for: 'soon' },
          { alert: 'A', expr: 'x', labels: { __reserved: 'x', 'bad-label': 'y' } },
          { record: 'r', expr: 'x', for: '5m' } as unknown as RuleGroup['rules'][number],
          { alert: 'Dup', expr: 'x' },
          { alert: 'Dup', expr: 'x' },
        ],
      },
    ];
    const errors = validateRuleGroups(bad).join('\n');
    expect(errors).toContain('interval "1 minute" is not a Prometheus duration');
    expect(errors).toContain('has no rules');
    expect(errors).toContain('duplicate group name');
    expect(errors).toContain('invalid recording rule name');
    expect(errors).toContain('invalid alert name');
    expect(errors).toContain('expr is empty');
    expect(errors).toContain('for "soon" is not a Prometheus duration');
    expect(errors).toContain('invalid label name "__reserved"');
    expect(errors).toContain('invalid label name "bad-label"');
    expect(errors).toContain('a recording rule cannot have for or annotations');
    expect(errors).toContain('duplicate rule');
    expect(() => assertValidRuleGroups(bad)).toThrow(/invalid Prometheus rules/);
  });
});
