// Where generated rules go in the cluster: a PrometheusRule when the
// Prometheus Operator's CRD is installed, else a labelled ConfigMap holding a
// rules file for a plain Prometheus (mounted by a sidecar or a volume). The
// object builders are pure; PrometheusRuleDetector is the one bit of I/O.
import type { Child } from '../controller.ts';
import type { KubeClient } from '../kube/client.ts';
import { KubeApiError } from '../kube/client.ts';
import type { KubeObject } from '../kube/resources.ts';
import { core } from '../kube/resources.ts';
import { owned } from '../ownership.ts';
import type { RuleGroup } from './rules.ts';
import { assertValidRuleGroups, normalizeGroups, renderRuleFile } from './rules.ts';
import { PROMETHEUS_RULE_CRD, prometheusRule } from './resources.ts';

export type RuleObjectMode = 'PrometheusRule' | 'ConfigMap';

/** Label on rule ConfigMaps, for a Prometheus (sidecar) that loads every labelled ConfigMap. */
export const RULES_CONFIGMAP_LABEL = 'ymera.io/prometheus-rules';

export interface RuleObjectOptions {
  mode: RuleObjectMode;
  /** Extra labels, e.g. what a Prometheus' ruleSelector matches (release: kube-prometheus-stack). */
  labels?: Record<string, string>;
}

const MAX_NAME = 253;
// a ConfigMap (all of its data) must stay below 1 MiB; PrometheusRule objects share etcd's limit
const MAX_BYTES = 1024 * 1024 - 4096;

/** `<name>-<kind>-rules`: the kind keeps an InferenceService and a LearningPipeline of one name apart. */
export function ruleObjectName(owner: Pick<KubeObject, 'kind' | 'metadata'>): string {
  const name = `${owner.metadata.name}-${owner.kind.toLowerCase()}-rules`;
  if (name.length <= MAX_NAME) return name;
  // too long for a DNS subdomain: keep a readable prefix and a hash of the full name
  return `${name.slice(0, MAX_NAME - 9)}-${fnv1a(name)}`;
}

/**
 * ConfigMap key of the rules file. The namespace is part of it because
 * sidecars that gather labelled ConfigMaps write all keys into one folder.
 */
export function ruleFileKey(owner: Pick<KubeObject, 'kind' | 'metadata'>): string {
  return `${owner.metadata.namespace ?? 'cluster'}.${ruleObjectName(owner)}.rules.yml`;
}

/**
 * The child holding `groups` for `owner`, or nothing when there are no
 * groups (so the reconcile prunes a previous one).
 */
export function ruleChildren(owner: KubeObject, groups: RuleGroup[], options: RuleObjectOptions): Child[] {
  if (groups.length === 0) return [];
  assertValidRuleGroups(groups);
  const metadata = {
    name: ruleObjectName(owner),
    namespace: owner.metadata.namespace,
    labels: { ...options.labels },
  };
  if (options.mode === 'PrometheusRule') {
    const object = owned(owner, {
      apiVersion: `${prometheusRule.group}/${prometheusRule.version}`,
      kind: prometheusRule.kind,
      metadata,
      spec: { groups: normalizeGroups(groups) },
    });
    checkSize(object, JSON.stringify(object.spec));
    return [{ type: prometheusRule, object }];
  }
  const object = owned(owner, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { ...metadata, labels: { ...metadata.labels, [RULES_CONFIGMAP_LABEL]: 'true' } },
    data: { [ruleFileKey(owner)]: renderRuleFile(groups) },
  });
  checkSize(object, Object.values(object.data).join(''));
  return [{ type: core.configMap, object }];
}

/** The rules file text inside a rule ConfigMap built by ruleChildren. */
export function ruleFileOf(configMap: KubeObject): string | undefined {
  const data = configMap.data as Record<string, string> | undefined;
  return Object.entries(data ?? {}).find(([key]) => key.endsWith('.rules.yml'))?.[1];
}

function checkSize(object: KubeObject, payload: string): void {
  const bytes = Buffer.byteLength(payload);
  if (bytes > MAX_BYTES) {
    throw new Error(
      `${object.kind} ${object.metadata.name}: rules are ${bytes} bytes, over the 1 MiB object limit`,
    );
  }
}

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

// --- detection -------------------------------------------------------------------

interface CrdLike {
  spec?: { versions?: { name: string; served?: boolean }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

/** Pure: whether a CRD object is Established and serves `version`. */
export function crdServes(crd: KubeObject | undefined, version: string): boolean {
  if (!crd) return false;
  const { spec, status } = crd as KubeObject & CrdLike;
  const established = status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  const served = spec?.versions?.some((v) => v.name === version && v.served !== false);
  return Boolean(established && served);
}

export interface PrometheusRuleDetectorOptions {
  /** How long an answer is reused; default 60s (CRDs are installed rarely). */
  ttlMs?: number;
  now?: () => number;
}

/**
 * Whether the cluster serves monitoring.coreos.com/v1 PrometheusRule, read
 * from the CRD and cached for ttlMs, so every reconcile can ask for free.
 * A failed lookup reuses the last answer if there is one; a 403 (no RBAC to
 * read CRDs) counts as "not installed", which falls back to ConfigMaps.
 */
export class PrometheusRuleDetector {
  readonly #client: Pick<KubeClient, 'get'>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #cached: { installed: boolean; at: number } | undefined;
  #inFlight: Promise<boolean> | undefined;

  constructor(client: Pick<KubeClient, 'get'>, options: PrometheusRuleDetectorOptions = {}) {
    this.#client = client;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  async installed(): Promise<boolean> {
    const cached = this.#cached;
    if (cached && this.#now() - cached.at < this.#ttlMs) return cached.installed;
    // concurrent reconciles share one lookup
    this.#inFlight ??= this.#lookup().finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  async mode(): Promise<RuleObjectMode> {
    return (await this.installed()) ? 'PrometheusRule' : 'ConfigMap';
  }

  /** The mode to write: `configured` (--prometheus-rules) unless it is 'auto', then what the cluster serves. */
  async resolve(configured: RuleObjectMode | 'auto'): Promise<RuleObjectMode> {
    return configured === 'auto' ? this.mode() : configured;
  }

  /** Forgets the cached answer (e.g. after a CRD watch event). */
  invalidate(): void {
    this.#cached = undefined;
  }

  async #lookup(): Promise<boolean> {
    let installed: boolean;
    try {
      installed = crdServes(await this.#client.get(core.crd, PROMETHEUS_RULE_CRD), prometheusRule.version);
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 403) installed = false;
      else if (this.#cached) return this.#cached.installed;
      else throw e;
    }
    this.#cached = { installed, at: this.#now() };
    return installed;
  }
}
