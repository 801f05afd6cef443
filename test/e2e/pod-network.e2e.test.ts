// The stack's servers as a pod of the real node sees them: from a network
// namespace attached to the pod bridge (pod-netns.ts, what the node's CNI
// gives a pod), Kafka, MinIO and Prometheus answer on the bridge address with
// the operator's own clients — and on 127.0.0.1 for the host, unchanged.
// Also: Prometheus's bridge forwarder is supervised by prometheus.sh, and the
// Prometheus configuration the stack generates passes promtool.
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { Admin } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readTopic } from '../../operator/kafka/platformatic.ts';
import { createObjectStore, objectStoreConfigFromEnv } from '../../operator/storage/s3.ts';
import type { PodNetns } from './pod-netns.ts';
import { createPodNetns } from './pod-netns.ts';
import type { CommandResult } from './support.ts';
import { eventually, repo } from './support.ts';

const stack = (script: string, cmd: string) =>
  execFileSync('bash', [path.join(repo, 'test/e2e/stack', script), cmd], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: repo,
  });
/** Runs a stack script without throwing: its exit code and output. */
const stackRun = (script: string, cmd: string) =>
  new Promise<CommandResult>((resolve) => {
    execFile(
      'bash',
      [path.join(repo, 'test/e2e/stack', script), cmd],
      { cwd: repo },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
const exported = (env: string, name: string): string => {
  const m = new RegExp(`^export ${name}="?([^"\\n]*)"?$`, 'm').exec(env);
  if (!m?.[1]) throw new Error(`no ${name} in:\n${env}`);
  return m[1];
};

const run = randomUUID().slice(0, 8);
let pod: PodNetns;
let kafkaEnv: string;
let s3Env: string;
let promEnv: string;

/** The operator's clients inside the stand-in pod (fixtures/pod-client.ts). */
async function podClient(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>> {
  const r = await pod.run(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', path.join(repo, 'test/e2e/fixtures/pod-client.ts'), ...args],
    { PATH: process.env.PATH, ...env },
  );
  if (r.code !== 0) throw new Error(`pod-client ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

beforeAll(() => {
  // repairs anything the pod needs (a broker without the BRIDGE listener, a dead forwarder)
  for (const s of ['kafka.sh', 'minio.sh', 'prometheus.sh']) stack(s, 'up');
  kafkaEnv = stack('kafka.sh', 'env');
  s3Env = stack('minio.sh', 'env');
  promEnv = stack('prometheus.sh', 'env');
  pod = createPodNetns();
}, 300_000);

afterAll(async () => {
  pod?.remove();
  const brokers = [exported(kafkaEnv, 'YMERA_KAFKA_BROKERS')];
  const admin = new Admin({ clientId: 'ymera-e2e', bootstrapBrokers: brokers });
  try {
    const topics = await admin.listTopics();
    const ours = topics.filter((t) => t.startsWith(`e2e.pod-${run}`));
    if (ours.length > 0) await admin.deleteTopics({ topics: ours });
  } finally {
    await admin.close();
  }
});

describe('the stand-in pod', () => {
  it('is in a network of its own: only its bridge address, and its 127.0.0.1 is not the host', async () => {
    const addresses = await pod.run('ip', ['-4', '-o', 'addr', 'show', 'scope', 'global']);
    expect(addresses.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^\\d+: eth0\\s+inet ${pod.address.replaceAll('.', '\\.')}/24 `)),
    ]);
    // the host's Prometheus is on the host's loopback, not the pod's: so the
    // tests below reach the servers on the bridge, or not at all
    const local = await pod.run('curl', ['-sS', '--max-time', '3', 'http://127.0.0.1:9090/-/ready']);
    expect(local.code).not.toBe(0);
  });
});

describe('Kafka through the BRIDGE listener', () => {
  it('a pod bootstraps at the bridge address, gets metadata naming it, produces and consumes', async () => {
    const podBrokers = exported(kafkaEnv, 'YMERA_POD_KAFKA_BROKERS');
    expect(podBrokers).toBe(`${pod.bridgeAddress}:9094`);
    const topic = `e2e.pod-${run}-bridge`;
    const result = await podClient(['kafka', podBrokers, topic]);
    // every broker the pod is sent to is on the bridge: nothing points at the host's loopback
    expect(result).toEqual({ brokers: [podBrokers], consumed: [`hello from ${podBrokers}`] });
    // the same broker and topic on the host's listener, which still advertises 127.0.0.1
    const hostBrokers = exported(kafkaEnv, 'YMERA_KAFKA_BROKERS');
    expect(hostBrokers).toBe('127.0.0.1:9092');
    const admin = new Admin({ clientId: 'ymera-e2e', bootstrapBrokers: [hostBrokers] });
    try {
      const metadata = await admin.metadata({ topics: [topic] });
      expect([...metadata.brokers.values()].map((b) => `${b.host}:${b.port}`)).toEqual([hostBrokers]);
    } finally {
      await admin.close();
    }
    const seen = await readTopic({ brokers: [hostBrokers], topic, count: 1, timeoutMs: 15_000 });
    expect(seen.map((m) => m.value)).toEqual([`hello from ${podBrokers}`]);
  });
});

