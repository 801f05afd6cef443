// The runtime as a real process and the Python v2 clients from PyPI that call
// it, shared by runtime-clients.e2e (HTTP) and runtime-grpc.e2e (gRPC).
import type { ChildProcess } from 'node:child_process';
import { execFile, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'vitest';
import { fraudReference } from '../../../runtime/models/fraud-reference.ts';
import { eventually, freePort, repo } from '../support.ts';

const CLIENTS = path.join(repo, 'test/e2e/clients');

/** A runtime process: its HTTP url and host:port, its gRPC target when started with one. */
export type Runtime = {
  url: string;
  hostPort: string;
  grpcTarget?: string;
  child: ChildProcess;
  logs: () => string;
};

const running: ChildProcess[] = [];

/** Starts runtime/server.ts on free ports (and a gRPC one when asked) and waits until it is ready. */
export async function startRuntime(flags: string[], options: { grpc?: boolean } = {}): Promise<Runtime> {
  const port = await freePort();
  const grpcPort = options.grpc ? await freePort() : undefined;
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      path.join(repo, 'runtime/server.ts'),
      '--port',
      String(port),
      ...(grpcPort !== undefined ? ['--grpc-port', String(grpcPort)] : []),
      ...flags,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    `runtime on ${url} ready`,
    async () => {
      if (child.exitCode !== null) throw new Error(`runtime exited ${child.exitCode}: ${out}`);
      return (await fetch(`${url}/v2/health/ready`)).status === 200;
    },
    60_000,
    100,
  );
  return {
    url,
    hostPort: `127.0.0.1:${port}`,
    ...(grpcPort !== undefined ? { grpcTarget: `127.0.0.1:${grpcPort}` } : {}),
    child,
    logs: () => out,
  };
}

/** Kills every runtime this file started that is still running (for afterAll). */
export function killRuntimes(): void {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** The virtualenv's python, built once per machine (about 30 s) from requirements.txt, then cached. */
export function clientsPython(): string {
  return execFileSync('bash', [path.join(CLIENTS, 'venv.sh'), path.join(CLIENTS, 'requirements.txt')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/** Runs a client script of test/e2e/clients with `args`, feeding `stdin`; its stdout is one JSON object. */
export function runClientScript(
  python: string,
  script: string,
  args: string[],
  rt: Runtime,
  stdin = '',
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = execFile(
      python,
      [path.join(CLIENTS, script), ...args],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new Error(`${script} ${args[0]} failed: ${err.message}\n${stderr}\nruntime log:\n${rt.logs()}`),
          );
        else resolve(JSON.parse(stdout) as Record<string, unknown>);
      },
    );
    p.stdin?.end(stdin);
  });
}

/**
 * Checks classification-extension answers for `rows` against the fraud reference: per row
 * the top `k` classes, largest first, as "value:index" with six decimals (the value within
 * 1e-5 of the reference: the last printed digit may differ from onnxruntime's float32).
 */
export function expectClasses(rows: number[][], k: number, values: string[][]): void {
  expect(values).toHaveLength(rows.length);
  rows.forEach((row, r) => {
    const p = fraudReference(row);
    const order = p.map((_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
    expect(values[r]).toHaveLength(Math.min(k, p.length));
    values[r]!.forEach((c, j) => {
      const m = /^(-?\d+\.\d{6}):(\d+)$/.exec(c);
      expect(m, c).not.toBeNull();
      expect(Number(m![2])).toBe(order[j]);
      expect(Math.abs(Number(m![1]) - p[order[j]!]!)).toBeLessThan(1e-5);
    });
  });
}
