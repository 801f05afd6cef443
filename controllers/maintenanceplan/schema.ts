// MaintenancePlan (mplan, cluster-scoped): scores the failure risk of nodes
// (e.g. GPU nodes) with an ONNX model over Prometheus signals and schedules
// maintenance (cordon, drain, a per-node Job, uncordon) for nodes at risk
// inside maintenance windows. Single source of truth for the CRD and the types.
import { s } from '../../operator/schema/builder.ts';
import type { Defaulted, Infer } from '../../operator/schema/builder.ts';
import {
  commandAndArgs,
  cronSchedule,
  DNS_LABEL_PATTERN,
  duration,
  env,
  kindPrinterColumns,
  labelSelector,
  modelCredentials,
  modelUri,
  resources,
  sha256,
  statusObject,
  statusPhase,
  timeZone,
  tolerations,
} from '../../operator/schema/common.ts';
import { defineKind } from '../../operator/schema/crd.ts';
import type { CustomResource } from '../../operator/schema/crd.ts';

export const KIND = 'MaintenancePlan';

export const conditionTypes = [
  'PredictorReady',
  'PredictionsComplete',
  'MassFlag',
  'Acting',
  'NodesLeftCordoned',
] as const;

/** Shadow: predict, explain and record, act on nothing. Act: maintain nodes at risk (cordon, drain, Job). */
export const modes = ['Shadow', 'Act'] as const;

export const phases = ['Idle', 'AwaitingApproval', 'Scheduled', 'InProgress'] as const;
export const actionTypes = ['Cordon', 'Drain', 'Job', 'Uncordon'] as const;
export const drainTimeoutPolicies = ['AbortAndUncordon', 'Force'] as const;
/** What happens to the node when its maintenance Job fails. */
export const jobFailurePolicies = ['LeaveCordoned', 'Uncordon'] as const;
/** Progress of a node under maintenance, kept in status so a restart resumes where it was. */
export const maintenancePhases = ['Cordoned', 'Draining', 'JobRunning', 'Done', 'Aborted'] as const;
export const maintenanceStates = [
  'AwaitingApproval',
  'Scheduled',
  'InProgress',
  'Succeeded',
  'Failed',
] as const;

/** Annotation a user sets on the plan to approve maintenance under approval: Manual. */
export const APPROVE_ANNOTATION = 'ymera.io/approve';

const signal = s.object(
  {
    name: s.string({
      description: 'Name of the signal, unique in the plan; shown in predictions.',
      minLength: 1,
      maxLength: 63,
      pattern: DNS_LABEL_PATTERN,
    }),
    query: s.string({
      description:
        'PromQL query returning one series per node, labelled with the node name (e.g. max by (node) (DCGM_FI_DEV_GPU_TEMP)).',
      minLength: 1,
      maxLength: 4096,
    }),
    nodeLabel: s.string({
      description: 'Label of the query result that holds the node name.',
      minLength: 1,
      maxLength: 128,
      default: 'node',
    }),
  },
  { description: 'A per-node signal, an input of the predictor model.' },
);

const predictor = s.object(
  {
    model: s.object(
      {
        uri: modelUri(
          "Where the ONNX model is: file://, http(s)://, s3:// or pvc://<claim>/<path> (the claim in the operator's namespace). It takes one float per signal, in the order of signals, and returns the failure risk from 0 to 1.",
        ),
        sha256: s.optional(sha256('Expected SHA-256 of the model file; a mismatch stops predictions.')),
        credentialsSecret: modelCredentials("in the operator's namespace"),
      },
      { description: 'The model that scores the failure risk of a node.' },
    ),
    horizonHours: s.integer({
      description: 'How far ahead, in hours, the model predicts a failure.',
      minimum: 1,
      maximum: 720,
      default: 24,
    }),
    threshold: s.number({
      description: 'Risk from which a node is scheduled for maintenance, from 0 to 1.',
      minimum: 0,
      maximum: 1,
      default: 0.8,
    }),
    interval: duration({
      description: 'How often risks are recomputed (Go duration, e.g. 5m).',
      default: '5m',
    }),
    consecutive: s.integer({
      description:
        'Evaluations in a row at or over the threshold before a node is at risk; an Unknown evaluation breaks the run.',
      minimum: 1,
      maximum: 100,
      default: 3,
    }),
    maxFlaggedPercent: s.integer({
      description:
        'When more than this share of the selected nodes is at risk at once (and at least 2), the plan stops and says so: model drift or an outage, not a reason to evacuate the cluster.',
      minimum: 1,
      maximum: 100,
      default: 30,
    }),
  },
  { description: 'How failure risk is predicted.' },
);

