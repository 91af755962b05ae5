// Bearer-token checks. Admin tokens are random and stored as sha256; agent tokens are the
// one-time job tokens (checked by the service, which maps them to a job). Admin tokens are taken
// from the Authorization header only: in a URL they would end up in shell histories, browser
// histories and proxy logs. The event stream alone also takes a short-lived, read-only ticket.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../store/types.ts';
import type { EventTickets } from '../service/event-tickets.ts';
import { sha256Hex } from '../service/tokens.ts';

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m ? m[1]! : null;
  }
  return null;
}

function unauthorized(reply: FastifyReply, message: string): FastifyReply {
  return reply
    .status(401)
    .header('www-authenticate', 'Bearer realm="netimage"')
    .send({ statusCode: 401, error: 'Unauthorized', message });
}

/** onRequest hook for admin routes: the admin token in the Authorization header. */
export function adminAuth(store: Store) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const token = bearerToken(request);
    if (!token) return unauthorized(reply, 'missing bearer token: send "Authorization: Bearer <admin token>" (printed at first start; see `netimage login`)');
    if (!(await store.hasAdminTokenHash(sha256Hex(token)))) return unauthorized(reply, 'invalid admin token');
    return undefined;
  };
}

/** onRequest hook for the event stream: a valid ?ticket= (see EventTickets), else the admin token header. */
export function eventStreamAuth(store: Store, tickets: EventTickets) {
  const headerAuth = adminAuth(store);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const ticket = (request.query as Record<string, unknown> | undefined)?.['ticket'];
    if (ticket === undefined) return headerAuth(request, reply);
    if (typeof ticket === 'string' && tickets.valid(ticket)) return undefined;
    return unauthorized(reply, 'invalid or expired event ticket: get a new one with POST /api/v1/events/tickets');
  };
}
