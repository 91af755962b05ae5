// /products and per-client property values.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { clientProductParams, productIdParams, propertyValuesBody } from '../schemas.ts';
import type { AdminApiDeps } from './deps.ts';

export const productRoutes: FastifyPluginAsyncZod<AdminApiDeps> = async (r, { admin, service }) => {
  // Windows products: imagename's choices are the images the depot has for them (medium and captured WIM).
  r.get('/products', { schema: { tags: ['products'], summary: 'Netboot products and their property definitions' } }, async () => admin.listProducts());
  r.get('/products/:productId', { schema: { tags: ['products'], summary: 'One product', params: productIdParams } }, async (req) => admin.product(req.params.productId));
  r.get(
    '/clients/:id/products/:productId/properties',
    { schema: { tags: ['properties'], summary: 'Effective property values (defaults + client values)', params: clientProductParams } },
    async (req) => admin.effectiveProperties(req.params.id, req.params.productId),
  );
  r.put(
    '/clients/:id/products/:productId/properties',
    { schema: { tags: ['properties'], summary: 'Set property values for one client', params: clientProductParams, body: propertyValuesBody } },
    async (req) => service.setClientProperties(req.params.id, req.params.productId, req.body.values),
  );
};
