import { describe, expect, it } from 'vitest';
import type { JobObject } from './job.ts';
import { JOB_ID_ANNOTATION, jobNamespace, jobState, maintenanceJob, maintenanceJobName } from './job.ts';

const plan = { apiVersion: 'ymera.io/v1alpha1', kind: 'MaintenancePlan', name: 'gpus', uid: 'u-1' };

describe('maintenanceJobName', () => {
  it('is the same for the same maintenance, differs between maintenances, and is a short DNS label', () => {
    const a = maintenanceJobName('gpus', 'node-a@20261205020000', 'node-a');
    expect(a).toBe(maintenanceJobName('gpus', 'node-a@20261205020000', 'node-a'));
    expect(a).not.toBe(maintenanceJobName('gpus', 'node-a@20261206020000', 'node-a'));
    expect(a).toMatch(/^maint-node-a-[0-9a-f]{10}$/);
    const long = maintenanceJobName('gpus', 'x@1', `Ip-10.0.0.1.${'a'.repeat(200)}`);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});

describe('jobNamespace', () => {
  it('uses the first allowed namespace by default, an allowed one when named, and refuses others', () => {
    expect(jobNamespace({ image: 'x' }, ['maint', 'ops'])).toEqual({ namespace: 'maint' });
    expect(jobNamespace({ image: 'x', namespace: 'ops' }, ['maint', 'ops'])).toEqual({ namespace: 'ops' });
    expect(jobNamespace({ image: 'x', namespace: 'kube-system' }, ['maint'])).toEqual({
      error: expect.stringMatching(
        /job.namespace kube-system is not one the operator allows .*--maintenance-job-namespaces/,
      ),
    });
    expect(jobNamespace({ image: 'x' }, [])).toEqual({
      error: expect.stringMatching(/allows no namespace .*maintenancePlan.jobNamespaces/),
    });
  });
});

describe('maintenanceJob', () => {
  it('pins the pod to the node, tolerates the cordon, bounds time and retries, owns by the plan', () => {
    const job = maintenanceJob({
      plan,
      node: 'node-a',
      id: 'node-a@1',
      namespace: 'maint',
      job: {
        image: 'fix:1',
        args: ['--reset'],
        timeoutSeconds: 900,
        backoffLimit: 1,
        tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
      },
    }) as JobObject & { spec: Record<string, unknown> & { template: { spec: Record<string, unknown> } } };
    expect(job.metadata).toMatchObject({
      namespace: 'maint',
      name: maintenanceJobName('gpus', 'node-a@1', 'node-a'),
      annotations: { [JOB_ID_ANNOTATION]: 'node-a@1', 'ymera.io/maintenance-node': 'node-a' },
      ownerReferences: [{ kind: 'MaintenancePlan', name: 'gpus', uid: 'u-1', controller: true }],
    });
    expect(job.spec).toMatchObject({ activeDeadlineSeconds: 900, backoffLimit: 1 });
    const pod = job.spec.template.spec;
    expect(pod).toMatchObject({
      nodeName: 'node-a',
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
    });
    expect(pod.hostPID).toBeUndefined();
    expect(pod.tolerations).toEqual([
      { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    expect(pod.containers).toMatchObject([
      {
        image: 'fix:1',
        args: ['--reset'],
        env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
        securityContext: { allowPrivilegeEscalation: false },
      },
    ]);
    const privileged = maintenanceJob({
      plan,
      node: 'n',
      id: 'n@1',
      namespace: 'm',
      job: { image: 'x', privileged: true },
    }).spec as {
      backoffLimit: number;
      template: { spec: { hostPID?: boolean; containers: { securityContext: unknown }[] } };
    };
    expect(privileged.backoffLimit).toBe(0);
    expect(privileged.template.spec.hostPID).toBe(true);
    expect(privileged.template.spec.containers[0]?.securityContext).toEqual({ privileged: true });
  });
});

describe('jobState', () => {
  const job = (status: JobObject['status'], id = 'n@1'): JobObject => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j', namespace: 'm', annotations: { [JOB_ID_ANNOTATION]: id } },
    status,
  });
  it('reads Absent, Running, Succeeded, Failed, and a Job of another maintenance as Foreign', () => {
    expect(jobState(undefined, 'n@1')).toEqual({ phase: 'Absent' });
    expect(jobState(job({ startTime: '2026-12-05T02:00:00Z' }), 'n@1')).toEqual({
      phase: 'Running',
      startedAt: Date.parse('2026-12-05T02:00:00Z'),
    });
    expect(jobState(job({ conditions: [{ type: 'Complete', status: 'True' }] }), 'n@1')).toEqual({
      phase: 'Succeeded',
      message: 'Job m/j succeeded',
    });
    expect(
      jobState(
        job({
          conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'too long' }],
        }),
        'n@1',
      ),
    ).toEqual({ phase: 'Failed', message: 'Job m/j failed: DeadlineExceeded (too long)' });
    expect(jobState(job({}, 'n@2'), 'n@1')).toMatchObject({ phase: 'Foreign' });
  });
});
