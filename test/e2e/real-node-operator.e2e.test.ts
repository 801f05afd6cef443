// The operator as a cluster admin deploys it: the Helm chart's Deployment runs
// the project's image on the real node (test/e2e/stack/node.sh) under the
// chart's ServiceAccount, in a namespace that enforces the restricted Pod
// Security Standard, with in-cluster configuration. Two replicas elect a
// leader; the leader reconciles what it watches and serves its metrics, and
// runs real runtime pods that survive a SIGKILL behind their
// PodDisruptionBudget.
//
// Isolation from the rest of the suite: a release of its own (its own full
// name, so its ClusterRole and bindings do not clash with the global
// `ymera-e2e` release), no CRDs (the global setup applies crds/), its own
// leader-election Lease in its own namespace, and --watch-namespaces limited
// to this file's namespace: it never competes with the operator processes
// other test files start under the shared Lease.
import type { ChildProcess } from 'node:child_process';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import tls from 'node:tls';
import { homedir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureRows, fraudReference } from '../../runtime/models/fraud-reference.ts';
import { OPERATOR_RELEASE } from './operator-identity.ts';
import {
  deleteInferenceServices,
  eventually,
  forbiddenRequests,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  repo,
  sumMetric,
  untilObserved,
  podsWith,
} from './support.ts';

const run = promisify(execFile);
const nodeName = process.env.YMERA_REAL_NODE;
const skipReason = nodeName
  ? ''
  : ' (skipped: YMERA_REAL_NODE is unset; test/e2e/stack/node.sh brings up the real node)';
const binDir = process.env.YMERA_BIN_DIR ?? path.join(homedir(), '.cache', 'ymera', 'bin', 'current');
const bin = (name: string) => (existsSync(path.join(binDir, name)) ? path.join(binDir, name) : name);

const suffix = Math.random().toString(36).slice(2, 7);
const release = `realop-${suffix}`;
// not "ymera-e2e-operator": the chart's cluster-scoped names derive from this
const fullname = `ymera-realop-${suffix}`;
const realPlacement = {
  nodeSelector: { 'ymera.io/node-pool': 'real' },
  tolerations: [{ key: 'ymera.io/real-node', operator: 'Exists', effect: 'NoSchedule' }],
};
// the fraud model ships inside the image (runtime/models), so no object store is needed
const MODEL_URI = 'file:///app/runtime/models/fraud.onnx';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  containerID?: string;
  state: { running?: unknown; terminated?: { exitCode: number; reason?: string } };
  lastState: { terminated?: { exitCode: number; reason?: string; signal?: number } };
}
interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
  };
  status: {
    phase: string;
    podIP?: string;
    conditions?: Condition[];
    containerStatuses?: ContainerStatus[];
  };
}
interface InferenceService {
  metadata: {
    generation?: number;
    managedFields?: { manager: string; operation: string; subresource?: string }[];
  };
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    phase?: string;
    readyReplicas?: number;
  };
}

const isReady = (conds: Condition[] | undefined) =>
  conds?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** One POST on a fresh connection (kube-proxy picks a backend per connection). */
function post(
  url: string,
  body: string,
): Promise<{ status: number; text: string; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 5000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        const retryAfter = res.headers['retry-after'];
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, retryAfter }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Errors where the request never reached a server: the one a client retries on another connection. */
const connectFailure = (e: unknown) =>
  /ECONNREFUSED|EHOSTUNREACH|ECONNRESET/.test(String((e as { code?: string }).code ?? e));

/**
 * Whether the API server's serving certificate names the `kubernetes` Service's
 * ClusterIP, which in-cluster clients dial (KUBERNETES_SERVICE_HOST); without
 * it their TLS handshake fails.
 */
