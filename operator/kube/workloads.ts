// Pure helpers over observed workload objects (Pods, Deployments): why a pod
// is not serving, in words a user can act on. Controllers turn the first
// failure into a condition reason instead of reporting a silent Pending.
import { refusalReason } from '../failure.ts';
import type { KubeObject } from './resources.ts';

export interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: string };
  terminated?: { exitCode?: number; reason?: string; message?: string };
}

export interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: ContainerState;
  lastState?: ContainerState;
}

export interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export type PodObject = KubeObject & {
  spec?: { nodeName?: string; [field: string]: unknown };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: PodCondition[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
};

export type DeploymentObject = KubeObject & {
  spec?: { replicas?: number; [field: string]: unknown };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
    conditions?: PodCondition[];
  };
};

/** Reasons a pod cannot serve that will not fix themselves by waiting. */
export const PodFailureReason = {
  CrashLoopBackOff: 'CrashLoopBackOff',
  ImagePullBackOff: 'ImagePullBackOff',
  OOMKilled: 'OOMKilled',
  ContainerFailed: 'ContainerFailed',
  PodFailed: 'PodFailed',
  ConfigError: 'CreateContainerConfigError',
  InsufficientGPU: 'InsufficientGPU',
  Unschedulable: 'Unschedulable',
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  /** The ReplicaSet could not create pods for a reason other than quota or admission. */
  FailedCreate: 'FailedCreate',
  QuotaExceeded: 'QuotaExceeded',
  AdmissionDenied: 'AdmissionDenied',
} as const;

export interface PodFailure {
  reason: string;
  message: string;
  pod?: string;
  /** What the failed container wrote to its termination message file, if anything. */
  terminationMessage?: string;
}

const IMAGE_PULL = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'ErrImageNeverPull']);
const CONFIG = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

function containerFailure(pod: string, c: ContainerStatus): PodFailure | undefined {
  const waiting = c.state?.waiting;
  const lastTerminated = c.lastState?.terminated;
  const terminated = c.state?.terminated;
  const oom = terminated?.reason === 'OOMKilled' || lastTerminated?.reason === 'OOMKilled';
  if (oom) {
    return {
      reason: PodFailureReason.OOMKilled,
      message: `container ${c.name} of pod ${pod} was killed for exceeding its memory limit (OOMKilled); raise spec.runtime.resources.limits.memory`,
      pod,
    };
  }
  if (waiting?.reason === 'CrashLoopBackOff') {
    const exit = lastTerminated?.exitCode;
    const said = lastTerminated?.message?.trim();
    return {
      reason: PodFailureReason.CrashLoopBackOff,
      message: `container ${c.name} of pod ${pod} is crash-looping (restarts: ${c.restartCount ?? 0}${exit !== undefined ? `, last exit code ${exit}` : ''})${said ? `: ${said}` : ''}`,
      pod,
      ...(said ? { terminationMessage: said } : {}),
    };
  }
  if (waiting?.reason && IMAGE_PULL.has(waiting.reason)) {
    return {
      reason: PodFailureReason.ImagePullBackOff,
      message: `container ${c.name} of pod ${pod} cannot pull its image (${waiting.reason})${waiting.message ? `: ${waiting.message}` : ''}`,
      pod,
    };
  }
  if (waiting?.reason && CONFIG.has(waiting.reason)) {
    return {
      reason: PodFailureReason.ConfigError,
      message: `container ${c.name} of pod ${pod} cannot start (${waiting.reason})${waiting.message ? `: ${waiting.message}` : ''}`,
      pod,
    };
  }
  if (terminated && terminated.exitCode !== undefined && terminated.exitCode !== 0) {
    return {
      reason: PodFailureReason.ContainerFailed,
      message: `container ${c.name} of pod ${pod} exited with code ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}${terminated.message ? `: ${terminated.message}` : ''}`,
      pod,
      ...(terminated.message?.trim() ? { terminationMessage: terminated.message.trim() } : {}),
    };
  }
  return undefined;
}

/** Why one pod cannot serve, or undefined when it is fine or still starting normally. */
export function podFailure(pod: PodObject): PodFailure | undefined {
  const name = pod.metadata.name;
  if (pod.metadata.deletionTimestamp) return undefined;
  const status = pod.status ?? {};
  for (const c of [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])]) {
    const failure = containerFailure(name, c);
    if (failure) return failure;
  }
  if (status.phase === 'Failed') {
    return {
      reason: PodFailureReason.PodFailed,
      message: `pod ${name} failed${status.reason ? ` (${status.reason})` : ''}${status.message ? `: ${status.message}` : ''}`,
      pod: name,
    };
  }
  const scheduled = status.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    const message = scheduled.message ?? '';
    if (/Insufficient nvidia\.com\/gpu/i.test(message)) {
      return {
        reason: PodFailureReason.InsufficientGPU,
        message: `pod ${name} cannot be scheduled: no node has enough free nvidia.com/gpu (${message})`,
        pod: name,
      };
    }
    return {
      reason: PodFailureReason.Unschedulable,
      message: `pod ${name} cannot be scheduled: ${message || 'no node fits'}`,
      pod: name,
    };
  }
  return undefined;
}

/** Scheduling failures can heal by themselves (capacity added); the rest need a change. */
/** Failures of capacity, not of the revision: wait for room rather than roll back. */
export function isSchedulingFailure(f: PodFailure): boolean {
  return (
    f.reason === PodFailureReason.InsufficientGPU ||
    f.reason === PodFailureReason.Unschedulable ||
    f.reason === PodFailureReason.QuotaExceeded
  );
}

/** The first failure among pods, crash and pull failures before scheduling ones, deterministic by pod name. */
export function firstPodFailure(pods: readonly PodObject[]): PodFailure | undefined {
  const failures = [...pods]
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map(podFailure)
    .filter((f): f is PodFailure => f !== undefined);
  return failures.find((f) => !isSchedulingFailure(f)) ?? failures[0];
}

export function isPodReady(pod: PodObject): boolean {
  return (
    !pod.metadata.deletionTimestamp &&
    pod.status?.phase === 'Running' &&
    pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
  );
}

/** A Deployment that gave up (its progress deadline passed without progress). */
export function deploymentFailure(d: DeploymentObject): PodFailure | undefined {
  // pods refused at creation (a quota, an admission policy): the ReplicaSet's FailedCreate, copied here
  const replicaFailure = d.status?.conditions?.find(
    (c) => c.type === 'ReplicaFailure' && c.status === 'True',
  );
  if (replicaFailure) {
    const said = replicaFailure.message ?? replicaFailure.reason ?? 'pod creation failed';
    return {
      reason: refusalReason(said) ?? PodFailureReason.FailedCreate,
      message: `Deployment ${d.metadata.name} cannot create pods: ${said}`,
    };
  }
  const progressing = d.status?.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
    return {
      reason: PodFailureReason.ProgressDeadlineExceeded,
      message: `Deployment ${d.metadata.name} made no progress: ${progressing.message ?? 'progress deadline exceeded'}`,
    };
  }
  return undefined;
}
