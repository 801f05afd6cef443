// Operator configuration from command-line flags and environment variables.
// Precedence: flag > env > default. Every flag has an env twin (YMERA_…) so
// the Helm chart can use either. Invalid input fails at startup with a
// message naming the flag or variable and what is allowed.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LOG_LEVELS } from './logger.ts';
import type { LogLevel } from './logger.ts';
import { GATEWAY_API_MODES } from './kube/gateway.ts';
import type { TopicAllowList } from './kafka/topic-policy.ts';
import { parseTopicAllowList } from './kafka/topic-policy.ts';
import type { GatewayApiMode } from './kube/gateway.ts';
import { DEFAULT_MAX_READ_BYTES, parseCidr, parseEndpointPattern } from './storage/egress.ts';
import type { NamespaceGrants } from './namespace-grants.ts';
import { parseNamespaceGrants } from './namespace-grants.ts';

export type Config = {
  /** Validated "host:port", "[ipv6]:port" or ":port" (all interfaces). */
  metricsAddr: string;
  healthAddr: string;
  leaderElect: boolean;
  leaseName: string;
  leaseNamespace: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  /** Lease holder identity; unique per process. */
  identity: string;
  /** Namespaces to watch; empty means all. */
  watchNamespaces: string[];
  /** Work-queue workers per controller. */
  concurrency: number;
  /** Full informer resync period; 0 disables it. */
  resyncSeconds: number;
  logLevel: LogLevel;
  /** Explicit kubeconfig path; undefined means in-cluster or $KUBECONFIG. */
  kubeconfig?: string;
  /** Kafka bootstrap brokers ("host:port"); empty disables topics and platform events. */
  kafkaBrokers: string[];
  /** Topic names granted per namespace beyond its own "<namespace>." prefix (cluster admin). */
  kafkaTopicAllow: TopicAllowList;
  /** How long a deletion's cleanup may keep failing before the object says how to force it. */
  finalizeTimeoutSeconds: number;
  /** Prometheus base URL for queries; undefined disables metric-driven features. */
  prometheusUrl?: string;
  /** How rules are written: auto-detect the PrometheusRule CRD, or force one form. */
  prometheusRules: RuleMode;
  /** Labels added to generated rule objects, so a prometheus-operator ruleSelector picks them up. */
  ruleLabels: Record<string, string>;
  /** Route InferenceService traffic through Gateway API HTTPRoutes: auto-detect the CRD, or force on/off. */
  gatewayApi: GatewayApiMode;
  /** Origins (scheme://host[:port], "*." subdomains) where resources without a credentialsSecret may use the operator's S3 credentials; empty = nowhere. */
  s3AmbientCredentialsEndpoints: string[];
  /** The most the operator reads of any object from users' object storage. */
  s3MaxReadBytes: number;
  /** Address ranges users' S3 endpoints may not resolve to, besides link-local and metadata ones. */
  s3RefusedCidrs: string[];
  /** Other namespaces a BackupPolicy (or Restore) of a namespace may reach (cluster admin); none by default. */
  backupNamespaceGrant: NamespaceGrants;
  /** Namespaces where MaintenancePlan Jobs may run (cluster admin); none by default, never the operator's own. */
  maintenanceJobNamespaces: string[];
  /** Whether this process reconciles cluster-scoped kinds (MaintenancePlan): see reconcilesClusterScoped. */
  clusterScopedKinds: ClusterScopedMode;
};

export const CLUSTER_SCOPED_MODES = ['auto', 'true', 'false'] as const;
export type ClusterScopedMode = (typeof CLUSTER_SCOPED_MODES)[number];

/**
 * A cluster-scoped kind is one object for the whole cluster, so exactly one
 * operator should own it: by default the one that watches all namespaces. An
 * operator installed for some namespaces leaves it alone unless told so; a
 * team's namespaced install must not cordon the cluster's nodes.
 */
export function reconcilesClusterScoped(
  mode: ClusterScopedMode,
  watchNamespaces: readonly string[],
): boolean {
  return mode === 'auto' ? watchNamespaces.length === 0 : mode === 'true';
}