const window = s.object(
  {
    schedule: cronSchedule(
      'Cron schedule of the start of each window (e.g. "0 2 * * 6" for Saturdays at 02:00).',
    ),
    timeZone: timeZone('the schedule'),
    durationMinutes: s.integer({
      description: 'Length of each window in minutes; maintenance starts only inside a window.',
      minimum: 1,
      maximum: 1440,
    }),
  },
  { description: 'When maintenance may run.' },
);

const jobAction = s.object(
  {
    image: s.string({ description: 'Container image.', minLength: 1, maxLength: 512 }),
    ...commandAndArgs(),
    env: env('the Job'),
    resources: resources('the Job'),
    namespace: s.optional(
      s.string({
        description:
          "Namespace the Job runs in: one of the namespaces the operator was started with (--maintenance-job-namespaces, chart maintenancePlan.jobNamespaces), set by a cluster admin and labelled with a Pod Security level that admits the Job (privileged for privileged: true). Default: the first of them. Never the operator's own namespace, which stays restricted.",
        minLength: 1,
        maxLength: 63,
        pattern: DNS_LABEL_PATTERN,
      }),
    ),
    tolerations: tolerations('the Job pod (besides node.kubernetes.io/unschedulable, always tolerated)'),
    privileged: s.boolean({
      description: 'Run the container privileged with the host PID namespace (needed for e.g. a GPU reset).',
      default: false,
    }),
    timeoutSeconds: s.integer({
      description:
        "Longest time the Job may run, in seconds (the Job's activeDeadlineSeconds); past it the Job and the maintenance fail.",
      minimum: 1,
      maximum: 86400,
      default: 1800,
    }),
    backoffLimit: s.integer({
      description: 'Retries of a failed Job pod before the Job fails.',
      minimum: 0,
      maximum: 6,
      default: 0,
    }),
    onFailure: s.enum(jobFailurePolicies, {
      description:
        'When the Job fails: LeaveCordoned (default: the node stays cordoned for a person to look at, the plan says so in its NodesLeftCordoned condition) or Uncordon (uncordon a node the plan cordoned). Either way the maintenance is Failed in status.history.',
      default: 'LeaveCordoned',
    }),
  },
  {
    description:
      "A Job pinned to the node under maintenance (nodeName), run after the drain and before the Uncordon; the node's name is in the env variable NODE_NAME.",
  },
);

const action = s.object(
  {
    type: s.enum(actionTypes, {
      description:
        'Cordon (mark unschedulable), Drain (evict pods through the Eviction API, honouring PodDisruptionBudgets), Job (run a Job on the node) or Uncordon (make it schedulable again).',
    }),
    drain: s.optional(
      s.object(
        {
          timeoutSeconds: s.integer({
            description: 'Longest time to wait for evictions, in seconds; past it the maintenance fails.',
            minimum: 1,
            maximum: 86400,
            default: 600,
          }),
          gracePeriodSeconds: s.optional(
            s.integer({
              description: "Termination grace period given to evicted pods. Default: each pod's own.",
              minimum: 0,
              maximum: 3600,
            }),
          ),
          deleteEmptyDirData: s.boolean({
            description: 'Also evict pods with emptyDir volumes (their data is lost).',
            default: false,
          }),
          onTimeout: s.enum(drainTimeoutPolicies, {
            description:
              'What happens when timeoutSeconds passes with pods left: AbortAndUncordon (default: stop, uncordon a node the plan cordoned, the maintenance fails) or Force (delete the remaining pods past their PodDisruptionBudgets).',
            default: 'AbortAndUncordon',
          }),
        },
        { description: 'Options of a Drain action.' },
      ),
    ),
    job: s.optional(jobAction),
  },
  {
    description: 'One maintenance step, run for each node in order.',
    validations: [
      {
        rule: "self.type == 'Job' ? has(self.job) : !has(self.job)",
        message: 'job is required for type Job and only allowed there',
        fieldPath: '.job',
      },
      {
        rule: "self.type == 'Drain' || !has(self.drain)",
        message: 'drain is only allowed for type Drain',
        fieldPath: '.drain',
      },
    ],
  },
);

