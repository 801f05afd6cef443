// Pure: the Job of one step attempt, and where a run's artifacts live.
//
// Every attempt is a Job of its own with backoffLimit 0: the operator counts
// attempts and applies the backoff itself, so a Job never retries. The run's
// artifact directory is mounted at /artifacts (a PVC subPath), or, with S3,
// an emptyDir the step syncs itself using the YMERA_ARTIFACTS_URI and AWS_*
// variables we hand it.
import {
  containerResources,
  podPlacement,
  RESTRICTED_POD_SECURITY,
  restrictedContainerSecurity,
} from '../../operator/kube/pods.ts';
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { ownerLabels, owned } from '../../operator/ownership.ts';
import type { LearningPipelineRun, LearningPipelineSpec, LearningPipelineStep } from './schema.ts';

export type LearningPipelineObject = KubeObject & { spec: LearningPipelineSpec };

export const RUN_LABEL = 'ymera.io/run';
export const STEP_LABEL = 'ymera.io/step';
export const ATTEMPT_LABEL = 'ymera.io/attempt';
/** On a sweep trial's Job (instead of ATTEMPT_LABEL): the trial's index. */
export const TRIAL_LABEL = 'ymera.io/trial';
/** On a sweep trial's Job: its hyperparameters (JSON), so a restart re-derives every trial from the Jobs. */
export const TRIAL_PARAMS_ANNOTATION = 'ymera.io/trial-params';
/** Set on a trial's Job when the median rule stopped it. */
export const EARLY_STOPPED_ANNOTATION = 'ymera.io/early-stopped';

export const ARTIFACTS_DIR = '/artifacts';
/** Where a step may write its metrics JSON (the Kubernetes default termination message path). */
export const TERMINATION_MESSAGE_PATH = '/dev/termination-log';
/**
 * Supplementary group of every step pod. The kubelet makes PVC volumes (and
 * the run's subPath directory created in them) group-writable for it, so steps
 * running as different non-root users can all write the run's artifacts.
 */
export const ARTIFACTS_FS_GROUP = 1000;

const NAME_MAX = 63;
const HASH_LENGTH = 10;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function shortHash(parts: readonly (string | number)[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, HASH_LENGTH);
}

