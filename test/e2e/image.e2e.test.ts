// The project's container image, built without Docker by scripts/build-image.sh
// (the real archive, the name the operator and the chart use), unpacked with
// umoci and run from its root filesystem the way a container runtime would:
// chrooted, as the image's user 65532, with only the image's environment. The
// runtime serves the fraud model over v2 and answers like the reference; the
// operator's entry point loads every module. No containerd needed: the real
// node imports this same archive (scripts/build-image.sh --import).
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { RUNTIME_COMMAND, RUNTIME_IMAGE } from '../../operator/version.ts';
import {
  FRAUD_MODEL,
  MODEL_SHA256,
  featureRows,
  fraudReference,
} from '../../runtime/models/fraud-reference.ts';
import { eventually, freePort, repo } from './support.ts';

type ImageConfig = {
  Entrypoint?: string[];
  Cmd?: string[];
  User?: string;
  WorkingDir?: string;
  Env?: string[];
  ExposedPorts?: Record<string, object>;
  Labels?: Record<string, string>;
};
type Descriptor = { digest: string; annotations?: Record<string, string> };

// Fails (never skips) when the machine cannot run the test, saying what is missing.
function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error(
      'image.e2e needs root: it unpacks the image with its owners and mounts in a mount namespace',
    );
}
function requireTools(): void {
  for (const [tool, pkg] of [
    ['umoci', 'umoci'],
    ['unshare', 'util-linux'],
    ['mount', 'mount'],
    ['tar', 'tar'],
  ] as const) {
    try {
      execFileSync('bash', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`image.e2e needs ${tool}: apt-get install -y ${pkg}`);
    }
  }
}

let work: string;
let layout: string;
let rootfs: string;
let archive: string;
let index: { manifests: Descriptor[] };
let config: ImageConfig;
const children: ChildProcess[] = [];

const blob = (digest: string): string =>
  readFileSync(path.join(layout, 'blobs', ...digest.split(':')), 'utf8');

