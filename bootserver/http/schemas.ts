// zod schemas of the admin API's inputs (params, queries, bodies). Everything that enters over
// HTTP is checked here before a handler runs; a failure is a 400 and nothing is written.
import { z } from 'zod';
import { actionRequest, macAddress, propertyValue, smbiosUuid } from '../../lib/agent-protocol.ts';
import { isPlaceholderUuid, isUnusableMac, PLACEHOLDER_UUID_MESSAGE, UNUSABLE_MAC_MESSAGE } from '../service/hardware-ids.ts';
import { PRODUCT_ID_MAX, PRODUCT_ID_PATTERN } from '../../lib/products.ts';

export const clientId = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(
    z
      .string()
      .max(253)
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'a host name like pc01 or pc01.school.example (letters, digits, hyphens, dots)'),
  );

export const groupId = z
  .string()
  .trim()
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a group name of letters, digits, dot, underscore or hyphen (e.g. room-101)');

export const productId = z.string().max(PRODUCT_ID_MAX).regex(PRODUCT_ID_PATTERN, 'a product id like opsi-local-image-restore');

export const clientIdParams = z.object({ id: clientId });
export const groupIdParams = z.object({ id: groupId });
export const clientProductParams = z.object({ id: clientId, productId });
export const productIdParams = z.object({ productId });

/** A PC's identity as an admin registers it: a placeholder would match other PCs (service/hardware-ids.ts). */
export const pcMac = z.preprocess(
  // Inventory exports and switches write MACs without colons (525400aabb01) or Cisco-style (5254.00aa.bb01).
  (v) => (typeof v === 'string' && /^([0-9a-f]{12}|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4})$/i.test(v.trim()) ? v.trim().replace(/\./g, '').match(/../g)!.join(':') : v),
  macAddress.refine((m) => !isUnusableMac(m), { error: (i) => `${String(i.input)} ${UNUSABLE_MAC_MESSAGE}` }),
);
export const pcUuid = smbiosUuid.refine((u) => !isPlaceholderUuid(u), { error: (i) => `${String(i.input)} ${PLACEHOLDER_UUID_MESSAGE}` });

export const createClientBody = z
  .object({
    id: clientId,
    mac: pcMac.nullable().optional(),
    uuid: pcUuid.nullable().optional(),
    group: groupId.nullable().optional(),
    description: z.string().max(500).optional(),
    notes: z.string().max(10000).optional(),
  })
  .strict()
  .refine((b) => b.mac || b.uuid, { message: 'a client needs a MAC or an SMBIOS UUID to be recognised at boot', path: ['mac'] });

export const updateClientBody = z
  .object({
    mac: pcMac.nullable().optional(),
    uuid: pcUuid.nullable().optional(),
    group: groupId.nullable().optional(),
    description: z.string().max(500).optional(),
    notes: z.string().max(10000).optional(),
  })
  .strict();

export const listClientsQuery = z.object({ group: groupId.optional() }).strict();

export const createGroupBody = z.object({ id: groupId, description: z.string().max(500).default('') }).strict();

export const propertyValuesBody = z.object({ values: z.record(z.string().max(64), propertyValue) }).strict();

export const actionBody = z
  .object({
    actionRequest,
    properties: z.record(z.string().max(64), propertyValue).default({}),
  })
  .strict();

export const groupActionBody = z
  .object({
    productId,
    actionRequest,
    properties: z.record(z.string().max(64), propertyValue).default({}),
    /** For a product that wipes disks: the number of PCs of the group, as shown to whoever confirmed (service/wipe-confirmation.ts). */
    confirm: z.number().int().min(0).max(100_000).optional(),
  })
  .strict();

export const jobStates = z.enum(['booting', 'running', 'succeeded', 'failed', 'exhausted', 'cancelled']);

export const listJobsQuery = z
  .object({
    client: clientId.optional(),
    /** Jobs of the group's PCs. */
    group: groupId.optional(),
    /** At most this many of each PC's newest jobs. */
    per_client: z.coerce.number().int().min(1).max(100).optional(),
    product: productId.optional(),
    state: z
      .string()
      .transform((s) => s.split(',').filter((x) => x))
      .pipe(z.array(jobStates))
      .optional(),
    limit: z.coerce.number().int().min(1).max(5000).default(100),
  })
  .strict();

export const jobIdParams = z.object({ id: z.uuid() });

export const jobEventsQuery = z
  .object({
    /** Only the newest N events (still oldest first): a running job's latest lines, whatever came before. */
    tail: z.coerce.number().int().min(1).max(10_000).optional(),
  })
  .strict();

export const eventsQuery = z
  .object({
    job: z.uuid().optional(),
    client: clientId.optional(),
    /** Only the PCs of this group (room). */
    group: groupId.optional(),
    /** From POST /api/v1/events/tickets; checked by the route's auth hook. */
    ticket: z.string().optional(),
  })
  .strict();

export const productStatesQuery = z.object({ group: groupId.optional(), client: clientId.optional(), product: productId.optional() }).strict();
