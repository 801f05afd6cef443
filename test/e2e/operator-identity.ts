// The identity e2e operator processes run as: the Helm chart's own
// ServiceAccount. The global setup installs the chart (RBAC and ServiceAccount
// only: --skip-crds because the setup applies crds/ itself, replicas=0 so no
// in-cluster operator pod competes with the test-started processes), then
// writes a kubeconfig holding a TokenRequest token of that ServiceAccount.
// startOperator (support.ts) uses it, so a permission the chart lacks fails
// the test that needs it.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where the chart goes; its full name is also the ServiceAccount's and the Lease's name. */
export const OPERATOR_RELEASE = {
  release: 'ymera-e2e',
  namespace: 'ymera-e2e-system',
  fullname: 'ymera-e2e-operator',
} as const;

/** Environment the global setup exports to the test workers. */
export const IDENTITY_ENV = {
  kubeconfig: 'YMERA_E2E_OPERATOR_KUBECONFIG',
  user: 'YMERA_E2E_OPERATOR_USER',
  leaseNamespace: 'YMERA_E2E_LEASE_NAMESPACE',
  leaseName: 'YMERA_E2E_LEASE_NAME',
} as const;

// a whole e2e run fits well within this; a new token is minted on every run
const TOKEN_DURATION = '4h';

interface KubeconfigView {
  clusters: { name: string; cluster: { server: string; 'certificate-authority-data'?: string } }[];
}

/**
 * Installs or upgrades the chart release and returns the environment for the
 * workers. Idempotent: a rerun upgrades the release in place (helm keeps 3
 * revisions) and mints a fresh token.
 */
export function installOperatorIdentity(repo: string, stateDir: string): Record<string, string> {
  const env = process.env;
  const run = (cmd: string, args: string[]) =>
    execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env });
  const { release, namespace, fullname } = OPERATOR_RELEASE;
  try {
    run('helm', [
      'upgrade',
      '--install',
      release,
      path.join(repo, 'charts', 'ymera-operator'),
      '--namespace',
      namespace,
      '--create-namespace',
      '--skip-crds',
      '--history-max=3',
      `--set=fullnameOverride=${fullname}`,
      '--set=replicas=0',
      '--set=metrics.service.enabled=false',
      // the drill e2e needs them; off by default in the chart
      '--set=rbac.drills=true',
      // MaintenancePlan's Act mode cordons and drains (kwok nodes in its e2e)
      '--set=rbac.maintenancePlan=true',
    ]);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`helm upgrade --install ${release} failed: ${err.stderr ?? err.message}`);
  }
  const token = run('kubectl', [
    'create',
    'token',
    fullname,
    '-n',
    namespace,
    `--duration=${TOKEN_DURATION}`,
  ]).trim();
  // server and CA of the admin kubeconfig's current cluster; the credentials are the token alone
  const view = JSON.parse(
    run('kubectl', ['config', 'view', '--raw', '--minify', '--flatten', '-o', 'json']),
  ) as KubeconfigView;
  const cluster = view.clusters[0]?.cluster;
  if (!cluster) throw new Error('the admin kubeconfig names no cluster');
  const user = `system:serviceaccount:${namespace}:${fullname}`;
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'operator', context: { cluster: 'e2e', user, namespace } }],
    'current-context': 'operator',
  };
  mkdirSync(stateDir, { recursive: true });
  const file = path.join(stateDir, 'operator-serviceaccount.kubeconfig');
  writeFileSync(file, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });
  chmodSync(file, 0o600); // an existing file keeps its old mode otherwise
  return {
    [IDENTITY_ENV.kubeconfig]: file,
    [IDENTITY_ENV.user]: user,
    [IDENTITY_ENV.leaseNamespace]: namespace,
    [IDENTITY_ENV.leaseName]: fullname,
  };
}
