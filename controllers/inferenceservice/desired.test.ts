import { describe, expect, it } from 'vitest';
import { httpRoute } from '../../operator/kube/gateway.ts';
import { RUNTIME_CUDA_IMAGE, RUNTIME_IMAGE } from '../../operator/version.ts';
import type { InferenceServiceObject } from './desired.ts';
import { withNodeLossTolerations } from './node-loss.ts';
import {
  canaryWeightOf,
  canonicalJson,
  configKey,
  configMapName,
  currentRevision,
  deploymentName,
  desiredChildren,
  desiredRevision,
  HPA_METRICS,
  leavesReplicasToHpa,
  replicaPlan,
  revisionOf,
  revisionServiceName,
  routedByGateway,
  runtimeConfig,
  SERVING_SPEC_ANNOTATION,
  servingSpecOf,
  stableFromStatus,
  stableServing,
  trafficSplit,
  withLoggingAllowed,
} from './desired.ts';

const configMaps = { mode: 'ConfigMap' as const, labels: {} };
const NODE_LOSS = withNodeLossTolerations(undefined);

const svc = (spec: Partial<InferenceServiceObject['spec']> = {}): InferenceServiceObject => ({
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'InferenceService',
  metadata: { name: 'fraud', namespace: 'ml', uid: 'u-1', generation: 1 },
  spec: {
    model: { uri: 's3://models/fraud.onnx', format: 'onnx', version: 'v3', sha256: 'a'.repeat(64) },
    batching: { maxBatchSize: 16, maxDelayMs: 5 },
    ...spec,
  } as InferenceServiceObject['spec'],
});

type Obj = {
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences: { uid: string }[];
  };
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
};
type PodTemplate = {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: {
    containers: {
      name: string;
      image: string;
      args: string[];
      env: { name: string; value?: string }[];
      ports: { name: string; containerPort: number }[];
      readinessProbe: { httpGet: { path: string } };
      livenessProbe: { httpGet: { path: string } };
      resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
      securityContext: Record<string, unknown>;
      volumeMounts: { name: string; mountPath: string }[];
    }[];
    nodeSelector?: Record<string, string>;
    tolerations?: unknown[];
    enableServiceLinks?: boolean;
    automountServiceAccountToken?: boolean;
    volumes: { name: string; configMap?: { name: string; items: { key: string; path: string }[] } }[];
  };
};

const kinds = (children: { object: { kind: string } }[]) => children.map((c) => c.object.kind);
const find = (children: { object: unknown }[], kind: string, name?: string) =>
  children
    .map((c) => c.object as Obj)
    .find((o) => o.kind === kind && (name === undefined || o.metadata.name === name)) as Obj;
const template = (d: Obj) => (d.spec as { template: PodTemplate }).template;

describe('revisions', () => {
  it('hashes what changes serving, not key order or the rest of the spec', () => {
    const a = currentRevision(svc());
    expect(a).toMatch(/^[0-9a-f]{10}$/);
    expect(currentRevision(svc({ scaling: { minReplicas: 3, maxReplicas: 5 } }))).toBe(a);
    expect(currentRevision(svc({ rollout: { canaryPercent: 50 } }))).toBe(a);
    expect(currentRevision(svc({ slo: { availabilityPercent: 99 } }))).toBe(a);
    const base = svc().spec;
    expect(currentRevision(svc({ model: { ...base.model, version: 'v4' } }))).not.toBe(a);
    expect(currentRevision(svc({ model: { ...base.model, uri: 's3://models/other.onnx' } }))).not.toBe(a);
    expect(currentRevision(svc({ runtime: { image: 'example.com/rt:2' } }))).not.toBe(a);
    expect(currentRevision(svc({ runtime: { gpu: { count: 1 } } }))).not.toBe(a);
    expect(currentRevision(svc({ runtime: { threads: 2 } }))).not.toBe(a);
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: undefined }] })).toBe('{"a":[{"d":2}],"b":1}');
  });

  it('leaves batching out: a batching edit is the same revision (the runtime applies it live)', () => {
    const a = currentRevision(svc());
    expect(currentRevision(svc({ batching: { maxBatchSize: 8, maxDelayMs: 5 } }))).toBe(a);
    expect(currentRevision(svc({ batching: undefined }))).toBe(a);
    expect(servingSpecOf(svc().spec)).not.toHaveProperty('batching');
  });

  it('keeps the names revisions had before batching left the hash (pinned: an upgrade renames nothing it need not)', () => {
    const pinned = (batching?: { maxBatchSize: number; maxDelayMs: number }) =>
      svc({ runtime: { image: 'example.com/rt:1' }, batching });
    // without batching the name is the one the previous formula gave
    expect(currentRevision(pinned())).toBe('bd97e79161');
    // with batching the previous formula gave ec2d644724; the spec's own name is now the one without it
    expect(currentRevision(pinned({ maxBatchSize: 16, maxDelayMs: 5 }))).toBe('bd97e79161');
    expect(
      revisionOf({ ...servingSpecOf(pinned().spec), batching: { maxBatchSize: 16, maxDelayMs: 5 } }),
    ).toBe('ec2d644724');
  });

  it('makes the default image explicit, so the image of the operator version is part of the revision', () => {
    expect(servingSpecOf(svc().spec).runtime?.image).toBe(RUNTIME_IMAGE);
    expect(revisionOf(servingSpecOf(svc({ runtime: { image: RUNTIME_IMAGE } }).spec))).toBe(
      currentRevision(svc()),
    );
  });
});

