// Pure: the children of an InferenceService.
//
// A revision is a short hash of everything that changes what is served (the
// model and the runtime container): its "serving spec". Batching is not part
// of it: it is written into every live revision's ConfigMap entry, which the
// runtime re-reads (runtime/reload.ts), so a batching edit reaches the running
// pods without a new revision or a canary. Each live
// revision (the stable one and, during a rollout, the canary) gets its own
// Deployment `<name>-<revision>`; one Service selects the serving pods of
// every live revision, so traffic splits by replica count. The runtime
// ConfigMap holds one configuration per live revision. The serving spec of
// a revision that is no longer the spec's (the stable one while a canary
// runs) comes from the annotation its Deployment carries, passed in as data.
//
// With the Gateway API (integrations.gatewayApi) and a Gateway to attach to
// (spec.rollout.gateway), the split is by weight instead: each live revision
// also gets a Service `<name>-<revision>`, and one HTTPRoute `<name>` sends
// canaryPercent of the requests to the canary's Service and the rest to the
// stable one, so the stable revision keeps its full replica count.
import { createHash } from 'node:crypto';
import type { Child } from '../../operator/controller.ts';
import type { RuleSettings } from '../../operator/integrations.ts';
import type { TopicSpec } from '../../operator/kafka/topics.ts';
import type { KubeObject } from '../../operator/kube/resources.ts';
import { core } from '../../operator/kube/resources.ts';
import {
  containerResources,
  podPlacement,
  RESTRICTED_POD_SECURITY,
  restrictedContainerSecurity,
} from '../../operator/kube/pods.ts';
import { httpRoute as httpRouteType } from '../../operator/kube/gateway.ts';
import { ownerLabels, owned } from '../../operator/ownership.ts';
import { inferenceServiceRuleGroups } from '../../operator/prometheus/generators/inferenceservice.ts';
import { ruleChildren } from '../../operator/prometheus/rule-objects.ts';
import { RUNTIME_COMMAND, defaultRuntimeImage, isOwnRuntimeImage } from '../../operator/version.ts';
import type { InferenceServiceSpec } from './schema.ts';
import { withNodeLossTolerations } from './node-loss.ts';

export type InferenceServiceObject = KubeObject & { spec: InferenceServiceSpec; status?: unknown };

export const REVISION_LABEL = 'ymera.io/revision';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const SERVING_COMPONENT = 'inference-server';
/** Deployment annotation holding the revision's serving spec (JSON), so it can be rebuilt later. */
export const SERVING_SPEC_ANNOTATION = 'ymera.io/serving-spec';
export const HTTP_PORT = 8080;
/** The runtime's v2 gRPC endpoint (runtime/grpc.ts), on the pod and on the Service alike. */
export const GRPC_PORT = 8081;
export const CONFIG_DIR = '/etc/ymera';
/** Where a pvc:// model's claim is mounted (read-only) in the serving pods. */
export const MODEL_VOLUME_DIR = '/mnt/models';

/** The claim and path of a pvc://<claim>/<path> model URI; undefined for other schemes. */
export function pvcModelOf(uri: string): { claim: string; path: string } | undefined {
  const m = /^pvc:\/\/([^/]+)\/(.+)$/.exec(uri);
  return m ? { claim: m[1] as string, path: (m[2] as string).replace(/^\/+/, '') } : undefined;
}

/** The URI the runtime loads: a pvc:// model is a file in the mounted claim. */
export function runtimeModelUri(uri: string): string {
  const pvc = pvcModelOf(uri);
  return pvc ? `file://${MODEL_VOLUME_DIR}/${pvc.path}` : uri;
}
/** Custom metrics (per pod, through a metrics adapter) the HPA reads for concurrency and latency. */
export const HPA_METRICS = {
  concurrency: 'ymera_inference_requests_in_flight',
  latency: 'ymera_inference_request_p95_latency_milliseconds',
} as const;
const HPA_DEFAULT_TARGET = { cpu: 70, concurrency: 8, latency: 100 } as const;

