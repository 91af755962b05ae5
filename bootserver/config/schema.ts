// The bootserver's configuration: one zod schema with every default, so an empty file (or no
// file at all) yields a working dev server. Objects are strict so a misspelt key is an error
// rather than a silently ignored setting.
import { z } from 'zod';
import { repoRoot } from '../../lib/paths.ts';
import { join } from 'node:path';
import { dhcpSettingsSchema } from '../dhcp/config.ts';

const port = z.number().int().min(1).max(65535);
const portOrZero = z.number().int().min(0).max(65535); // 0 = pick a free port (tests)

export const hostIdentifier = z.enum(['mac', 'uuid']);

export const configSchema = z
  .object({
    /** Where the embedded store (SQLite) and server state live. */
    dataDir: z.string().min(1).default(join(repoRoot, 'var', 'data')),
    store: z
      .object({
        /**
         * null = the embedded SQLite store in dataDir. postgres://user:password@host:port/database (or
         * postgres://user@/database?host=/run/postgresql for the unix socket): a PostgreSQL database
         * several servers can share (docs/multi-server.md). Its collation must be C.
         */
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// URL')
          .nullable()
          .default(null),
      })
      .strict()
      .prefault({}),
    /**
     * This bootserver's site (docs/multi-server.md): recorded on the jobs it serves and on the
     * clients it sees. null = this machine's host name (its first label, made a valid site name).
     */
    site: z
      .object({
        name: z
          .string()
          .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a site name: lower-case letters, digits and inner hyphens, at most 63 characters')
          .nullable()
          .default(null),
      })
      .strict()
      .prefault({}),
    paths: z
      .object({
        /** Loaders and boot image; served by TFTP and by HTTP under /boot/. */
        bootRoot: z.string().min(1).default(join(repoRoot, 'var', 'boot')),
        templates: z.string().min(1).default(join(repoRoot, 'templates')),
        products: z.string().min(1).default(join(repoRoot, 'products')),
      })
      .strict()
      .prefault({}),
    /** The address clients use to reach us (TFTP next-server, URLs in boot configs). null = first non-internal IPv4. */
    advertisedIp: z.ipv4().nullable().default(null),
    http: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: portOrZero.default(8080),
        /**
         * The base URL PCs reach this server at, written into installed systems (their first-boot
         * report URL), e.g. http://netimage.school.example:8080. null = the address a request
         * arrived at (bootserver/http/public-url.ts): its Host header only when that names an
         * address of this server.
         */
        publicUrl: z
          .url({ protocol: /^https?$/ })
          .refine((u) => !URL.canParse(u) || (!/[?#]/.test(u) && !new URL(u).username && !new URL(u).password), 'a base URL without user, password, query or fragment')
          .nullable()
          .default(null),
      })
      .strict()
      .prefault({}),
    /** Users' UI sessions (bootserver/auth; docs/security.md). */
    auth: z
      .object({
        /** Sessions end after this long without a request. */
        sessionIdleMinutes: z.number().int().min(1).max(24 * 60).default(60),
        /** ... and this long after login, however active. */
        sessionMaxHours: z.number().int().min(1).max(24 * 30).default(12),
        /** Mark the session cookie Secure (__Host- prefix): on when the UI is served over HTTPS (e.g. behind a TLS reverse proxy). */
        secureCookie: z.boolean().default(false),
        /** scrypt cost of new password hashes, N = 2^this (r = 8, p = 3): 15 = 32 MiB per login (OWASP's minimum). Lower only for tests. */
        scryptLog2N: z.number().int().min(10).max(20).default(15),
      })
      .strict()
      .prefault({}),
    tftp: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().default('0.0.0.0'),
        port: portOrZero.default(69),
        maxBlksize: z.number().int().min(512).max(65464).default(65464),
        maxWindowsize: z.number().int().min(1).max(256).default(64),
      })
      .strict()
      .prefault({}),
    /** The DHCP module's own schema (dhcp/config.ts): its limits and defaults hold for the file too. */
    dhcp: dhcpSettingsSchema.prefault({}),
    boot: z
      .object({
        /** Order in which a booting client is looked up, as opsi's netboot.host_identifiers. */
        hostIdentifiers: z.array(hostIdentifier).min(1).max(2).default(['mac', 'uuid']),
        /** Unknown clients get local boot unless this is on; then they are registered and run hwinvent only. */
        bootUnknownClients: z.boolean().default(false),
        /** Boots without a reported result before a job is given up (opsi loses the request on power loss; we retry). */
        maxAttempts: z.number().int().min(1).max(20).default(3),
        /**
         * Ignored since attempts are counted by agent starts (docs/architecture.md, job lifecycle):
         * still accepted so existing config files load.
         */
        sameBootWindowSeconds: z.number().int().min(0).max(600).default(20),
        /** How grub loads kernel and initrd. http needs Secure Boot off (http.mod is unsigned). */
        kernelTransport: z.enum(['tftp', 'http']).default('tftp'),
        /**
         * What grub loads as the initrd: stage 1 only (init fetches stage 2 over HTTP from this
         * server, checked against the sha256 pinned in stage 1; docs/bootimage.md "Two stages"),
         * or the whole image (a PC whose only NIC is a data-centre one).
         */
        initrd: z.enum(['single', 'two-stage']).default('two-stage'),
        /** Extra kernel arguments for the boot image (e.g. "nomodeset"). */
        extraKernelArgs: z.string().default(''),
        /** Leave a shell on the client console when the agent fails. */
        debug: z.boolean().default(false),
        /** Serial console for the boot image as well as the screen (labs, VMs). */
        serialConsole: z.boolean().default(true),
        afterJob: z.enum(['reboot', 'poweroff']).default('reboot'),
      })
      .strict()
      .prefault({}),
    depot: z
      .object({
        /** The depot (root filesystems, later Windows media and images): null = <dataDir>/depot. */
        dir: z.string().min(1).nullable().default(null),
        /**
         * A site server's main server (docs/multi-server.md): entries missing here are pulled from
         * its depot (`netimage depot pull`) and kept. url null = this server has no upstream.
         */
        upstream: z
          .object({
            url: z.url({ protocol: /^https?$/ }).nullable().default(null),
            /** An admin token of the main server (keep the config file private, as for store.url). */
            token: z.string().min(1).nullable().default(null),
          })
          .strict()
          .prefault({})
          .refine((u) => u.url === null || u.token !== null, { message: 'depot.upstream.url needs depot.upstream.token (an admin token of the main server)' }),
      })
      .strict()
      .prefault({}),
    osImages: z
      .object({
        /** Debian mirror for root filesystem builds and the default of online_repository; null = the one this server's own apt uses. */
        mirror: z.url({ protocol: /^https?$/ }).nullable().default(null),
        /** apt sources of this server, read for the default mirror. */
        aptSources: z.string().min(1).default('/etc/apt'),
        /** Minutes an installed system has to report its first boot after the agent laid it down; then the install failed. */
        firstBootTimeoutMinutes: z.number().positive().max(7 * 24 * 60).default(30),
        /** Minutes Windows setup has to report (SetupComplete.cmd) after the agent staged WinPE; then the install failed. */
        windowsSetupTimeoutMinutes: z.number().positive().max(7 * 24 * 60).default(240),
      })
      .strict()
      .prefault({}),
    // Room seeding (docs/imaging.md "Room seeding"): one multicast stream of a golden image per group action.
    seeding: z
      .object({
        /** Multicast groups: session n uses <groupPrefix>.<1 + n mod 254> (administratively scoped 239.x by default). */
        groupPrefix: z.string().regex(/^239\.\d{1,3}\.\d{1,3}$/, 'three octets of 239.0.0.0/8, e.g. 239.255.42').default('239.255.42'),
        port: port.default(9042),
        /** Payload rate of the stream; the slowest PC of the room must keep up or it catches up over HTTP. */
        rateMbit: z.number().positive().max(10_000).default(400),
        /** After the first PC of the room asks, data starts when every PC has joined or this many seconds passed. */
        joinWindowSeconds: z.number().int().min(0).max(3600).default(120),
        /** Piece size (each verified by its sha256; a piece lost in part is fetched in part over HTTP). */
        pieceKib: z.number().int().min(64).max(65536).default(1024),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    // ---- operator features (docs/admin-guide.md) ----
    wake: z
      .object({
        /** UDP port of the magic packets (9 = discard; some sites use 7). A group's own target overrides it. */
        port: port.default(9),
        /** Subnet-directed broadcast for clients whose group has no target of its own. null = that of the interface holding advertisedIp. */
        broadcast: z.ipv4().nullable().default(null),
        /** A woken PC that has not read its boot config after this many seconds is marked "did not wake". */
        timeoutSeconds: z.number().int().min(1).max(3600).default(300),
      })
      .strict()
      .prefault({}),
    schedules: z
      .object({
        /** Run schedules in this server (off: they are stored but never fire, e.g. on a standby server). */
        enabled: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    metrics: z
      .object({
        /** Serve /metrics (Prometheus text format). */
        enabled: z.boolean().default(true),
        /** Bearer token a scraper on another host must send; without it only loopback may read /metrics. Not the admin token. */
        token: z.string().min(16).nullable().default(null),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type HostIdentifier = z.infer<typeof hostIdentifier>;