export const specSchema = s.object(
  {
    nodeSelector: labelSelector(
      'Nodes the plan covers, by label (e.g. nvidia.com/gpu.present: "true"). An empty selector covers every node.',
    ),
    signals: s.array(signal, {
      description: 'Per-node signals fed to the predictor, in this order.',
      minItems: 1,
      maxItems: 16,
      listType: 'map',
      listMapKeys: ['name'],
    }),
    predictor,
    window,
    maxUnavailable: s.intOrString({
      description:
        'Nodes under maintenance at the same time: a number (e.g. 1) or a percentage of the selected nodes (e.g. "10%").',
      maxLength: 4,
      default: 1,
      validations: [
        {
          rule: "type(self) == int ? self >= 1 : self.matches('^(100|[1-9][0-9]?)%$')",
          message: 'must be a number of at least 1 or a percentage from 1% to 100%',
        },
      ],
    }),
    actions: s.array(action, {
      description: 'What maintenance does to each node, in order. Default: Cordon, Drain, Uncordon.',
      minItems: 1,
      maxItems: 8,
      default: [{ type: 'Cordon' }, { type: 'Drain' }, { type: 'Uncordon' }],
      validations: [
        {
          rule: "!self.exists(a, a.type == 'Drain') || self.exists(a, a.type == 'Cordon')",
          message: 'Drain needs a Cordon before it',
        },
        {
          rule: "!self.exists(a, a.type == 'Job') || self.exists(a, a.type == 'Drain')",
          message: 'a Job needs a Cordon and a Drain before it (it runs on the emptied node)',
        },
        {
          rule: "self.filter(a, a.type == 'Job').size() <= 1",
          message: 'at most one Job action',
        },
      ],
    }),
    mode: s.enum(modes, {
      description:
        'Shadow (default): predict, explain and record in status, metrics and Events, touch no node. Act: also maintain nodes at risk inside windows (cordon, drain through the Eviction API, run the Job, uncordon).',
      default: 'Shadow',
    }),
    approval: s.enum(['Auto', 'Manual'], {
      description:
        'Auto: scheduled maintenance runs in the next window. Manual: it waits in status.scheduled (state AwaitingApproval) until the plan is annotated ymera.io/approve=<id>[,<id>…] with the id of that scheduled maintenance (status.scheduled[].id); there is no wildcard, and an id never approves a later maintenance of the same node.',
      default: 'Manual',
    }),
    cooldownMinutes: s.integer({
      description:
        'After a maintenance of a node finishes, minutes before the node may be scheduled again (its risk keeps being predicted).',
      minimum: 0,
      maximum: 43200,
      default: 1440,
    }),
    suspend: s.boolean({
      description: 'Keep predicting but start no new maintenance.',
      default: false,
    }),
    historyLimit: s.integer({
      description: 'Finished maintenances kept in status.history.',
      minimum: 1,
      maximum: 50,
      default: 10,
    }),
  },
  { description: 'Desired state of the MaintenancePlan.' },
);

const nodeName = (description: string) => s.string({ description, maxLength: 253 });
const names = (description: string) =>
  s.optional(s.array(s.string({ maxLength: 300 }), { description, maxItems: 10 }));

const drainPlanStatus = s.object(
  {
    computedTime: s.dateTime({ description: 'When the drain plan was computed.' }),
    pods: s.integer({ description: 'Pods a drain would evict now.', minimum: 0 }),
    podNames: names('The first 10 of them (namespace/name).'),
    skippedPods: s.integer({
      description: 'Pods a drain leaves alone: DaemonSet, mirror (static) and finished pods.',
      minimum: 0,
    }),
    blockingPods: s.integer({
      description:
        'Pods that block the drain: annotated ymera.io/do-not-disrupt or karpenter.sh/do-not-disrupt "true", or with an emptyDir volume (unless drain.deleteEmptyDirData).',
      minimum: 0,
    }),
    blockingPodNames: names('The first 10 of them, with why.'),
    blockingPdbs: s.integer({
      description:
        'PodDisruptionBudgets that allow no disruption now (disruptionsAllowed 0) over pods to evict: their evictions are refused (429) until they allow one.',
      minimum: 0,
    }),
    blockingPdbNames: names('The first 10 of them (namespace/name, pods covered).'),
    room: s.object(
      {
        fits: s.boolean({
          description:
            'The other nodes have room for the evicted pods (summed CPU, memory and pod count; see message). False holds the maintenance back.',
        }),
        nodes: s.integer({ description: 'Other nodes counted as room.', minimum: 0 }),
        message: s.string({ description: 'What was compared.', maxLength: 1024 }),
      },
      {
        description:
          'Whether the evicted pods fit on the other Ready, schedulable nodes without NoSchedule/NoExecute taints that are not under maintenance: their summed requests against the summed free allocatable (allocatable minus requests of the pods there). Node selectors, affinity, tolerations and fragmentation are not checked.',
      },
    ),
  },
  {
    description:
      'What draining the node would do, computed while the maintenance waits and just before it starts (kept once it runs).',
  },
);

