// The wire contract between the agent (inside the boot image) and the bootserver's agent API.
// Both sides validate with these schemas, so a change here is a protocol change.
//
// Every call carries `Authorization: Bearer <one-time job token>` taken from the kernel command
// line (netimage.token=...). The token is issued when the client reads its boot config for this
// boot attempt and dies when the job ends or the next attempt starts.
import { z } from 'zod';

export const AGENT_API_PREFIX = '/agent/v1';

/** Kernel command line keys the boot config passes to the boot image. */
export const KERNEL_ARGS = {
  server: 'netimage.server', // base URL of the bootserver, e.g. http://10.0.0.1:8080
  job: 'netimage.job', // job id
  token: 'netimage.token', // one-time token (32 hex chars)
  mac: 'netimage.mac', // MAC the client PXE-booted from (aa:bb:cc:dd:ee:ff)
  debug: 'netimage.debug', // 1 = leave a shell on agent failure
} as const;

export const macAddress = z
  .string()
  .transform((s) => s.trim().toLowerCase().replace(/-/g, ':'))
  .pipe(z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'a MAC address like 52:54:00:12:34:56'));

export const smbiosUuid = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'an SMBIOS UUID like 8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d'));

/** A property value as stored: opsi properties are strings, booleans or lists of strings. */
export const propertyValue = z.union([z.string(), z.boolean(), z.array(z.string())]);
export type PropertyValue = z.infer<typeof propertyValue>;

export const actionRequest = z.enum(['setup', 'uninstall', 'update', 'always', 'once', 'custom', 'none']);
export type ActionRequest = z.infer<typeof actionRequest>;

/** GET /agent/v1/job: what the agent must do. */
export const agentJob = z.object({
  jobId: z.string(),
  attempt: z.number().int().positive(),
  productId: z.string(),
  productVersion: z.string(),
  actionRequest,
  /** Effective property values of this product for this client (defaults merged with client values). */
  properties: z.record(z.string(), propertyValue),
  client: z.object({
    id: z.string(),
    mac: z.string().nullable(),
    uuid: z.string().nullable(),
    group: z.string().nullable(),
  }),
  /** Action after reporting: reboot (default) or poweroff. */
  afterJob: z.enum(['reboot', 'poweroff']),
  serverTime: z.string(), // ISO 8601, for the agent to set its clock
});
export type AgentJob = z.infer<typeof agentJob>;

/** POST /agent/v1/job/progress: percent and/or a message and/or log lines. */
export const agentProgress = z.object({
  percent: z.number().min(0).max(100).optional(),
  message: z.string().max(500).optional(),
  log: z.array(z.string().max(4000)).max(1000).optional(),
});
export type AgentProgress = z.infer<typeof agentProgress>;

/** POST /agent/v1/job/result: the outcome. Idempotent: the agent may resend after a network loss. */
export const agentResult = z.object({
  result: z.enum(['successful', 'failed']),
  error: z.string().max(4000).optional(),
  /** When the agent finished (its clock, after sync). */
  finishedAt: z.string().optional(),
});
export type AgentResult = z.infer<typeof agentResult>;

/** One image on the client's backup partition as the agent found it (imaging/store/store.ts imageReports). */
export const backupImageReport = z.object({
  name: z.string().min(1).max(255),
  /** All files of the image's directory together (image, chunk index, metadata, a WIM...). */
  sizeBytes: z.number().int().nonnegative(),
  /** ISO 8601 from the image's metadata; null when the image carries no readable date (never invented). */
  createdAt: z.iso.datetime({ offset: true }).nullable(),
  /** Device of the partition the image was taken from (e.g. /dev/sda3), null when unknown (an imported image). */
  sourcePartition: z.string().max(255).nullable(),
  /** blkid TYPE of that partition: ntfs, ext4... */
  fsType: z.string().max(64),
  format: z.enum(['stream', 'chunked']),
});
export type BackupImageReport = z.infer<typeof backupImageReport>;

/**
 * POST /agent/v1/client/properties: the product changes property values of its own client (e.g. imagefile).
 * `images` goes with an update of the restore product's `imagefiles_list` and describes the images
 * it names, one each. Agents before it sent the names only; that is still accepted (the server
 * then knows no size or date for the images it has no report of).
 */
export const agentPropertyUpdate = z.object({
  productId: z.string(),
  values: z.record(z.string(), propertyValue),
  images: z.array(backupImageReport).max(1000).optional(),
});
export type AgentPropertyUpdate = z.infer<typeof agentPropertyUpdate>;

/** POST /agent/v1/client/action-requests: the product queues other products (start_os_installation, setup_after_restore). */
export const agentActionRequests = z.object({
  requests: z.array(z.object({ productId: z.string(), actionRequest })).max(100),
});
export type AgentActionRequests = z.infer<typeof agentActionRequests>;

