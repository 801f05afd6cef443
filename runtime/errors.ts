// The one error type the request path throws on purpose: it carries the HTTP
// status the client gets with {"error": message}. Anything else is a 500.
export class RequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'RequestError';
    this.status = status;
  }
}

export const badRequest = (message: string): RequestError => new RequestError(400, message);
