// /audit: who changed what, on which PCs, when and from where (admins only: auth/policy.ts).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { auditQuery } from './auth-schemas.ts';
import type { AdminApiDeps } from './deps.ts';

export const auditRoutes: FastifyPluginAsyncZod<AdminApiDeps> = async (r, { store }) => {
  r.get('/audit', { schema: { tags: ['audit'], summary: 'The audit log, newest first: every state-changing request and login', querystring: auditQuery } }, async (req) => {
    const q = req.query;
    return store.listAudit({ limit: q.limit, ...(q.actor ? { actor: q.actor } : {}), ...(q.since ? { since: new Date(q.since).toISOString() } : {}) });
  });
};
