// DHCP section of the server configuration. The caller validates with this schema; defaults make
// an empty object a working proxyDHCP configuration apart from serverIp.
import { z } from 'zod';
import { ipToNumber } from './codec.ts';

const ipv4 = z.string().refine((s) => ipToNumber(s) !== undefined, { message: 'expected an IPv4 address' });
const cidr = z.string().refine(
  (s) => {
    const [ip, bits, ...rest] = s.split('/');
    return rest.length === 0 && ip !== undefined && ipToNumber(ip) !== undefined && bits !== undefined && /^\d+$/.test(bits) && Number(bits) <= 32;
  },
  { message: 'expected CIDR like 10.0.0.0/24' },
);
const port = z.number().int().min(1).max(65535);

export const dhcpFullSchema = z
  .object({
    rangeStart: ipv4,
    rangeEnd: ipv4,
    subnetMask: ipv4,
    router: ipv4.optional(),
    dns: z.array(ipv4).default([]),
    leaseSeconds: z.number().int().min(60).max(365 * 24 * 3600).default(3600),
  })
  .refine((f) => ipToNumber(f.rangeStart)! <= ipToNumber(f.rangeEnd)!, { message: 'rangeStart must not be after rangeEnd' })
  .refine(
    (f) => {
      const mask = ipToNumber(f.subnetMask)!;
      return ((ipToNumber(f.rangeStart)! & mask) >>> 0) === ((ipToNumber(f.rangeEnd)! & mask) >>> 0);
    },
    { message: 'rangeStart and rangeEnd must lie in the same subnet' },
  );

export const dhcpConfigSchema = z
  .object({
    /** proxy: PXE answers only, beside the site's DHCP server. full: we are the DHCP server (isolated labs). */
    mode: z.enum(['proxy', 'full', 'off']).default('proxy'),
    /** Our address on the boot network: server identifier, next-server, TFTP/HTTP host in boot URLs. */
    serverIp: ipv4,
    httpPort: port.default(8080),
    /** Only answer requests from this interface's networks (matched via os.networkInterfaces()). */
    interface: z.string().min(1).optional(),
    /** Only answer requests whose network (relay, source, ciaddr or requested address) is in this CIDR. */
    subnet: cidr.optional(),
    /** Standard ports; tests move them. Changing 67/68/4011 in production breaks real firmware. */
    ports: z
      .object({ server: port.default(67), pxe: port.default(4011), client: port.default(68) })
      .prefault({}),
    /** iPXE clients (option 77 "iPXE" or option 175) get this URL as boot file when set. */
    ipxeScriptUrl: z.string().min(1).nullable().default(null),
    full: dhcpFullSchema.optional(),
  })
  .refine((c) => c.mode !== 'full' || c.full !== undefined, { message: 'mode "full" needs the "full" section', path: ['full'] });

export type DhcpConfig = z.output<typeof dhcpConfigSchema>;
export type DhcpConfigInput = z.input<typeof dhcpConfigSchema>;
