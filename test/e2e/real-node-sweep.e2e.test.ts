// AutoML end to end on the real node (issue #19): a LearningPipeline whose
// train step is a sweep (Random, 8 trials, 2 at once, seeded) over the real
// trainer (test/e2e/fixtures/trainer: numpy, two moons, known good region
// learning_rate >= 0.3 with hidden_units >= 4), every trial a restricted Job
// on real-node-1 writing a real ONNX model to the run's PVC; then an evaluate
// step that reads the winner's model at the step's declared path, the gate
// (accuracy >= 0.95) and the promotion (mode Patch) into an InferenceService.
//
// It asserts what a user would check: the sweep found the good region within
// its budget (best objective >= 0.95 and the best parameters inside it), the
// best trial is the one with the highest accuracy of all trials, and the model
// the pipeline registered, gated and promoted is that trial's file (its sha256
// and URI), which onnxruntime loads and which separates the moons.
//
// The PVC is a hostPath volume on this host (the kubelet of real-node-1 runs
// here), so the test reads what the trials wrote. Skipped, saying why, without
// the real node.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  firstRunStep,
  getSweepPipeline,
  podsOf,
  removePipelineNamespace,
  sweepPipeline,
} from './learningpipeline-fixtures.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import { eventually, freshNamespace, getJson, kubectlOk, startOperator } from './support.ts';
import {
  GOOD_ACCURACY,
  REAL_NODE,
  TRAINER_IMAGE,
  hostPathArtifacts,
  moonAccuracy,
  realNodePlacement,
  trainerSkipReason,
} from './trainer-fixtures.ts';

const NAME = 'moons';
const MAX_TRIALS = 8;
// 8 trials in 4 waves of 2, each a real pod (image start, numpy import, training), then evaluate
const RUN_TIMEOUT = 360_000;