describe('MinIO on the bridge address', () => {
  it('a pod PUTs and GETs with SigV4 at http://<bridge>:9000; the host reads the same object at 127.0.0.1', async () => {
    const podEndpoint = exported(s3Env, 'YMERA_POD_S3_ENDPOINT');
    expect(podEndpoint).toBe(`http://${pod.bridgeAddress}:9000`);
    const key = `e2e-pod/${run}/hello.txt`;
    const body = `signed for ${podEndpoint}`;
    const credentials = {
      YMERA_S3_ENDPOINT: podEndpoint,
      YMERA_S3_ACCESS_KEY: exported(s3Env, 'YMERA_S3_ACCESS_KEY'),
      YMERA_S3_SECRET_KEY: exported(s3Env, 'YMERA_S3_SECRET_KEY'),
      YMERA_S3_REGION: exported(s3Env, 'YMERA_S3_REGION'),
    };
    const result = await podClient(['s3', 'ymera-artifacts', key, body], credentials);
    expect(result).toMatchObject({ endpoint: podEndpoint, body });
    const hostConfig = objectStoreConfigFromEnv({
      ...credentials,
      YMERA_S3_ENDPOINT: exported(s3Env, 'YMERA_S3_ENDPOINT'),
    });
    if (!hostConfig) throw new Error('no S3 config');
    expect(hostConfig.endpoint).toBe('http://127.0.0.1:9000');
    const store = createObjectStore({ ...hostConfig, bucket: 'ymera-artifacts', timeoutMs: 15_000 });
    try {
      expect((await store.get(key)).toString('utf8')).toBe(body);
      expect((await store.head(key))?.etag).toBe(result.etag);
      await store.delete(key);
    } finally {
      store.close();
    }
  });
});

describe('Prometheus on the bridge address', () => {
  it('a pod gets /-/ready and query results at http://<bridge>:9090; 127.0.0.1 still answers', async () => {
    const podUrl = exported(promEnv, 'YMERA_POD_PROMETHEUS_URL');
    expect(podUrl).toBe(`http://${pod.bridgeAddress}:9090`);
    const ready = await pod.run('curl', ['-fsS', '--max-time', '5', `${podUrl}/-/ready`]);
    expect(ready.stdout).toContain('Ready');
    expect(await podClient(['prometheus', podUrl])).toEqual({ value: 1 });
    const host = await fetch(`${exported(promEnv, 'YMERA_PROMETHEUS_URL')}/-/ready`);
    expect(host.status).toBe(200);
  });

  it('prometheus.sh supervises the forwarder: status fails once it dies, up brings it back', async () => {
    const stateDir = path.dirname(exported(promEnv, 'YMERA_PROMETHEUS_RULES_DIR'));
    const pidFile = path.join(stateDir, 'forwarder.pid');
    const pid = Number(execFileSync('cat', [pidFile], { encoding: 'utf8' }).trim());
    expect(pid).toBeGreaterThan(1);
    process.kill(pid, 'SIGKILL'); // the forwarder prometheus.sh started, by its pid
    const down = await eventually('status to notice the dead forwarder', async () => {
      const r = await stackRun('prometheus.sh', 'status');
      return r.code !== 0 ? r : undefined;
    });
    expect(down.stdout).toContain('forwarder down');
    stack('prometheus.sh', 'up');
    const up = await stackRun('prometheus.sh', 'status');
    expect(up.code, up.stdout).toBe(0);
    const ready = await pod.run('curl', [
      '-fsS',
      '--max-time',
      '5',
      `http://${pod.bridgeAddress}:9090/-/ready`,
    ]);
    expect(ready.stdout).toContain('Ready');
  });

  it('without a cluster kubeconfig the pods job is left out and the configuration still passes promtool', () => {
    const config = execFileSync('bash', [path.join(repo, 'test/e2e/stack/prometheus.sh'), 'config'], {
      encoding: 'utf8',
      env: { ...process.env, KWOK_WORKDIR: path.join(tmpdir(), `ymera-e2e-no-cluster-${run}`) },
    });
    const jobs = (parse(config) as { scrape_configs: { job_name: string }[] }).scrape_configs;
    expect(jobs.map((j) => j.job_name)).toEqual(['prometheus', 'ymera']);
    const file = path.join(tmpdir(), `ymera-e2e-prometheus-no-cluster-${run}.yml`);
    writeFileSync(file, config);
    const bin = stack('prometheus.sh', 'install').trim();
    expect(
      execFileSync(path.join(bin, 'promtool'), ['check', 'config', file], { encoding: 'utf8' }),
    ).toContain('SUCCESS');
  });

  it('the generated configuration passes promtool, discovers pods, and the running Prometheus loaded it', async () => {
    const config = stack('prometheus.sh', 'config');
    const file = path.join(tmpdir(), `ymera-e2e-prometheus-${run}.yml`);
    writeFileSync(file, config);
    // the stack's own promtool (build-prometheus.sh), the one `up` checks with
    const bin = stack('prometheus.sh', 'install').trim();
    const check = execFileSync(path.join(bin, 'promtool'), ['check', 'config', file], { encoding: 'utf8' });
    expect(check).toContain('SUCCESS');
    const jobs = (parse(config) as { scrape_configs: { job_name: string }[] }).scrape_configs;
    expect(jobs.map((j) => j.job_name)).toEqual(['prometheus', 'ymera', 'kubernetes-pods']);
    expect(jobs[2]).toMatchObject({
      kubernetes_sd_configs: [
        {
          role: 'pod',
          kubeconfig_file: path.join(
            process.env.KWOK_WORKDIR ?? path.join(homedir(), '.kwok'),
            'clusters/ymera/kubeconfig.yaml',
          ),
          attach_metadata: { node: true },
        },
      ],
    });
    const loaded = await fetch(`${exported(promEnv, 'YMERA_PROMETHEUS_URL')}/api/v1/status/config`);
    const yaml = ((await loaded.json()) as { data: { yaml: string } }).data.yaml;
    expect(
      (parse(yaml) as { scrape_configs: { job_name: string }[] }).scrape_configs.map((j) => j.job_name),
    ).toEqual(['prometheus', 'ymera', 'kubernetes-pods']);
  });
});
