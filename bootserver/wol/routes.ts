// Admin API for Wake-on-LAN: wake a client or a group now, see and set a group's target.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Store } from '../store/types.ts';
import { StoreNotFoundError } from '../store/types.ts';
import { clientIdParams, groupIdParams } from '../http/schemas.ts';
import type { WakeService } from './service.ts';

export const wakeTargetBody = z
  .object({
    /** The group's subnet-directed broadcast, e.g. 10.1.101.255 for 10.1.101.0/24. */
    broadcast: z.ipv4().refine((ip) => reachesPcs(ip), { error: (issue) => `${String(issue.input)} reaches no PC (unspecified, multicast or reserved): give the room's subnet-directed broadcast, e.g. 10.1.101.255` }),
    port: z.number().int().min(1).max(65535).default(9),
  })
  .strict();

/** 0.0.0.0/8 (this host), 224.0.0.0/4 (multicast) and 240.0.0.0/4 (reserved) but the limited broadcast. */
function reachesPcs(ip: string): boolean {
  const octets = ip.split('.').map(Number);
  // Not an address at all: z.ipv4() says so, once.
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return true;
  const first = octets[0]!;
  return ip === '255.255.255.255' || (first !== 0 && first < 224);
}

export const wakeListQuery = z.object({ status: z.enum(['waiting', 'woke', 'did_not_wake']).optional() }).strict();

/** Routes under the admin prefix; the caller has installed the admin auth hook. */
export function registerWakeRoutes(api: FastifyInstance, deps: { store: Store; wake: WakeService }): void {
  const r = api.withTypeProvider<ZodTypeProvider>();
  const { store, wake } = deps;
  r.post('/clients/:id/wake', { schema: { tags: ['wake'], summary: 'Send a Wake-on-LAN packet to one client now', params: clientIdParams } }, async (req) => wake.wakeClient(req.params.id, 'api'));
  r.post('/groups/:id/wake', { schema: { tags: ['wake'], summary: 'Send Wake-on-LAN packets to every client of a group', params: groupIdParams } }, async (req) => wake.wakeGroup(req.params.id, 'api'));
  r.get('/wake', { schema: { tags: ['wake'], summary: 'Latest wake of each client (waiting, woke, did_not_wake)', querystring: wakeListQuery } }, async (req) =>
    store.listWakeRecords(req.query.status ? { status: req.query.status } : {}),
  );
  r.get('/groups/:id/wake-target', { schema: { tags: ['wake'], summary: "Where the group's packets go (its own target or the server default)", params: groupIdParams } }, async (req) => {
    if (!(await store.getGroup(req.params.id))) throw new StoreNotFoundError(`group ${req.params.id} not found`);
    const own = await store.getGroupWakeTarget(req.params.id);
    if (own) return { ...own, from: 'group' as const };
    return { groupId: req.params.id, broadcast: wake.defaultBroadcast, port: deps.wake.defaultPort, from: 'default' as const, ...(wake.defaultProblem ? { problem: wake.defaultProblem } : {}) };
  });
  r.put('/groups/:id/wake-target', { schema: { tags: ['wake'], summary: "Set the group's subnet-directed broadcast and port", params: groupIdParams, body: wakeTargetBody } }, async (req) => {
    await store.setGroupWakeTarget(req.params.id, req.body);
    return { groupId: req.params.id, ...req.body, from: 'group' as const };
  });
  r.delete('/groups/:id/wake-target', { schema: { tags: ['wake'], summary: "Remove the group's own target (the server default applies)", params: groupIdParams } }, async (req, reply) => {
    await store.setGroupWakeTarget(req.params.id, null);
    return reply.status(204).send();
  });
}
