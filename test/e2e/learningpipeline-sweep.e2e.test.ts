// LearningPipeline sweep steps against the local cluster (issue #19 AutoML):
// one Job per trial with its hyperparameters in env, at most parallelTrials
// at once, on the step's GPU placement; the objective each trial reports in
// its termination message picks the best trial, whose outputs later steps
// and the model resolve to; too many failed trials fail the step; an
// operator killed mid-sweep resumes it without a second Job for any trial.
//
// kwok pods run nothing, so this test plays the trainer: trial pods start
// with ymera.io/simulate=running (they never finish on their own), and the
// test reads each trial pod's YMERA_PARAMS, scores it with a known function
// and annotates the pod with the termination message it "writes" (and lets
// it finish), or makes it fail. kwok serves no pod logs, so early stopping
// never fires here (its rule is unit-tested); the real trainer's e2e proves
// the search itself on real pods.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudEvent } from '../../operator/kafka/events.ts';
import { readTopic } from '../../operator/kafka/platformatic.ts';
import {
  artifactsSecret,
  artifactsStore,
  artifactsVolume,
  firstRunStep,
  getSweepPipeline,
  podsOf,
  removePipelineNamespace,
  s3Artifacts,
  sweepPipeline,
} from './learningpipeline-fixtures.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventsAbout,
  eventually,
  freshNamespace,
  getJson,
  kafkaBrokers,
  kubectl,
  kubectlOk,
  startOperator,
} from './support.ts';

interface EnvVar {
  name: string;
  value?: string;
}
interface Container {
  env?: EnvVar[];
  resources?: { limits?: Record<string, string> };
  volumeMounts?: { mountPath: string; subPath?: string; readOnly?: boolean }[];
}
interface Pod {
  metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
  spec: { nodeName?: string; containers: Container[] };
  status?: { phase?: string };
}
interface Job {
  metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
}

const unique = randomUUID().slice(0, 8);
const pv = `e2e-sweep-artifacts-${unique}`;
let ns: string;
let op: OperatorProcess;

const getPipeline = (name: string) => getSweepPipeline(ns, name);
const stepOf = firstRunStep;
const envOf = (c: Container | undefined) => Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));
const trialPods = (pipeline: string, step: string) => podsOf<Pod>(ns, pipeline, step);

async function trialJobs(pipeline: string): Promise<Job[]> {
  return (
    (
      await getJson<{ items: Job[] }>([
        'get',
        'jobs',
        '-n',
        ns,
        '-l',
        `ymera.io/learningpipeline=${pipeline},ymera.io/trial`,
      ])
    )?.items ?? []
  );
}

/** The score the "trainer" reports: best at learning_rate 0.01, max_depth 6, kernel rbf. */
function accuracyOf(params: Record<string, number | string>): number {
  const lr = Number(params.learning_rate);
  const depth = Number(params.max_depth);
  const score =
    0.95 - (Math.log10(lr) + 2) ** 2 / 20 - (depth - 6) ** 2 / 200 - (params.kernel === 'rbf' ? 0 : 0.1);
  return Number(score.toFixed(6));
}
const digestOf = (index: number) => createHash('sha256').update(`model ${unique} ${index}`).digest('hex');

/** The sweep pipeline of these tests on kwok's GPU nodes; `simulate`: what its trial pods do (running, fail). */
function trialsPipeline(name: string, sweep: Record<string, unknown>, simulate: string) {
  return sweepPipeline(ns, name, {
    model: 'demo',
    train: {
      image: 'registry.example.com/trainer:1',
      gpu: { count: 1 },
      podAnnotations: { 'ymera.io/simulate': simulate, 'ymera.io/simulate-delay': '1s' },
    },
    sweep: {
      parameters: [
        { name: 'learning_rate', double: { min: 0.0001, max: 0.1, logScale: true } },
        { name: 'max_depth', int: { min: 1, max: 10 } },
        { name: 'kernel', categorical: ['rbf', 'linear'] },
      ],
      ...sweep,
    },
    evaluate: { image: 'registry.example.com/evaluator:1' },
  });
}

