// Gateway API types the ymera operator writes to. Like the PrometheusRule
// CRD, HTTPRoute is optional: it is detected once at start-up (an informer on
// a CRD that is not installed never syncs), and only when it is served does
// a controller own HTTPRoutes.
import type { KubeClient } from './client.ts';
import { KubeApiError } from './client.ts';
import type { ResourceType } from './resources.ts';
import { core } from './resources.ts';
import { crdServes } from '../prometheus/rule-objects.ts';

export const httpRoute: ResourceType = {
  group: 'gateway.networking.k8s.io',
  version: 'v1',
  kind: 'HTTPRoute',
  plural: 'httproutes',
  namespaced: true,
};

/** Name of the CustomResourceDefinition that serves HTTPRoute. */
export const HTTP_ROUTE_CRD = `${httpRoute.plural}.${httpRoute.group}`;

export const GATEWAY_API_MODES = ['auto', 'true', 'false'] as const;
export type GatewayApiMode = (typeof GATEWAY_API_MODES)[number];

/**
 * Whether to route through HTTPRoutes: `configured` unless it is 'auto', then
 * whether the cluster serves gateway.networking.k8s.io/v1 HTTPRoute. A 403 (no
 * RBAC to read CRDs) counts as "not installed".
 */
export async function detectGatewayApi(
  client: Pick<KubeClient, 'get'>,
  configured: GatewayApiMode,
): Promise<boolean> {
  if (configured !== 'auto') return configured === 'true';
  try {
    return crdServes(await client.get(core.crd, HTTP_ROUTE_CRD), httpRoute.version);
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 403) return false;
    throw e;
  }
}
