// The runtime process on the shipped fraud model, reading its config from a
// directory laid out as the kubelet lays out a ConfigMap volume (runtime.json
// → ..data/runtime.json, ..data → a timestamped directory, swapped atomically).
// A batching change in the file reaches the live runtime (its /metrics say so)
// while requests keep being answered correctly; other changes are ignored with
// a log line; a malformed or invalid file keeps the values in effect.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FRAUD_MODEL, featureRows, fraudReference } from '../../runtime/models/fraud-reference.ts';
import { BATCHING_MAX_BATCH_SIZE, BATCHING_MAX_DELAY_MS } from '../../runtime/metrics.ts';
import { eventually, freePort, repo, sumMetric } from './support.ts';

const LABELS = { namespace: 'reload-ns', inferenceservice: 'fraud-svc', revision: 'abc123' };
const TOLERANCE = 1e-5;

/** A ConfigMap volume's layout; `write` swaps in a new version atomically, as the kubelet does. */
function configVolume() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ymera-runtime-reload-'));
  let n = 0;
  const write = (content: string) => {
    n++;
    const version = `..2026_12_05_00_00_0${n}.${process.pid}`;
    mkdirSync(path.join(dir, version));
    writeFileSync(path.join(dir, version, 'runtime.json'), content);
    symlinkSync(version, path.join(dir, '..data_tmp'));
    renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  };
  return {
    dir,
    file: path.join(dir, 'runtime.json'),
    write,
    init(content: string) {
      write(content);
      symlinkSync('..data/runtime.json', path.join(dir, 'runtime.json'));
    },
  };
}

const runtimeJson = (batching: { maxBatchSize: number; maxDelayMs: number } | undefined, extra = {}) =>
  `${JSON.stringify(
    {
      model: { name: 'fraud', uri: pathToFileURL(FRAUD_MODEL).href, format: 'onnx', version: '1' },
      ...(batching ? { batching } : {}),
      ...extra,
    },
    null,
    2,
  )}\n`;

describe('runtime config reload (a ConfigMap volume swapped under a running runtime)', () => {
  const volume = configVolume();
  let child: ChildProcess;
  let out = '';
  let url = '';

  const logLines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const limits = async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return {
      maxBatchSize: sumMetric(text, BATCHING_MAX_BATCH_SIZE, LABELS),
      maxDelayMs: sumMetric(text, BATCHING_MAX_DELAY_MS, LABELS),
    };
  };
  const untilLimits = (want: { maxBatchSize: number; maxDelayMs: number }) =>
    eventually(
      `/metrics to report ${JSON.stringify(want)}`,
      async () => {
        const have = await limits();
        return have.maxBatchSize === want.maxBatchSize && have.maxDelayMs === want.maxDelayMs;
      },
      20_000,
      100,
    );
  /** n concurrent requests of different row counts, each answer checked against the reference. */
  const inferMany = async (n: number, seed: number) => {
    const answers = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const rows = featureRows(1 + (i % 3), seed + i);
        const res = await fetch(`${url}/v2/models/fraud/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            inputs: [{ name: 'features', shape: [rows.length, 8], datatype: 'FP32', data: rows.flat() }],
          }),
        });
        const json = (await res.json()) as { outputs: { data: number[]; shape: number[] }[] };
        return { status: res.status, rows, out: json.outputs?.[0] };
      }),
    );
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.out?.shape).toEqual([a.rows.length, 2]);
      a.rows.forEach((row, r) => {
        const [p0, p1] = fraudReference(row);
        expect(Math.abs((a.out?.data[2 * r] as number) - p0)).toBeLessThan(TOLERANCE);
        expect(Math.abs((a.out?.data[2 * r + 1] as number) - p1)).toBeLessThan(TOLERANCE);
      });
    }
  };

  beforeAll(async () => {
    volume.init(runtimeJson({ maxBatchSize: 8, maxDelayMs: 2 }));
    const port = await freePort();
    child = spawn(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        path.join(repo, 'runtime/server.ts'),
        '--config',
        volume.file,
        '--port',
        String(port),
        '--config-poll-ms',
        '200',
      ],
      {
        env: {
          ...process.env,
          YMERA_NAMESPACE: LABELS.namespace,
          YMERA_INFERENCESERVICE: LABELS.inferenceservice,
          YMERA_REVISION: LABELS.revision,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    url = `http://127.0.0.1:${port}`;
    await eventually(
      'the runtime to be ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`runtime exited ${child.exitCode}: ${out}`);
        return (await fetch(`${url}/v2/health/ready`)).status === 200;
      },
      30_000,
      100,
    );
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(volume.dir, { recursive: true, force: true });
  });

  it('reports the start-up batching, then a changed batching live, requests answered throughout', async () => {
    await untilLimits({ maxBatchSize: 8, maxDelayMs: 2 });
    await inferMany(24, 1);

    // requests keep coming, round after round, until /metrics reports the new limits:
    // some rounds are in flight while the runtime picks the swapped file up (at least two
    // rounds, however fast the swap is seen: on a loaded machine one round may outlast it)
    let swapped = false;
    let rounds = 0;
    const during = (async () => {
      while (!swapped || rounds < 2) await inferMany(16, 100 + 16 * rounds++);
    })();
    volume.write(runtimeJson({ maxBatchSize: 32, maxDelayMs: 5 }));
    try {
      await untilLimits({ maxBatchSize: 32, maxDelayMs: 5 });
    } finally {
      swapped = true;
    }
    await during;
    await inferMany(48, 200);
    expect(logLines().some((l) => l.msg === 'batching changed live')).toBe(true);
    expect(child.exitCode).toBeNull();
  });

  it('changes other than batching are ignored with a log line; batching in the same file applies', async () => {
    volume.write(runtimeJson({ maxBatchSize: 4, maxDelayMs: 1 }, { threads: 2 }));
    await untilLimits({ maxBatchSize: 4, maxDelayMs: 1 });
    const ignored = await eventually(
      'the "ignored until a restart" log line',
      async () =>
        logLines().find((l) => String(l.msg).startsWith('config file changes ignored until a restart')),
      10_000,
      100,
    );
    expect(ignored.ignored).toEqual(['threads']);
    await inferMany(16, 300);
  });

  it('a malformed or invalid file is logged and changes nothing; a good file after it applies', async () => {
    const rejected = () => logLines().filter((l) => String(l.msg).startsWith('config file change ignored'));
    const before = rejected().length;
    volume.write('{ "batching": { "maxBatchSize": 64,');
    await eventually(
      'the malformed file to be logged',
      async () => rejected().length === before + 1,
      10_000,
      100,
    );
    expect(await limits()).toEqual({ maxBatchSize: 4, maxDelayMs: 1 });
    await inferMany(8, 400);

    volume.write(runtimeJson({ maxBatchSize: 0, maxDelayMs: 1 }));
    const invalid = await eventually(
      'the invalid file to be logged',
      async () => rejected()[before + 1],
      10_000,
      100,
    );
    expect(String(invalid.error)).toMatch(/maxBatchSize must be a number in \[1, 4096\]/);
    expect(await limits()).toEqual({ maxBatchSize: 4, maxDelayMs: 1 });
    await inferMany(8, 500);
    expect(child.exitCode).toBeNull();

    // the watcher is still alive: a good file applies
    volume.write(runtimeJson(undefined));
    await untilLimits({ maxBatchSize: 1, maxDelayMs: 0 });
    await inferMany(8, 600);
  });
});