/** Lower-case, anything but [a-z0-9-] to `-`, no `-` at the ends. */
function sanitize(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * Name of the Job of one attempt: `<pipeline>-<runId>-<step>-<attempt>` when
 * that is a DNS label of at most 63 characters (Job names become pod label
 * values). Otherwise (long or dotted pipeline names) a shortened, sanitized
 * prefix keeping the run, step and attempt where possible, plus `-` and a hash
 * of the full tuple, so distinct attempts keep distinct names.
 */
export function stepJobName(pipeline: string, runId: string, step: string, attempt: number | string): string {
  const full = `${pipeline}-${runId}-${step}-${attempt}`;
  if (full.length <= NAME_MAX && DNS_LABEL.test(full)) return full;
  const hash = shortHash([pipeline, runId, step, attempt]);
  const room = NAME_MAX - HASH_LENGTH - 1;
  const tail = `-${runId}-${step}-${attempt}`;
  // shorten the pipeline name first; only when the tail alone is too long cut into it
  const prefix = sanitize(tail.length < room ? pipeline.slice(0, room - tail.length) + tail : full).slice(
    0,
    room,
  );
  const trimmed = prefix.replace(/-+$/, '');
  return trimmed ? `${trimmed}-${hash}` : hash;
}

/**
 * Name of the Job of a sweep trial: `<pipeline>-<runId>-<step>-t<index>`
 * (shortened as stepJobName does). An attempt's name ends in `-<digits>`, a
 * trial's in `-t<digits>`, so they never collide.
 */
export function trialJobName(pipeline: string, runId: string, step: string, index: number): string {
  return stepJobName(pipeline, runId, step, `t${index}`);
}

/** `YMERA_OUTPUT_<NAME>` style suffix: upper case, non-alphanumerics to `_`. */
export function envSuffix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** Joins path segments with single slashes, dropping empty ones and slashes at the ends. */
export function joinPath(...parts: readonly (string | undefined)[]): string {
  return parts
    .flatMap((p) => (p ?? '').split('/'))
    .filter((p) => p !== '')
    .join('/');
}

/** Path (relative to the run's artifact root) of the output named `artifactName`. */
export function outputPath(spec: LearningPipelineSpec, artifactName: string): string | undefined {
  for (const step of spec.steps) {
    const output = step.outputs?.find((o) => o.name === artifactName);
    if (output) return output.path;
  }
  return undefined;
}

/**
 * Directory (relative to the run's root) where the sweep step producing
 * `artifactName` left its winner's outputs: status.runs[].steps[].sweep.best.outputDir;
 * undefined for an ordinary step, and with S3 artifacts (the winner's objects
 * are copied to the declared paths): their outputs are at their declared paths.
 */
export function sweepOutputDir(
  spec: LearningPipelineSpec,
  run: Pick<LearningPipelineRun, 'steps'>,
  artifactName: string,
): string | undefined {
  // with S3 the operator copies the winner's objects to the declared keys (copyS3Outputs)
  if (spec.artifacts.s3) return undefined;
  const step = spec.steps.find((s) => s.outputs?.some((o) => o.name === artifactName));
  if (!step?.sweep) return undefined;
  return run.steps?.find((s) => s.name === step.name)?.sweep?.best?.outputDir;
}

/** Path (relative to the run's root) where the output named `artifactName` of `run` really is. */
export function resolvedOutputPath(
  spec: LearningPipelineSpec,
  run: Pick<LearningPipelineRun, 'steps'>,
  artifactName: string,
): string | undefined {
  const path = outputPath(spec, artifactName);
  return path === undefined ? undefined : joinPath(sweepOutputDir(spec, run, artifactName), path);
}

/**
 * URI of `path` in a run's artifact directory: `s3://<bucket>/<prefix>/<runId>/<path>`
 * or `pvc://<claim>/<dir>/<runId>/<path>`; an empty path gives the directory itself.
 */
export function artifactUri(spec: LearningPipelineSpec, runId: string, path: string): string {
  const { s3, pvc } = spec.artifacts;
  if (s3) return `s3://${joinPath(s3.bucket, s3.prefix, runId, path)}`;
  if (pvc) return `pvc://${joinPath(pvc.claimName, pvc.path, runId, path)}`;
  throw new Error('spec.artifacts sets neither pvc nor s3');
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Record<string, unknown>;
}

/**
 * Where a step's output lives relative to the run's root: its declared path,
 * or for a sweep step whose best trial is known (run status), that path below
 * the winner's directory. `resolve` maps an artifact name to that directory.
 */
export type OutputResolver = (artifactName: string) => string | undefined;

function artifactEnv(
  spec: LearningPipelineSpec,
  runId: string,
  step: LearningPipelineStep,
  trialDir: string | undefined,
  resolveDir: OutputResolver,
): EnvVar[] {
  const outputDir = trialDir ? `${ARTIFACTS_DIR}/${trialDir}` : ARTIFACTS_DIR;
  const env: EnvVar[] = [
    { name: 'YMERA_ARTIFACTS', value: ARTIFACTS_DIR },
    { name: 'YMERA_OUTPUT_DIR', value: outputDir },
  ];
  const s3 = spec.artifacts.s3;
  if (s3) {
    const root = `${artifactUri(spec, runId, '')}/`;
    env.push({
      name: 'YMERA_ARTIFACTS_URI',
      value: trialDir ? `${artifactUri(spec, runId, trialDir)}/` : root,
    });
    if (trialDir) env.push({ name: 'YMERA_INPUTS_URI', value: root });
    if (s3.endpoint) env.push({ name: 'AWS_ENDPOINT_URL', value: s3.endpoint });
    if (s3.region) env.push({ name: 'AWS_REGION', value: s3.region });
    env.push({ name: 'AWS_S3_FORCE_PATH_STYLE', value: String(s3.forcePathStyle ?? false) });
    const secret = s3.credentialsSecret?.name;
    if (secret) {
      for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        env.push({ name: key, valueFrom: { secretKeyRef: { name: secret, key } } });
      }
    }
  }
  for (const input of step.inputs ?? []) {
    const path = outputPath(spec, input);
    // an input naming no output is rejected by validation before any Job is built
    if (path !== undefined)
      env.push({
        name: `YMERA_INPUT_${envSuffix(input)}`,
        value: `${ARTIFACTS_DIR}/${joinPath(resolveDir(input), path)}`,
      });
  }
  for (const output of step.outputs ?? []) {
    env.push({
      name: `YMERA_OUTPUT_${envSuffix(output.name)}`,
      value: `${outputDir}/${joinPath(output.path)}`,
    });
  }
  return env;
}