describe('desiredRevision', () => {
  const legacy = (obj: InferenceServiceObject) => {
    const serving = {
      ...servingSpecOf(obj.spec),
      ...(obj.spec.batching ? { batching: obj.spec.batching } : {}),
    };
    return { revision: revisionOf(serving), serving };
  };

  it('is the spec hash when no live revision serves the same thing', () => {
    const obj = svc();
    expect(desiredRevision(obj.spec, [])).toBe(currentRevision(obj));
    const other = svc({ model: { ...obj.spec.model, version: 'v2' } });
    expect(desiredRevision(obj.spec, [legacy(other)])).toBe(currentRevision(obj));
  });

  it('keeps a stable revision named with batching (before the upgrade) when only batching differs', () => {
    const before = svc();
    const stable = legacy(before);
    expect(stable.revision).not.toBe(currentRevision(before));
    // the upgrade itself: the same spec keeps the stable revision, no canary
    expect(desiredRevision(before.spec, [stable])).toBe(stable.revision);
    // a batching edit after it, too
    const edited = svc({ batching: { maxBatchSize: 64, maxDelayMs: 1 } });
    expect(desiredRevision(edited.spec, [stable])).toBe(stable.revision);
    expect(desiredRevision(svc({ batching: undefined }).spec, [stable])).toBe(stable.revision);
    // a model change is a new revision, named without batching
    const model = svc({ model: { ...before.spec.model, version: 'v9' } });
    expect(desiredRevision(model.spec, [stable])).toBe(currentRevision(model));
  });

  it('keeps a canary started before the upgrade; prefers the stable when both differ only by batching', () => {
    const stable = legacy(svc());
    const next = svc({
      model: { ...svc().spec.model, version: 'v4' },
      batching: { maxBatchSize: 8, maxDelayMs: 1 },
    });
    const canary = legacy(next);
    expect(desiredRevision(next.spec, [stable, canary])).toBe(canary.revision);
    // a canary that only changed batching (a pre-upgrade rollout): the stable serves, the canary is abandoned
    const batchingOnly = legacy(svc({ batching: { maxBatchSize: 8, maxDelayMs: 1 } }));
    expect(
      desiredRevision(svc({ batching: { maxBatchSize: 8, maxDelayMs: 1 } }).spec, [stable, batchingOnly]),
    ).toBe(stable.revision);
  });

  it('holds a spec that still asks for a revision rolled back under its older name', () => {
    const stable = legacy(svc());
    const bad = svc({ model: { ...svc().spec.model, version: 'bad' } });
    const rolledBack = legacy(bad).revision;
    expect(desiredRevision(bad.spec, [stable], rolledBack)).toBe(rolledBack);
    // a later edit (batching too) is a new attempt, as before
    const again = svc({
      model: { ...svc().spec.model, version: 'bad' },
      batching: { maxBatchSize: 2, maxDelayMs: 0 },
    });
    expect(desiredRevision(again.spec, [stable], rolledBack)).toBe(currentRevision(again));
  });

  it('an older revision keeps its Deployment as it was; its ConfigMap entry carries the spec batching', () => {
    const before = svc();
    const stable = legacy(before);
    const edited = svc({ batching: { maxBatchSize: 64, maxDelayMs: 1 } });
    const revision = desiredRevision(edited.spec, [stable]);
    const plan = { stable: revision, servingSpecs: { [stable.revision]: stable.serving } };
    const children = desiredChildren(edited, configMaps, plan);
    const deployments = children.filter((c) => c.object.kind === 'Deployment').map((c) => c.object as Obj);
    expect(deployments.map((d) => d.metadata.name)).toEqual([deploymentName('fraud', stable.revision)]);
    // the Deployment is what it was before the batching edit (no pod restarts)
    const unchanged = find(desiredChildren(before, configMaps, plan), 'Deployment');
    expect(deployments[0]).toEqual(unchanged);
    expect(deployments[0]?.metadata.annotations?.[SERVING_SPEC_ANNOTATION]).toBe(
      canonicalJson(stable.serving),
    );
    const cm = find(children, 'ConfigMap');
    expect(JSON.parse(cm.data?.[configKey(stable.revision)] ?? '').batching).toEqual({
      maxBatchSize: 64,
      maxDelayMs: 1,
    });
  });
});

