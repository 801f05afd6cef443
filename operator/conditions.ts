// metav1.Condition helpers and the kstatus summary every controller writes.
//
// Status must not churn for a converged object (GitOps tools diff it), so:
// lastTransitionTime changes only when status changes, times are truncated
// to whole seconds (what the API server stores), and callers compare with
// conditionsEqualIgnoringTime before patching.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export type Condition = {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
};

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** The kstatus condition types present on every ymera resource. */
export const ConditionType = {
  /** Summary: the object is in the state its spec asks for. */
  Ready: 'Ready',
  /** The controller is working towards the spec (abnormal-true). */
  Reconciling: 'Reconciling',
  /** The controller cannot make progress without a change from the user (abnormal-true). */
  Stalled: 'Stalled',
} as const;

/**
 * Reason vocabulary (CamelCase, as metav1.Condition requires). Controllers
 * use these rather than ad-hoc strings so users can match on them.
 */
export const Reason = {
  /** The spec is invalid in a way only the controller can judge; the message names the field. */
  InvalidSpec: 'InvalidSpec',
  /** The spec asks for something this version of the operator does not implement yet. */
  NotImplemented: 'NotImplemented',
  /** The spec asks for something the cluster or environment cannot provide (e.g. a model format). */
  NotSupported: 'NotSupported',
  /** A child object exists but is owned or managed by someone else. */
  ResourceConflict: 'ResourceConflict',
  /** The Kafka cluster could not be reached or refused the request. */
  KafkaUnavailable: 'KafkaUnavailable',
  /** Prometheus could not be queried or its rules could not be written. */
  PrometheusUnavailable: 'PrometheusUnavailable',
  /** A canary or new revision failed analysis and traffic went back to the stable one. */
  RolledBack: 'RolledBack',
  /** No schedulable node offers the requested GPUs. */
  InsufficientGPU: 'InsufficientGPU',
  /** Children are being created or updated and are not ready yet. */
  Progressing: 'Progressing',
  /** A finite piece of work (a run, a backup, a drill) finished successfully. */
  Succeeded: 'Succeeded',
  /** Everything the spec asks for is in place. */
  Reconciled: 'Reconciled',
  /** The object is being deleted and finalizer steps are running. */
  Deleting: 'Deleting',
  /** Applying a child object failed (transient; retried with backoff). */
  ApplyFailed: 'ApplyFailed',
  /** A Kafka topic name outside what the resource's namespace may use. */
  TopicNotAllowed: 'TopicNotAllowed',
  /** Another resource claimed the same Kafka topic first. */
  TopicConflict: 'TopicConflict',
  /** The Kafka topic exists and was not created by this resource, which did not opt in to adopt it. */
  TopicExists: 'TopicExists',
  /** Deleting: cleaning up external state keeps failing; the message says how to force the deletion. */
  CleanupBlocked: 'CleanupBlocked',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

// metav1.Condition validation, enforced by the API server.
const REASON_PATTERN = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const MAX_REASON = 1024;
const MAX_MESSAGE = 32768;

/** RFC 3339 at second precision, the form metav1.Time round-trips (conditions and every time in status). */
export function metaTime(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z');
}

function validated(next: ConditionInput): ConditionInput {
  if (!next.type) throw new TypeError('condition type must not be empty');
  if (!REASON_PATTERN.test(next.reason) || next.reason.length > MAX_REASON) {
    throw new TypeError(`condition ${next.type}: reason ${JSON.stringify(next.reason)} is not CamelCase`);
  }
  const g = next.observedGeneration;
  if (g !== undefined && (!Number.isInteger(g) || g < 0)) {
    throw new TypeError(`condition ${next.type}: observedGeneration must be a non-negative integer`);
  }
  // A long error text must not make the whole status patch invalid.
  const message =
    next.message.length > MAX_MESSAGE ? next.message.slice(0, MAX_MESSAGE - 3) + '...' : next.message;
  return { ...next, message };
}

/**
 * Returns a new list with `next` set: added at the end if new, otherwise
 * updated in place, keeping lastTransitionTime when the status is unchanged.
 */
export function setCondition(
  list: readonly Condition[] | undefined,
  next: ConditionInput,
  now: Date,
): Condition[] {
  const input = validated(next);
  const current = list ?? [];
  const previous = current.find((c) => c.type === input.type);
  const condition: Condition = {
    type: input.type,
    status: input.status,
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
    lastTransitionTime:
      previous && previous.status === input.status ? previous.lastTransitionTime : metaTime(now),
    reason: input.reason,
    message: input.message,
  };
  if (!previous) return [...current, condition];
  return current.map((c) => (c.type === input.type ? condition : c));
}

export function removeCondition(list: readonly Condition[] | undefined, type: string): Condition[] {
  return (list ?? []).filter((c) => c.type !== type);
}

export function getCondition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}

