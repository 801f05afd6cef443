// A memory trace of the operator during a bench run (not part of any
// measurement): preloaded with --import, it appends process.memoryUsage()
// every 250 ms (MEMTRACE_MS) and every GC (kind 1 scavenge, 4 mark-compact, 8 incremental
// marking) to $MEMTRACE_FILE, in the operator process only (startOperator
// passes NODE_OPTIONS and the environment on). Used to find what the RSS
// growth of bench/backup.ts is made of:
//
//   MEMTRACE_FILE=/tmp/trace.log NODE_OPTIONS="--import $PWD/bench/memtrace.ts" make bench-backup
import { appendFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

const file = process.env.MEMTRACE_FILE;
if (file && process.argv.some((a) => a.endsWith('operator/main.ts'))) {
  const MiB = (n: number) => (n / 1024 / 1024).toFixed(1);
  const t0 = Date.now();
  setInterval(
    () => {
      const m = process.memoryUsage();
      appendFileSync(
        file,
        `${((Date.now() - t0) / 1000).toFixed(2)} rss=${MiB(m.rss)} heapTotal=${MiB(m.heapTotal)} ` +
          `heapUsed=${MiB(m.heapUsed)} external=${MiB(m.external)} arrayBuffers=${MiB(m.arrayBuffers)}\n`,
      );
    },
    Number(process.env.MEMTRACE_MS ?? 250),
  ).unref();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      appendFileSync(
        file,
        `${((Date.now() - t0) / 1000).toFixed(2)} gc kind=${kind} ${e.duration.toFixed(1)}ms\n`,
      );
    }
  }).observe({ entryTypes: ['gc'] });
}
