// Authentication of admin requests, and the hooks that apply auth/policy.ts and write the audit log.
//   adminAuth (onRequest, per route scope): a bearer token in the Authorization header (the
//     first-start admin token or a user's API token: the CLI), else the session cookie (the UI).
//     Tokens are taken from the header only: in a URL they would end up in shell histories,
//     browser histories and proxy logs. A cookie-authenticated request that changes state must
//     carry X-CSRF-Token equal to its session's token: a cross-site form or fetch cannot read it.
//   installAccessControl (app-wide): before the handler, the role's permission for this route and
//     these clients (403 with the reason, nothing written); after the answer, one audit row for
//     every state-changing request of a signed-in caller, refused ones included.
// The event stream alone also takes a short-lived, read-only ticket.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SessionRecord, Store } from '../store/types.ts';
import type { EventTickets } from '../service/event-tickets.ts';
import { authenticateBearer, authenticateSession } from '../auth/authenticate.ts';
import { csrfMatches, sessionCookie } from '../auth/sessions.ts';
import { decide, ruleOf, type Principal } from '../auth/policy.ts';
import { auditDetail } from '../auth/audit.ts';
import { ForbiddenError, UnauthorizedError } from './errors.ts';

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m ? m[1]! : null;
  }
  return null;
}

interface AccessState {
  principal: Principal;
  session: SessionRecord | null;
  /** The PCs the request acts on (found by the authorization hook; for the audit log). */
  clients: string[];
}

const access = new WeakMap<FastifyRequest, AccessState>();

/** The caller of an authenticated admin request (undefined on public and agent routes). */
export function principalOf(request: FastifyRequest): Principal | undefined {
  return access.get(request)?.principal;
}

/** The UI session of the request, when it came with the cookie. */
export function sessionOf(request: FastifyRequest): SessionRecord | null {
  return access.get(request)?.session ?? null;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** onRequest hook for admin routes (see the file comment). Refusals are thrown: the one error handler answers them. */
export function adminAuth(store: Store) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    const token = bearerToken(request);
    const cookie = header ? null : sessionCookie(request.headers.cookie);
    if (!token && !cookie) throw new UnauthorizedError('not signed in: send "Authorization: Bearer <API token>" (see `netimage login`) or log in (POST /api/v1/session)');
    const auth = token ? await authenticateBearer(store, token) : await authenticateSession(store, cookie!);
    if (!auth.ok) throw new UnauthorizedError(auth.message);
    access.set(request, { principal: auth.principal, session: auth.session, clients: [] });
    if (auth.session && !SAFE_METHODS.has(request.method) && !csrfMatches(auth.session, request.headers['x-csrf-token'])) {
      throw new ForbiddenError('missing or wrong X-CSRF-Token header: a request signed in by the session cookie must send the csrfToken of GET /api/v1/session');
    }
  };
}

/** onRequest hook for the event stream: a valid ?ticket= (see EventTickets), else adminAuth. */
export function eventStreamAuth(store: Store, tickets: EventTickets) {
  const headerAuth = adminAuth(store);
  return async (request: FastifyRequest): Promise<void> => {
    const ticket = (request.query as Record<string, unknown> | undefined)?.['ticket'];
    if (ticket === undefined) return headerAuth(request);
    if (typeof ticket === 'string' && tickets.valid(ticket)) return;
    throw new UnauthorizedError('invalid or expired event ticket: get a new one with POST /api/v1/events/tickets');
  };
}

/** The clients a client or group rule is about, with their groups. */
async function targetClients(store: Store, rule: ReturnType<typeof ruleOf>, params: Record<string, string>): Promise<{ id: string; group: string | null }[]> {
  const id = params['id'];
  if (id === undefined) return [];
  if (rule.kind === 'client') {
    const client = await store.getClient(id);
    return client ? [{ id: client.id, group: client.group }] : [];
  }
  if (rule.kind === 'group') return (await store.listClients({ group: id })).map((c) => ({ id: c.id, group: c.group }));
  return [];
}

/** Rules that name clients are decided after validation (normalised ids); the others before it, so a refusal comes before any 400. */
const needsTargets = (kind: string) => kind === 'client' || kind === 'group';

/** Throws a ForbiddenError (403) unless the principal's role allows this request on these clients. */
function refuseUnless(state: AccessState, request: FastifyRequest, clients: { id: string; group: string | null }[]): void {
  const route = request.routeOptions.url ?? request.url;
  const params = (request.params ?? {}) as Record<string, string>;
  const decision = decide(state.principal, { method: request.method, route, params, body: request.body, clients });
  if (!decision.ok) throw new ForbiddenError(`refused, nothing changed: ${decision.reason}`);
}

/** The app-wide authorization and audit hooks; register before any route. */
export function installAccessControl(app: FastifyInstance, store: Store): void {
  app.addHook('preValidation', async (request) => {
    const state = access.get(request);
    if (!state || needsTargets(ruleOf(request.method, request.routeOptions.url ?? request.url).kind)) return;
    refuseUnless(state, request, []);
  });
  app.addHook('preHandler', async (request) => {
    const state = access.get(request);
    if (!state) return; // not an admin route (agent API, boot files, health, login)
    const rule = ruleOf(request.method, request.routeOptions.url ?? request.url);
    if (!needsTargets(rule.kind)) return;
    const clients = await targetClients(store, rule, (request.params ?? {}) as Record<string, string>);
    state.clients = clients.map((c) => c.id);
    refuseUnless(state, request, clients);
  });
  app.addHook('onResponse', async (request, reply) => {
    const state = access.get(request);
    if (!state || SAFE_METHODS.has(request.method)) return;
    await store
      .addAudit({
        ts: new Date().toISOString(),
        actor: state.principal.actor,
        role: state.principal.role,
        via: state.principal.via,
        source: request.ip,
        method: request.method,
        route: request.routeOptions.url ?? request.url,
        clients: state.clients,
        detail: auditDetail(request.params, request.body),
        status: reply.statusCode,
      })
      .catch((error: unknown) => request.log.error({ err: error }, 'audit log write failed'));
  });
}
