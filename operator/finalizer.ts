// Pure rules of the cleanup finalizer: it sits only on objects that hold
// state outside Kubernetes, and a deletion whose cleanup keeps failing (e.g.
// Kafka is down) does not hang silently: after a deadline counted from
// metadata.deletionTimestamp (so it survives operator restarts) the object
// says how to force it, and the annotation below forces it.
import type { KubeObject, ResourceType } from './kube/resources.ts';

export const FINALIZER = 'ymera.io/cleanup';
/** Set to "true" on an object being deleted: drop the finalizer without cleaning up. */
export const SKIP_CLEANUP_ANNOTATION = 'ymera.io/skip-cleanup';
/** How long cleanup may keep failing before the object says how to force the deletion. */
export const DEFAULT_FINALIZE_TIMEOUT_MS = 300_000;

export function skipCleanupRequested(annotations: Record<string, string> | undefined): boolean {
  return annotations?.[SKIP_CLEANUP_ANNOTATION]?.trim().toLowerCase() === 'true';
}

/** The finalizer list to write so that ours is present iff `wanted`; undefined when nothing changes. */
export function finalizersFor(current: readonly string[] | undefined, wanted: boolean): string[] | undefined {
  const list = current ?? [];
  const has = list.includes(FINALIZER);
  if (has === wanted) return undefined;
  return wanted ? [...list, FINALIZER] : list.filter((f) => f !== FINALIZER);
}

/** Milliseconds since deletion was requested; 0 when unknown. */
export function deletingForMs(deletionTimestamp: string | undefined, now: Date): number {
  const t = deletionTimestamp === undefined ? NaN : Date.parse(deletionTimestamp);
  return Number.isNaN(t) ? 0 : Math.max(0, now.getTime() - t);
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`;
}

/** The kubectl reference of an object, e.g. `-n ns inferenceservices.ymera.io/name`. */
export function kubectlRef(type: ResourceType, obj: Pick<KubeObject, 'metadata'>): string {
  const resource = type.group ? `${type.plural}.${type.group}` : type.plural;
  const ns = obj.metadata.namespace ? `-n ${obj.metadata.namespace} ` : '';
  return `${ns}${resource}/${obj.metadata.name}`;
}

/**
 * The message of the CleanupBlocked condition and Warning Event: what fails,
 * for longer than the finalize timeout, and the two ways to force the deletion.
 */
export function cleanupBlockedMessage(
  type: ResourceType,
  obj: Pick<KubeObject, 'metadata'>,
  timeoutMs: number,
  error: string,
): string {
  const ref = kubectlRef(type, obj);
  // the timeout, not the time so far: the message (and so the status) must not change on every retry
  return (
    `cleanup of external state has failed for more than ${duration(timeoutMs)} (${error}); the operator keeps retrying. ` +
    `To delete without cleanup (what the object holds outside Kubernetes, e.g. its Kafka topics, stays): ` +
    `kubectl annotate ${ref} ${SKIP_CLEANUP_ANNOTATION}=true, ` +
    `or remove the finalizer: kubectl patch ${ref} --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]'`
  );
}
