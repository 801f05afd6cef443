// OptimizationLoop (oloop): tunes numeric parameters of an InferenceService
// (or a Deployment) against a Prometheus objective under constraints, one
// change at a time: apply, wait until live, warm up, measure, judge
// (Adopted, Rejected, Violated, Inconclusive), roll back on a violation.
// Single source of truth for the CRD and the types.
import { s } from '../../operator/schema/builder.ts';
import type { Defaulted, Infer } from '../../operator/schema/builder.ts';
import {
  cronSchedule,
  dnsSubdomain,
  duration,
  kindPrinterColumns,
  statusObject,
  statusPhase,
  timeZone,
} from '../../operator/schema/common.ts';
import { defineKind } from '../../operator/schema/crd.ts';
import type { CustomResource } from '../../operator/schema/crd.ts';

export const KIND = 'OptimizationLoop';

export const conditionTypes = ['Converged', 'ConstraintViolated', 'Holding', 'Stopped'] as const;

export const phases = ['Pending', 'Running', 'Converged', 'Stopped'] as const;
export const verdicts = ['Adopted', 'Rejected', 'Violated', 'Inconclusive'] as const;
export const trialPhases = ['Applying', 'WarmingUp', 'Measuring', 'Confirming'] as const;
export const algorithms = ['HillClimb', 'Random', 'Bayesian'] as const;
export const constraintOperators = [
  'LessThan',
  'LessThanOrEqual',
  'GreaterThan',
  'GreaterThanOrEqual',
] as const;

/** A field path such as spec.batching.maxBatchSize or spec.template.spec.containers[0].env[1].value. */
export const PARAMETER_PATH_PATTERN = '^spec(\\.[A-Za-z][A-Za-z0-9]*|\\[[0-9]+\\])+$';

// The allow-lists below are RE2 for CEL and contain no backslash (CEL and RE2
// escapes differ): `[.]` is a dot, `[[]` and `[]]` are brackets.

/** InferenceService fields a loop may tune: batching, runtime threads, replica bounds. */
export const INFERENCE_SERVICE_PATHS = [
  'spec.batching.maxBatchSize',
  'spec.batching.maxDelayMs',
  'spec.runtime.threads',
  'spec.scaling.minReplicas',
  'spec.scaling.maxReplicas',
] as const;
export const INFERENCE_SERVICE_PATH_REGEX =
  '^spec[.](batching[.](maxBatchSize|maxDelayMs)|runtime[.]threads|scaling[.](minReplicas|maxReplicas))$';

/**
 * Deployment fields a loop may tune: the replica count, a container's CPU or
 * memory request or limit, an environment variable's value. Nothing else —
 * in particular nothing under securityContext, no image, no command, no
 * volumes, no service account: a loop never changes what runs or its privileges.
 */
export const DEPLOYMENT_PATH_REGEX =
  '^spec[.](replicas|template[.]spec[.]containers[[][0-9]+[]][.](resources[.](requests|limits)[.](cpu|memory)|env[[][0-9]+[]][.]value))$';
export const DEPLOYMENT_PATHS_TEXT =
  'spec.replicas, spec.template.spec.containers[i].resources.requests.cpu|memory, spec.template.spec.containers[i].resources.limits.cpu|memory or spec.template.spec.containers[i].env[j].value';

const parameter = s.object(
  {
    path: s.string({
      description: `Field of the target to tune. InferenceService: ${INFERENCE_SERVICE_PATHS.join(', ')}. Deployment: ${DEPLOYMENT_PATHS_TEXT} (nothing under securityContext, never the image). The loop writes a number (an env value as its decimal string).`,
      minLength: 6,
      maxLength: 256,
      pattern: PARAMETER_PATH_PATTERN,
    }),
    min: s.optional(s.number({ description: 'Lowest value to try (with max and step).' })),
    max: s.optional(s.number({ description: 'Highest value to try (with min and step).' })),
    step: s.optional(
      s.number({
        description: 'Granularity: values tried are min + k·step. Integer fields need an integer step.',
        minimum: 0,
        exclusiveMinimum: true,
      }),
    ),
    values: s.optional(
      s.array(s.number({}), {
        description: 'Explicit candidate values, instead of min, max and step.',
        minItems: 1,
        maxItems: 64,
        listType: 'set',
      }),
    ),
  },
  {
    description: 'A tunable parameter: a range (min, max, step) or a list of values.',
    validations: [
      {
        rule: 'has(self.values) ? !has(self.min) && !has(self.max) && !has(self.step) : has(self.min) && has(self.max) && has(self.step)',
        message: 'set either min, max and step, or values',
      },
      {
        rule: '!has(self.min) || !has(self.max) || self.min <= self.max',
        message: 'min must be less than or equal to max',
        fieldPath: '.min',
      },
    ],
  },
);

