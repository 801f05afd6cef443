// InferenceService under partial failure, against the real API server:
// - a child the API refuses (the rules ConfigMap, denied by a
//   ValidatingAdmissionPolicy) does not keep a failing canary alive: it is
//   rolled back, its Deployment pruned, and Ready names the refused child;
// - the RolledBack Event and CloudEvent come only once the rollback is in
//   effect (here: once the canary Deployment may be deleted);
// - with an HPA the operator leaves spec.replicas to the HPA (kubectl scale
//   sticks), also after a promotion;
// - deleting the stable Deployment during a canary re-creates the stable
//   revision from status instead of making the canary stable.
//
// Admission policies are cluster-scoped: each is bound to this file's
// namespace only and deleted when done.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import type { CloudEvent } from '../../operator/kafka/events.ts';
import { readTopic } from '../../operator/kafka/platformatic.ts';
import { toYaml } from './samples.ts';
import type { OperatorProcess } from './support.ts';
import {
  deleteInferenceServices,
  eventsAbout,
  eventually,
  freshNamespace,
  getJson,
  kafkaBrokers,
  kubectl,
  kubectlOk,
  startOperator,
  untilObserved,
} from './support.ts';

interface InfSvc {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    revisions?: { stable?: string; canary?: string; lastRolledBack?: string };
    pendingRollback?: { revision: string; stable: string; reason: string };
    stable?: { revision: string; model: { version: string } };
  };
}
interface ManagedFields {
  manager: string;
  operation: string;
  subresource?: string;
  fieldsV1?: { 'f:spec'?: Record<string, unknown> };
}
interface Deployment {
  metadata: {
    name: string;
    uid: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: ManagedFields[];
  };
  spec: { replicas?: number };
}

const condition = (r: InfSvc | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);
/** Managers whose fields include spec.replicas. */
const replicasOwners = (d: Deployment | undefined) =>
  (d?.metadata.managedFields ?? [])
    .filter((m) => m.fieldsV1?.['f:spec']?.['f:replicas'] !== undefined)
    .map((m) => m.manager)
    .sort();

