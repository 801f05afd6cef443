import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { INFERENCE_THREAD_NAME } from '../runtime/worker-engine.ts';
import {
  allowedCpus,
  parseCpuList,
  loadgenPrefix,
  parseTaskStat,
  pickInferenceThread,
  pinServer,
  planLayout,
} from './cpu-pin.ts';

const stat = (tid: number, comm: string, utime: number, stime: number) =>
  `${tid} (${comm}) S 1 1 1 0 -1 4194560 100 0 0 0 ${utime} ${stime} 0 0 20 0 1 0 1885113 3133440 390`;

describe('parseCpuList', () => {
  it('expands ranges and single CPUs, sorted and without repeats', () => {
    expect(parseCpuList('0-3,5')).toEqual([0, 1, 2, 3, 5]);
    expect(parseCpuList('7,1,1-2\n')).toEqual([1, 2, 7]);
    expect(parseCpuList('0')).toEqual([0]);
  });
  it('rejects what is not a CPU list', () => {
    expect(() => parseCpuList('0-a')).toThrow(/not a CPU list/);
  });
});

describe('planLayout', () => {
  it('gives the last CPU to inference and the others to everything else', () => {
    expect(planLayout([0, 1])).toEqual({ inference: 1, rest: [0] });
    expect(planLayout([2, 4, 6])).toEqual({ inference: 6, rest: [2, 4] });
  });
  it('does not pin on a single CPU', () => {
    expect(planLayout([0])).toBeUndefined();
  });
});

describe('loadgenPrefix', () => {
  const layout = { inference: 3, rest: [0, 1, 2] };
  it('runs the load generator SCHED_BATCH, on the shared CPUs when the server is pinned', () => {
    expect(loadgenPrefix(layout, true)).toEqual(['chrt', '--batch', '0', 'taskset', '-c', '0,1,2']);
    expect(loadgenPrefix(layout, false)).toEqual(['chrt', '--batch', '0']);
  });
});

describe('parseTaskStat', () => {
  it('reads the name and user+system ticks', () => {
    expect(parseTaskStat(12, stat(12, 'ymera-inference', 340, 8))).toEqual({
      tid: 12,
      comm: 'ymera-inference',
      cpuTicks: 348,
    });
  });
  it('keeps a name with spaces and parentheses whole', () => {
    expect(parseTaskStat(3, stat(3, 'a (b) c', 1, 2)).comm).toBe('a (b) c');
  });
  it('rejects a line it cannot read', () => {
    expect(() => parseTaskStat(3, 'garbage')).toThrow(/task 3/);
  });
});

describe('pickInferenceThread', () => {
  const tasks = [
    { tid: 100, comm: 'MainThread', cpuTicks: 500 },
    { tid: 108, comm: INFERENCE_THREAD_NAME, cpuTicks: 0 },
    { tid: 107, comm: INFERENCE_THREAD_NAME, cpuTicks: 320 },
  ];
  it('is the main thread when inference runs on the event loop', () => {
    expect(pickInferenceThread(tasks, 100, 'main')).toBe(100);
  });
  it('is the busy thread of that name for the worker', () => {
    expect(pickInferenceThread(tasks, 100, 'worker')).toBe(107);
  });
  it('is the first started of that name before any ticks are counted', () => {
    const idle = tasks.map((t) => ({ ...t, cpuTicks: 0 }));
    expect(pickInferenceThread(idle, 100, 'worker')).toBe(107);
  });
  it('fails rather than pin the wrong thread', () => {
    expect(() => pickInferenceThread(tasks.slice(0, 1), 100, 'worker')).toThrow(/no "ymera-inference"/);
  });
});

const layout = planLayout(allowedCpus() ?? []);
const hasTaskset = spawnSync('taskset', ['--version']).status === 0;

describe.skipIf(!layout || !hasTaskset)('pinServer on a real process', () => {
  it('puts the named worker thread alone on its CPU and every other thread on the rest', async () => {
    // a worker of that name that has done some work, like the runtime's after warm-up
    const script = `
      const { Worker } = require('node:worker_threads');
      const w = new Worker('const t = Date.now() + 150; while (Date.now() < t); require("node:worker_threads").parentPort.postMessage(1); setInterval(() => {}, 1000)', { eval: true, name: '${INFERENCE_THREAD_NAME}' });
      w.once('message', () => console.log('ready'));`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      const pid = child.pid!;
      const tid = pinServer(pid, 'worker', layout!);
      expect(tid).not.toBe(pid);
      const allowed = (t: number) =>
        parseCpuList(
          /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))![1]!,
        );
      expect(allowed(tid)).toEqual([layout!.inference]);
      expect(allowed(pid)).toEqual(layout!.rest);
    } finally {
      child.kill();
    }
  });
});