const promQL = (description: string) => s.string({ description, minLength: 1, maxLength: 4096 });

const window = s.object(
  {
    schedule: cronSchedule('Cron schedule of the start of each window (e.g. "0 9 * * 1-5").'),
    timeZone: timeZone('the schedule'),
    duration: duration({ description: 'Length of each window (Go duration, e.g. 8h; at most 7 days).' }),
  },
  { description: 'A time span in which the loop may change the target.' },
);

export const specSchema = s.object(
  {
    target: s.object(
      {
        kind: s.enum(['InferenceService', 'Deployment'], {
          description: 'Kind of the target: InferenceService (ymera.io) or Deployment (apps).',
        }),
        name: dnsSubdomain('Name of the target, in the same namespace.'),
      },
      { description: 'The object whose parameters are tuned.' },
    ),
    parameters: s.array(parameter, {
      description: 'Parameters to tune, one per field path.',
      minItems: 1,
      maxItems: 8,
      listType: 'map',
      listMapKeys: ['path'],
    }),
    objective: s.object(
      {
        query: promQL(
          'PromQL query yielding one number for the current parameters (e.g. the throughput per replica); $window is replaced by evaluationWindow.',
        ),
        goal: s.enum(['Minimize', 'Maximize'], {
          description: 'Whether lower (Minimize) or higher (Maximize) is better.',
        }),
      },
      { description: 'What the loop optimises.' },
    ),
    constraints: s.optional(
      s.array(
        s.object(
          {
            name: s.string({
              description: 'Name of the constraint, shown in trials.',
              minLength: 1,
              maxLength: 63,
              pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
            }),
            query: promQL(
              'PromQL query yielding one number (e.g. p95 latency in milliseconds); $window is replaced by evaluationWindow.',
            ),
            operator: s.enum(constraintOperators, {
              description:
                'How the value must compare to threshold: LessThan, LessThanOrEqual, GreaterThan or GreaterThanOrEqual.',
            }),
            threshold: s.number({ description: 'The bound.' }),
          },
          {
            description: 'A condition every applied parameter set must meet (e.g. p95 latency below 100 ms).',
          },
        ),
        {
          description:
            'Conditions that must hold; a trial that breaks one is Violated and the last known good parameters are restored at once.',
          maxItems: 8,
          listType: 'map',
          listMapKeys: ['name'],
        },
      ),
    ),
    minSamples: s.optional(
      s.object(
        {
          query: promQL(
            'PromQL query yielding how many samples the window holds (e.g. sum(increase(ymera_inference_requests_total[$window]))).',
          ),
          minimum: s.integer({
            description:
              'Fewer samples than this make the measurement Inconclusive (hold: neither adopt nor roll back).',
            minimum: 1,
          }),
        },
        { description: 'The least traffic a measurement needs to count.' },
      ),
    ),
    load: s.optional(
      s.object(
        {
          query: promQL(
            'PromQL query yielding the offered load in the window (e.g. the request rate); $window is replaced by evaluationWindow.',
          ),
          tolerancePercent: s.integer({
            description:
              'A candidate is compared with the baseline only when their loads differ by at most this percentage; otherwise the measurement is Inconclusive.',
            minimum: 1,
            maximum: 100,
            default: 20,
          }),
        },
        { description: 'Judges candidates against a baseline measured under the same load.' },
      ),
    ),
    algorithm: s.enum(algorithms, {
      description:
        'How the next candidate is chosen: HillClimb (a neighbouring step from the best so far), Random, or Bayesian (a Gaussian process with expected improvement).',
      default: 'HillClimb',
    }),
    seed: s.optional(
      s.integer({
        description:
          'Seed of the random choices, so a loop is reproducible. Default: derived from the object uid.',
        minimum: 0,
        maximum: 2147483647,
      }),
    ),
    initialDelay: duration({
      description:
        'Warm-up after a change is live (every pod runs the new values) before measuring starts (Go duration).',
      default: '1m',
    }),
    evaluationWindow: duration({
      description: 'Span of metrics a measurement is judged on (Go duration, e.g. 5m).',
      default: '5m',
    }),
    minImprovementPercent: s.number({
      description:
        'A candidate is adopted only when it beats the baseline by at least this percentage, measured twice (noise guard).',
      minimum: 0,
      maximum: 100,
      default: 2,
    }),
    maxTrials: s.integer({
      description: 'Trials after which the loop stops (Converged).',
      minimum: 1,
      maximum: 1000,
      default: 30,
    }),
    maxFailedTrials: s.integer({
      description: 'Violating trials after which the loop stops with the last known good parameters.',
      minimum: 1,
      maximum: 100,
      default: 3,
    }),
    safety: s.optional(
      s.object(
        {
          maxStepPercent: s.integer({
            description:
              "Largest change of a parameter per trial, in percent of its range (or of its value list's length).",
            minimum: 1,
            maximum: 100,
            default: 25,
          }),
          maxChangesPerHour: s.integer({
            description:
              'Change budget: trial changes per rolling hour. Rollbacks and restores are never held back by it, but count against it.',
            minimum: 1,
            maximum: 60,
            default: 4,
          }),
          windows: s.optional(
            s.array(window, {
              description:
                'When the loop may start a trial. Default: any time. Outside every window a running trial finishes and rollbacks still happen.',
              maxItems: 8,
            }),
          ),
        },
        { description: 'Limits that keep tuning safe.' },
      ),
    ),
    mode: s.enum(['Recommend', 'Apply'], {
      description:
        'Recommend (default): write the next candidate and the best parameters to status and a CloudEvent and change nothing on the target. Apply: change the target, one trial at a time.',
      default: 'Recommend',
    }),
    onStop: s.enum(['Restore', 'Keep'], {
      description:
        'On suspend or delete: Restore (default) the baseline parameters found at start, or Keep what is applied.',
      default: 'Restore',
    }),
    suspend: s.boolean({
      description: 'Pause the loop (the baseline is restored unless onStop is Keep).',
      default: false,
    }),
  },
  {
    description: 'Desired state of the OptimizationLoop.',
    validations: [
      {
        rule: `self.target.kind != 'Deployment' || self.parameters.all(p, p.path.matches('${DEPLOYMENT_PATH_REGEX}'))`,
        message: `for a Deployment target each parameters[].path must be ${DEPLOYMENT_PATHS_TEXT} (nothing under securityContext, no image, no privileges)`,
        fieldPath: '.parameters',
        reason: 'FieldValueForbidden',
      },
      {
        rule: `self.target.kind != 'InferenceService' || self.parameters.all(p, p.path.matches('${INFERENCE_SERVICE_PATH_REGEX}'))`,
        message: `for an InferenceService target each parameters[].path must be one of ${INFERENCE_SERVICE_PATHS.join(', ')}`,
        fieldPath: '.parameters',
        reason: 'FieldValueForbidden',
      },
    ],
  },
);

