// Sweep early stopping end to end on the real node (issue #19): the operator
// reads the intermediate `ymera-metrics` reports from the trial pods' logs
// through the API server and the real kubelet, and stops the trials of a bad
// region by the median rule.
//
// One sweep, run twice at once in two namespaces by one operator: 6 trials
// (3 at once, seeded) over learning_rate of the real trainer
// (test/e2e/fixtures/trainer, paced by REPORT_DELAY_SECONDS so a trial lasts
// about 25 s: 10 reports 2.5 s apart), the first three in the good region,
// then two bad ones (0.001, 0.01) and a good one (1).
// - With what the chart value rbac.learningPipelineEarlyStopping=true grants
//   (pods/log get; rendered from the chart and bound in that namespace only):
//   both bad trials are stopped before their end (EarlyStopped, an Event
//   naming the report, the metric; their Jobs were ended and never wrote a
//   model), the good one runs to its end, and the sweep succeeds with the best.
// - Without it: one EarlyStoppingForbidden Warning naming the value, and every
//   trial runs to its end.
//
// The setup (restricted namespace, hostPath artifacts, trainer on real-node-1)
// copies the few lines of real-node-sweep.e2e.test.ts it needs. Skipped,
// saying why, without the real node.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { IDENTITY_ENV, OPERATOR_RELEASE } from './operator-identity.ts';
import { toYaml } from './samples.ts';
import type { KubeEvent, OperatorProcess } from './support.ts';
import {
  eventsAbout,
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  podsWith,
  repo,
  startOperator,
} from './support.ts';
import {
  GOOD_ACCURACY,
  TRAINER_IMAGE,
  hostPathArtifacts,
  realNodePlacement,
  trainerSkipReason,
} from './trainer-fixtures.ts';

const NAME = 'moons';
const REPORTS = 10;
/** Seconds after each report: a trial lasts ~25 s, longer than the operator's 15 s poll of a running run. */
const REPORT_DELAY_SECONDS = '2.5';
// fixtures/trainer/README.md, per-report accuracy: from report 3 on, 0.001 and
// 0.01 stay below 0.85, 1, 3, 5 and 10 above 0.96; 10 % under the good median is ~0.89
const GOOD = ['5', '10', '3', '1'];
const BAD = ['0.001', '0.01'];
/** Seed 21 proposes 5, 10, 3 first (the median's trials), then 0.001, 0.01, 1. */
const SEED = 21;
const MAX_TRIALS = GOOD.length + BAD.length;
const EARLY_STOPPING = { minReports: 3, minTrials: 3, marginPercent: 10 };
// two waves of ~30 s trials (image start, numpy, 10 paced reports); generous for a loaded 2-core machine
const RUN_TIMEOUT = 150_000;

interface Trial {
  index: number;
  parameters: Record<string, string>;
  phase: string;
  objective?: number;
  job?: string;
  reason?: string;
}
interface Sweep {
  trials?: Trial[];
  best?: { index: number; objective: number; parameters: Record<string, string>; outputDir: string };
  started: number;
  running: number;
  succeeded: number;
  failed: number;
  earlyStopped: number;
}
interface Run {
  id: string;
  phase: string;
  message?: string;
  steps?: { name: string; phase: string; job?: string; sweep?: Sweep }[];
}
interface Pipeline {
  status?: { runs?: Run[] };
}
interface Pod {
  metadata: { name: string; labels: Record<string, string> };
  status: {
    phase?: string;
    containerStatuses?: { state: { terminated?: { exitCode: number; message?: string } } }[];
  };
}
interface Job {
  metadata: { name: string; annotations?: Record<string, string> };
  status?: { active?: number; conditions?: { type: string; status: string; reason?: string }[] };
}
interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
}

