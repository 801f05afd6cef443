// The Helm chart and the operator image, checked the way a cluster admin meets
// them: `helm lint`, `helm template`, least-privilege RBAC, the restricted Pod
// Security Standard, values validation, and a server-side dry run against the
// local cluster. The Dockerfile is checked statically (no Docker engine here).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { core } from '../../operator/kube/resources.ts';
import { httpRoute } from '../../operator/kube/gateway.ts';
import { prometheusRule } from '../../operator/prometheus/resources.ts';
import { RUNTIME_COMMAND } from '../../operator/version.ts';
import { IDENTITY_ENV, OPERATOR_RELEASE } from './operator-identity.ts';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const chartDir = path.join(repoRoot, 'charts', 'ymera-operator');
const binDir = process.env.YMERA_BIN_DIR ?? path.join(homedir(), '.cache', 'ymera', 'bin', 'current');
const kubeconfig = process.env.KUBECONFIG;

/** A binary from the cache dir, else whatever PATH holds (the e2e global setup puts the cache dir on PATH). */
function bin(name: string): string {
  const p = path.join(binDir, name);
  return existsSync(p) ? p : name;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: repoRoot, env: process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => reject(new Error(`cannot run ${cmd}: ${e.message}`)));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Runs and fails with the command's output when it exits non-zero. */
async function mustRun(cmd: string, args: string[], input?: string): Promise<RunResult> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) {
    throw new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${r.code}\n${r.stderr}\n${r.stdout}`);
  }
  return r;
}

// ---------------------------------------------------------------------------
// Kubernetes object shapes the assertions read (only the fields used here).

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}
interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface SecurityContext {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  procMount?: string;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type?: string };
  seLinuxOptions?: { type?: string; user?: string; role?: string };
  appArmorProfile?: { type?: string };
  windowsOptions?: { hostProcess?: boolean };
  sysctls?: { name: string; value: string }[];
}
interface Probe {
  httpGet?: { path?: string; port?: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number; hostPort?: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
}
interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: SecurityContext;
  containers: Container[];
  initContainers?: Container[];
  volumes?: Record<string, unknown>[];
  serviceAccountName?: string;
  affinity?: {
    podAntiAffinity?: {
      preferredDuringSchedulingIgnoredDuringExecution?: {
        podAffinityTerm: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } };
      }[];
      requiredDuringSchedulingIgnoredDuringExecution?: unknown[];
    };
  };
  topologySpreadConstraints?: {
    topologyKey: string;
    labelSelector?: { matchLabels?: Record<string, string> };
  }[];
}
interface Deployment extends Obj {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

// ---------------------------------------------------------------------------
// helm helpers

const release = 'ymera-operator';
const namespace = 'ymera-system';

function helmTemplate(args: string[] = [], ns = namespace): Promise<RunResult> {
  return run(bin('helm'), ['template', release, chartDir, '--namespace', ns, ...args]);
}

async function render(args: string[] = [], ns = namespace): Promise<Obj[]> {
  const r = await helmTemplate(args, ns);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}):\n${r.stderr}`);
  return parseManifests(r.stdout);
}

function parseManifests(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]?.message}`);
      return d.toJS() as Obj | null;
    })
    .filter((o): o is Obj => o !== null && typeof o === 'object');
}

function find<T extends Obj = Obj>(objs: Obj[], kind: string, name?: string): T {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o)
    throw new Error(
      `no ${kind}${name ? ` ${name}` : ''} in: ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`,
    );
  return o as T;
}

function rulesOf(o: Obj): PolicyRule[] {
  return (o.rules as PolicyRule[] | undefined) ?? [];
}

/** "group/resource verb" strings of a set of rules, e.g. "apps/deployments get". */
function permissions(rules: PolicyRule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    for (const g of r.apiGroups ?? []) {
      for (const res of r.resources ?? []) {
        for (const v of r.verbs) out.add(`${g === '' ? 'core' : g}/${res} ${v}`);
      }
    }
  }
  return [...out].sort();
}

const ymeraResources = [
  'inferenceservices',
  'learningpipelines',
  'maintenanceplans',
  'optimizationloops',
  'backuppolicies',
  'restores',
];

/**
 * Violations of the `restricted` Pod Security Standard (policy version
 * latest, Linux pods), following the checks of k8s.io/pod-security-admission.
 */
function restrictedViolations(pod: PodSpec): string[] {
  const v: string[] = [];
  const psc = pod.securityContext ?? {};
  const containers = [...(pod.initContainers ?? []), ...pod.containers];
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) v.push('host namespaces');
  const allowedVolumes = new Set([
    'configMap',
    'csi',
    'downwardAPI',
    'emptyDir',
    'ephemeral',
    'persistentVolumeClaim',
    'projected',
    'secret',
  ]);
  for (const vol of pod.volumes ?? []) {
    for (const key of Object.keys(vol)) {
      if (key !== 'name' && !allowedVolumes.has(key)) v.push(`volume ${String(vol.name)} uses ${key}`);
    }
  }
  if (psc.seLinuxOptions?.user || psc.seLinuxOptions?.role) v.push('pod seLinuxOptions user/role');
  const safeSysctls = new Set([
    'kernel.shm_rmid_forced',
    'net.ipv4.ip_local_port_range',
    'net.ipv4.ip_unprivileged_port_start',
    'net.ipv4.tcp_syncookies',
    'net.ipv4.ping_group_range',
    'net.ipv4.ip_local_reserved_ports',
    'net.ipv4.tcp_keepalive_time',
    'net.ipv4.tcp_fin_timeout',
    'net.ipv4.tcp_keepalive_intvl',
    'net.ipv4.tcp_keepalive_probes',
  ]);
  for (const s of psc.sysctls ?? []) if (!safeSysctls.has(s.name)) v.push(`unsafe sysctl ${s.name}`);
  if (psc.runAsUser === 0) v.push('pod runAsUser 0');
  const seccompOk = (t?: string) => t === 'RuntimeDefault' || t === 'Localhost';
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const where = `container ${c.name}`;
    if (sc.privileged) v.push(`${where}: privileged`);
    if (sc.windowsOptions?.hostProcess) v.push(`${where}: hostProcess`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${where}: allowPrivilegeEscalation must be false`);
    if (!(sc.runAsNonRoot ?? psc.runAsNonRoot)) v.push(`${where}: runAsNonRoot must be true`);
    if (sc.runAsUser === 0) v.push(`${where}: runAsUser 0`);
    if (!seccompOk(sc.seccompProfile?.type ?? psc.seccompProfile?.type)) v.push(`${where}: seccompProfile`);
    if (!sc.capabilities?.drop?.includes('ALL')) v.push(`${where}: capabilities must drop ALL`);
    for (const cap of sc.capabilities?.add ?? [])
      if (cap !== 'NET_BIND_SERVICE') v.push(`${where}: adds ${cap}`);
    if (sc.procMount && sc.procMount !== 'Default') v.push(`${where}: procMount`);
    if (sc.seLinuxOptions?.user || sc.seLinuxOptions?.role) v.push(`${where}: seLinuxOptions user/role`);
    if (sc.appArmorProfile?.type === 'Unconfined') v.push(`${where}: appArmor Unconfined`);
    for (const p of c.ports ?? []) if (p.hostPort) v.push(`${where}: hostPort ${p.hostPort}`);
  }
  return v;
}

