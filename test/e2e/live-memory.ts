// Live memory for the bounded-memory e2e tests: what a transfer holds, not
// garbage waiting to be freed.
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * A full garbage collection whose freed ArrayBuffers are returned before it
 * ends. One gc() is not enough: V8 frees dead ArrayBuffer backing stores on a
 * concurrent sweeper that finishes only when the next collection starts, so
 * `memoryUsage().arrayBuffers` after a single gc() still counts the previous
 * cycle's garbage (60 MiB of it after 60 dropped 1 MiB buffers, measured),
 * which made a bound on live memory fail at random. The second collection
 * completes the first one's sweep and has nothing of its own to free.
 */
export function settledGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}
