// Brings up the local cluster (or checks the one KUBECONFIG names when
// YMERA_USE_EXISTING_CLUSTER=1), installs the CRDs, and hands the kubeconfig
// and binaries to the test workers through the environment.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export default function setup(): void {
  const cluster = path.join(repo, 'test/e2e/cluster/cluster.sh');
  execFileSync('bash', [cluster, 'up'], { stdio: ['ignore', 'inherit', 'inherit'], cwd: repo });
  const env = execFileSync('bash', [cluster, 'env'], { encoding: 'utf8', cwd: repo });
  for (const line of env.split('\n')) {
    const m = /^export (\w+)=(.*)$/.exec(line.trim());
    if (!m?.[1] || m[2] === undefined) continue;
    const value = m[2].replace(/^"(.*)"$/, '$1').replace(/\$PATH/, process.env.PATH ?? '');
    process.env[m[1]] = value;
  }
  const kubectl = (...args: string[]) =>
    execFileSync('kubectl', args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
    });
  kubectl('apply', '--server-side', '--field-manager=ymera-e2e', '-f', path.join(repo, 'crds'));
  kubectl('wait', '--for=condition=Established', '--timeout=60s', '-f', path.join(repo, 'crds'));
}