export const RULE_MODES = ['auto', 'PrometheusRule', 'ConfigMap'] as const;
export type RuleMode = (typeof RULE_MODES)[number];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Injectable sources of the default identity, for tests. */
export type ConfigDeps = { hostname?: () => string; randomSuffix?: () => string };

type Kind = 'string' | 'bool';
type FlagSpec = { flag: string; env: string; kind: Kind; def: string; help: string };

const FLAGS = {
  metricsAddr: flag(
    'metrics-bind-address',
    'host:port for /metrics (":8080" = all interfaces)',
    '127.0.0.1:8080',
  ),
  healthAddr: flag('health-probe-bind-address', 'host:port for /healthz and /readyz', '127.0.0.1:8081'),
  leaderElect: flag('leader-elect', 'run only while holding the leader Lease', 'true', 'bool'),
  leaseName: flag('lease-name', 'name of the leader-election Lease', 'ymera-operator-leader'),
  leaseNamespace: flag('lease-namespace', 'namespace of the Lease', '$POD_NAMESPACE or ymera-system'),
  leaseDurationSeconds: flag('lease-duration-seconds', 'how long a Lease is valid without renewal', '15'),
  renewDeadlineSeconds: flag(
    'renew-deadline-seconds',
    'leader gives up if it cannot renew within this',
    '10',
  ),
  retryPeriodSeconds: flag('retry-period-seconds', 'interval between Lease acquire/renew attempts', '2'),
  identity: flag('identity', 'Lease holder identity', '${HOSTNAME}_<random>'),
  watchNamespaces: flag('watch-namespaces', 'comma-separated namespaces to watch (empty = all)', ''),
  concurrency: flag('concurrency', 'reconcile workers per controller (1..64)', '2'),
  resyncSeconds: flag('resync-seconds', 'period of full resyncs, 0 to disable', '300'),
  logLevel: flag('log-level', `one of ${LOG_LEVELS.join('|')}`, 'info'),
  kubeconfig: flag('kubeconfig', 'kubeconfig path (default: in-cluster, then $KUBECONFIG)', ''),
  kafkaBrokers: flag(
    'kafka-brokers',
    'comma-separated Kafka bootstrap host:port list (empty = Kafka off)',
    '',
  ),
  kafkaTopicAllow: flag(
    'kafka-topic-allow',
    'topics a namespace may use beyond "<namespace>.*": comma-separated <namespace>=<topic> or <namespace>=<prefix>* (namespace * = all)',
    '',
  ),
  finalizeTimeoutSeconds: flag(
    'finalize-timeout-seconds',
    'after this long failing to clean up a deleted object, say how to force it (1..86400)',
    '300',
  ),
  prometheusUrl: flag('prometheus-url', 'Prometheus base URL, e.g. http://prometheus:9090 (empty = off)', ''),
  prometheusRules: flag('prometheus-rules', `rule objects: ${RULE_MODES.join('|')}`, 'auto'),
  ruleLabels: flag('rule-labels', 'k=v,k=v labels for generated rule objects (ruleSelector)', ''),
  gatewayApi: flag(
    'gateway-api',
    `InferenceService traffic split through HTTPRoute weights: ${GATEWAY_API_MODES.join('|')}`,
    'auto',
  ),
  s3AmbientCredentialsEndpoints: flag(
    's3-ambient-credentials-endpoints',
    "comma-separated S3 origins (https://host[:port], https://*.domain) where resources without credentialsSecret may use the operator's own credentials (empty = nowhere)",
    '',
  ),
  s3MaxReadBytes: flag(
    's3-max-read-bytes',
    'largest object body the operator reads from object storage, counted while it streams (1024..1073741824)',
    String(DEFAULT_MAX_READ_BYTES),
  ),
  s3RefusedCidrs: flag(
    's3-refused-cidrs',
    "comma-separated CIDRs users' S3 endpoints may not resolve to, besides the always refused link-local and cloud metadata addresses (e.g. 127.0.0.0/8,10.0.0.0/8)",
    '',
  ),
  backupNamespaceGrant: flag(
    'backup-namespace-grant',
    'namespaces a BackupPolicy may back up (and a Restore restore into) beyond its own: comma-separated <policyNamespace>=<namespace> or <policyNamespace>=<prefix>* (policyNamespace * = all, target * = all)',
    '',
  ),
  maintenanceJobNamespaces: flag(
    'maintenance-job-namespaces',
    "comma-separated namespaces where MaintenancePlan Job actions may run (the first is the default); label them with a Pod Security level that admits the Jobs; never the operator's own namespace (empty = Job actions refused)",
    '',
  ),
  clusterScopedKinds: flag(
    'cluster-scoped-kinds',
    `reconcile cluster-scoped kinds (MaintenancePlan): ${CLUSTER_SCOPED_MODES.join('|')}; auto = only when --watch-namespaces is empty (all namespaces)`,
    'auto',
  ),
} satisfies Record<keyof Config, FlagSpec>;