describe('replicas and traffic', () => {
  it('gives the canary ceil(total × percent / 100) replicas and the stable the rest', () => {
    const spec = svc({ scaling: { minReplicas: 10 }, rollout: { canaryPercent: 25 } }).spec;
    expect(replicaPlan(spec, false)).toEqual({ stable: 10, canary: 0, stableEffective: 10, total: 10 });
    const plan = replicaPlan(spec, true);
    expect(plan).toEqual({ stable: 7, canary: 3, stableEffective: 7, total: 10 });
    // promoting: the canary scales to the full count, the stable keeps its share
    expect(replicaPlan(spec, true, undefined, true)).toEqual({
      stable: 7,
      canary: 10,
      stableEffective: 7,
      total: 10,
    });
    expect(trafficSplit({ stable: 's', canary: 'c' }, plan)).toEqual([
      { revision: 's', percent: 70 },
      { revision: 'c', percent: 30 },
    ]);
    expect(trafficSplit({ stable: 's' }, replicaPlan(spec, false))).toEqual([
      { revision: 's', percent: 100 },
    ]);
  });

  it('keeps at least one stable replica, and runs a full-size canary for canaryPercent 0', () => {
    expect(replicaPlan(svc().spec, true)).toEqual({ stable: 1, canary: 1, stableEffective: 1, total: 1 });
    const blueGreen = svc({ scaling: { minReplicas: 4 }, rollout: { canaryPercent: 0 } }).spec;
    expect(replicaPlan(blueGreen, true)).toMatchObject({ canary: 4, stable: 1 });
  });

  it('keeps the count the HPA set and sizes the canary from it', () => {
    const spec = svc({ scaling: { minReplicas: 2, maxReplicas: 10 }, rollout: { canaryPercent: 10 } }).spec;
    expect(replicaPlan(spec, true, 6)).toEqual({ stable: 6, canary: 1, stableEffective: 6, total: 6 });
    expect(replicaPlan(spec, true, 50)).toEqual({ stable: 10, canary: 1, stableEffective: 10, total: 10 });
    expect(replicaPlan(spec, false)).toEqual({ stable: 2, canary: 0, stableEffective: 2, total: 2 });
  });
});

describe('the stable revision kept in status', () => {
  it('rebuilds the stable serving spec from status.stable, only when it hashes to its revision', () => {
    const old = svc();
    const serving = servingSpecOf(old.spec);
    const revision = revisionOf(serving);
    const status = { stable: stableServing(revision, serving) };
    // through JSON, as the API server stores it
    expect(stableFromStatus(JSON.parse(JSON.stringify(status)) as typeof status)).toEqual({
      revision,
      serving,
    });
    const edited = { stable: { ...status.stable, model: { ...serving.model, version: 'v9' } } };
    expect(stableFromStatus(edited)).toBeUndefined();
    expect(stableFromStatus({})).toBeUndefined();
    expect(stableFromStatus(undefined)).toBeUndefined();
  });

  it('re-creates a deleted stable Deployment from it beside the canary', () => {
    const old = svc();
    const stable = currentRevision(old);
    const next = svc({ model: { ...old.spec.model, version: 'v4' } });
    const canary = currentRevision(next);
    const kept = stableFromStatus({ stable: stableServing(stable, servingSpecOf(old.spec)) });
    if (!kept) throw new Error('status.stable was not read');
    const children = desiredChildren(next, configMaps, {
      stable,
      canary,
      servingSpecs: { [kept.revision]: kept.serving },
    });
    const d = find(children, 'Deployment', deploymentName('fraud', stable));
    expect(d.metadata.annotations?.[SERVING_SPEC_ANNOTATION]).toBe(canonicalJson(servingSpecOf(old.spec)));
    expect(find(children, 'Deployment', deploymentName('fraud', canary))).toBeDefined();
  });
});

