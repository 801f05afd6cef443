// The side-by-side peer of bench/inference.ts: KServe's Python ModelServer
// (bench/peer/kserve_peer.py, `kserve` and onnxruntime from PyPI in a
// virtualenv that test/e2e/clients/venv.sh builds once per machine from
// bench/peer/requirements.txt) serving the same ONNX file on HTTP (v2 REST)
// and gRPC ports of its own. BENCH_PEER_PYTHON names an interpreter that
// already has those packages instead.
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');

export type Peer = { url: string; grpcTarget: string; pid: number; stop(): Promise<void> };

/** The peer's python: BENCH_PEER_PYTHON, or the cached virtualenv (built on first use, about a minute). */
export function peerPython(): string {
  if (process.env.BENCH_PEER_PYTHON) return process.env.BENCH_PEER_PYTHON;
  return execFileSync(
    'bash',
    [path.join(repo, 'test/e2e/clients/venv.sh'), path.join(here, 'peer/requirements.txt')],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  ).trim();
}

/** The versions the peer runs, for the results file. */
export function peerVersions(python: string): Record<string, string> {
  const out = execFileSync(
    python,
    [
      '-c',
      'import json; from importlib.metadata import version as v; ' +
        'print(json.dumps({p: v(p) for p in ("kserve", "onnxruntime", "numpy")}))',
    ],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as Record<string, string>;
}

/** Starts the peer on the given ports and waits until its model is ready. */
export async function startPeer(opts: {
  python: string;
  file: string;
  name: string;
  /** onnxruntime intra-op threads; undefined: onnxruntime's default. */
  threads: number | undefined;
  httpPort: number;
  grpcPort: number;
}): Promise<Peer> {
  const child = spawn(
    opts.python,
    [
      path.join(here, 'peer/kserve_peer.py'),
      '--model_path',
      opts.file,
      '--model_name',
      opts.name,
      '--http_port',
      String(opts.httpPort),
      '--grpc_port',
      String(opts.grpcPort),
      '--threads',
      String(opts.threads ?? 0),
    ],
    // its log (startup lines, deprecation warnings) is noise in the tables; failures surface as not ready
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${opts.httpPort}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the KServe peer exited ${child.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${url}/v2/models/${opts.name}/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the KServe peer did not become ready:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    grpcTarget: `127.0.0.1:${opts.grpcPort}`,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