function flag(name: string, help: string, def: string, kind: Kind = 'string'): FlagSpec {
  return { flag: `--${name}`, env: `YMERA_${name.toUpperCase().replaceAll('-', '_')}`, kind, def, help };
}

type Field = keyof typeof FLAGS;
const BY_FLAG = new Map<string, Field>(Object.entries(FLAGS).map(([k, s]) => [s.flag, k as Field]));

/** True when argv asks for help; check this before parseConfig and print configHelp(). */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--help' || a === '-h');
}

export function configHelp(): string {
  const rows = Object.values(FLAGS).map((s) => {
    const name = s.kind === 'bool' ? `${s.flag}, --no-${s.flag.slice(2)}` : `${s.flag} <value>`;
    const def = s.def ? ` (default ${s.def})` : '';
    return `  ${name}\n      ${s.help}${def}; env ${s.env}`;
  });
  return [
    'Usage: ymera-operator [flags]',
    '',
    'Flags accept --flag=value or --flag value; flags override environment variables.',
    '',
    ...rows,
    '  -h, --help',
    '      print this help',
    '',
  ].join('\n');
}

/** A raw value and where it came from, so errors can name the source. */
type Raw = { value: string; source: string };

export function parseConfig(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  deps: ConfigDeps = {},
): Config {
  const fromFlags = readFlags(argv);
  const raw = (field: Field): Raw | undefined => {
    const given = fromFlags.get(field);
    if (given) return given;
    const spec = FLAGS[field];
    const value = env[spec.env];
    // Empty env values count as unset: templates often render "" for "not configured".
    return value !== undefined && value !== '' ? { value, source: spec.env } : undefined;
  };
  // The defaults shown by --help are the ones used, so they cannot drift apart.
  const str = (field: Field): Raw => raw(field) ?? { value: FLAGS[field].def, source: FLAGS[field].flag };

  const leaseDurationSeconds = positiveInt(str('leaseDurationSeconds'));
  const renewDeadlineSeconds = positiveInt(str('renewDeadlineSeconds'));
  const retryPeriodSeconds = positiveInt(str('retryPeriodSeconds'));
  if (renewDeadlineSeconds >= leaseDurationSeconds) {
    throw new ConfigError(
      `${FLAGS.renewDeadlineSeconds.flag} (${renewDeadlineSeconds}) must be less than ` +
        `${FLAGS.leaseDurationSeconds.flag} (${leaseDurationSeconds})`,
    );
  }
  if (retryPeriodSeconds >= renewDeadlineSeconds) {
    throw new ConfigError(
      `${FLAGS.retryPeriodSeconds.flag} (${retryPeriodSeconds}) must be less than ` +
        `${FLAGS.renewDeadlineSeconds.flag} (${renewDeadlineSeconds})`,
    );
  }

  const podNamespace = env.POD_NAMESPACE ? { value: env.POD_NAMESPACE, source: 'POD_NAMESPACE' } : undefined;
  const givenIdentity = raw('identity');
  if (givenIdentity && givenIdentity.value.trim() === '') fail(givenIdentity, 'must not be empty');
  const identity = givenIdentity?.value ?? defaultIdentity(env, deps);
  const kubeconfig = raw('kubeconfig')?.value || undefined;

  return {
    metricsAddr: bindAddress(str('metricsAddr')),
    healthAddr: bindAddress(str('healthAddr')),
    leaderElect: bool(str('leaderElect')),
    leaseName: dnsName(str('leaseName'), 253, true),
    leaseNamespace: dnsName(
      raw('leaseNamespace') ?? podNamespace ?? { value: 'ymera-system', source: 'default' },
      63,
    ),
    leaseDurationSeconds,
    renewDeadlineSeconds,
    retryPeriodSeconds,
    identity,
    watchNamespaces: namespaces(str('watchNamespaces')),
    concurrency: intInRange(str('concurrency'), 1, 64),
    resyncSeconds: intInRange(str('resyncSeconds'), 0, 86_400),
    logLevel: logLevel(str('logLevel')),
    kubeconfig,
    kafkaBrokers: hostPorts(str('kafkaBrokers')),
    kafkaTopicAllow: topicAllowList(str('kafkaTopicAllow')),
    finalizeTimeoutSeconds: intInRange(str('finalizeTimeoutSeconds'), 1, 86_400),
    prometheusUrl: httpUrl(str('prometheusUrl')),
    prometheusRules: ruleMode(str('prometheusRules')),
    ruleLabels: labels(str('ruleLabels')),
    gatewayApi: gatewayApiMode(str('gatewayApi')),
    s3AmbientCredentialsEndpoints: endpointOrigins(str('s3AmbientCredentialsEndpoints')),
    s3MaxReadBytes: intInRange(str('s3MaxReadBytes'), 1024, 1024 * 1024 * 1024),
    s3RefusedCidrs: cidrs(str('s3RefusedCidrs')),
    backupNamespaceGrant: namespaceGrants(str('backupNamespaceGrant')),
    maintenanceJobNamespaces: jobNamespaces(str('maintenanceJobNamespaces'), env.POD_NAMESPACE),
    clusterScopedKinds: clusterScopedMode(str('clusterScopedKinds')),
  };
}