export const configMapName = (name: string) => `${name}-config`;
/** How long a serving pod keeps listening after its deletion, before the kubelet sends SIGTERM. */
export const PRE_STOP_SLEEP_SECONDS = 5;
export const serviceName = (name: string) => name;
export const deploymentName = (name: string, revision: string) => `${name}-${revision}`;
export const configKey = (revision: string) => `${revision}.json`;
export const revisionServiceName = (name: string, revision: string) => `${name}-${revision}`;
export const httpRouteName = (name: string) => name;

/**
 * The children a rollback of `revision` is in effect through: its Deployment
 * and revision Service gone, the Service and HTTPRoute that route traffic
 * applied without it (rollout.ts rollbackInEffect).
 */
export function rollbackChildren(name: string, revision: string): { kind: string; name: string }[] {
  return [
    { kind: 'Deployment', name: deploymentName(name, revision) },
    { kind: 'Service', name: revisionServiceName(name, revision) },
    { kind: 'Service', name: serviceName(name) },
    { kind: httpRouteType.kind, name: httpRouteName(name) },
  ];
}

/** Whether traffic splits by HTTPRoute weights: the Gateway API is on and the spec names a Gateway. */
export function routedByGateway(spec: InferenceServiceSpec, gatewayApi: boolean): boolean {
  return gatewayApi && spec.rollout?.gateway !== undefined;
}

/** What a revision is made of: the fields that change what the pods serve. */
export interface ServingSpec {
  model: InferenceServiceSpec['model'];
  runtime?: InferenceServiceSpec['runtime'];
  /**
   * Only in the serving spec of a revision made before batching left the
   * revision (its name hashes it): kept so the name still verifies, never
   * used for the pods (the spec's batching is).
   */
  batching?: InferenceServiceSpec['batching'];
}

/** The serving spec of the current spec, with the default image made explicit (an operator upgrade is a new revision). */
export function servingSpecOf(spec: InferenceServiceSpec): ServingSpec {
  return {
    model: { ...spec.model, format: spec.model.format ?? 'onnx' },
    runtime: { ...spec.runtime, image: spec.runtime?.image ?? defaultRuntimeImage(spec.runtime?.gpu) },
  };
}

/** A serving spec without the batching an older revision hashed. */
export function withoutBatching(serving: ServingSpec): ServingSpec {
  const { batching: _live, ...rest } = serving;
  return rest;
}

/**
 * The revision the spec asks for: a live revision (stable first, then the
 * canary) that serves the same thing, batching aside, keeps its name; else the
 * hash of the spec's serving spec. Revisions made before batching left the
 * hash are named by a hash that includes it: without this, an operator upgrade
 * would start a canary of every InferenceService that sets batching, and a
 * batching edit would still start one until its next model or runtime change.
 */
export function desiredRevision(
  spec: InferenceServiceSpec,
  live: readonly { revision: string; serving: ServingSpec }[],
  /** status.revisions.lastRolledBack: a spec still asking for it under its older name stays held. */
  lastRolledBack?: string,
): string {
  const current = servingSpecOf(spec);
  const same = canonicalJson(current);
  const match = live.find((r) => canonicalJson(withoutBatching(r.serving)) === same);
  if (match) return match.revision;
  if (
    lastRolledBack &&
    spec.batching &&
    revisionOf({ ...current, batching: spec.batching }) === lastRolledBack
  )
    return lastRolledBack;
  return revisionOf(current);
}

/** status.stable: the stable revision with its serving spec, so its Deployment can always be re-created. */
export type StableServing = { revision: string } & ServingSpec;

export function stableServing(revision: string, serving: ServingSpec): StableServing {
  return { revision, ...serving };
}

/**
 * The stable revision's serving spec kept in status, when it still hashes to
 * its revision (an edited status rebuilds nothing). Status, not the existing
 * Deployments, says what is stable: deleting the stable Deployment during a
 * canary must not make the untested canary stable.
 */
