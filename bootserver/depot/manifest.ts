// The depot's data model, pure: entry ids, file paths and the manifest every entry carries.
// An entry is immutable once committed; its manifest lists every file with size and sha256, so
// `verify` can prove the bytes on disk and HTTP can send the hash (ETag, Repr-Digest) without
// reading the file.
import { z } from 'zod';

/**
 * What the depot holds, one folder per kind. Only `rootfs` is produced today; the others are
 * reserved so the layout and the API stay the same when they arrive:
 *  - rootfs:        a Linux root filesystem built on the server (bootserver/os-images/)
 *  - windows-media: the files of a Windows installation medium (setup, install.wim, drivers)
 *  - wim:           a WIM captured from a PC (opsi-local-image-wim-capture)
 *  - golden:        a golden image (partclone images of a reference PC) to roll out
 */
export const DEPOT_KINDS = ['rootfs', 'windows-media', 'wim', 'golden'] as const;
export const depotKind = z.enum(DEPOT_KINDS);
export type DepotKind = z.infer<typeof depotKind>;

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'netimage-depot/1';

/** Entry names are file names and URL segments: no separators, no leading dot. */
export const depotEntryName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, 'an entry name: lower-case letters, digits, ".", "_", "-" (at most 128, not starting with "." or "-")');

/**
 * A file inside an entry: relative, "/"-separated. Windows media keep their own names (spaces,
 * "$", "{}", "&", non-ASCII: `$OEM$`, `Segoe UI.ttf`), so a segment may hold any printable
 * character except the ones that could escape the entry or confuse a reader: no "/" (a
 * separator), no "\\" (a separator on Windows), no control characters, no "." or ".." segment,
 * no empty segment (no absolute path, no "//"), and no hidden dot files at the entry's top
 * (the depot's own names). manifest.json itself is not a file of the entry.
 */
export const depotFilePath = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (p) =>
      p !== MANIFEST_FILE &&
      !p.startsWith('.') &&
      // eslint-disable-next-line no-control-regex
      !/[\u0000-\u001f\u007f-\u009f\\]/.test(p) &&
      p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..' && Buffer.byteLength(seg) <= 255),
    {
      message: 'a relative "/"-separated path: no empty, "." or ".." segment, no backslash or control character, not starting with "." and not manifest.json',
    },
  );

export const manifestFile = z
  .object({
    path: depotFilePath,
    size: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();
export type ManifestFile = z.infer<typeof manifestFile>;

export const depotManifest = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    kind: depotKind,
    name: depotEntryName,
    created: z.iso.datetime(),
    files: z.array(manifestFile),
    /** What produced the entry (for rootfs: the build inputs and their hash). Free-form JSON per kind. */
    meta: z.record(z.string(), z.unknown()),
  })
  .strict();
export type DepotManifest = z.infer<typeof depotManifest>;

/** "rootfs/debian-12-0123abcd": how entries are named in the CLI, the API and grants. */
export function entryId(kind: DepotKind, name: string): string {
  return `${kind}/${name}`;
}

export function parseEntryId(id: string): { kind: DepotKind; name: string } | null {
  const slash = id.indexOf('/');
  if (slash < 0) return null;
  const kind = depotKind.safeParse(id.slice(0, slash));
  const name = depotEntryName.safeParse(id.slice(slash + 1));
  return kind.success && name.success ? { kind: kind.data, name: name.data } : null;
}

export function totalBytes(manifest: DepotManifest): number {
  return manifest.files.reduce((sum, f) => sum + f.size, 0);
}

/** "sha-256=:<base64>:" (RFC 9530 Repr-Digest) from a hex sha256. */
export function reprDigest(sha256Hex: string): string {
  return `sha-256=:${Buffer.from(sha256Hex, 'hex').toString('base64')}:`;
}