interface Pod {
  metadata: { name: string; labels: Record<string, string> };
  spec: { nodeName?: string };
  status: { containerStatuses?: { state: { terminated?: { exitCode: number; message?: string } } }[] };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The evaluate step: hashes the model at the declared path and at YMERA_INPUT_MODEL, as its termination message. */
const EVALUATE = [
  'import hashlib, json, os',
  'def digest(p): return hashlib.sha256(open(p, "rb").read()).hexdigest()',
  'out = {"declared": digest("/artifacts/train/model.onnx"), "input": digest(os.environ["YMERA_INPUT_MODEL"])}',
  'open("/dev/termination-log", "w").write(json.dumps(out))',
  'print("evaluate:", json.dumps(out))',
].join('\n');

describe.skipIf(trainerSkipReason !== '')(`AutoML sweep on the real node${trainerSkipReason}`, () => {
  let ns = '';
  let op: OperatorProcess | undefined;
  let store: ReturnType<typeof hostPathArtifacts> | undefined;

  const getPipeline = () => getSweepPipeline(ns, NAME);
  const stepOf = firstRunStep;

  function pipeline() {
    const onRealNode = { image: TRAINER_IMAGE, ...realNodePlacement() };
    return sweepPipeline(ns, NAME, {
      model: NAME,
      train: {
        ...onRealNode,
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
        timeoutSeconds: 120,
      },
      sweep: {
        // fixtures/trainer/README.md: about 46 % of this space is the good region
        parameters: [
          { name: 'learning_rate', double: { min: 0.01, max: 10, logScale: true } },
          { name: 'hidden_units', int: { min: 1, max: 32 } },
        ],
        algorithm: 'Random',
        maxTrials: MAX_TRIALS,
        parallelTrials: 2,
        maxFailedTrials: 1,
        seed: 1,
      },
      evaluate: { ...onRealNode, command: ['/usr/bin/python3.11', '-c', EVALUATE], timeoutSeconds: 120 },
      spec: {
        promotion: {
          target: NAME,
          policy: 'Auto',
          mode: 'Patch',
          gate: { metricsArtifact: 'metrics', metric: 'accuracy', min: GOOD_ACCURACY },
        },
      },
    });
  }

  beforeAll(async () => {
    ns = await freshNamespace('e2e-real-sweep');
    // the trial pods must meet the restricted Pod Security Standard on a real kubelet
    await kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    store = hostPathArtifacts(ns, 'ml-artifacts');
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        ...store.objects,
        // the promotion's target; its pods stay on kwok's nodes (this test is about what it is told to serve)
        {
          apiVersion: 'ymera.io/v1alpha1',
          kind: 'InferenceService',
          metadata: { name: NAME, namespace: ns },
          spec: { model: { uri: 's3://ymera-models/moons/v0/model.onnx', version: 'v0' } },
        },
      ]),
    );
    op = await startOperator('op-real-sweep', [`--watch-namespaces=${ns}`]);
    await kubectlOk(['apply', '-f', '-'], toYaml([pipeline()]));
  });

  afterAll(async () => {
    // the namespace gone (its pods too) before its host directory goes
    await removePipelineNamespace(ns, op, store?.pv, { waitForNamespace: true });
    store?.cleanup();
  });

  it(
    "finds the good region within 8 trials on real-node-1 and promotes the best trial's model",
    async () => {
      const done = await eventually(
        'the run to finish',
        async () => {
          const p = await getPipeline();
          const run = p?.status?.runs?.[0];
          // at most parallelTrials at once, whenever we look
          const running = stepOf(p, 'train')?.sweep?.running ?? 0;
          if (running > 2) throw new Error(`${running} trials running at once, parallelTrials is 2`);
          return run && ['Succeeded', 'Failed'].includes(run.phase) ? p : undefined;
        },
        RUN_TIMEOUT,
        1000,
      );
      const run = done.status?.runs?.[0];
      const train = stepOf(done, 'train');
      expect(run?.phase, `${run?.message ?? ''} ${JSON.stringify(run?.steps)}`).toBe('Succeeded');
      const sweep = train?.sweep;
      expect(sweep).toMatchObject({ started: MAX_TRIALS, running: 0, failed: 0, succeeded: MAX_TRIALS });

      // every trial was a real pod on real-node-1 that reported its accuracy
      const trialPods = (await podsOf<Pod>(ns, NAME, 'train')).filter(
        (p) => p.metadata.labels['ymera.io/trial'] !== undefined,
      );
      expect(trialPods).toHaveLength(MAX_TRIALS);
      const reported = new Map<number, { accuracy: number; sha256: string }>();
      for (const pod of trialPods) {
        expect(pod.spec.nodeName).toBe(REAL_NODE);
        const message = pod.status.containerStatuses?.[0]?.state.terminated?.message ?? '';
        reported.set(Number(pod.metadata.labels['ymera.io/trial']), JSON.parse(message));
      }

      // the search found the known good region within the budget, and the best is the best
      const best = sweep?.best;
      const top = Math.max(...[...reported.values()].map((r) => r.accuracy));
      expect(best?.objective).toBeGreaterThanOrEqual(GOOD_ACCURACY);
      expect(best?.objective).toBe(top);
      expect(best?.objective).toBe(reported.get(best?.index ?? -1)?.accuracy);
      expect(Number(best?.parameters.learning_rate)).toBeGreaterThanOrEqual(0.3);
      expect(Number(best?.parameters.hidden_units)).toBeGreaterThanOrEqual(4);
      expect(best?.outputDir).toBe(`trials/train-${best?.index}`);

      // the winner's model file, as the trial wrote it to the volume
      const winnerFile = path.join(
        store?.dir ?? '',
        NAME,
        run?.id ?? '',
        best?.outputDir ?? '',
        'train/model.onnx',
      );
      const model = readFileSync(winnerFile);
      const digest = sha256(model);
      expect(digest).toBe(reported.get(best?.index ?? -1)?.sha256);
      expect(await moonAccuracy(model)).toBeGreaterThanOrEqual(0.9);

      // the evaluate step (a later step) read the winner's model at the declared path and at YMERA_INPUT_MODEL
      const evaluate = await podsOf<Pod>(ns, NAME, 'evaluate');
      const evaluated = JSON.parse(
        evaluate[0]?.status.containerStatuses?.[0]?.state.terminated?.message ?? '{}',
      ) as { declared?: string; input?: string };
      expect(evaluated).toEqual({ declared: digest, input: digest });

      // registered, past the gate and promoted: the winner's file, pinned by its digest
      const promoted = await eventually(
        'the model to be promoted',
        async () => {
          const p = await getPipeline();
          return p?.status?.latestModel?.promoted ? p : undefined;
        },
        60_000,
      );
      const latest = promoted.status?.latestModel;
      expect(latest).toMatchObject({
        version: run?.id,
        sha256: digest,
        metrics: { accuracy: best?.objective },
        gate: { passed: true },
        promoted: true,
      });
      expect(latest?.uri).toMatch(new RegExp(`/${run?.id}/${best?.outputDir}/train/model\\.onnx$`));
      const target = await eventually('the InferenceService to name the winner', async () => {
        const s = await getJson<{ spec: { model: { uri: string; version: string; sha256?: string } } }>([
          'get',
          '-n',
          ns,
          `inferenceservice.ymera.io/${NAME}`,
        ]);
        return s?.spec.model.version === run?.id ? s : undefined;
      });
      expect(target.spec.model).toMatchObject({ uri: latest?.uri, version: run?.id, sha256: digest });
    },
    RUN_TIMEOUT + 120_000,
  );
});