export function stableFromStatus(
  status: { stable?: unknown } | undefined,
): { revision: string; serving: ServingSpec } | undefined {
  const kept = status?.stable as Partial<StableServing> | undefined;
  if (!kept || typeof kept.revision !== 'string' || !kept.model) return undefined;
  const serving: ServingSpec = {
    model: kept.model,
    ...(kept.runtime ? { runtime: kept.runtime } : {}),
    ...(kept.batching ? { batching: kept.batching } : {}),
  };
  return revisionOf(serving) === kept.revision ? { revision: kept.revision, serving } : undefined;
}

/** JSON with object keys sorted, so equal specs hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** 10 hex digits of sha256 over the canonical serving spec. */
export function revisionOf(serving: ServingSpec): string {
  return createHash('sha256').update(canonicalJson(serving)).digest('hex').slice(0, 10);
}

/**
 * The service without request logging when its topic is one the namespace may
 * not use: the pods must not write where the topic policy refused the CR
 * (status says TopicNotAllowed), nor auto-create the topic there.
 */
export function withLoggingAllowed(
  obj: InferenceServiceObject,
  allowed: (namespace: string | undefined, topic: string) => boolean,
): InferenceServiceObject {
  const kafka = obj.spec.logging?.kafka;
  if (!kafka || allowed(obj.metadata.namespace, kafka.topic)) return obj;
  const { logging: _refused, ...spec } = obj.spec;
  return { ...obj, spec };
}

export function currentRevision(obj: InferenceServiceObject): string {
  return revisionOf(servingSpecOf(obj.spec));
}

/**
 * What the runtime reads (runtime/config.ts), in a stable order: the revision's
 * model and threads, and the batching and request logging of the current spec
 * (not part of the revision: the runtime applies a batching change live; the
 * brokers come from the runtime's environment).
 */
export function runtimeConfig(obj: InferenceServiceObject, serving?: ServingSpec): Record<string, unknown> {
  const { model, runtime } = serving ?? obj.spec;
  const batching = obj.spec.batching;
  const kafka = obj.spec.logging?.kafka;
  return {
    model: {
      name: obj.metadata.name,
      uri: runtimeModelUri(model.uri),
      format: model.format ?? 'onnx',
      version: model.version,
      ...(model.sha256 ? { sha256: model.sha256 } : {}),
    },
    ...(batching
      ? { batching: { maxBatchSize: batching.maxBatchSize, maxDelayMs: batching.maxDelayMs } }
      : {}),
    ...(runtime?.threads ? { threads: runtime.threads } : {}),
    // a GPU service runs its graph on the GPU, or refuses to load (never quietly on the CPU)
    ...(runtime?.gpu ? { executionProvider: 'cuda' } : {}),
    ...(kafka ? { logging: { kafka: { topic: kafka.topic, sampleRate: kafka.sampleRate ?? 1 } } } : {}),
  };
}

export interface Scaling {
  min: number;
  max: number;
  autoscaled: boolean;
}

export function scalingOf(spec: InferenceServiceSpec): Scaling {
  const min = spec.scaling?.minReplicas ?? 1;
  const max = Math.max(min, spec.scaling?.maxReplicas ?? min);
  return { min, max, autoscaled: max > min };
}

export interface ReplicaPlan {
  /** Replicas of the stable Deployment (with an HPA: its observed count, within min..max). */
  stable: number;
  /** Replicas of the canary Deployment (0 without a canary). */
  canary: number;
  /** What the stable count is taken to be (for the traffic split). */
  stableEffective: number;
  /** The replica count of the service without a canary. */
  total: number;
}

/**
 * Replica-weighted traffic split: the canary gets ceil(total × canaryPercent / 100)
 * replicas (at least 1; all of them for canaryPercent 0, a blue/green switch), the
 * stable revision the rest but never fewer than 1. With an HPA the stable count is
 * the HPA's (observed) and the canary is sized from it. While a judged-good canary
 * is being promoted it scales up to the full count first, the stable revision
 * keeping its share, so promotion never drops serving capacity.
 */
