// /clients: the client registry and its CSV bulk import.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BadRequestError } from '../errors.ts';
import { parseClientCsv } from '../csv-import.ts';
import { clientIdParams, createClientBody, listClientsQuery, updateClientBody } from '../schemas.ts';
import { clientView, type AdminApiDeps } from './deps.ts';

/** Bad lines named in a refused import's message. */
const CSV_ERRORS_SHOWN = 5;

export const clientRoutes: FastifyPluginAsyncZod<AdminApiDeps> = async (r, { admin, service, wake }) => {
  // With Wake-on-LAN running, a client's view carries its latest wake ("did not wake" shows here).
  const withWake = async <T extends { id: string }>(clients: T[]) => (wake ? wake.withWakeStatus(clients) : clients);
  r.get('/clients', { schema: { tags: ['clients'], summary: 'List clients', querystring: listClientsQuery } }, async (req) => {
    return withWake((await admin.listClients(req.query)).map(clientView));
  });
  r.post('/clients', { schema: { tags: ['clients'], summary: 'Register a client by MAC and/or SMBIOS UUID', body: createClientBody } }, async (req, reply) => {
    const b = req.body;
    const client = await admin.createClient({ id: b.id, mac: b.mac ?? null, uuid: b.uuid ?? null, group: b.group ?? null, description: b.description ?? '', notes: b.notes ?? '' });
    return reply.status(201).send(clientView(client));
  });
  r.post(
    '/clients/import',
    { schema: { tags: ['clients'], summary: 'Bulk import clients from CSV: hostname,mac,uuid,group[,description]. All or nothing; missing groups are created.', body: z.string() } },
    async (req, reply) => {
      const { rows, errors } = parseClientCsv(req.body);
      // The first few bad lines: a wrong file (not the room's CSV) must not answer with one error per line of it.
      if (errors.length) {
        const more = errors.length > CSV_ERRORS_SHOWN ? `; and ${errors.length - CSV_ERRORS_SHOWN} more bad line(s)` : '';
        throw new BadRequestError(`CSV refused, nothing imported: ${errors.slice(0, CSV_ERRORS_SHOWN).join('; ')}${more}`);
      }
      if (rows.length === 0) throw new BadRequestError('CSV holds no clients');
      const { clients, createdGroups } = await admin.importClients(rows);
      return reply.status(201).send({ imported: clients.length, clients, createdGroups });
    },
  );
  r.get('/clients/:id', { schema: { tags: ['clients'], summary: 'One client', params: clientIdParams } }, async (req) => {
    return (await withWake([clientView(await service.requireClient(req.params.id))]))[0];
  });
  r.get('/clients/:id/images', { schema: { tags: ['clients'], summary: 'The images on the backup partition of one client: name, size, date, source partition, format', params: clientIdParams } }, async (req) => {
    return admin.clientImages(req.params.id);
  });
  r.patch('/clients/:id', { schema: { tags: ['clients'], summary: 'Change a client', params: clientIdParams, body: updateClientBody } }, async (req) => {
    return clientView(await admin.updateClient(req.params.id, req.body));
  });
  r.delete('/clients/:id', { schema: { tags: ['clients'], summary: 'Remove a client', params: clientIdParams } }, async (req, reply) => {
    await admin.deleteClient(req.params.id);
    return reply.status(204).send();
  });
};