/** Plays the trainer: the trial pod ends, having "written" `report` as its termination message. */
const finishTrial = (pod: Pod, report: Record<string, unknown>) =>
  kubectlOk([
    'annotate',
    '--overwrite',
    '-n',
    ns,
    `pod/${pod.metadata.name}`,
    'ymera.io/simulate=done',
    `ymera.io/simulate-termination-message=${JSON.stringify(report)}`,
  ]);

/** The pipeline once its first run succeeded or failed; a timeout says its status and what the operator logged about it. */
function untilRunEnds(name: string) {
  return eventually('the run to finish', async () => {
    const got = await getPipeline(name);
    const run = got?.status?.runs?.[0];
    return run && ['Succeeded', 'Failed'].includes(run.phase) ? got : undefined;
  }).catch(async (e: unknown) => {
    const got = await getJson<Record<string, unknown>>([
      'get',
      '-n',
      ns,
      `learningpipeline.ymera.io/${name}`,
    ]);
    const logs = op
      .logs()
      .split('\n')
      .filter((l) => l.includes(name))
      .slice(-10)
      .join('\n');
    throw new Error(`${String(e)}\nstatus: ${JSON.stringify(got?.status)}\nlogs:\n${logs}`);
  });
}

/** The pipeline once its first run failed. */
const untilRunFails = (name: string) =>
  eventually(
    'the run to fail',
    async () => {
      const got = await getPipeline(name);
      return got?.status?.runs?.[0]?.phase === 'Failed' ? got : undefined;
    },
    120_000,
  );

/** A sweep on MinIO artifacts under `prefix` (the Secret with MinIO's keys beside it). */
async function applyOnS3(name: string, prefix: string, sweep: Record<string, unknown>) {
  const p = trialsPipeline(name, sweep, 'running');
  p.spec.artifacts = s3Artifacts(prefix);
  await kubectlOk(['apply', '-f', '-'], toYaml([artifactsSecret(ns), p]));
}

beforeAll(async () => {
  ns = await freshNamespace('e2e-sweep');
  await kubectlOk(['apply', '-f', '-'], toYaml(artifactsVolume(ns, pv)));
  op = await startOperator('op-sweep', [`--watch-namespaces=${ns}`]);
});

afterAll(async () => {
  await removePipelineNamespace(ns, op, pv);
});

