// /session: the UI's login (POST, public), who am I (GET) and logout (DELETE). The session token
// travels only in an HttpOnly, SameSite=Strict cookie; the answer carries the CSRF token that
// state-changing requests of this session must send back in X-CSRF-Token (http/auth.ts).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { closeSession, openSession, sessionCookie, sessionSetCookie } from '../../auth/sessions.ts';
import { userView } from '../../auth/users.ts';
import { auditDetail } from '../../auth/audit.ts';
import { adminAuth, principalOf, sessionOf } from '../auth.ts';
import { RateLimitedError, UnauthorizedError } from '../errors.ts';
import { loginBody } from './auth-schemas.ts';
import type { AdminApiDeps } from './deps.ts';

export const sessionRoutes: FastifyPluginAsyncZod<AdminApiDeps> = async (r, { store, auth }) => {
  const { users, limiter, settings } = auth;
  const tags = ['session'];

  r.post('/session', { schema: { tags, summary: 'Log in (UI): sets the session cookie; answers the user and the CSRF token', body: loginBody, security: [] } }, async (req, reply) => {
    const { username, password } = req.body;
    const wait = limiter.retryAfter(username, req.ip);
    const audit = (status: number) =>
      store.addAudit({ ts: new Date().toISOString(), actor: username, role: '', via: 'none', source: req.ip, method: 'POST', route: '/api/v1/session', clients: [], detail: auditDetail(undefined, { username }), status });
    if (wait > 0) {
      await audit(429);
      throw new RateLimitedError(`too many failed logins: try again in ${wait} s`, wait);
    }
    const user = await users.checkPassword(username, password);
    if (!user) {
      limiter.fail(username, req.ip);
      await audit(401);
      // A fresh server has no accounts: a new admin trying "admin" here needs to know the way in.
      if ((await store.listUsers()).length === 0) {
        throw new UnauthorizedError('wrong user name or password: this server has no user accounts yet; use the admin token printed at first start (netimage token reset makes a new one), then add users with netimage user add');
      }
      throw new UnauthorizedError('wrong user name or password');
    }
    limiter.succeed(username);
    const { token, record } = await openSession(store, user, req.ip, settings);
    await store.addAudit({ ts: record.created, actor: user.name, role: user.role, via: 'ui', source: req.ip, method: 'POST', route: '/api/v1/session', clients: [], detail: {}, status: 201 });
    return reply
      .status(201)
      .header('set-cookie', sessionSetCookie(token, settings.absoluteHours * 3600, settings.secureCookie))
      .header('cache-control', 'no-store')
      .send({ user: userView(user), csrfToken: record.csrfToken, expiresAt: record.expires });
  });

  await r.register(async (signedIn) => {
    signedIn.addHook('onRequest', adminAuth(store));
    signedIn.get('/session', { schema: { tags, summary: 'Who am I: the user (session cookie or API token) and, for a session, its CSRF token' } }, async (req, reply) => {
      const who = principalOf(req)!;
      const session = sessionOf(req);
      const user = await store.getUser(who.actor);
      void reply.header('cache-control', 'no-store');
      return {
        user: user ? userView(user) : { name: who.actor, role: who.role, groups: [] },
        via: who.via,
        ...(session ? { csrfToken: session.csrfToken, expiresAt: session.expires } : {}),
      };
    });
    signedIn.delete('/session', { schema: { tags, summary: 'Log out: ends this session and clears the cookie' } }, async (req, reply) => {
      const cookie = sessionOf(req) ? sessionCookie(req.headers.cookie) : null;
      if (cookie) await closeSession(store, cookie);
      return reply.status(204).header('set-cookie', sessionSetCookie('', 0, settings.secureCookie)).send();
    });
  });
};