function readFlags(argv: readonly string[]): Map<Field, Raw> {
  const out = new Map<Field, Raw>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') continue; // see wantsHelp
    if (!arg.startsWith('--')) {
      throw new ConfigError(
        `unexpected argument ${JSON.stringify(arg)}: only --flags are accepted (see --help)`,
      );
    }
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(0, eq) : arg;
    let value = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let field = BY_FLAG.get(name);
    if (!field && name.startsWith('--no-')) {
      const positive = BY_FLAG.get(`--${name.slice(5)}`);
      if (positive && FLAGS[positive].kind === 'bool') {
        if (value !== undefined) throw new ConfigError(`${name} takes no value`);
        field = positive;
        value = 'false';
        name = FLAGS[positive].flag;
      }
    }
    if (!field) throw new ConfigError(`unknown flag ${name} (see --help)`);
    if (value === undefined) {
      if (FLAGS[field].kind === 'bool') {
        // Like Go's flag package, a bool never consumes the next argument.
        value = 'true';
      } else {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--')) throw new ConfigError(`${name} needs a value`);
        value = next;
        i++;
      }
    }
    out.set(field, { value, source: name }); // the last occurrence wins
  }
  return out;
}

function defaultIdentity(env: Record<string, string | undefined>, deps: ConfigDeps): string {
  const host = env.HOSTNAME || (deps.hostname ?? hostname)();
  const suffix = (deps.randomSuffix ?? (() => randomBytes(4).toString('hex')))();
  return `${host}_${suffix}`;
}

function fail(raw: Raw, allowed: string): never {
  throw new ConfigError(`${raw.source}: ${allowed} (got ${JSON.stringify(raw.value)})`);
}

function bool(raw: Raw): boolean {
  const v = raw.value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return fail(raw, 'must be true or false');
}

function intInRange(raw: Raw, min: number, max: number): number {
  const n = /^\d+$/.test(raw.value) ? Number(raw.value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) fail(raw, `must be an integer from ${min} to ${max}`);
  return n;
}

function positiveInt(raw: Raw): number {
  return intInRange(raw, 1, 3600);
}

