// Status under failure, against the real API server: whatever refuses or
// fails a child — a ResourceQuota, a ValidatingAdmissionPolicy, a webhook
// that cannot be reached (a 5xx) — the object's status says so in the same
// reconcile, with a reason naming the failure class and the API's own
// message, and returns to the truth when the cause goes away. Each test
// waits for the condition it asserts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../operator/conditions.ts';
import type { OperatorProcess } from './support.ts';
import {
  eventsAbout,
  eventually,
  freshNamespace,
  getJson,
  kubectl,
  kubectlOk,
  startOperator,
} from './support.ts';

interface Resource {
  metadata: { name: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

const conditionOf = (r: Resource | undefined, type: string) =>
  r?.status?.conditions?.find((c) => c.type === type);

/** Waits until the object's controller observed its generation and its Ready condition passes `check`. */
function untilReady(
  ns: string,
  ref: string,
  what: string,
  check: (ready: Condition, obj: Resource) => boolean,
  timeoutMs = 90_000,
): Promise<Resource> {
  return eventually(
    `${ref}: ${what}`,
    async () => {
      const obj = await getJson<Resource>(['get', '-n', ns, ref]);
      const ready = conditionOf(obj, 'Ready');
      return obj && ready && obj.status?.observedGeneration === obj.metadata.generation && check(ready, obj)
        ? obj
        : undefined;
    },
    timeoutMs,
  );
}

const infsvc = (ns: string, name: string, minReplicas = 1) => ({
  apiVersion: 'ymera.io/v1alpha1',
  kind: 'InferenceService',
  metadata: { name, namespace: ns },
  spec: {
    model: { uri: 's3://ymera-models/demo/v1/model.onnx', version: 'v1' },
    runtime: { resources: { requests: { cpu: '10m', memory: '32Mi' } } },
    scaling: { minReplicas, maxReplicas: minReplicas },
  },
});

const apply = (obj: unknown) =>
  kubectlOk(['apply', '--server-side', '--field-manager=ymera-e2e', '-f', '-'], JSON.stringify(obj));

describe('status under failure', () => {
  let ns: string;
  /** A namespace of its own for the pods quota, which would also refuse the other tests' pods. */
  let podNs: string;
  let op: OperatorProcess;

  beforeAll(async () => {
    ns = await freshNamespace('e2e-failure');
    podNs = await freshNamespace('e2e-failure-pods');
    op = await startOperator('op-failure', [`--watch-namespaces=${ns},${podNs}`]);
  });

  afterAll(async () => {
    await kubectl(['delete', 'validatingadmissionpolicybinding', `deny-${ns}`, '--ignore-not-found']);
    await kubectl(['delete', 'validatingadmissionpolicy', `deny-${ns}`, '--ignore-not-found']);
    await kubectl(['delete', 'validatingwebhookconfiguration', `unreachable-${ns}`, '--ignore-not-found']);
    for (const n of [ns, podNs].filter(Boolean)) {
      await kubectl([
        'delete',
        'inferenceservices,learningpipelines',
        '--all',
        '-n',
        n,
        '--wait=true',
        '--timeout=60s',
      ]);
    }
    await op?.stop();
    for (const n of [ns, podNs].filter(Boolean)) await kubectl(['delete', 'namespace', n, '--wait=false']);
  });

  it('a services quota of 2 and 5 InferenceServices: the three without a Service say QuotaExceeded; raising the quota makes all five Ready', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'services', namespace: ns },
      spec: { hard: { services: '2' } },
    });
    await eventually('the quota to be in force', async () => {
      const q = await getJson<{ status?: { hard?: Record<string, string> } }>([
        'get',
        'resourcequota',
        'services',
        '-n',
        ns,
      ]);
      return q?.status?.hard?.services === '2';
    });
    const names = ['q1', 'q2', 'q3', 'q4', 'q5'];
    await kubectlOk(
      ['apply', '--server-side', '--field-manager=ymera-e2e', '-f', '-'],
      names.map((n) => JSON.stringify(infsvc(ns, n))).join('\n'),
    );

    // every one of the five has a Ready condition; exactly the ones whose Service was refused name the quota
    const verdicts = await eventually(
      'all five to have a Ready condition, three of them QuotaExceeded',
      async () => {
        const all = await Promise.all(
          names.map((n) => getJson<Resource>(['get', '-n', ns, `inferenceservice.ymera.io/${n}`])),
        );
        const ready = all.map((r) => conditionOf(r, 'Ready'));
        if (ready.some((c) => c === undefined)) return undefined;
        return ready.filter((c) => c?.reason === 'QuotaExceeded').length === 3 ? ready : undefined;
      },
      120_000,
    );
    const refused = verdicts.filter((c) => c?.reason === 'QuotaExceeded');
    for (const c of refused) {
      expect(c?.status).toBe('False');
      expect(c?.message).toMatch(/exceeded quota: services/);
    }
    const services = await getJson<{ items: unknown[] }>(['get', 'services', '-n', ns]);
    expect(services?.items).toHaveLength(2);
    // one Event per distinct failure: each refused object got its QuotaExceeded Warning
    const refusedNames = names.filter((_, i) => verdicts[i]?.reason === 'QuotaExceeded');
    for (const n of refusedNames) {
      await eventually(`${n}: a QuotaExceeded Event`, async () =>
        (await eventsAbout(ns, n)).some((e) => e.reason === 'QuotaExceeded' && e.type === 'Warning'),
      );
    }

    await apply({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'services', namespace: ns },
      spec: { hard: { services: '10' } },
    });
    for (const n of names) {
      await untilReady(
        ns,
        `inferenceservice.ymera.io/${n}`,
        'Ready=True after the quota was raised',
        (c) => c.status === 'True',
        180_000,
      );
    }
  });

  it('a pods quota: the Deployment exists but its pods are refused, and the InferenceService says QuotaExceeded, not Progressing', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'pods', namespace: podNs },
      spec: { hard: { pods: '1' } },
    });
    await eventually('the pods quota to be in force', async () => {
      const q = await getJson<{ status?: { hard?: Record<string, string> } }>([
        'get',
        'resourcequota',
        'pods',
        '-n',
        podNs,
      ]);
      return q?.status?.hard?.pods === '1';
    });
    await apply(infsvc(podNs, 'two-pods', 2));
    const obj = await untilReady(
      podNs,
      'inferenceservice.ymera.io/two-pods',
      'Ready=False, QuotaExceeded',
      (c) => c.status === 'False' && c.reason === 'QuotaExceeded',
    );
    const ready = conditionOf(obj, 'Ready');
    expect(ready?.message).toMatch(/cannot create pods: .*exceeded quota: pods/);
    const deployments = await getJson<{ items: unknown[] }>(['get', 'deployments', '-n', podNs]);
    expect(deployments?.items.length).toBeGreaterThan(0);

    await apply({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'pods', namespace: podNs },
      spec: { hard: { pods: '5' } },
    });
    await untilReady(
      podNs,
      'inferenceservice.ymera.io/two-pods',
      'Ready=True once the quota has room',
      (c) => c.status === 'True',
      180_000,
    );
  });

  it('a ValidatingAdmissionPolicy that denies the Deployment: the InferenceService says AdmissionDenied with the policy message', async () => {
    await apply({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: `deny-${ns}` },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: ['apps'],
              apiVersions: ['v1'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['deployments'],
            },
          ],
        },
        validations: [
          {
            expression:
              "!has(object.metadata.labels) || !('ymera.io/inferenceservice' in object.metadata.labels) || object.metadata.labels['ymera.io/inferenceservice'] != 'blocked'",
            message: 'deployments of blocked are not allowed here',
          },
        ],
      },
    });
    await apply({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: `deny-${ns}` },
      spec: {
        policyName: `deny-${ns}`,
        validationActions: ['Deny'],
        matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } },
      },
    });
    // the policy is in force once a server-side dry run of such a Deployment is denied
    const probe = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'probe', namespace: ns, labels: { 'ymera.io/inferenceservice': 'blocked' } },
      spec: {
        selector: { matchLabels: { app: 'probe' } },
        template: {
          metadata: { labels: { app: 'probe' } },
          spec: { containers: [{ name: 'c', image: 'busybox' }] },
        },
      },
    };
    await eventually('the policy to deny a dry run', async () => {
      const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], JSON.stringify(probe));
      return r.code !== 0 && /blocked are not allowed/.test(r.stderr);
    });

    await apply(infsvc(ns, 'blocked'));
    const obj = await untilReady(
      ns,
      'inferenceservice.ymera.io/blocked',
      'Ready=False, AdmissionDenied',
      (c) => c.status === 'False' && c.reason === 'AdmissionDenied',
    );
    expect(conditionOf(obj, 'Ready')?.message).toContain('deployments of blocked are not allowed here');
    expect(conditionOf(obj, 'Stalled')).toMatchObject({ status: 'True', reason: 'AdmissionDenied' });
    await eventually('an AdmissionDenied Event', async () =>
      (await eventsAbout(ns, 'blocked')).some(
        (e) => e.reason === 'AdmissionDenied' && e.note.includes('not allowed here'),
      ),
    );
  });

  it('a child apply failing with a 5xx (an unreachable webhook): Ready=False, ChildApplyFailed, Reconciling=True; healed when it goes', async () => {
    await apply({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: `unreachable-${ns}` },
      webhooks: [
        {
          name: 'unreachable.ymera.io',
          // nothing listens on port 1: the API server answers 500 "failed calling webhook"
          clientConfig: { url: 'https://127.0.0.1:1/validate' },
          rules: [
            {
              apiGroups: [''],
              apiVersions: ['v1'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['services'],
            },
          ],
          failurePolicy: 'Fail',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 2,
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
          objectSelector: { matchLabels: { 'ymera.io/inferenceservice': 'flaky' } },
        },
      ],
    });
    // the webhook is in force once a server-side dry run of such a Service fails calling it
    // (before that, the operator's Service would be created and never sent again)
    const probe = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'probe', namespace: ns, labels: { 'ymera.io/inferenceservice': 'flaky' } },
      spec: { ports: [{ port: 80 }] },
    };
    await eventually('the webhook to fail a dry run', async () => {
      const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], JSON.stringify(probe));
      return r.code !== 0 && /failed calling webhook/.test(r.stderr);
    });
    await apply(infsvc(ns, 'flaky'));
    const obj = await untilReady(
      ns,
      'inferenceservice.ymera.io/flaky',
      'Ready=False, ChildApplyFailed',
      (c) => c.status === 'False' && c.reason === 'ChildApplyFailed',
    );
    expect(conditionOf(obj, 'Ready')?.message).toMatch(/Service\/flaky: .*failed calling webhook/);
    expect(conditionOf(obj, 'Reconciling')).toMatchObject({ status: 'True', reason: 'ChildApplyFailed' });
    expect(conditionOf(obj, 'Stalled')).toBeUndefined();
    // the manager counts the failure after the reconcile that wrote the status returns: wait for it
    const failures = await eventually('the ChildApplyFailed reconcile to be counted', async () => {
      const n = await op.metric('ymera_reconcile_failures_total', {
        controller: 'inferenceservice',
        reason: 'ChildApplyFailed',
      });
      return n !== undefined && n > 0 ? n : undefined;
    });
    expect(failures).toBeGreaterThan(0);

    await kubectlOk(['delete', 'validatingwebhookconfiguration', `unreachable-${ns}`]);
    await untilReady(
      ns,
      'inferenceservice.ymera.io/flaky',
      'Ready=True once the webhook is gone',
      (c) => c.status === 'True',
      120_000,
    );
  });

  it('a LearningPipeline whose Jobs a count/jobs.batch quota refuses says QuotaExceeded', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'jobs', namespace: ns },
      spec: { hard: { 'count/jobs.batch': '0' } },
    });
    await eventually('the jobs quota to be in force', async () => {
      const q = await getJson<{ status?: { hard?: Record<string, string> } }>([
        'get',
        'resourcequota',
        'jobs',
        '-n',
        ns,
      ]);
      return q?.status?.hard?.['count/jobs.batch'] === '0';
    });
    await apply({
      apiVersion: 'ymera.io/v1alpha1',
      kind: 'LearningPipeline',
      metadata: { name: 'train', namespace: ns },
      spec: {
        artifacts: { pvc: { claimName: 'ml-artifacts' } },
        steps: [{ name: 'a', image: 'busybox' }],
      },
    });
    const obj = await untilReady(
      ns,
      'learningpipeline.ymera.io/train',
      'Ready=False, QuotaExceeded',
      (c) => c.status === 'False' && c.reason === 'QuotaExceeded',
    );
    expect(conditionOf(obj, 'Ready')?.message).toMatch(/Job\/.*exceeded quota: jobs/);

    await kubectlOk(['delete', 'resourcequota', 'jobs', '-n', ns]);
    await eventually(
      'the run to start once the quota is gone',
      async () => {
        const jobs = await getJson<{ items: unknown[] }>(['get', 'jobs', '-n', ns]);
        return (jobs?.items.length ?? 0) > 0;
      },
      180_000,
    );
    await untilReady(
      ns,
      'learningpipeline.ymera.io/train',
      'no longer QuotaExceeded',
      (c) => c.reason !== 'QuotaExceeded',
      60_000,
    );
  });
});
