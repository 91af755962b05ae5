// Action requests of one client and product states (opsi productOnClient).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { actionBody, clientIdParams, clientProductParams, productStatesQuery } from '../schemas.ts';
import type { AdminApiDeps } from './deps.ts';

export const actionRoutes: FastifyPluginAsyncZod<AdminApiDeps> = async (r, { admin, service }) => {
  r.put(
    '/clients/:id/products/:productId/action',
    { schema: { tags: ['actions'], summary: 'Set the action request of a product for one client', params: clientProductParams, body: actionBody } },
    async (req) => service.setActionRequest(req.params.id, req.params.productId, req.body.actionRequest, req.body.properties),
  );
  r.get('/clients/:id/products', { schema: { tags: ['states'], summary: "Product states of a client (opsi productOnClient); managedBy 'os' marks products netimage does not run (e.g. windomain)", params: clientIdParams } }, async (req) =>
    admin.clientProductStates(req.params.id),
  );
  r.get('/product-states', { schema: { tags: ['states'], summary: "Product states across clients (managedBy as for one client's)", querystring: productStatesQuery } }, async (req) => admin.productStates(req.query));
};
