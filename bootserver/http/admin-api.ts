// The admin API under /api/v1: clients, groups, products, properties, action requests,
// product states, jobs and a server-sent event stream of job progress. Every route needs the
// admin bearer token and validates its input with zod before it runs.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Store, Client } from '../store/types.ts';
import type { NetbootService } from '../service/netboot.ts';
import type { ClientNotice, ClientNoticeBus, JobEventBus, LiveJobEvent } from '../service/event-bus.ts';
import { withWake } from '../wol/routes.ts';
import { effectivePropertyValues } from '../products/properties.ts';
import { adminAuth } from './auth.ts';
import { BadRequestError } from './errors.ts';
import { parseClientCsv } from './csv-import.ts';
import {
  actionBody,
  clientIdParams,
  clientProductParams,
  createClientBody,
  createGroupBody,
  eventsQuery,
  groupActionBody,
  groupIdParams,
  jobIdParams,
  listClientsQuery,
  listJobsQuery,
  productIdParams,
  productStatesQuery,
  propertyValuesBody,
  updateClientBody,
} from './schemas.ts';

export interface AdminApiDeps {
  store: Store;
  service: NetbootService;
  bus: JobEventBus;
  /** Client notices (did not wake) for the event stream. */
  notices?: ClientNoticeBus;
}

function clientView(c: Client) {
  const { inventory, ...rest } = c;
  return { ...rest, hasInventory: inventory !== null };
}

