// LearningPipeline (lpipe): a DAG of container steps (GPU-aware Jobs) run on a
// schedule or on a Kafka event, keeping artifacts in a shared store and
// promoting the resulting model to an InferenceService behind a metrics gate.
// Single source of truth for the CRD and the types.
import { s } from '../../operator/schema/builder.ts';
import type { Defaulted, Infer } from '../../operator/schema/builder.ts';
import {
  commandAndArgs,
  cronSchedule,
  DNS_LABEL_PATTERN,
  dnsLabel,
  dnsSubdomain,
  env,
  gpu,
  kafkaTopic,
  kindPrinterColumns,
  nodeSelector,
  pvcLocation,
  resources,
  s3Location,
  sha256,
  statusObject,
  statusPhase,
  timeZone,
  tolerations,
} from '../../operator/schema/common.ts';
import { defineKind } from '../../operator/schema/crd.ts';
import { algorithms } from '../optimizationloop/schema.ts';
import type { CustomResource } from '../../operator/schema/crd.ts';

export const KIND = 'LearningPipeline';

export const conditionTypes = ['Running', 'Succeeded', 'Promoted'] as const;

/** Phase of a run (and of the pipeline: the phase of its latest run, Idle before the first). */
export const runPhases = ['Pending', 'Running', 'Succeeded', 'Failed', 'Cancelled'] as const;
export const phases = ['Idle', ...runPhases] as const;
export const stepPhases = [
  'Pending',
  'Running',
  'Retrying',
  'Succeeded',
  'Failed',
  'Skipped',
  'Cancelled',
] as const;
export const runTriggers = ['Created', 'Schedule', 'Event', 'Manual'] as const;
/** How a promotion reaches the target InferenceService (spec.promotion.mode). */
export const promotionModes = ['Patch', 'Record'] as const;

/** Annotation that requests a run (trigger Manual) whenever its value changes, e.g. to a timestamp. */
export const RUN_ANNOTATION = 'ymera.io/run';
/** Annotation that promotes the latest model under promotion.policy Manual: set it to that model's version. */
export const PROMOTE_ANNOTATION = 'ymera.io/promote';

/** Runs that may be active at once under concurrencyPolicy Allow (keeps status and the cluster bounded). */
export const MAX_ACTIVE_RUNS = 5;

export const MAX_STEPS = 32;
const STEP_NAME_MAX = 32;
const ARTIFACT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$';

const artifactName = (description?: string) =>
  s.string({ description, minLength: 1, maxLength: 63, pattern: ARTIFACT_NAME_PATTERN });

const relativePath = (description: string) =>
  s.string({
    description,
    minLength: 1,
    maxLength: 512,
    validations: [
      {
        rule: "!self.startsWith('/') && !self.matches('(^|/)[.][.](/|$)')",
        message: 'must be a relative path inside the artifact root (no leading / and no .. segments)',
      },
    ],
  });

/** Trials of a sweep (Katib's maxTrialCount, at most). */
export const MAX_SWEEP_TRIALS = 200;
export const MAX_SWEEP_PARAMETERS = 16;
export const sweepGoals = ['Maximize', 'Minimize'] as const;
export const trialPhases = ['Running', 'Succeeded', 'Failed', 'EarlyStopped'] as const;

const rangeBound = (what: string) => s.number({ description: what });

