// Helpers for e2e tests: kubectl, polling, and running real operator
// processes against the local cluster.
import type { ChildProcess } from 'node:child_process';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IDENTITY_ENV } from './operator-identity.ts';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl; resolves with the exit code instead of throwing. */
export async function kubectl(args: string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      args,
      { env: process.env, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** kubectl that must succeed; returns stdout. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export async function getJson<T = Record<string, unknown>>(args: string[]): Promise<T | undefined> {
  const r = await kubectl([...args, '-o', 'json']);
  if (r.code !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as T;
}

/** The pods in `ns` matching the label `selector` (none when the list fails). */
export async function podsWith<Pod>(ns: string, selector: string): Promise<Pod[]> {
  return (await getJson<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', selector]))?.items ?? [];
}

/** Polls `check` until it returns a value other than undefined/false, or throws after timeoutMs. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Ports handed out by freePort come from below the kernel's ephemeral range
 * (ip_local_port_range, 32768–60999 by default) and below NodePorts (30000–32767):
 * a port the kernel picks for `listen(0)` comes from that range, and every outgoing
 * connection on the machine draws its local port from it too, so one could take the
 * port between our check and the server's bind (seen: an operator's EADDRINUSE).
 */
const TEST_PORTS = { first: 21000, count: 9000 };
const handedOut = new Set<number>();

/** Whether 127.0.0.1:port can be bound now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port no server listens on and no outgoing connection will take; never the same twice. */
export async function freePort(): Promise<number> {
  const start = Math.floor(Math.random() * TEST_PORTS.count);
  for (let i = 0; i < TEST_PORTS.count; i++) {
    const port = TEST_PORTS.first + ((start + i) % TEST_PORTS.count);
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${TEST_PORTS.first}–${TEST_PORTS.first + TEST_PORTS.count - 1}`);
}

export interface OperatorProcess {
  child: ChildProcess;
  identity: string;
  metricsUrl: string;
  healthUrl: string;
  logs: () => string;
  alive: () => boolean;
  metric: (name: string, labels?: Record<string, string>) => Promise<number | undefined>;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/**
 * The environment an operator process runs with: the chart's ServiceAccount
 * (operator-identity.ts; a permission the chart lacks fails the test), and
 * the chart's leader-election Lease, the only one that ServiceAccount may
 * hold. Test files run one at a time, so they share that Lease.
 */
export function operatorEnv(): { KUBECONFIG: string; POD_NAMESPACE: string; YMERA_LEASE_NAME: string } {
  const need = (name: string) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is unset: the e2e global setup (global-setup.ts) exports it`);
    return v;
  };
  return {
    KUBECONFIG: need(IDENTITY_ENV.kubeconfig),
    POD_NAMESPACE: need(IDENTITY_ENV.leaseNamespace),
    YMERA_LEASE_NAME: need(IDENTITY_ENV.leaseName),
  };
}

/** The Lease operator processes elect their leader with (see operatorEnv). */
export function operatorLease(): { namespace: string; name: string } {
  const env = operatorEnv();
  return { namespace: env.POD_NAMESPACE, name: env.YMERA_LEASE_NAME };
}

/** Log lines of API requests the operator's ServiceAccount was refused (a permission the chart lacks). */
export function forbiddenRequests(logs: string): string[] {
  return logs.split('\n').filter((l) => /is forbidden: User \\?"system:serviceaccount:/.test(l));
}

/** The chart's default NODE_OPTIONS for the operator (charts/ymera-operator/values.yaml nodeOptions). */
export const OPERATOR_NODE_OPTIONS = '--max-semi-space-size=1';

/**
 * Starts `node operator/main.ts` with the given extra flags, as the chart's
 * ServiceAccount. stop() fails when the API server refused the operator any
 * request (some refusals are only logged, e.g. an Event that could not be
 * recorded), unless allowForbidden says the test provokes them.
 */
export async function startOperator(
  identity: string,
  flags: string[] = [],
  opts: { allowForbidden?: boolean } = {},
): Promise<OperatorProcess> {
  // A port freePort() found free can still be taken before the operator binds
  // it (by a server another test starts on a port of its own choosing): an
  // operator that exited on EADDRINUSE is started again on new ports.
  for (let attempt = 1; ; attempt++) {
    const op = await spawnOperator(identity, flags, opts);
    if (op !== 'EADDRINUSE') return op;
    if (attempt === 3)
      throw new Error(`operator ${identity}: its ports were taken ${attempt} times in a row`);
  }
}

async function spawnOperator(
  identity: string,
  flags: string[],
  opts: { allowForbidden?: boolean },
): Promise<OperatorProcess | 'EADDRINUSE'> {
  const metricsPort = await freePort();
  const healthPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      path.join(repo, 'operator/main.ts'),
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${healthPort}`,
      `--identity=${identity}`,
      ...flags,
    ],
    {
      env: {
        ...process.env,
        ...operatorEnv(),
        HOSTNAME: identity,
        POD_NAME: identity,
        // as the chart starts it (values.yaml nodeOptions)
        NODE_OPTIONS: [process.env.NODE_OPTIONS, OPERATOR_NODE_OPTIONS].filter(Boolean).join(' '),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  const op: OperatorProcess = {
    child,
    identity,
    metricsUrl,
    healthUrl,
    logs: () => out,
    async metric(name, labels = {}) {
      const text = await (await fetch(metricsUrl)).text();
      return sumMetric(text, name, labels);
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const code = await exited;
      const refused = opts.allowForbidden ? [] : forbiddenRequests(out);
      if (refused.length > 0) {
        throw new Error(
          `operator ${identity} was refused ${refused.length} API request(s); the chart's RBAC ` +
            `(charts/ymera-operator/templates/clusterrole.yaml, role.yaml) lacks a grant:\n` +
            refused.slice(0, 5).join('\n'),
        );
      }
      return code;
    },
  };
  const readyOrExited = await eventually(
    `operator ${identity} to become ready (logs: ${out.slice(-2000)})`,
    async () => {
      if (child.exitCode !== null) return 'exited';
      const res = await fetch(`${healthUrl}/readyz`);
      return res.ok && 'ready';
    },
    60_000,
  );
  if (readyOrExited === 'exited') {
    if (/EADDRINUSE/.test(out)) return 'EADDRINUSE';
    throw new Error(`operator ${identity} exited with ${child.exitCode}: ${out.slice(-4000)}`);
  }
  return op;
}

