// Golden images on the PC side (lib/golden.ts): upload an image of the backup partition into the
// server's depot, and fetch one from there onto the backup partition.
// Upload: the three files as they are (and the file system records a delta restore reads, when
// the image has them), each through the one resumable upload (depot-upload.ts); the server makes
// the entry appear only once all are in and agree.
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
import { GOLDEN_KIND, GOLDEN_METADATA, GOLDEN_RECORD_FILES, goldenEntryName, goldenFilesOf, SEEDING_LOG_PREFIX, type SeedSessionWire } from '../lib/golden.ts';
import { parseManifest, type SeedManifest } from '../lib/seed/manifest.ts';
import { receiveSeed, type ReceiveEvent, type ReceiveResult } from './seed/receiver.ts';
import { directorySink } from './seed/sink.ts';
import { sha256File } from '../lib/files.ts';
import { resumeAnswer } from '../lib/http-resume.ts';
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
  const table = meta.chunked?.inodeTable?.file;
  const paths = goldenFilesOf(table ? [table] : []);
  const sizes = await Promise.all(
    paths.map(async (f) => {
      const st = await stat(join(dir, f)).catch(() => null);
      if (!st) throw new ImagingError(`image ${meta.name} has no ${f} on the backup partition although its metadata.json names it: back it up again`);
      return st.size;
    }),
  );
  const total = sizes.reduce((a, b) => a + b, 0);
  let before = 0;
  let last: UploadOutcome = { uploaded: false, reason: 'nothing uploaded' };
  for (const [i, path] of paths.entries()) {
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
  /**
   * The room's seeding session (GET /agent/v1/seed): the files come from its multicast stream
   * into the same `.fetch-<name>/` folder, whatever it misses over HTTP Range, with the same checks
   * and commit as a unicast fetch. Null/absent: unicast.
   */
  seed?: GoldenSeed | null;
}

export interface GoldenSeed {
  session: SeedSessionWire;
  /** Tests: shorter waits for the first packet and after the last. */
  joinTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Every event of the receiver (the seeding CLI prints them). */
  onEvent?: (e: ReceiveEvent) => void;
}

const seedSessionWire = z.object({
  state: z.enum(['waiting', 'sending', 'over']),
  entry: z.string(),
  group: z.string().regex(/^2(2[4-9]|3\d)\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, 'an IPv4 multicast group'),
  port: z.number().int().min(1).max(65535),
  manifest: z.unknown(),
  base: z.string().startsWith('/'),
  localAddress: z.string(),
});

