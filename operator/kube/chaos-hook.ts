// TEST-ONLY fault hook for the chaos suite (bench/chaos-kill.ts, `make chaos-kill`).
//
// With YMERA_CHAOS_KILL_AFTER_WRITES=<k> in its environment, the operator
// SIGKILLs itself the moment the API server has answered its k-th write
// (POST/PUT/PATCH/DELETE, not counting Lease renewals and Events), before the
// answer is handled: the write is committed, the operator never learns it,
// e.g. a child is created but the status that records it is not written. That
// is the worst moment for crash safety, which random kill times rarely hit.
// Without the variable (every real deployment; the chart never sets it) the
// hook is inert: no counter, no check on the request path.

export const CHAOS_KILL_ENV = 'YMERA_CHAOS_KILL_AFTER_WRITES';

/** Writes that are not reconcile work: leader election and Events. */
const UNCOUNTED = new Set(['leases', 'events']);

/** The k of YMERA_CHAOS_KILL_AFTER_WRITES, undefined when unset; a bad value throws naming the variable. */
export function parseKillAfterWrites(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^[1-9][0-9]{0,8}$/.test(value)) {
    throw new Error(`${CHAOS_KILL_ENV}=${JSON.stringify(value)}: must be a positive integer (1..999999999)`);
  }
  return Number(value);
}

/**
 * A counter of answered writes: `answered(resource)` returns true exactly for
 * the k-th counted write (the one after which the process must die).
 */
export function writeCounter(k: number): (resource: string) => boolean {
  let seen = 0;
  return (resource) => {
    if (UNCOUNTED.has(resource)) return false;
    seen += 1;
    return seen === k;
  };
}

/** The process-wide hook, read once from the environment; undefined (inert) without the variable. */
export const chaosKillHook: ((resource: string) => void) | undefined = (() => {
  const k = parseKillAfterWrites(process.env[CHAOS_KILL_ENV]);
  if (k === undefined) return undefined;
  const due = writeCounter(k);
  return (resource: string) => {
    if (due(resource)) process.kill(process.pid, 'SIGKILL');
  };
})();
