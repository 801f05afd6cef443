// The local cluster itself: version-stamped binaries, the simulated node
// fleet, scheduling and pod lifecycles (smoke-test.sh), and an idempotent up.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { getJson, kubectlOk, repo } from './support.ts';

const run = promisify(execFile);
const clusterDir = path.join(repo, 'test/e2e/cluster');

interface NodeList {
  items: {
    metadata: { name: string; labels: Record<string, string> };
    spec: { taints?: { key: string; value?: string; effect: string }[] };
    status: { capacity: Record<string, string> };
  }[];
}

describe('local cluster', () => {
  it('runs Kubernetes 1.36 binaries stamped with their version', async () => {
    const { stdout } = await run('kube-apiserver', ['--version']);
    expect(stdout.trim()).toBe('Kubernetes v1.36.3');
    const version = JSON.parse(await kubectlOk(['version', '-o', 'json'])) as {
      serverVersion: { gitVersion: string };
    };
    expect(version.serverVersion.gitVersion).toBe('v1.36.3');
  });

  it('has two tainted GPU nodes with 8 GPUs each and two CPU nodes', async () => {
    const nodes = (await getJson<NodeList>(['get', 'nodes'])) as NodeList;
    const gpu = nodes.items.filter((n) => n.status.capacity['nvidia.com/gpu'] === '8');
    expect(gpu.map((n) => n.metadata.name).sort()).toEqual(['gpu-node-1', 'gpu-node-2']);
    for (const n of gpu) {
      expect(n.metadata.labels['nvidia.com/gpu.product']).toBeTruthy();
      expect(n.spec.taints).toEqual(
        expect.arrayContaining([{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }]),
      );
    }
    expect(nodes.items.filter((n) => !n.status.capacity['nvidia.com/gpu']).length).toBeGreaterThanOrEqual(2);
  });

  it('places pods with the real scheduler, runs and completes them through kwok (smoke-test.sh)', async () => {
    const { stderr } = await run('bash', [path.join(clusterDir, 'smoke-test.sh')], {
      env: { ...process.env, YMERA_USE_EXISTING_CLUSTER: '1' },
      timeout: 170_000,
    });
    expect(stderr).toContain('all checks passed');
  });

  // with an existing cluster there is nothing of ours to start
  it.skipIf(process.env.YMERA_USE_EXISTING_CLUSTER === '1')(
    'starting an up cluster again is a fast no-op that leaves it up',
    async () => {
      await run('bash', [path.join(clusterDir, 'cluster.sh'), 'up']);
      const { stdout } = await run('bash', [path.join(clusterDir, 'cluster.sh'), 'status']);
      expect(stdout).toMatch(/^up\b/);
      await kubectlOk(['get', 'nodes']);
    },
  );
});
