// InferenceService (infsvc): serves an ONNX model over HTTP with autoscaling,
// dynamic batching, canary rollouts with automatic rollback, request logging
// to Kafka and SLO alerts. Single source of truth for the CRD and the types.
import { s } from '../../operator/schema/builder.ts';
import type { Defaulted, Infer } from '../../operator/schema/builder.ts';
import {
  dnsLabel,
  dnsSubdomain,
  duration,
  adoptedTopicsStatus,
  createdTopicsStatus,
  env,
  gpu,
  kafkaTopic,
  kafkaTopicSettings,
  kindPrinterColumns,
  LABEL_VALUE_PATTERN,
  modelCredentials,
  modelUri,
  nodeSelector,
  resources,
  sha256,
  statusObject,
  statusPhase,
  tolerations,
} from '../../operator/schema/common.ts';
import { defineKind } from '../../operator/schema/crd.ts';
import type { CustomResource } from '../../operator/schema/crd.ts';

export const KIND = 'InferenceService';

/** Condition types besides Ready, Reconciling and Stalled. */
export const conditionTypes = ['ModelLoaded', 'CanaryHealthy', 'RolloutComplete', 'Healing'] as const;

export const phases = ['Pending', 'Progressing', 'Canary', 'Serving', 'Degraded', 'Failed'] as const;

const model = s.object(
  {
    uri: modelUri(
      'Where the model file is: file:///path (inside the runtime image), http(s)://…, s3://bucket/key or pvc://<claim>/<path>. Changing it rolls out a new revision.',
    ),
    format: s.enum(['onnx'], { description: 'Model format. Only onnx is supported.', default: 'onnx' }),
    version: s.string({
      description:
        'Version label of the model (e.g. 2024-06-01 or v7), shown in status and on the pods. Changing it rolls out a new revision.',
      minLength: 1,
      maxLength: 63,
      pattern: LABEL_VALUE_PATTERN,
    }),
    sha256: s.optional(
      sha256(
        'Expected SHA-256 of the model file (64 hex digits). When set, a model that does not match is not served.',
      ),
    ),
    credentialsSecret: modelCredentials('in the same namespace'),
  },
  { description: 'The model to serve.' },
);

const runtime = s.object(
  {
    image: s.optional(
      s.string({
        description:
          "Container image of the inference runtime. Default: the ymera runtime image matching the operator's version.",
        minLength: 1,
        maxLength: 512,
      }),
    ),
    resources: resources('each serving pod'),
    gpu: gpu('each serving pod'),
    env: env('the runtime container'),
    threads: s.optional(
      s.integer({
        description: 'Intra-op threads of the ONNX runtime. Default: the CPU limit (or request), rounded up.',
        minimum: 1,
        maximum: 256,
      }),
    ),
    podAnnotations: s.optional(
      s.map(s.string({ maxLength: 4096 }), {
        description:
          'Extra annotations on the serving pods (e.g. for a service mesh). Part of the revision: changing them rolls out a new revision. The local e2e cluster reads ymera.io/simulate here to simulate failing pods.',
        maxProperties: 32,
      }),
    ),
    nodeSelector: nodeSelector('the serving pods'),
    tolerations: tolerations('the serving pods'),
  },
  { description: 'How the serving pods run.' },
);