async function certNamesServiceIP(): Promise<{
  ok: boolean;
  clusterIP: string;
  sans: string;
}> {
  const server = await kubectlOk([
    'config',
    'view',
    '--minify',
    '-o',
    'jsonpath={.clusters[0].cluster.server}',
  ]);
  const { hostname, port } = new URL(server);
  const clusterIP = (
    await kubectlOk(['get', 'service', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP}'])
  ).trim();
  const sans = await new Promise<string>((resolve, reject) => {
    const socket = tls.connect(
      { host: hostname, port: Number(port || 443), rejectUnauthorized: false },
      () => {
        const alt = socket.getPeerCertificate().subjectaltname ?? '';
        socket.end();
        resolve(alt);
      },
    );
    socket.on('error', reject);
  });
  return {
    ok: sans.split(', ').includes(`IP Address:${clusterIP}`),
    clusterIP,
    sans,
  };
}

/** The operator pod's log: JSON lines only, the in-cluster server it dialled, no request RBAC refused. */
async function expectCleanLogs(namespace: string, pod: string, server: string): Promise<void> {
  const logs = await kubectlOk(['logs', pod, '-n', namespace]);
  const lines = logs.split('\n').filter((l) => l.trim() !== '');
  expect(lines.length).toBeGreaterThan(0);
  const notJson = lines.filter((l) => {
    try {
      return typeof JSON.parse(l) !== 'object';
    } catch {
      return true;
    }
  });
  expect(notJson).toEqual([]);
  // in-cluster configuration: the ServiceAccount's token and CA, the server from the pod's environment
  const starting = lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === 'starting');
  expect(starting).toMatchObject({ server: new URL(server).origin });
  expect(forbiddenRequests(logs)).toEqual([]);
  expect(logs).not.toMatch(/forbidden/i);
}

/**
 * SIGKILLs a container's main process from the host, as the OOM killer would:
 * its PID from containerd's task list, checked to run `program`.
 */
