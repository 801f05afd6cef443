// The AutoML trainer (test/e2e/fixtures/trainer) in its stack-built image on
// real-node-1, as plain Jobs in a restricted namespace: hyperparameters through
// YMERA_PARAM_<NAME> and through YMERA_PARAMS, one ymera-metrics line per 100
// epochs on stdout, the final metrics and the model's sha256 as the
// termination message, and a real ONNX model under $YMERA_OUTPUT_DIR that
// onnxruntime loads and that separates the moons. This is what the sweep e2e
// (real-node-sweep.e2e.test.ts) builds on.
//
// Skipped, saying why, without the real node.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toYaml } from './samples.ts';
import { eventually, freshNamespace, kubectl, kubectlOk, podsWith } from './support.ts';
import {
  GOOD_ACCURACY,
  TRAINER_IMAGE,
  hostPathArtifacts,
  moonAccuracy,
  realNodePlacement,
  trainerSkipReason,
} from './trainer-fixtures.ts';

// image start and a numpy import on 2 shared cores
const JOB_TIMEOUT = 120_000;

interface Pod {
  spec: { nodeName?: string };
  status: {
    containerStatuses?: { state: { terminated?: { exitCode: number; message?: string } } }[];
  };
}

function trainerJob(name: string, env: { name: string; value: string }[]): unknown {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { app: name } },
        spec: {
          ...realNodePlacement(),
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'train',
              image: TRAINER_IMAGE,
              env: [...env, { name: 'YMERA_OUTPUT_DIR', value: `/artifacts/${name}` }],
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'artifacts', mountPath: '/artifacts' }],
            },
          ],
          volumes: [{ name: 'artifacts', persistentVolumeClaim: { claimName: 'artifacts' } }],
        },
      },
    },
  };
}

describe.skipIf(trainerSkipReason !== '')(`AutoML trainer on the real node${trainerSkipReason}`, () => {
  let ns = '';
  let store: ReturnType<typeof hostPathArtifacts> | undefined;

  beforeAll(async () => {
    ns = await freshNamespace('e2e-trainer');
    // the step pods the operator makes meet the restricted standard; so does the trainer's image
    await kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    store = hostPathArtifacts(ns, 'artifacts');
    await kubectlOk(['apply', '-f', '-'], toYaml(store.objects));
  });

  afterAll(async () => {
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=60s']);
    if (store) await kubectl(['delete', 'pv', store.pv, '--wait=false']);
    store?.cleanup();
  });

  /** Runs the Job and waits for its pod to terminate; returns the pod and its termination message as JSON. */
  async function run(name: string, env: { name: string; value: string }[]) {
    await kubectlOk(['apply', '-n', ns, '-f', '-'], toYaml([trainerJob(name, env)]));
    const pod = await eventually(
      `the ${name} pod to terminate`,
      async () => {
        const [p] = await podsWith<Pod>(ns, `app=${name}`);
        return p?.status.containerStatuses?.[0]?.state.terminated ? p : undefined;
      },
      JOB_TIMEOUT,
      1000,
    );
    const terminated = pod.status.containerStatuses?.[0]?.state.terminated;
    expect(terminated?.exitCode, terminated?.message).toBe(0);
    const metrics = JSON.parse(terminated?.message ?? '') as Record<string, unknown>;
    const logs = await kubectlOk(['logs', '-n', ns, `job/${name}`]);
    return { pod, metrics, logs };
  }

  it('trains in the good region from YMERA_PARAM_*, reports per epoch and writes an ONNX model that separates the moons', async () => {
    const { pod, metrics, logs } = await run('good', [
      { name: 'YMERA_PARAM_LEARNING_RATE', value: '3' },
      { name: 'YMERA_PARAM_HIDDEN_UNITS', value: '8' },
      { name: 'YMERA_TRIAL', value: '0' },
    ]);
    expect(pod.spec.nodeName).toBe(process.env.YMERA_REAL_NODE);
    expect(metrics).toMatchObject({ learning_rate: 3, hidden_units: 8 });
    expect(metrics.accuracy).toBeGreaterThanOrEqual(GOOD_ACCURACY);
    // intermediate reports, in order, for early stopping
    const reports = logs
      .split('\n')
      .filter((l) => l.startsWith('ymera-metrics '))
      .map((l) => JSON.parse(l.slice('ymera-metrics '.length)) as { accuracy: number; epoch: number });
    expect(reports.map((r) => r.epoch)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(reports.every((r) => r.accuracy > 0 && r.accuracy <= 1)).toBe(true);
    // the files under $YMERA_OUTPUT_DIR, as the host sees the volume
    const dir = path.join(store?.dir ?? '', 'good/train');
    const model = readFileSync(path.join(dir, 'model.onnx'));
    expect(metrics.sha256).toBe(createHash('sha256').update(model).digest('hex'));
    const written = JSON.parse(readFileSync(path.join(dir, 'metrics.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(written.accuracy).toBe(metrics.accuracy);
    expect(await moonAccuracy(model)).toBeGreaterThanOrEqual(0.9);
  });

  it('takes YMERA_PARAMS as JSON, and outside the good region scores below the threshold', async () => {
    const { metrics } = await run('poor', [
      { name: 'YMERA_PARAMS', value: JSON.stringify({ learning_rate: 0.01, hidden_units: 2 }) },
    ]);
    expect(metrics).toMatchObject({ learning_rate: 0.01, hidden_units: 2 });
    expect(metrics.accuracy).toBeLessThan(GOOD_ACCURACY);
  });
});