/** The rules the chart's ClusterRole gains with `--set <value>=true` (what a cluster admin grants with it). */
async function chartGrant(value: string): Promise<PolicyRule[]> {
  const render = async (set: string[]) => {
    const r = await new Promise<{ code: number; out: string; err: string }>((resolve) =>
      execFile(
        'helm',
        ['template', OPERATOR_RELEASE.release, path.join(repo, 'charts', 'ymera-operator'), ...set],
        { env: process.env, maxBuffer: 16 * 1024 * 1024 },
        (e, out, err) => resolve({ code: e ? 1 : 0, out, err }),
      ),
    );
    if (r.code !== 0) throw new Error(`helm template failed: ${r.err}`);
    const role = parseAllDocuments(r.out)
      .map((d) => d.toJS() as { kind?: string; rules?: PolicyRule[] } | null)
      .find((o) => o?.kind === 'ClusterRole');
    return (role?.rules ?? []).map((rule) => JSON.stringify(rule));
  };
  const off = new Set(await render([]));
  return (await render(['--set', `${value}=true`]))
    .filter((r) => !off.has(r))
    .map((r) => JSON.parse(r) as PolicyRule);
}

/** One namespace of the test: its pipeline, artifacts volume and helpers. */
function side(prefix: string) {
  const s = {
    ns: '',
    store: undefined as ReturnType<typeof hostPathArtifacts> | undefined,
    async setUp(): Promise<void> {
      s.ns = await freshNamespace(prefix);
      // the trial pods must meet the restricted Pod Security Standard on a real kubelet
      await kubectlOk(['label', 'namespace', s.ns, 'pod-security.kubernetes.io/enforce=restricted']);
      s.store = hostPathArtifacts(s.ns, 'ml-artifacts');
      await kubectlOk(['apply', '-f', '-'], toYaml(s.store.objects));
    },
    pipeline: () => ({
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'LearningPipeline',
      metadata: { name: NAME, namespace: s.ns },
      spec: {
        artifacts: { pvc: { claimName: 'ml-artifacts', path: NAME } },
        steps: [
          {
            name: 'train',
            image: TRAINER_IMAGE,
            ...realNodePlacement(),
            env: [{ name: 'REPORT_DELAY_SECONDS', value: REPORT_DELAY_SECONDS }],
            resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } },
            timeoutSeconds: 120,
            outputs: [
              { name: 'model', path: 'train/model.onnx' },
              { name: 'metrics', path: 'train/metrics.json' },
            ],
            sweep: {
              parameters: [{ name: 'learning_rate', categorical: [...GOOD, ...BAD] }],
              objective: { metric: 'accuracy', goal: 'Maximize' },
              algorithm: 'Random',
              maxTrials: MAX_TRIALS,
              parallelTrials: 3,
              maxFailedTrials: 0,
              earlyStopping: EARLY_STOPPING,
              seed: SEED,
            },
          },
        ],
      },
    }),
    get: () => getJson<Pipeline>(['get', '-n', s.ns, `learningpipeline.ymera.io/${NAME}`]),
    /** The first run once it ended. */
    finished: () =>
      eventually(
        `the run in ${s.ns} to finish`,
        async () => {
          const run = (await s.get())?.status?.runs?.[0];
          return run && ['Succeeded', 'Failed'].includes(run.phase) ? run : undefined;
        },
        RUN_TIMEOUT,
        1000,
      ),
    events: async (reason: string): Promise<KubeEvent[]> =>
      (await eventsAbout(s.ns, NAME, 'LearningPipeline')).filter((e) => e.reason === reason),
    trialPods: (): Promise<Pod[]> =>
      podsWith<Pod>(s.ns, `ymera.io/learningpipeline=${NAME},ymera.io/step=train`),
    /** Where trial `index` of `run` wrote its model (the PVC is a directory on this host). */
    modelFile: (run: string, index: number) =>
      path.join(s.store?.dir ?? '', NAME, run, `trials/train-${index}`, 'train/model.onnx'),
  };
  return s;
}

const sweepOf = (run: Run) => run.steps?.find((st) => st.name === 'train')?.sweep;
const lr = (t: Trial) => t.parameters.learning_rate ?? '';
const reportsIn = (log: string) => log.split('\n').filter((l) => l.startsWith('ymera-metrics ')).length;