const sweepParameter = s.object(
  {
    name: s.string({
      description:
        'Name of the hyperparameter; the trial sees it as env YMERA_PARAM_<NAME upper-cased> and in YMERA_PARAMS.',
      minLength: 1,
      maxLength: 63,
      pattern: '^[a-z][a-z0-9_]{0,62}$',
    }),
    double: s.optional(
      s.object(
        {
          min: rangeBound('Smallest value.'),
          max: rangeBound('Largest value.'),
          logScale: s.boolean({
            description: 'Search on a log scale (min must be > 0), e.g. for a learning rate.',
            default: false,
          }),
        },
        {
          description: 'A real-valued parameter in [min, max].',
          validations: [
            { rule: 'self.min < self.max', message: 'min must be less than max', fieldPath: '.min' },
            {
              rule: '!self.logScale || self.min > 0.0',
              message: 'logScale needs min > 0',
              fieldPath: '.min',
            },
          ],
        },
      ),
    ),
    int: s.optional(
      s.object(
        {
          min: s.integer({ description: 'Smallest value.' }),
          max: s.integer({ description: 'Largest value.' }),
          step: s.integer({ description: 'Distance between allowed values.', minimum: 1, default: 1 }),
          logScale: s.boolean({
            description: 'Search on a log scale (min must be > 0).',
            default: false,
          }),
        },
        {
          description: 'An integer parameter: min, min+step, ... up to max.',
          validations: [
            { rule: 'self.min <= self.max', message: 'min must not exceed max', fieldPath: '.min' },
            { rule: '!self.logScale || self.min > 0', message: 'logScale needs min > 0', fieldPath: '.min' },
          ],
        },
      ),
    ),
    categorical: s.optional(
      s.array(s.string({ minLength: 1, maxLength: 256 }), {
        description: 'The allowed values (strings).',
        minItems: 1,
        maxItems: 64,
        listType: 'set',
      }),
    ),
  },
  {
    description: 'A hyperparameter and its search space: set exactly one of double, int or categorical.',
    validations: [
      {
        rule: '(has(self.double) ? 1 : 0) + (has(self.int) ? 1 : 0) + (has(self.categorical) ? 1 : 0) == 1',
        message: 'set exactly one of double, int or categorical',
      },
    ],
  },
);

const sweep = s.object(
  {
    parameters: s.array(sweepParameter, {
      description: 'The search space.',
      minItems: 1,
      maxItems: MAX_SWEEP_PARAMETERS,
      listType: 'map',
      listMapKeys: ['name'],
    }),
    objective: s.object(
      {
        metric: s.string({
          description:
            "Key of the objective in the trial's metrics: the flat JSON object of numbers it writes to /dev/termination-log.",
          minLength: 1,
          maxLength: 128,
        }),
        goal: s.enum(sweepGoals, { description: 'Whether higher or lower is better.', default: 'Maximize' }),
      },
      { description: 'What the sweep optimises.' },
    ),
    algorithm: s.enum(algorithms, {
      description:
        'How the next trial is proposed (the same code as OptimizationLoop): Random, HillClimb (pattern search around the best trial) or Bayesian (Gaussian process, expected improvement).',
      default: 'Random',
    }),
    maxTrials: s.integer({
      description: 'Trials to run in all (failed and early-stopped ones included).',
      minimum: 1,
      maximum: MAX_SWEEP_TRIALS,
      default: 10,
    }),
    parallelTrials: s.integer({
      description: 'Trials running at once (at most maxTrials).',
      minimum: 1,
      maximum: MAX_SWEEP_TRIALS,
      default: 1,
    }),
    maxFailedTrials: s.integer({
      description: 'Failed trials the sweep tolerates; one more fails the step.',
      minimum: 0,
      maximum: MAX_SWEEP_TRIALS,
      default: 3,
    }),
    earlyStopping: s.optional(
      s.object(
        {
          minReports: s.integer({
            description: 'Intermediate reports a trial must have made before it may be stopped.',
            minimum: 1,
            maximum: 1000,
            default: 3,
          }),
          minTrials: s.integer({
            description:
              'Succeeded trials that reported at the same index needed before the rule stops any trial (the median is of those only).',
            minimum: 1,
            maximum: MAX_SWEEP_TRIALS,
            default: 3,
          }),
          marginPercent: s.number({
            description:
              'How much worse than the median of the succeeded trials (at the same report) a trial must be to be stopped, in percent of that median.',
            minimum: 0,
            maximum: 1000,
            default: 0,
          }),
        },
        {
          description:
            'Median stopping rule on the intermediate metrics a trial prints to stdout as lines `ymera-metrics {"<metric>": <value>, "step": <n>}` (read from the pod log, a bounded tail); trials are compared at the same step, and reports without one are numbered by position, used only while the tail read holds the whole log. Where logs cannot be read, no trial is stopped.',
        },
      ),
    ),
    seed: s.optional(
      s.integer({
        description:
          'Seed of the proposals (default: derived from the run and step), for reproducible sweeps.',
        minimum: 0,
        maximum: 4294967295,
      }),
    ),
  },
  {
    description:
      "Run the step as a hyperparameter sweep: one Job per trial (same pod template and GPU placement as the step), each writing its outputs below its own directory; the best trial's outputs become the step's outputs.",
    validations: [
      {
        rule: 'self.parallelTrials <= self.maxTrials',
        message: 'parallelTrials must not exceed maxTrials',
        fieldPath: '.parallelTrials',
      },
      {
        rule: 'self.maxFailedTrials <= self.maxTrials',
        message: 'maxFailedTrials must not exceed maxTrials',
        fieldPath: '.maxFailedTrials',
      },
      {
        // with as many finished trials as the budget, no trial would be left to stop
        rule: '!has(self.earlyStopping) || self.earlyStopping.minTrials < self.maxTrials',
        message: 'earlyStopping.minTrials must be less than maxTrials (else no trial is ever stopped)',
        fieldPath: '.earlyStopping.minTrials',
      },
    ],
  },
);

