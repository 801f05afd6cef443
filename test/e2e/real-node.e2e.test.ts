// The real node (test/e2e/stack/node.sh): a kubelet with containerd and runc
// that runs pods for real, beside kwok's fake nodes. Its pods live on the
// stack's bridge, the host reaches them by pod IP, and they reach the API
// server at the kubernetes Service's endpoint.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freshNamespace, getJson, kubectl, kubectlOk, repo } from './support.ts';

const run = promisify(execFile);
const nodeSh = path.join(repo, 'test/e2e/stack/node.sh');
const stateDir = path.join(
  process.env.YMERA_STATE_DIR ??
    path.join(process.env.YMERA_CACHE ?? path.join(os.homedir(), '.cache/ymera'), 'stack'),
  'node',
);
const parts = ['containerd', 'forwarder', 'kube_proxy', 'kubelet'] as const;
const pids = () =>
  Object.fromEntries(parts.map((p) => [p, readFileSync(path.join(stateDir, `${p}.pid`), 'utf8').trim()]));

const nodeName = process.env.YMERA_REAL_NODE;
const bridgeAddress = process.env.YMERA_BRIDGE_ADDRESS ?? '10.250.0.1';
const busybox = process.env.YMERA_BUSYBOX_IMAGE ?? '';

interface Node {
  metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
  spec: { taints?: { key: string; value?: string; effect: string }[] };
  status: {
    conditions: { type: string; status: string }[];
    addresses: { type: string; address: string }[];
    nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string };
  };
}

interface Pod {
  spec: { nodeName?: string };
  status: {
    phase: string;
    podIP?: string;
    hostIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { state: { terminated?: { exitCode: number; message?: string } } }[];
  };
}

/** A pod pinned to the real node that meets the restricted Pod Security Standard. */
function realNodePod(
  name: string,
  command: string,
  extra: { pod?: Record<string, unknown>; container?: Record<string, unknown> } = {},
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name } },
    spec: {
      nodeSelector: { 'ymera.io/node-pool': 'real' },
      tolerations: [{ key: 'ymera.io/real-node', operator: 'Exists', effect: 'NoSchedule' }],
      automountServiceAccountToken: false,
      // busybox as PID 1 ignores SIGTERM: do not hold the namespace's deletion for 30 s
      terminationGracePeriodSeconds: 1,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65535,
        runAsGroup: 65535,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'main',
          image: busybox,
          // the image exists only in the node's containerd: there is no registry
          imagePullPolicy: 'Never',
          command: ['sh', '-c', command],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          ...extra.container,
        },
      ],
      ...extra.pod,
    },
  });
}

const inBridgeSubnet = (ip: string) => ip.startsWith(`${bridgeAddress.split('.').slice(0, 3).join('.')}.`);

