// What failed in a reconcile, as a user should read it in status: a reason
// that names the failure class, the API's own message (credentials hidden),
// and whether retrying alone can fix it. Pure: the runtime (manager.ts) and
// the controllers that keep going past a refused child both use it, so every
// kind words the same failure the same way.
import { ChildrenFailedError } from './child-failures.ts';
import type { Condition } from './conditions.ts';
import { ConditionType, getCondition, summarize } from './conditions.ts';
import { KafkaRequestError, KafkaUnavailableError } from './kafka/client.ts';
import { KubeApiError } from './kube/client.ts';
import { redactString } from './logger.ts';
import { PrometheusUnavailableError } from './prometheus/client.ts';
import { ObjectStoreError } from './storage/errors.ts';
import { clip } from './text.ts';

/** Reasons of a failed reconcile (CamelCase, metav1.Condition reasons). */
export const FailureReason = {
  /** A ResourceQuota of the namespace refused a child (or its pods). */
  QuotaExceeded: 'QuotaExceeded',
  /** An admission policy or webhook denied a child. */
  AdmissionDenied: 'AdmissionDenied',
  /** The API server refused or failed to apply a child object. */
  ChildApplyFailed: 'ChildApplyFailed',
  /** The operator's own RBAC does not allow the request. */
  PermissionDenied: 'PermissionDenied',
  /** The object or a child changed under the operator, again and again. */
  Conflict: 'Conflict',
  /** The API server asked the operator to slow down (429). */
  Throttled: 'Throttled',
  /** The API server could not be reached or failed the request (5xx). */
  APIServerUnavailable: 'APIServerUnavailable',
  /** Kafka, Prometheus or object storage could not be reached or refused the request. */
  DependencyUnavailable: 'DependencyUnavailable',
  /** Anything else: the reconcile threw. */
  ReconcileError: 'ReconcileError',
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];

export interface ReconcileFailure {
  /** A FailureReason, or a controller's own (e.g. ResourceConflict). */
  reason: string;
  message: string;
  /** True when a retry alone can succeed (Reconciling); false when someone must act (Stalled). */
  transient: boolean;
}

/**
 * A failure its thrower has already put in words (reason, message, whether a
 * retry can fix it), e.g. a deletion whose cleanup has failed past its
 * timeout: the runtime writes it to status as given and retries with backoff.
 */
export class DescribedFailure extends Error {
  readonly failure: ReconcileFailure;
  constructor(failure: ReconcileFailure, options?: { cause?: unknown }) {
    super(failure.message, options);
    this.name = 'DescribedFailure';
    this.failure = failure;
  }
}

/**
 * Thrown by a controller after it wrote a failure into the object's status
 * itself (with the rest of what it observed): the runtime then only counts
 * it, tells it in an Event and retries with backoff — a quota raised or a
 * policy removed needs no change to the object to be noticed.
 */
export class FailureReported extends Error {
  readonly failure: ReconcileFailure;
  constructor(failure: ReconcileFailure) {
    super(failure.message);
    this.name = 'FailureReported';
    this.failure = failure;
  }
}

// The API server's words for these refusals (apiserver admission plugins).
const QUOTA = /exceeded quota|forbidden: exceeded|insufficient quota/i;
const ADMISSION =
  /ValidatingAdmissionPolicy|admission webhook .* denied|denied the request|denied request|violates PodSecurity/i;

const MAX_MESSAGE = 1024;

/** QuotaExceeded or AdmissionDenied when an API message is one of those refusals (e.g. a ReplicaSet's FailedCreate). */
export function refusalReason(message: string): 'QuotaExceeded' | 'AdmissionDenied' | undefined {
  if (QUOTA.test(message)) return FailureReason.QuotaExceeded;
  if (ADMISSION.test(message)) return FailureReason.AdmissionDenied;
  return undefined;
}

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * Classifies a reconcile error. The message keeps the API server's words
 * (they name the quota, the policy, the field) with inline credentials hidden
 * and is cut to a readable length.
 */
export function classifyFailure(error: unknown): ReconcileFailure {
  if (error instanceof FailureReported || error instanceof DescribedFailure) return error.failure;

  const message = clip(redactString(messageOf(error)), MAX_MESSAGE);
  // applyChildren's error: every child it could not apply or prune, named "Kind/name: message"
  const isChild = error instanceof ChildrenFailedError;
  if (error instanceof KubeApiError) {
    const text = error.message;
    if ((error.status === 403 || error.status === 422) && QUOTA.test(text)) {
      return { reason: FailureReason.QuotaExceeded, message, transient: false };
    }
    if ((error.status === 403 || error.status === 400 || error.status === 422) && ADMISSION.test(text)) {
      return { reason: FailureReason.AdmissionDenied, message, transient: false };
    }
    if (error.status === 409) return { reason: FailureReason.Conflict, message, transient: true };
    if (error.status === 429) return { reason: FailureReason.Throttled, message, transient: true };
    if (error.status === 0 || error.status >= 500) {
      // a 5xx on a child apply (e.g. "failed to allocate a serviceIP: range is full") is about that child
      return {
        reason: isChild ? FailureReason.ChildApplyFailed : FailureReason.APIServerUnavailable,
        message,
        transient: true,
      };
    }
    if (error.status === 403 || error.status === 401) {
      return { reason: FailureReason.PermissionDenied, message, transient: false };
    }
    return {
      reason: isChild ? FailureReason.ChildApplyFailed : FailureReason.ReconcileError,
      message,
      transient: false,
    };
  }
  if (
    error instanceof KafkaUnavailableError ||
    error instanceof KafkaRequestError ||
    error instanceof PrometheusUnavailableError ||
    error instanceof ObjectStoreError
  ) {
    return { reason: FailureReason.DependencyUnavailable, message, transient: true };
  }
  return { reason: FailureReason.ReconcileError, message, transient: true };
}

/**
 * The status to write for a failed reconcile: what was stored, with
 * `observedGeneration` of this attempt and the kstatus summary saying why
 * (Ready=False with the failure's reason; Reconciling=True while a retry can
 * fix it, Stalled=True while someone must act). Kind-specific conditions stay
 * as they were, with their own observedGeneration: they still describe what
 * was last observed.
 */
export function failedStatus(
  previous: Readonly<Record<string, unknown>> | undefined,
  failure: ReconcileFailure,
  generation: number,
  now: Date,
): Record<string, unknown> {
  const before = (previous?.conditions as Condition[] | undefined) ?? [];
  const why = { reason: failure.reason, message: failure.message };
  const conditions = summarize(
    {
      generation,
      ready: { status: 'False', ...why },
      reconciling: failure.transient ? why : null,
      stalled: failure.transient ? null : why,
      extra: before
        .filter((c) => !SUMMARY_CONDITIONS.has(c.type))
        .map(({ type, status, reason, message, observedGeneration }) => ({
          type,
          status,
          reason,
          message,
          ...(observedGeneration !== undefined ? { observedGeneration } : {}),
        })),
    },
    before,
    now,
  );
  return { ...previous, observedGeneration: generation, conditions };
}

const SUMMARY_CONDITIONS = new Set<string>(Object.values(ConditionType));

/** Whether the stored Ready condition already tells this failure (then no new Event is due). */
export function alreadyReported(
  previous: Readonly<Record<string, unknown>> | undefined,
  failure: ReconcileFailure,
): boolean {
  const ready = getCondition(previous?.conditions as Condition[] | undefined, ConditionType.Ready);
  return ready?.status === 'False' && ready.reason === failure.reason && ready.message === failure.message;
}
