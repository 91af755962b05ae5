// /jobs: job records, their events and logs; and tickets for the event stream (events.ts).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { jobEventsQuery, jobIdParams, listJobsQuery } from '../schemas.ts';
import { EVENT_TICKET_SECONDS } from '../../service/event-tickets.ts';
import type { AdminApiDeps } from './deps.ts';

export const jobRoutes: FastifyPluginAsyncZod<AdminApiDeps> = async (r, { admin, service, tickets }) => {
  r.get('/jobs', { schema: { tags: ['jobs'], summary: 'Jobs, newest first', querystring: listJobsQuery } }, async (req) => {
    const q = req.query;
    return admin.listJobs({ limit: q.limit, ...(q.client ? { clientId: q.client } : {}), ...(q.group ? { group: q.group } : {}), ...(q.per_client ? { perClient: q.per_client } : {}), ...(q.product ? { productId: q.product } : {}), ...(q.state ? { states: q.state } : {}) });
  });
  r.get('/jobs/:id', { schema: { tags: ['jobs'], summary: 'One job', params: jobIdParams } }, async (req) => admin.job(req.params.id));
  r.get(
    '/jobs/:id/events',
    { schema: { tags: ['jobs'], summary: 'Progress and log events of a job, oldest first: the first 10 000, or with ?tail=N the newest N', params: jobIdParams, querystring: jobEventsQuery } },
    async (req) => service.jobEvents(req.params.id, req.query.tail),
  );
  r.get('/jobs/:id/log', { schema: { tags: ['jobs'], summary: "The agent's full log (text)", params: jobIdParams } }, async (req, reply) => {
    return reply.header('content-type', 'text/plain; charset=utf-8').send(await admin.jobLog(req.params.id));
  });
  r.post(
    '/events/tickets',
    {
      schema: {
        tags: ['jobs'],
        summary: `A ticket for GET /api/v1/events?ticket= (for EventSource, which cannot send headers): reads job events only, valid ${EVENT_TICKET_SECONDS} s`,
      },
    },
    async (_req, reply) => reply.status(201).send(tickets.issue()),
  );
};