export function isTrue(list: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(list, type)?.status === 'True';
}

/**
 * True when both lists hold the same conditions apart from
 * lastTransitionTime, in any order: then no status patch is needed.
 */
export function conditionsEqualIgnoringTime(
  a: readonly Condition[] | undefined,
  b: readonly Condition[] | undefined,
): boolean {
  const left = a ?? [];
  const right = b ?? [];
  if (left.length !== right.length) return false;
  const same = (x: Condition, y: Condition | undefined) =>
    y !== undefined &&
    y.status === x.status &&
    y.reason === x.reason &&
    y.message === x.message &&
    y.observedGeneration === x.observedGeneration;
  // Both directions, so duplicated types cannot mask a missing one.
  return (
    left.every((x) =>
      same(
        x,
        right.find((c) => c.type === x.type),
      ),
    ) &&
    right.every((y) =>
      same(
        y,
        left.find((c) => c.type === y.type),
      ),
    )
  );
}

export type ReasonMessage = { reason: string; message: string };

export type SummaryInput = {
  /** metadata.generation of the object; stamped on every condition. */
  generation: number;
  /** Explicit Ready; derived from stalled/reconciling when omitted. */
  ready?: { status: ConditionStatus } & ReasonMessage;
  /** Set while working towards the spec; null/undefined when converged. */
  reconciling?: ReasonMessage | null;
  /** Set when progress needs a user change (e.g. InvalidSpec); null/undefined otherwise. */
  stalled?: ReasonMessage | null;
  /** Kind-specific conditions (e.g. ModelLoaded); observedGeneration defaults to generation. */
  extra?: readonly (Omit<ConditionInput, 'observedGeneration'> & { observedGeneration?: number })[];
};

const SUMMARY_TYPES = new Set<string>(Object.values(ConditionType));

/**
 * Builds the complete condition list from what the controller observed.
 *
 * Polarity (kstatus "abnormal-true"): Reconciling and Stalled are present
 * only while True and are removed otherwise, so a healthy object shows just
 * Ready plus its kind-specific conditions. Ready is always present.
 *
 * Invariants the caller cannot break:
 * - Stalled wins over Reconciling (no progress is being made), and a stalled
 *   object is never Ready=True: Ready becomes False with the stalled reason.
 * - Without an explicit `ready`: stalled → False, reconciling → Unknown
 *   (outcome not known yet), otherwise True/Reconciled.
 *
 * `previous` only supplies lastTransitionTime; conditions not produced here
 * are dropped, as status is a function of the current observation.
 */
export function summarize(
  input: SummaryInput,
  previous: readonly Condition[] | undefined,
  now: Date,
): Condition[] {
  const generation = input.generation;
  const stalled = input.stalled ?? null;
  const reconciling = stalled ? null : (input.reconciling ?? null);

  let ready: ConditionInput;
  if (stalled && (!input.ready || input.ready.status === 'True')) {
    ready = { type: ConditionType.Ready, status: 'False', ...stalled, observedGeneration: generation };
  } else if (input.ready) {
    ready = { type: ConditionType.Ready, ...input.ready, observedGeneration: generation };
  } else if (reconciling) {
    ready = { type: ConditionType.Ready, status: 'Unknown', ...reconciling, observedGeneration: generation };
  } else {
    ready = {
      type: ConditionType.Ready,
      status: 'True',
      reason: Reason.Reconciled,
      message: 'All resources are ready',
      observedGeneration: generation,
    };
  }

  const wanted: ConditionInput[] = [ready];
  if (reconciling) {
    wanted.push({
      type: ConditionType.Reconciling,
      status: 'True',
      ...reconciling,
      observedGeneration: generation,
    });
  }
  if (stalled) {
    wanted.push({ type: ConditionType.Stalled, status: 'True', ...stalled, observedGeneration: generation });
  }
  for (const c of input.extra ?? []) {
    if (SUMMARY_TYPES.has(c.type)) {
      throw new TypeError(`summarize: ${c.type} is managed by summarize, not an extra condition`);
    }
    if (wanted.some((w) => w.type === c.type)) {
      throw new TypeError(`summarize: condition ${c.type} given twice`);
    }
    wanted.push({ ...c, observedGeneration: c.observedGeneration ?? generation });
  }

  // Reuse previous entries so unchanged statuses keep their transition time.
  const out: Condition[] = [];
  for (const w of wanted) {
    const prior = getCondition(previous, w.type);
    out.push(...setCondition(prior ? [prior] : [], w, now));
  }
  return out;
}