describe('InferenceService under partial failure', () => {
  let ns: string;
  let op: OperatorProcess;
  const policies: string[] = [];

  const ref = (name: string) => ['-n', ns, `inferenceservice.ymera.io/${name}`];
  const until = (name: string, what: string, check: (r: InfSvc) => boolean, timeoutMs = 90_000) =>
    untilObserved<InfSvc>(ref(name), `${name}: ${what}`, check, timeoutMs);
  const deployments = async (name: string) =>
    (
      await getJson<{ items: Deployment[] }>([
        'get',
        'deployments',
        '-n',
        ns,
        '-l',
        `ymera.io/inferenceservice=${name}`,
      ])
    )?.items ?? [];
  const deployment = (name: string) =>
    getJson<Deployment>(['get', 'deployment', '-n', ns, name, '--show-managed-fields']);
  const events = (name: string) => eventsAbout(ns, name, 'InferenceService');
  const rolledBackEvents = async (name: string) =>
    (await events(name)).filter((e) => e.reason === 'RolledBack' && e.type === 'Warning');
  const poke = (name: string) =>
    kubectlOk(['annotate', ...ref(name), `e2e/poke=${Date.now()}`, '--overwrite']);

  const service = (name: string, spec: Record<string, unknown> = {}) => ({
    apiVersion: 'ymera.io/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, namespace: ns },
    spec: {
      model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
      runtime: { resources: { requests: { cpu: '100m', memory: '128Mi' } } },
      scaling: { minReplicas: 2 },
      rollout: { canaryPercent: 50 },
      ...spec,
    },
  });
  const createReady = async (name: string, spec: Record<string, unknown> = {}) => {
    await kubectlOk(['apply', '-f', '-'], toYaml([service(name, spec)]));
    return until(name, 'Ready', (x) => condition(x, 'Ready')?.status === 'True');
  };
  /** A new model version whose pods kwok makes crash-loop (see test/e2e/cluster/README.md). */
  const rollOutCrashLoop = (name: string, version: string) =>
    kubectlOk([
      'patch',
      ...ref(name),
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: { model: { version }, runtime: { podAnnotations: { 'ymera.io/simulate': 'crashloop' } } },
      }),
    ]);

  /**
   * A ValidatingAdmissionPolicy denying `operations` on `resource` in this
   * namespace when `expression` is false; waits until `probe` (a dry-run
   * request) is denied, i.e. the API server enforces it.
   */
  const denyPolicy = async (
    id: string,
    rule: { apiGroups: string[]; resources: string[]; operations: string[] },
    expression: string,
    probe: string[],
  ) => {
    const name = `${ns}-${id}`;
    const message = `e2e denies this (${id})`;
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        {
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'ValidatingAdmissionPolicy',
          metadata: { name },
          spec: {
            failurePolicy: 'Fail',
            matchConstraints: { resourceRules: [{ ...rule, apiVersions: ['*'] }] },
            validations: [{ expression, message }],
          },
        },
        {
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'ValidatingAdmissionPolicyBinding',
          metadata: { name },
          spec: {
            policyName: name,
            validationActions: ['Deny'],
            matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } },
          },
        },
      ]),
    );
    policies.push(name);
    await eventually(`policy ${name} to be enforced`, async () => {
      const r = await kubectl(probe);
      return r.code !== 0 && r.stderr.includes(message);
    });
    return {
      message,
      async remove() {
        await kubectlOk(['delete', 'validatingadmissionpolicybinding', name, '--ignore-not-found']);
        await kubectlOk(['delete', 'validatingadmissionpolicy', name, '--ignore-not-found']);
        await eventually(`policy ${name} to be lifted`, async () => (await kubectl(probe)).code === 0);
      },
    };
  };

  beforeAll(async () => {
    ns = await freshNamespace('e2e-infsvc-res');
    op = await startOperator('op-infsvc-res', [`--watch-namespaces=${ns}`, '--prometheus-rules=ConfigMap']);
  });

  afterAll(async () => {
    for (const name of policies) {
      await kubectl(['delete', 'validatingadmissionpolicybinding', name, '--ignore-not-found']);
      await kubectl(['delete', 'validatingadmissionpolicy', name, '--ignore-not-found']);
    }
    if (ns) await deleteInferenceServices(ns);
    await op?.stop();
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('rolls a canary back and prunes it although the rules ConfigMap is refused, and says which child failed', async () => {
    const name = 'rules';
    const ready = await createReady(name, { slo: { availabilityPercent: 99 } });
    const stable = ready.status?.revisions?.stable as string;
    const rules = `${name}-inferenceservice-rules`;
    expect(await getJson(['get', 'configmap', '-n', ns, rules])).toBeDefined();
    const policy = await denyPolicy(
      'deny-rules',
      { apiGroups: [''], resources: ['configmaps'], operations: ['CREATE', 'UPDATE'] },
      `object.metadata.name != '${rules}'`,
      ['label', 'configmap', '-n', ns, rules, 'e2e/probe=1', '--overwrite', '--dry-run=server'],
    );

    // the operator applies only children that change (no write when nothing did): the broken
    // rollout also changes the SLO, so the rules ConfigMap has a change to be refused
    await kubectlOk([
      'patch',
      ...ref(name),
      '--type=merge',
      '-p',
      '{"spec":{"slo":{"availabilityPercent":99.5}}}',
    ]);
    await rollOutCrashLoop(name, 'v2-broken');
    const r = await until(
      name,
      'the rollback, with Ready naming the refused ConfigMap',
      (x) =>
        x.status?.revisions?.lastRolledBack !== undefined &&
        condition(x, 'Ready')?.reason === 'AdmissionDenied',
    );
    const bad = r.status?.revisions?.lastRolledBack as string;
    expect(r.status?.revisions).toEqual({ stable, lastRolledBack: bad });
    expect(condition(r, 'Ready')?.message).toContain(`ConfigMap/${rules}: `);
    expect(condition(r, 'Ready')?.message).toContain(policy.message);
    expect(condition(r, 'Stalled')).toMatchObject({ status: 'True', reason: 'AdmissionDenied' });
    await eventually('the canary Deployment to be pruned', async () => {
      const left = await deployments(name);
      return left.length === 1 && left[0]?.metadata.labels['ymera.io/revision'] === stable;
    });
    // the rollback is in effect, so it is told although the rules still fail
    const told = await eventually('the RolledBack Event', async () => (await rolledBackEvents(name))[0]);
    expect(told.note).toContain(`Revision ${bad} was rolled back to ${stable}`);

    // once the ConfigMap is accepted again, Ready tells the rollback, not the failed apply
    await policy.remove();
    await poke(name);
    const after = await until(
      name,
      'Ready=RolledBack',
      (x) => condition(x, 'Ready')?.reason === 'RolledBack',
    );
    expect(after.status?.revisions).toEqual({ stable, lastRolledBack: bad });
    expect(await rolledBackEvents(name)).toHaveLength(1);
  });

  it('announces a rollback only once the canary Deployment is gone', async () => {
    const name = 'held';
    const ready = await createReady(name);
    const stable = ready.status?.revisions?.stable as string;
    // a Deployment the policy protects, to tell when the API server enforces it
    await kubectlOk(
      ['apply', '-f', '-'],
      toYaml([
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'probe', namespace: ns },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: 'probe' } },
            template: {
              metadata: { labels: { app: 'probe' }, annotations: { 'ymera.io/simulate': 'crashloop' } },
              spec: { containers: [{ name: 'c', image: 'example.com/none:1' }] },
            },
          },
        },
      ]),
    );
    const policy = await denyPolicy(
      'keep-simulated',
      { apiGroups: ['apps'], resources: ['deployments'], operations: ['DELETE'] },
      "!has(oldObject.spec.template.metadata.annotations) || !('ymera.io/simulate' in oldObject.spec.template.metadata.annotations)",
      ['delete', 'deployment', '-n', ns, 'probe', '--dry-run=server'],
    );

    await rollOutCrashLoop(name, 'v2-broken');
    const pending = await until(
      name,
      'a rollback that cannot prune the canary',
      (x) =>
        x.status?.revisions?.lastRolledBack !== undefined &&
        condition(x, 'Ready')?.reason === 'AdmissionDenied',
    );
    const bad = pending.status?.revisions?.lastRolledBack as string;
    // the AdmissionDenied Event comes from the reconcile that decided the rollback (after the
    // rollback's own Event, were it told): by then no RolledBack Event may exist
    await eventually('the AdmissionDenied Event', async () =>
      (await events(name)).some((e) => e.reason === 'AdmissionDenied'),
    );
    expect(await rolledBackEvents(name)).toEqual([]);
    expect((await deployments(name)).map((d) => d.metadata.labels['ymera.io/revision']).sort()).toEqual(
      [stable, bad].sort(),
    );
    expect(pending.status?.revisions).toEqual({ stable, lastRolledBack: bad });
    expect(pending.status?.pendingRollback).toMatchObject({
      revision: bad,
      stable,
      reason: 'CrashLoopBackOff',
    });
    const notReady = condition(pending, 'Ready');
    expect(notReady?.status).toBe('False');
    expect(notReady?.message).toContain(`Deployment/${name}-${bad} (prune): `);
    expect(notReady?.message).toContain(policy.message);
    expect(condition(pending, 'RolloutComplete')?.message).toMatch(/is being rolled back/);

    await policy.remove();
    await poke(name);
    const told = await eventually('the RolledBack Event', async () => (await rolledBackEvents(name))[0]);
    expect(told.note).toMatch(new RegExp(`Revision ${bad} was rolled back to ${stable}: CrashLoopBackOff`));
    expect(await deployment(`${name}-${bad}`)).toBeUndefined();
    const done = await until(name, 'the rollback in effect', (x) => x.status?.pendingRollback === undefined);
    expect(condition(done, 'Ready')?.reason).toBe('RolledBack');
    const published = await eventually('the rollback CloudEvent', async () => {
      const messages = await readTopic({
        brokers: kafkaBrokers(),
        topic: 'ymera.events.inferenceservice',
        // to the end of the topic: it keeps earlier runs' events, more than any fixed count
        timeoutMs: 30_000,
      });
      return messages
        .filter((m) => m.key === `${ns}/${name}`)
        .map((m) => JSON.parse(m.value) as CloudEvent)
        .find((e) => e.type === 'io.ymera.inferenceservice.rollback.performed');
    });
    expect(published.data).toMatchObject({ revision: bad, stable, reason: 'CrashLoopBackOff' });
  });

  it('leaves replicas to the HPA: kubectl scale sticks, also after a promotion', async () => {
    const name = 'scaled';
    // every spec.replicas any of its Deployments ever had, from a watch started before them
    const seen: string[] = [];
    const watch = spawn(
      'kubectl',
      [
        ...['get', 'deployments', '-n', ns, '-l', `ymera.io/inferenceservice=${name}`, '--watch'],
        '-o',
        'jsonpath={.metadata.name}={.spec.replicas}{"\\n"}',
      ],
      { env: process.env, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    watch.stdout.on('data', (d: Buffer) => seen.push(...d.toString().split('\n').filter(Boolean)));
    onTestFinished(() => void watch.kill());
    const ready = await createReady(name, { scaling: { minReplicas: 2, maxReplicas: 6 } });
    const stable = ready.status?.revisions?.stable as string;
    // created at minReplicas, then the field is handed over (never reset to 1)
    const handedOver = await eventually('replicas to be handed over', async () => {
      const d = await deployment(`${name}-${stable}`);
      return d && !replicasOwners(d).includes('ymera-operator') ? d : undefined;
    });
    expect(handedOver.spec.replicas).toBe(2);
    expect(replicasOwners(handedOver)).toEqual(['ymera-operator-handover']);

    await kubectlOk(['scale', 'deployment', '-n', ns, `${name}-${stable}`, '--replicas=4']);
    // a spec change the operator applies (the HPA target): its Deployment apply comes first
    await kubectlOk(['patch', ...ref(name), '--type=merge', '-p', '{"spec":{"scaling":{"target":60}}}']);
    await until(name, 'the new generation', () => true);
    await eventually('the HPA to carry the new target', async () => {
      const hpa = await getJson<{
        spec: { metrics: { resource?: { target: { averageUtilization?: number } } }[] };
      }>(['get', 'horizontalpodautoscalers.autoscaling', '-n', ns, name]);
      return hpa?.spec.metrics[0]?.resource?.target.averageUtilization === 60;
    });
    const scaled = await deployment(`${name}-${stable}`);
    expect(scaled?.spec.replicas).toBe(4);
    expect(replicasOwners(scaled)).not.toContain('ymera-operator');
    expect(replicasOwners(scaled).some((m) => m.startsWith('kubectl'))).toBe(true);

    // a promoted canary was sized by the operator; as the new stable its count goes to the HPA
    await kubectlOk(['patch', ...ref(name), '--type=merge', '-p', '{"spec":{"model":{"version":"v2"}}}']);
    const promoted = await until(
      name,
      'the canary to be promoted',
      (x) => x.status?.revisions?.stable !== stable && x.status?.revisions?.canary === undefined,
      120_000,
    );
    const next = promoted.status?.revisions?.stable as string;
    const after = await eventually('the new stable replicas to be handed over', async () => {
      const d = await deployment(`${name}-${next}`);
      return d && !replicasOwners(d).includes('ymera-operator') ? d : undefined;
    });
    expect(after.spec.replicas).toBe(4);
    await kubectlOk(['patch', ...ref(name), '--type=merge', '-p', '{"spec":{"scaling":{"target":50}}}']);
    await until(name, 'the next generation', () => true);
    await eventually('the HPA to carry the next target', async () => {
      const hpa = await getJson<{
        spec: {
          scaleTargetRef: { name: string };
          metrics: { resource?: { target: { averageUtilization?: number } } }[];
        };
      }>(['get', 'horizontalpodautoscalers.autoscaling', '-n', ns, name]);
      return (
        hpa?.spec.scaleTargetRef.name === `${name}-${next}` &&
        hpa.spec.metrics[0]?.resource?.target.averageUtilization === 50
      );
    });
    expect((await deployment(`${name}-${next}`))?.spec.replicas).toBe(4);
    // never reset to the default of 1 when the operator stopped setting the field
    expect(seen).toContain(`${name}-${next}=4`);
    expect(seen.filter((line) => line.endsWith('=1'))).toEqual([]);
  });

  it('re-creates a deleted stable Deployment from status during a canary; the canary stays canary', async () => {
    const name = 'keep';
    const ready = await createReady(name);
    const stable = ready.status?.revisions?.stable as string;
    expect(ready.status?.stable).toMatchObject({ revision: stable, model: { version: 'v1' } });
    // a canary no node can take: it stays a canary (waiting is not failing)
    await kubectlOk([
      'patch',
      ...ref(name),
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: {
          model: { version: 'v2' },
          runtime: { resources: { requests: { cpu: '500', memory: '128Mi' } } },
        },
      }),
    ]);
    const canaryUp = await until(name, 'a canary', (x) => x.status?.revisions?.canary !== undefined);
    const canary = canaryUp.status?.revisions?.canary as string;
    const original = await deployment(`${name}-${stable}`);

    await kubectlOk(['delete', 'deployment', '-n', ns, `${name}-${stable}`, '--wait=true']);
    const recreated = await eventually('the stable Deployment to be re-created', async () => {
      const d = await deployment(`${name}-${stable}`);
      return d && d.metadata.uid !== original?.metadata.uid ? d : undefined;
    });
    expect(JSON.parse(recreated.metadata.annotations?.['ymera.io/serving-spec'] ?? '{}')).toMatchObject({
      model: { version: 'v1' },
    });
    const r = await until(
      name,
      'the stable revision serving again',
      (x) => condition(x, 'Ready')?.status === 'True',
    );
    expect(r.status?.revisions).toEqual({ stable, canary });
    expect(r.status?.stable?.revision).toBe(stable);
  });
});