/**
 * For a PVC: the inputs a sweep's winner produced, mounted read-only (subPath
 * of the winner's file or directory) over their declared paths, so a step
 * reading /artifacts/<declared path> reads the winner's files.
 */
function resolvedInputMounts(
  spec: LearningPipelineSpec,
  runId: string,
  step: LearningPipelineStep,
  resolveDir: OutputResolver,
) {
  const pvc = spec.artifacts.pvc;
  if (!pvc) return [];
  const mounts: { name: string; mountPath: string; subPath: string; readOnly: boolean }[] = [];
  for (const input of step.inputs ?? []) {
    const path = outputPath(spec, input);
    const dir = resolveDir(input);
    if (path === undefined || !dir) continue;
    mounts.push({
      name: 'artifacts',
      mountPath: `${ARTIFACTS_DIR}/${joinPath(path)}`,
      subPath: joinPath(pvc.path, runId, dir, path),
      readOnly: true,
    });
  }
  return mounts;
}

/** The artifacts volume: the run's directory of the PVC, or an emptyDir the step syncs with S3. */
function artifactVolume(spec: LearningPipelineSpec, runId: string) {
  const pvc = spec.artifacts.pvc;
  if (pvc) {
    return {
      volume: { name: 'artifacts', persistentVolumeClaim: { claimName: pvc.claimName } },
      mount: { name: 'artifacts', mountPath: ARTIFACTS_DIR, subPath: joinPath(pvc.path, runId) },
    };
  }
  return {
    volume: { name: 'artifacts', emptyDir: {} },
    mount: { name: 'artifacts', mountPath: ARTIFACTS_DIR },
  };
}

export interface StepAttempt {
  runId: string;
  step: LearningPipelineStep;
  /** 1 for the first attempt (a sweep trial: 1). */
  attempt: number;
  /** A sweep trial: its index, hyperparameters and output directory (relative to the run root). */
  trial?: { index: number; params: Record<string, number | string>; dir: string };
}

/** The trial env: YMERA_TRIAL, YMERA_PARAMS (JSON) and one YMERA_PARAM_<NAME> each. */
export function trialEnv(
  trial: NonNullable<StepAttempt['trial']>,
  format: (v: number | string) => string,
): EnvVar[] {
  return [
    { name: 'YMERA_TRIAL', value: String(trial.index) },
    { name: 'YMERA_PARAMS', value: JSON.stringify(trial.params) },
    ...Object.entries(trial.params).map(([k, v]) => ({
      name: `YMERA_PARAM_${envSuffix(k)}`,
      value: format(v),
    })),
  ];
}