describe('LearningPipeline sweep', () => {
  it('runs trials as Jobs with their hyperparameters, parallelTrials at a time, and resolves the best trial as the step output, across an operator restart', async () => {
    const name = 'sweep';
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        trialsPipeline(
          name,
          {
            algorithm: 'Random',
            maxTrials: 5,
            parallelTrials: 2,
            maxFailedTrials: 1,
            seed: 7,
            earlyStopping: { minReports: 2, marginPercent: 5 },
          },
          'running',
        ),
      ]),
    );
    const handled = new Map<number, { params: Record<string, number | string>; accuracy?: number }>();
    let restarted = false;
    for (;;) {
      // the next trial pods that run and that the "trainer" has not finished yet
      const pending = await eventually(
        'a running trial to finish, or the sweep to end',
        async () => {
          const p = await getPipeline(name);
          const train = stepOf(p, 'train');
          if (train && ['Succeeded', 'Failed'].includes(train.phase))
            return { done: true as const, pods: [] };
          // never more trials running than parallelTrials
          if (train?.sweep) expect(train.sweep.running).toBeLessThanOrEqual(2);
          const pods = (await trialPods(name, 'train')).filter(
            (pod) =>
              pod.status?.phase === 'Running' && !handled.has(Number(pod.metadata.labels['ymera.io/trial'])),
          );
          return pods.length > 0 ? { done: false as const, pods } : undefined;
        },
        120_000,
      );
      if (pending.done) break;
      const running = (await trialPods(name, 'train')).filter((pod) => pod.status?.phase === 'Running');
      expect(running.length).toBeLessThanOrEqual(2);
      for (const pod of pending.pods) {
        const container = pod.spec.containers[0];
        const env = envOf(container);
        const index = Number(env.YMERA_TRIAL);
        expect(pod.metadata.labels['ymera.io/trial']).toBe(String(index));
        const params = JSON.parse(env.YMERA_PARAMS ?? '{}') as Record<string, number | string>;
        // the contract's env: each parameter alone, as a plain decimal or the category
        expect(env.YMERA_PARAM_LEARNING_RATE).toBe(String(params.learning_rate));
        expect(env.YMERA_PARAM_LEARNING_RATE).not.toMatch(/e/i);
        expect(Number.isInteger(params.max_depth)).toBe(true);
        expect(env.YMERA_PARAM_MAX_DEPTH).toBe(String(params.max_depth));
        expect(['rbf', 'linear']).toContain(env.YMERA_PARAM_KERNEL);
        expect(env.YMERA_OUTPUT_DIR).toBe(`/artifacts/trials/train-${index}`);
        expect(env.YMERA_OUTPUT_MODEL).toBe(`/artifacts/trials/train-${index}/train/model.onnx`);
        // the step's GPU placement
        expect(container?.resources?.limits?.['nvidia.com/gpu']).toBe('1');
        expect(pod.spec.nodeName).toMatch(/^gpu-node-/);
        if (index === 1) {
          // one failed trial: within maxFailedTrials
          handled.set(index, { params });
          await kubectlOk([
            'annotate',
            '--overwrite',
            '-n',
            ns,
            `pod/${pod.metadata.name}`,
            'ymera.io/simulate=fail',
          ]);
          continue;
        }
        const accuracy = accuracyOf(params);
        handled.set(index, { params, accuracy });
        await finishTrial(pod, { accuracy, sha256: digestOf(index) });
      }
      if (!restarted && handled.size >= 3) {
        // kill the operator mid-sweep; a new one must pick the sweep up from the Jobs
        restarted = true;
        await op.stop('SIGKILL');
        op = await startOperator('op-sweep-2', [`--watch-namespaces=${ns}`]);
      }
    }

    const p = await untilRunEnds(name);
    const run = p.status!.runs![0]!;
    const train = stepOf(p, 'train')!;
    expect(train.phase, train.message).toBe('Succeeded');
    expect(run.phase, run.message).toBe('Succeeded');
    // exactly maxTrials trials, each one Job, none twice (the restart created no second Job)
    const jobs = await trialJobs(name);
    expect(jobs.map((j) => Number(j.metadata.labels['ymera.io/trial'])).sort()).toEqual([0, 1, 2, 3, 4]);
    expect([...handled.keys()].sort()).toEqual([0, 1, 2, 3, 4]);
    const sweep = train.sweep!;
    expect(sweep).toMatchObject({ started: 5, running: 0, succeeded: 4, failed: 1, earlyStopped: 0 });
    // the best trial is the one with the highest accuracy we reported
    const [bestIndex, best] = [...handled.entries()]
      .filter(([, h]) => h.accuracy !== undefined)
      .sort((a, b) => b[1].accuracy! - a[1].accuracy! || a[0] - b[0])[0]!;
    expect(sweep.best).toMatchObject({
      index: bestIndex,
      objective: best.accuracy,
      outputDir: `trials/train-${bestIndex}`,
    });
    expect(sweep.trials?.find((t) => t.index === 1)).toMatchObject({ phase: 'Failed' });
    for (const t of sweep.trials ?? []) {
      if (t.index !== 1)
        expect(t).toMatchObject({ phase: 'Succeeded', objective: handled.get(t.index)?.accuracy });
    }
    // the step's Job is the winner's: the gate and the digest read its termination message
    expect(train.job).toBe(
      jobs.find((j) => j.metadata.labels['ymera.io/trial'] === String(bestIndex))?.metadata.name,
    );
    // the model resolves to the winner's file, with the digest it reported
    expect(p.status?.latestModel?.uri).toBe(
      `pvc://ml-artifacts/${name}/${run.id}/trials/train-${bestIndex}/train/model.onnx`,
    );
    expect(p.status?.latestModel?.sha256).toBe(digestOf(bestIndex));
    // the next step reads the winner's model: by its env, and at the declared path (a read-only mount of it)
    const evaluate = (await trialPods(name, 'evaluate'))[0]!.spec.containers[0];
    expect(envOf(evaluate).YMERA_INPUT_MODEL).toBe(`/artifacts/trials/train-${bestIndex}/train/model.onnx`);
    expect(evaluate?.volumeMounts).toContainEqual(
      expect.objectContaining({
        mountPath: '/artifacts/train/model.onnx',
        subPath: `${name}/${run.id}/trials/train-${bestIndex}/train/model.onnx`,
        readOnly: true,
      }),
    );
    // what users and consumers hear
    await eventually('the SweepSucceeded Event', async () =>
      (await eventsAbout(ns, name, 'LearningPipeline')).find(
        (e) => e.reason === 'SweepSucceeded' && e.note.includes(`best trial ${bestIndex}`),
      ),
    );
    const completed = await eventually('the sweep.completed CloudEvent', async () => {
      const messages = await readTopic({
        brokers: kafkaBrokers(),
        topic: 'ymera.events.learningpipeline',
        timeoutMs: 20_000,
      });
      return messages
        .filter((m) => m.key === `${ns}/${name}`)
        .map((m) => JSON.parse(m.value) as CloudEvent)
        .find((e) => e.type === 'io.ymera.learningpipeline.sweep.completed');
    });
    expect(completed.data).toMatchObject({
      run: run.id,
      step: 'train',
      phase: 'Succeeded',
      best: { index: bestIndex, outputDir: `trials/train-${bestIndex}` },
      counts: { started: 5, succeeded: 4, failed: 1 },
    });
  });

  it('fails the step once more trials failed than maxFailedTrials, starting no more', async () => {
    const name = 'sweep-fails';
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([trialsPipeline(name, { maxTrials: 6, parallelTrials: 1, maxFailedTrials: 1 }, 'fail')]),
    );
    const p = await untilRunFails(name);
    const train = stepOf(p, 'train')!;
    expect(train.phase).toBe('Failed');
    expect(train.message).toMatch(/^2 trials failed, more than maxFailedTrials 1; trial 1: /);
    expect(train.sweep).toMatchObject({ started: 2, failed: 2, succeeded: 0, running: 0 });
    expect(stepOf(p, 'evaluate')).toMatchObject({ phase: 'Skipped' });
    expect((await trialJobs(name)).map((j) => j.metadata.labels['ymera.io/trial']).sort()).toEqual([
      '0',
      '1',
    ]);
    await eventually('the SweepFailed Event', async () =>
      (await eventsAbout(ns, name, 'LearningPipeline')).find((e) => e.reason === 'SweepFailed'),
    );
  });
  it("with S3 artifacts copies the winner's objects to the declared paths before the next step starts", async () => {
    const name = 'sweep-s3';
    const prefix = `e2e/${ns}/${name}`;
    await applyOnS3(name, prefix, { maxTrials: 2, parallelTrials: 2, maxFailedTrials: 0 });
    const pods = await eventually('both trials to run', async () => {
      const running = (await trialPods(name, 'train')).filter((pod) => pod.status?.phase === 'Running');
      return running.length === 2 ? running : undefined;
    });
    const runId = pods[0]!.metadata.labels['ymera.io/run']!;
    const store = artifactsStore();
    const models = new Map<number, Buffer>();
    try {
      // each trial "uploads" its model and metrics under its own prefix, then finishes
      for (const pod of pods) {
        const env = envOf(pod.spec.containers[0]);
        const index = Number(env.YMERA_TRIAL);
        expect(env.YMERA_ARTIFACTS_URI).toBe(
          `s3://ymera-artifacts/${prefix}/${runId}/trials/train-${index}/`,
        );
        expect(env.YMERA_INPUTS_URI).toBe(`s3://ymera-artifacts/${prefix}/${runId}/`);
        const model = Buffer.from(`model of trial ${index} ${unique}`);
        models.set(index, model);
        await store.put(`${prefix}/${runId}/trials/train-${index}/train/model.onnx`, model);
        await store.put(
          `${prefix}/${runId}/trials/train-${index}/train/metrics.json`,
          Buffer.from(`{"trial":${index}}`),
        );
        await finishTrial(pod, { accuracy: index === 1 ? 0.9 : 0.5 });
      }
      const p = await untilRunEnds(name);
      const train = stepOf(p, 'train')!;
      expect(train.phase, train.message).toBe('Succeeded');
      expect(train.sweep?.best).toMatchObject({ index: 1, objective: 0.9 });
      // the declared paths hold the winner's objects (a file and its sibling output)
      expect((await store.get(`${prefix}/${runId}/train/model.onnx`)).equals(models.get(1)!)).toBe(true);
      expect((await store.get(`${prefix}/${runId}/train/metrics.json`)).toString()).toBe('{"trial":1}');
      // so the next step reads the declared path, and the model is the declared file, hashed by the operator
      const evaluate = (await trialPods(name, 'evaluate'))[0]!.spec.containers[0];
      expect(envOf(evaluate).YMERA_INPUT_MODEL).toBe('/artifacts/train/model.onnx');
      const model = await eventually('the model to be registered with its digest', async () => {
        const m = (await getPipeline(name))?.status?.latestModel;
        return m?.sha256 ? m : undefined;
      });
      expect(model.uri).toBe(`s3://ymera-artifacts/${prefix}/${runId}/train/model.onnx`);
      expect(model.sha256).toBe(createHash('sha256').update(models.get(1)!).digest('hex'));
    } finally {
      await store.deletePrefix(`${prefix}/`);
      store.close();
    }
  });

  it('fails the step and the run, status written, when the winner cannot be published (a permanent limit)', async () => {
    const name = 'sweep-s3-limit';
    const prefix = `e2e/${ns}/${name}`;
    await applyOnS3(name, prefix, { maxTrials: 1, parallelTrials: 1, maxFailedTrials: 0 });
    const pod = await eventually('the trial to run', async () =>
      (await trialPods(name, 'train')).find((p) => p.status?.phase === 'Running'),
    );
    const runId = pod.metadata.labels['ymera.io/run']!;
    const store = artifactsStore();
    try {
      // the trial leaves more objects under one output than a publication copies
      const dir = `${prefix}/${runId}/trials/train-0/train/model.onnx`;
      const keys = Array.from({ length: 1001 }, (_, i) => `${dir}/part-${i}`);
      for (let i = 0; i < keys.length; i += 50)
        await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, Buffer.from('x'))));
      await finishTrial(pod, { accuracy: 0.9 });
      const p = await untilRunFails(name);
      const train = stepOf(p, 'train')!;
      expect(train.phase).toBe('Failed');
      expect(train.message).toMatch(/publishing the best trial 0: .* more than 1000 objects/);
      expect(train.sweep?.best).toMatchObject({ index: 0, objective: 0.9 });
      expect(stepOf(p, 'evaluate')).toMatchObject({ phase: 'Skipped' });
    } finally {
      await store.deletePrefix(`${prefix}/`);
      store.close();
    }
  });

  it('rejects earlyStopping.minTrials not below maxTrials at admission', async () => {
    const bad = trialsPipeline(
      'sweep-mintrials',
      { maxTrials: 3, parallelTrials: 1, earlyStopping: { minTrials: 3 } },
      'running',
    );
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], toYaml([bad]));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('earlyStopping.minTrials must be less than maxTrials');
  });
});