describe.skipIf(trainerSkipReason !== '')(`sweep early stopping on the real node${trainerSkipReason}`, () => {
  const granted = side('e2e-es-granted');
  const plain = side('e2e-es-plain');
  let op: OperatorProcess | undefined;

  beforeAll(async () => {
    await Promise.all([granted.setUp(), plain.setUp()]);
    // what rbac.learningPipelineEarlyStopping=true grants, bound to the operator's ServiceAccount in one namespace
    const rules = await chartGrant('rbac.learningPipelineEarlyStopping');
    expect(rules).toEqual([{ apiGroups: [''], resources: ['pods/log'], verbs: ['get'] }]);
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name: 'ymera-learningpipeline-early-stopping', namespace: granted.ns },
          rules,
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'ymera-learningpipeline-early-stopping', namespace: granted.ns },
          roleRef: {
            apiGroup: 'rbac.authorization.k8s.io',
            kind: 'Role',
            name: 'ymera-learningpipeline-early-stopping',
          },
          subjects: [
            {
              kind: 'ServiceAccount',
              name: OPERATOR_RELEASE.fullname,
              namespace: OPERATOR_RELEASE.namespace,
            },
          ],
        },
      ]),
    );
    const user = process.env[IDENTITY_ENV.user] ?? '';
    const canRead = async (ns: string) =>
      (
        await kubectl(['auth', 'can-i', 'get', 'pods', '--subresource=log', '-n', ns, `--as=${user}`])
      ).stdout.trim();
    await eventually('the grant to take effect', async () => (await canRead(granted.ns)) === 'yes');
    expect(await canRead(plain.ns)).toBe('no');

    op = await startOperator('op-early-stop', [`--watch-namespaces=${granted.ns},${plain.ns}`]);
    await kubectlOk(['apply', '-f', '-'], toYaml([granted.pipeline(), plain.pipeline()]));
  });

  afterAll(async () => {
    for (const s of [granted, plain])
      if (s.ns)
        await kubectl(['delete', 'learningpipelines', '--all', '-n', s.ns, '--wait=true', '--timeout=60s']);
    await op?.stop();
    for (const s of [granted, plain]) {
      if (s.ns) await kubectl(['delete', 'namespace', s.ns, '--wait=true', '--timeout=60s']);
      if (s.store) await kubectl(['delete', 'pv', s.store.pv, '--wait=false']);
      s.store?.cleanup();
    }
  });

  it(
    'stops the bad trials before their end with rbac.learningPipelineEarlyStopping, and the sweep succeeds with the best',
    async () => {
      const run = await granted.finished();
      const sweep = sweepOf(run);
      expect(run.phase, `${run.message ?? ''} ${JSON.stringify(sweep)}`).toBe('Succeeded');
      const trials = sweep?.trials ?? [];
      // the seed's order: the median's three trials come from the good region
      expect(
        trials
          .slice(0, 3)
          .map(lr)
          .every((v) => GOOD.includes(v)),
        JSON.stringify(trials),
      ).toBe(true);
      expect(sweep).toMatchObject({
        started: MAX_TRIALS,
        running: 0,
        failed: 0,
        succeeded: 4,
        earlyStopped: 2,
      });
      // exactly the bad region was stopped; the good trial that ran against the median was not
      expect(
        trials
          .filter((t) => t.phase === 'EarlyStopped')
          .map(lr)
          .sort(),
      ).toEqual([...BAD].sort());
      expect(
        trials
          .filter((t) => t.phase === 'Succeeded')
          .map(lr)
          .sort(),
      ).toEqual([...GOOD].sort());

      // the best of the succeeded trials, in the good region
      const succeeded = trials.filter((t) => t.phase === 'Succeeded');
      const top = Math.max(...succeeded.map((t) => t.objective ?? -1));
      expect(sweep?.best?.objective).toBe(top);
      expect(sweep?.best?.objective).toBeGreaterThanOrEqual(GOOD_ACCURACY);
      expect(GOOD).toContain(sweep?.best?.parameters.learning_rate);
      expect(run.steps?.find((st) => st.name === 'train')?.job).toBe(
        trials.find((t) => t.index === sweep?.best?.index)?.job,
      );

      const stopped = await eventually('a TrialEarlyStopped Event per stopped trial', async () => {
        const events = await granted.events('TrialEarlyStopped');
        return events.length >= BAD.length ? events : undefined;
      });
      expect(stopped).toHaveLength(BAD.length);
      for (const t of trials.filter((x) => x.phase === 'EarlyStopped')) {
        // the operator decided at a report before the last one, from the pod's log
        const note = stopped.find((e) => e.note.includes(`trial ${t.index} stopped early`))?.note ?? '';
        const at = Number(/: report (\d+): /.exec(note)?.[1]);
        expect(at, note).toBeGreaterThanOrEqual(EARLY_STOPPING.minReports);
        expect(at, note).toBeLessThan(REPORTS);
        expect(t.reason).toMatch(/median stopping rule/);
        // its Job was ended by the deadline the operator set, and its pod ended before the trainer wrote a model
        const job = await getJson<Job>(['get', '-n', granted.ns, `job/${t.job}`]);
        expect(job?.metadata.annotations?.['ymera.io/early-stopped']).toContain(`report ${at}:`);
        expect(
          job?.status?.conditions?.some(
            (c) =>
              ['Failed', 'FailureTarget'].includes(c.type) &&
              c.status === 'True' &&
              c.reason === 'DeadlineExceeded',
          ),
          JSON.stringify(job?.status),
        ).toBe(true);
        await eventually(`the pod of ${t.job} to end`, async () => {
          const pods = (await granted.trialPods()).filter((p) => p.metadata.labels['job-name'] === t.job);
          return pods.every((p) => ['Succeeded', 'Failed'].includes(p.status.phase ?? '')) ? true : undefined;
        });
        expect(existsSync(granted.modelFile(run.id, t.index)), `trial ${t.index} wrote a model`).toBe(false);
      }
      // every trial that was not stopped ran to its end
      for (const t of succeeded) expect(existsSync(granted.modelFile(run.id, t.index))).toBe(true);

      expect(
        await op?.metric('ymera_learningpipeline_trials_early_stopped_total', {
          namespace: granted.ns,
          learningpipeline: NAME,
        }),
      ).toBe(BAD.length);
      expect(await granted.events('EarlyStoppingForbidden')).toEqual([]);
    },
    RUN_TIMEOUT + 60_000,
  );

  it(
    'without rbac.learningPipelineEarlyStopping warns once (EarlyStoppingForbidden) and runs every trial to its end',
    async () => {
      const run = await plain.finished();
      const sweep = sweepOf(run);
      expect(run.phase, `${run.message ?? ''} ${JSON.stringify(sweep)}`).toBe('Succeeded');
      expect(sweep).toMatchObject({
        started: MAX_TRIALS,
        running: 0,
        failed: 0,
        succeeded: MAX_TRIALS,
        earlyStopped: 0,
      });

      const warnings = await plain.events('EarlyStoppingForbidden');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ type: 'Warning' });
      expect(warnings[0]?.note).toContain('rbac.learningPipelineEarlyStopping=true');
      expect(await plain.events('TrialEarlyStopped')).toEqual([]);

      // the bad trials too: all ten reports, the final metrics and the model
      const pods = await plain.trialPods();
      for (const t of (sweep?.trials ?? []).filter((x) => BAD.includes(lr(x)))) {
        const pod = pods.find((p) => p.metadata.labels['job-name'] === t.job);
        expect(pod?.status.containerStatuses?.[0]?.state.terminated?.exitCode).toBe(0);
        expect(reportsIn(await kubectlOk(['logs', '-n', plain.ns, pod?.metadata.name ?? '']))).toBe(REPORTS);
        expect(t.objective).toBeLessThan(0.9);
        expect(existsSync(plain.modelFile(run.id, t.index))).toBe(true);
      }
    },
    RUN_TIMEOUT + 60_000,
  );
});
