// /clients/:id/inventory: the hardware inventory hwinvent uploaded.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { clientIdParams } from '../schemas.ts';
import type { AdminApiDeps } from './deps.ts';

export const inventoryRoutes: FastifyPluginAsyncZod<AdminApiDeps> = async (r, { admin }) => {
  r.get('/clients/:id/inventory', { schema: { tags: ['clients'], summary: 'Hardware inventory (from hwinvent)', params: clientIdParams } }, async (req) => admin.inventory(req.params.id));
};
