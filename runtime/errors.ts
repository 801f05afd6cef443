// The one error type the request path throws on purpose: it carries the HTTP
// status the client gets with {"error": message}. Anything else is a 500.
export class RequestError extends Error {
  readonly status: number;
  /** Set on a passing condition (a model still loading): sent as Retry-After, so clients retry. */
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'RequestError';
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The Retry-After of a 503 that passes by itself: loading or a worker restart takes a second or two. */
export const PASSING_RETRY_AFTER_SECONDS = 1;

/**
 * 503 for a state the runtime leaves by itself (loading, a worker restarting):
 * Retry-After tells a client, or a mesh's retry policy, to try again.
 */
export const unavailableForNow = (message: string): RequestError =>
  new RequestError(503, message, PASSING_RETRY_AFTER_SECONDS);

export const badRequest = (message: string): RequestError => new RequestError(400, message);