const step = s.object(
  {
    name: s.string({
      description: 'Name of the step, unique within the pipeline (a DNS label of at most 32 characters).',
      minLength: 1,
      maxLength: STEP_NAME_MAX,
      pattern: DNS_LABEL_PATTERN,
    }),
    image: s.string({ description: 'Container image the step runs.', minLength: 1, maxLength: 512 }),
    ...commandAndArgs(),
    env: env('the step'),
    resources: resources('the step'),
    gpu: gpu('the step'),
    nodeSelector: nodeSelector("the step's pods"),
    tolerations: tolerations("the step's pods"),
    dependsOn: s.optional(
      s.array(s.string({ maxLength: STEP_NAME_MAX }), {
        description:
          'Steps that must succeed before this one starts. Steps without dependencies start at once.',
        maxItems: 16,
        listType: 'set',
      }),
    ),
    retry: s.optional(
      s.object(
        {
          limit: s.integer({
            description: 'Retries after a failed attempt (0: none).',
            minimum: 0,
            maximum: 10,
            default: 0,
          }),
          backoff: s.optional(
            s.object(
              {
                durationSeconds: s.integer({
                  description: 'Wait before the first retry, in seconds.',
                  minimum: 1,
                  maximum: 86400,
                  default: 10,
                }),
                factor: s.number({
                  description: 'Multiplier applied to the wait after each retry.',
                  minimum: 1,
                  maximum: 10,
                  default: 2,
                }),
                maxDurationSeconds: s.integer({
                  description: 'Longest wait between retries, in seconds.',
                  minimum: 1,
                  maximum: 86400,
                  default: 600,
                }),
              },
              {
                description: 'Exponential backoff between attempts.',
                validations: [
                  {
                    rule: 'self.durationSeconds <= self.maxDurationSeconds',
                    message: 'durationSeconds must not exceed maxDurationSeconds',
                    fieldPath: '.durationSeconds',
                  },
                ],
              },
            ),
          ),
        },
        { description: 'How failed attempts are retried. Each attempt is a Job of its own.' },
      ),
    ),
    timeoutSeconds: s.optional(
      s.integer({
        description:
          'Longest time an attempt may run before it is stopped and counted as failed, in seconds.',
        minimum: 1,
        maximum: 604800,
      }),
    ),
    podAnnotations: s.optional(
      s.map(s.string({ maxLength: 4096 }), {
        description:
          "Extra annotations on the step's pods (e.g. for a service mesh or a cost tool). The local e2e cluster reads ymera.io/simulate here to simulate failing steps.",
        maxProperties: 32,
      }),
    ),
    inputs: s.optional(
      s.array(artifactName(), {
        description:
          'Artifacts this step reads, by output name. Each must be an output of a step this one depends on (directly or through others). The artifact root is mounted at /artifacts.',
        maxItems: 16,
        listType: 'set',
      }),
    ),
    outputs: s.optional(
      s.array(
        s.object(
          {
            name: artifactName(
              'Name of the artifact, unique within the pipeline; referenced by inputs, model and promotion.',
            ),
            path: relativePath(
              "File or directory the step writes, relative to the run's artifact root (mounted at /artifacts), e.g. train/model.onnx.",
            ),
          },
          { description: 'An artifact the step produces.' },
        ),
        {
          description: 'Artifacts this step produces.',
          maxItems: 16,
          listType: 'map',
          listMapKeys: ['name'],
        },
      ),
    ),
    sweep: s.optional(sweep),
  },
  {
    description:
      'A step of the pipeline: one container run as a Kubernetes Job (or, with sweep, one per trial).',
    validations: [
      {
        rule: '!has(self.sweep) || !has(self.retry)',
        message: 'a sweep step has no retry: failed trials count against sweep.maxFailedTrials',
        fieldPath: '.retry',
      },
      {
        rule: '!has(self.dependsOn) || !(self.name in self.dependsOn)',
        message: 'a step cannot depend on itself',
        fieldPath: '.dependsOn',
      },
    ],
  },
);