describe('InferenceService desired children', () => {
  it('is the runtime ConfigMap, a Deployment of the revision, a Service and a PDB, all owned', () => {
    const children = desiredChildren(svc(), configMaps);
    expect(kinds(children)).toEqual(['ConfigMap', 'Deployment', 'Service', 'PodDisruptionBudget']);
    for (const c of children) {
      const o = c.object as Obj;
      expect(o.metadata.namespace).toBe('ml');
      expect(o.metadata.ownerReferences[0]?.uid).toBe('u-1');
      expect(o.metadata.labels['app.kubernetes.io/managed-by']).toBe('ymera-operator');
    }
    const cm = find(children, 'ConfigMap');
    expect(cm.metadata.name).toBe(configMapName('fraud'));
    const expected = {
      model: {
        name: 'fraud',
        uri: 's3://models/fraud.onnx',
        format: 'onnx',
        version: 'v3',
        sha256: 'a'.repeat(64),
      },
      batching: { maxBatchSize: 16, maxDelayMs: 5 },
    };
    expect(JSON.parse(cm.data?.['runtime.json'] ?? '')).toEqual(expected);
    expect(JSON.parse(cm.data?.[configKey(currentRevision(svc()))] ?? '')).toEqual(expected);
  });

  it('runs the runtime image with the revision config, probes, env, restricted securityContext and scrape annotations', () => {
    const rev = currentRevision(svc());
    const d = find(desiredChildren(svc(), configMaps), 'Deployment');
    expect(d.metadata.name).toBe(deploymentName('fraud', rev));
    expect(d.metadata.labels['ymera.io/revision']).toBe(rev);
    expect(JSON.parse(d.metadata.annotations?.[SERVING_SPEC_ANNOTATION] ?? '')).toEqual(
      JSON.parse(canonicalJson(servingSpecOf(svc().spec))),
    );
    expect(d.spec?.replicas).toBe(1);
    expect(d.spec?.selector).toEqual({
      matchLabels: { 'ymera.io/inferenceservice': 'fraud', 'ymera.io/revision': rev },
    });
    const t = template(d);
    expect(t.metadata.labels).toMatchObject({
      'ymera.io/inferenceservice': 'fraud',
      'ymera.io/revision': rev,
      'app.kubernetes.io/component': 'inference-server',
    });
    expect(t.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '8080',
    });
    const c = t.spec.containers[0];
    expect(c?.name).toBe('runtime');
    expect(c?.image).toBe(RUNTIME_IMAGE);
    // what the runtime says when it cannot load the model, or else the log's tail
    expect(c).toMatchObject({ terminationMessagePolicy: 'FallbackToLogsOnError' });
    expect((c as { command?: string[] } | undefined)?.command?.join(' ')).toContain('runtime/server.ts');
    expect(c?.args).toEqual(['--config', '/etc/ymera/runtime.json']);
    expect(c?.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'grpc', containerPort: 8081, protocol: 'TCP' },
    ]);
    // the runtime listens for gRPC where the port says; every probe stays on HTTP
    expect(c?.env.find((e) => e.name === 'YMERA_GRPC_PORT')?.value).toBe('8081');
    expect(c?.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port: 'http' });
    expect(c?.livenessProbe.httpGet).toEqual({ path: '/v2/health/live', port: 'http' });
    expect((c as { startupProbe?: { httpGet: unknown } } | undefined)?.startupProbe?.httpGet).toEqual({
      path: '/v2/health/live',
      port: 'http',
    });
    // SIGTERM comes after the endpoint has left kube-proxy, with the runtime's 25 s drain still in the grace period
    expect(c).toMatchObject({ lifecycle: { preStop: { sleep: { seconds: 5 } } } });
    expect((t.spec as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds).toBe(35);
    expect(c?.env.map((e) => e.name)).toEqual(
      expect.arrayContaining(['YMERA_NAMESPACE', 'YMERA_INFERENCESERVICE', 'YMERA_REVISION']),
    );
    expect(c?.env.find((e) => e.name === 'YMERA_REVISION')?.value).toBe(rev);
    expect(c?.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(t.spec.volumes.find((v) => v.name === 'config')?.configMap).toEqual({
      name: 'fraud-config',
      items: [{ key: `${rev}.json`, path: 'runtime.json' }],
    });
    expect(c?.volumeMounts).toContainEqual({ name: 'config', mountPath: '/etc/ymera', readOnly: true });
    // the runtime never calls the Kubernetes API: no token in the pod, no service env vars
    expect(t.spec.automountServiceAccountToken).toBe(false);
    expect(t.spec.enableServiceLinks).toBe(false);
    // CPU service: no GPU, no GPU toleration, no GPU node selector; only the short node-loss
    // tolerations (a replica on a lost node is replaced after 30 s, not Kubernetes' 300 s)
    expect(t.spec.nodeSelector).toBeUndefined();
    expect(t.spec.tolerations).toEqual(NODE_LOSS);
    expect(c?.resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
  });

  it('runs the serving pods where runtime.nodeSelector and runtime.tolerations say, GPU placement added on top', () => {
    const placed = svc({
      runtime: {
        gpu: { count: 1 },
        nodeSelector: { 'ymera.io/node-pool': 'real', 'nvidia.com/gpu.present': 'false' },
        tolerations: [{ key: 'ymera.io/real-node', operator: 'Equal', value: 'true', effect: 'NoSchedule' }],
      },
    });
    const t = template(find(desiredChildren(placed, configMaps), 'Deployment'));
    // the GPU selector wins over a user's same key: a GPU pod never lands on a node without one
    expect(t.spec.nodeSelector).toEqual({ 'ymera.io/node-pool': 'real', 'nvidia.com/gpu.present': 'true' });
    expect(t.spec.tolerations).toEqual([
      { key: 'ymera.io/real-node', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
      ...NODE_LOSS,
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
    ]);
  });

  it('puts GPU services on GPU nodes of the asked product, tolerating the GPU taint', () => {
    const gpu = svc({
      runtime: {
        gpu: { count: 2, product: 'NVIDIA-A100-SXM4-80GB' },
        resources: { requests: { cpu: '2' }, limits: { memory: '8Gi' } },
        podAnnotations: { 'ymera.io/simulate': 'crashloop' },
      },
    });
    const t = template(find(desiredChildren(gpu, configMaps), 'Deployment'));
    expect(t.spec.nodeSelector).toEqual({
      'nvidia.com/gpu.present': 'true',
      'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB',
    });
    expect(t.spec.tolerations).toEqual([
      ...NODE_LOSS,
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    expect(t.spec.containers[0]?.resources).toEqual({
      requests: { cpu: '2', 'nvidia.com/gpu': '2' },
      limits: { memory: '8Gi', 'nvidia.com/gpu': '2' },
    });
    expect(t.metadata.annotations['ymera.io/simulate']).toBe('crashloop');
    // the CUDA build of the runtime, told to run the graph on the GPU
    expect(t.spec.containers[0]?.image).toBe(RUNTIME_CUDA_IMAGE);
    expect((t.spec.containers[0] as { command?: string[] }).command?.join(' ')).toContain(
      'runtime/server.ts',
    );
    expect(runtimeConfig(gpu).executionProvider).toBe('cuda');
    expect(servingSpecOf(gpu.spec).runtime?.image).toBe(RUNTIME_CUDA_IMAGE);
    // a CPU service asks for nothing (the runtime's default is the CPU)
    expect(runtimeConfig(svc()).executionProvider).toBeUndefined();
    // a custom image is the user's to build, with or without CUDA
    const custom = svc({ runtime: { gpu: { count: 1 }, image: 'example.com/rt-gpu:1' } });
    expect(template(find(desiredChildren(custom, configMaps), 'Deployment')).spec.containers[0]?.image).toBe(
      'example.com/rt-gpu:1',
    );
    expect(runtimeConfig(custom).executionProvider).toBe('cuda');
  });

  it('mounts the claim of a pvc:// model read-only and points the runtime at the file in it', () => {
    const onPvc = svc({
      model: { uri: 'pvc://ml-artifacts/fraud/m-123/train/model.onnx', format: 'onnx', version: 'm-123' },
    });
    const t = template(find(desiredChildren(onPvc, configMaps), 'Deployment')) as PodTemplate & {
      spec: { volumes: unknown[]; containers: { volumeMounts: unknown[] }[] };
    };
    expect(t.spec.volumes).toContainEqual({
      name: 'model-claim',
      persistentVolumeClaim: { claimName: 'ml-artifacts', readOnly: true },
    });
    expect(t.spec.containers[0]?.volumeMounts).toContainEqual({
      name: 'model-claim',
      mountPath: '/mnt/models',
      readOnly: true,
    });
    expect(runtimeConfig(onPvc).model).toMatchObject({
      uri: 'file:///mnt/models/fraud/m-123/train/model.onnx',
    });
    // other schemes are passed through and mount nothing
    const s3 = template(find(desiredChildren(svc(), configMaps), 'Deployment')) as PodTemplate & {
      spec: { volumes: { name: string }[] };
    };
    expect(s3.spec.volumes.map((v) => v.name)).not.toContain('model-claim');
    expect(runtimeConfig(svc()).model).toMatchObject({ uri: 's3://models/fraud.onnx' });
  });

  it('selects every live revision with one Service and one PDB', () => {
    const children = desiredChildren(svc(), configMaps);
    const s = find(children, 'Service');
    expect(s.metadata.name).toBe('fraud');
    expect(s.spec).toMatchObject({
      selector: { 'ymera.io/inferenceservice': 'fraud', 'app.kubernetes.io/component': 'inference-server' },
      ports: [
        { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
        { name: 'grpc', port: 8081, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' },
      ],
    });
    const p = find(children, 'PodDisruptionBudget');
    expect(p.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: s.spec?.selector } });
  });

  it('adds an HPA when minReplicas < maxReplicas, on CPU utilisation or a per-pod metric', () => {
    const cpu = desiredChildren(svc({ scaling: { minReplicas: 2, maxReplicas: 5 } }), configMaps);
    const rev = currentRevision(svc());
    const h = find(cpu, 'HorizontalPodAutoscaler');
    expect(h.spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: `fraud-${rev}` },
      minReplicas: 2,
      maxReplicas: 5,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ],
    });
    // a new Deployment starts at minReplicas; later the HPA's count is kept
    expect(find(cpu, 'Deployment').spec?.replicas).toBe(2);
    const conc = desiredChildren(
      svc({ scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', target: 16 } }),
      configMaps,
    );
    expect(find(conc, 'HorizontalPodAutoscaler').spec?.metrics).toEqual([
      {
        type: 'Pods',
        pods: {
          metric: { name: HPA_METRICS.concurrency },
          target: { type: 'AverageValue', averageValue: '16' },
        },
      },
    ]);
    expect(
      kinds(desiredChildren(svc({ scaling: { minReplicas: 3, maxReplicas: 3 } }), configMaps)),
    ).not.toContain('HorizontalPodAutoscaler');
  });

  it('leaves replicas of an existing stable Deployment to the HPA, but sizes the canary itself', () => {
    const obj = svc({ scaling: { minReplicas: 2, maxReplicas: 10 }, rollout: { canaryPercent: 50 } });
    const stable = currentRevision(obj);
    // created at minReplicas
    expect(find(desiredChildren(obj, configMaps), 'Deployment').spec?.replicas).toBe(2);
    // once it exists (whatever the HPA or kubectl scale made of it), the field is not ours
    const existing = desiredChildren(obj, configMaps, {
      stable,
      servingSpecs: {},
      observedStableReplicas: 7,
    });
    expect(find(existing, 'Deployment').spec).not.toHaveProperty('replicas');
    // during a canary the stable one is still the HPA's; the canary's count is the operator's
    const next = svc({ ...obj.spec, model: { ...obj.spec.model, version: 'v4' } });
    const canary = currentRevision(next);
    const both = desiredChildren(next, configMaps, {
      stable,
      canary,
      servingSpecs: { [stable]: servingSpecOf(obj.spec) },
      observedStableReplicas: 7,
    });
    expect(find(both, 'Deployment', deploymentName('fraud', stable)).spec).not.toHaveProperty('replicas');
    expect(find(both, 'Deployment', deploymentName('fraud', canary)).spec?.replicas).toBe(4);
    // without an HPA the operator keeps setting (and repairing) the count
    const fixed = svc({ scaling: { minReplicas: 3 } });
    const plan = { stable: currentRevision(fixed), servingSpecs: {}, observedStableReplicas: 7 };
    expect(find(desiredChildren(fixed, configMaps, plan), 'Deployment').spec?.replicas).toBe(3);
    expect(leavesReplicasToHpa(obj.spec, true)).toBe(true);
    expect(leavesReplicasToHpa(obj.spec, false)).toBe(false);
    expect(leavesReplicasToHpa(fixed.spec, true)).toBe(false);
  });

  it('runs the old stable revision from its recorded serving spec beside the canary', () => {
    const old = svc();
    const oldRev = currentRevision(old);
    const next = svc({ model: { ...old.spec.model, version: 'v4' }, scaling: { minReplicas: 4 } });
    const newRev = currentRevision(next);
    const children = desiredChildren(next, configMaps, {
      stable: oldRev,
      canary: newRev,
      servingSpecs: { [oldRev]: servingSpecOf(old.spec) },
    });
    expect(kinds(children)).toEqual([
      'ConfigMap',
      'Deployment',
      'Deployment',
      'Service',
      'PodDisruptionBudget',
    ]);
    const stable = find(children, 'Deployment', `fraud-${oldRev}`);
    const canary = find(children, 'Deployment', `fraud-${newRev}`);
    expect(stable.spec?.replicas).toBe(3);
    expect(canary.spec?.replicas).toBe(1);
    const cm = find(children, 'ConfigMap');
    expect(JSON.parse(cm.data?.[`${oldRev}.json`] ?? '').model.version).toBe('v3');
    expect(JSON.parse(cm.data?.[`${newRev}.json`] ?? '').model.version).toBe('v4');
    // batching is the service's, not a revision's: both entries carry the spec's
    for (const rev of [oldRev, newRev])
      expect(JSON.parse(cm.data?.[`${rev}.json`] ?? '').batching).toEqual({
        maxBatchSize: 16,
        maxDelayMs: 5,
      });
    // a stable revision whose spec is unknown cannot be rebuilt: only the known one is desired
    expect(
      kinds(desiredChildren(next, configMaps, { stable: oldRev, canary: newRev, servingSpecs: {} })).filter(
        (k) => k === 'Deployment',
      ),
    ).toHaveLength(1);
  });

  it('leaves out what the spec leaves out, and is deterministic', () => {
    const plain = svc({
      batching: undefined,
      model: { uri: 'file:///m.onnx', format: 'onnx', version: '1' },
    });
    expect(runtimeConfig(plain)).toEqual({
      model: { name: 'fraud', uri: 'file:///m.onnx', format: 'onnx', version: '1' },
    });
    expect(desiredChildren(svc(), configMaps)).toEqual(desiredChildren(svc(), configMaps));
  });

  it('tells the runtime where to log requests, without making it a new revision', () => {
    const logged = svc({ logging: { kafka: { topic: 'fraud-requests', sampleRate: 0.1 } } });
    expect(runtimeConfig(logged).logging).toEqual({ kafka: { topic: 'fraud-requests', sampleRate: 0.1 } });
    expect(currentRevision(logged)).toBe(currentRevision(svc()));
  });

  it('starts the runtime in the default image and leaves a custom image its own entrypoint', () => {
    const containerOf = (children: ReturnType<typeof desiredChildren>) =>
      (
        children.find((c) => c.object.kind === 'Deployment')?.object as unknown as {
          spec: { template: { spec: { containers: { image: string; command?: string[] }[] } } };
        }
      ).spec.template.spec.containers[0];
    expect(containerOf(desiredChildren(svc(), configMaps))?.command?.at(-1)).toBe('runtime/server.ts');
    const custom = containerOf(
      desiredChildren(svc({ runtime: { image: 'registry.example.com/triton:24' } }), configMaps),
    );
    expect(custom?.image).toBe('registry.example.com/triton:24');
    expect(custom?.command).toBeUndefined();
  });

  it("gives request-logging pods the operator's Kafka brokers, and only those pods", () => {
    const envOf = (children: ReturnType<typeof desiredChildren>) => {
      const dep = children.find((c) => c.object.kind === 'Deployment')?.object as unknown as {
        spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
      };
      return dep.spec.template.spec.containers[0]?.env ?? [];
    };
    const logged = svc({ logging: { kafka: { topic: 'fraud-requests', sampleRate: 0.1 } } });
    const brokers = ['kafka-0:9092', 'kafka-1:9092'];
    expect(envOf(desiredChildren(logged, configMaps, undefined, brokers))).toContainEqual({
      name: 'YMERA_KAFKA_BROKERS',
      value: 'kafka-0:9092,kafka-1:9092',
    });
    expect(envOf(desiredChildren(svc(), configMaps, undefined, brokers)).map((e) => e.name)).not.toContain(
      'YMERA_KAFKA_BROKERS',
    );
    expect(envOf(desiredChildren(logged, configMaps)).map((e) => e.name)).not.toContain(
      'YMERA_KAFKA_BROKERS',
    );
  });

  it('gives the pods no request logging (no brokers, no topic) when the topic policy refused the topic', () => {
    const logged = svc({ logging: { kafka: { topic: 'other-team.requests', sampleRate: 1 } } });
    const allowOwn = (ns: string | undefined, topic: string) => topic.startsWith(`${ns}.`);
    const refused = withLoggingAllowed(logged, allowOwn);
    const children = desiredChildren(refused, configMaps, undefined, ['kafka-0:9092']);
    const text = JSON.stringify(children);
    expect(text).not.toContain('other-team.requests');
    expect(text).not.toContain('YMERA_KAFKA_BROKERS');
    // the same revision: logging is not part of it, so refusing the topic starts no rollout
    expect(currentRevision(refused)).toBe(currentRevision(logged));
    const own = svc({ logging: { kafka: { topic: `${logged.metadata.namespace}.requests` } } });
    expect(withLoggingAllowed(own, allowOwn)).toBe(own);
  });

  it('adds the SLO rules as a PrometheusRule or a ConfigMap, with the configured labels', () => {
    const withSlo = svc({ slo: { availabilityPercent: 99.9, p95LatencyMs: 100 } });
    const asRule = desiredChildren(withSlo, { mode: 'PrometheusRule', labels: { release: 'kps' } });
    expect(kinds(asRule)).toEqual([
      'ConfigMap',
      'Deployment',
      'Service',
      'PodDisruptionBudget',
      'PrometheusRule',
    ]);
    const rule = asRule[4]?.object as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { groups: { rules: { alert?: string }[] }[] };
    };
    expect(rule.metadata.labels.release).toBe('kps');
    expect(rule.spec.groups[0]?.rules.some((r) => r.alert === 'YmeraInferenceErrorBudgetBurn')).toBe(true);
    const asConfigMaps = desiredChildren(withSlo, configMaps);
    expect(kinds(asConfigMaps)).toEqual([
      'ConfigMap',
      'Deployment',
      'Service',
      'PodDisruptionBudget',
      'ConfigMap',
    ]);
    expect(asConfigMaps[4]?.object.metadata.labels?.['ymera.io/prometheus-rules']).toBe('true');
  });

  it('has no rules child without an SLO, so an old one is pruned', () => {
    expect(kinds(desiredChildren(svc({ slo: undefined }), configMaps))).not.toContain('PrometheusRule');
    expect(desiredChildren(svc({ slo: undefined }), configMaps)).toHaveLength(4);
  });
});

