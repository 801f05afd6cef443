// Pure: failures of single children in one applyChildren call, gathered into
// one error. Every child is applied and every undesired one pruned even when
// some fail, so one rejected child (say a rules ConfigMap) cannot keep a
// rolled-back canary's Deployment alive; the caller then sees all failures.
import { isTransient, KubeApiError } from './kube/client.ts';
import type { KubeObject } from './kube/resources.ts';

export interface ChildFailure {
  /** apply: server-side apply of a desired child; prune: deletion of one no longer desired. */
  action: 'apply' | 'prune';
  kind: string;
  name: string;
  /** The API server's message (or the error's, without an answer). */
  message: string;
  /** HTTP status; 0 when no answer came (network, timeout). */
  status: number;
  reason: string;
  transient: boolean;
}

/** What applyChildren did. */
export interface ApplyResult {
  applied: KubeObject[];
  pruned: KubeObject[];
}

export function childFailure(
  action: ChildFailure['action'],
  kind: string,
  name: string,
  error: unknown,
): ChildFailure {
  const api = error instanceof KubeApiError ? error : undefined;
  return {
    action,
    kind,
    name,
    message: error instanceof Error ? error.message : String(error),
    status: api?.status ?? 0,
    reason: api?.reason ?? 'Unknown',
    transient: isTransient(error),
  };
}

/** `Kind/name: message` for each failure; a pruning failure says so. */
export function describeFailures(failures: readonly ChildFailure[]): string {
  return failures
    .map((f) => `${f.kind}/${f.name}${f.action === 'prune' ? ' (prune)' : ''}: ${f.message}`)
    .join('; ');
}

/**
 * The failures of one applyChildren call as one KubeApiError, so callers keep
 * telling transient from permanent with isTransient: any transient failure
 * makes the whole transient (a retry may fix it); otherwise the first
 * failure's status. `result` says what did succeed.
 */
export class ChildrenFailedError extends KubeApiError {
  readonly failures: readonly ChildFailure[];
  readonly result: ApplyResult;
  constructor(failures: readonly ChildFailure[], result: ApplyResult) {
    const [first] = failures;
    if (!first) throw new Error('ChildrenFailedError needs at least one failure');
    const lead = failures.find((f) => f.transient) ?? first;
    super(lead.status, lead.reason, describeFailures(failures));
    this.name = 'ChildrenFailedError';
    this.failures = failures;
    this.result = result;
  }
}