// ---------------------------------------------------------------------------

describe('operator image (Dockerfile, static checks)', () => {
  let dockerfile: string;
  let stages: { from: string; lines: string[] }[];
  let args: Map<string, string>;

  beforeAll(async () => {
    dockerfile = await readFile(path.join(repoRoot, 'Dockerfile'), 'utf8');
    // Join continuation lines, drop comments and blanks.
    const lines = dockerfile
      .replace(/\\\r?\n/g, ' ')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    args = new Map();
    stages = [];
    for (const l of lines) {
      const [instr = '', ...rest] = l.split(/\s+/);
      const body = rest.join(' ');
      if (instr.toUpperCase() === 'FROM') {
        const image = (body.split(/\s+/)[0] ?? '').replace(
          /\$\{(\w+)\}|\$(\w+)/g,
          (_, a: string, b: string) => {
            return args.get(a ?? b) ?? '';
          },
        );
        stages.push({ from: image, lines: [] });
      } else if (stages.length === 0 && instr.toUpperCase() === 'ARG') {
        const [k = '', val = ''] = body.split('=');
        args.set(k, val);
      } else {
        stages.at(-1)?.lines.push(l);
      }
    }
  });

  const final = () => stages.at(-1) ?? { from: '', lines: [] };
  const instructions = (stage: { lines: string[] }, name: string) =>
    stage.lines.filter((l) => l.toUpperCase().startsWith(`${name} `)).map((l) => l.slice(name.length).trim());

  it('is multi-stage and based on Node.js 24 in every stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]?.from).toMatch(/^(docker\.io\/(library\/)?)?node:24([.-]|$)/);
    expect(final().from).toMatch(
      /^(gcr\.io\/distroless\/nodejs24-|(docker\.io\/(library\/)?)?node:24([.-]|$))/,
    );
  });

  it('installs production dependencies only, reproducibly, without ONNX runtime downloads', () => {
    const build = stages.slice(0, -1).flatMap((s) => s.lines);
    const runs = build.filter((l) => /^RUN\s/i.test(l)).join('\n');
    expect(runs).toMatch(/npm ci\b[^\n]*--omit=dev/);
    expect(runs).not.toMatch(/npm (install|i)\b/);
    expect(build.join('\n')).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
    // Dev tooling never reaches the final image.
    expect(final().lines.join('\n')).not.toMatch(/npm (ci|install)/);
  });

  it('runs as a numeric non-root user that matches the chart', async () => {
    const users = instructions(final(), 'USER');
    expect(users.length, 'the final stage sets USER').toBeGreaterThan(0);
    const [uid = '', gid] = (users.at(-1) ?? '').split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(gid).toMatch(/^\d+$/);
    const values = parse(await readFile(path.join(chartDir, 'values.yaml'), 'utf8')) as {
      podSecurityContext: { runAsUser?: number };
    };
    expect(values.podSecurityContext.runAsUser).toBe(Number(uid));
  });

  it('copies only what the operator loads and starts it with type stripping', () => {
    const copies = instructions(final(), 'COPY').join('\n');
    for (const what of [
      'package.json',
      'package-lock.json',
      'operator',
      'controllers',
      'runtime',
      'node_modules',
    ]) {
      expect(copies).toContain(what);
    }
    expect(copies).not.toMatch(/^(--\S+\s+)*\.\s/m); // no `COPY . .`
    const entry = [...instructions(final(), 'ENTRYPOINT'), ...instructions(final(), 'CMD')].join(' ');
    expect(() => JSON.parse(instructions(final(), 'ENTRYPOINT').at(-1) ?? '')).not.toThrow(); // exec form
    expect(entry).toContain('operator/main.ts');
    expect(entry).toContain('--disable-warning=ExperimentalWarning');
  });

  it('carries OCI labels', () => {
    const labels = instructions(final(), 'LABEL').join(' ');
    for (const key of ['title', 'version', 'revision', 'licenses']) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
  });

  it('keeps local state out of the build context', async () => {
    const ignore = (await readFile(path.join(repoRoot, '.dockerignore'), 'utf8'))
      .split(/\r?\n/)
      .map((l) => l.trim());
    for (const p of ['node_modules', '.git', '.tmp', 'test']) expect(ignore).toContain(p);
  });

  it('builds the CUDA runtime (target runtime-cuda) that GPU services default to', () => {
    expect(dockerfile).toMatch(/^FROM \$\{CUDA_IMAGE\} AS runtime-cuda$/m);
    const cudaAt = stages.findIndex((s) => /^nvidia\/cuda:12\.[\w.-]*cudnn/.test(s.from));
    expect(cudaAt, "a stage on NVIDIA's CUDA 12 + cuDNN base").toBeGreaterThan(0);
    const cuda = stages[cudaAt]!;
    const deps = stages[cudaAt - 1]!; // the stage it copies node_modules from
    const depsText = deps.lines.join('\n');
    expect(depsText).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
    expect(depsText).toMatch(/npm ci\b[^\n]*--omit=dev/);
    expect(depsText).toMatch(/libonnxruntime_providers_cuda\.so/); // the build fails without the provider
    const copies = instructions(cuda, 'COPY').join('\n');
    expect(copies).toMatch(/--from=deps-cuda \S*node \/nodejs\/bin\/node/);
    expect(copies).toMatch(/--from=deps-cuda \/app\/node_modules/);
    const [uid = ''] = (instructions(cuda, 'USER').at(-1) ?? '').split(':');
    expect(Number(uid)).toBeGreaterThan(0);
    // started like the default image: the operator passes RUNTIME_COMMAND to both
    const entry = JSON.parse(instructions(cuda, 'ENTRYPOINT').at(-1) ?? '[]') as string[];
    expect(entry).toEqual(RUNTIME_COMMAND);
    // and it is not the default target
    expect(final().from).not.toMatch(/cuda/);
  });
});