/** Product-on-client states the agent saves with an image and restores with it (opsi does this for Windows). */
export const productOnClientState = z.object({
  productId: z.string(),
  installationStatus: z.enum(['installed', 'not_installed', 'unknown']),
  actionResult: z.enum(['failed', 'successful', 'none']),
  lastAction: actionRequest,
  productVersion: z.string().nullable(),
});
export type ProductOnClientStateWire = z.infer<typeof productOnClientState>;

/** GET /agent/v1/client/product-states returns, PUT replaces these (restore of saved states). */
export const agentProductStates = z.object({ states: z.array(productOnClientState).max(1000) });
export type AgentProductStates = z.infer<typeof agentProductStates>;

/** PUT /agent/v1/client/inventory: hwinvent's result. Free-form beyond the disk and NIC lists. */
export const inventoryDisk = z.object({
  name: z.string(),
  path: z.string(),
  model: z.string().nullable(),
  serial: z.string().nullable(),
  wwn: z.string().nullable(),
  sizeBytes: z.number().int().nonnegative(),
  rotational: z.boolean(),
  transport: z.string().nullable(),
  logicalSectorSize: z.number().int().positive(),
  physicalSectorSize: z.number().int().positive(),
});
export const inventoryNic = z.object({
  name: z.string(),
  mac: z.string(),
  driver: z.string().nullable(),
  speedMbps: z.number().nullable(),
});
/** Limits of the free-form inventory `extra` (hwinvent sends a flat object of a few keys). */
export const INVENTORY_EXTRA_LIMITS = { maxDepth: 8, maxNodes: 2000, maxStringLength: 4096 } as const;

/**
 * Why a free-form JSON value exceeds the limits, or null. Iterative, so a value nested far
 * deeper than the call stack (which breaks JSON.stringify) is measured without recursion.
 */
export function jsonLimitViolation(value: unknown, limits: { maxDepth: number; maxNodes: number; maxStringLength: number }): string | null {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  let nodes = 0;
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop()!;
    if (++nodes > limits.maxNodes) return `more than ${limits.maxNodes} values`;
    if (typeof v === 'string' && v.length > limits.maxStringLength) return `a string longer than ${limits.maxStringLength} characters`;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= limits.maxDepth) return `nested deeper than ${limits.maxDepth} levels`;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push({ value: child, depth: depth + 1 });
    for (const key of Array.isArray(v) ? [] : Object.keys(v)) if (key.length > limits.maxStringLength) return `a key longer than ${limits.maxStringLength} characters`;
  }
  return null;
}

export const agentInventory = z.object({
  collectedAt: z.string(),
  system: z.object({
    manufacturer: z.string().nullable(),
    model: z.string().nullable(),
    serial: z.string().nullable(),
    uuid: z.string().nullable(),
  }),
  bios: z.object({ vendor: z.string().nullable(), version: z.string().nullable(), firmware: z.enum(['uefi', 'bios']) }),
  cpu: z.object({ model: z.string().nullable(), cores: z.number().int().nonnegative() }),
  memoryBytes: z.number().int().nonnegative(),
  disks: z.array(inventoryDisk),
  nics: z.array(inventoryNic),
  extra: z
    .record(z.string(), z.unknown())
    .superRefine((extra, ctx) => {
      const problem = jsonLimitViolation(extra, INVENTORY_EXTRA_LIMITS);
      if (problem) ctx.addIssue({ code: 'custom', message: `extra is too large: ${problem}` });
    })
    .optional(),
});
export type AgentInventory = z.infer<typeof agentInventory>;

/** POST /agent/v1/job/log: the agent's full log as text/plain (uploaded once at the end). */
export const AGENT_LOG_MAX_BYTES = 16 * 1024 * 1024;

/**
 * GET /agent/v1/os-install: what an OS install job (opsi-local-image-debian/-ubuntu) lays down and
 * configures. Only for a running job of an install product; each call mints a fresh first-boot
 * token and invalidates the previous one, so an agent retry is safe.
 */
