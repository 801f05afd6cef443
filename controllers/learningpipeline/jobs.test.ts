import { describe, expect, it } from 'vitest';
import {
  ARTIFACTS_DIR,
  ATTEMPT_LABEL,
  RUN_LABEL,
  STEP_LABEL,
  artifactUri,
  envSuffix,
  outputPath,
  resolvedOutputPath,
  stepJob,
  stepJobName,
  sweepOutputDir,
  TRIAL_LABEL,
  TRIAL_PARAMS_ANNOTATION,
  trialJobName,
} from './jobs.ts';
import { paramEnvValue } from './sweep.ts';
import type { LearningPipelineObject } from './jobs.ts';
import type { LearningPipelineSpec, LearningPipelineStep } from './schema.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const prepare: LearningPipelineStep = {
  name: 'prepare',
  image: 'registry.example.com/prepare:1',
  outputs: [{ name: 'data', path: 'prepare/data' }],
};
const train: LearningPipelineStep = {
  name: 'train',
  image: 'registry.example.com/train:1',
  command: ['python', '-m', 'train'],
  args: ['--epochs', '3'],
  env: [
    { name: 'EPOCHS', value: '3' },
    { name: 'YMERA_ARTIFACTS', value: '/override' },
  ],
  resources: { requests: { cpu: '2', memory: '8Gi' }, limits: { memory: '8Gi' } },
  gpu: { count: 2, product: 'NVIDIA-A100-SXM4-80GB' },
  timeoutSeconds: 3600,
  podAnnotations: { 'ymera.io/simulate': 'fail' },
  dependsOn: ['prepare'],
  inputs: ['data'],
  outputs: [
    { name: 'model', path: 'train/model.onnx' },
    { name: 'eval.metrics', path: 'train/metrics.json' },
  ],
};

const pvcSpec: LearningPipelineSpec = {
  steps: [prepare, train],
  artifacts: { pvc: { claimName: 'artifacts', path: 'pipelines/fraud/' } },
};
const s3Spec: LearningPipelineSpec = {
  steps: [prepare, train],
  artifacts: {
    s3: {
      endpoint: 'http://minio.storage:9000',
      bucket: 'ml-artifacts',
      prefix: 'team-a//prod/',
      region: 'eu-central-1',
      credentialsSecret: { name: 's3-creds' },
      forcePathStyle: true,
    },
  },
};

const pipeline = (spec: LearningPipelineSpec): LearningPipelineObject => ({
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'LearningPipeline',
  metadata: { name: 'fraud', namespace: 'ml', uid: 'uid-1' },
  spec,
});

type Env = { name: string; value?: string; valueFrom?: unknown }[];
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env: Env;
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  securityContext: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string; subPath?: string }[];
  terminationMessagePolicy: string;
  terminationMessagePath: string;
}
interface JobView {
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    ownerReferences: { kind: string; name: string; uid: string; controller: boolean }[];
  };
  spec: {
    backoffLimit: number;
    activeDeadlineSeconds?: number;
    ttlSecondsAfterFinished?: number;
    podReplacementPolicy?: string;
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        containers: Container[];
        restartPolicy: string;
        securityContext: Record<string, unknown>;
        enableServiceLinks: boolean;
        automountServiceAccountToken: boolean;
        nodeSelector?: Record<string, string>;
        tolerations?: unknown[];
        volumes: Record<string, unknown>[];
      };
    };
  };
}

const build = (spec: LearningPipelineSpec, step: LearningPipelineStep, brokers?: string[]) =>
  stepJob(
    pipeline(spec),
    { runId: 's-202611210200', step, attempt: 2 },
    brokers ? { kafkaBrokers: brokers } : undefined,
  ) as unknown as JobView;
const containerOf = (job: JobView) => job.spec.template.spec.containers[0]!;
const envOf = (job: JobView) => Object.fromEntries(containerOf(job).env.map((e) => [e.name, e]));

