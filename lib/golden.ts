// Golden images: a PC's chunked image (imaging/chunked/format.ts) kept in the server's depot as
// entry golden/<name>, its files as they are on the backup partition. Shared by the server (upload
// grant, read grant) and the agent (upload after a backup, fetch before a restore).
//   opsi-local-image-backup  upload_to_server=true   the image just made goes up as golden/<name>
//   opsi-local-image-restore server_image=<name>     golden/<name> comes down first, then restores
//     + server_image_multicast=true, set for a group: the room's PCs receive it in one multicast
//       stream (room seeding, GET /agent/v1/seed); restore_after_fetch=false: fetch only
export const GOLDEN_KIND = 'golden';
/** The files of a golden entry, in upload order: metadata.json last, so it names checked bytes. */
export const GOLDEN_FILES = ['image.pcl.zst', 'chunks.json', 'metadata.json'] as const;
export const GOLDEN_METADATA = 'metadata.json';
/**
 * Files a golden entry may have besides those: the file system's records for delta restores
 * (imaging/chunked/format.ts), uploaded when the image has them, so a PC restored from a golden
 * image can later delta-restore it reading only what changed.
 */
export const GOLDEN_RECORD_FILES = ['inodes.ext4', 'records.ntfs'] as const;

/** The files of a golden entry in transfer order, from the names it has: image, index, any record file, metadata.json last. */
export function goldenFilesOf(names: readonly string[]): string[] {
  const [image, index, metadata] = GOLDEN_FILES;
  return [image, index, ...GOLDEN_RECORD_FILES.filter((f) => names.includes(f)), metadata];
}

/** The depot entry name of an image name (depot names are lower case; opsi image names need not be); null if none fits. */
export function goldenEntryName(imageName: string): string | null {
  const name = imageName.trim().replace(/ +/g, '_').toLowerCase();
  return /^[a-z0-9][a-z0-9._-]{0,127}$/.test(name) ? name : null;
}

/**
 * How every job log line about the room's stream starts ("room seeding of <entry>: 40 % (…)",
 * "…: MULTICAST BLOCKED: …"): the web UI picks a PC's latest one out of the job stream, as
 * `netimage jobs --follow --group` prints them.
 */
export const SEEDING_LOG_PREFIX = 'room seeding of ';

/** Agent API path (below /agent/v1) where a restore job asks for its room's seeding session. */
export const SEED_SESSION_PATH = '/seed';

/** The answer of GET /agent/v1/seed: where the room's multicast stream of golden/<entry> is. */
export interface SeedSessionWire {
  /** waiting: HELLO until the room has joined; sending: data; over: the stream has ended (all over HTTP). */
  state: 'waiting' | 'sending' | 'over';
  entry: string;
  group: string;
  port: number;
  /** The netimage-seed/1 manifest of the entry's files (lib/seed/manifest.ts). */
  manifest: unknown;
  /** Server-relative base of the files for HTTP catch-up (the depot, read with the job token). */
  base: string;
  /** The PC's own address as the server sees it: the interface to join the group on. */
  localAddress: string;
}

/**
 * The golden image a restore only fetches (server_image with restore_after_fetch=false), or null:
 * such a restore leaves the system partition alone and replaces only an image of that name on the
 * backup partition. Judged from the request's own properties (the server's wipe confirmation and
 * the web UI's dialog word it the same way): a value stored on a PC but not sent keeps "wipes".
 */
export function fetchOnlyImage(properties: Readonly<Record<string, unknown>>): string | null {
  const golden = typeof properties['server_image'] === 'string' ? properties['server_image'].trim() : '';
  const after = properties['restore_after_fetch'];
  return golden && (after === false || after === 'false') ? golden : null;
}
