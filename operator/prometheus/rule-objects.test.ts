import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { core } from '../kube/resources.ts';
import type { KubeObject } from '../kube/resources.ts';
import { isOwnedBy, ownerLabels } from '../ownership.ts';
import { prometheusRule, PROMETHEUS_RULE_CRD } from './resources.ts';
import {
  crdServes,
  ruleChildren,
  ruleFileKey,
  ruleFileOf,
  ruleObjectName,
  RULES_CONFIGMAP_LABEL,
} from './rule-objects.ts';
import type { RuleGroup } from './rules.ts';
import { normalizeGroups, renderRuleFile } from './rules.ts';

const owner: KubeObject = {
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'fraud', namespace: 'ml', uid: 'u-1' },
};

const groups: RuleGroup[] = [
  {
    name: 'ymera-inferenceservice-fraud-slo',
    rules: [
      { record: 'ymera:x:ratio_rate5m', expr: 'sum(rate(x{namespace="ml"}[5m]))' },
      { alert: 'X', expr: 'ymera:x:ratio_rate5m > 1', for: '1m', labels: { severity: 'warning' } },
    ],
  },
];

describe('ruleChildren', () => {
  it('writes a labelled ConfigMap with the rules file for a plain Prometheus', () => {
    const [child, ...rest] = ruleChildren(owner, groups, {
      mode: 'ConfigMap',
      labels: { prometheus: 'main' },
    });
    expect(rest).toEqual([]);
    expect(child?.type).toBe(core.configMap);
    const cm = child!.object;
    expect(cm.apiVersion).toBe('v1');
    expect(cm.kind).toBe('ConfigMap');
    expect(cm.metadata.name).toBe('fraud-inferenceservice-rules');
    expect(cm.metadata.namespace).toBe('ml');
    expect(cm.metadata.labels).toEqual({
      prometheus: 'main',
      [RULES_CONFIGMAP_LABEL]: 'true',
      ...ownerLabels(owner),
    });
    expect(isOwnedBy(cm, owner)).toBe(true);
    expect(Object.keys(cm.data as object)).toEqual(['ml.fraud-inferenceservice-rules.rules.yml']);
    expect(ruleFileOf(cm)).toBe(renderRuleFile(groups));
    expect(parse(ruleFileOf(cm) ?? '')).toEqual({ groups: normalizeGroups(groups) });
  });

  it('writes a PrometheusRule with the same groups for the Prometheus Operator', () => {
    const [child] = ruleChildren(owner, groups, { mode: 'PrometheusRule', labels: { release: 'kps' } });
    expect(child?.type).toBe(prometheusRule);
    const pr = child!.object;
    expect(pr.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(pr.kind).toBe('PrometheusRule');
    expect(pr.metadata.name).toBe('fraud-inferenceservice-rules');
    // ruleSelector labels and owner labels; the ConfigMap label is for plain Prometheus only
    expect(pr.metadata.labels).toEqual({ release: 'kps', ...ownerLabels(owner) });
    expect(isOwnedBy(pr, owner)).toBe(true);
    expect(pr.spec).toEqual({ groups: normalizeGroups(groups) });
    expect(pr.data).toBeUndefined();
  });

  it('desires nothing when there are no rules, so an old rule object is pruned', () => {
    expect(ruleChildren(owner, [], { mode: 'ConfigMap' })).toEqual([]);
    expect(ruleChildren(owner, [], { mode: 'PrometheusRule' })).toEqual([]);
  });

  it('refuses invalid rules and an owner without a uid', () => {
    expect(() =>
      ruleChildren(owner, [{ name: 'g', rules: [{ record: 'bad name', expr: 'x' }] }], { mode: 'ConfigMap' }),
    ).toThrow(/invalid recording rule name/);
    expect(() =>
      ruleChildren({ ...owner, metadata: { name: 'x', namespace: 'ml' } }, groups, { mode: 'ConfigMap' }),
    ).toThrow(/no uid/);
  });

  it('refuses rules over the object size limit', () => {
    const huge: RuleGroup[] = [
      { name: 'g', rules: [{ alert: 'A', expr: `x > ${'1'.repeat(1024 * 1024)}` }] },
    ];
    expect(() => ruleChildren(owner, huge, { mode: 'ConfigMap' })).toThrow(/1 MiB/);
    expect(() => ruleChildren(owner, huge, { mode: 'PrometheusRule' })).toThrow(/1 MiB/);
  });
});

describe('names', () => {
  it('keeps kinds apart and stays a valid object name when the owner name is long', () => {
    const pipeline = { ...owner, kind: 'LearningPipeline' };
    expect(ruleObjectName(pipeline)).toBe('fraud-learningpipeline-rules');
    expect(ruleFileKey(pipeline)).toBe('ml.fraud-learningpipeline-rules.rules.yml');
    const long = (n: string) => ({ ...owner, metadata: { ...owner.metadata, name: n } });
    const a = ruleObjectName(long('a'.repeat(250)));
    const b = ruleObjectName(long(`${'a'.repeat(249)}b`));
    expect(a.length).toBeLessThanOrEqual(253);
    expect(a).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    expect(a).not.toBe(b);
  });
});

describe('crdServes', () => {
  const crd = (established: string, versions: { name: string; served?: boolean }[]): KubeObject => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: PROMETHEUS_RULE_CRD },
    spec: { versions },
    status: {
      conditions: [
        { type: 'NamesAccepted', status: 'True' },
        { type: 'Established', status: established },
      ],
    },
  });

  it('is true only for an Established CRD serving the version', () => {
    expect(PROMETHEUS_RULE_CRD).toBe('prometheusrules.monitoring.coreos.com');
    expect(crdServes(crd('True', [{ name: 'v1', served: true }]), 'v1')).toBe(true);
    expect(crdServes(crd('False', [{ name: 'v1', served: true }]), 'v1')).toBe(false);
    expect(crdServes(crd('True', [{ name: 'v1', served: false }]), 'v1')).toBe(false);
    expect(crdServes(crd('True', [{ name: 'v1alpha1', served: true }]), 'v1')).toBe(false);
    expect(crdServes(undefined, 'v1')).toBe(false);
  });
});