describe('stepJobName', () => {
  it('is <pipeline>-<run>-<step>-<attempt> when that fits', () => {
    expect(stepJobName('fraud', 's-202611210200', 'train', 1)).toBe('fraud-s-202611210200-train-1');
  });

  it('is a DNS label of at most 63 characters, unique per attempt, under truncation', () => {
    const pipelines = ['p'.repeat(253), `${'a'.repeat(60)}.team.example`, 'fraud.v2', 'x'.repeat(40)];
    const runs = ['s-202611210200', 'm-3fa9c02b1d', 'm-3fa9c02b1e'];
    const steps = ['train', 's'.repeat(32), `${'s'.repeat(31)}t`];
    const names = new Set<string>();
    let count = 0;
    for (const p of pipelines)
      for (const r of runs)
        for (const s of steps)
          for (const a of [1, 2, 10]) {
            const name = stepJobName(p, r, s, a);
            expect(name.length, name).toBeLessThanOrEqual(63);
            expect(name, name).toMatch(DNS_LABEL);
            expect(stepJobName(p, r, s, a)).toBe(name); // deterministic
            names.add(name);
            count++;
          }
    expect(names.size).toBe(count);
  });

  it('keeps the run, step and attempt when only the pipeline name is long', () => {
    const name = stepJobName('p'.repeat(100), 'm-3fa9c02b1d', 'train', 3);
    expect(name).toMatch(/^p+-m-3fa9c02b1d-train-3-[0-9a-f]{10}$/);
  });

  it('hashes names that would differ only by sanitizing (dots)', () => {
    const dotted = stepJobName('fraud.v2', 's-1', 'train', 1);
    const dashed = stepJobName('fraud-v2', 's-1', 'train', 1);
    expect(dashed).toBe('fraud-v2-s-1-train-1');
    expect(dotted).not.toBe(dashed);
    expect(dotted).toMatch(DNS_LABEL);
  });
});

describe('artifact locations', () => {
  it('builds s3:// URIs with single slashes', () => {
    expect(artifactUri(s3Spec, 'm-1', 'train/model.onnx')).toBe(
      's3://ml-artifacts/team-a/prod/m-1/train/model.onnx',
    );
    expect(
      artifactUri({ ...s3Spec, artifacts: { s3: { bucket: 'b1b', forcePathStyle: false } } }, 'm-1', '/x/'),
    ).toBe('s3://b1b/m-1/x');
  });

  it('builds pvc:// URIs with and without a path', () => {
    expect(artifactUri(pvcSpec, 's-1', 'train/model.onnx')).toBe(
      'pvc://artifacts/pipelines/fraud/s-1/train/model.onnx',
    );
    expect(artifactUri({ ...pvcSpec, artifacts: { pvc: { claimName: 'c' } } }, 's-1', 'm.onnx')).toBe(
      'pvc://c/s-1/m.onnx',
    );
  });

  it('finds the path of a named output', () => {
    expect(outputPath(pvcSpec, 'model')).toBe('train/model.onnx');
    expect(outputPath(pvcSpec, 'data')).toBe('prepare/data');
    expect(outputPath(pvcSpec, 'nope')).toBeUndefined();
  });

  it('maps artifact names to env suffixes', () => {
    expect(envSuffix('eval.metrics-v2_x')).toBe('EVAL_METRICS_V2_X');
  });
});