export function replicaPlan(
  spec: InferenceServiceSpec,
  hasCanary: boolean,
  observedStableReplicas?: number,
  promoting = false,
  /** Traffic splits by HTTPRoute weights: the stable revision keeps every replica. */
  weighted = false,
): ReplicaPlan {
  const scaling = scalingOf(spec);
  const total = scaling.autoscaled
    ? Math.min(scaling.max, Math.max(scaling.min, observedStableReplicas ?? scaling.min))
    : scaling.min;
  const percent = spec.rollout?.canaryPercent ?? 10;
  const share = !hasCanary ? 0 : percent === 0 ? total : Math.min(total, Math.ceil((total * percent) / 100));
  const canary = hasCanary && promoting ? total : share;
  // with an HPA the applied count is what the HPA last set (so a new Deployment starts at minReplicas)
  if (scaling.autoscaled || weighted) return { stable: total, canary, stableEffective: total, total };
  const stable = Math.max(1, total - share);
  return { stable, canary, stableEffective: stable, total };
}

/**
 * Traffic share of each live revision, in percent (stable first): from a
 * replica plan, or, when `canaryWeight` is given (HTTPRoute weights), exactly
 * that share to the canary.
 */
export function trafficSplit(
  revisions: { stable: string; canary?: string },
  plan: ReplicaPlan,
  canaryWeight?: number,
): { revision: string; percent: number }[] {
  if (!revisions.canary || revisions.canary === revisions.stable)
    return [{ revision: revisions.stable, percent: 100 }];
  const canary =
    canaryWeight !== undefined
      ? Math.min(100, Math.max(0, canaryWeight))
      : Math.round((100 * plan.canary) / (plan.canary + plan.stableEffective));
  return [
    { revision: revisions.stable, percent: 100 - canary },
    { revision: revisions.canary, percent: canary },
  ];
}

export interface ServingPlan {
  stable: string;
  canary?: string;
  /** Serving specs of live revisions other than the current spec's (from status.stable and their Deployments). */
  servingSpecs: Record<string, ServingSpec>;
  /** spec.replicas of the stable Deployment; undefined when it does not exist (yet). */
  observedStableReplicas?: number;
  /** The canary was judged good and scales up to the full count before it becomes stable. */
  promoting?: boolean;
}

/**
 * Whether the applied stable Deployment leaves spec.replicas out: with an HPA,
 * once the Deployment exists, replicas are the HPA's (and kubectl scale's).
 * Only its creation sets them (to minReplicas), so it does not start at 1.
 */
export function leavesReplicasToHpa(spec: InferenceServiceSpec, stableDeploymentExists: boolean): boolean {
  return scalingOf(spec).autoscaled && stableDeploymentExists;
}

/** The plan of a first reconcile: the spec's revision is stable directly. */
export function initialPlan(obj: InferenceServiceObject): ServingPlan {
  return { stable: currentRevision(obj), servingSpecs: {} };
}

/** Labels every serving pod of this InferenceService carries (the Service selects on them). */
export function servingSelector(obj: InferenceServiceObject): Record<string, string> {
  return { 'ymera.io/inferenceservice': obj.metadata.name, [COMPONENT_LABEL]: SERVING_COMPONENT };
}

function resolveServing(
  obj: InferenceServiceObject,
  plan: ServingPlan,
  revision: string,
): ServingSpec | undefined {
  const current = servingSpecOf(obj.spec);
  if (revisionOf(current) === revision) return current;
  return plan.servingSpecs[revision];
}

/** The live revisions whose serving spec is known, stable first. */
export function liveRevisions(
  obj: InferenceServiceObject,
  plan: ServingPlan,
): { revision: string; serving: ServingSpec }[] {
  const out: { revision: string; serving: ServingSpec }[] = [];
  for (const revision of [plan.stable, plan.canary]) {
    if (!revision || out.some((r) => r.revision === revision)) continue;
    const serving = resolveServing(obj, plan, revision);
    if (serving) out.push({ revision, serving });
  }
  return out;
}