async function sigkillContainer(status: ContainerStatus, program: string): Promise<void> {
  const containerId = (status.containerID ?? '').replace(/^containerd:\/\//, '');
  expect(containerId).not.toBe('');
  const { stdout: tasks } = await run(bin('ctr'), [
    '--address',
    process.env.YMERA_CONTAINERD_ADDRESS ?? '/run/ymera/containerd/containerd.sock',
    '-n',
    'k8s.io',
    'tasks',
    'ls',
  ]);
  const pid = Number(
    tasks
      .split('\n')
      .find((l) => l.startsWith(containerId))
      ?.split(/\s+/)[1],
  );
  expect(pid).toBeGreaterThan(1);
  expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain(program);
  process.kill(pid, 'SIGKILL');
}

describe.skipIf(skipReason !== '')(`the chart's operator on the real node${skipReason}`, () => {
  let releaseNs = '';
  let ns = '';
  let operatorPod: Pod | undefined;
  let standbyPod: Pod | undefined;
  /** Where the operator pod's in-cluster configuration points. */
  let inClusterServer = '';

  beforeAll(async () => {
    // the image the chart names is in the node's containerd: stack.sh up ran test/e2e/stack/image.sh
    if (!process.env.YMERA_IMAGE_ID)
      throw new Error('YMERA_IMAGE_ID is unset: test/e2e/stack/image.sh env exports it');
    // both namespaces enforce the restricted standard: admission itself judges every pod
    releaseNs = await freshNamespace('e2e-realop-system');
    ns = await freshNamespace('e2e-realop');
    for (const n of [releaseNs, ns]) {
      await kubectlOk([
        'label',
        'namespace',
        n,
        'pod-security.kubernetes.io/enforce=restricted',
        'pod-security.kubernetes.io/enforce-version=latest',
      ]);
    }
    // in-cluster configuration as it is: the pods dial the kubernetes Service's ClusterIP,
    // which the API server's certificate names (cluster.sh kubeApiserverCertSANs)
    const cert = await certNamesServiceIP();
    expect(cert.ok, `the API server certificate names ${cert.clusterIP} (SANs: ${cert.sans})`).toBe(true);
    inClusterServer = `https://${cert.clusterIP}:443`;
    const values = {
      fullnameOverride: fullname,
      replicas: 2, // leader election between two pods on the real node
      image: { pullPolicy: 'Never' }, // there is no registry: the imported image or nothing
      ...realPlacement,
      watchNamespaces: [ns],
      leaderElection: { leaseName: fullname },
      prometheus: { url: process.env.YMERA_POD_PROMETHEUS_URL ?? 'http://10.250.0.1:9090' },
      rbac: { aggregateToDefaultRoles: false }, // the global release aggregates already
    };
    // the values go in on stdin (promisified execFile cannot write it)
    const installed = await new Promise<{ code: number; out: string }>((resolve) => {
      const child: ChildProcess = spawn(
        bin('helm'),
        [
          'upgrade',
          '--install',
          release,
          path.join(repo, 'charts', 'ymera-operator'),
          '--namespace',
          releaseNs,
          '--skip-crds',
          '--values',
          '-',
        ],
        { env: process.env, stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code: code ?? -1, out }));
      child.stdin?.end(JSON.stringify(values));
    });
    if (installed.code !== 0) throw new Error(`helm install ${release} failed: ${installed.out}`);
  });

  afterAll(async () => {
    if (ns) {
      // finalizers run while the operator still does
      await deleteInferenceServices(ns);
      await kubectl(['delete', 'namespace', ns, '--wait=false']);
    }
    if (releaseNs) {
      await run(bin('helm'), ['uninstall', release, '--namespace', releaseNs, '--wait'], {
        env: process.env,
      }).catch(() => undefined);
      await kubectl(['delete', 'namespace', releaseNs, '--wait=false']);
    }
  });

  it('runs the Deployment on real-node-1 as the chart ServiceAccount and reconciles a sample', async () => {
    const rollout = await kubectl([
      'rollout',
      'status',
      `deployment/${fullname}`,
      '-n',
      releaseNs,
      '--timeout=180s',
    ]);
    if (rollout.code !== 0) {
      // say why: the pod's state, its log and the namespace's events
      const why = await Promise.all([
        kubectl(['get', 'pods', '-n', releaseNs, '-o', 'yaml']),
        kubectl(['logs', '-n', releaseNs, `deployment/${fullname}`, '--tail=40']),
        kubectl(['get', 'events', '-n', releaseNs]),
      ]);
      throw new Error(
        `deployment ${fullname} did not become available: ${rollout.stderr}\n${why.map((r) => r.stdout + r.stderr).join('\n')}`,
      );
    }
    const operators = await podsWith<Pod>(releaseNs, `app.kubernetes.io/instance=${release}`);
    expect(operators).toHaveLength(2);
    for (const p of operators) {
      expect(p.spec.nodeName).toBe(nodeName);
      expect(p.spec.serviceAccountName).toBe(fullname);
      expect(p.status.phase).toBe('Running');
      expect(isReady(p.status.conditions)).toBe(true);
    }

    // one of them holds the release's own Lease; the suite's shared Lease is neither's
    const holderOf = (identity: string | undefined) =>
      operators.find((p) => identity?.startsWith(`${p.metadata.name}_`));
    const lease = await eventually('the release Lease held by an operator pod', async () => {
      const l = await getJson<{ spec: { holderIdentity?: string } }>([
        'get',
        'lease',
        fullname,
        '-n',
        releaseNs,
      ]);
      return holderOf(l?.spec.holderIdentity) ? l : undefined;
    });
    const pod = holderOf(lease.spec.holderIdentity) as Pod;
    const standby = operators.find((p) => p !== pod) as Pod;
    operatorPod = pod;
    standbyPod = standby;
    const podName = pod.metadata.name;
    const shared = await getJson<{ spec: { holderIdentity?: string } }>([
      'get',
      'lease',
      OPERATOR_RELEASE.fullname,
      '-n',
      OPERATOR_RELEASE.namespace,
    ]);
    expect(holderOf(shared?.spec.holderIdentity)).toBeUndefined();
    // two replicas: the chart guards them with its own PodDisruptionBudget
    const operatorPdb = await getJson<{ spec: { minAvailable: number } }>([
      'get',
      'pdb',
      fullname,
      '-n',
      releaseNs,
    ]);
    expect(operatorPdb?.spec.minAvailable).toBe(1);

    // a sample on kwok's CPU nodes (the default placement): reconciled by the in-pod operator only
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      JSON.stringify({
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name: 'sample' },
        spec: { model: { uri: MODEL_URI, version: 'v1' }, scaling: { minReplicas: 1 } },
      }),
    );
    const isvc = await untilObserved<InferenceService>(
      ['inferenceservice', 'sample', '-n', ns, '--show-managed-fields'],
      'InferenceService sample Ready, reconciled by the in-pod operator',
      (o) => isReady(o.status?.conditions),
      120_000,
    );
    expect(isvc.metadata.managedFields).toContainEqual(
      expect.objectContaining({ manager: 'ymera-operator', subresource: 'status' }),
    );
    // the Event telling it is Ready names the replica that wrote it: this pod
    const event = await eventually('an Event about sample from the operator pod', async () => {
      const list = await getJson<{
        items: { reason: string; reportingController: string; reportingInstance: string }[];
      }>(['get', 'events.events.k8s.io', '-n', ns, '--field-selector=regarding.name=sample']);
      return list?.items.find((e) => e.reason === 'Reconciled');
    });
    expect(event.reportingInstance).toMatch(new RegExp(`^${podName}`));

    // metrics at each pod IP: the leader reconciled, the standby did not
    const scrape = (url: string) =>
      eventually(`GET ${url}`, async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
        return res.ok ? res.text() : undefined;
      });
    const leaderMetrics = await scrape(`http://${pod.status.podIP}:8080/metrics`);
    expect(sumMetric(leaderMetrics, 'ymera_leader_is_leader', {})).toBe(1);
    expect(
      sumMetric(leaderMetrics, 'ymera_reconcile_total', { controller: 'inferenceservice' }),
    ).toBeGreaterThan(0);
    const standbyMetrics = await scrape(`http://${standby.status.podIP}:8080/metrics`);
    expect(sumMetric(standbyMetrics, 'ymera_leader_is_leader', {}) ?? 0).toBe(0);
    expect(sumMetric(standbyMetrics, 'ymera_reconcile_total', { controller: 'inferenceservice' }) ?? 0).toBe(
      0,
    );
    // and through the chart's metrics Service (kube-proxy), whichever pod answers
    const svc = await getJson<{ spec: { clusterIP: string } }>([
      'get',
      'service',
      `${fullname}-metrics`,
      '-n',
      releaseNs,
    ]);
    const viaService = await scrape(`http://${svc?.spec.clusterIP}:8080/metrics`);
    expect(sumMetric(viaService, 'ymera_leader_is_leader', {})).toBeDefined();

    for (const p of operators) await expectCleanLogs(releaseNs, p.metadata.name, inClusterServer);
  }, 420_000);

  it('restarts a SIGKILLed runtime pod on the real node while the service stays Ready behind its PDB', async () => {
    expect(operatorPod, 'the in-pod operator runs (previous test)').toBeDefined();
    const name = 'fraud-real';
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      JSON.stringify({
        apiVersion: 'ymera.io/v1alpha1',
        kind: 'InferenceService',
        metadata: { name },
        spec: {
          model: { uri: MODEL_URI, version: 'v1' },
          runtime: {
            threads: 1,
            resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
            ...realPlacement,
          },
          scaling: { minReplicas: 2 },
        },
      }),
    );
    const selector = `ymera.io/inferenceservice=${name}`;
    await untilObserved<InferenceService>(
      ['inferenceservice', name, '-n', ns],
      `${name} Ready with 2 ready pods`,
      (o) => isReady(o.status?.conditions) && o.status?.readyReplicas === 2,
      240_000,
    ).catch(async (e: unknown) => {
      const why = await Promise.all([
        kubectl(['get', 'inferenceservice', name, '-n', ns, '-o', 'jsonpath={.status}']),
        kubectl(['get', 'pods', '-n', ns, '-o', 'wide']),
        kubectl(['get', 'events', '-n', ns]),
      ]);
      throw new Error(`${String(e)}\n${why.map((r) => r.stdout + r.stderr).join('\n')}`);
    });
    const serving = await podsWith<Pod>(ns, selector);
    expect(serving.map((p) => p.spec.nodeName)).toEqual([nodeName, nodeName]);
    expect(serving.every((p) => p.status.phase === 'Running' && isReady(p.status.conditions))).toBe(true);

    // the PDB the operator renders guards both pods
    const pdb = await eventually('the PDB to count 2 healthy pods', async () => {
      const p = await getJson<{
        spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
        status?: { currentHealthy?: number; expectedPods?: number; disruptionsAllowed?: number };
      }>(['get', 'pdb', name, '-n', ns]);
      return p?.status?.currentHealthy === 2 ? p : undefined;
    });
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual({
      'ymera.io/inferenceservice': name,
      'app.kubernetes.io/component': 'inference-server',
    });
    expect(pdb.status).toMatchObject({ expectedPods: 2, disruptionsAllowed: 1 });

    // inference through the Service (kube-proxy) returns the model's reference output
    const svc = await getJson<{ spec: { clusterIP: string } }>(['get', 'service', name, '-n', ns]);
    const url = `http://${svc?.spec.clusterIP}/v2/models/${name}/infer`;
    const rows = featureRows(1, 7);
    const body = JSON.stringify({
      inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: rows.flat() }],
    });
    const expected = fraudReference(rows[0] as number[]);
    const inferOnce = async () => {
      // until the kubelet sees the killed container die and kube-proxy drops its endpoint, a
      // new connection may still go to it and be refused (or reset, if it was in flight), and
      // once the container is restarted, answered 503 with Retry-After while its model loads:
      // a client of this idempotent call retries both on a new connection, within a time
      // budget as a mesh's retry policy does. Any other answer is final (a 503 without
      // Retry-After too). kube-proxy picks a backend at random per connection, so a count of
      // tries is not enough: while the dead endpoint is listed each try lands on it by a coin
      // toss, and a loaded machine keeps it listed for seconds (six refusals in a row failed a
      // CI run). The budget is far longer than that and still fails the test if the other
      // replica stops serving too.
      const started = Date.now();
      const outOfBudget = () => Date.now() - started > 30_000;
      const trail: string[] = [];
      for (let attempt = 0; ; attempt++) {
        let waitMs = Math.min(200 * (attempt + 1), 1000);
        try {
          const r = await post(url, body);
          if (r.status !== 503 || r.retryAfter === undefined || outOfBudget()) {
            return { ...r, retries: attempt, trail };
          }
          trail.push(`503 Retry-After ${r.retryAfter} (${r.text}) at ${Date.now() - started} ms`);
          waitMs = Math.max(waitMs, Number(r.retryAfter) * 1000 || 0);
        } catch (e) {
          trail.push(`${String((e as { code?: string }).code ?? e)} at ${Date.now() - started} ms`);
          if (!connectFailure(e) || outOfBudget()) {
            throw new Error(`${String(e)} after ${JSON.stringify(trail)}`);
          }
        }
        // back off as a client would: kube-proxy needs a moment to drop the dead endpoint, and
        // immediate retries can all land on it (seen: six refusals within milliseconds)
        await new Promise((r) => setTimeout(r, waitMs));
      }
    };
    const first = await eventually('an inference through the Service', async () => {
      const r = await inferOnce();
      return r.status === 200 ? r : undefined;
    });
    const probs = (JSON.parse(first.text) as { outputs: { data: number[] }[] }).outputs[0]?.data ?? [];
    expect(probs[0]).toBeCloseTo(expected[0], 4);
    expect(probs[1]).toBeCloseTo(expected[1], 4);

    // watch the InferenceService for the whole window: every version it goes through is recorded
    const seen: string[] = [];
    const watch = spawn(
      'kubectl',
      [
        'get',
        'inferenceservice',
        name,
        '-n',
        ns,
        '--watch',
        '-o',
        'jsonpath={.metadata.resourceVersion} {.status.conditions[?(@.type=="Ready")].status} {.status.phase} {.status.readyReplicas}{"\\n"}',
      ],
      { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let partial = '';
    watch.stdout.on('data', (d: Buffer) => {
      const chunks = (partial + d.toString()).split('\n');
      partial = chunks.pop() ?? '';
      seen.push(...chunks.filter((l) => l.trim() !== ''));
    });
    // and keep asking for inferences through the Service all along
    const results: { status: number; retries: number; trail?: string[]; error?: string }[] = [];
    let loadOn = true;
    const load = (async () => {
      while (loadOn) {
        try {
          const r = await inferOnce();
          results.push({ status: r.status, retries: r.retries, trail: r.trail });
        } catch (e) {
          results.push({ status: 0, retries: 0, error: String(e) });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    try {
      await eventually('the watch to print the current state', async () => seen.length > 0);
      // SIGKILL the runtime process of one pod, from the host, as the OOM killer would
      const victim = serving[0] as Pod;
      const other = serving[1] as Pod;
      const before = victim.status.containerStatuses?.[0] as ContainerStatus;
      await sigkillContainer(before, 'runtime/server.ts');

      // while it is down, the PDB allows no disruption and an eviction of the other pod is refused
      await eventually(
        'the PDB to see one pod down',
        async () => {
          const p = await getJson<{ status?: { currentHealthy?: number; disruptionsAllowed?: number } }>([
            'get',
            'pdb',
            name,
            '-n',
            ns,
          ]);
          return p?.status?.currentHealthy === 1 && p.status.disruptionsAllowed === 0;
        },
        30_000,
        100,
      );
      const eviction = await kubectl(
        ['create', '--raw', `/api/v1/namespaces/${ns}/pods/${other.metadata.name}/eviction`, '-f', '-'],
        JSON.stringify({
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: other.metadata.name, namespace: ns },
        }),
      );
      expect(eviction.code).not.toBe(0);
      expect(eviction.stderr).toMatch(/TooManyRequests/);
      expect(eviction.stderr).toMatch(/disruption budget/);

      // the operator saw the service degraded (so the watch is not vacuous) ...
      await eventually(
        'the operator to report 1 ready pod',
        async () => seen.some((l) => / 1$/.test(l)),
        60_000,
      );
      // ... then the kubelet restarts the killed container and it is Ready again
      const restarted = await eventually(
        `pod ${victim.metadata.name} restarted and Ready`,
        async () => {
          const p = await getJson<Pod>(['get', 'pod', victim.metadata.name, '-n', ns]);
          const c = p?.status.containerStatuses?.[0];
          return c && c.restartCount > before.restartCount && c.ready && isReady(p.status.conditions)
            ? c
            : undefined;
        },
        120_000,
      );
      expect(restarted.restartCount).toBe(before.restartCount + 1);
      expect(restarted.lastState.terminated).toMatchObject({ exitCode: 137, reason: 'Error' });
      await eventually(
        'the operator to report 2 ready pods again',
        async () =>
          seen.some((l, i) => i > 0 && / Serving 2$/.test(l) && seen.slice(0, i).some((x) => / 1$/.test(x))),
        60_000,
      );
      // the other pod was never evicted
      expect((await podsWith<Pod>(ns, selector)).map((p) => p.metadata.name).sort()).toEqual(
        serving.map((p) => p.metadata.name).sort(),
      );
    } finally {
      loadOn = false;
      await load;
      watch.kill();
    }
    // Ready=True in every version the watch saw, through the whole window
    expect(seen.filter((l) => l.split(' ')[1] !== 'True')).toEqual([]);
    expect(seen.some((l) => / Degraded 1$/.test(l))).toBe(true);
    // and every inference answered
    process.stderr.write(
      `${results.length} inferences during the window, ${results.filter((r) => r.retries > 0).length} retried on a new connection: ${JSON.stringify(results.filter((r) => r.retries > 0).map((r) => r.trail))}\n`,
    );
    expect(results.length).toBeGreaterThan(10);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    // the operator watched real pods die and come back without one refused request
    await expectCleanLogs(releaseNs, operatorPod?.metadata.name ?? '', inClusterServer);
  }, 420_000);

  it("fails over when the leader's process is SIGKILLed: a new leader reconciles, the killed pod comes back", async () => {
    const leader = operatorPod as Pod;
    const standby = standbyPod as Pod;
    expect(leader && standby, 'two operator pods (first test)').toBeTruthy();
    const lease = () =>
      getJson<{ spec: { holderIdentity?: string } }>(['get', 'lease', fullname, '-n', releaseNs]);
    const killed = (await lease())?.spec.holderIdentity ?? '';
    expect(killed.startsWith(`${leader.metadata.name}_`)).toBe(true);
    const before = leader.status.containerStatuses?.[0] as ContainerStatus;
    await sigkillContainer(before, 'operator/main.ts');
    // the Lease expires unrenewed (leaseDurationSeconds 15) and another process takes it: the
    // standby, or the killed pod's restarted process (a new identity) if it asks first
    const holder = await eventually(
      'a new holder of the Lease',
      async () => {
        const h = (await lease())?.spec.holderIdentity ?? '';
        return h !== killed && h !== '' ? h : undefined;
      },
      90_000,
    );
    const newLeader = [standby, leader].find((p) => holder.startsWith(`${p.metadata.name}_`)) as Pod;
    expect(newLeader, `holder ${holder} is one of the operator pods`).toBeDefined();
    // it reconciles: a spec change is observed and served
    await kubectlOk([
      'patch',
      'inferenceservice',
      'sample',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { scaling: { minReplicas: 2 } } }),
    ]);
    const sample = await untilObserved<InferenceService>(
      ['inferenceservice', 'sample', '-n', ns],
      'sample scaled to 2 by the new leader',
      (o) => isReady(o.status?.conditions) && o.status?.readyReplicas === 2,
      120_000,
    );
    expect(sample.status?.phase).toBe('Serving');
    // the kubelet restarted the killed operator container; it is Ready again
    const restarted = await eventually(
      `operator pod ${leader.metadata.name} restarted and Ready`,
      async () => {
        const p = await getJson<Pod>(['get', 'pod', leader.metadata.name, '-n', releaseNs]);
        const c = p?.status.containerStatuses?.[0];
        return c && c.restartCount > before.restartCount && c.ready ? c : undefined;
      },
      120_000,
    );
    expect(restarted.lastState.terminated).toMatchObject({ exitCode: 137 });
    // one leader, one standby again
    const scrape = async (pod: Pod) =>
      (await fetch(`http://${pod.status.podIP}:8080/metrics`, { signal: AbortSignal.timeout(3000) })).text();
    const leading = await scrape(newLeader);
    expect(sumMetric(leading, 'ymera_leader_is_leader', {})).toBe(1);
    expect(sumMetric(leading, 'ymera_reconcile_total', { controller: 'inferenceservice' })).toBeGreaterThan(
      0,
    );
    const other = newLeader === leader ? standby : leader;
    expect(sumMetric(await scrape(other), 'ymera_leader_is_leader', {}) ?? 0).toBe(0);
    await expectCleanLogs(releaseNs, newLeader.metadata.name, inClusterServer);
    operatorPod = newLeader;
  }, 420_000);
});