const artifacts = s.object(
  {
    pvc: s.optional(pvcLocation('run artifacts')),
    s3: s.optional(s3Location('run artifacts')),
  },
  {
    description:
      'Where runs keep their artifacts: each run gets a directory <run-id>/ below it, mounted into every step at /artifacts. Set exactly one of pvc or s3.',
    validations: [{ rule: 'has(self.pvc) != has(self.s3)', message: 'set exactly one of pvc or s3' }],
  },
);

const triggers = s.object(
  {
    kafka: s.optional(
      s.object(
        {
          topic: kafkaTopic(
            'Topic to watch (e.g. the drift events of an InferenceService). Must start with "<namespace>." unless the cluster admin allows more (operator flag --kafka-topic-allow).',
          ),
          filter: s.optional(
            s.map(s.string({ maxLength: 256 }), {
              description:
                'Only events whose JSON payload has all these fields with exactly these values start a run; keys are dotted paths (e.g. type: drift, model.name: fraud). Default: every event.',
              maxProperties: 16,
            }),
          ),
          schema: s.optional(
            s.object(
              {
                inline: s.optional(
                  s.preserveUnknown({
                    description:
                      'The JSON Schema (draft-07) itself. For a CloudEvent it describes the whole envelope (put the data schema under properties.data).',
                  }),
                ),
                configMapKeyRef: s.optional(
                  s.object(
                    {
                      name: dnsSubdomain("A ConfigMap in the pipeline's own namespace."),
                      key: s.string({
                        description: 'The key whose value is the JSON Schema (JSON text).',
                        minLength: 1,
                        maxLength: 253,
                        pattern: '^[-._a-zA-Z0-9]+$',
                      }),
                    },
                    { description: "Read the JSON Schema from a ConfigMap key in the pipeline's namespace." },
                  ),
                ),
              },
              {
                description:
                  'JSON Schema every event selected by the filter must match; with a schema, a value that is not JSON, or a selected event that does not match, goes to the dead-letter topic instead of starting a run. Set exactly one of inline or configMapKeyRef.',
                validations: [
                  {
                    rule: 'has(self.inline) != has(self.configMapKeyRef)',
                    message: 'set exactly one of inline or configMapKeyRef',
                  },
                ],
              },
            ),
          ),
          deadLetter: s.optional(
            s.object(
              {
                topic: s.optional(
                  kafkaTopic(
                    'Dead-letter topic (default: "<topic>.dlq"). Same name rules as topic: it must start with "<namespace>." unless the cluster admin allows more. Created with 1 partition when missing; kept when the pipeline is deleted.',
                  ),
                ),
              },
              {
                description:
                  'Where events that fail the schema, or whose handling failed repeatedly, are produced, with the reason and their original headers.',
              },
            ),
          ),
        },
        {
          description: 'Start a run when a matching event arrives on a Kafka topic.',
          validations: [
            {
              // its own dead letters would be read back and dead-lettered again, forever
              rule: '!has(self.deadLetter) || !has(self.deadLetter.topic) || self.deadLetter.topic != self.topic',
              message:
                'deadLetter.topic must differ from topic (dead letters would be read back and loop forever)',
            },
          ],
        },
      ),
    ),
  },
  { description: 'Events that start a run, in addition to the schedule.' },
);

