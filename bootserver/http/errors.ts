// One mapping from errors to HTTP answers, so every route reports problems the same way:
// { statusCode, error, message } with a message an admin can act on. Domain errors are
// NetimageErrors (lib/errors.ts) and answer by their kind through HTTP_STATUS; fastify's own
// errors (validation, body too large...) keep their status; anything else is a bug: 500, with the
// details in the server log only.
import type { FastifyError, FastifyInstance } from 'fastify';
import { NetimageError, type ErrorKind } from '../../lib/errors.ts';

/** A request the route itself finds wrong (beyond what its schema checks). */
export class BadRequestError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'BadRequestError';
  }
}

/**
 * The caller is not known (401). `challenge` is the WWW-Authenticate header the answer carries
 * (RFC 9110 wants one on every 401), naming the realm: the admin API, the depot, metrics.
 */
export class UnauthorizedError extends NetimageError {
  readonly challenge: string;
  constructor(message: string, realm = 'netimage') {
    super('unauthorized', message);
    this.name = 'UnauthorizedError';
    this.challenge = `Bearer realm="${realm}"`;
  }
}

/** The caller is known but may not do this (403); nothing was changed. */
export class ForbiddenError extends NetimageError {
  constructor(message: string) {
    super('forbidden', message);
    this.name = 'ForbiddenError';
  }
}

/** Too many attempts (failed logins): 429, with Retry-After saying when to try again. */
export class RateLimitedError extends NetimageError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('rate_limited', message);
    this.name = 'RateLimitedError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The one table from error kinds to HTTP statuses. */
export const HTTP_STATUS: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  rate_limited: 429,
  not_found: 404,
  conflict: 409,
  failed: 500,
  unavailable: 503,
};

/** The kind of an HTTP error answer, for clients of the API (the CLI); 0 = no answer at all. */
export function kindOfStatus(status: number): ErrorKind {
  const kind = (Object.keys(HTTP_STATUS) as ErrorKind[]).find((k) => HTTP_STATUS[k] === status);
  if (kind) return kind;
  // No answer, or a 5xx the table does not name (502, 504): try later. Other 4xx (413, 415...): the request.
  return status === 0 || status >= 500 ? 'unavailable' : 'invalid';
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

interface ValidationItem {
  instancePath?: string;
  message?: string;
  params?: { issue?: { path?: (string | number)[]; message?: string } } & Record<string, unknown>;
}

/** "body.mac: a MAC address like 52:54:00:12:34:56" from fastify's validation error. */
function validationMessage(error: FastifyError): string {
  const context = (error as FastifyError & { validationContext?: string }).validationContext ?? 'request';
  const items = (error.validation ?? []) as ValidationItem[];
  const parts = items.map((item) => {
    const path = item.params?.issue?.path?.join('.') ?? (item.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
    return `${context}${path ? '.' + path : ''}: ${item.message ?? 'invalid'}`;
  });
  return parts.length ? parts.join('; ') : error.message;
}

export function statusFor(error: unknown): number {
  if (error instanceof NetimageError) return HTTP_STATUS[error.kind];
  const fe = (error ?? {}) as FastifyError;
  if (fe.validation) return 400;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 600) return fe.statusCode;
  return 500;
}

/** The answer's body: a NetimageError's message is for the admin; an unknown error's stays in the log. */
export function answerFor(error: unknown): { statusCode: number; error: string; message: string } {
  const status = statusFor(error);
  const fe = (error ?? {}) as FastifyError;
  let message = fe.validation ? validationMessage(fe) : status === 500 ? 'internal error (see the server log)' : String((error as Error).message);
  if (status === 404) message += listHint(message);
  return { statusCode: status, error: STATUS_TEXT[status] ?? 'Error', message };
}

const LIST_HINT: Record<string, string> = {
  client: ' (netimage client list shows the registered PCs)',
  group: ' (netimage group list shows the rooms)',
  product: ' (netimage product list shows the product ids)',
};

/** A new admin's "X not found" says where the names that do exist are listed. */
function listHint(message: string): string {
  const m = /^(client|group|product) \S+ not found(;|$)/.exec(message);
  return m ? (LIST_HINT[m[1]!] ?? '') : '';
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const answer = answerFor(error);
    if (answer.statusCode === 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ status: answer.statusCode, message: answer.message }, 'request refused');
    if (answer.statusCode === 401) void reply.header('www-authenticate', error instanceof UnauthorizedError ? error.challenge : 'Bearer realm="netimage"');
    if (error instanceof RateLimitedError) void reply.header('retry-after', String(error.retryAfterSeconds));
    void reply.status(answer.statusCode).send(answer);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}
