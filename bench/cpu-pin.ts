// CPU layout for bench/inference.ts, to stand in for clients on other machines when
// the load generator has to share the server's box:
// - the server's inference thread gets a core to itself; the server's other threads
//   (event loop, libuv, V8) and the load generator share the rest. Left to the
//   scheduler, three busy threads on two cores time-slice and a batch is preempted
//   mid-GEMM: in an interleaved A/B on this 2-core VM the same setting spread over
//   13–20k req/s unpinned against 15–16k pinned. (A Guaranteed pod under the kubelet's
//   static CPU manager gets exclusive cores too.)
// - the load generator runs SCHED_BATCH, so a response arriving does not preempt the
//   server mid-request (a remote client never could): each side then handles many
//   sockets per wake-up, and the generator's latency clock keeps running while it
//   waits for the CPU, so its p99 errs high, not low. A/B on the pinned layout: 16–20k
//   → 19–20.5k req/s, the generator's CPU per request 14–18 → 12–13 µs.
// Linux only (/proc, util-linux taskset and chrt); BENCH_PIN=0 turns it all off.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import type { InferenceThread } from '../runtime/config.ts';
import { INFERENCE_THREAD_NAME } from '../runtime/worker-engine.ts';

export type CpuLayout = { inference: number; rest: number[] };
export type Task = { tid: number; comm: string; cpuTicks: number };

/** "0-3,5" (a Cpus_allowed_list) → [0, 1, 2, 3, 5]. */
export function parseCpuList(list: string): number[] {
  const cpus = new Set<number>();
  for (const part of list.trim().split(',')) {
    if (!part) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`not a CPU list: "${list}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** The last allowed CPU for inference, the others for everything else; none with fewer than two. */
export function planLayout(cpus: number[]): CpuLayout | undefined {
  if (cpus.length < 2) return undefined;
  return { inference: cpus[cpus.length - 1]!, rest: cpus.slice(0, -1) };
}

/** One line of /proc/<pid>/task/<tid>/stat → name and user+system ticks (the name may hold spaces and parentheses). */
export function parseTaskStat(tid: number, stat: string): Task {
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`unreadable stat for task ${tid}`);
  // after ") ": state(3) ppid(4) … utime(14) stime(15); index 0 here is field 3
  const fields = stat.slice(close + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable stat for task ${tid}`);
  return { tid, comm: stat.slice(open + 1, close), cpuTicks: utime + stime };
}

/**
 * The thread that runs session.run: the main thread (tid = pid) for `main`; for `worker`,
 * the busiest thread named INFERENCE_THREAD_NAME (Node starts a second, idle one of that
 * name per Worker, after it); with no ticks counted yet (10 ms each), the first started.
 */
export function pickInferenceThread(tasks: Task[], pid: number, inferenceThread: InferenceThread): number {
  if (inferenceThread === 'main') return pid;
  const named = tasks
    .filter((t) => t.comm === INFERENCE_THREAD_NAME)
    .sort((a, b) => b.cpuTicks - a.cpuTicks || a.tid - b.tid);
  if (!named[0]) throw new Error(`no "${INFERENCE_THREAD_NAME}" thread in process ${pid}`);
  return named[0].tid;
}

/** The CPUs this process may run on, or undefined where that cannot be read (not Linux). */
export function allowedCpus(): number[] | undefined {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? parseCpuList(m[1]!) : undefined;
  } catch {
    return undefined;
  }
}

/** The layout to run with: undefined when BENCH_PIN=0, on one CPU, or without /proc, taskset and chrt. */
export function layoutFromEnv(env: NodeJS.ProcessEnv = process.env): CpuLayout | undefined {
  if (env.BENCH_PIN === '0') return undefined;
  const cpus = allowedCpus();
  const has = (tool: string) => spawnSync(tool, ['--version']).status === 0;
  if (!cpus || !has('taskset') || !has('chrt')) return undefined;
  return planLayout(cpus);
}

function tasksOf(pid: number): Task[] {
  return readdirSync(`/proc/${pid}/task`).map((t) =>
    parseTaskStat(Number(t), readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8')),
  );
}

function taskset(args: string[]): void {
  const r = spawnSync('taskset', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.status}`}`);
}

function affinityOf(pid: number, tid: number): number[] {
  const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
  return m ? parseCpuList(m[1]!) : [];
}

/** Pins a running server per the layout and checks it took; returns the inference thread's tid. */
export function pinServer(pid: number, inferenceThread: InferenceThread, layout: CpuLayout): number {
  const tid = pickInferenceThread(tasksOf(pid), pid, inferenceThread);
  // every thread to the shared CPUs (threads started later inherit it), then the one off them
  taskset(['-a', '-p', '-c', layout.rest.join(','), String(pid)]);
  taskset(['-p', '-c', String(layout.inference), String(tid)]);
  const got = affinityOf(pid, tid);
  if (got.length !== 1 || got[0] !== layout.inference)
    throw new Error(`inference thread ${tid} runs on [${got}], not on CPU ${layout.inference}`);
  return tid;
}

/**
 * The command prefix for the load generator: SCHED_BATCH wherever the layout is in use,
 * and on the shared CPUs when the server is pinned.
 */
export const loadgenPrefix = (layout: CpuLayout, serverPinned: boolean): string[] => [
  'chrt',
  '--batch',
  '0',
  ...(serverPinned ? ['taskset', '-c', layout.rest.join(',')] : []),
];

/** "1 | 0" (inference | shared) for the tables. */
export const describeLayout = (layout: CpuLayout): string => `${layout.inference} | ${layout.rest.join(',')}`;