export const statusSchema = statusObject(KIND, conditionTypes, {
  phase: statusPhase(
    phases,
    'Idle (no node needs maintenance), AwaitingApproval (maintenance waits for approval), Scheduled (maintenance waits for its window) or InProgress (a node is under maintenance).',
  ),
  selectedNodes: s.optional(s.integer({ description: 'Nodes the selector matches.', minimum: 0 })),
  nodesAtRisk: s.optional(
    s.integer({ description: 'Selected nodes whose risk reaches the threshold.', minimum: 0 }),
  ),
  nextWindowTime: s.optional(s.dateTime({ description: 'Start of the next maintenance window.' })),
  nodesUnknown: s.optional(
    s.integer({
      description: 'Selected nodes whose prediction is Unknown (a missing or stale signal).',
      minimum: 0,
    }),
  ),
  lastEvaluationTime: s.optional(s.dateTime({ description: 'When the risks were last computed.' })),
  predictions: s.optional(
    s.array(
      s.object(
        {
          node: nodeName('Node name.'),
          state: s.enum(['Scored', 'Unknown'], {
            description:
              'Scored, or Unknown: the node abstains because a signal is missing or stale (message names it).',
          }),
          risk: s.optional(
            s.number({
              description:
                'Failure risk within the horizon, from 0 to 1 (two decimals); absent when Unknown.',
              minimum: 0,
              maximum: 1,
            }),
          ),
          consecutive: s.integer({
            description: 'Evaluations in a row, up to now, at or over the threshold.',
            minimum: 0,
          }),
          atRisk: s.boolean({
            description: 'The risk reached the threshold for predictor.consecutive evaluations in a row.',
          }),
          message: s.optional(s.string({ description: 'Why the node abstains.', maxLength: 1024 })),
          predictedFailureTime: s.optional(
            s.dateTime({ description: 'When a failure is expected, if the risk reaches the threshold.' }),
          ),
          topSignals: s.optional(
            s.array(
              s.object(
                {
                  name: s.string({ description: 'Signal name.', maxLength: 63 }),
                  contribution: s.number({
                    description:
                      "Change in risk when this signal is set to the fleet median (the median over the scored selected nodes), from -1 to 1: positive when the node's value raises the risk.",
                    minimum: -1,
                    maximum: 1,
                  }),
                },
                { description: 'A signal and its contribution.' },
              ),
              {
                description: 'Signals that contribute most to the risk, largest |contribution| first.',
                maxItems: 3,
              },
            ),
          ),
        },
        { description: 'The predicted risk of one node.' },
      ),
      {
        description: 'At most 20 nodes: at risk first, then Unknown, then by risk, highest first.',
        maxItems: 20,
        listType: 'map',
        listMapKeys: ['node'],
      },
    ),
  ),
  shadow: s.optional(
    s.object(
      {
        since: s.dateTime({ description: 'When the plan started recording (the first evaluation).' }),
        flags: s.optional(
          s.array(
            s.object(
              {
                node: nodeName('Node name.'),
                at: s.dateTime({ description: 'When the node became at risk.' }),
              },
              { description: 'A node and a time.' },
            ),
            {
              description:
                'Nodes that became at risk, over the last two horizons (at most 100, oldest first).',
              maxItems: 100,
            },
          ),
        ),
        failures: s.optional(
          s.array(
            s.object(
              {
                node: nodeName('Node name.'),
                at: s.dateTime({ description: 'When the node became NotReady.' }),
              },
              { description: 'A node and a time.' },
            ),
            {
              description:
                'Selected nodes that went NotReady, over the last two horizons (at most 100, oldest first).',
              maxItems: 100,
            },
          ),
        ),
        truePositives: s.integer({
          description: 'Flags followed by a NotReady of their node within the horizon.',
          minimum: 0,
        }),
        falsePositives: s.integer({
          description: 'Flags whose horizon passed without a NotReady of their node.',
          minimum: 0,
        }),
        pending: s.integer({ description: 'Flags still inside their horizon.', minimum: 0 }),
        failuresObserved: s.integer({
          description: 'NotReady transitions counted for recall (after a whole horizon of watching).',
          minimum: 0,
        }),
        failuresCaught: s.integer({
          description: 'Of those, the ones a flag preceded within the horizon.',
          minimum: 0,
        }),
        precision: s.optional(
          s.number({
            description: 'truePositives / (truePositives + falsePositives); absent until a flag resolves.',
            minimum: 0,
            maximum: 1,
          }),
        ),
        recall: s.optional(
          s.number({
            description: 'failuresCaught / failuresObserved; absent until a failure is observed.',
            minimum: 0,
            maximum: 1,
          }),
        ),
      },
      {
        description:
          "Shadow scorecard: the plan's at-risk flags against what happened (a selected node going NotReady within horizonHours), so the model can be judged before it acts.",
      },
    ),
  ),
  scheduled: s.optional(
    s.array(
      s.object(
        {
          node: nodeName('Node name.'),
          id: s.optional(
            s.string({
              description:
                'Id of this maintenance; under approval: Manual, the ymera.io/approve annotation must repeat it to approve it.',
              maxLength: 300,
            }),
          ),
          risk: s.optional(
            s.number({ description: 'Risk that scheduled the maintenance.', minimum: 0, maximum: 1 }),
          ),
          startTime: s.optional(s.dateTime({ description: 'When the maintenance started.' })),
          progress: s.optional(
            s.enum(maintenancePhases, {
              description:
                'Where a running maintenance is: Cordoned, Draining, JobRunning (drained, the maintenance Job runs), Done (finished and uncordoned) or Aborted (drain timed out or Job failed, node uncordoned if the plan cordoned it).',
            }),
          ),
          windowStart: s.optional(
            s.dateTime({ description: 'Start of the window the maintenance is planned for.' }),
          ),
          actions: s.array(s.enum(actionTypes, {}), {
            description: 'Actions that will run, in order.',
            maxItems: 8,
          }),
          state: s.enum(maintenanceStates, {
            description: 'AwaitingApproval, Scheduled, InProgress, Succeeded or Failed.',
          }),
          currentAction: s.optional(s.enum(actionTypes, { description: 'Action running now.' })),
          message: s.optional(s.string({ description: 'Details.', maxLength: 1024 })),
          job: s.optional(
            s.object(
              {
                namespace: s.string({ description: 'Namespace of the Job.', maxLength: 63 }),
                name: s.string({ description: 'Name of the Job.', maxLength: 63 }),
              },
              {
                description:
                  'The maintenance Job of this node, once created (its name follows from the plan and the id).',
              },
            ),
          ),
          drainPlan: s.optional(drainPlanStatus),
        },
        { description: 'Maintenance planned for one node.' },
      ),
      {
        description: 'Maintenance planned or running, one entry per node.',
        maxItems: 50,
        listType: 'map',
        listMapKeys: ['node'],
      },
    ),
  ),
  history: s.optional(
    s.array(
      s.object(
        {
          node: nodeName('Node name.'),
          startTime: s.dateTime({ description: 'When the maintenance started.' }),
          completionTime: s.optional(s.dateTime({ description: 'When it finished.' })),
          result: s.enum(['Succeeded', 'Failed'], { description: 'Outcome.' }),
          risk: s.optional(
            s.number({ description: 'Risk that triggered the maintenance.', minimum: 0, maximum: 1 }),
          ),
          message: s.optional(s.string({ description: 'Details.', maxLength: 1024 })),
        },
        { description: 'A finished maintenance.' },
      ),
      { description: 'Finished maintenances, newest first (at most historyLimit).', maxItems: 50 },
    ),
  ),
});

