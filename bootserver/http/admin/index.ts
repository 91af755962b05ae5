// The admin API under /api/v1: clients, groups, products, properties, action requests, product
// states, jobs, a server-sent event stream of job progress, users, the audit log and the UI's
// session. Every route needs an API token in the Authorization header or the session cookie
// (http/auth.ts; what each role may do: auth/policy.ts), except the login itself; the event
// stream also takes a short-lived ticket. Routes validate their input with zod and adapt to the
// services; domain errors become HTTP answers in errors.ts.
import type { FastifyInstance } from 'fastify';
import { adminAuth, eventStreamAuth } from '../auth.ts';
import type { AdminApiDeps } from './deps.ts';
import { clientRoutes } from './clients.ts';
import { inventoryRoutes } from './inventory.ts';
import { groupRoutes } from './groups.ts';
import { productRoutes } from './products.ts';
import { actionRoutes } from './actions.ts';
import { jobRoutes } from './jobs.ts';
import { eventRoutes } from './events.ts';
import { sessionRoutes } from './session.ts';
import { userRoutes } from './users.ts';
import { auditRoutes } from './audit.ts';
import { CSV_BODY_LIMIT } from '../limits.ts';

export type { AdminApiDeps, AuthDeps } from './deps.ts';


export async function registerAdminApi(app: FastifyInstance, deps: AdminApiDeps): Promise<void> {
  await app.register(
    async (api) => {
      await api.register(async (headerOnly) => {
        headerOnly.addHook('onRequest', adminAuth(deps.store));
        headerOnly.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string', bodyLimit: CSV_BODY_LIMIT }, (_req, body, done) => done(null, body));
        for (const routes of [clientRoutes, inventoryRoutes, groupRoutes, productRoutes, actionRoutes, jobRoutes, userRoutes, auditRoutes]) await headerOnly.register(routes, deps);
      });
      await api.register(sessionRoutes, deps);
      await api.register(async (ticketed) => {
        ticketed.addHook('onRequest', eventStreamAuth(deps.store, deps.tickets));
        await ticketed.register(eventRoutes, deps);
      });
    },
    { prefix: '/api/v1' },
  );
}
