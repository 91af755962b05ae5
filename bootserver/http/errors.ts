// One mapping from domain errors to HTTP answers, so every route reports problems the same way:
// { statusCode, error, message } with a message an admin can act on.
import type { FastifyError, FastifyInstance } from 'fastify';
import { PropertyValidationError } from '../products/properties.ts';
import { StoreConflictError, StoreNotFoundError } from '../store/types.ts';
import { AgentAuthError, ConflictError } from '../service/netboot.ts';

export class BadRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequestError';
  }
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 500: 'Internal Server Error' };

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
  if (error instanceof PropertyValidationError || error instanceof BadRequestError) return 400;
  if (error instanceof AgentAuthError) return 401;
  if (error instanceof StoreNotFoundError) return 404;
  if (error instanceof StoreConflictError || error instanceof ConflictError) return 409;
  const fe = error as FastifyError;
  if (fe.validation) return 400;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 600) return fe.statusCode;
  return 500;
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = statusFor(error);
    const message = error.validation ? validationMessage(error) : status === 500 ? 'internal error (see the server log)' : error.message;
    if (status === 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ status, message }, 'request refused');
    void reply.status(status).send({ statusCode: status, error: STATUS_TEXT[status] ?? 'Error', message });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}
