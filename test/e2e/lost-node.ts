// A node lost under a replica, for real: the real node's kubelet
// (test/e2e/stack/node.sh) is frozen (SIGSTOP), so its node status and Lease
// stop as a crashed or cut-off node's would; kube-controller-manager's node
// lifecycle controller marks it unreachable after --node-monitor-grace-period
// (40 s here) and taints it NoExecute, and the taint manager evicts its pods
// once their toleration runs out. SIGCONT gives it back. (A kwok node cannot
// stand in: kwok keeps renewing the Lease of a node it stopped managing, so
// the node never goes unreachable.)
//
// The replacement needs a node to go to: a fake (kwok) node of the real pool
// (same label and taint as real-node-1), created cordoned so the first
// replica lands on the real node, and uncordoned before the fault.
//
// Only under the e2e lock: freezing the kubelet stops the real node for every
// user of the stack. Callers thaw it in `finally`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { eventually, getJson, kubectl, kubectlOk } from './support.ts';

export interface NodeObj {
  metadata: { name: string };
  spec?: { unschedulable?: boolean; taints?: { key: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}
export interface PodObj {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string; tolerations?: { key?: string; effect?: string; tolerationSeconds?: number }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';

/** spec.runtime placement of pods for the real pool (real-node-1 and the fallback node). */
export const REAL_POOL = {
  nodeSelector: { 'ymera.io/node-pool': 'real' },
  tolerations: [{ key: 'ymera.io/real-node', operator: 'Exists', effect: 'NoSchedule' }],
};

/** The real node's kubelet: its pid, checked to be that kubelet (node.sh's pid file, its --config). */
export function realKubeletPid(): number {
  const logs = process.env.YMERA_REAL_NODE_LOGS;
  if (!logs) throw new Error('YMERA_REAL_NODE_LOGS is unset: test/e2e/stack/node.sh env exports it');
  const dir = path.dirname(logs);
  const pid = Number(readFileSync(path.join(dir, 'kubelet.pid'), 'utf8').trim());
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  if (!cmdline.includes(`--config=${path.join(dir, 'kubelet.yaml')}`))
    throw new Error(`pid ${pid} is not the real node's kubelet: ${cmdline.join(' ')}`);
  return pid;
}

/** The real node goes silent: its kubelet stops (frozen, not killed: thawKubelet resumes it). */
export function freezeKubelet(pid: number): void {
  // never leave the shared node frozen, whatever ends this process
  if (!thawOnExit.has(pid)) {
    thawOnExit.add(pid);
    process.once('exit', () => thawKubelet(pid));
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => {
        thawKubelet(pid);
        process.exit(130);
      });
  }
  process.kill(pid, 'SIGSTOP');
}
const thawOnExit = new Set<number>();

/** Resumes the kubelet (idempotent; safe to call in every `finally`). */
export function thawKubelet(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // gone: nothing to resume
  }
}

/** Ready and without the node lifecycle controller's taints. */
export async function untilNodeHealthy(name: string, timeoutMs = 120_000): Promise<void> {
  await eventually(
    `node ${name} Ready and untainted`,
    async () => {
      const n = await getJson<NodeObj>(['get', 'node', name]);
      const ready = n?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      const tainted = (n?.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/'));
      return ready && !tainted;
    },
    timeoutMs,
    1000,
  );
}

/** A fake (kwok) node of the real pool, cordoned; waits until kwok made it Ready. */
export async function createFallbackNode(name: string): Promise<void> {
  await kubectlOk(
    ['create', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'ymera.io/node-pool': 'real' },
      },
      spec: {
        unschedulable: true,
        taints: [{ key: 'ymera.io/real-node', value: 'true', effect: 'NoSchedule' }],
      },
      status: {
        capacity: { cpu: '8', memory: '32Gi', pods: '110' },
        allocatable: { cpu: '8', memory: '32Gi', pods: '110' },
      },
    }),
  );
  await eventually('kwok to make the fallback node Ready', async () => {
    const n = await getJson<NodeObj>(['get', 'node', name]);
    return n?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  });
}

export const cordon = (name: string, on: boolean) =>
  kubectlOk(['patch', 'node', name, '--type=merge', '-p', JSON.stringify({ spec: { unschedulable: on } })]);

/** Deletes the fallback node; pods still bound to it are force-deleted first. */
export async function deleteFallbackNode(name: string): Promise<void> {
  const pods = await getJson<{ items: { metadata: { name: string; namespace: string } }[] }>([
    'get',
    'pods',
    '-A',
    `--field-selector=spec.nodeName=${name}`,
  ]);
  for (const p of pods?.items ?? [])
    await kubectl([
      'delete',
      'pod',
      '-n',
      p.metadata.namespace,
      p.metadata.name,
      '--grace-period=0',
      '--force',
    ]);
  await kubectl(['delete', 'node', name, '--ignore-not-found']);
}

export const podReady = (p: PodObj) =>
  !p.metadata.deletionTimestamp && p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