describe('traffic split by HTTPRoute weights (Gateway API)', () => {
  const gateway = { name: 'public', namespace: 'gateways', sectionName: 'https' };
  const routedSvc = (version = 'v3', extra: Partial<InferenceServiceObject['spec']> = {}) =>
    svc({
      model: { uri: 's3://models/fraud.onnx', format: 'onnx', version },
      scaling: { minReplicas: 4 },
      rollout: { canaryPercent: 25, autoRollback: true, gateway },
      ...extra,
    } as Partial<InferenceServiceObject['spec']>);
  type Route = {
    kind: string;
    metadata: { name: string; labels: Record<string, string>; ownerReferences: { uid: string }[] };
    spec: {
      parentRefs: Record<string, string>[];
      rules: { backendRefs: { kind: string; name: string; port: number; weight: number }[] }[];
    };
  };
  const route = (children: ReturnType<typeof desiredChildren>) =>
    children.find((c) => c.object.kind === 'HTTPRoute')?.object as unknown as Route | undefined;

  it('takes the canary share from canaryPercent and keeps every stable replica', () => {
    const spec = routedSvc().spec;
    expect(routedByGateway(spec, true)).toBe(true);
    expect(routedByGateway(spec, false)).toBe(false);
    expect(routedByGateway(svc().spec, true)).toBe(false);
    const plan = replicaPlan(spec, true, undefined, false, true);
    expect(plan).toEqual({ stable: 4, canary: 1, stableEffective: 4, total: 4 });
    expect(trafficSplit({ stable: 's', canary: 'c' }, plan, canaryWeightOf(spec))).toEqual([
      { revision: 's', percent: 75 },
      { revision: 'c', percent: 25 },
    ]);
    expect(trafficSplit({ stable: 's' }, plan, 25)).toEqual([{ revision: 's', percent: 100 }]);
    expect(trafficSplit({ stable: 's', canary: 'c' }, plan, 0)).toEqual([
      { revision: 's', percent: 100 },
      { revision: 'c', percent: 0 },
    ]);
  });

  it('adds a Service per revision and an owned HTTPRoute sending 100% to the stable one', () => {
    const obj = routedSvc();
    const rev = currentRevision(obj);
    const children = desiredChildren(obj, configMaps, undefined, [], true);
    expect(kinds(children)).toEqual([
      'ConfigMap',
      'Deployment',
      'Service',
      'Service',
      'HTTPRoute',
      'PodDisruptionBudget',
    ]);
    const revSvc = find(children, 'Service', revisionServiceName('fraud', rev));
    expect(revSvc.spec?.selector).toEqual({
      'ymera.io/inferenceservice': 'fraud',
      'app.kubernetes.io/component': 'inference-server',
      'ymera.io/revision': rev,
    });
    expect(find(children, 'Service', 'fraud').spec?.selector).not.toHaveProperty(['ymera.io/revision']);
    const r = route(children);
    expect(children.find((c) => c.object.kind === 'HTTPRoute')?.type).toBe(httpRoute);
    expect(r?.metadata.name).toBe('fraud');
    expect(r?.metadata.ownerReferences[0]?.uid).toBe('u-1');
    expect(r?.metadata.labels['ymera.io/inferenceservice']).toBe('fraud');
    expect(r?.spec.parentRefs).toEqual([
      {
        group: 'gateway.networking.k8s.io',
        kind: 'Gateway',
        name: 'public',
        namespace: 'gateways',
        sectionName: 'https',
      },
    ]);
    expect(r?.spec.rules).toHaveLength(1);
    expect(r?.spec.rules[0]?.backendRefs).toEqual([
      { group: '', kind: 'Service', name: `fraud-${rev}`, port: 80, weight: 100 },
    ]);
    expect(find(children, 'Deployment').spec?.replicas).toBe(4);
  });

  it('weights a canary by canaryPercent without taking replicas from the stable revision', () => {
    const old = routedSvc('v3');
    const oldRev = currentRevision(old);
    const next = routedSvc('v4');
    const newRev = currentRevision(next);
    const children = desiredChildren(
      next,
      configMaps,
      { stable: oldRev, canary: newRev, servingSpecs: { [oldRev]: servingSpecOf(old.spec) } },
      [],
      true,
    );
    expect(find(children, 'Deployment', `fraud-${oldRev}`).spec?.replicas).toBe(4);
    expect(find(children, 'Deployment', `fraud-${newRev}`).spec?.replicas).toBe(1);
    expect(find(children, 'Service', revisionServiceName('fraud', oldRev))).toBeDefined();
    expect(find(children, 'Service', revisionServiceName('fraud', newRev))).toBeDefined();
    expect(route(children)?.spec.rules[0]?.backendRefs.map((b) => [b.name, b.weight])).toEqual([
      [`fraud-${oldRev}`, 75],
      [`fraud-${newRev}`, 25],
    ]);
  });

  it('has no HTTPRoute nor revision Services without a Gateway or without the Gateway API', () => {
    const noGateway = svc({
      scaling: { minReplicas: 4 },
      rollout: { canaryPercent: 25, autoRollback: true },
    });
    for (const children of [
      desiredChildren(noGateway, configMaps, undefined, [], true),
      desiredChildren(routedSvc(), configMaps, undefined, [], false),
      desiredChildren(routedSvc(), configMaps),
    ]) {
      expect(kinds(children)).toEqual(['ConfigMap', 'Deployment', 'Service', 'PodDisruptionBudget']);
    }
    // replica weighting stays: the canary's replicas come out of the stable count
    const old = routedSvc('v3');
    const oldRev = currentRevision(old);
    const next = routedSvc('v4');
    const children = desiredChildren(
      next,
      configMaps,
      { stable: oldRev, canary: currentRevision(next), servingSpecs: { [oldRev]: servingSpecOf(old.spec) } },
      [],
      false,
    );
    expect(find(children, 'Deployment', `fraud-${oldRev}`).spec?.replicas).toBe(3);
    expect(route(children)).toBeUndefined();
  });
});