export type MaintenancePlanSpec = Infer<typeof specSchema>;
export type MaintenancePlanSpecDefaulted = Defaulted<typeof specSchema>;
export type MaintenancePlanStatus = Infer<typeof statusSchema>;
export type MaintenancePlanPhase = (typeof phases)[number];
export type MaintenanceAction = MaintenancePlanSpec['actions'] extends (infer A)[] | undefined ? A : never;
export type MaintenancePlan = CustomResource<typeof KIND, MaintenancePlanSpec, MaintenancePlanStatus>;

export const crd = defineKind({
  kind: KIND,
  plural: 'maintenanceplans',
  shortNames: ['mplan'],
  scope: 'Cluster',
  description:
    'MaintenancePlan predicts node failures (e.g. of GPU nodes) with an ONNX model over Prometheus signals and maintains nodes at risk inside maintenance windows: cordon, drain through the Eviction API, an optional per-node Job, uncordon.',
  spec: specSchema,
  status: statusSchema,
  conditionTypes,
  printerColumns: kindPrinterColumns('Maintenance state.', [
    {
      name: 'Nodes',
      type: 'integer',
      jsonPath: '.status.selectedNodes',
      description: 'Nodes covered by the plan.',
    },
    {
      name: 'At Risk',
      type: 'integer',
      jsonPath: '.status.nodesAtRisk',
      description: 'Nodes whose risk reaches the threshold.',
    },
    {
      name: 'Next Window',
      type: 'string',
      jsonPath: '.status.nextWindowTime',
      description: 'Start of the next maintenance window.',
      priority: 1,
    },
  ]),
});