export function desiredChildren(
  obj: InferenceServiceObject,
  rules: RuleSettings,
  plan: ServingPlan = initialPlan(obj),
  /** The operator's Kafka brokers, handed to pods that log requests. */
  kafkaBrokers: readonly string[] = [],
  /** The Gateway API (HTTPRoute) is installed: split by weights when the spec names a Gateway. */
  gatewayApi = false,
): Child[] {
  const live = liveRevisions(obj, plan);
  const hasCanary = plan.canary !== undefined && plan.canary !== plan.stable && live.length > 1;
  const routed = routedByGateway(obj.spec, gatewayApi);
  const replicas = replicaPlan(obj.spec, hasCanary, plan.observedStableReplicas, plan.promoting, routed);
  const data: Record<string, string> = {
    'runtime.json': `${JSON.stringify(runtimeConfig(obj), null, 2)}\n`,
  };
  for (const { revision, serving } of live) {
    data[configKey(revision)] = `${JSON.stringify(runtimeConfig(obj, serving), null, 2)}\n`;
  }
  const configMap: KubeObject = owned(obj, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: configMapName(obj.metadata.name), namespace: obj.metadata.namespace },
    data,
  });
  const children: Child[] = [{ type: core.configMap, object: configMap }];
  const hpaReplicas = leavesReplicasToHpa(obj.spec, plan.observedStableReplicas !== undefined);
  for (const { revision, serving } of live) {
    const isStable = revision === plan.stable;
    const count = !isStable ? replicas.canary : hpaReplicas ? undefined : replicas.stable;
    children.push({ type: core.deployment, object: deployment(obj, revision, serving, count, kafkaBrokers) });
  }
  children.push({ type: core.service, object: service(obj) });
  if (routed) {
    for (const { revision } of live) {
      children.push({ type: core.service, object: revisionService(obj, revision) });
    }
    const split = trafficSplit(
      { stable: plan.stable, ...(hasCanary && plan.canary ? { canary: plan.canary } : {}) },
      replicas,
      canaryWeightOf(obj.spec),
    );
    children.push({ type: httpRouteType, object: httpRoute(obj, split) });
  }
  const scaling = scalingOf(obj.spec);
  if (scaling.autoscaled && live[0]) {
    children.push({ type: core.hpa, object: hpa(obj, deploymentName(obj.metadata.name, live[0].revision)) });
  }
  children.push({ type: core.pdb, object: pdb(obj) });
  children.push(...ruleChildren(obj, inferenceServiceRuleGroups(obj), rules));
  return children;
}

function gpuOf(serving: ServingSpec) {
  return serving.runtime?.gpu;
}