const params = (description: string) => s.map(s.number({}), { description, maxProperties: 8 });

const measurement = s.object(
  {
    objective: s.optional(s.number({ description: 'Measured objective.' })),
    samples: s.optional(s.number({ description: 'Samples in the window (minSamples.query).' })),
    load: s.optional(s.number({ description: 'Offered load in the window (load.query).' })),
    constraints: s.optional(
      s.array(
        s.object(
          {
            name: s.string({ description: 'Constraint name.', maxLength: 63 }),
            value: s.optional(s.number({ description: 'Measured value; absent without data.' })),
            met: s.optional(s.boolean({ description: 'Whether it held; absent without data.' })),
          },
          { description: 'One constraint as measured.' },
        ),
        { description: 'Constraints as measured.', maxItems: 8, listType: 'map', listMapKeys: ['name'] },
      ),
    ),
    time: s.optional(s.dateTime({ description: 'End of the measured window.' })),
  },
  { description: 'What one evaluation window measured.' },
);

const paramSet = (description: string) =>
  s.optional(
    s.object(
      {
        params: params('Parameter values by path.'),
        objective: s.optional(s.number({ description: 'Objective measured with them.' })),
        trial: s.optional(
          s.integer({ description: 'Trial that measured them (0 = the baseline).', minimum: 0 }),
        ),
        measurement: s.optional(measurement),
      },
      { description },
    ),
  );

