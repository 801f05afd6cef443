// Brings up the local stack (cluster, Kafka, Prometheus, S3 — or checks the
// cluster KUBECONFIG names when YMERA_USE_EXISTING_CLUSTER=1), installs the
// CRDs and the chart's ServiceAccount and RBAC (operator-identity.ts), and
// hands endpoints, binaries and the operator's kubeconfig to the test workers
// through the environment.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installOperatorIdentity } from './operator-identity.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export default function setup(): void {
  const stack = path.join(repo, 'test/e2e/stack.sh');
  execFileSync('bash', [stack, 'up'], { stdio: ['ignore', 'inherit', 'inherit'], cwd: repo });
  // let bash evaluate the exports, then read back the environment it ends with
  const dump = execFileSync('bash', ['-c', `eval "$(bash ${JSON.stringify(stack)} env)" && env -0`], {
    encoding: 'utf8',
    cwd: repo,
  });
  for (const entry of dump.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (name === 'PATH' || name === 'KUBECONFIG' || name.startsWith('YMERA_'))
      process.env[name] = entry.slice(eq + 1);
  }
  const kubectl = (...args: string[]) =>
    execFileSync('kubectl', args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
    });
  kubectl(
    'apply',
    '--server-side',
    '--force-conflicts',
    '--field-manager=ymera-e2e',
    '-f',
    path.join(repo, 'crds'),
  );
  kubectl('wait', '--for=condition=Established', '--timeout=60s', '-f', path.join(repo, 'crds'));
  const stateDir = process.env.YMERA_STATE_DIR ?? path.join(repo, '.tmp');
  Object.assign(process.env, installOperatorIdentity(repo, stateDir));
}