const scaling = s.object(
  {
    minReplicas: s.integer({
      description: 'Lowest number of serving replicas.',
      minimum: 1,
      maximum: 1000,
      default: 1,
    }),
    maxReplicas: s.optional(
      s.integer({
        description:
          'Highest number of serving replicas. Default: minReplicas (no autoscaling). A HorizontalPodAutoscaler is created when it exceeds minReplicas.',
        minimum: 1,
        maximum: 1000,
      }),
    ),
    metric: s.enum(['cpu', 'concurrency', 'latency'], {
      description:
        'What the autoscaler tracks: cpu (utilisation of the CPU request), concurrency (in-flight requests per replica) or latency (p95 latency).',
      default: 'cpu',
    }),
    target: s.optional(
      s.integer({
        description:
          'Target value of the metric: percent of the CPU request for cpu (default 70), in-flight requests per replica for concurrency (default 8), milliseconds of p95 latency for latency (default 100).',
        minimum: 1,
        maximum: 100000,
      }),
    ),
  },
  {
    description: 'Replica count and autoscaling.',
    validations: [
      {
        rule: '!has(self.maxReplicas) || self.minReplicas <= self.maxReplicas',
        message: 'minReplicas must be less than or equal to maxReplicas',
        fieldPath: '.minReplicas',
      },
    ],
  },
);

const batching = s.object(
  {
    maxBatchSize: s.integer({
      description: 'Largest number of requests the runtime merges into one model call.',
      minimum: 1,
      maximum: 1024,
    }),
    maxDelayMs: s.integer({
      description: 'Longest time, in milliseconds, a request waits for others to fill a batch.',
      minimum: 0,
      maximum: 1000,
      default: 5,
    }),
  },
  {
    description:
      'Dynamic batching in the runtime. Without it every request is a model call of its own. Not part of the revision: an edit reaches the running pods through their ConfigMap (within the kubelet sync period, about a minute) without a new revision or a canary.',
  },
);

const analysis = s.object(
  {
    interval: duration({
      description: 'How often the canary is checked (Go duration, e.g. 1m).',
      default: '1m',
    }),
    count: s.integer({
      description: 'Number of passing checks after which the canary is promoted to stable.',
      minimum: 1,
      maximum: 100,
      default: 5,
    }),
    maxErrorRatePercent: s.number({
      description: "A check fails when more than this percentage of the canary's requests fail (HTTP 5xx).",
      minimum: 0,
      maximum: 100,
      default: 1,
    }),
    maxP95LatencyMs: s.optional(
      s.integer({
        description:
          "A check fails when the canary's p95 latency exceeds this many milliseconds. Default: not checked.",
        minimum: 1,
        maximum: 600000,
      }),
    ),
    failureLimit: s.integer({
      description:
        'Number of failed checks after which the canary is judged unhealthy (and rolled back if autoRollback).',
      minimum: 1,
      maximum: 100,
      default: 2,
    }),
  },
  { description: 'How the canary is judged, from the Prometheus metrics of its pods.' },
);

const gateway = s.object(
  {
    name: dnsSubdomain('Name of the Gateway the HTTPRoute attaches to.'),
    namespace: s.optional(
      dnsLabel('Namespace of the Gateway. Default: the namespace of the InferenceService.'),
    ),
    sectionName: s.optional(
      dnsSubdomain(
        'Listener of the Gateway to attach to (its name). Default: every listener that allows the route.',
      ),
    ),
  },
  {
    description:
      'Split traffic by HTTPRoute weights behind this Gateway (the parentRef), when the Gateway API is installed: each live revision gets a Service <name>-<revision> and the HTTPRoute <name> weights them. Without it (or without the Gateway API) traffic splits by replica count.',
  },
);

const rollout = s.object(
  {
    canaryPercent: s.integer({
      description:
        'Share of traffic, in percent, sent to a new revision while it is analysed. 0 replaces the stable revision without a canary.',
      minimum: 0,
      maximum: 100,
      default: 10,
    }),
    analysis: s.optional(analysis),
    autoRollback: s.boolean({
      description: 'Roll back to the stable revision when the canary fails its analysis.',
      default: true,
    }),
    gateway: s.optional(gateway),
  },
  {
    description:
      'How a new revision (a change of model or runtime; not of batching, which the running pods apply live) replaces the stable one.',
  },
);

