// Live config reload. The operator writes runtime.json into a ConfigMap; the
// kubelet swaps the mounted file atomically (the `..data` symlink) within its
// sync period. The runtime reads the file again every few seconds: a changed
// batching (maxBatchSize, maxDelayMs) applies to the live Batcher at once,
// anything else changed waits for a restart (the model and threads belong to
// the revision), and a file that cannot be used changes nothing.
//
// planReload is pure; watchConfigFile is the polling I/O.
import { readFile } from 'node:fs/promises';
import type { BatchLimits } from './batcher.ts';
import type { RuntimeConfig } from './config.ts';

export type ReloadPlan =
  | { kind: 'malformed'; error: string }
  | {
      kind: 'changed';
      /** The new batching limits, when they differ from the ones in effect. */
      batching?: BatchLimits;
      /** Dotted paths of other settings that changed: ignored until a restart. */
      ignored: string[];
    };

/** Dotted paths whose values differ between two plain JSON-like values (sorted). */
export function changedPaths(a: unknown, b: unknown, prefix = ''): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => changedPaths(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || '(root)'];
}

/** The batching fields a reload applies live; every other change waits for a restart. */
const LIVE = new Set(['batching.maxBatchSize', 'batching.maxDelayMs']);

/**
 * What a new config file's text means for a runtime running with `current`:
 * `resolve` turns the parsed file into a config the way start-up did (flags and
 * environment keep their precedence over the file). Throws nothing.
 */
export function planReload(
  current: RuntimeConfig,
  text: string,
  resolve: (file: unknown) => RuntimeConfig,
): ReloadPlan {
  let next: RuntimeConfig;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return { kind: 'malformed', error: 'the config file must hold a JSON object' };
    next = resolve(parsed);
  } catch (e) {
    return { kind: 'malformed', error: (e as Error).message };
  }
  const changed = changedPaths(current, next);
  const ignored = changed.filter((p) => !LIVE.has(p));
  const live = changed.some((p) => LIVE.has(p));
  return {
    kind: 'changed',
    ...(live
      ? { batching: { maxBatchSize: next.batching.maxBatchSize, maxDelayMs: next.batching.maxDelayMs } }
      : {}),
    ignored,
  };
}

export type ConfigWatcher = { stop(): void };

/**
 * Reads `file` every `intervalMs` and calls `onChange` with its text whenever
 * the text differs from the last one seen (the first read is the baseline:
 * the text start-up used). readFile follows the kubelet's symlinks, so an
 * atomic swap is seen as one change. A read error is reported once per
 * distinct error and the last text is kept.
 */
export function watchConfigFile(opts: {
  file: string;
  intervalMs: number;
  initial: string;
  onChange: (text: string) => void;
  onError: (error: Error) => void;
}): ConfigWatcher {
  let last = opts.initial;
  let lastError: string | undefined;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    readFile(opts.file, 'utf8')
      .then((text) => {
        lastError = undefined;
        if (text === last) return;
        last = text;
        opts.onChange(text);
      })
      .catch((e: unknown) => {
        const message = (e as Error).message;
        if (message !== lastError) opts.onError(e as Error);
        lastError = message;
      })
      .finally(() => {
        busy = false;
      });
  }, opts.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