describe('stepJob', () => {
  it('is owned by the pipeline and labelled on the Job and the pod template', () => {
    const job = build(pvcSpec, train);
    expect(job.metadata.name).toBe('fraud-s-202611210200-train-2');
    expect(job.metadata.namespace).toBe('ml');
    expect(job.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'LearningPipeline', name: 'fraud', uid: 'uid-1', controller: true }),
    ]);
    const want = {
      // set by ownerLabels(pipeline)
      'ymera.io/learningpipeline': 'fraud',
      [RUN_LABEL]: 's-202611210200',
      [STEP_LABEL]: 'train',
      [ATTEMPT_LABEL]: '2',
      'app.kubernetes.io/managed-by': 'ymera-operator',
    };
    expect(job.metadata.labels).toMatchObject(want);
    expect(job.spec.template.metadata.labels).toMatchObject(want);
    expect(job.spec.template.metadata.annotations).toEqual({ 'ymera.io/simulate': 'fail' });
  });

  it('never retries by itself and honours the timeout', () => {
    const job = build(pvcSpec, train);
    expect(job.spec.backoffLimit).toBe(0);
    expect(job.spec.activeDeadlineSeconds).toBe(3600);
    expect(job.spec.podReplacementPolicy).toBe('Failed');
    expect(job.spec).not.toHaveProperty('ttlSecondsAfterFinished');
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    expect(build(pvcSpec, prepare).spec).not.toHaveProperty('activeDeadlineSeconds');
  });

  it('runs the step container as given', () => {
    const c = containerOf(build(pvcSpec, train));
    expect(c).toMatchObject({
      name: 'train',
      image: 'registry.example.com/train:1',
      command: ['python', '-m', 'train'],
      args: ['--epochs', '3'],
      terminationMessagePolicy: 'File',
      terminationMessagePath: '/dev/termination-log',
    });
    const p = containerOf(build(pvcSpec, prepare));
    expect(p).not.toHaveProperty('command');
    expect(p).not.toHaveProperty('args');
    expect(p).not.toHaveProperty('resources');
  });

  it('passes the restricted Pod Security Standard and keeps the root filesystem writable', () => {
    const job = build(pvcSpec, train);
    const pod = job.spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.enableServiceLinks).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
    const sc = containerOf(job).securityContext;
    expect(sc).toEqual({
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(sc).not.toHaveProperty('readOnlyRootFilesystem');
    expect(containerOf(job).volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: {} });
    // restricted allows only these volume types
    for (const v of pod.volumes) {
      expect(Object.keys(v).filter((k) => k !== 'name')).toEqual([
        expect.stringMatching(/^(emptyDir|persistentVolumeClaim)$/),
      ]);
    }
  });

  it('asks for GPUs like an InferenceService does', () => {
    const job = build(pvcSpec, train);
    expect(containerOf(job).resources).toEqual({
      requests: { cpu: '2', memory: '8Gi', 'nvidia.com/gpu': '2' },
      limits: { memory: '8Gi', 'nvidia.com/gpu': '2' },
    });
    expect(job.spec.template.spec.nodeSelector).toEqual({
      'nvidia.com/gpu.present': 'true',
      'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB',
    });
    expect(job.spec.template.spec.tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    const anyGpu = build(pvcSpec, { ...train, gpu: { count: 1 } });
    expect(anyGpu.spec.template.spec.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
  });

  it('gives a CPU step no GPU request, node selector or toleration', () => {
    const job = build(pvcSpec, { ...prepare, resources: { requests: { cpu: '1' } } });
    expect(containerOf(job).resources).toEqual({ requests: { cpu: '1' } });
    expect(job.spec.template.spec).not.toHaveProperty('nodeSelector');
    expect(job.spec.template.spec).not.toHaveProperty('tolerations');
  });

  it("runs where the step's nodeSelector and tolerations say, GPU placement added on top", () => {
    const placed = {
      nodeSelector: { 'kubernetes.io/hostname': 'real-node-1', 'nvidia.com/gpu.present': 'false' },
      tolerations: [
        { key: 'ymera.io/real-node', operator: 'Exists' as const, effect: 'NoSchedule' as const },
      ],
    };
    const cpu = build(pvcSpec, { ...prepare, ...placed });
    expect(cpu.spec.template.spec.nodeSelector).toEqual(placed.nodeSelector);
    expect(cpu.spec.template.spec.tolerations).toEqual(placed.tolerations);
    // a GPU step keeps its GPU selector (the user's same key loses) and toleration
    const gpuJob = build(pvcSpec, { ...train, ...placed });
    expect(gpuJob.spec.template.spec.nodeSelector).toEqual({
      'kubernetes.io/hostname': 'real-node-1',
      'nvidia.com/gpu.present': 'true',
      'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB',
    });
    expect(gpuJob.spec.template.spec.tolerations).toEqual([
      ...placed.tolerations,
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
    ]);
  });

  it("mounts the run's directory of the PVC at /artifacts", () => {
    const job = build(pvcSpec, train);
    expect(containerOf(job).volumeMounts).toContainEqual({
      name: 'artifacts',
      mountPath: ARTIFACTS_DIR,
      subPath: 'pipelines/fraud/s-202611210200',
    });
    expect(job.spec.template.spec.volumes).toContainEqual({
      name: 'artifacts',
      persistentVolumeClaim: { claimName: 'artifacts' },
    });
    const root = build({ ...pvcSpec, artifacts: { pvc: { claimName: 'artifacts' } } }, train);
    expect(containerOf(root).volumeMounts).toContainEqual(
      expect.objectContaining({ name: 'artifacts', subPath: 's-202611210200' }),
    );
    expect(envOf(job)).not.toHaveProperty('YMERA_ARTIFACTS_URI');
    expect(envOf(job)).not.toHaveProperty('AWS_REGION');
  });

  it('gives an S3 step an emptyDir and what it needs to sync, credentials by reference only', () => {
    const job = build(s3Spec, train);
    expect(job.spec.template.spec.volumes).toContainEqual({ name: 'artifacts', emptyDir: {} });
    expect(containerOf(job).volumeMounts).toContainEqual({ name: 'artifacts', mountPath: ARTIFACTS_DIR });
    const env = envOf(job);
    expect(env.YMERA_ARTIFACTS_URI?.value).toBe('s3://ml-artifacts/team-a/prod/s-202611210200/');
    expect(env.AWS_ENDPOINT_URL?.value).toBe('http://minio.storage:9000');
    expect(env.AWS_REGION?.value).toBe('eu-central-1');
    expect(env.AWS_S3_FORCE_PATH_STYLE?.value).toBe('true');
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      expect(env[key]).toEqual({ name: key, valueFrom: { secretKeyRef: { name: 's3-creds', key } } });
    }
    const bare = envOf(
      build({ ...s3Spec, artifacts: { s3: { bucket: 'b1b', forcePathStyle: false } } }, train),
    );
    expect(bare.YMERA_ARTIFACTS_URI?.value).toBe('s3://b1b/s-202611210200/');
    expect(bare.AWS_S3_FORCE_PATH_STYLE?.value).toBe('false');
    for (const key of ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      expect(bare).not.toHaveProperty(key);
    }
  });

  it('tells the step who it is and where its inputs and outputs are', () => {
    const job = build(pvcSpec, train, ['kafka-0:9092', 'kafka-1:9092']);
    const env = containerOf(job).env;
    const values = Object.fromEntries(env.map((e) => [e.name, e.value]));
    expect(values).toMatchObject({
      YMERA_PIPELINE: 'fraud',
      YMERA_RUN_ID: 's-202611210200',
      YMERA_STEP: 'train',
      YMERA_ATTEMPT: '2',
      YMERA_INPUT_DATA: '/artifacts/prepare/data',
      YMERA_OUTPUT_MODEL: '/artifacts/train/model.onnx',
      YMERA_OUTPUT_EVAL_METRICS: '/artifacts/train/metrics.json',
      YMERA_KAFKA_BROKERS: 'kafka-0:9092,kafka-1:9092',
      EPOCHS: '3',
    });
    // the step's own entries come last, so they win
    const names = env.map((e) => e.name);
    expect(names.indexOf('YMERA_ARTIFACTS')).toBeLessThan(names.lastIndexOf('YMERA_ARTIFACTS'));
    expect(env.at(-1)).toEqual({ name: 'YMERA_ARTIFACTS', value: '/override' });
    expect(env.find((e) => e.name === 'YMERA_ARTIFACTS')?.value).toBe('/artifacts');
    expect(names).not.toContain(undefined);
    expect(envOf(build(pvcSpec, prepare))).not.toHaveProperty('YMERA_KAFKA_BROKERS');
  });

  it('is stable for equal input', () => {
    expect(build(s3Spec, train)).toEqual(build(s3Spec, train));
  });
});