const logging = s.object(
  {
    kafka: s.object(
      {
        topic: kafkaTopic(
          'Kafka topic the request/response records are written to; created if missing. Must start with "<namespace>." unless the cluster admin allows more (operator flag --kafka-topic-allow).',
        ),
        sampleRate: s.number({
          description: 'Fraction of requests logged, from 0 (none) to 1 (all).',
          minimum: 0,
          maximum: 1,
          default: 1,
        }),
        ...kafkaTopicSettings(),
      },
      { description: 'Log requests and responses to Kafka (for drift detection and retraining).' },
    ),
  },
  { description: 'Request/response logging.' },
);

const slo = s.object(
  {
    availabilityPercent: s.optional(
      s.number({
        description: 'Share of requests, in percent, that must succeed (e.g. 99.9). Below 100.',
        minimum: 50,
        maximum: 100,
        exclusiveMaximum: true,
      }),
    ),
    p95LatencyMs: s.optional(
      s.integer({ description: 'p95 latency objective in milliseconds.', minimum: 1, maximum: 600000 }),
    ),
  },
  {
    description: 'Service level objectives; each becomes multi-window burn-rate alerts in a PrometheusRule.',
    validations: [
      {
        rule: 'has(self.availabilityPercent) || has(self.p95LatencyMs)',
        message: 'set availabilityPercent, p95LatencyMs or both',
      },
    ],
  },
);

const forSeconds = (what: string) =>
  s.integer({
    description: `How long, in seconds, ${what} must hold continuously before the pod is replaced.`,
    minimum: 10,
    maximum: 86400,
    default: 120,
  });

const healing = s.object(
  {
    memory: s.optional(
      s.object(
        {
          percentOfLimit: s.integer({
            description:
              "Replace a pod whose runtime container's memory working set stays over this share, in percent, of its memory limit (runtime.resources.limits.memory; without a limit memory healing does not apply).",
            minimum: 1,
            maximum: 100,
            default: 90,
          }),
          forSeconds: forSeconds('the working set over the share'),
        },
        {
          description:
            'Replace a pod whose memory keeps growing toward its limit (container_memory_working_set_bytes from Prometheus) before it is OOM-killed.',
        },
      ),
    ),
    errorRate: s.optional(
      s.object(
        {
          maxRatio: s.number({
            description:
              'Replace a pod whose share of 5xx answers (of all its requests) stays over this, in (0, 1].',
            minimum: 0,
            exclusiveMinimum: true,
            maximum: 1,
          }),
          forSeconds: forSeconds('the error ratio over maxRatio'),
          minRequestsPerSecond: s.number({
            description: 'Pods with less traffic than this (requests per second) are not judged.',
            minimum: 0,
            maximum: 1000000,
            default: 1,
          }),
        },
        {
          description:
            "Replace a pod whose error rate stays over a bound while the revision's other pods stay under it (an outlier, not a bad model).",
        },
      ),
    ),
    minIntervalSeconds: s.integer({
      description:
        'Shortest time, in seconds, between two replacements of this service (besides waiting for the previous replacement to be Ready).',
      minimum: 0,
      maximum: 86400,
      default: 60,
    }),
  },
  {
    description:
      "Self-healing: replace a failing pod before it fails the service, one pod at a time through the Eviction API (so the PodDisruptionBudget holds), the next only once the replacement is Ready; never during a canary or while the service is not otherwise healthy. Needs the operator's Prometheus (--prometheus-url).",
    validations: [
      {
        rule: 'has(self.memory) || has(self.errorRate)',
        message: 'set memory, errorRate or both',
      },
    ],
  },
);

export const specSchema = s.object(
  {
    model,
    runtime: s.optional(runtime),
    scaling: s.optional(scaling),
    batching: s.optional(batching),
    rollout: s.optional(rollout),
    logging: s.optional(logging),
    slo: s.optional(slo),
    healing: s.optional(healing),
  },
  { description: 'Desired state of the InferenceService.' },
);

const revisionName = (description: string) => s.optional(s.string({ description, maxLength: 63 }));

