// Who sent this request: a bearer token (the first-start admin token, or a user's API token: the
// CLI) or a session cookie (the UI). Bearer wins when both come. Roles and groups are read from
// the user on every request, so a change applies at once.
import type { SessionRecord, Store, User } from '../store/types.ts';
import { sha256Hex } from '../service/tokens.ts';
import { ADMIN_TOKEN_ACTOR, type Principal } from './policy.ts';
import { resolveSession } from './sessions.ts';

export type Authentication =
  | { ok: true; principal: Principal; session: SessionRecord | null }
  | { ok: false; message: string };

const TOUCH_EVERY_MS = 60_000;

function principalOf(user: User, via: Principal['via']): Principal {
  return { actor: user.name, role: user.role, groups: user.groups, via };
}

export async function authenticateBearer(store: Store, token: string, now = new Date()): Promise<Authentication> {
  const hash = sha256Hex(token);
  if (await store.hasAdminTokenHash(hash)) return { ok: true, principal: { actor: ADMIN_TOKEN_ACTOR, role: 'admin', groups: [], via: 'cli' }, session: null };
  const userToken = await store.findUserToken(hash);
  const user = userToken ? await store.getUser(userToken.userName) : null;
  if (!userToken || !user) return { ok: false, message: 'invalid API token' };
  if (!userToken.lastUsed || now.getTime() - Date.parse(userToken.lastUsed) >= TOUCH_EVERY_MS) await store.touchUserToken(hash, now.toISOString());
  return { ok: true, principal: principalOf(user, 'cli'), session: null };
}

export async function authenticateSession(store: Store, cookie: string, now = new Date()): Promise<Authentication> {
  const session = await resolveSession(store, cookie, now);
  const user = session ? await store.getUser(session.userName) : null;
  if (!session || !user) return { ok: false, message: 'session expired or logged out: log in again' };
  return { ok: true, principal: principalOf(user, 'ui'), session };
}