/** One Deployment per revision. */
export function deployment(
  obj: InferenceServiceObject,
  revision: string,
  serving: ServingSpec,
  replicas: number | undefined,
  kafkaBrokers: readonly string[] = [],
): KubeObject {
  const name = obj.metadata.name;
  // request logging needs to know where Kafka is; the topic and rate are in runtime.json
  const kafkaEnv =
    obj.spec.logging?.kafka && kafkaBrokers.length > 0
      ? [{ name: 'YMERA_KAFKA_BROKERS', value: kafkaBrokers.join(',') }]
      : [];
  const runtime = serving.runtime ?? {};
  const gpu = gpuOf(serving);
  const podLabels = {
    ...ownerLabels(obj),
    ...servingSelector(obj),
    [REVISION_LABEL]: revision,
    'ymera.io/model-version': serving.model.version,
  };
  const resources = containerResources(runtime.resources, gpu);
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'http' },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  });
  const credentials = serving.model.credentialsSecret;
  // a model on a PVC (e.g. a LearningPipeline's artifacts) is read from the claim, mounted read-only
  const pvcModel = pvcModelOf(serving.model.uri);
  const image = runtime.image ?? defaultRuntimeImage(gpu);
  const container = {
    name: 'runtime',
    image,
    // our image starts the operator by default; a custom runtime image keeps its own entrypoint
    ...(isOwnRuntimeImage(image) ? { command: RUNTIME_COMMAND } : {}),
    imagePullPolicy: 'IfNotPresent',
    // the runtime writes why it cannot load the model there (runtime/termination.ts); any
    // other crash leaves the log's tail instead
    terminationMessagePolicy: 'FallbackToLogsOnError',
    args: ['--config', `${CONFIG_DIR}/runtime.json`],
    ports: [
      { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' },
      { name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' },
    ],
    env: [
      { name: 'YMERA_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'YMERA_INFERENCESERVICE', value: name },
      { name: 'YMERA_REVISION', value: revision },
      // the runtime serves gRPC only when told where; probes stay on HTTP
      { name: 'YMERA_GRPC_PORT', value: String(GRPC_PORT) },
      { name: 'YMERA_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      ...kafkaEnv,
      ...(runtime.env ?? []),
    ],
    ...(credentials ? { envFrom: [{ secretRef: { name: credentials.name } }] } : {}),
    ...(resources ? { resources } : {}),
    readinessProbe: probe('/v2/health/ready', 5, 3),
    livenessProbe: { ...probe('/v2/health/live', 10, 3), initialDelaySeconds: 10 },
    startupProbe: probe('/v2/health/live', 5, 60),
    // The kubelet's SIGTERM and the endpoint's removal from every kube-proxy race: a
    // runtime that stops listening first refuses connections still routed to it
    // (seen on a real node). Sleeping before SIGTERM lets the endpoint go first; the
    // sleep action needs nothing in the image, so custom runtime images get it too.
    lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SLEEP_SECONDS } } },
    securityContext: restrictedContainerSecurity(true),
    volumeMounts: [
      { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
      { name: 'models', mountPath: '/var/cache/ymera' },
      { name: 'tmp', mountPath: '/tmp' },
      ...(pvcModel ? [{ name: 'model-claim', mountPath: MODEL_VOLUME_DIR, readOnly: true }] : []),
    ],
  };
  const podSpec: Record<string, unknown> = {
    containers: [container],
    securityContext: RESTRICTED_POD_SECURITY,
    enableServiceLinks: false,
    // the runtime never calls the Kubernetes API: a mounted token would only be something to steal
    automountServiceAccountToken: false,
    // the pre-stop sleep, then the runtime's drain (25 s at most, runtime/config.ts)
    terminationGracePeriodSeconds: PRE_STOP_SLEEP_SECONDS + 30,
    volumes: [
      {
        name: 'config',
        configMap: {
          name: configMapName(name),
          items: [{ key: configKey(revision), path: 'runtime.json' }],
        },
      },
      { name: 'models', emptyDir: {} },
      { name: 'tmp', emptyDir: {} },
      ...(pvcModel
        ? [{ name: 'model-claim', persistentVolumeClaim: { claimName: pvcModel.claim, readOnly: true } }]
        : []),
    ],
  };
  // a replica on a lost node is replaced after seconds, not Kubernetes' default 5 minutes
  Object.assign(
    podSpec,
    podPlacement(gpu, runtime.nodeSelector, withNodeLossTolerations(runtime.tolerations)),
  );
  return owned(obj, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: deploymentName(name, revision),
      namespace: obj.metadata.namespace,
      labels: { ...servingSelector(obj), [REVISION_LABEL]: revision },
      annotations: { [SERVING_SPEC_ANNOTATION]: canonicalJson(serving) },
    },
    spec: {
      ...(replicas !== undefined ? { replicas } : {}),
      revisionHistoryLimit: 2,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: { 'ymera.io/inferenceservice': name, [REVISION_LABEL]: revision } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: podLabels,
          annotations: {
            ...runtime.podAnnotations,
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(HTTP_PORT),
            'prometheus.io/path': '/metrics',
          },
        },
        spec: podSpec,
      },
    },
  });
}

export function service(obj: InferenceServiceObject): KubeObject {
  return owned(obj, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: serviceName(obj.metadata.name),
      namespace: obj.metadata.namespace,
      labels: servingSelector(obj),
    },
    spec: {
      type: 'ClusterIP',
      selector: servingSelector(obj),
      ports: [
        { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
        // appProtocol tells meshes and gateways to speak HTTP/2 gRPC to it
        { name: 'grpc', port: GRPC_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' },
      ],
    },
  });
}

/** The canary's share of requests when HTTPRoute weights split traffic. */
export function canaryWeightOf(spec: InferenceServiceSpec): number {
  return spec.rollout?.canaryPercent ?? 10;
}