export const statusSchema = statusObject(KIND, conditionTypes, {
  phase: statusPhase(
    phases,
    'Summary for humans: Pending (no ready replica yet), Progressing (a new revision is rolling out), Canary (a canary is being analysed), Serving (the stable revision serves all traffic), Degraded (serving, but with fewer ready replicas than wanted or after a rollback), Failed (cannot serve; see the conditions).',
  ),
  url: s.optional(s.string({ description: 'In-cluster URL of the inference endpoint.', maxLength: 512 })),
  createdTopics: createdTopicsStatus(),
  adoptedTopics: adoptedTopicsStatus(),
  revisions: s.optional(
    s.object(
      {
        stable: revisionName('Revision serving the stable share of traffic.'),
        canary: revisionName('Revision under analysis, if any.'),
        lastRolledBack: revisionName('Last revision that was rolled back.'),
      },
      { description: 'Revisions (one per model and runtime configuration) and their roles.' },
    ),
  ),
  traffic: s.optional(
    s.array(
      s.object(
        {
          revision: s.string({ description: 'Revision name.', maxLength: 63 }),
          percent: s.integer({ description: 'Share of traffic in percent.', minimum: 0, maximum: 100 }),
        },
        { description: 'Share of traffic sent to one revision.' },
      ),
      {
        description: 'How traffic is split between revisions.',
        maxItems: 2,
        listType: 'map',
        listMapKeys: ['revision'],
      },
    ),
  ),
  canaryPercent: s.optional(
    s.integer({
      description: 'Share of traffic, in percent, the canary revision gets now; 0 without a canary.',
      minimum: 0,
      maximum: 100,
    }),
  ),
  replicas: s.optional(s.integer({ description: 'Serving pods, all revisions together.', minimum: 0 })),
  readyReplicas: s.optional(s.integer({ description: 'Serving pods that are ready.', minimum: 0 })),
  model: s.optional(
    s.object(
      {
        version: s.string({ description: 'Version of the model.', maxLength: 63 }),
        uri: s.optional(s.string({ description: 'URI the model was loaded from.', maxLength: 2048 })),
        sha256: s.optional(s.string({ description: 'SHA-256 of the model file as loaded.', maxLength: 64 })),
      },
      { description: 'The model the stable revision serves.' },
    ),
  ),
  canary: s.optional(
    s.object(
      {
        revision: s.string({ description: 'Revision under analysis.', maxLength: 63 }),
        startTime: s.optional(s.dateTime({ description: 'When the analysis started.' })),
        passedChecks: s.integer({ description: 'Checks passed so far.', minimum: 0 }),
        failedChecks: s.integer({ description: 'Checks failed so far.', minimum: 0 }),
        lastCheckTime: s.optional(s.dateTime({ description: 'When the canary was last checked.' })),
        lastCheckMessage: s.optional(
          s.string({ description: 'Outcome of the last check, for humans.', maxLength: 1024 }),
        ),
        promoting: s.optional(
          s.boolean({
            description:
              'The canary passed and is scaling up to the full replica count; it becomes stable once those pods are ready.',
          }),
        ),
      },
      { description: 'Progress of the canary analysis; absent when no canary runs.' },
    ),
  ),
  stable: s.optional(
    s.object(
      {
        revision: s.string({ description: 'The stable revision.', maxLength: 63 }),
        model,
        runtime: s.optional(runtime),
        batching: s.optional(batching),
      },
      {
        description:
          'What the stable revision serves (the model and runtime its revision hashes), as the spec had it when the revision became stable. The operator re-creates the stable Deployment from it, so deleting that Deployment during a canary does not make the canary stable. batching appears only for a revision named before batching left the revision; the pods use spec.batching.',
      },
    ),
  ),
  pendingRollback: s.optional(
    s.object(
      {
        revision: s.string({ description: 'Revision being rolled back.', maxLength: 63 }),
        stable: s.string({ description: 'Revision traffic goes back to.', maxLength: 63 }),
        reason: s.string({ description: 'Why the revision is rolled back.', maxLength: 1024 }),
        message: s.string({ description: 'What went wrong with it.', maxLength: 32768 }),
      },
      {
        description:
          'A rollback that is decided but not in effect yet: the Deployment of the revision (or the children routing traffic) could not be removed or updated. The RolledBack Event is sent once it is in effect.',
      },
    ),
  ),
  healing: s.optional(
    s.object(
      {
        lastReplacementTime: s.optional(s.dateTime({ description: 'When the last pod was replaced.' })),
        pending: s.optional(
          s.object(
            {
              pod: s.string({ description: 'The evicted pod.', maxLength: 253 }),
              reason: s.string({ description: 'MemoryGrowth or ErrorRateOutlier.', maxLength: 64 }),
              time: s.dateTime({ description: 'When it was evicted.' }),
            },
            {
              description:
                'A replacement in progress: the evicted pod, until its replacement is Ready (no other pod is replaced meanwhile).',
            },
          ),
        ),
        replacements: s.optional(
          s.array(
            s.object(
              {
                pod: s.string({ description: 'The replaced pod.', maxLength: 253 }),
                revision: s.optional(s.string({ description: 'Its revision.', maxLength: 63 })),
                reason: s.enum(['MemoryGrowth', 'ErrorRateOutlier'], { description: 'Why it was replaced.' }),
                message: s.string({ description: 'What was measured, for humans.', maxLength: 1024 }),
                time: s.dateTime({ description: 'When it was evicted.' }),
              },
              { description: 'One pod replaced by self-healing.' },
            ),
            { description: 'The last replacements, newest first (at most 10).', maxItems: 10 },
          ),
        ),
      },
      { description: 'Self-healing (spec.healing): the replacements made and the one in progress.' },
    ),
  ),
  lastFailure: s.optional(
    s.object(
      {
        reason: s.string({
          description: 'CamelCase reason (e.g. RolledBack, ModelLoadFailed).',
          maxLength: 1024,
        }),
        message: s.string({ description: 'What went wrong.', maxLength: 32768 }),
        revision: s.optional(s.string({ description: 'Revision that failed.', maxLength: 63 })),
        time: s.dateTime({ description: 'When it happened.' }),
      },
      { description: 'The most recent failure (failed model load or rolled-back canary).' },
    ),
  ),
});