function logLevel(raw: Raw): LogLevel {
  const level = LOG_LEVELS.find((l) => l === raw.value.toLowerCase());
  return level ?? fail(raw, `must be one of ${LOG_LEVELS.join(', ')}`);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

// RFC 1123 label (namespaces) or subdomain (object names such as a Lease).
function dnsName(raw: Raw, maxLength: number, subdomain = false): string {
  const ok =
    raw.value.length <= maxLength &&
    (subdomain ? raw.value.split('.') : [raw.value]).every((p) => DNS_LABEL.test(p));
  if (!ok) {
    fail(
      raw,
      `must be a lowercase RFC 1123 ${subdomain ? 'subdomain' : 'label'} of at most ${maxLength} characters`,
    );
  }
  return raw.value;
}

function namespaces(raw: Raw): string[] {
  const names = raw.value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const name of names) dnsName({ value: name, source: raw.source }, 63);
  return [...new Set(names)];
}

// Kept as a string for the servers; validated here so a typo fails at startup.
function bindAddress(raw: Raw): string {
  const m = /^(?:\[[0-9a-fA-F:.]+\]|[^:[\]\s]*):(\d{1,5})$/.exec(raw.value);
  if (!m || Number(m[1]) > 65535) {
    fail(raw, 'must be host:port, [ipv6]:port or :port with a port from 0 to 65535');
  }
  return raw.value;
}

function hostPorts(raw: Raw): string[] {
  const list = raw.value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const hp of list) {
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(hp);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
      fail(raw, 'must be a comma-separated list of host:port');
  }
  return list;
}

// The operator's own namespace stays at the restricted Pod Security level: no maintenance Job there.
function jobNamespaces(raw: Raw, own: string | undefined): string[] {
  const list = namespaces(raw);
  if (own && list.includes(own))
    fail(raw, `must not include the operator's own namespace ${own} (it stays restricted)`);
  return list;
}

function topicAllowList(raw: Raw): TopicAllowList {
  try {
    return parseTopicAllowList(raw.value);
  } catch (e) {
    return fail(raw, (e as Error).message);
  }
}

function namespaceGrants(raw: Raw): NamespaceGrants {
  try {
    return parseNamespaceGrants(raw.value);
  } catch (e) {
    return fail(raw, (e as Error).message);
  }
}

function httpUrl(raw: Raw): string | undefined {
  if (raw.value === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw.value);
  } catch {
    return fail(raw, 'must be an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(raw, 'must be an http:// or https:// URL');
  return raw.value.replace(/\/+$/, '');
}

function endpointOrigins(raw: Raw): string[] {
  const list = raw.value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const entry of list) {
    const problem = parseEndpointPattern(entry);
    if (typeof problem === 'string') fail(raw, `${problem}; list origins like https://s3.example.com:9000`);
  }
  return [...new Set(list)];
}

function cidrs(raw: Raw): string[] {
  const list = raw.value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const entry of list) {
    const problem = parseCidr(entry);
    if (typeof problem === 'string') fail(raw, problem);
  }
  return [...new Set(list)];
}

function ruleMode(raw: Raw): RuleMode {
  return (
    RULE_MODES.find((m) => m.toLowerCase() === raw.value.toLowerCase()) ??
    fail(raw, `must be one of ${RULE_MODES.join(', ')}`)
  );
}

function clusterScopedMode(raw: Raw): ClusterScopedMode {
  return (
    CLUSTER_SCOPED_MODES.find((m) => m === raw.value.toLowerCase()) ??
    fail(raw, `must be one of ${CLUSTER_SCOPED_MODES.join(', ')}`)
  );
}

function gatewayApiMode(raw: Raw): GatewayApiMode {
  return (
    GATEWAY_API_MODES.find((m) => m === raw.value.toLowerCase()) ??
    fail(raw, `must be one of ${GATEWAY_API_MODES.join(', ')}`)
  );
}

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function labels(raw: Raw): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of raw.value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq) : '';
    const value = eq > 0 ? pair.slice(eq + 1) : '';
    if (!LABEL_KEY.test(key) || !LABEL_VALUE.test(value))
      fail(raw, 'must be k=v pairs with valid label keys and values');
    out[key] = value;
  }
  return out;
}
