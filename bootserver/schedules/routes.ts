// Admin API for schedules: create (one-shot --at, or recurring --every/--cron), list, show with
// recent runs, change (enable, policy), delete. Input is checked before anything is stored.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actionRequest, propertyValue } from '../../lib/agent-protocol.ts';
import type { Schedule, Store } from '../store/types.ts';
import { StoreNotFoundError } from '../store/types.ts';
import { clientId, groupId, productId } from '../http/schemas.ts';
import { PropertyValidationError, validatePropertyValues } from '../products/properties.ts';
import { closestId } from '../products/closest-id.ts';
import { checkWipeConfirmation } from '../service/wipe-confirmation.ts';
import { isSecretProperty } from '../products/secret-properties.ts';
import { checkCron, checkTimezone, everyToCron, nextRunAfter, onceInstant, ScheduleSpecError } from './timing.ts';
import { formatInZone, hasOffset, normalizeWallTime, timeZoneName } from '../../lib/zoned-time.ts';
import type { Clock, Scheduler } from './scheduler.ts';

const scheduleName = z
  .string()
  .trim()
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a schedule name of letters, digits, dot, underscore or hyphen (e.g. room101-morning)');

export const createScheduleBody = z
  .object({
    name: scheduleName,
    /**
     * One-shot: a wall time in `timezone` ("2026-12-02T07:00" or "2026-12-02 07:00"; kept as typed,
     * the scheduler works out the instant), or an instant (ISO with offset or Z).
     */
    at: z
      .union([z.iso.datetime({ offset: true }), z.string().max(40).refine((v) => normalizeWallTime(v) !== null)], {
        error: 'at: a wall time like 2026-12-02T07:00 (read in timezone) or an ISO time with offset',
      })
      .optional(),
    /** Recurring, short form: "weekdays 07:00", "daily 18:30", "mon,wed 07:15". */
    every: z.string().max(100).optional(),
    /** Recurring, cron: "0 7 * * 1-5" (minute hour day month weekday). */
    cron: z.string().max(100).optional(),
    /** IANA zone of a wall-time `at`, every and cron; default (null) the server's. */
    timezone: timeZoneName.nullable().default(null),
    target: z.discriminatedUnion('kind', [z.object({ kind: z.literal('client'), id: clientId }).strict(), z.object({ kind: z.literal('group'), id: groupId }).strict()]),
    productId: productId.nullable().default(null),
    actionRequest: actionRequest.default('setup'),
    properties: z.record(z.string().max(64), propertyValue).default({}),
    wake: z.boolean().default(false),
    missedPolicy: z.enum(['skip', 'run-once']).default('skip'),
    /** run-once: how late a missed run may still start (default 1 h). */
    lateWindowSeconds: z.number().int().min(0).max(7 * 24 * 3600).default(3600),
    enabled: z.boolean().default(true),
    /**
     * A group schedule of a product that wipes disks: the number of PCs the group has now, as for a
     * group action (docs/security.md "Wipe confirmation"); each run acts on the PCs the group has then.
     */
    confirm: z.number().int().min(0).max(100_000).optional(),
  })
  .strict()
  .refine((b) => [b.at, b.every, b.cron].filter((v) => v !== undefined).length === 1, { message: 'give exactly one of at, every, cron', path: ['at'] })
  .refine((b) => b.productId !== null || b.wake, { message: 'a schedule needs a product, wake, or both', path: ['productId'] });

export const updateScheduleBody = z
  .object({
    enabled: z.boolean().optional(),
    wake: z.boolean().optional(),
    missedPolicy: z.enum(['skip', 'run-once']).optional(),
    lateWindowSeconds: z.number().int().min(0).max(7 * 24 * 3600).optional(),
  })
  .strict();

const nameParams = z.object({ name: z.string().max(64) });

async function requireSchedule(store: Store, name: string): Promise<Schedule> {
  const s = await store.getSchedule(name);
  if (!s) throw new StoreNotFoundError(`schedule ${name} not found`);
  return s;
}