describe('sweep trials', () => {
  const sweepTrain: LearningPipelineStep = {
    ...train,
    sweep: {
      parameters: [{ name: 'learning_rate', double: { min: 0.001, max: 0.1, logScale: true } }],
      objective: { metric: 'accuracy', goal: 'Maximize' },
    },
  };
  const evaluate: LearningPipelineStep = {
    name: 'evaluate',
    image: 'registry.example.com/eval:1',
    dependsOn: ['train'],
    inputs: ['model'],
  };
  const spec = (artifacts: LearningPipelineSpec['artifacts']): LearningPipelineSpec => ({
    steps: [prepare, sweepTrain, evaluate],
    artifacts,
  });
  const obj = (s: LearningPipelineSpec): LearningPipelineObject => ({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'LearningPipeline',
    metadata: { name: 'fraud', namespace: 'ml', uid: 'u-1' },
    spec: s,
  });
  type Built = {
    metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
    spec: {
      template: {
        spec: {
          containers: {
            env: { name: string; value?: string }[];
            volumeMounts: { mountPath: string; subPath?: string; readOnly?: boolean }[];
          }[];
        };
      };
    };
  };
  const envOf = (job: Built) =>
    Object.fromEntries(job.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
  const trial = { index: 3, params: { learning_rate: 1e-7, kernel: 'rbf' }, dir: 'trials/train-3' };

  it('names trial Jobs apart from attempts, deterministically', () => {
    expect(trialJobName('fraud', 'r1', 'train', 3)).toBe('fraud-r1-train-t3');
    expect(trialJobName('fraud', 'r1', 'train', 3)).not.toBe(stepJobName('fraud', 'r1', 'train', 3));
    expect(trialJobName('x'.repeat(80), 'r1', 'train', 3)).toMatch(DNS_LABEL);
  });

  it('gives a trial its hyperparameters, index and own output directory in env, and labels it', () => {
    const job = stepJob(
      obj(spec(pvcSpec.artifacts)),
      { runId: 'r1', step: sweepTrain, attempt: 1, trial },
      { formatParam: paramEnvValue },
    ) as unknown as Built;
    expect(job.metadata.name).toBe('fraud-r1-train-t3');
    expect(job.metadata.labels).toMatchObject({
      [RUN_LABEL]: 'r1',
      [STEP_LABEL]: 'train',
      [TRIAL_LABEL]: '3',
    });
    // no attempt label: a trial is never mistaken for an attempt of the step
    expect(job.metadata.labels[ATTEMPT_LABEL]).toBeUndefined();
    expect(JSON.parse(job.metadata.annotations![TRIAL_PARAMS_ANNOTATION]!)).toEqual(trial.params);
    const env = envOf(job);
    expect(env).toMatchObject({
      YMERA_TRIAL: '3',
      YMERA_PARAMS: '{"learning_rate":1e-7,"kernel":"rbf"}',
      YMERA_PARAM_LEARNING_RATE: '0.0000001',
      YMERA_PARAM_KERNEL: 'rbf',
      YMERA_OUTPUT_DIR: '/artifacts/trials/train-3',
      YMERA_OUTPUT_MODEL: '/artifacts/trials/train-3/train/model.onnx',
      YMERA_INPUT_DATA: '/artifacts/prepare/data',
    });
    // the user's env still comes last
    expect(env.YMERA_ARTIFACTS).toBe('/override');
  });

  it('points a trial at its own S3 prefix and the run root for inputs', () => {
    const job = stepJob(obj(spec(s3Spec.artifacts)), {
      runId: 'r1',
      step: sweepTrain,
      attempt: 1,
      trial,
    }) as unknown as Built;
    expect(envOf(job)).toMatchObject({
      YMERA_ARTIFACTS_URI: 's3://ml-artifacts/team-a/prod/r1/trials/train-3/',
      YMERA_INPUTS_URI: 's3://ml-artifacts/team-a/prod/r1/',
    });
  });

  it('gives ordinary steps YMERA_OUTPUT_DIR /artifacts', () => {
    const job = stepJob(obj(spec(pvcSpec.artifacts)), {
      runId: 'r1',
      step: prepare,
      attempt: 1,
    }) as unknown as Built;
    expect(envOf(job).YMERA_OUTPUT_DIR).toBe(ARTIFACTS_DIR);
  });

  it("resolves a later step's input to the winner: env and a read-only mount over the declared path", () => {
    const s = spec(pvcSpec.artifacts);
    const run = {
      steps: [
        {
          name: 'train',
          phase: 'Succeeded' as const,
          sweep: {
            best: { index: 2, objective: 0.9, parameters: {}, outputDir: 'trials/train-2' },
            started: 3,
            running: 0,
            succeeded: 3,
            failed: 0,
            earlyStopped: 0,
          },
        },
      ],
    };
    expect(resolvedOutputPath(s, run, 'model')).toBe('trials/train-2/train/model.onnx');
    expect(resolvedOutputPath(s, run, 'data')).toBe('prepare/data');
    expect(resolvedOutputPath(s, { steps: [] }, 'model')).toBe('train/model.onnx');
    const job = stepJob(
      obj(s),
      { runId: 'r1', step: evaluate, attempt: 1 },
      { resolveDir: (a) => sweepOutputDir(s, run, a) },
    ) as unknown as Built;
    expect(envOf(job).YMERA_INPUT_MODEL).toBe('/artifacts/trials/train-2/train/model.onnx');
    expect(job.spec.template.spec.containers[0]!.volumeMounts).toContainEqual({
      name: 'artifacts',
      mountPath: '/artifacts/train/model.onnx',
      subPath: 'pipelines/fraud/r1/trials/train-2/train/model.onnx',
      readOnly: true,
    });
  });
});