const model = s.object(
  {
    name: dnsLabel('Name of the model (used in artifact paths, labels and events).'),
    outputArtifact: artifactName('Name of the step output that is the trained model file (ONNX).'),
  },
  { description: 'The model a successful run produces.' },
);

const promotion = s.object(
  {
    target: dnsLabel(
      'Name of the InferenceService, in the same namespace, that serves the promoted model.',
      253,
    ),
    policy: s.enum(['Manual', 'Auto'], {
      description:
        'Auto: a model that passes the gate (and whose sha256 is known) is promoted at once. Manual: it waits in status.latestModel until the annotation ymera.io/promote names its version.',
      default: 'Manual',
    }),
    mode: s.enum(promotionModes, {
      description:
        "How a promotion reaches the target. Patch: the operator server-side applies the target's spec.model (uri, version, sha256; field manager ymera-operator), which rolls it out as a canary; once per model version, so a revert (e.g. by Argo CD self-heal) is reported, not fought. Record: for targets managed from Git (Argo CD, Flux) the operator never writes the target; it records the spec.model to commit in status.promotion, an Event and a model.promoted CloudEvent, and reports when the target's spec.model matches it.",
      default: 'Patch',
    }),
    gate: s.optional(
      s.object(
        {
          metricsArtifact: artifactName(
            'Name of the step output holding the metrics, a flat JSON object of numbers.',
          ),
          metric: s.string({
            description: 'Key of the metric in that JSON object (e.g. auc).',
            minLength: 1,
            maxLength: 128,
          }),
          min: s.optional(s.number({ description: 'The metric must be at least this value.' })),
          max: s.optional(s.number({ description: 'The metric must be at most this value.' })),
        },
        {
          description: 'Promote only a model whose metric lies within the bounds.',
          validations: [
            { rule: 'has(self.min) || has(self.max)', message: 'set min, max or both' },
            {
              rule: '!has(self.min) || !has(self.max) || self.min <= self.max',
              message: 'min must be less than or equal to max',
              fieldPath: '.min',
            },
          ],
        },
      ),
    ),
  },
  { description: 'Promotion of the trained model to an InferenceService.' },
);

export const specSchema = s.object(
  {
    steps: s.array(step, {
      description: 'The steps, a directed acyclic graph through dependsOn. Step names are unique.',
      minItems: 1,
      maxItems: MAX_STEPS,
      listType: 'map',
      listMapKeys: ['name'],
      validations: [
        {
          rule: 'self.all(s, !has(s.dependsOn) || s.dependsOn.all(d, self.exists(t, t.name == d)))',
          message: 'every dependsOn entry must name a step of this pipeline',
        },
      ],
    }),
    artifacts,
    schedule: s.optional(
      cronSchedule('Cron schedule of runs (e.g. "0 2 * * *" or @daily). Default: no scheduled runs.'),
    ),
    timeZone: timeZone('the schedule'),
    startingDeadlineSeconds: s.optional(
      s.integer({
        description:
          'A scheduled run that could not start within this many seconds of its time (operator down, or a run still active under Forbid) is counted as missed and skipped, as in a CronJob. Default: no deadline (a late run still starts, once).',
        minimum: 0,
        maximum: 31536000,
      }),
    ),
    triggers: s.optional(triggers),
    concurrencyPolicy: s.enum(['Allow', 'Forbid', 'Replace'], {
      description:
        'What happens when a run is due while another is running: Allow (run both), Forbid (skip the new one) or Replace (cancel the running one).',
      default: 'Forbid',
    }),
    historyLimit: s.integer({
      description: 'Finished runs kept in status and on the cluster (Jobs and their pods).',
      minimum: 1,
      maximum: 20,
      default: 5,
    }),
    suspend: s.boolean({
      description:
        'Start no runs on creation, schedule or Kafka events; a run requested with the ymera.io/run annotation still starts, and runs already going finish.',
      default: false,
    }),
    model: s.optional(model),
    promotion: s.optional(promotion),
  },
  {
    description: 'Desired state of the LearningPipeline.',
    validations: [
      {
        rule: '!has(self.model) || self.steps.exists(s, has(s.outputs) && s.outputs.exists(o, o.name == self.model.outputArtifact))',
        message: 'model.outputArtifact must name an output of a step',
        fieldPath: '.model.outputArtifact',
      },
      {
        rule: '!has(self.promotion) || has(self.model)',
        message: 'promotion needs model (which output is the model)',
        fieldPath: '.promotion',
      },
      {
        rule: '!has(self.promotion) || !has(self.promotion.gate) || self.steps.exists(s, has(s.outputs) && s.outputs.exists(o, o.name == self.promotion.gate.metricsArtifact))',
        message: 'promotion.gate.metricsArtifact must name an output of a step',
        fieldPath: '.promotion.gate.metricsArtifact',
      },
    ],
  },
);

