// Golden images on the PC side (lib/golden.ts): upload an image of the backup partition into the
// server's depot, and fetch one from there onto the backup partition.
// Upload: the three files as they are, each through the one resumable upload (depot-upload.ts);
// the server makes the entry appear only once all three are in and agree.
// Fetch: unicast HTTP with Range into `.fetch-<name>/` on the backup partition (kept across a cut
// connection and across a reboot: recoverStore leaves it, listImages skips dot folders), every
// file's sha256 checked against the depot manifest and the image's metadata before the folder is
// renamed into place (commitStaging) and only then listed in images.json. Space is checked first;
// an image of another name is never touched.
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { AgentServerApi } from '../lib/netboot-product.ts';
import { GOLDEN_FILES, GOLDEN_KIND, GOLDEN_METADATA, goldenEntryName } from '../lib/golden.ts';
import { sha256File } from '../lib/files.ts';
import { uploadToDepot, type UploadOutcome } from './depot-upload.ts';
import { ImagingError } from './errors.ts';
import { imageMetadata, type ImageMetadata } from './store/metadata.ts';
import { normalizeImageName } from './store/names.ts';
import { appendMasterLog, commitStaging, imageDir, listImages, readMetadata, rebuildIndex } from './store/store.ts';

export interface GoldenUploadOptions {
  server: Pick<AgentServerApi, 'agentRequest'>;
  root: string;
  imageName: string;
  log: (line: string) => void;
  signal?: AbortSignal | undefined;
  onProgress?: (sent: number, size: number) => void;
  /** Passed on to each file's upload (tests: small chunks, short waits). */
  chunkBytes?: number;
  retryMs?: number;
}

/** Upload image `imageName` of the store at `root` as golden/<name>; the outcome of its last file. */
export async function uploadGoldenImage(o: GoldenUploadOptions): Promise<UploadOutcome> {
  const meta = await readMetadata(o.root, o.imageName);
  if (meta.format !== 'netimage-image/2') return { uploaded: false, reason: `image ${meta.name} is not chunked (image_format=stream): only chunked images are golden images` };
  const dir = imageDir(o.root, o.imageName);
  const sizes = await Promise.all(GOLDEN_FILES.map(async (f) => (await stat(join(dir, f))).size));
  const total = sizes.reduce((a, b) => a + b, 0);
  let before = 0;
  let last: UploadOutcome = { uploaded: false, reason: 'nothing uploaded' };
  for (const [i, path] of GOLDEN_FILES.entries()) {
    const done = before;
    last = await uploadToDepot({
      server: o.server,
      file: join(dir, path),
      path,
      log: o.log,
      signal: o.signal,
      ...(o.chunkBytes ? { chunkBytes: o.chunkBytes } : {}),
      ...(o.retryMs ? { retryMs: o.retryMs } : {}),
      onProgress: (sent) => o.onProgress?.(done + sent, total),
    });
    if (!last.uploaded) return last;
    before += sizes[i]!;
  }
  return last;
}