/** The Service of one revision: the backend the HTTPRoute weights. */
export function revisionService(obj: InferenceServiceObject, revision: string): KubeObject {
  return owned(obj, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: revisionServiceName(obj.metadata.name, revision),
      namespace: obj.metadata.namespace,
      labels: { ...servingSelector(obj), [REVISION_LABEL]: revision },
    },
    spec: {
      type: 'ClusterIP',
      selector: { ...servingSelector(obj), [REVISION_LABEL]: revision },
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  });
}

/**
 * The HTTPRoute `<name>` attached to spec.rollout.gateway: one rule whose
 * backends are the revision Services, weighted by the traffic split.
 */
export function httpRoute(
  obj: InferenceServiceObject,
  split: { revision: string; percent: number }[],
): KubeObject {
  const gateway = obj.spec.rollout?.gateway;
  if (!gateway) throw new Error(`${obj.metadata.name}: an HTTPRoute needs spec.rollout.gateway`);
  return owned(obj, {
    apiVersion: `${httpRouteType.group}/${httpRouteType.version}`,
    kind: httpRouteType.kind,
    metadata: {
      name: httpRouteName(obj.metadata.name),
      namespace: obj.metadata.namespace,
      labels: servingSelector(obj),
    },
    spec: {
      parentRefs: [
        {
          group: 'gateway.networking.k8s.io',
          kind: 'Gateway',
          name: gateway.name,
          ...(gateway.namespace ? { namespace: gateway.namespace } : {}),
          ...(gateway.sectionName ? { sectionName: gateway.sectionName } : {}),
        },
      ],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          backendRefs: split.map(({ revision, percent }) => ({
            group: '',
            kind: 'Service',
            name: revisionServiceName(obj.metadata.name, revision),
            port: 80,
            weight: percent,
          })),
        },
      ],
    },
  });
}

export function hpa(obj: InferenceServiceObject, target: string): KubeObject {
  const scaling = scalingOf(obj.spec);
  const metric = obj.spec.scaling?.metric ?? 'cpu';
  const value = obj.spec.scaling?.target ?? HPA_DEFAULT_TARGET[metric];
  const metrics =
    metric === 'cpu'
      ? [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: value } },
          },
        ]
      : [
          {
            type: 'Pods',
            pods: {
              metric: { name: HPA_METRICS[metric] },
              target: { type: 'AverageValue', averageValue: String(value) },
            },
          },
        ];
  return owned(obj, {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
      minReplicas: scaling.min,
      maxReplicas: scaling.max,
      metrics,
    },
  });
}

/**
 * Serving pods the PodDisruptionBudget lets be down at once. A service that
 * was Ready stays Ready while at most this many of its minReplicas are down
 * (status.ts): the budget is what its owner accepts as still serving.
 */
export const PDB_MAX_UNAVAILABLE = 1;

/** At most one serving pod down through voluntary disruptions (drains), never blocking a drain outright. */
export function pdb(obj: InferenceServiceObject): KubeObject {
  return owned(obj, {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace },
    spec: { maxUnavailable: PDB_MAX_UNAVAILABLE, selector: { matchLabels: servingSelector(obj) } },
  });
}

/** The in-cluster URL of the model endpoint. */
export function serviceUrl(obj: InferenceServiceObject): string {
  return `http://${serviceName(obj.metadata.name)}.${obj.metadata.namespace}.svc.cluster.local/v2/models/${obj.metadata.name}`;
}

/** The request/response logging topic, when logging to Kafka is on. */
export function declaredTopics(obj: InferenceServiceObject): TopicSpec[] {
  const kafka = obj.spec.logging?.kafka;
  if (!kafka) return [];
  return [
    {
      name: kafka.topic,
      partitions: kafka.partitions ?? 3,
      ...(kafka.replicationFactor !== undefined ? { replicationFactor: kafka.replicationFactor } : {}),
      ...(kafka.config ? { config: kafka.config } : {}),
      ...(kafka.adopt !== undefined ? { adopt: kafka.adopt } : {}),
      ...(kafka.deletionPolicy ? { deletionPolicy: kafka.deletionPolicy } : {}),
      field: 'spec.logging.kafka.topic',
    },
  ];
}