const trialStatus = s.object(
  {
    index: s.integer({ description: 'Trial index (0-based; env YMERA_TRIAL).', minimum: 0 }),
    parameters: s.map(s.string({ maxLength: 256 }), {
      description: 'The hyperparameters of the trial, as the trial saw them (YMERA_PARAM_*).',
      maxProperties: MAX_SWEEP_PARAMETERS,
    }),
    phase: s.enum(trialPhases, { description: 'Phase of the trial.' }),
    objective: s.optional(s.number({ description: 'The objective metric the trial reported.' })),
    job: s.optional(s.string({ description: 'Name of the Job of the trial.', maxLength: 63 })),
    reason: s.optional(s.string({ description: 'Why it failed or was stopped.', maxLength: 256 })),
  },
  { description: 'One trial of a sweep.' },
);

const sweepStatus = s.object(
  {
    trials: s.optional(
      s.array(trialStatus, {
        description:
          'Trials: every one while the sweep runs; once it is over, the best and the latest ones (counts keep the totals).',
        maxItems: MAX_SWEEP_TRIALS,
        listType: 'map',
        listMapKeys: ['index'],
      }),
    ),
    best: s.optional(
      s.object(
        {
          index: s.integer({ description: 'Index of the best trial.', minimum: 0 }),
          objective: s.number({ description: 'Its objective value.' }),
          parameters: s.map(s.string({ maxLength: 256 }), {
            description: 'Its hyperparameters.',
            maxProperties: MAX_SWEEP_PARAMETERS,
          }),
          outputDir: s.string({
            description:
              "Directory of its outputs, relative to the run's artifact root (e.g. trials/train-3): where the step's outputs resolve to for later steps, the gate and the promotion.",
            maxLength: 128,
          }),
        },
        { description: 'The best succeeded trial so far.' },
      ),
    ),
    started: s.integer({ description: 'Trials started.', minimum: 0 }),
    running: s.integer({ description: 'Trials running.', minimum: 0 }),
    succeeded: s.integer({ description: 'Trials that succeeded.', minimum: 0 }),
    failed: s.integer({ description: 'Trials that failed.', minimum: 0 }),
    earlyStopped: s.integer({ description: 'Trials stopped by the median rule.', minimum: 0 }),
  },
  { description: 'Progress of a sweep step.' },
);

const runStep = s.object(
  {
    name: s.string({ description: 'Step name.', maxLength: STEP_NAME_MAX }),
    phase: s.enum(stepPhases, { description: 'Phase of the step in this run.' }),
    attempts: s.optional(s.integer({ description: 'Attempts started so far.', minimum: 0 })),
    job: s.optional(s.string({ description: 'Name of the Job of the latest attempt.', maxLength: 63 })),
    startTime: s.optional(s.dateTime({ description: 'When the first attempt started.' })),
    completionTime: s.optional(s.dateTime({ description: 'When the step finished.' })),
    nextAttemptTime: s.optional(
      s.dateTime({ description: 'While Retrying: when the next attempt starts (after the backoff).' }),
    ),
    message: s.optional(s.string({ description: 'Why the step failed or was skipped.', maxLength: 1024 })),
    sweep: s.optional(sweepStatus),
  },
  { description: 'State of one step in a run.' },
);

