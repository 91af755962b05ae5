// Who may do what, in one place: every admin route is looked up here by its method and pattern
// (auth/access.ts applies it before the handler runs). Pure and table-driven like
// service/agent-scope.ts: the facts it needs (the target clients and their groups) are gathered
// by the caller.
//   admin     everything.
//   operator  reads; wake, restore and back up clients of the groups assigned to them (and clear
//             an action request there); event tickets, logout, their own API tokens. Nothing
//             else: no other product (prepare, delimage, OS installs are refused even in their
//             own rooms), no client/group/schedule/settings changes, no user management, no audit.
// A route missing from the table is for admins only (a new state-changing route is safe by default).
import { ProductId } from '../../lib/products.ts';
import type { Role } from '../store/types.ts';

export const ROLES = ['admin', 'operator'] as const satisfies readonly Role[];

/** Products an operator may request for the clients of their groups. */
export const OPERATOR_PRODUCTS: readonly string[] = [ProductId.restore, ProductId.backup];

/** Who is asking (auth/authenticate.ts). */
export interface Principal {
  /** A user's name, or ADMIN_TOKEN_ACTOR for the first-start admin token. */
  actor: string;
  role: Role;
  /** Groups an operator may act on. */
  groups: readonly string[];
  /** ui: a session cookie (needs the CSRF header on writes); cli: a bearer token. */
  via: 'ui' | 'cli';
}

export const ADMIN_TOKEN_ACTOR = 'admin-token';

export type RouteRule =
  /** Any signed-in role. */
  | { kind: 'any' }
  | { kind: 'admin' }
  /** A client named by :id; the product from :productId or body.productId. */
  | { kind: 'client'; product: 'param' | 'none' }
  /** A group named by :id; the product from body.productId, or none (wake). */
  | { kind: 'group'; product: 'body' | 'none' }
  /** The user named by :name only (their own API tokens). */
  | { kind: 'self' };

const API = '/api/v1';

/** Routes whose rule is not "GET: any, else admin". Keys: "METHOD pattern". */
export const ROUTE_RULES: Readonly<Record<string, RouteRule>> = {
  [`GET ${API}/users`]: { kind: 'admin' },
  [`GET ${API}/users/:name`]: { kind: 'admin' },
  [`GET ${API}/audit`]: { kind: 'admin' },
  [`GET ${API}/users/:name/tokens`]: { kind: 'self' },
  [`POST ${API}/users/:name/tokens`]: { kind: 'self' },
  [`DELETE ${API}/users/:name/tokens/:tokenName`]: { kind: 'self' },
  [`DELETE ${API}/session`]: { kind: 'any' },
  [`POST ${API}/events/tickets`]: { kind: 'any' },
  [`PUT ${API}/clients/:id/products/:productId/action`]: { kind: 'client', product: 'param' },
  [`POST ${API}/clients/:id/wake`]: { kind: 'client', product: 'none' },
  [`POST ${API}/groups/:id/action`]: { kind: 'group', product: 'body' },
  [`POST ${API}/groups/:id/wake`]: { kind: 'group', product: 'none' },
};

export function ruleOf(method: string, pattern: string): RouteRule {
  return ROUTE_RULES[`${method} ${pattern}`] ?? (method === 'GET' || method === 'HEAD' ? { kind: 'any' } : { kind: 'admin' });
}

/** What the request is about, as the caller found it. */
export interface AccessRequest {
  method: string;
  /** Route pattern, e.g. /api/v1/groups/:id/action. */
  route: string;
  params: Readonly<Record<string, string>>;
  body: unknown;
  /**
   * The clients the request acts on with their group (client rules: the one client, none when it
   * does not exist; group rules: the group's clients).
   */
  clients: readonly { id: string; group: string | null }[];
}

export type AccessDecision = { ok: true } | { ok: false; reason: string };

const OK: AccessDecision = { ok: true };
const refuse = (reason: string): AccessDecision => ({ ok: false, reason });

function bodyField(body: unknown, name: string): unknown {
  return body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
}

/** Clearing a request ('none') is never destructive; otherwise the product must be an operator's. */
function operatorProduct(product: unknown, actionRequest: unknown): AccessDecision {
  if (actionRequest === 'none') return OK;
  if (typeof product === 'string' && OPERATOR_PRODUCTS.includes(product)) return OK;
  return refuse(`an operator may request only ${OPERATOR_PRODUCTS.join(' or ')} (not ${String(product)}): ask an admin`);
}

export function decide(who: Principal, req: AccessRequest): AccessDecision {
  if (who.role === 'admin') return OK;
  const rule = ruleOf(req.method, req.route);
  const mine = (group: string | null) => group !== null && who.groups.includes(group);
  switch (rule.kind) {
    case 'any':
      return OK;
    case 'admin':
      return refuse(`${req.method} ${req.route} is for admins only (you are ${who.actor}, an operator)`);
    case 'self':
      return req.params['name'] === who.actor ? OK : refuse(`an operator manages only their own tokens (you are ${who.actor})`);
    case 'client': {
      const client = req.clients[0];
      // An unknown client: nothing to protect, the route answers 404.
      if (client && !mine(client.group)) return refuse(`client ${client.id} is in ${client.group ?? 'no group'}, not in your groups (${who.groups.join(', ') || 'none'})`);
      return rule.product === 'none' ? OK : operatorProduct(req.params['productId'], bodyField(req.body, 'actionRequest'));
    }
    case 'group': {
      const group = req.params['id'] ?? '';
      if (!mine(group)) return refuse(`group ${group} is not one of your groups (${who.groups.join(', ') || 'none'})`);
      return rule.product === 'none' ? OK : operatorProduct(bodyField(req.body, 'productId'), bodyField(req.body, 'actionRequest'));
    }
  }
}