describe('helm chart', () => {
  let objs: Obj[];

  beforeAll(async () => {
    const v = await run(bin('helm'), ['version', '--short']).catch((e: unknown) => {
      throw new Error(
        `helm not found (looked in ${binDir} and PATH): build it with test/e2e/cluster/build-binaries.sh (${String(e)})`,
      );
    });
    expect(v.stdout).toMatch(/^v4\./);
    objs = await render();
  });

  it('passes helm lint, also with --strict', async () => {
    const lint = await run(bin('helm'), ['lint', chartDir]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    const strict = await run(bin('helm'), ['lint', '--strict', chartDir]);
    expect(strict.code, strict.stdout + strict.stderr).toBe(0);
  });

  it('renders the operator objects with standard labels', () => {
    const kinds = objs.map((o) => o.kind).sort();
    expect(kinds).toEqual(
      [
        'ClusterRole',
        'ClusterRole',
        'ClusterRole',
        'ClusterRoleBinding',
        'Deployment',
        'PodDisruptionBudget',
        'Role',
        'RoleBinding',
        'Service',
        'ServiceAccount',
      ].sort(),
    );
    for (const o of objs) {
      expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({
        'app.kubernetes.io/name': 'ymera-operator',
        'app.kubernetes.io/instance': release,
        'app.kubernetes.io/version': expect.any(String),
        'app.kubernetes.io/managed-by': 'Helm',
        'app.kubernetes.io/part-of': 'ymera',
      });
      const clusterScoped = o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding';
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(
        clusterScoped ? undefined : namespace,
      );
    }
  });

  it('grants no RBAC wildcards', async () => {
    // Every optional RBAC object on, so all of them are checked.
    const all = await render([
      '--set',
      'rbac.secretsAccess=true',
      '--set',
      'rbac.aggregateToDefaultRoles=true',
    ]);
    const roles = all.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
    expect(roles.length).toBeGreaterThanOrEqual(2);
    for (const role of roles) {
      for (const rule of rulesOf(role)) {
        for (const field of [
          'apiGroups',
          'resources',
          'verbs',
          'resourceNames',
          'nonResourceURLs',
        ] as const) {
          for (const value of rule[field] ?? []) {
            expect(value, `${role.kind}/${role.metadata.name} ${field}`).not.toContain('*');
          }
        }
      }
    }
  });

  // Which permissions suffice is proven by the e2e suite itself: every operator
  // process it starts runs as this chart's ServiceAccount (operator-identity.ts).
  // These tests pin what must stay out, and the switches that add to it.
  it('binds the ClusterRole to the ServiceAccount and grants no node write, eviction or ServiceAccount access by default', () => {
    const role = find(objs, 'ClusterRole', 'ymera-operator');
    const binding = find(objs, 'ClusterRoleBinding');
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'ymera-operator', namespace }]);
    const granted = permissions(rulesOf(role));
    for (const p of granted) {
      expect(p).not.toMatch(/^core\/(pods\/eviction|serviceaccounts|namespaces|events) /);
    }
    // nodes: listed by MaintenancePlan predictions (shadow mode), never written by default
    expect(granted.filter((p) => p.startsWith('core/nodes'))).toEqual(['core/nodes list']);
    // pods are read by label selector, never written; their logs only with rbac.learningPipelineEarlyStopping
    expect(granted.filter((p) => p.startsWith('core/pods')).sort()).toEqual([
      'core/pods list',
      'core/pods watch',
    ]);
    // every write to a ymera resource is a patch; update only where admission asks for it, and
    // create/update of what a Restore writes back (rbac.restore, on by default); never Restores
    expect(
      granted.filter((p) => p.startsWith('ymera.io/') && / (update|create|delete)$/.test(p)).sort(),
    ).toEqual(
      [
        'ymera.io/inferenceservices/finalizers update',
        'ymera.io/learningpipelines/finalizers update',
        ...['inferenceservices', 'learningpipelines', 'optimizationloops', 'backuppolicies'].flatMap((k) => [
          `ymera.io/${k} create`,
          `ymera.io/${k} update`,
        ]),
      ].sort(),
    );
    expect(granted.filter((p) => p.startsWith('core/secrets')).sort()).toEqual([
      'core/secrets create',
      'core/secrets get',
      'core/secrets update',
    ]);
    // the two optional-API CRDs, by name, get only
    const crdRule = rulesOf(role).find((r) => r.resources?.includes('customresourcedefinitions'));
    expect(crdRule).toEqual({
      apiGroups: ['apiextensions.k8s.io'],
      resources: ['customresourcedefinitions'],
      resourceNames: ['prometheusrules.monitoring.coreos.com', 'httproutes.gateway.networking.k8s.io'],
      verbs: ['get'],
    });
  });

  it('grants node cordon and pod eviction only with rbac.maintenancePlan=true', async () => {
    const on = permissions(
      rulesOf(find(await render(['--set', 'rbac.maintenancePlan=true']), 'ClusterRole', 'ymera-operator')),
    );
    expect(on).toEqual(
      expect.arrayContaining([
        'core/nodes get',
        'core/nodes patch',
        'core/nodes list',
        'core/pods/eviction create',
        'core/pods delete',
      ]),
    );
    expect(on).not.toContain('core/nodes watch');
    const off = permissions(rulesOf(find(objs, 'ClusterRole', 'ymera-operator')));
    expect(
      off.filter(
        (p) => p.startsWith('core/nodes') || p.startsWith('core/pods/eviction') || p === 'core/pods delete',
      ),
    ).toEqual(['core/nodes list']);
  });

  it('grants pod eviction alone with rbac.inferenceServiceHealing=true (InferenceService self-healing)', async () => {
    const on = permissions(
      rulesOf(
        find(await render(['--set', 'rbac.inferenceServiceHealing=true']), 'ClusterRole', 'ymera-operator'),
      ),
    );
    const off = permissions(rulesOf(find(objs, 'ClusterRole', 'ymera-operator')));
    expect(on.filter((p) => !off.includes(p))).toEqual(['core/pods/eviction create']);
  });

  it('grants pod logs alone with rbac.learningPipelineEarlyStopping=true (sweep early stopping)', async () => {
    const on = permissions(
      rulesOf(
        find(
          await render(['--set', 'rbac.learningPipelineEarlyStopping=true']),
          'ClusterRole',
          'ymera-operator',
        ),
      ),
    );
    const off = permissions(rulesOf(find(objs, 'ClusterRole', 'ymera-operator')));
    expect(on.filter((p) => !off.includes(p))).toEqual(['core/pods/log get']);
  });

  it('grants maintenance Jobs only in maintenancePlan.jobNamespaces, with rbac.maintenancePlan, and passes them on', async () => {
    const set = ['--set', 'maintenancePlan.jobNamespaces={maint,ops}'];
    const on = await render([...set, '--set', 'rbac.maintenancePlan=true']);
    const roles = on.filter(
      (o) => o.kind === 'Role' && o.metadata.name === 'ymera-operator-maintenance-jobs',
    );
    expect(roles.map((r) => r.metadata.namespace)).toEqual(['maint', 'ops']);
    for (const r of roles)
      expect(permissions(rulesOf(r)).sort()).toEqual([
        'batch/jobs create',
        'batch/jobs delete',
        'batch/jobs get',
        'batch/jobs list',
        'batch/jobs watch',
      ]);
    const bindings = on.filter(
      (o) => o.kind === 'RoleBinding' && o.metadata.name === 'ymera-operator-maintenance-jobs',
    );
    expect(bindings.map((b) => b.metadata.namespace)).toEqual(['maint', 'ops']);
    for (const b of bindings)
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'ymera-operator', namespace }]);
    const args = find<Deployment>(on, 'Deployment').spec.template.spec.containers[0]?.args ?? [];
    expect(args).toContain('--maintenance-job-namespaces=maint,ops');
    const off = await render(set);
    expect(off.some((o) => o.metadata.name === 'ymera-operator-maintenance-jobs')).toBe(false);
    const plain = find<Deployment>(objs, 'Deployment').spec.template.spec.containers[0]?.args ?? [];
    expect(plain.some((a) => a.startsWith('--maintenance-job-namespaces'))).toBe(false);
    // the operator's own namespace stays restricted
    const own = await helmTemplate(['--set', `maintenancePlan.jobNamespaces={${namespace}}`]);
    expect(own.code).not.toBe(0);
    expect(own.stderr).toMatch(
      /maintenancePlan.jobNamespaces must not include the release namespace ymera-system/,
    );
  });

  it('grants namespaces get, create and delete (drills) only with rbac.drills=true', async () => {
    const on = permissions(
      rulesOf(find(await render(['--set', 'rbac.drills=true']), 'ClusterRole', 'ymera-operator')),
    );
    expect(on.filter((p) => p.startsWith('core/namespaces ')).sort()).toEqual([
      'core/namespaces create',
      'core/namespaces delete',
      'core/namespaces get',
    ]);
    const off = permissions(rulesOf(find(objs, 'ClusterRole', 'ymera-operator')));
    expect(off.filter((p) => p.startsWith('core/namespaces '))).toEqual([]);
  });

  it('reads Secrets with get only: cluster-wide, in the listed namespaces only, or not at all', async () => {
    const secretsIn = (o: Obj) => permissions(rulesOf(o)).filter((p) => p.startsWith('core/secrets'));
    const listed = await render(['--set', 'rbac.secretsNamespaces={team-a,team-b}']);
    expect(secretsIn(find(listed, 'ClusterRole', 'ymera-operator'))).toEqual([]);
    const roles = listed.filter((o) => o.kind === 'Role' && o.metadata.name === 'ymera-operator-secrets');
    expect(roles.map((r) => r.metadata.namespace)).toEqual(['team-a', 'team-b']);
    for (const r of roles)
      expect(secretsIn(r).sort()).toEqual(['core/secrets create', 'core/secrets get', 'core/secrets update']);
    const bindings = listed.filter(
      (o) => o.kind === 'RoleBinding' && o.metadata.name === 'ymera-operator-secrets',
    );
    expect(bindings.map((b) => b.metadata.namespace)).toEqual(['team-a', 'team-b']);
    for (const b of bindings) {
      expect(b.roleRef).toMatchObject({ kind: 'Role', name: 'ymera-operator-secrets' });
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'ymera-operator', namespace }]);
    }
    const none = await render([
      '--set',
      'rbac.secretsAccess=false',
      '--set',
      'rbac.secretsNamespaces={team-a}',
    ]);
    for (const o of none.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
      expect(secretsIn(o), `${o.kind}/${o.metadata.name}`).toEqual([]);
    }
  });

  it('grants no writes of what a Restore restores with rbac.restore=false: Secrets get only', async () => {
    let checked = 0;
    for (const set of [[], ['--set', 'rbac.secretsNamespaces={team-a}']]) {
      const off = await render(['--set', 'rbac.restore=false', ...set]);
      for (const o of off.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
        if (o.metadata.name !== 'ymera-operator' && o.metadata.name !== 'ymera-operator-secrets') continue;
        checked++;
        const granted = permissions(rulesOf(o));
        const secretWrites = granted.filter((p) => p.startsWith('core/secrets') && p !== 'core/secrets get');
        expect(secretWrites, o.metadata.name).toEqual([]);
        expect(granted.filter((p) => /^ymera\.io\/[a-z]+ (create|update)$/.test(p))).toEqual([]);
        expect(granted).not.toContain('core/configmaps update');
      }
    }
    expect(checked).toBe(3); // the ClusterRole twice, the Role of team-a once
  });

  it('keeps the leader-election Lease permissions in a Role in the release namespace', () => {
    const role = find(objs, 'Role');
    expect(role.metadata.namespace).toBe(namespace);
    expect(permissions(rulesOf(role))).toEqual(
      [
        'coordination.k8s.io/leases create',
        'coordination.k8s.io/leases get',
        'coordination.k8s.io/leases update',
      ].sort(),
    );
    // get/update only on the operator's own Lease, the one passed in --lease-name.
    const named = rulesOf(role).find((r) => r.verbs.includes('update'));
    const dep = find<Deployment>(objs, 'Deployment');
    expect(dep.spec.template.spec.containers[0]?.args).toContain(`--lease-name=${named?.resourceNames?.[0]}`);
    for (const cr of objs.filter((o) => o.kind === 'ClusterRole')) {
      expect(permissions(rulesOf(cr)).join('\n')).not.toContain('leases');
    }
    const rb = find(objs, 'RoleBinding');
    expect(rb.metadata.namespace).toBe(namespace);
    expect(rb.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
  });

  it('runs 2 replicas with leader election and the in-pod flags', () => {
    const dep = find<Deployment>(objs, 'Deployment');
    expect(dep.spec.replicas).toBe(2);
    const c = dep.spec.template.spec.containers[0];
    expect(c?.name).toBe('operator');
    expect(c?.args).toEqual(
      expect.arrayContaining([
        '--leader-elect=true',
        '--metrics-bind-address=0.0.0.0:8080',
        '--health-probe-bind-address=0.0.0.0:8081',
        '--lease-namespace=$(POD_NAMESPACE)',
        '--log-level=info',
        '--cluster-scoped-kinds=auto',
      ]),
    );
    expect(c?.args?.some((a) => a.startsWith('--watch-namespaces'))).toBe(false); // all namespaces by default
    const env = Object.fromEntries(
      (c?.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath ?? e.value]),
    );
    expect(env).toMatchObject({ POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
    expect(c?.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c?.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(c?.ports).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'metrics', containerPort: 8080 }),
        expect.objectContaining({ name: 'health', containerPort: 8081 }),
      ]),
    );
    expect(c?.resources).toEqual({
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { cpu: '500m', memory: '512Mi' },
    });
    expect(c?.image).toMatch(/^ghcr\.io\/ymera\/ymera-operator:\S+$/);
    const svc = find(objs, 'Service');
    expect(svc.spec).toMatchObject({
      selector: dep.spec.selector.matchLabels,
      ports: [{ name: 'metrics', targetPort: 'metrics' }],
    });
  });

  it('meets the restricted Pod Security Standard', () => {
    const pod = find<Deployment>(objs, 'Deployment').spec.template.spec;
    expect(restrictedViolations(pod)).toEqual([]);
    // Explicit, not inherited from the image.
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
    for (const c of pod.containers) {
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
    }
    // The checker itself catches a violation.
    const bad = structuredClone(pod);
    bad.containers[0]!.securityContext = {
      ...bad.containers[0]!.securityContext,
      allowPrivilegeEscalation: true,
    };
    expect(restrictedViolations(bad)).toEqual(['container operator: allowPrivilegeEscalation must be false']);
  });

  it('spreads the replicas over nodes and keeps one up during disruptions', async () => {
    const dep = find<Deployment>(objs, 'Deployment');
    const podLabels = dep.spec.template.metadata.labels;
    const selector = dep.spec.selector.matchLabels;
    expect(podLabels).toMatchObject(selector);
    const anti =
      dep.spec.template.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
    expect(anti?.[0]?.podAffinityTerm).toEqual({
      topologyKey: 'kubernetes.io/hostname',
      labelSelector: { matchLabels: selector },
    });
    for (const tsc of dep.spec.template.spec.topologySpreadConstraints ?? []) {
      expect(tsc.labelSelector?.matchLabels).toEqual(selector);
    }
    const pdb = find(objs, 'PodDisruptionBudget');
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: selector } });

    // One replica: no PDB (it would block every node drain). Hard anti-affinity on request.
    const single = await render(['--set', 'replicas=1', '--set', 'podAntiAffinity=hard']);
    expect(single.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
    const hard = find<Deployment>(single, 'Deployment').spec.template.spec.affinity?.podAntiAffinity;
    expect(hard?.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
  });

  it('passes the optional settings through', async () => {
    const out = await render([
      '--set',
      'watchNamespaces={team-a,team-b}',
      '--set',
      'prometheusRules.labels.release=kube-prometheus-stack',
      '--set',
      'serviceMonitor.enabled=true',
      '--set',
      'priorityClassName=system-cluster-critical',
      '--set',
      'logLevel=debug',
      '--set',
      'clusterScopedKinds=true',
    ]);
    const dep = find<Deployment>(out, 'Deployment');
    expect(dep.spec.template.spec.containers[0]?.args).toEqual(
      expect.arrayContaining([
        '--watch-namespaces=team-a,team-b',
        '--cluster-scoped-kinds=true',
        '--rule-labels=release=kube-prometheus-stack',
        '--log-level=debug',
      ]),
    );
    expect(dep.spec.template.spec).toMatchObject({ priorityClassName: 'system-cluster-critical' });
    const sm = find(out, 'ServiceMonitor');
    expect(sm.spec).toMatchObject({ endpoints: [{ port: 'metrics', path: '/metrics' }] });
  });

  it.each([
    { set: ['--set', 'replicas=-1'], names: '/replicas' },
    { set: ['--set-string', 'replicas=two'], names: '/replicas' },
    { set: ['--set', 'logLevel=loud'], names: '/logLevel' },
    { set: ['--set', 'image.pullPolicy=Sometimes'], names: '/image/pullPolicy' },
    { set: ['--set', 'concurrency=0'], names: '/concurrency' },
    { set: ['--set', 'watchNamespaces={Not_A_Namespace}'], names: '/watchNamespaces' },
    { set: ['--set', 'replicaCount=3'], names: 'replicaCount' },
    { set: ['--set', 'rbac.secretsAccess=maybe'], names: '/rbac/secretsAccess' },
    { set: ['--set', 'rbac.maintenancePlan=maybe'], names: '/rbac/maintenancePlan' },
    { set: ['--set', 'rbac.secretsNamespaces={Team_A}'], names: '/rbac/secretsNamespaces' },
    {
      set: ['--set', 'replicas=3', '--set', 'leaderElection.enabled=false'],
      names: 'leaderElection.enabled',
    },
    { set: ['--set', 'serviceAccount.create=false'], names: 'serviceAccount.name' },
    { set: ['--set', 'kafka.brokers={nope}'], names: '/kafka/brokers/0' },
    { set: ['--set', 'prometheus.url=ftp://x'], names: '/prometheus/url' },
    { set: ['--set', 'prometheusRules.mode=yaml'], names: '/prometheusRules/mode' },
    // helm names a bad map key by the key, not by its path
    { set: ['--set-json', 'kafka.topicAllowList={"Team":["x"]}'], names: "invalid propertyName 'Team'" },
    { set: ['--set-json', 'kafka.topicAllowList={"a":["b*c"]}'], names: '/kafka/topicAllowList/a/0' },
    { set: ['--set-json', 'backup.namespaceGrants={"Ops":["x"]}'], names: "invalid propertyName 'Ops'" },
    {
      set: ['--set-json', 'backup.namespaceGrants={"ops":["Team"]}'],
      names: '/backup/namespaceGrants/ops/0',
    },
  ])('rejects bad values: $set.1 (error names $names)', async ({ set, names }) => {
    const r = await helmTemplate(set);
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toContain(names);
  });

  it('passes Kafka brokers, the Prometheus URL and the rule mode to the operator', async () => {
    const out = await render([
      '--set',
      'kafka.brokers={kafka-0.kafka:9092,kafka-1.kafka:9092}',
      '--set',
      'prometheus.url=http://prometheus-operated.monitoring:9090',
      '--set',
      'prometheusRules.mode=ConfigMap',
    ]);
    const args = find<Deployment>(out, 'Deployment').spec.template.spec.containers[0]?.args ?? [];
    expect(args).toEqual(
      expect.arrayContaining([
        '--kafka-brokers=kafka-0.kafka:9092,kafka-1.kafka:9092',
        '--prometheus-url=http://prometheus-operated.monitoring:9090',
        '--prometheus-rules=ConfigMap',
      ]),
    );
    const plain =
      find<Deployment>(await render([]), 'Deployment').spec.template.spec.containers[0]?.args ?? [];
    expect(plain.some((a) => a.startsWith('--kafka-brokers') || a.startsWith('--prometheus-url'))).toBe(
      false,
    );
  });

  it('runs no operator pod with replicas=0 (RBAC and ServiceAccount only, as the e2e suite installs it)', async () => {
    const out = await render(['--set', 'replicas=0']);
    expect(find<Deployment>(out, 'Deployment').spec.replicas).toBe(0);
    expect(out.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
    expect(find(out, 'ClusterRoleBinding').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'ymera-operator', namespace },
    ]);
  });

  it('passes the object storage policy, lending the operator credentials nowhere by default', async () => {
    const plain =
      find<Deployment>(await render([]), 'Deployment').spec.template.spec.containers[0]?.args ?? [];
    expect(plain).toContain('--s3-max-read-bytes=1048576');
    expect(plain.some((a) => a.startsWith('--s3-ambient-credentials-endpoints'))).toBe(false);
    expect(plain.some((a) => a.startsWith('--s3-refused-cidrs'))).toBe(false);
    const out = await render([
      '--set',
      'objectStorage.ambientCredentialsEndpoints={https://*.amazonaws.com,http://minio.storage:9000}',
      '--set',
      'objectStorage.maxReadBytes=4096',
      '--set',
      'objectStorage.refusedCidrs={127.0.0.0/8,fd00::/8}',
    ]);
    const args = find<Deployment>(out, 'Deployment').spec.template.spec.containers[0]?.args ?? [];
    expect(args).toEqual(
      expect.arrayContaining([
        '--s3-ambient-credentials-endpoints=https://*.amazonaws.com,http://minio.storage:9000',
        '--s3-max-read-bytes=4096',
        '--s3-refused-cidrs=127.0.0.0/8,fd00::/8',
      ]),
    );
    for (const [set, names] of [
      [
        'objectStorage.ambientCredentialsEndpoints={minio:9000}',
        '/objectStorage/ambientCredentialsEndpoints/0',
      ],
      [
        'objectStorage.ambientCredentialsEndpoints={https://minio/bucket}',
        '/objectStorage/ambientCredentialsEndpoints/0',
      ],
      ['objectStorage.maxReadBytes=10', '/objectStorage/maxReadBytes'],
      ['objectStorage.refusedCidrs={localhost}', '/objectStorage/refusedCidrs/0'],
    ] as const) {
      const r = await helmTemplate(['--set', set]);
      expect(r.code, set).not.toBe(0);
      expect(r.stderr).toContain(names);
    }
  });

  it('passes the Kafka topic allow-list per namespace only when set', async () => {
    const out = await render([
      '--set-json',
      'kafka.topicAllowList={"team-a":["shared-logs","audit*"],"*":["ymera.events.*"]}',
    ]);
    const args = find<Deployment>(out, 'Deployment').spec.template.spec.containers[0]?.args ?? [];
    expect(args).toContain('--kafka-topic-allow=*=ymera.events.*,team-a=shared-logs,team-a=audit*');
    const plain =
      find<Deployment>(await render([]), 'Deployment').spec.template.spec.containers[0]?.args ?? [];
    expect(plain.some((a) => a.startsWith('--kafka-topic-allow'))).toBe(false);
  });

  it('passes the backup namespace grants only when set', async () => {
    const out = await render([
      '--set-json',
      'backup.namespaceGrants={"ops":["team-a","data-*"],"*":["shared"]}',
    ]);
    const args = find<Deployment>(out, 'Deployment').spec.template.spec.containers[0]?.args ?? [];
    expect(args).toContain('--backup-namespace-grant=*=shared,ops=team-a,ops=data-*');
    const plain =
      find<Deployment>(await render([]), 'Deployment').spec.template.spec.containers[0]?.args ?? [];
    expect(plain.some((a) => a.startsWith('--backup-namespace-grant'))).toBe(false);
  });

  it('runs a single replica without leader election when asked', async () => {
    const out = await render(['--set', 'replicas=1', '--set', 'leaderElection.enabled=false']);
    expect(out.some((o) => o.kind === 'Role' || o.kind === 'RoleBinding')).toBe(false);
    const args = find<Deployment>(out, 'Deployment').spec.template.spec.containers[0]?.args ?? [];
    expect(args).toContain('--leader-elect=false');
    expect(args.some((a) => a.startsWith('--lease-'))).toBe(false);
  });

  it('ships a CRD for every ymera.io resource its ClusterRole names', async () => {
    const crds = await chartCrds();
    expect(
      crds.length,
      'charts/ymera-operator/crds/ holds the generated CRDs (npm run crds)',
    ).toBeGreaterThan(0);
    const plurals = crds.map((c) => c.plural).sort();
    expect(plurals).toEqual([...ymeraResources].sort());
    // Same content as the generator's output at the repository root.
    const root = await ymeraCrds(path.join(repoRoot, 'crds'));
    if (root.length > 0) {
      const byName = (list: ChartCrd[]) => Object.fromEntries(list.map((c) => [c.name, c.object]));
      expect(
        byName(crds),
        'charts/ymera-operator/crds/ differs from crds/: regenerate (npm run crds)',
      ).toEqual(byName(root));
    }
  });

  describe('against the cluster', () => {
    const testNs = `ymera-helm-${process.pid}-${Date.now().toString(36)}`;
    const kubectl = (args: string[], input?: string) => mustRun(bin('kubectl'), args, input);
    let tmp: string;

    beforeAll(async () => {
      if (!kubeconfig) return;
      tmp = await mkdtemp(path.join(tmpdir(), 'ymera-helm-'));
    });

    afterAll(async () => {
      if (!kubeconfig) return;
      await run(bin('kubectl'), ['delete', 'namespace', testNs, '--ignore-not-found', '--wait=false']);
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });

    const clusterIt = kubeconfig ? it : it.skip;
    const suffix = kubeconfig ? '' : ' — SKIPPED: KUBECONFIG is unset (no local cluster)';

    clusterIt(
      `applies the rendered chart with --dry-run=server in a restricted namespace${suffix}`,
      async () => {
        // The CRDs for real (as `helm install` would), when not there yet; with
        // the global setup's field manager so its later server-side apply of
        // crds/ never conflicts with ours.
        const crds = await chartCrds();
        expect(
          crds.length,
          'charts/ymera-operator/crds/ holds the generated CRDs (npm run crds)',
        ).toBeGreaterThan(0);
        for (const crd of crds) {
          const got = await run(bin('kubectl'), ['get', 'crd', crd.name, '-o', 'name']);
          if (got.code !== 0) {
            await kubectl(['apply', '--server-side', '--field-manager=ymera-e2e', '-f', crd.file]);
          }
        }
        await kubectl([
          'wait',
          '--for=condition=Established',
          '--timeout=60s',
          ...crds.map((c) => `crd/${c.name}`),
        ]);

        // A namespace that enforces (and warns about) the restricted standard.
        await kubectl(
          ['apply', '-f', '-'],
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: {
              name: testNs,
              labels: {
                'pod-security.kubernetes.io/enforce': 'restricted',
                'pod-security.kubernetes.io/enforce-version': 'latest',
                'pod-security.kubernetes.io/warn': 'restricted',
                'pod-security.kubernetes.io/warn-version': 'latest',
              },
            },
          }),
        );

        const rendered = await helmTemplate(['--set', 'serviceMonitor.enabled=false'], testNs);
        expect(rendered.code, rendered.stderr).toBe(0);
        const file = path.join(tmp, 'rendered.yaml');
        await writeFile(file, rendered.stdout);
        const applied = await run(bin('kubectl'), ['apply', '--dry-run=server', '-f', file]);
        expect(applied.code, applied.stderr).toBe(0);
        expect(applied.stderr).not.toMatch(/would violate PodSecurity/);
        // One "(server dry run)" line per object: every object went through admission.
        const dryRunLines = applied.stdout.split('\n').filter((l) => l.includes('(server dry run)'));
        expect(dryRunLines, applied.stdout).toHaveLength(parseManifests(rendered.stdout).length);

        // The pod itself through Pod Security admission (enforce), which only
        // judges Pods: create the ServiceAccount for real, dry-run the Pod.
        const objects = parseManifests(rendered.stdout);
        await kubectl(['apply', '-f', '-'], JSON.stringify(find(objects, 'ServiceAccount')));
        const dep = find<Deployment>(objects, 'Deployment');
        const pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: 'ymera-operator-pss-check',
            namespace: testNs,
            labels: dep.spec.template.metadata.labels,
          },
          spec: dep.spec.template.spec,
        };
        const podRun = await run(
          bin('kubectl'),
          ['apply', '--dry-run=server', '-f', '-'],
          JSON.stringify(pod),
        );
        expect(podRun.code, podRun.stderr).toBe(0);
        expect(podRun.stderr).not.toMatch(/PodSecurity/);
      },
    );
  });
});

