// Fake nodes (kwok) that a test or bench may lose: kwok stops faking a node
// once its kwok.x-k8s.io/node annotation goes, so its heartbeat (Ready
// condition and Lease) stops as a crashed or cut-off node's would, and
// kube-controller-manager's node lifecycle controller marks it unreachable
// after --node-monitor-grace-period (40 s here) and taints it NoExecute: the
// real path by which Kubernetes evicts a lost node's pods. Giving the
// annotation back makes it Ready again.
//
// The nodes carry a label and a NoSchedule taint of their own (`key`=`run`),
// so only pods that ask for them land there.
import { eventually, getJson, kubectl, kubectlOk } from './support.ts';

export interface NodeObj {
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: { taints?: { key: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}
export interface PodObj {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string; tolerations?: { key?: string; effect?: string; tolerationSeconds?: number }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';

/** What a pod needs to run on these nodes (spec.runtime.nodeSelector / tolerations of an InferenceService). */
export function placementOn(key: string, run: string) {
  return {
    nodeSelector: { [key]: run },
    tolerations: [{ key, operator: 'Equal', value: run, effect: 'NoSchedule' }],
  };
}

/** Creates fake nodes `names` (label and taint `key`=`run`) and waits until kwok made them Ready. */
export async function createLosableNodes(key: string, run: string, names: readonly string[]): Promise<void> {
  for (const name of names)
    await kubectlOk(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', [key]: run },
        },
        spec: { taints: [{ key, value: run, effect: 'NoSchedule' }] },
        status: {
          capacity: { cpu: '8', memory: '32Gi', pods: '110' },
          allocatable: { cpu: '8', memory: '32Gi', pods: '110' },
        },
      }),
    );
  for (const name of names) await untilNodeHealthy(name);
}

/** Ready and without the node lifecycle controller's NoExecute taints. */
export async function untilNodeHealthy(name: string, timeoutMs = 90_000): Promise<void> {
  await eventually(
    `node ${name} Ready and untainted`,
    async () => {
      const n = await getJson<NodeObj>(['get', 'node', name]);
      const ready = n?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      const tainted = (n?.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/'));
      return ready && !tainted;
    },
    timeoutMs,
  );
}

/** The node goes silent, as a crashed one would (see the file comment). */
export async function loseNode(name: string): Promise<void> {
  await kubectlOk(['annotate', 'node', name, 'kwok.x-k8s.io/node-']);
}

/** The node comes back: kwok heartbeats it again. Force-deletes what was stuck Terminating on it. */
export async function restoreNode(name: string): Promise<void> {
  await kubectlOk(['annotate', 'node', name, 'kwok.x-k8s.io/node=fake', '--overwrite']);
  await untilNodeHealthy(name);
}

/** Deletes the nodes; pods still bound to them are force-deleted first (no kubelet will confirm). */
export async function deleteLosableNodes(names: readonly string[]): Promise<void> {
  for (const name of names) {
    const pods = await getJson<{ items: (PodObj & { metadata: { namespace: string } })[] }>([
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
}

export const podReady = (p: PodObj) =>
  !p.metadata.deletionTimestamp && p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