export type InferenceServiceSpec = Infer<typeof specSchema>;
/** The spec after the API server applied the schema defaults. */
export type InferenceServiceSpecDefaulted = Defaulted<typeof specSchema>;
export type InferenceServiceStatus = Infer<typeof statusSchema>;
export type InferenceServicePhase = (typeof phases)[number];
export type InferenceService = CustomResource<typeof KIND, InferenceServiceSpec, InferenceServiceStatus>;

export const crd = defineKind({
  kind: KIND,
  plural: 'inferenceservices',
  shortNames: ['infsvc'],
  scope: 'Namespaced',
  description:
    'InferenceService serves an ONNX model over HTTP: GPU-aware pods with autoscaling and dynamic batching, canary rollouts of new model versions with automatic rollback, request logging to Kafka and SLO burn-rate alerts.',
  spec: specSchema,
  status: statusSchema,
  conditionTypes,
  printerColumns: kindPrinterColumns('Summary of the serving state.', [
    { name: 'URL', type: 'string', jsonPath: '.status.url', description: 'Inference endpoint.' },
    {
      name: 'Model',
      type: 'string',
      jsonPath: '.status.model.version',
      description: 'Model version served by the stable revision.',
    },
    {
      name: 'Canary%',
      type: 'integer',
      jsonPath: '.status.canaryPercent',
      description: 'Share of traffic the canary revision gets now.',
    },
    {
      name: 'Replicas',
      type: 'integer',
      jsonPath: '.status.readyReplicas',
      description: 'Ready serving pods.',
    },
  ]),
});
