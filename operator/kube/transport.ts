// One keep-alive agent per client (and the gated clients made from it), with
// one TLS context: @kubernetes/client-node's applyToHTTPSOptions builds a new
// https.Agent for every request, so every request opened its own connection
// with its own TLS context (CA, client cert) — a handshake each time, and
// native memory that malloc fragments and rarely gives back. Auth headers are
// still taken per request (a rotated ServiceAccount token is picked up); a
// change of the TLS material (rotated client certificate or CA) gets a new agent.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

/** The TLS fields applyToHTTPSOptions may set that decide which connections are interchangeable. */
const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;
type TlsOptions = Pick<https.RequestOptions, (typeof TLS_FIELDS)[number]>;

/** Free (idle) sockets kept per origin; the rest close once idle. Watches hold their own sockets. */
const MAX_FREE_SOCKETS = 16;
/**
 * Idle keep-alive sockets close after this, before the API server's own idle
 * timeout (or a load balancer's in front of it) can close one just as a
 * request is written to it (a reset all the same is retried, see client.ts). Node applies an agent's timeout to free sockets
 * (destroyed when it fires); active ones only emit 'timeout'.
 */
export const FREE_SOCKET_TIMEOUT_MS = 30_000;

/** Pure: a fingerprint of the TLS material of request options (equal fingerprints may share connections). */
export function tlsFingerprint(opts: TlsOptions): string {
  const h = createHash('sha256');
  for (const field of TLS_FIELDS) {
    const v: unknown = opts[field];
    h.update(`${field}=`);
    if (v === undefined) h.update('-');
    else if (Buffer.isBuffer(v) || typeof v === 'string') h.update(v);
    else h.update(JSON.stringify(v)); // arrays of PEMs, booleans
    h.update('\0');
  }
  return h.digest('hex');
}

export class SharedTransport {
  private https: { fingerprint: string; agent: https.Agent } | undefined;
  private httpAgent: http.Agent | undefined;

  private readonly freeSocketTimeoutMs: number;

  constructor(freeSocketTimeoutMs = FREE_SOCKET_TIMEOUT_MS) {
    this.freeSocketTimeoutMs = freeSocketTimeoutMs;
  }

  /** The agent for a request whose options applyToHTTPSOptions filled in (its throwaway agent is replaced). */
  agentFor(protocol: string, opts: https.RequestOptions): http.Agent {
    if (protocol === 'http:') {
      this.httpAgent ??= new http.Agent({
        keepAlive: true,
        maxFreeSockets: MAX_FREE_SOCKETS,
        timeout: this.freeSocketTimeoutMs,
      });
      return this.httpAgent;
    }
    const fingerprint = tlsFingerprint(opts);
    if (this.https?.fingerprint !== fingerprint) {
      // in-flight requests (and watches) of the old agent finish on their sockets; its idle ones close
      const old = this.https?.agent;
      this.https = {
        fingerprint,
        agent: new https.Agent({
          keepAlive: true,
          maxFreeSockets: MAX_FREE_SOCKETS,
          timeout: this.freeSocketTimeoutMs,
          // one TLS context for every connection of this agent
          secureContext: tls.createSecureContext({
            ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
            ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
            ...(opts.key !== undefined ? { key: opts.key } : {}),
            ...(opts.pfx !== undefined ? { pfx: opts.pfx } : {}),
            ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
          }),
          ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
          ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
        }),
      };
      if (old)
        for (const sockets of Object.values(old.freeSockets)) for (const s of sockets ?? []) s.destroy();
    }
    return this.https.agent;
  }

  /** Closes idle connections (shutdown). */
  close(): void {
    this.https?.agent.destroy();
    this.httpAgent?.destroy();
  }
}