beforeAll(() => {
  requireRoot();
  // Cold: a minute or two (npm ci, Debian packages; the script installs umoci when missing); then cached.
  const out = execFileSync(path.join(repo, 'scripts/build-image.sh'), [], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 900_000,
  });
  archive = out.trim().split('\n').at(-1) ?? '';
  requireTools();
  work = mkdtempSync(path.join(os.tmpdir(), 'ymera-image-'));
  layout = path.join(work, 'layout');
  execFileSync('mkdir', ['-p', layout]);
  execFileSync('tar', ['-xf', archive, '-C', layout]);
  index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as typeof index;
  const manifest = JSON.parse(blob(index.manifests[0]!.digest)) as { config: Descriptor };
  config = (JSON.parse(blob(manifest.config.digest)) as { config: ImageConfig }).config;
  execFileSync('umoci', ['unpack', '--image', `${layout}:${RUNTIME_IMAGE}`, path.join(work, 'bundle')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  rootfs = path.join(work, 'bundle', 'rootfs');
}, 900_000);

afterAll(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
  // every mount lived in the children's mount namespace, gone with them
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * Runs `args` inside the unpacked image as a container runtime would: its own
 * mount namespace with /proc and /dev, `hostTmp` mounted on /tmp (the pod's
 * emptyDir), chrooted into the rootfs, in the image's WorkingDir, as the
 * image's User with no supplementary groups, with only the image's Env. No
 * fork happens on the way, so the child's pid is the program's.
 */
function runInImage(args: string[], hostTmp = ''): ChildProcess & { output: () => string } {
  const [uid, gid] = (config.User ?? '').split(':');
  const script = [
    'set -e',
    'r=$1 tmp=$2; shift 2',
    'mount -t proc proc "$r/proc"',
    'mount --rbind /dev "$r/dev"',
    'if [ -n "$tmp" ]; then mount --bind "$tmp" "$r/tmp"; fi',
    `exec /usr/bin/unshare --root="$r" --wd=${config.WorkingDir} --setgid ${gid} --setuid ${uid} -- "$@"`,
  ].join('\n');
  const env = Object.fromEntries(
    (config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  );
  const child = spawn(
    '/usr/bin/unshare',
    ['--mount', '--propagation', 'private', '--', '/bin/bash', '-c', script, 'run', rootfs, hostTmp, ...args],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

const exitOf = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));

/** Paths in the rootfs that `uid`/`gid` may write (symlinks are never written through here). */
function writableBy(root: string, uid: number, gid: number): string[] {
  const found: string[] = [];
  const walk = (rel: string): void => {
    const st = lstatSync(path.join(root, rel));
    if (st.isSymbolicLink()) return;
    const writable =
      (st.uid === uid && (st.mode & 0o200) !== 0) ||
      (st.gid === gid && (st.mode & 0o020) !== 0) ||
      (st.mode & 0o002) !== 0;
    if (writable) found.push(`/${rel}`);
    if (st.isDirectory()) for (const e of readdirSync(path.join(root, rel))) walk(path.join(rel, e));
  };
  walk('');
  return found.map((p) => (p === '/' ? p : p.replace(/\/$/, ''))).sort();
}

/** Owners other than root of the files under `dir` (relative to the rootfs). */
function nonRootOwned(root: string, dir: string): string[] {
  const found: string[] = [];
  const walk = (rel: string): void => {
    const st = lstatSync(path.join(root, rel));
    if (st.uid !== 0 || st.gid !== 0) found.push(`/${rel} ${st.uid}:${st.gid}`);
    if (st.isDirectory()) for (const e of readdirSync(path.join(root, rel))) walk(path.join(rel, e));
  };
  walk(dir);
  return found;
}

/** The final stage of the Dockerfile: the instructions after its last FROM. */
function dockerfileFinalStage(): Map<string, string> {
  const lines = readFileSync(path.join(repo, 'Dockerfile'), 'utf8').split('\n');
  const from = lines.findLastIndex((l) => l.startsWith('FROM '));
  const m = new Map<string, string>();
  for (const l of lines.slice(from)) {
    const [, op, rest] = /^([A-Z]+)\s+(.*)$/.exec(l) ?? [];
    if (op && rest && ['USER', 'WORKDIR', 'EXPOSE', 'ENTRYPOINT', 'ENV'].includes(op)) m.set(op, rest);
  }
  return m;
}

describe('the project image built without Docker', () => {
  it('is named exactly as the operator and the chart reference it', () => {
    expect(archive).toMatch(/\.oci\.tar$/);
    expect(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'])).toEqual([
      RUNTIME_IMAGE,
    ]);
    const values = parseYaml(readFileSync(path.join(repo, 'charts/ymera-operator/values.yaml'), 'utf8')) as {
      image: { repository: string };
    };
    const chart = parseYaml(readFileSync(path.join(repo, 'charts/ymera-operator/Chart.yaml'), 'utf8')) as {
      appVersion: string;
    };
    expect(`${values.image.repository}:${chart.appVersion}`).toBe(RUNTIME_IMAGE);
  });

  it("has the Dockerfile final stage's entrypoint, user, workdir, env, ports and labels", () => {
    const stage = dockerfileFinalStage();
    expect(config.Entrypoint).toEqual(JSON.parse(stage.get('ENTRYPOINT')!));
    expect(config.Entrypoint).toEqual([
      '/nodejs/bin/node',
      '--disable-warning=ExperimentalWarning',
      'operator/main.ts',
    ]);
    expect(config.Cmd ?? []).toEqual([]);
    expect(config.User).toBe(stage.get('USER'));
    expect(config.User).toBe('65532:65532');
    expect(config.WorkingDir).toBe(stage.get('WORKDIR'));
    expect(config.Env).toContain(stage.get('ENV'));
    expect(Object.keys(config.ExposedPorts ?? {}).sort()).toEqual(
      stage
        .get('EXPOSE')!
        .split(/\s+/)
        .map((p) => `${p}/tcp`)
        .sort(),
    );
    expect(config.Labels).toMatchObject({
      'org.opencontainers.image.title': 'ymera-operator',
      'org.opencontainers.image.version': RUNTIME_IMAGE.split(':').at(-1),
      'org.opencontainers.image.licenses': 'Apache-2.0',
    });
    // the runtime command the operator gives InferenceService pods points into this image
    expect(lstatSync(path.join(rootfs, RUNTIME_COMMAND[0]!)).isFile()).toBe(true);
    expect(lstatSync(path.join(rootfs, 'app', RUNTIME_COMMAND[2]!)).isFile()).toBe(true);
  });

  it('has no shell, root-owned files, and nothing uid 65532 may write but /tmp and its empty home', () => {
    for (const sh of ['bin/sh', 'bin/bash', 'usr/bin/sh', 'usr/bin/bash', 'bin/dash', 'usr/bin/dash'])
      expect(() => lstatSync(path.join(rootfs, sh)), sh).toThrow(/ENOENT/);
    expect(writableBy(rootfs, 65532, 65532)).toEqual(['/home/nonroot', '/tmp']);
    expect(readdirSync(path.join(rootfs, 'tmp'))).toEqual([]);
    expect(readdirSync(path.join(rootfs, 'home/nonroot'))).toEqual([]);
    expect(nonRootOwned(rootfs, 'app')).toEqual([]);
    expect(nonRootOwned(rootfs, 'nodejs')).toEqual([]);
    // no dev dependencies and only this platform's onnxruntime binaries
    expect(readdirSync(path.join(rootfs, 'app/node_modules'))).not.toContain('vitest');
    expect(readdirSync(path.join(rootfs, 'app/node_modules/onnxruntime-node/bin/napi-v6'))).toEqual([
      'linux',
    ]);
  });

  it("loads every operator module through the image's entrypoint (--help)", async () => {
    const op = runInImage([...config.Entrypoint!, '--help']);
    expect(await exitOf(op), op.output()).toBe(0);
    expect(op.output()).toMatch(/^Usage: ymera-operator/);
    expect(op.output()).toContain('--leader-elect');
  });

  it('runs the inference runtime as uid 65532 and serves the fraud model over v2', async () => {
    const mounted = mkdtempSync(path.join(work, 'tmp-'));
    execFileSync('chmod', ['1777', mounted]);
    copyFileSync(FRAUD_MODEL, path.join(mounted, 'fraud.onnx'));
    const runtimeConfig = {
      model: {
        name: 'fraud',
        uri: 'file:///tmp/fraud.onnx',
        format: 'onnx',
        version: '1',
        sha256: MODEL_SHA256['fraud.onnx'],
      },
      batching: { maxBatchSize: 8, maxDelayMs: 0 },
      threads: 1,
    };
    writeFileSync(path.join(mounted, 'runtime.json'), JSON.stringify(runtimeConfig));
    execFileSync('chmod', ['0644', path.join(mounted, 'fraud.onnx'), path.join(mounted, 'runtime.json')]);
    const port = await freePort();
    const rt = runInImage(
      [...RUNTIME_COMMAND, '--config', '/tmp/runtime.json', '--port', String(port)],
      mounted,
    );
    const url = `http://127.0.0.1:${port}`;

    await eventually(
      `the runtime from the image to be ready on ${url}`,
      async () => {
        if (rt.exitCode !== null) throw new Error(`runtime exited ${rt.exitCode}: ${rt.output()}`);
        return (await fetch(`${url}/v2/health/ready`)).status === 200;
      },
      60_000,
      200,
    );
    // the serving process is the image's node, as the image's user
    const status = readFileSync(`/proc/${rt.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1)).toEqual(['65532', '65532']);
    expect(/^Gid:\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1)).toEqual(['65532', '65532']);
    expect(/^Groups:\s*(.*)$/m.exec(status)?.[1]?.trim()).not.toMatch(/\b0\b/);
    expect(readFileSync(`/proc/${rt.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('/nodejs/bin/node');

    const rows = featureRows(3, 13);
    const res = await fetch(`${url}/v2/models/fraud/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'features', shape: [rows.length, 8], datatype: 'FP32', data: rows.flat() }],
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      model_name: string;
      outputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
    };
    expect(body.model_name).toBe('fraud');
    const out = body.outputs[0]!;
    expect(out).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [rows.length, 2] });
    rows.forEach((row, i) => {
      const [a, b] = fraudReference(row);
      expect(out.data[2 * i]).toBeCloseTo(a, 5);
      expect(out.data[2 * i + 1]).toBeCloseTo(b, 5);
    });

    rt.kill('SIGTERM');
    expect(await exitOf(rt), rt.output()).toBe(0);
  });

  it('is not rebuilt by a second run with nothing changed', () => {
    const again = spawnSync(path.join(repo, 'scripts/build-image.sh'), [], { cwd: repo, encoding: 'utf8' });
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(archive);
    expect(again.stderr).toContain(`up to date: ${RUNTIME_IMAGE}`);
    expect(again.stderr).not.toMatch(/layer \w+: building|built /);
  });

  // The real node's containerd: its address comes from the stack's environment
  // (test/e2e/stack/node.sh env) once the stack runs a real kubelet node.
  const containerd = process.env.YMERA_CONTAINERD_ADDRESS;
  it.skipIf(!containerd)(
    "imports into the real node's containerd under the name pods use, once (needs YMERA_CONTAINERD_ADDRESS)",
    () => {
      const cache = process.env.YMERA_CACHE ?? path.join(os.homedir(), '.cache/ymera');
      const onPath = spawnSync('bash', ['-c', 'command -v ctr'], { encoding: 'utf8' }).stdout.trim();
      const ctr = process.env.YMERA_CTR || onPath || path.join(cache, 'bin/current/ctr');
      expect(existsSync(ctr), `ctr at ${ctr}`).toBe(true);
      const digest = readFileSync(`${archive}.digest`, 'utf8').trim();
      const importIt = () =>
        spawnSync(path.join(repo, 'scripts/build-image.sh'), ['--import'], {
          cwd: repo,
          encoding: 'utf8',
          timeout: 600_000,
        });
      const first = importIt();
      expect(first.status, first.stderr).toBe(0);
      const listed = execFileSync(
        ctr,
        ['--address', containerd!, '-n', 'k8s.io', 'images', 'ls', `name==${RUNTIME_IMAGE}`],
        { encoding: 'utf8' },
      );
      expect(listed.split('\n').filter((l) => l.startsWith(`${RUNTIME_IMAGE} `))).toEqual([
        expect.stringContaining(digest),
      ]);
      const second = importIt();
      expect(second.status, second.stderr).toBe(0);
      expect(second.stderr).toContain(`containerd already has ${RUNTIME_IMAGE}@${digest}`);
    },
  );
});
