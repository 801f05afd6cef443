import { describe, expect, it } from 'vitest';
import { requestLabels, resourceOfPath } from './request-labels.ts';

const labels = (method: string, path: string, contentType?: string) =>
  requestLabels(method, new URL(path, 'https://k8s.example:6443'), contentType);

describe('requestLabels', () => {
  it('names the verb the API server would: GET, LIST, WATCH, CREATE, UPDATE, PATCH, APPLY, DELETE', () => {
    expect(labels('GET', '/api/v1/namespaces/a/pods/p1')).toEqual({ verb: 'GET', resource: 'pods' });
    expect(labels('GET', '/api/v1/namespaces/a/pods?labelSelector=x')).toEqual({
      verb: 'LIST',
      resource: 'pods',
    });
    expect(labels('GET', '/apis/apps/v1/deployments?watch=true&resourceVersion=5')).toEqual({
      verb: 'WATCH',
      resource: 'deployments',
    });
    expect(labels('POST', '/apis/batch/v1/namespaces/a/jobs')).toEqual({ verb: 'CREATE', resource: 'jobs' });
    expect(labels('PUT', '/apis/coordination.k8s.io/v1/namespaces/a/leases/l')).toEqual({
      verb: 'UPDATE',
      resource: 'leases',
    });
    expect(labels('PATCH', '/apis/ymera.io/v1alpha1/namespaces/a/inferenceservices/x/status')).toEqual({
      verb: 'PATCH',
      resource: 'inferenceservices/status',
    });
    expect(
      labels(
        'PATCH',
        '/apis/apps/v1/namespaces/a/deployments/d?fieldManager=m',
        'application/apply-patch+yaml',
      ),
    ).toEqual({ verb: 'APPLY', resource: 'deployments' });
    expect(labels('DELETE', '/api/v1/namespaces/a/configmaps/c')).toEqual({
      verb: 'DELETE',
      resource: 'configmaps',
    });
  });

  it('tells the Namespace itself from resources inside a namespace', () => {
    expect(resourceOfPath('/api/v1/namespaces')).toEqual({ resource: 'namespaces', named: false });
    expect(resourceOfPath('/api/v1/namespaces/a')).toEqual({ resource: 'namespaces', named: true });
    expect(resourceOfPath('/api/v1/namespaces/a/status')).toEqual({
      resource: 'namespaces/status',
      named: true,
    });
    expect(resourceOfPath('/api/v1/nodes/n1')).toEqual({ resource: 'nodes', named: true });
    expect(resourceOfPath('/version')).toEqual({ resource: 'other', named: false });
  });
});