/** The server's answer to GET /agent/v1/seed, checked (a bad answer is an error, not a guess). */
export function parseSeedSession(value: unknown): SeedSessionWire {
  const parsed = seedSessionWire.safeParse(value);
  if (!parsed.success) throw new ImagingError(`the server's seeding session is invalid: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data as SeedSessionWire;
}

export interface GoldenFetchResult {
  meta: ImageMetadata;
  /** Bytes fetched by this run (0: the image was already here). */
  fetchedBytes: number;
  resumes: number;
  /** How room seeding went (pieces by multicast, by HTTP, already here), when it was used. */
  seeded?: ReceiveResult;
}

const FETCH_DIR = (name: string) => `.fetch-${name}`;
const SOURCE = 'source.json';
/** In a fetch folder being filled by room seeding: its files may have holes. */
const SEEDED = 'seeding';

async function allocatedOf(path: string, size: number): Promise<number> {
  const st = await stat(path).catch(() => null);
  return st ? Math.min(st.size, st.blocks * 512, size) : 0;
}

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
  // Only the files a golden entry can have; unknown names in the manifest are not fetched.
  const files = goldenFilesOf(m.files.map((f) => f.path)).map((path) => {
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
  // A seeded file has its full size from the start with holes where pieces are missing: the
  // blocks on disk, not the size, say how much is here (for the space check).
  if (!o.seed && (await stat(join(dir, SEEDED)).catch(() => null))) {
    o.log(`dropping a partial room seeding of ${entry} (its files have holes, a unicast fetch resumes only after a contiguous start)`);
    for (const f of files) await rm(join(dir, f.path), { force: true });
    await rm(join(dir, SEEDED), { force: true });
  }
  const have = (await Promise.all(files.map((f) => allocatedOf(join(dir, f.path), f.size)))).reduce((a, b) => a + b, 0);
  const s = await statfs(o.root);
  const free = s.bavail * s.bsize;
  if (free < total - have) {
    throw new ImagingError(`not enough space on the backup partition for golden image ${entry}: it needs ${total - have} more bytes, ${free} are free (delete an image with opsi-local-image-delimage); nothing was changed`);
  }
  o.log(`fetching golden image ${entry}: ${total} bytes${have ? `, ${have} already here from an earlier attempt` : ''}`);

  let fetched = 0;
  let resumes = 0;
  const seeded = o.seed ? await receiveRoomSeed(o, o.seed, dir, entry, files, total) : null;
  if (seeded) fetched += seeded.bytesMulticast + seeded.bytesHttp;
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
        const answer = resumeAnswer(r.status, r.headers.get('content-range'), at);
        if (answer.use === 'none') {
          await r.body?.cancel();
          // Bytes from elsewhere in the file (a 206 for another range): the next try starts over.
          if (r.status === 206) await rm(path, { force: true });
          throw new Error(`${answer.reason} for ${f.path}`);
        }
        // The whole file answered to a Range request (the server's file changed, or no Range
        // support): it starts over at byte 0 with this body.
        if (answer.use === 'whole' && at > 0) await rm(path, { force: true });
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
  const table = meta.chunked?.inodeTable;
  const records = files.filter((f) => (GOLDEN_RECORD_FILES as readonly string[]).includes(f.path));
  const recordsAgree = table ? records.length === 1 && records[0]!.path === table.file && records[0]!.sha256 === table.sha256 : records.length === 0;
  if (meta.sha256 !== imageSha || meta.chunked?.indexSha256 !== indexSha || !recordsAgree) {
    await rm(dir, { recursive: true, force: true });
    throw new ImagingError(`golden image ${entry}: its metadata.json does not name its image.pcl.zst, chunks.json${table || records.length ? ' and file system records' : ''}; refused and dropped`);
  }
  await rm(join(dir, SOURCE));
  await rm(join(dir, SEEDED), { force: true });
  const name = normalizeImageName(meta.name);
  await commitStaging(o.root, name, dir);
  await appendMasterLog(o.root, `fetch: golden image ${entry} from the server as ${name} (${total} bytes, sha256 ${imageSha}${resumes ? `, ${resumes} resume(s)` : ''})`);
  await rebuildIndex(o.root);
  o.log(`golden image ${entry} is on the backup partition as ${name} (${fetched} bytes fetched${resumes ? `, ${resumes} resume(s)` : ''}), every file sha256-checked`);
  return { meta, fetchedBytes: fetched, resumes, ...(seeded ? { seeded } : {}) };
}

/** The local image whose name maps to golden entry `entry`, if any. */
async function readMetadataByEntry(root: string, entry: string): Promise<ImageMetadata | null> {
  return (await listImages(root)).find((m) => goldenEntryName(m.name) === entry) ?? null;
}

/**
 * The room's multicast stream into `dir` (imaging/seed/): every piece checked against its sha256
 * before it is written, what the stream misses fetched over HTTP Range with the job token, a PC
 * restarted mid-stream keeps the verified pieces already in `dir`. Returns the bytes received.
 * The manifest must describe exactly the depot's files; else nothing is seeded (unicast follows).
 */
async function receiveRoomSeed(o: GoldenFetchOptions, seed: GoldenSeed, dir: string, entry: string, files: { path: string; size: number }[], total: number): Promise<ReceiveResult | null> {
  const s = seed.session;
  let manifest: SeedManifest;
  try {
    manifest = parseManifest(s.manifest);
    const same = manifest.files.length === files.length && files.every((f, i) => manifest.files[i]!.name === f.path && manifest.files[i]!.size === f.size);
    if (!same) throw new ImagingError('its files are not those of the depot entry');
  } catch (error) {
    o.log(`${SEEDING_LOG_PREFIX}${entry}: the session's manifest does not fit (${(error as Error).message}): fetching over HTTP instead`);
    return null;
  }
  if (s.state === 'over') o.log(`${SEEDING_LOG_PREFIX}${entry}: the room's stream is over; everything this PC lacks comes over HTTP (unicast)`);
  else o.log(`${SEEDING_LOG_PREFIX}${entry}: joining multicast ${s.group}:${s.port} on ${s.localAddress} (stream ${s.state})`);
  await writeFile(join(dir, SEEDED), `${s.group}:${s.port}\n`);
  const sink = await directorySink(dir, manifest);
  let lastPercent = -1;
  try {
    const r = await receiveSeed({
      manifest,
      baseUrl: s.base,
      fetch: (url, init) => o.fetchFile(url, init.headers, init.signal),
      group: s.group,
      port: s.port,
      localAddress: s.localAddress,
      sink,
      // A stream that is over sends nothing: no need to wait for it.
      joinTimeoutMs: s.state === 'over' ? 1 : seed.joinTimeoutMs,
      idleTimeoutMs: seed.idleTimeoutMs,
      signal: o.signal,
      onEvent: (e) => {
        seed.onEvent?.(e);
        if (e.type === 'progress') {
          o.onProgress?.(e.bytesDone, total);
          const percent = Math.floor((e.piecesDone * 100) / e.pieces);
          if (percent % 10 === 0 && percent !== lastPercent) o.log(`${SEEDING_LOG_PREFIX}${entry}: ${percent} % (${e.viaMulticast} pieces by multicast, ${e.viaHttp} by HTTP)`);
          lastPercent = percent;
        } else if (e.type === 'multicast-blocked') {
          if (s.state !== 'over') o.log(`${SEEDING_LOG_PREFIX}${entry}: MULTICAST BLOCKED: ${e.message} (falling back to unicast HTTP Range)`);
        } else if (e.type === 'damaged-piece') o.log(`${SEEDING_LOG_PREFIX}${entry}: piece ${e.piece} arrived damaged by ${e.via} (sha256 mismatch): fetched again over HTTP`);
        else if (e.type === 'stream-over') o.log(`${SEEDING_LOG_PREFIX}${entry}: stream ${e.reason === 'end' ? 'ended' : 'stopped'} with ${e.missing} pieces missing: fetching them over HTTP`);
        else if (e.type === 'joined' && e.present) o.log(`${SEEDING_LOG_PREFIX}${entry}: ${e.present} verified pieces already here from an earlier attempt`);
      },
    });
    o.log(
      `${SEEDING_LOG_PREFIX}${entry}: ${r.pieces} pieces verified (${r.present} already here, ${r.viaMulticast} by multicast, ${r.viaHttp} by HTTP: ${(r.bytesMulticast / 1048576).toFixed(1)} MiB multicast, ${(r.bytesHttp / 1048576).toFixed(1)} MiB HTTP) in ${r.seconds.toFixed(1)} s`,
    );
    return r;
  } finally {
    await sink.close();
  }
}