/** The stored record for a create request; throws ScheduleSpecError (400) for a bad time spec. Pure but for the store checks. */
async function buildSchedule(store: Store, body: z.infer<typeof createScheduleBody>, now: Date): Promise<Schedule> {
  if (body.target.kind === 'client' ? !(await store.getClient(body.target.id)) : !(await store.getGroup(body.target.id))) {
    throw new StoreNotFoundError(`${body.target.kind} ${body.target.id} not found`);
  }
  if (body.productId) {
    const product = await store.getProduct(body.productId);
    if (!product) {
      const near = closestId(body.productId, (await store.listProducts()).map((p) => p.id));
      throw new StoreNotFoundError(`product ${body.productId} not found${near ? `; did you mean ${near}?` : ''}`);
    }
    validatePropertyValues(product, body.properties, { allowReadOnly: false });
    if (body.target.kind === 'group') {
      // As for a group action: an empty group has nothing to confirm (yet).
      const clients = (await store.listClients({ group: body.target.id })).map((c) => c.id);
      if (clients.length) checkWipeConfirmation(body.target.id, body.productId, body.actionRequest, clients, body.confirm, body.properties, 'no schedule added');
    }
  }
  // A schedule keeps its properties as given (and shows them): no place for a password. The
  // client's own stored (hashed or sealed) value is what the scheduled action uses.
  const secrets = Object.keys(body.properties).filter(isSecretProperty);
  if (secrets.length) {
    throw new PropertyValidationError(`${secrets.join(', ')} cannot be part of a schedule (its properties are stored and shown as given): set it on the clients first (netimage props, PUT /api/v1/clients/<id>/products/${body.productId ?? '<product>'}/properties) and schedule without it`);
  }
  const timezone = checkTimezone(body.timezone);
  const cron = body.every !== undefined ? everyToCron(body.every) : (body.cron ?? null);
  if (cron !== null) checkCron(cron, timezone, now);
  // An offset names the instant; a wall time is kept as typed (with its zone) and the instant
  // (`at`, shown by the API) is what it is under today's rules.
  const atLocal = body.at !== undefined && !hasOffset(body.at) ? normalizeWallTime(body.at) : null;
  const at = atLocal !== null ? onceInstant({ kind: 'once', at: null, atLocal, cron: null, timezone }).toISOString() : body.at !== undefined ? new Date(body.at).toISOString() : null;
  if (at !== null && Date.parse(at) <= now.getTime()) {
    throw new ScheduleSpecError(`at ${body.at}${atLocal !== null ? ` (${timezone ?? 'the server\'s zone'}: ${formatInZone(at, timezone)})` : ''} is in the past`);
  }
  const kind = at !== null ? 'once' : 'cron';
  const nextRun = nextRunAfter({ kind, at, atLocal, cron, timezone }, now);
  const ts = now.toISOString();
  return {
    id: randomUUID(),
    name: body.name,
    kind,
    at,
    atLocal,
    cron,
    timezone,
    target: body.target,
    productId: body.productId,
    actionRequest: body.actionRequest,
    properties: body.properties,
    wake: body.wake,
    missedPolicy: body.missedPolicy,
    lateWindowSeconds: body.lateWindowSeconds,
    enabled: body.enabled,
    nextRun: nextRun?.toISOString() ?? null,
    lastRun: null,
    created: ts,
    modified: ts,
  };
}

export function registerScheduleRoutes(api: FastifyInstance, deps: { store: Store; scheduler: Scheduler; clock: Clock }): void {
  const r = api.withTypeProvider<ZodTypeProvider>();
  const { store, scheduler, clock } = deps;
  r.get('/schedules', { schema: { tags: ['schedules'], summary: 'Schedules, by name' } }, async () => store.listSchedules());
  r.post('/schedules', { schema: { tags: ['schedules'], summary: 'Add a one-shot (at) or recurring (every / cron) schedule', body: createScheduleBody } }, async (req, reply) => {
    const schedule = await store.createSchedule(await buildSchedule(store, req.body, clock.now()));
    scheduler.poke();
    return reply.status(201).send(schedule);
  });
  r.get('/schedules/:name', { schema: { tags: ['schedules'], summary: 'One schedule with its last runs', params: nameParams } }, async (req) => {
    const s = await requireSchedule(store, req.params.name);
    return { ...s, runs: await store.listScheduleRuns(s.id, { limit: 20 }) };
  });
  r.patch('/schedules/:name', { schema: { tags: ['schedules'], summary: 'Enable/disable a schedule or change its wake and missed-run policy', params: nameParams, body: updateScheduleBody } }, async (req) => {
    const s = await requireSchedule(store, req.params.name);
    const now = clock.now();
    const next: Schedule = { ...s, ...req.body, modified: now.toISOString() };
    // Re-enabling starts from now: runs that came due while it was off are not made up.
    if (req.body.enabled === true && !s.enabled) next.nextRun = nextRunAfter(s, now)?.toISOString() ?? null;
    await store.updateSchedule(next);
    scheduler.poke();
    return next;
  });
  r.delete('/schedules/:name', { schema: { tags: ['schedules'], summary: 'Remove a schedule (and its run history)', params: nameParams } }, async (req, reply) => {
    await store.deleteSchedule((await requireSchedule(store, req.params.name)).id);
    scheduler.poke();
    return reply.status(204).send();
  });
}