const DepotFileRef = z.object({
  path: z.string().regex(/^\/depot\/v1\/[a-z-]+\/[A-Za-z0-9._-]+\/[A-Za-z0-9._/-]+$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
});

export const OsInstallPlanSchema = z.object({
  productId: z.enum(['opsi-local-image-debian', 'opsi-local-image-ubuntu']),
  /** OS the root filesystem is, e.g. 'debian-12'. */
  os: z.string().min(1),
  /**
   * The root filesystem: an ext4 file system in the imaging engine's chunked format (netimage-image/2),
   * two files of the depot entry readable with the job token: the image ('/depot/v1/rootfs/<name>/image.pcl.zst')
   * and its chunk index (chunks.json), each with its sha256 and size.
   */
  rootfs: z.object({ image: DepotFileRef, index: DepotFileRef }),
  /** The client's host name: one RFC 1123 label. */
  hostname: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i),
  language: z.string(),
  consoleKeymap: z.string(),
  timezone: z.string(),
  /** apt proxy for the installed system, or null. */
  proxy: z.string().nullable(),
  /** sources.list lines of the installed system. */
  aptSources: z.array(z.string()),
  /** crypt(3) hashes ($y$ yescrypt or $6$), never clear text. */
  rootPasswordHash: z.string().regex(/^\$(y|6)\$/),
  userPasswordHash: z.string().regex(/^\$(y|6)\$/),
  firstBoot: z.object({
    /** Absolute URL of POST /agent/v1/first-boot on this server. */
    url: z.url(),
    /** One-time, only for that route; sent as "Authorization: Bearer <token>". 64 hex characters. */
    token: z.string().regex(/^[0-9a-f]{64}$/),
    /** ISO time after which the token no longer works. */
    expiresAt: z.string(),
  }),
});
export type OsInstallPlan = z.infer<typeof OsInstallPlanSchema>;

/** POST /agent/v1/first-boot (from the installed system, with the plan's first-boot token). */
export const FirstBootReportSchema = z.object({
  hostname: z.string().max(253),
  kernelRelease: z.string().max(200),
  secureBoot: z.boolean().nullable(),
  bootMode: z.enum(['uefi', 'bios']),
});
export type FirstBootReport = z.infer<typeof FirstBootReportSchema>;

/**
 * GET /agent/v1/windows-install: what an unattended Windows job (opsi-local-image-win10-x64 /
 * -win11-x64, opsi's NT6 flow) stages on the winpe partition. Like the OS install plan: only for a
 * running job of such a product; each call mints a fresh completion token (the first-boot
 * mechanism) and invalidates the previous one. Made by bootserver/os-images/windows-plan.ts.
 */
export const WindowsInstallPlanSchema = z.object({
  productId: z.enum(['opsi-local-image-win10-x64', 'opsi-local-image-win11-x64']),
  media: z.object({
    /** Server-relative folder of the windows-media depot entry: '/depot/v1/windows-media/<name>'. */
    base: z.string().regex(/^\/depot\/v1\/windows-media\/[a-z0-9][a-z0-9._-]*$/),
    /** Every file of the entry (winpe/, installfiles/, drivers/, custom/) from its manifest. */
    files: z
      .array(
        z.object({
          // Names as on the medium (spaces, $OEM$, ~, &, non-ASCII: the depot keeps them), with the
          // depot's rules: no empty, "." or ".." segment, no backslash or control character.
          path: z
            .string()
            .max(4096)
            .regex(/^(winpe|installfiles|drivers|custom)\//)
            // eslint-disable-next-line no-control-regex
            .refine((p) => !/[\u0000-\u001f\u007f-\u009f\\]/.test(p) && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'), 'a relative "/"-separated path without empty, "." or ".." segments, backslashes or control characters'),
          size: z.number().int().nonnegative(),
          sha256: z.string().regex(/^[0-9a-f]{64}$/),
        }),
      )
      .max(200_000),
  }),
  /**
   * The install image when `imagename` is an image of the WIM captured for this product (depot
   * entry wim/<product>, not of the medium): staged as installfiles/sources/install.wim, and the
   * medium's own install.wim|esd|swm are left out of `media.files`.
   */
  installImage: z
    .object({
      base: z.string().regex(/^\/depot\/v1\/wim\/[a-z0-9][a-z0-9._-]*$/),
      file: z.object({ path: z.literal('install.wim'), size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
    })
    .optional(),
  /** Index of the image `imageName` names in install.wim|esd (checked on the server at action set). */
  imageIndex: z.number().int().positive(),
  /** The client's host name (one RFC 1123 label): the computer name. */
  hostname: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i),
  /**
   * The product's effective property values the answer file is made of (imagename, productkey,
   * language, administrator_password, ...): imaging/wim/unattend.ts maps them. The administrator
   * password is in it as the admin typed it: unattend.xml needs Microsoft's reversible encoding
   * of the clear text, which no hash can give.
   */
  unattend: z.record(z.string(), propertyValue),
  completion: z.object({
    /** Absolute URL of POST /agent/v1/first-boot on this server (SetupComplete.cmd posts there). */
    url: z.url(),
    /** One-time, only for that route. 64 hex characters. */
    token: z.string().regex(/^[0-9a-f]{64}$/),
    expiresAt: z.string(),
  }),
});
export type WindowsInstallPlan = z.infer<typeof WindowsInstallPlanSchema>;