/** Sums the samples of a metric whose labels include `labels`. */
export function sumMetric(text: string, name: string, labels: Record<string, string>): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) total = (total ?? 0) + Number(m[3]);
  }
  return total;
}

/**
 * Polls `kubectl get <args>` until the controller has observed the object's
 * current generation and `check` holds; returns the object.
 */
export function untilObserved<
  T extends { metadata: { generation?: number }; status?: { observedGeneration?: number } },
>(getArgs: string[], what: string, check: (obj: T) => boolean, timeoutMs = 90_000): Promise<T> {
  return eventually(
    what,
    async () => {
      const obj = await getJson<T>(['get', ...getArgs]);
      return obj && obj.status?.observedGeneration === obj.metadata.generation && check(obj)
        ? obj
        : undefined;
    },
    timeoutMs,
  );
}

/** An events.k8s.io Event, as far as the tests read it. */
export interface KubeEvent {
  reason: string;
  type: string;
  note: string;
  regarding: { name: string; kind?: string };
  reportingController: string;
  /** The operator process that wrote it (its --identity). */
  reportingInstance?: string;
}

/**
 * The Events about one object (by name, and by kind when given: other
 * controllers write Events about same-named children, e.g. an HPA or PDB) in
 * a namespace; [] when there are none.
 */
export async function eventsAbout(namespace: string, name: string, kind?: string): Promise<KubeEvent[]> {
  const selector = [`regarding.name=${name}`, ...(kind ? [`regarding.kind=${kind}`] : [])].join(',');
  const list = await getJson<{ items: KubeEvent[] }>([
    'get',
    'events.events.k8s.io',
    '-n',
    namespace,
    `--field-selector=${selector}`,
  ]);
  return list?.items ?? [];
}

/** Waits for an Event with `reason` about an object (see eventsAbout) and returns it. */
export function untilEvent(
  namespace: string,
  name: string,
  reason: string,
  kind?: string,
  timeoutMs = 60_000,
): Promise<KubeEvent> {
  return eventually(
    `an Event ${reason} about ${kind ?? 'object'} ${namespace}/${name}`,
    async () => (await eventsAbout(namespace, name, kind)).find((e) => e.reason === reason),
    timeoutMs,
  );
}

/** Deletes every InferenceService in a namespace and waits, so their finalizers run while an operator still does. */
export async function deleteInferenceServices(namespace: string): Promise<void> {
  await kubectl(['delete', 'inferenceservices', '--all', '-n', namespace, '--wait=true', '--timeout=60s']);
}

/** Creates a namespace for one test file and returns its name. */
export async function freshNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await kubectlOk(['create', 'namespace', name]);
  return name;
}

/** The local Prometheus (test/e2e/stack/prometheus.sh): its URL and the folders it reads rules and file_sd targets from. */
export function prometheusStack(): { url: string; rulesDir: string; targetsDir: string } {
  const out = execFileSync('bash', [path.join(repo, 'test/e2e/stack/prometheus.sh'), 'env'], {
    encoding: 'utf8',
  });
  const get = (name: string) => {
    const m = new RegExp(`^export ${name}=(.*)$`, 'm').exec(out);
    if (!m?.[1]) throw new Error(`prometheus.sh env did not print ${name}`);
    return m[1].replace(/^"(.*)"$/, '$1');
  };
  return {
    url: get('YMERA_PROMETHEUS_URL'),
    rulesDir: get('YMERA_PROMETHEUS_RULES_DIR'),
    targetsDir: get('YMERA_PROMETHEUS_TARGETS_DIR'),
  };
}

/** The local Kafka's bootstrap brokers (exported by the e2e global setup). */
export function kafkaBrokers(): string[] {
  return (process.env.YMERA_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
}
