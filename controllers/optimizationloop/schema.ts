// OptimizationLoop (oloop): tunes numeric parameters of an InferenceService
// (or a Deployment) against a Prometheus objective under constraints, one
// trial per interval, with bounded steps and rollback on violation.
// Single source of truth for the CRD and the types.
import { s } from '../../operator/schema/builder.ts';
import type { Defaulted, Infer } from '../../operator/schema/builder.ts';
import {
  dnsSubdomain,
  duration,
  kindPrinterColumns,
  statusObject,
  statusPhase,
} from '../../operator/schema/common.ts';
import { defineKind } from '../../operator/schema/crd.ts';
import type { CustomResource } from '../../operator/schema/crd.ts';

export const KIND = 'OptimizationLoop';

export const conditionTypes = ['Converged', 'ConstraintViolated'] as const;

export const phases = ['Pending', 'Running', 'Converged', 'Stopped'] as const;
export const verdicts = ['Baseline', 'Improved', 'NotImproved', 'ConstraintViolated', 'Failed'] as const;
export const constraintOperators = [
  'LessThan',
  'LessThanOrEqual',
  'GreaterThan',
  'GreaterThanOrEqual',
] as const;

/** A field path such as spec.batching.maxBatchSize or spec.template.spec.containers[0].args[1]. */
export const PARAMETER_PATH_PATTERN = '^spec(\\.[A-Za-z][A-Za-z0-9]*|\\[[0-9]+\\])+$';

const parameter = s.object(
  {
    path: s.string({
      description:
        'Field of the target to tune, from spec (e.g. spec.batching.maxBatchSize, spec.batching.maxDelayMs, spec.runtime.threads). It must hold a number.',
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
          description: 'Conditions that must hold; a trial that breaks one is a violation.',
          maxItems: 8,
          listType: 'map',
          listMapKeys: ['name'],
        },
      ),
    ),
    algorithm: s.enum(['Bayesian', 'HillClimb', 'Random'], {
      description:
        'How the next trial is chosen: Bayesian (a model of the objective picks promising values), HillClimb (one neighbouring step from the best so far) or Random.',
      default: 'HillClimb',
    }),
    interval: duration({ description: 'Time between trials (Go duration, e.g. 10m).', default: '10m' }),
    evaluationWindow: duration({
      description:
        'Span of metrics a trial is judged on, at the end of its interval (Go duration, at most interval).',
      default: '5m',
    }),
    maxTrials: s.integer({
      description: 'Trials after which the loop stops.',
      minimum: 1,
      maximum: 1000,
      default: 30,
    }),
    maxFailedTrials: s.integer({
      description: 'Failed or violating trials after which the loop stops.',
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
          rollbackOnViolation: s.boolean({
            description: 'Restore the best known parameters as soon as a trial breaks a constraint.',
            default: true,
          }),
          mode: s.enum(['Apply', 'Recommend'], {
            description:
              'Apply: trials change the target. Recommend: dry run — the loop only scores candidates and reports the best in status.',
            default: 'Recommend',
          }),
        },
        { description: 'Limits that keep tuning safe.' },
      ),
    ),
    suspend: s.boolean({
      description: 'Pause the loop; the target keeps its current parameters.',
      default: false,
    }),
  },
  { description: 'Desired state of the OptimizationLoop.' },
);

const params = (description: string) => s.map(s.number({}), { description, maxProperties: 8 });

export const statusSchema = statusObject(KIND, conditionTypes, {
  phase: statusPhase(
    phases,
    'Pending (waiting for the target or metrics), Running (trials in progress), Converged (no better candidate left) or Stopped (maxTrials or maxFailedTrials reached, or suspended).',
  ),
  trialsCompleted: s.optional(s.integer({ description: 'Trials finished so far.', minimum: 0 })),
  failedTrials: s.optional(
    s.integer({ description: 'Trials that failed or broke a constraint.', minimum: 0 }),
  ),
  trials: s.optional(
    s.array(
      s.object(
        {
          id: s.integer({ description: 'Sequence number of the trial, from 1.', minimum: 0 }),
          params: params('Parameter values by path.'),
          objective: s.optional(s.number({ description: 'Measured objective.' })),
          constraintsMet: s.optional(s.boolean({ description: 'Whether every constraint held.' })),
          verdict: s.enum(verdicts, {
            description:
              'Baseline (the parameters found at start), Improved, NotImproved, ConstraintViolated or Failed.',
          }),
          startTime: s.optional(s.dateTime({ description: 'When the parameters were applied.' })),
          completionTime: s.optional(s.dateTime({ description: 'When the trial was judged.' })),
          message: s.optional(
            s.string({ description: 'Details (e.g. which constraint broke).', maxLength: 1024 }),
          ),
        },
        { description: 'One trial.' },
      ),
      {
        description: 'Recent trials, newest first (at most 20).',
        maxItems: 20,
        listType: 'map',
        listMapKeys: ['id'],
      },
    ),
  ),
  best: s.optional(
    s.object(
      {
        params: params('Parameter values by path.'),
        objective: s.number({ description: 'Objective measured with them.' }),
        trial: s.optional(s.integer({ description: 'Trial that measured it.', minimum: 0 })),
      },
      {
        description:
          'Best parameters found so far that met every constraint (the recommendation in Recommend mode).',
      },
    ),
  ),
  current: s.optional(
    s.object(
      {
        params: params('Parameter values by path.'),
        trial: s.optional(s.integer({ description: 'Trial running with them.', minimum: 0 })),
      },
      { description: 'Parameters currently applied to the target.' },
    ),
  ),
});

export type OptimizationLoopSpec = Infer<typeof specSchema>;
export type OptimizationLoopSpecDefaulted = Defaulted<typeof specSchema>;
export type OptimizationLoopParameter = OptimizationLoopSpec['parameters'][number];
export type OptimizationLoopStatus = Infer<typeof statusSchema>;
export type OptimizationLoopPhase = (typeof phases)[number];
export type OptimizationLoop = CustomResource<typeof KIND, OptimizationLoopSpec, OptimizationLoopStatus>;

export const crd = defineKind({
  kind: KIND,
  plural: 'optimizationloops',
  shortNames: ['oloop'],
  scope: 'Namespaced',
  description:
    'OptimizationLoop tunes numeric parameters of an InferenceService or Deployment (e.g. batching) towards a Prometheus objective under constraints, one trial at a time, with bounded steps, rollback on violation and a recommend-only mode.',
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
    { name: 'Trials', type: 'integer', jsonPath: '.status.trialsCompleted', description: 'Trials finished.' },
    {
      name: 'Best',
      type: 'number',
      jsonPath: '.status.best.objective',
      description: 'Best objective so far.',
    },
  ]),
});