interface ChartCrd {
  file: string;
  name: string;
  plural: string;
  object: Obj;
}

/** The ymera.io CRDs in the chart's crds/ folder (written by the CRD generator). */
function chartCrds(): Promise<ChartCrd[]> {
  return ymeraCrds(path.join(chartDir, 'crds'));
}

async function ymeraCrds(dir: string): Promise<ChartCrd[]> {
  if (!existsSync(dir)) return [];
  const out: ChartCrd[] = [];
  for (const f of (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    const file = path.join(dir, f);
    for (const o of parseManifests(await readFile(file, 'utf8'))) {
      const spec = o.spec as { group?: string; names?: { plural?: string } } | undefined;
      if (o.kind === 'CustomResourceDefinition' && spec?.group === 'ymera.io') {
        out.push({ file, name: o.metadata.name, plural: spec.names?.plural ?? '', object: o });
      }
    }
  }
  return out;
}

// The release the e2e global setup installed (operator-identity.ts), whose
// ServiceAccount every e2e operator process runs as: the suite's real runs
// show its permissions suffice; here, that it has nothing the code never uses.
describe('the chart ServiceAccount in the cluster (the identity of every e2e operator)', () => {
  const user = process.env[IDENTITY_ENV.user];
  const clusterIt = user ? it : it.skip;
  const suffix = user ? '' : ` — SKIPPED: ${IDENTITY_ENV.user} is unset (no e2e global setup)`;
  const canI = async (...args: string[]) => {
    const r = await run(bin('kubectl'), ['auth', 'can-i', ...args, `--as=${user}`]);
    // exit 0 = yes, 1 = no; anything else is a failed check
    if (r.code !== 0 && !/^no\b/m.test(r.stdout))
      throw new Error(`kubectl auth can-i ${args.join(' ')}: ${r.stderr}`);
    return r.code === 0;
  };

  clusterIt(`may not do what the operator never does${suffix}`, async () => {
    const { namespace: releaseNs, fullname } = OPERATOR_RELEASE;
    // TYPE/NAME is a name for can-i; subresources go in --subresource
    const denied: string[][] = [
      ['create', 'serviceaccounts', '-A'],
      ['delete', 'serviceaccounts', '-A'],
      ['create', 'serviceaccounts', '--subresource=token', '-A'],
      // nodes get/patch, pods/eviction create and pods delete: rbac.maintenancePlan (the e2e identity sets it)
      ['watch', 'nodes'],
      ['update', 'nodes'],
      ['delete', 'nodes'],
      ['list', 'secrets', '-A'],
      ['watch', 'secrets', '-A'],
      ['delete', 'secrets', '-A'],
      ['create', 'pods', '-A'],
      // namespaces: get, create, delete with rbac.drills (the e2e identity sets it); never these
      ['list', 'namespaces'],
      ['update', 'namespaces'],
      ['patch', 'namespaces'],
      // a Restore creates and replaces what a backup holds (rbac.restore), never Restores
      ['create', 'restores.ymera.io', '-A'],
      ['update', 'restores.ymera.io', '-A'],
      ['delete', 'inferenceservices.ymera.io', '-A'],
      ['delete', 'learningpipelines.ymera.io', '-A'],
      ['update', 'deployments.apps', '-A'],
      ['create', 'events', '-A'], // core Events: the operator writes events.k8s.io ones
      ['patch', 'events.events.k8s.io', '-A'],
      ['list', 'customresourcedefinitions.apiextensions.k8s.io'],
      ['get', 'customresourcedefinitions.apiextensions.k8s.io/inferenceservices.ymera.io'],
      ['create', 'leases.coordination.k8s.io', '-n', 'default'],
      ['update', 'leases.coordination.k8s.io/someone-else', '-n', releaseNs],
      ['create', 'roles.rbac.authorization.k8s.io', '-A'],
      ['bind', 'clusterroles.rbac.authorization.k8s.io'],
      ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
      ['impersonate', 'serviceaccounts', '-A'],
      ['*', '*', '-A'],
    ];
    const allowed = [];
    for (const args of denied) if (await canI(...args)) allowed.push(args.join(' '));
    expect(allowed, 'the operator ServiceAccount may do these, which no code of it does').toEqual([]);
    // the narrow grants it does have (reads by name only)
    expect(await canI('get', 'secrets', '-n', 'default')).toBe(true); // rbac.secretsAccess defaults on
    expect(
      await canI(
        'get',
        `customresourcedefinitions.apiextensions.k8s.io/${prometheusRule.plural}.${prometheusRule.group}`,
      ),
    ).toBe(true);
    expect(await canI('update', `leases.coordination.k8s.io/${fullname}`, '-n', releaseNs)).toBe(true);
  });

  clusterIt(
    `is who the operator processes authenticate as, and the API server enforces it${suffix}`,
    async () => {
      const file = process.env[IDENTITY_ENV.kubeconfig] ?? '';
      const who = await run(bin('kubectl'), [
        '--kubeconfig',
        file,
        'auth',
        'whoami',
        '-o',
        'jsonpath={.status.userInfo.username}',
      ]);
      expect(who.code, who.stderr).toBe(0);
      expect(who.stdout).toBe(user);
      // a real request, not only the authorizer's answer: listing Secrets is refused
      const list = await run(bin('kubectl'), ['--kubeconfig', file, 'get', 'secrets', '-A']);
      expect(list.code).not.toBe(0);
      expect(list.stderr).toMatch(/Forbidden|cannot list resource "secrets"/);
    },
  );

  clusterIt(`may touch only resource types the operator's code names${suffix}`, async () => {
    const r = await run(bin('kubectl'), [
      'auth',
      'can-i',
      '--list',
      `--as=${user}`,
      '-n',
      OPERATOR_RELEASE.namespace,
    ]);
    expect(r.code, r.stderr).toBe(0);
    // the types of operator/kube/resources.ts (the client's inventory), the ymera CRDs and the optional APIs
    const known = new Set([
      ...Object.values(core).map((t) => `${t.plural}${t.group ? `.${t.group}` : ''}`),
      ...ymeraResources.map((p) => `${p}.ymera.io`),
      `${prometheusRule.plural}.${prometheusRule.group}`,
      `${httpRoute.plural}.${httpRoute.group}`,
    ]);
    // what every authenticated user may do (system:basic-user, system:discovery)
    const everyone = /^selfsubject\w+\.(authorization|authentication)\.k8s\.io$/;
    const outside: string[] = [];
    for (const line of r.stdout.split('\n').slice(1)) {
      const resource = line.trim().split(/\s+/)[0];
      if (!resource || line.trim().startsWith('[')) continue; // a non-resource URL row
      // "plural/sub.group" or "plural.group/sub": compare the type without the subresource
      const type = resource.replace(/\/[a-z]+/, '');
      if (!known.has(type) && !everyone.test(type)) outside.push(line.trim());
    }
    expect(outside, r.stdout).toEqual([]);
  });
});
