// The DHCP configuration: one zod schema, one set of limits and defaults. `dhcpSettingsSchema` is
// the `dhcp` section of the server's config file (config/schema.ts embeds it as is);
// `dhcpConfigSchema` is the same plus what the DHCP module takes from elsewhere in the server
// config (our address), used by startDhcpServer and the standalone runner.
import { z } from 'zod';
import { ipToNumber } from './codec.ts';

const ipv4 = z.ipv4();
const port = z.number().int().min(1).max(65535);

/**
 * Lease time limit: 7 days. Long enough that a lab PC keeps its address over a holiday week;
 * short enough that addresses of machines that left (replaced PCs, throw-away VMs) return to a
 * small lab pool within a week. It was the config file's limit already; only the standalone
 * runner allowed 365 days.
 */
export const MAX_LEASE_SECONDS = 7 * 24 * 3600;

const fullSchema = z
  .object({
    /** The pool; both required when mode is full. */
    rangeStart: ipv4.nullable().default(null),
    rangeEnd: ipv4.nullable().default(null),
    subnetMask: ipv4.default('255.255.255.0'),
    router: ipv4.nullable().default(null),
    dns: z.array(ipv4).default([]),
    leaseSeconds: z.number().int().min(60).max(MAX_LEASE_SECONDS).default(3600),
  })
  .strict();

const settingsShape = {
  /** proxy: answer PXE clients only next to the site's DHCP server; full: also assign addresses (isolated labs). */
  mode: z.enum(['proxy', 'full', 'off']).default('proxy'),
  /** Only answer requests arriving on this interface's networks (matched via os.networkInterfaces()) ... */
  interface: z.string().min(1).nullable().default(null),
  /** ... or whose network (relay, source, ciaddr or requested address) is in this CIDR. */
  subnet: z.cidrv4().nullable().default(null),
  /** Standard ports; tests move them. Changing 67/68/4011 in production breaks real firmware. */
  port: port.default(67),
  pxePort: port.default(4011),
  clientPort: port.default(68),
  /** iPXE clients (option 77 "iPXE" or option 175) get this URL as boot file when set. */
  ipxeScriptUrl: z.string().min(1).nullable().default(null),
  full: fullSchema.prefault({}),
};

type Settings = { mode: 'proxy' | 'full' | 'off'; full: z.output<typeof fullSchema> };

/** Full mode needs a range inside one subnet; checked here so a bad range stops the server at start. */
function checkFullMode(settings: Settings, ctx: z.RefinementCtx): void {
  if (settings.mode !== 'full') return;
  const { rangeStart, rangeEnd, subnetMask } = settings.full;
  for (const [key, value] of [['rangeStart', rangeStart], ['rangeEnd', rangeEnd]] as const) {
    if (value === null) ctx.addIssue({ code: 'custom', path: ['full', key], message: 'required when dhcp.mode is full' });
  }
  if (rangeStart === null || rangeEnd === null) return;
  const start = ipToNumber(rangeStart)!;
  const end = ipToNumber(rangeEnd)!;
  const mask = ipToNumber(subnetMask)!;
  if (start > end) ctx.addIssue({ code: 'custom', path: ['full', 'rangeStart'], message: 'must not be after rangeEnd' });
  if (((start & mask) >>> 0) !== ((end & mask) >>> 0)) {
    ctx.addIssue({ code: 'custom', path: ['full', 'rangeEnd'], message: 'must lie in the same subnet as rangeStart' });
  }
}

export const dhcpSettingsSchema = z.object(settingsShape).strict().superRefine(checkFullMode);

export const dhcpConfigSchema = z
  .object({
    ...settingsShape,
    /** Our address on the boot network: server identifier, next-server, TFTP server name. */
    serverIp: ipv4,
  })
  .strict()
  .superRefine(checkFullMode);

export type DhcpSettings = z.output<typeof dhcpSettingsSchema>;
export type DhcpConfig = z.output<typeof dhcpConfigSchema>;
export type DhcpConfigInput = z.input<typeof dhcpConfigSchema>;

export interface DhcpFullRange {
  rangeStart: string;
  rangeEnd: string;
  subnetMask: string;
  router: string | null;
  dns: string[];
  leaseSeconds: number;
}

/** The address pool's settings in full mode (the schema guarantees the range then), else null. */
export function fullRangeOf(config: DhcpSettings): DhcpFullRange | null {
  const { rangeStart, rangeEnd } = config.full;
  if (config.mode !== 'full' || rangeStart === null || rangeEnd === null) return null;
  return { ...config.full, rangeStart, rangeEnd };
}