describe.skipIf(!nodeName)('real node', () => {
  let ns = '';

  beforeAll(async () => {
    ns = await freshNamespace('e2e-real-node');
    // every pod here must meet the restricted standard, as the operator's pods will
    await kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
  });

  afterAll(async () => {
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it("is Ready, runs a v1.36.3 kubelet on containerd, and is not one of kwok's nodes", async () => {
    const node = await eventually(`node ${nodeName} Ready`, async () => {
      const n = await getJson<Node>(['get', 'node', nodeName!]);
      return n?.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ? n : undefined;
    });
    expect(node.status.nodeInfo.kubeletVersion).toBe('v1.36.3');
    expect(node.status.nodeInfo.containerRuntimeVersion).toBe('containerd://2.4.2');
    // kwok's controller manages only the nodes annotated as fake
    expect(node.metadata.annotations?.['kwok.x-k8s.io/node']).toBeUndefined();
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: bridgeAddress });
    expect(node.metadata.labels).toMatchObject({
      'ymera.io/node-pool': 'real',
      'kubernetes.io/os': 'linux',
    });
    expect(node.spec.taints).toContainEqual({
      key: 'ymera.io/real-node',
      value: 'true',
      effect: 'NoSchedule',
    });
  });

  it('runs a restricted pod on the pod bridge that the host reaches by its IP, with logs and exec', async () => {
    const body = `served by a real pod in ${ns}`;
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      realNodePod(
        'web',
        `echo "starting httpd in ${ns}"; mkdir -p /tmp/www && echo "${body}" > /tmp/www/index.html && ` +
          'exec httpd -f -p 8080 -h /tmp/www',
      ),
    );
    const pod = await eventually('pod web Ready on the real node', async () => {
      const p = await getJson<Pod>(['get', 'pod', 'web', '-n', ns]);
      return p?.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    });
    expect(pod.spec.nodeName).toBe(nodeName);
    expect(pod.status.phase).toBe('Running');
    expect(pod.status.hostIP).toBe(bridgeAddress);
    const ip = pod.status.podIP ?? '';
    expect(inBridgeSubnet(ip)).toBe(true);
    expect(ip).not.toBe(bridgeAddress);
    // httpd has bound once the container is running; retry only the first connects
    const text = await eventually(`GET http://${ip}:8080/`, async () => {
      const res = await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(2000) });
      return res.ok ? res.text() : undefined;
    });
    expect(text.trim()).toBe(body);
    // the API server reaches the kubelet for logs and exec
    // (the shim copies output to the log file on its own time)
    const logs = await eventually("the pod's log line", async () => {
      const out = await kubectlOk(['logs', 'web', '-n', ns]);
      return out !== '' && out;
    });
    expect(logs).toBe(`starting httpd in ${ns}\n`);
    expect(await kubectlOk(['exec', 'web', '-n', ns, '--', 'cat', '/tmp/www/index.html'])).toBe(`${body}\n`);
  });

  it('serves a ClusterIP Service from real pods, to the host and to other pods (kube-proxy)', async () => {
    const body = `served through a Service in ${ns}`;
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      realNodePod(
        'svc-web',
        `mkdir -p /tmp/www && echo "${body}" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www`,
      ),
    );
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'svc-web' },
        spec: { selector: { app: 'svc-web' }, ports: [{ port: 80, targetPort: 8080 }] },
      }),
    );
    const svc = await getJson<{ spec: { clusterIP: string } }>(['get', 'service', 'svc-web', '-n', ns]);
    const clusterIP = svc?.spec.clusterIP ?? '';
    // kube-proxy programs the Service once its endpoint is ready
    const fromHost = await eventually(`GET http://${clusterIP}/ from the host`, async () => {
      const res = await fetch(`http://${clusterIP}/`, { signal: AbortSignal.timeout(2000) });
      return res.ok ? res.text() : undefined;
    });
    expect(fromHost.trim()).toBe(body);
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      realNodePod('svc-client', `wget -q -O - http://${clusterIP}/ >/dev/termination-log 2>&1`, {
        pod: { restartPolicy: 'Never' },
      }),
    );
    const done = await eventually('pod svc-client finished', async () => {
      const p = await getJson<Pod>(['get', 'pod', 'svc-client', '-n', ns]);
      return p?.status.containerStatuses?.[0]?.state.terminated;
    });
    expect({ exitCode: done.exitCode, message: done.message?.trim() }).toEqual({
      exitCode: 0,
      message: body,
    });
  });

  it('lets pods reach the API server by its endpoint (bridge address) and by the kubernetes Service', async () => {
    // the kubernetes Service's endpoint is the bridge address (the API server advertises it)
    const slice = await getJson<{ endpoints: { addresses: string[] }[]; ports: { port: number }[] }>([
      'get',
      'endpointslice',
      'kubernetes',
      '-n',
      'default',
    ]);
    expect(slice?.endpoints.flatMap((e) => e.addresses)).toEqual([bridgeAddress]);
    const port = slice?.ports[0]?.port ?? 0;
    // busybox's TLS cannot talk to the API server, so the pod sends plain HTTP,
    // which only the API server's own TLS listener answers with this 400. The
    // second call uses the in-cluster environment as is (the Service's ClusterIP).
    await kubectlOk(
      ['apply', '-n', ns, '-f', '-'],
      realNodePod(
        'api-call',
        `{ echo "endpoint: $(wget -q -O - http://${bridgeAddress}:${port}/ 2>&1)"; ` +
          'echo "service: $(wget -q -O - http://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/ 2>&1)"; ' +
          '} >/dev/termination-log',
        { pod: { restartPolicy: 'Never' } },
      ),
    );
    const done = await eventually('pod api-call finished', async () => {
      const p = await getJson<Pod>(['get', 'pod', 'api-call', '-n', ns]);
      return p?.status.containerStatuses?.[0]?.state.terminated;
    });
    expect(done.message).toMatch(/^endpoint: .*400 Bad Request$/m);
    expect(done.message).toMatch(/^service: .*400 Bad Request$/m);
  });

  it('node.sh up keeps a healthy node as it is and restarts a killed kubelet', async () => {
    const before = pids();
    await run('bash', [nodeSh, 'up']);
    expect(pids()).toEqual(before);
    process.kill(Number(before.kubelet), 'SIGKILL');
    // up waits for the node to be Ready again
    await run('bash', [nodeSh, 'up']);
    const after = pids();
    expect(after.kubelet).not.toBe(before.kubelet);
    expect({ ...after, kubelet: '' }).toEqual({ ...before, kubelet: '' });
    const { stdout } = await run('bash', [nodeSh, 'status']);
    expect(stdout).toContain(`node ${nodeName}: Ready`);
  });
});
