// Pure: the v2 (Open Inference Protocol) routes.
export type Route =
  | { kind: 'server' }
  | { kind: 'live' }
  | { kind: 'ready' }
  | { kind: 'metrics' }
  | { kind: 'model'; model: string; version: string | undefined }
  | { kind: 'modelReady'; model: string; version: string | undefined }
  | { kind: 'infer'; model: string; version: string | undefined };

export type Match = { route: Route } | { status: 404 } | { status: 405; allow: string };

const MODEL = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/;

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

export function matchRoute(method: string, rawUrl: string): Match {
  const path = (rawUrl.split('?')[0] ?? '').replace(/\/+$/, '') || '/';
  let route: Route | undefined;
  let allow = 'GET';
  if (path === '/v2') route = { kind: 'server' };
  else if (path === '/v2/health/live') route = { kind: 'live' };
  else if (path === '/v2/health/ready') route = { kind: 'ready' };
  else if (path === '/metrics') route = { kind: 'metrics' };
  else {
    const m = MODEL.exec(path);
    if (!m) return { status: 404 };
    const model = decode(m[1] as string);
    const version = m[2] === undefined ? undefined : decode(m[2]);
    if (model === undefined || (m[2] !== undefined && version === undefined)) return { status: 404 };
    if (m[3] === '/infer') {
      route = { kind: 'infer', model, version };
      allow = 'POST';
    } else if (m[3] === '/ready') route = { kind: 'modelReady', model, version };
    else route = { kind: 'model', model, version };
  }
  const ok = allow === 'GET' ? method === 'GET' || method === 'HEAD' : method === allow;
  return ok ? { route } : { status: 405, allow };
}