const run = s.object(
  {
    id: s.string({ description: 'Run ID (also the directory of its artifacts).', maxLength: 63 }),
    trigger: s.enum(runTriggers, {
      description:
        'What started the run: Created (the pipeline was created), Schedule, Event (Kafka trigger) or Manual (the ymera.io/run annotation).',
    }),
    cause: s.optional(
      s.string({
        description:
          'What exactly started it: the scheduled time, the Kafka event (topic/partition/offset or CloudEvent id) or the annotation value.',
        maxLength: 256,
      }),
    ),
    phase: s.enum(runPhases, { description: 'Phase of the run.' }),
    progress: s.optional(s.string({ description: 'Steps succeeded of all steps, e.g. 2/3.', maxLength: 16 })),
    startTime: s.optional(s.dateTime({ description: 'When the run started.' })),
    completionTime: s.optional(s.dateTime({ description: 'When the run finished.' })),
    steps: s.optional(
      s.array(runStep, {
        description: 'Steps of the run.',
        maxItems: MAX_STEPS,
        listType: 'map',
        listMapKeys: ['name'],
      }),
    ),
    message: s.optional(s.string({ description: 'Summary of the outcome.', maxLength: 1024 })),
  },
  { description: 'One run of the pipeline.' },
);

export const statusSchema = statusObject(KIND, conditionTypes, {
  phase: statusPhase(phases, 'Phase of the latest run; Idle before the first run.'),
  runs: s.optional(
    s.array(run, {
      description: 'Recent runs, newest first, at most historyLimit finished ones plus those running.',
      maxItems: 50,
      listType: 'map',
      listMapKeys: ['id'],
    }),
  ),
  lastSuccessfulRun: s.optional(
    s.object(
      {
        id: s.string({ description: 'Run ID.', maxLength: 63 }),
        completionTime: s.optional(s.dateTime({ description: 'When it finished.' })),
      },
      { description: 'The most recent run that succeeded.' },
    ),
  ),
  latestModel: s.optional(
    s.object(
      {
        version: s.string({ description: 'Model version (derived from the run ID).', maxLength: 63 }),
        uri: s.string({ description: 'URI of the model file.', maxLength: 2048 }),
        sha256: s.optional(
          sha256(
            'SHA-256 of the model file: computed by the operator from an S3 artifact, or reported by the step that wrote it (its termination message, {"sha256": "<64 hex digits>"}). Promotion pins it in the target.',
          ),
        ),
        sha256Error: s.optional(
          s.string({
            description: 'Why the SHA-256 of the model file is unknown; such a model is not promoted.',
            maxLength: 1024,
          }),
        ),
        runId: s.optional(s.string({ description: 'Run that produced the model.', maxLength: 63 })),
        metrics: s.optional(
          s.map(s.number({}), {
            description: 'Metrics of the model, from the gate metrics artifact.',
            maxProperties: 64,
          }),
        ),
        gate: s.optional(
          s.object(
            {
              passed: s.boolean({ description: 'Whether the metric lies within the gate.' }),
              message: s.optional(
                s.string({ description: 'The metric against the bounds.', maxLength: 512 }),
              ),
            },
            { description: 'Outcome of promotion.gate for this model.' },
          ),
        ),
        promoted: s.optional(
          s.boolean({
            description:
              'Whether this model was promoted: applied to the target (mode Patch) or recorded for Git (mode Record). status.promotion says whether the target serves it.',
          }),
        ),
        promotionTime: s.optional(s.dateTime({ description: 'When it was promoted.' })),
      },
      { description: 'The model produced by the latest successful run.' },
    ),
  ),
  promotion: s.optional(
    s.object(
      {
        mode: s.enum(promotionModes, {
          description: 'How it was promoted (spec.promotion.mode at the time).',
        }),
        target: s.string({ description: 'Name of the InferenceService.', maxLength: 253 }),
        model: s.object(
          {
            uri: s.string({ description: 'URI of the model file.', maxLength: 2048 }),
            version: s.string({ description: 'Model version.', maxLength: 63 }),
            sha256: sha256('SHA-256 of the model file.'),
          },
          {
            description:
              "Exactly the fields of the target's spec.model this promotion sets (mode Record: what to commit to Git).",
          },
        ),
        promotionTime: s.dateTime({ description: 'When it was promoted (applied or recorded).' }),
        targetGeneration: s.optional(
          s.integer({
            description:
              'metadata.generation of the target after the operator applied the model (mode Patch).',
            minimum: 0,
          }),
        ),
        inEffect: s.boolean({ description: "Whether the target's spec.model was last seen equal to model." }),
        effectiveTime: s.optional(
          s.dateTime({ description: "When the target's spec.model was first seen equal to model." }),
        ),
      },
      {
        description:
          'The latest promotion and whether the target serves it. It stays while a newer model waits for its gate or approval.',
      },
    ),
  ),
  nextScheduleTime: s.optional(s.dateTime({ description: 'When the next scheduled run is due.' })),
  lastScheduleTime: s.optional(
    s.dateTime({ description: 'The latest scheduled time that was handled (started, skipped or missed).' }),
  ),
  progress: s.optional(
    s.string({
      description: 'Steps of the latest run that succeeded, of all steps, e.g. 2/3.',
      maxLength: 16,
    }),
  ),
  handled: s.optional(
    s.object(
      {
        creation: s.optional(s.boolean({ description: 'The run on creation was started (or skipped).' })),
        runRequest: s.optional(
          s.string({ description: 'Value of the ymera.io/run annotation last acted on.', maxLength: 256 }),
        ),
        promoteRequest: s.optional(
          s.string({
            description: 'Value of the ymera.io/promote annotation last acted on.',
            maxLength: 256,
          }),
        ),
      },
      { description: 'Requests already acted on, so that none is acted on twice.' },
    ),
  ),
});

