import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from './config.ts';
import type { Flags } from './config.ts';
import { changedPaths, planReload, watchConfigFile } from './reload.ts';

const model = { name: 'fraud', uri: 'file:///m/fraud.onnx', version: '1' };
const file = (extra: Record<string, unknown> = {}) => ({
  model,
  batching: { maxBatchSize: 8, maxDelayMs: 2 },
  ...extra,
});
const resolver =
  (flags: Flags = {}, env: Record<string, string> = {}) =>
  (f: unknown) =>
    resolveConfig(f, flags, env);
const text = (v: unknown) => JSON.stringify(v);

describe('changedPaths', () => {
  it('lists the dotted paths that differ', () => {
    expect(changedPaths({ a: 1, b: { c: 2, d: [1] } }, { a: 1, b: { c: 3, d: [1, 2] }, e: 'x' })).toEqual([
      'b.c',
      'b.d',
      'e',
    ]);
    expect(changedPaths({ a: { b: 1 } }, { a: { b: 1 } })).toEqual([]);
  });
});

describe('planReload', () => {
  const current = resolver()(file());

  it('a changed batching is applied live, nothing ignored', () => {
    const plan = planReload(
      current,
      text(file({ batching: { maxBatchSize: 32, maxDelayMs: 7.5 } })),
      resolver(),
    );
    expect(plan).toEqual({ kind: 'changed', batching: { maxBatchSize: 32, maxDelayMs: 7.5 }, ignored: [] });
  });

  it('the same values (another key order, whitespace) change nothing', () => {
    const same = `{ "batching": { "maxDelayMs": 2, "maxBatchSize": 8 },\n "model": ${text(model)} }`;
    expect(planReload(current, same, resolver())).toEqual({ kind: 'changed', ignored: [] });
  });

  it('other changes are named as ignored until a restart, batching still applies', () => {
    const plan = planReload(
      current,
      text({
        model: { ...model, uri: 'file:///m/other.onnx' },
        batching: { maxBatchSize: 4, maxDelayMs: 2, maxConcurrentBatches: 5 },
        threads: 3,
      }),
      resolver(),
    );
    expect(plan).toEqual({
      kind: 'changed',
      batching: { maxBatchSize: 4, maxDelayMs: 2 },
      ignored: ['batching.maxConcurrentBatches', 'model.uri', 'threads'],
    });
  });

  it('a file without batching means no batching (maxBatchSize 1), as at start-up', () => {
    expect(planReload(current, text({ model }), resolver())).toEqual({
      kind: 'changed',
      batching: { maxBatchSize: 1, maxDelayMs: 0 },
      ignored: [],
    });
  });

  it('a flag keeps its precedence over the file', () => {
    const pinned = resolver({ 'max-batch-size': '8' });
    const plan = planReload(
      pinned(file()),
      text(file({ batching: { maxBatchSize: 64, maxDelayMs: 3 } })),
      pinned,
    );
    expect(plan).toEqual({ kind: 'changed', batching: { maxBatchSize: 8, maxDelayMs: 3 }, ignored: [] });
  });

  it('malformed or invalid files are reported, never thrown', () => {
    expect(planReload(current, '{"batching": ', resolver())).toMatchObject({ kind: 'malformed' });
    expect(planReload(current, '[1]', resolver())).toEqual({
      kind: 'malformed',
      error: 'the config file must hold a JSON object',
    });
    expect(
      planReload(current, text(file({ batching: { maxBatchSize: 0, maxDelayMs: 1 } })), resolver()),
    ).toEqual({ kind: 'malformed', error: 'maxBatchSize must be a number in [1, 4096] (got 0)' });
    expect(planReload(current, text({ batching: { maxBatchSize: 2 } }), resolver())).toMatchObject({
      kind: 'malformed',
      error: expect.stringMatching(/no model/) as unknown,
    });
  });
});

describe('watchConfigFile', () => {
  it('reports a swapped ..data symlink once, and read errors once', async () => {
    // the kubelet's layout: runtime.json -> ..data/runtime.json, ..data -> ..<timestamp>
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ymera-reload-'));
    const put = (name: string, content: string) => {
      mkdirSync(path.join(dir, name));
      writeFileSync(path.join(dir, name, 'runtime.json'), content);
    };
    put('..v1', 'one');
    symlinkSync('..v1', path.join(dir, '..data'));
    symlinkSync('..data/runtime.json', path.join(dir, 'runtime.json'));
    const seen: string[] = [];
    const errors: string[] = [];
    const w = watchConfigFile({
      file: path.join(dir, 'runtime.json'),
      intervalMs: 10,
      initial: 'one',
      onChange: (t) => seen.push(t),
      onError: (e) => errors.push(e.message),
    });
    try {
      put('..v2', 'two');
      symlinkSync('..v2', path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      await until(() => seen.length === 1);
      expect(seen).toEqual(['two']);
      // a dangling link: one error, then the next good content
      symlinkSync('..gone', path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      await until(() => errors.length === 1);
      // several more polls of the same dangling link add no error
      await new Promise((r) => setTimeout(r, 60));
      expect(errors).toHaveLength(1);
      put('..v3', 'three');
      symlinkSync('..v3', path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      await until(() => seen.length === 2);
      expect(seen).toEqual(['two', 'three']);
    } finally {
      w.stop();
    }
  });
});

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}