export const statusSchema = statusObject(KIND, conditionTypes, {
  phase: statusPhase(
    phases,
    'Pending (waiting for the target or a baseline), Running (trials in progress), Converged (maxTrials reached or no candidate left) or Stopped (maxFailedTrials reached, suspended, or the target was changed by someone else).',
  ),
  trialsCompleted: s.optional(s.integer({ description: 'Trials judged so far.', minimum: 0 })),
  failedTrials: s.optional(s.integer({ description: 'Trials that broke a constraint.', minimum: 0 })),
  baseline: paramSet('The parameters found on the target at start and their measurement; restored on stop.'),
  lastKnownGood: paramSet(
    'The parameters a violation rolls back to: the baseline or the last adopted trial.',
  ),
  best: paramSet('Best parameters adopted so far (met every constraint, confirmed by a second measurement).'),
  recommendation: s.optional(
    s.object(
      {
        params: params('Parameter values by path.'),
        reason: s.string({ description: 'Why these values.', maxLength: 1024 }),
      },
      { description: 'What the loop would apply next (Recommend mode) or adopted last.' },
    ),
  ),
  trial: s.optional(
    s.object(
      {
        id: s.integer({
          description: 'Sequence number, from 1; 0 while the baseline is measured.',
          minimum: 0,
        }),
        purpose: s.enum(['Candidate', 'Baseline'], {
          description:
            'Candidate (new values under trial) or Baseline (the last known good values measured again, so candidates are compared under the same load).',
        }),
        phase: s.enum(trialPhases, {
          description:
            'Applying (waiting for the change to be live), WarmingUp (initialDelay), Measuring (evaluationWindow) or Confirming (measuring a promising candidate again).',
        }),
        params: params('Parameter values by path.'),
        phaseTime: s.dateTime({ description: 'When the phase started.' }),
        startTime: s.dateTime({ description: 'When the change was applied.' }),
        first: s.optional(measurement),
        inconclusive: s.optional(
          s.integer({ description: 'Inconclusive measurements of this trial in a row.', minimum: 0 }),
        ),
        reason: s.optional(s.string({ description: 'Why these values.', maxLength: 1024 })),
      },
      { description: 'The trial in progress, if any.' },
    ),
  ),
  trials: s.optional(
    s.array(
      s.object(
        {
          id: s.integer({ description: 'Sequence number of the trial, from 1.', minimum: 1 }),
          params: params('Parameter values by path.'),
          measurement: s.optional(measurement),
          verdict: s.enum(verdicts, {
            description:
              'Adopted (better by minImprovementPercent, twice), Rejected (not better enough), Violated (broke a constraint; rolled back) or Inconclusive (no data or too few samples).',
          }),
          reason: s.string({ description: 'Why, in one sentence.', maxLength: 1024 }),
          startTime: s.optional(s.dateTime({ description: 'When the parameters were applied.' })),
          completionTime: s.optional(s.dateTime({ description: 'When the trial was judged.' })),
        },
        { description: 'One judged trial.' },
      ),
      {
        description: 'Recent trials, newest first (at most 20); the full history is kept outside status.',
        maxItems: 20,
        listType: 'map',
        listMapKeys: ['id'],
      },
    ),
  ),
  applied: s.optional(
    s.object(
      {
        params: params('Parameter values by path.'),
        time: s.dateTime({ description: 'When the loop wrote them.' }),
      },
      {
        description:
          'What the loop last wrote to the target (Apply mode). The target holding other values means someone else changed it: the loop stops instead of fighting.',
      },
    ),
  ),
  changes: s.optional(
    s.array(s.dateTime({ description: 'Time of a change to the target.' }), {
      description: 'Changes made to the target within the last hour (the change budget).',
      maxItems: 64,
    }),
  ),
});

export type OptimizationLoopSpec = Infer<typeof specSchema>;
export type OptimizationLoopSpecDefaulted = Defaulted<typeof specSchema>;
export type OptimizationLoopParameter = OptimizationLoopSpec['parameters'][number];
export type OptimizationLoopStatus = Infer<typeof statusSchema>;
export type OptimizationLoopPhase = (typeof phases)[number];
export type Verdict = (typeof verdicts)[number];
export type TrialPhase = (typeof trialPhases)[number];
export type Measurement = NonNullable<NonNullable<OptimizationLoopStatus['trials']>[number]['measurement']>;
export type Trial = NonNullable<OptimizationLoopStatus['trial']>;
export type TrialRecord = NonNullable<OptimizationLoopStatus['trials']>[number];
export type ParamSet = NonNullable<OptimizationLoopStatus['baseline']>;
export type Algorithm = (typeof algorithms)[number];
export type OptimizationLoop = CustomResource<typeof KIND, OptimizationLoopSpec, OptimizationLoopStatus>;

export const crd = defineKind({
  kind: KIND,
  plural: 'optimizationloops',
  shortNames: ['oloop'],
  scope: 'Namespaced',
  description:
    'OptimizationLoop tunes numeric parameters of an InferenceService or Deployment (e.g. batching) towards a Prometheus objective under constraints, one change at a time, with a safety validator (bounds, step size, change budget, windows), rollback to the last known good values on a violation, and a recommend-only mode.',
  spec: specSchema,
  status: statusSchema,
  conditionTypes,
  printerColumns: kindPrinterColumns('State of the loop.', [
    {
      name: 'Target',
      type: 'string',
      jsonPath: '.spec.target.name',
      description: 'Tuned object.',
      priority: 1,
    },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'Recommend or Apply.' },
    { name: 'Trials', type: 'integer', jsonPath: '.status.trialsCompleted', description: 'Trials judged.' },
    {
      name: 'Best',
      type: 'number',
      jsonPath: '.status.best.objective',
      description: 'Best objective adopted so far.',
    },
  ]),
});
