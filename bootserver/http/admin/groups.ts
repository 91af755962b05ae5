// /groups: rooms of clients, and action requests for a whole group.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { createGroupBody, groupActionBody, groupIdParams } from '../schemas.ts';
import type { AdminApiDeps } from './deps.ts';

export const groupRoutes: FastifyPluginAsyncZod<AdminApiDeps> = async (r, { admin }) => {
  r.get('/groups', { schema: { tags: ['groups'], summary: 'List groups' } }, async () => admin.listGroups());
  r.post('/groups', { schema: { tags: ['groups'], summary: 'Create a group (room)', body: createGroupBody } }, async (req, reply) => {
    return reply.status(201).send(await admin.createGroup(req.body));
  });
  r.delete(
    '/groups/:id',
    { schema: { tags: ['groups'], summary: 'Delete a group (clients stay, ungrouped; operators lose it; 409 while a schedule targets it). Answers the operators who had it', params: groupIdParams } },
    async (req) => admin.deleteGroup(req.params.id),
  );
  r.get(
    '/groups/:id/images',
    { schema: { tags: ['groups'], summary: 'The images on the backup partition of every client of a group (as GET /clients/:id/images, one entry per client)', params: groupIdParams } },
    async (req) => admin.groupImages(req.params.id),
  );
  r.post(
    '/groups/:id/action',
    {
      schema: {
        tags: ['actions'],
        summary: 'Set an action request for every client of a group (restore: image common to all). A product that wipes disks needs "confirm": the number of PCs of the group (400 without, 409 when it differs; nothing set)',
        params: groupIdParams,
        body: groupActionBody,
      },
    },
    async (req) => admin.setGroupActionRequest(req.params.id, req.body.productId, req.body.actionRequest, req.body.properties, req.body.confirm),
  );
};
