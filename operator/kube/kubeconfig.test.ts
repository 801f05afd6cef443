import { mkdtempSync, writeFileSync } from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectionFrom, inClusterConnection, loadOwnKubeConfig, OwnKubeConfig } from './kubeconfig.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const config = (cluster: Record<string, unknown>, user: Record<string, unknown>) => ({
  clusters: [
    { name: 'other', cluster: { server: 'https://wrong' } },
    { name: 'c', cluster },
  ],
  users: [{ name: 'u', user }],
  contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
  'current-context': 'ctx',
});

describe('connectionFrom', () => {
  it('reads server, CA, client certificate and token of the current context; files resolve against the kubeconfig', () => {
    expect(
      connectionFrom(
        config(
          { server: 'https://api:6443', 'certificate-authority-data': b64('CA'), 'tls-server-name': 'api' },
          { 'client-certificate': 'certs/me.crt', 'client-key-data': b64('KEY'), token: 't0k' },
        ),
        '/home/me/.kube',
      ),
    ).toEqual({
      server: 'https://api:6443',
      caData: Buffer.from('CA'),
      servername: 'api',
      certFile: '/home/me/.kube/certs/me.crt',
      keyData: Buffer.from('KEY'),
      token: 't0k',
    });
  });

  it('leaves exec plugins, auth providers, impersonation and proxies to client-node, and says why', () => {
    const server = { server: 'https://api' };
    expect(connectionFrom(config(server, { exec: { command: 'aws' } }), '/')).toEqual({
      unsupported: 'user.exec',
    });
    expect(connectionFrom(config(server, { 'auth-provider': {} }), '/')).toEqual({
      unsupported: 'user.auth-provider',
    });
    expect(connectionFrom(config(server, { as: 'admin' }), '/')).toEqual({ unsupported: 'user.as' });
    expect(connectionFrom(config({ ...server, 'proxy-url': 'http://p' }, {}), '/')).toEqual({
      unsupported: 'cluster.proxy-url',
    });
    expect(connectionFrom({ 'current-context': 'none' }, '/')).toEqual({ unsupported: 'no context "none"' });
  });
});

describe('inClusterConnection', () => {
  it('builds the ServiceAccount connection from the service environment (IPv6 in brackets)', () => {
    expect(
      inClusterConnection({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, '/sa'),
    ).toEqual({
      server: 'https://[fd00::1]:443',
      caFile: '/sa/ca.crt',
      tokenFile: '/sa/token',
    });
    expect(inClusterConnection({}, '/sa')).toBeUndefined();
  });
});

describe('OwnKubeConfig', () => {
  it('sets TLS material and the bearer token (read from its file) on request options', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kc-'));
    writeFileSync(path.join(dir, 'token'), 'from-file\n');
    writeFileSync(path.join(dir, 'ca.crt'), 'CA');
    const kc = new OwnKubeConfig({
      server: 'https://api',
      caFile: path.join(dir, 'ca.crt'),
      tokenFile: path.join(dir, 'token'),
      insecure: true,
    });
    const opts: https.RequestOptions = { headers: { Accept: 'application/json' } };
    await kc.applyToHTTPSOptions(opts);
    expect(opts.ca).toEqual(Buffer.from('CA'));
    expect(opts.rejectUnauthorized).toBe(false);
    expect(opts.headers).toEqual({ Accept: 'application/json', Authorization: 'Bearer from-file' });
  });

  it('prefers tokenFile over token like client-go, and falls back to token when the file cannot be read', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kc-'));
    writeFileSync(path.join(dir, 'token'), 'from-file\n');
    const both = { server: 'https://api', token: 'inline', tokenFile: path.join(dir, 'token') };
    const opts: https.RequestOptions = {};
    await new OwnKubeConfig(both).applyToHTTPSOptions(opts);
    expect(opts.headers).toEqual({ Authorization: 'Bearer from-file' });
    const missing: https.RequestOptions = {};
    await new OwnKubeConfig({ ...both, tokenFile: path.join(dir, 'absent') }).applyToHTTPSOptions(missing);
    expect(missing.headers).toEqual({ Authorization: 'Bearer inline' });
  });

  it('loads a kubeconfig file it covers, and leaves one it does not to client-node', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kc-'));
    const ok = path.join(dir, 'ok.yaml');
    writeFileSync(ok, JSON.stringify(config({ server: 'https://api:6443' }, { token: 't' })));
    expect(loadOwnKubeConfig(ok, {})?.getCurrentCluster()).toEqual({ server: 'https://api:6443' });
    const exec = path.join(dir, 'exec.yaml');
    writeFileSync(exec, JSON.stringify(config({ server: 'https://api' }, { exec: { command: 'x' } })));
    expect(loadOwnKubeConfig(exec, {})).toBeUndefined();
    expect(loadOwnKubeConfig(undefined, { KUBECONFIG: `${ok}${path.delimiter}${exec}` })).toBeUndefined();
  });
});
