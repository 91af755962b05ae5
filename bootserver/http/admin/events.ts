// GET /events: job progress as server-sent events. Registered apart from the other admin routes
// because it alone also takes a short-lived ticket (?ticket=) instead of the admin token header.
import { AsyncResource } from 'node:async_hooks';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { LiveJobEvent } from '../../service/event-bus.ts';
import { eventsQuery } from '../schemas.ts';
import type { AdminApiDeps } from './deps.ts';

const HEARTBEAT_MS = 15_000;

export const eventRoutes: FastifyPluginAsyncZod<AdminApiDeps> = async (r, { admin, notices }) => {
  // A stream never ends by itself: a stopping server ends each one, or it would wait for every
  // browser tab and `--follow` to go away before it could stop.
  const openStreams = new Set<() => void>();
  r.addHook('preClose', async () => {
    for (const end of [...openStreams]) end();
  });
  r.get(
    '/events',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Server-sent events: job progress as it happens (?job= replays that job first). Admin token header, or ?ticket= from POST /api/v1/events/tickets',
        querystring: eventsQuery,
        security: [{ bearer: [] }, { eventTicket: [] }],
      },
    },
    async (req, reply) => {
      // An unknown PC or job is a 404 now, not a stream that stays silent forever.
      if (req.query.client) await admin.requireClient(req.query.client);
      if (req.query.job) await admin.job(req.query.job);
      if (req.query.group) await admin.requireGroup(req.query.group);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      raw.write('retry: 2000\n\n');
      const send = (e: LiveJobEvent) => raw.write(`id: ${e.id}\nevent: job\ndata: ${JSON.stringify(e)}\n\n`);
      const stream = admin.followJobs({ job: req.query.job, client: req.query.client, group: req.query.group }, send);
      // Client notices (did not wake) go live only; a job filter leaves them out.
      const outside = new AsyncResource('netimage.events');
      const unsubscribeNotices = notices?.subscribe((n) => {
        if (req.query.job || (req.query.client && n.clientId !== req.query.client)) return;
        const write = () => raw.write(`event: client\ndata: ${JSON.stringify(n)}\n\n`);
        if (!req.query.group) return void write();
        // A room's wake ends in one notice per PC that did not wake: rare enough to look each up
        // (in the request's async context: a notice may come from inside a store transaction).
        void outside.runInAsyncScope(() => admin.clientGroup(n.clientId)).then((g) => g === req.query.group && write(), () => undefined);
      });
      const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
      const end = () => raw.end();
      openStreams.add(end);
      req.raw.on('close', () => {
        openStreams.delete(end);
        clearInterval(heartbeat);
        stream.close();
        unsubscribeNotices?.();
      });
      await stream.ready;
    },
  );
};