export async function registerAdminApi(app: FastifyInstance, deps: AdminApiDeps): Promise<void> {
  const { store, service, bus } = deps;

  await app.register(
    async (api) => {
      const r = api.withTypeProvider<ZodTypeProvider>();
      api.addHook('onRequest', adminAuth(store, { allowQueryToken: true }));
      api.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string', bodyLimit: 5 * 1024 * 1024 }, (_req, body, done) => done(null, body));

      // ---- clients ----
      r.get('/clients', { schema: { tags: ['clients'], summary: 'List clients', querystring: listClientsQuery } }, async (req) => {
        return withWake(store, (await store.listClients(req.query.group ? { group: req.query.group } : {})).map(clientView));
      });
      r.post('/clients', { schema: { tags: ['clients'], summary: 'Register a client by MAC and/or SMBIOS UUID', body: createClientBody } }, async (req, reply) => {
        const b = req.body;
        const client = await store.createClient({ id: b.id, mac: b.mac ?? null, uuid: b.uuid ?? null, group: b.group ?? null, description: b.description ?? '', notes: b.notes ?? '' });
        return reply.status(201).send(clientView(client));
      });
      r.post(
        '/clients/import',
        { schema: { tags: ['clients'], summary: 'Bulk import clients from CSV: hostname,mac,uuid,group[,description]. All or nothing; missing groups are created.', body: z.string() } },
        async (req, reply) => {
          const { rows, errors } = parseClientCsv(req.body);
          if (errors.length) throw new BadRequestError(`CSV refused, nothing imported: ${errors.join('; ')}`);
          if (rows.length === 0) throw new BadRequestError('CSV holds no clients');
          const created = await store.transaction(async (tx) => {
            for (const g of new Set(rows.map((r) => r.group).filter((g): g is string => g !== null))) {
              if (!(await tx.getGroup(g))) await tx.createGroup({ id: g, description: '' });
            }
            const out: string[] = [];
            for (const row of rows) {
              try {
                await tx.createClient({ id: row.id, mac: row.mac, uuid: row.uuid, group: row.group, description: row.description });
              } catch (error) {
                throw Object.assign(error as Error, { message: `line ${row.line}: ${(error as Error).message}; nothing imported` });
              }
              out.push(row.id);
            }
            return out;
          });
          return reply.status(201).send({ imported: created.length, clients: created });
        },
      );
      r.get('/clients/:id', { schema: { tags: ['clients'], summary: 'One client', params: clientIdParams } }, async (req) => {
        return (await withWake(store, [clientView(await service.requireClient(req.params.id))]))[0];
      });
      r.patch('/clients/:id', { schema: { tags: ['clients'], summary: 'Change a client', params: clientIdParams, body: updateClientBody } }, async (req) => {
        return clientView(await store.updateClient(req.params.id, req.body));
      });
      r.delete('/clients/:id', { schema: { tags: ['clients'], summary: 'Remove a client', params: clientIdParams } }, async (req, reply) => {
        await store.deleteClient(req.params.id);
        return reply.status(204).send();
      });
      r.get('/clients/:id/inventory', { schema: { tags: ['clients'], summary: 'Hardware inventory (from hwinvent)', params: clientIdParams } }, async (req, reply) => {
        const client = await service.requireClient(req.params.id);
        if (client.inventory === null) return reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `no inventory for ${client.id} yet: run hwinvent` });
        return client.inventory;
      });

      // ---- groups ----
      r.get('/groups', { schema: { tags: ['groups'], summary: 'List groups' } }, async () => {
        const groups = await store.listGroups();
        return Promise.all(groups.map(async (g) => ({ ...g, clients: (await store.listClients({ group: g.id })).map((c) => c.id) })));
      });
      r.post('/groups', { schema: { tags: ['groups'], summary: 'Create a group (room)', body: createGroupBody } }, async (req, reply) => {
        return reply.status(201).send(await store.createGroup(req.body));
      });
      r.delete('/groups/:id', { schema: { tags: ['groups'], summary: 'Delete a group (clients stay, ungrouped)', params: groupIdParams } }, async (req, reply) => {
        await store.deleteGroup(req.params.id);
        return reply.status(204).send();
      });
      r.post(
        '/groups/:id/action',
        { schema: { tags: ['actions'], summary: 'Set an action request for every client of a group (restore: image common to all)', params: groupIdParams, body: groupActionBody } },
        async (req) => service.setGroupActionRequest(req.params.id, req.body.productId, req.body.actionRequest, req.body.properties),
      );

      // ---- products and properties ----
      r.get('/products', { schema: { tags: ['products'], summary: 'Netboot products and their property definitions' } }, async () => store.listProducts());
      r.get('/products/:productId', { schema: { tags: ['products'], summary: 'One product', params: productIdParams } }, async (req) => service.requireProduct(req.params.productId));
      r.get(
        '/clients/:id/products/:productId/properties',
        { schema: { tags: ['properties'], summary: 'Effective property values (defaults + client values)', params: clientProductParams } },
        async (req) => {
          await service.requireClient(req.params.id);
          const product = await service.requireProduct(req.params.productId);
          return effectivePropertyValues(product, await store.getPropertyValues(req.params.id, product.id));
        },
      );
      r.put(
        '/clients/:id/products/:productId/properties',
        { schema: { tags: ['properties'], summary: 'Set property values for one client', params: clientProductParams, body: propertyValuesBody } },
        async (req) => service.setClientProperties(req.params.id, req.params.productId, req.body.values),
      );

      // ---- action requests and states ----
      r.put(
        '/clients/:id/products/:productId/action',
        { schema: { tags: ['actions'], summary: 'Set the action request of a product for one client', params: clientProductParams, body: actionBody } },
        async (req) => service.setActionRequest(req.params.id, req.params.productId, req.body.actionRequest, req.body.properties),
      );
      r.get('/clients/:id/products', { schema: { tags: ['states'], summary: 'Product states of a client (opsi productOnClient)', params: clientIdParams } }, async (req) => {
        await service.requireClient(req.params.id);
        const products = await store.listProducts();
        return Promise.all(products.map((p) => service.productState(req.params.id, p.id)));
      });
      r.get('/product-states', { schema: { tags: ['states'], summary: 'Product states across clients', querystring: productStatesQuery } }, async (req) => {
        const q = req.query;
        const clients = q.client ? [await service.requireClient(q.client)] : await store.listClients(q.group ? { group: q.group } : {});
        const rows = [];
        for (const c of clients) rows.push(...(await store.listProductOnClients({ clientId: c.id, ...(q.product ? { productId: q.product } : {}) })));
        return rows;
      });

      // ---- jobs ----
      r.get('/jobs', { schema: { tags: ['jobs'], summary: 'Jobs, newest first', querystring: listJobsQuery } }, async (req) => {
        const q = req.query;
        const jobs = await store.listJobs({ limit: q.limit, ...(q.client ? { clientId: q.client } : {}), ...(q.product ? { productId: q.product } : {}), ...(q.state ? { states: q.state } : {}) });
        return jobs.map(({ tokenHash: _omit, ...j }) => j);
      });
      r.get('/jobs/:id', { schema: { tags: ['jobs'], summary: 'One job', params: jobIdParams } }, async (req, reply) => {
        const job = await store.getJob(req.params.id);
        if (!job) return reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `job ${req.params.id} not found` });
        const { tokenHash: _omit, ...rest } = job;
        return rest;
      });
      r.get('/jobs/:id/events', { schema: { tags: ['jobs'], summary: 'Progress and log events of a job', params: jobIdParams } }, async (req) => service.jobEvents(req.params.id));
      r.get('/jobs/:id/log', { schema: { tags: ['jobs'], summary: "The agent's full log (text)", params: jobIdParams } }, async (req, reply) => {
        const text = await store.getJobLog(req.params.id);
        if (text === null) return reply.status(404).send({ statusCode: 404, error: 'Not Found', message: 'no log uploaded for this job' });
        return reply.header('content-type', 'text/plain; charset=utf-8').send(text);
      });

      // ---- live progress (server-sent events) ----
      r.get('/events', { schema: { tags: ['jobs'], summary: 'Server-sent events: job progress as it happens (?job= replays that job first)', querystring: eventsQuery } }, async (req, reply) => {
        const { job: jobFilter, client: clientFilter } = req.query;
        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        raw.write('retry: 2000\n\n');
        const send = (e: LiveJobEvent) => raw.write(`id: ${e.id}\nevent: job\ndata: ${JSON.stringify(e)}\n\n`);
        let lastId = 0;
        const buffered: LiveJobEvent[] = [];
        let replaying = true;
        const matches = (e: LiveJobEvent) => (!jobFilter || e.jobId === jobFilter) && (!clientFilter || e.clientId === clientFilter);
        const unsubscribe = bus.subscribe((e) => {
          if (!matches(e)) return;
          if (replaying) buffered.push(e);
          else if (e.id > lastId) {
            lastId = e.id;
            send(e);
          }
        });
        // Client notices (did not wake) go live only; a job filter leaves them out.
        const unsubscribeNotices = deps.notices?.subscribe((n: ClientNotice) => {
          if (!jobFilter && (!clientFilter || n.clientId === clientFilter)) raw.write(`event: client\ndata: ${JSON.stringify(n)}\n\n`);
        });
        const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), 15000);
        req.raw.on('close', () => {
          clearInterval(heartbeat);
          unsubscribe();
          unsubscribeNotices?.();
        });
        if (jobFilter) {
          const job = await store.getJob(jobFilter);
          if (job) {
            for (const e of await store.listJobEvents(job.id)) {
              lastId = e.id;
              send({ ...e, clientId: job.clientId, productId: job.productId });
            }
          }
        }
        replaying = false;
        for (const e of buffered) if (e.id > lastId) {
          lastId = e.id;
          send(e);
        }
      });
    },
    { prefix: '/api/v1' },
  );
}