export type LearningPipelineSpec = Infer<typeof specSchema>;
export type LearningPipelineSpecDefaulted = Defaulted<typeof specSchema>;
export type LearningPipelineStep = LearningPipelineSpec['steps'][number];
export type LearningPipelineSweep = NonNullable<LearningPipelineStep['sweep']>;
export type SweepParameter = LearningPipelineSweep['parameters'][number];
export type LearningPipelineStatus = Infer<typeof statusSchema>;
export type LearningPipelineRun = NonNullable<LearningPipelineStatus['runs']>[number];
export type LearningPipelinePhase = (typeof phases)[number];
export type LearningPipeline = CustomResource<typeof KIND, LearningPipelineSpec, LearningPipelineStatus>;

export const crd = defineKind({
  kind: KIND,
  plural: 'learningpipelines',
  shortNames: ['lpipe'],
  scope: 'Namespaced',
  description:
    'LearningPipeline trains models: a graph of container steps run as GPU-aware Jobs on a schedule, on a Kafka event (e.g. drift) or on request (set the annotation ymera.io/run to a new value), with retries, shared artifacts, and promotion of a model that passes its metrics gate to an InferenceService.',
  spec: specSchema,
  status: statusSchema,
  conditionTypes,
  printerColumns: kindPrinterColumns('Phase of the latest run.', [
    {
      name: 'Progress',
      type: 'string',
      jsonPath: '.status.progress',
      description: 'Steps of the latest run that succeeded, of all steps.',
    },
    {
      name: 'Model',
      type: 'string',
      jsonPath: '.status.latestModel.version',
      description: 'Latest trained model version.',
    },
    {
      name: 'Last Success',
      type: 'date',
      jsonPath: '.status.lastSuccessfulRun.completionTime',
      description: 'When the latest successful run finished.',
    },
    {
      name: 'Next Run',
      type: 'string',
      jsonPath: '.status.nextScheduleTime',
      description: 'When the next scheduled run is due.',
      priority: 1,
    },
  ]),
});
