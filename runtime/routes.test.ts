import { describe, expect, it } from 'vitest';
import { matchRoute } from './routes.ts';

describe('matchRoute', () => {
  it.each([
    ['GET', '/v2', { kind: 'server' }],
    ['GET', '/v2/', { kind: 'server' }],
    ['GET', '/v2/health/live', { kind: 'live' }],
    ['HEAD', '/v2/health/ready', { kind: 'ready' }],
    ['GET', '/metrics', { kind: 'metrics' }],
    ['GET', '/v2/models/fraud', { kind: 'model', model: 'fraud', version: undefined }],
    ['GET', '/v2/models/fraud/versions/2', { kind: 'model', model: 'fraud', version: '2' }],
    ['GET', '/v2/models/fraud/ready', { kind: 'modelReady', model: 'fraud', version: undefined }],
    ['GET', '/v2/models/fraud/versions/2/ready', { kind: 'modelReady', model: 'fraud', version: '2' }],
    ['POST', '/v2/models/fraud/infer', { kind: 'infer', model: 'fraud', version: undefined }],
    ['POST', '/v2/models/fr%20aud/versions/1/infer?x=1', { kind: 'infer', model: 'fr aud', version: '1' }],
  ])('%s %s', (method, url, route) => {
    expect(matchRoute(method, url)).toEqual({ route });
  });

  it.each([
    ['GET', '/', 404],
    ['GET', '/v3', 404],
    ['GET', '/v2/models', 404],
    ['GET', '/v2/models/a/b', 404],
    ['GET', '/v2/models/%E0%A4%A/infer', 404],
    ['GET', '/v2/models/fraud/infer', 405],
    ['POST', '/v2/models/fraud', 405],
    ['DELETE', '/v2/health/live', 405],
  ])('%s %s → %i', (method, url, status) => {
    expect(matchRoute(method, url)).toMatchObject({ status });
  });
});
