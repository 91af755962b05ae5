// The agent's resumable upload into the depot (server: bootserver/depot/upload.ts and
// upload-http.ts; client: bootimage/agent/upload.ts), with the job's token:
//   POST /agent/v1/uploads            {size, sha256} -> UploadView (201 new, 200 resumed)
//   GET  /agent/v1/uploads/<id>       UploadView (offset = bytes received)
//   PUT  /agent/v1/uploads/<id>       Content-Range: bytes a-b/size, application/octet-stream
//   POST /agent/v1/uploads/<id>/commit -> UploadCommitted (sha256 and size checked)
// A job's token writes into the one depot entry its product grants (a WIM capture:
// wim/<target_product>/install.wim). An entry of several files (a golden image: golden/<name>/
// image.pcl.zst, chunks.json, metadata.json) is one upload per file, each started with its `path`;
// a committed file waits (`pending` lists the files still missing) until the last one commits,
// and only then does the entry appear, whole.
import { z } from 'zod';

export const UPLOADS_PATH = '/uploads';

export const uploadStart = z
  .object({
    size: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** The file of the granted entry (entries of several files); default: the grant's one file. */
    path: z.string().min(1).max(4096).optional(),
  })
  .strict();
export type UploadStart = z.infer<typeof uploadStart>;

export const uploadView = z.object({
  id: z.string(),
  /** "wim/opsi-local-image-win11-x64/install.wim" */
  target: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string(),
  /** Bytes received so far: where the next chunk starts. */
  offset: z.number().int().nonnegative(),
});
export type UploadView = z.infer<typeof uploadView>;

export const uploadCommitted = z.object({
  entry: z.string(),
  upload: uploadView,
  meta: z.record(z.string(), z.unknown()),
  /** Files of the entry still to be uploaded: the entry exists only once this is empty (or absent). */
  pending: z.array(z.string()).optional(),
});
export type UploadCommitted = z.infer<typeof uploadCommitted>;

/** Content-Range "bytes <start>-<end>/<total>" of an upload chunk; null when malformed. Pure. */
export function parseContentRange(header: string | undefined): { start: number; end: number; total: number } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header?.trim() ?? '');
  if (!m) return null;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return start <= end && end < total ? { start, end, total } : null;
}