/** The Job running one attempt of a step. */
export function stepJob(
  pipeline: LearningPipelineObject,
  { runId, step, attempt, trial }: StepAttempt,
  options: {
    kafkaBrokers?: readonly string[];
    resolveDir?: OutputResolver;
    formatParam?: (v: number | string) => string;
  } = {},
): KubeObject {
  const name = pipeline.metadata.name;
  const resolveDir = options.resolveDir ?? (() => undefined);
  const labels: Record<string, string> = trial
    ? { [RUN_LABEL]: runId, [STEP_LABEL]: step.name, [TRIAL_LABEL]: String(trial.index) }
    : { [RUN_LABEL]: runId, [STEP_LABEL]: step.name, [ATTEMPT_LABEL]: String(attempt) };
  const gpu = step.gpu;
  const resources = containerResources(step.resources, gpu);
  const brokers = options.kafkaBrokers ?? [];
  const artifacts = artifactVolume(pipeline.spec, runId);
  const container = {
    name: step.name,
    image: step.image,
    ...(step.command ? { command: step.command } : {}),
    ...(step.args ? { args: step.args } : {}),
    env: [
      { name: 'YMERA_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'YMERA_PIPELINE', value: name },
      { name: 'YMERA_RUN_ID', value: runId },
      { name: 'YMERA_STEP', value: step.name },
      { name: 'YMERA_ATTEMPT', value: String(attempt) },
      ...artifactEnv(pipeline.spec, runId, step, trial?.dir, resolveDir),
      ...(trial ? trialEnv(trial, options.formatParam ?? String) : []),
      ...(brokers.length > 0 ? [{ name: 'YMERA_KAFKA_BROKERS', value: brokers.join(',') }] : []),
      // last, so a step can override any of ours
      ...(step.env ?? []),
    ],
    ...(resources ? { resources } : {}),
    // the gate reads a metrics JSON a step may leave here (see gate.ts)
    terminationMessagePath: TERMINATION_MESSAGE_PATH,
    terminationMessagePolicy: 'File',
    // restricted Pod Security Standard; the root filesystem stays writable for training code
    securityContext: restrictedContainerSecurity(false),
    volumeMounts: [
      artifacts.mount,
      ...resolvedInputMounts(pipeline.spec, runId, step, resolveDir),
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
  const podSpec: Record<string, unknown> = {
    containers: [container],
    restartPolicy: 'Never',
    securityContext: {
      ...RESTRICTED_POD_SECURITY,
      fsGroup: ARTIFACTS_FS_GROUP,
      // only walk the volume when its root is not ours yet (artifact PVCs grow large)
      fsGroupChangePolicy: 'OnRootMismatch',
    },
    enableServiceLinks: false,
    automountServiceAccountToken: false,
    volumes: [artifacts.volume, { name: 'tmp', emptyDir: {} }],
  };
  Object.assign(podSpec, podPlacement(gpu, step.nodeSelector, step.tolerations));
  return owned(pipeline, {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: trial
        ? trialJobName(name, runId, step.name, trial.index)
        : stepJobName(name, runId, step.name, attempt),
      namespace: pipeline.metadata.namespace,
      labels,
      ...(trial ? { annotations: { [TRIAL_PARAMS_ANNOTATION]: JSON.stringify(trial.params) } } : {}),
    },
    spec: {
      // the operator retries (one Job per attempt), so the Job itself never does
      backoffLimit: 0,
      // a terminating pod (evicted, deadline) counts as failed only once it has stopped,
      // so the next attempt never overlaps it
      podReplacementPolicy: 'Failed',
      ...(step.timeoutSeconds !== undefined ? { activeDeadlineSeconds: step.timeoutSeconds } : {}),
      // no ttlSecondsAfterFinished: the operator deletes a run's Jobs when it leaves the history
      template: {
        metadata: {
          labels: { ...ownerLabels(pipeline), ...labels },
          ...(step.podAnnotations ? { annotations: { ...step.podAnnotations } } : {}),
        },
        spec: podSpec,
      },
    },
  });
}