const manifest = z.object({
  kind: z.literal(GOLDEN_KIND),
  name: z.string(),
  files: z.array(z.object({ path: z.string(), size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
});

export interface GoldenFetchOptions {
  fetchFile: AgentServerApi['fetchFile'];
  root: string;
  /** The golden entry's name (server_image). */
  name: string;
  log: (line: string) => void;
  signal?: AbortSignal | undefined;
  onProgress?: (got: number, size: number) => void;
  /** Requests in a row without progress before giving up (default 6), waits doubling from `retryMs` (default 1 s). */
  attempts?: number;
  retryMs?: number;
}

export interface GoldenFetchResult {
  meta: ImageMetadata;
  /** Bytes fetched by this run (0: the image was already here). */
  fetchedBytes: number;
  resumes: number;
}

const FETCH_DIR = (name: string) => `.fetch-${name}`;
const SOURCE = 'source.json';

async function sizeOf(path: string): Promise<number> {
  return (await stat(path).catch(() => null))?.size ?? 0;
}

/** Fetch golden/<name> onto the backup partition at `root` as an image (its metadata's name). */
export async function fetchGoldenImage(o: GoldenFetchOptions): Promise<GoldenFetchResult> {
  const entry = goldenEntryName(o.name);
  if (!entry) throw new ImagingError(`server_image "${o.name}" is not a golden image name (letters, digits, ".", "_", "-")`);
  const base = `/depot/v1/${GOLDEN_KIND}/${entry}`;
  const res = await o.fetchFile(`${base}/manifest.json`, {}, o.signal);
  if (!res.ok) throw new ImagingError(`the server has no golden image ${entry} for this job (HTTP ${res.status}: ${(await res.text()).slice(0, 200)}): list them with netimage depot ls`);
  const m = manifest.parse(await res.json());
  const files = GOLDEN_FILES.map((path) => {
    const f = m.files.find((x) => x.path === path);
    if (!f) throw new ImagingError(`golden image ${entry} on the server has no ${path}`);
    return f;
  });
  const imageSha = files[0]!.sha256;

  // Already here with the same bytes: nothing to fetch.
  const local = await readMetadataByEntry(o.root, entry);
  if (local?.sha256 === imageSha) {
    o.log(`golden image ${entry} is already on the backup partition as ${local.name} (same sha256): not fetched again`);
    return { meta: local, fetchedBytes: 0, resumes: 0 };
  }

  // A partial fetch of these very bytes is continued; of other bytes (a newer upload), dropped.
  const dir = join(o.root, FETCH_DIR(entry));
  const source = await readFile(join(dir, SOURCE), 'utf8').catch(() => null);
  if (source !== null && source.trim() !== imageSha) {
    o.log(`dropping a partial fetch of an older version of ${entry}`);
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, SOURCE), `${imageSha}\n`);

  const total = files.reduce((a, f) => a + f.size, 0);
  const have = (await Promise.all(files.map((f) => sizeOf(join(dir, f.path))))).reduce((a, b) => a + b, 0);
  const s = await statfs(o.root);
  const free = s.bavail * s.bsize;
  if (free < total - have) {
    throw new ImagingError(`not enough space on the backup partition for golden image ${entry}: it needs ${total - have} more bytes, ${free} are free (delete an image with opsi-local-image-delimage); nothing was changed`);
  }
  o.log(`fetching golden image ${entry}: ${total} bytes${have ? `, ${have} already here from an earlier attempt` : ''}`);

  let fetched = 0;
  let resumes = 0;
  for (const f of files) {
    const path = join(dir, f.path);
    let failures = 0;
    for (;;) {
      const at = await sizeOf(path);
      if (at > f.size) await rm(path);
      if (at === f.size) break;
      o.signal?.throwIfAborted();
      try {
        const headers: Record<string, string> = at > 0 ? { range: `bytes=${at}-`, 'if-range': `"${f.sha256}"` } : {};
        const r = await o.fetchFile(`${base}/${f.path}`, headers, o.signal);
        if (r.status !== (at > 0 ? 206 : 200)) {
          await r.body?.cancel();
          // A whole file answered to a Range request: the server's file changed; start it over.
          if (r.status === 200) await rm(path, { force: true });
          throw new Error(`HTTP ${r.status} for ${f.path}`);
        }
        // Written as it arrives, so a cut connection keeps every byte that came (the next request resumes after them).
        const fh = await open(path, 'a');
        try {
          for await (const chunk of Readable.fromWeb(r.body as import('node:stream/web').ReadableStream<Uint8Array>) as AsyncIterable<Buffer>) {
            await fh.write(chunk);
            fetched += chunk.length;
            o.onProgress?.(have + fetched, total);
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
        failures = 0;
      } catch (error) {
        if (o.signal?.aborted) throw error;
        failures++;
        if (failures >= (o.attempts ?? 6)) throw new ImagingError(`fetching ${f.path} of golden image ${entry} failed ${failures} times in a row: ${(error as Error).message}; the next attempt continues at ${await sizeOf(path)} bytes`, { cause: error });
        const wait = Math.min(30_000, (o.retryMs ?? 1000) * 2 ** (failures - 1));
        o.log(`fetch of ${f.path} cut at ${await sizeOf(path)} of ${f.size} bytes (${(error as Error).message}); resuming in ${(wait / 1000).toFixed(1)} s`);
        resumes++;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    // Every byte checked before the image can be listed: a damaged file is dropped and refused.
    const actual = await sha256File(path, o.signal);
    if (actual !== f.sha256) {
      await rm(path, { force: true });
      throw new ImagingError(`golden image ${entry}: ${f.path} arrived damaged (sha256 ${actual}, the server's manifest says ${f.sha256}); it was dropped and nothing was listed: run the action again`);
    }
  }

  const text = await readFile(join(dir, GOLDEN_METADATA), 'utf8');
  const meta = imageMetadata.parse(JSON.parse(text));
  const indexSha = createHash('sha256').update(await readFile(join(dir, 'chunks.json'))).digest('hex');
  if (meta.sha256 !== imageSha || meta.chunked?.indexSha256 !== indexSha) {
    await rm(dir, { recursive: true, force: true });
    throw new ImagingError(`golden image ${entry}: its metadata.json does not name its image.pcl.zst and chunks.json; refused and dropped`);
  }
  await rm(join(dir, SOURCE));
  const name = normalizeImageName(meta.name);
  await commitStaging(o.root, name, dir);
  await appendMasterLog(o.root, `fetch: golden image ${entry} from the server as ${name} (${total} bytes, sha256 ${imageSha}${resumes ? `, ${resumes} resume(s)` : ''})`);
  await rebuildIndex(o.root);
  o.log(`golden image ${entry} is on the backup partition as ${name} (${fetched} bytes fetched${resumes ? `, ${resumes} resume(s)` : ''}), every file sha256-checked`);
  return { meta, fetchedBytes: fetched, resumes };
}

/** The local image whose name maps to golden entry `entry`, if any. */
async function readMetadataByEntry(root: string, entry: string): Promise<ImageMetadata | null> {
  return (await listImages(root)).find((m) => goldenEntryName(m.name) === entry) ?? null;
}
