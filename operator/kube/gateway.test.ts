import { describe, expect, it } from 'vitest';
import { KubeApiError } from './client.ts';
import { detectGatewayApi, HTTP_ROUTE_CRD, httpRoute } from './gateway.ts';
import type { KubeObject } from './resources.ts';

const crd = (served: boolean, established = true): KubeObject =>
  ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: HTTP_ROUTE_CRD },
    spec: { versions: [{ name: 'v1', served }] },
    status: { conditions: [{ type: 'Established', status: established ? 'True' : 'False' }] },
  }) as KubeObject;

const client = (answer: () => KubeObject | undefined) => ({
  get: <T>() => Promise.resolve(answer() as T),
});

describe('Gateway API detection', () => {
  it('names the HTTPRoute CRD', () => {
    expect(HTTP_ROUTE_CRD).toBe('httproutes.gateway.networking.k8s.io');
    expect(httpRoute).toMatchObject({ version: 'v1', kind: 'HTTPRoute', namespaced: true });
  });
  it('is on in auto mode only when the CRD is Established and serves v1', async () => {
    expect(
      await detectGatewayApi(
        client(() => crd(true)),
        'auto',
      ),
    ).toBe(true);
    expect(
      await detectGatewayApi(
        client(() => crd(false)),
        'auto',
      ),
    ).toBe(false);
    expect(
      await detectGatewayApi(
        client(() => crd(true, false)),
        'auto',
      ),
    ).toBe(false);
    expect(
      await detectGatewayApi(
        client(() => undefined),
        'auto',
      ),
    ).toBe(false);
  });
  it('takes a forced answer without asking, and reads a 403 as not installed', async () => {
    const never = client(() => {
      throw new Error('asked');
    });
    expect(await detectGatewayApi(never, 'true')).toBe(true);
    expect(await detectGatewayApi(never, 'false')).toBe(false);
    const forbidden = {
      get: () => Promise.reject(new KubeApiError(403, 'Forbidden', 'no')),
    };
    expect(await detectGatewayApi(forbidden, 'auto')).toBe(false);
    const down = { get: () => Promise.reject(new KubeApiError(503, 'ServiceUnavailable', 'down')) };
    await expect(detectGatewayApi(down, 'auto')).rejects.toThrow('down');
  });
});
