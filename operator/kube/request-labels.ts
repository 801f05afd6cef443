// Labels of the REST client metrics: the Kubernetes verb and the resource a
// request addresses, read from its method, path, query and content type (as
// the API server's own audit and metrics name them), so writes per reconcile
// can be counted by kind.

export type Verb = 'GET' | 'LIST' | 'WATCH' | 'CREATE' | 'UPDATE' | 'PATCH' | 'APPLY' | 'DELETE' | 'OTHER';

/** Methods that change state on the server: refused once leadership is lost. */
export const MUTATING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export const APPLY_PATCH_CONTENT_TYPE = 'application/apply-patch+yaml';

/**
 * The resource of a REST path, with its subresource: `inferenceservices/status`,
 * `pods`, `namespaces`. `named` tells whether the path names one object.
 */
export function resourceOfPath(pathname: string): { resource: string; named: boolean } {
  const parts = pathname.split('/').filter((p) => p !== '');
  // /api/v1/... or /apis/<group>/<version>/...
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 3) rest = parts.slice(3);
  else return { resource: 'other', named: false };
  // namespaces/<ns>/<plural>/... is a namespaced resource; namespaces[/<name>[/<sub>]] the Namespace itself
  if (rest[0] === 'namespaces' && rest.length >= 3 && !['status', 'finalize'].includes(rest[2] ?? '')) {
    rest = rest.slice(2);
  }
  const [plural, name, sub] = rest;
  if (!plural) return { resource: 'other', named: false };
  return { resource: sub ? `${plural}/${sub}` : plural, named: name !== undefined };
}

/** The Kubernetes verb of a request (LIST and WATCH are GETs of a collection). */
export function verbOf(method: string, named: boolean, watch: boolean, contentType?: string): Verb {
  switch (method) {
    case 'GET':
      if (watch) return 'WATCH';
      return named ? 'GET' : 'LIST';
    case 'POST':
      return 'CREATE';
    case 'PUT':
      return 'UPDATE';
    case 'PATCH':
      return contentType === APPLY_PATCH_CONTENT_TYPE ? 'APPLY' : 'PATCH';
    case 'DELETE':
      return 'DELETE';
    default:
      return 'OTHER';
  }
}

/** Verb and resource of one request to `url`. */
export function requestLabels(
  method: string,
  url: URL,
  contentType?: string,
): { verb: Verb; resource: string } {
  const { resource, named } = resourceOfPath(url.pathname);
  const watch = url.searchParams.get('watch') === 'true';
  return { verb: verbOf(method, named, watch, contentType), resource };
}
