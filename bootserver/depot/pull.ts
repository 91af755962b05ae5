// A site server's depot entries come from the main server (config depot.upstream, docs/multi-server.md):
// the entry's manifest, then each file over HTTP into a staging folder of the local depot; a
// transfer cut off part-way goes on from where it stopped (Range, If-Range on the file's sha256
// ETag), every file's sha256 is checked against the manifest, and only a complete, matching entry
// becomes visible (Depot.create). PCs then fetch it from their own site, never across the WAN.
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sha256File } from '../../lib/files.ts';
import { resumeAnswer } from '../../lib/http-resume.ts';
import { DepotError, checkSpace, type Depot, type DepotEntry } from './depot.ts';
import { depotManifest, entryId, MANIFEST_FILE, totalBytes, type DepotKind, type ManifestFile } from './manifest.ts';
import { DEPOT_HTTP_PREFIX } from './http.ts';

export interface Upstream {
  /** The main server's base URL, e.g. https://netimage.district.example:8080 */
  url: string;
  /** An admin token of the main server (it reads every depot entry). */
  token: string;
}

export interface PullOptions {
  /** Attempts per file when a transfer breaks off (each goes on from the bytes already there). */
  attempts?: number;
  /** The HTTP client (tests pass one that cuts a transfer, standing in for a dropped WAN link). */
  fetch?: typeof fetch;
}

/** An upstream that cannot be reached or refuses: try again later (HTTP 503). */
export class UpstreamError extends DepotError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options, 'unavailable');
    this.name = 'UpstreamError';
  }
}

const fileUrl = (up: Upstream, kind: DepotKind, name: string, path: string) =>
  `${up.url.replace(/\/+$/, '')}${DEPOT_HTTP_PREFIX}/${kind}/${name}/${path.split('/').map(encodeURIComponent).join('/')}`;

async function get(doFetch: typeof fetch, url: string, up: Upstream, headers: Record<string, string> = {}): Promise<Response> {
  let res: Response;
  try {
    res = await doFetch(url, { headers: { authorization: `Bearer ${up.token}`, ...headers } });
  } catch (error) {
    throw new UpstreamError(`the depot upstream ${up.url} cannot be reached: ${(error as Error).message}`, { cause: error });
  }
  if (res.status === 404) throw new DepotError(`the depot upstream ${up.url} has no ${url.slice(up.url.length)}`, undefined, 'not_found');
  if (res.status === 401 || res.status === 403) throw new UpstreamError(`the depot upstream ${up.url} refused the token (depot.upstream.token must be an admin token of the main server)`);
  if (res.status >= 400) throw new UpstreamError(`the depot upstream ${up.url} answered ${res.status} for ${url.slice(up.url.length)}`);
  return res;
}

/** One file into `target`, going on from what is already there; returns when it is complete. */
async function fetchFile(doFetch: typeof fetch, up: Upstream, url: string, file: ManifestFile, target: string, attempts: number): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const have = (await stat(target).catch(() => null))?.size ?? 0;
    if (have === file.size) return;
    try {
      // If-Range: a file that changed upstream (another sha256) comes whole (200), not as a tail.
      const res = await get(doFetch, url, up, have > 0 ? { range: `bytes=${have}-`, 'if-range': `"${file.sha256}"` } : {});
      const answer = resumeAnswer(res.status, res.headers.get('content-range'), have);
      if (answer.use === 'none') {
        await res.body?.cancel();
        // Not the bytes asked for (a 206 for another range): the next attempt starts over.
        await rm(target, { force: true });
        throw new UpstreamError(`the depot upstream ${up.url} answered ${answer.reason} for ${url.slice(up.url.length)}`);
      }
      if (!res.body) throw new UpstreamError(`the depot upstream sent no body for ${url}`);
      // A 200 is the whole file: written over from byte 0.
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(target, answer.use === 'tail' ? { flags: 'a' } : { flags: 'w' }));
    } catch (error) {
      // A broken transfer or an unreachable upstream is tried again; a missing file is not.
      if (attempt >= attempts || (error instanceof DepotError && !(error instanceof UpstreamError))) throw error;
    }
  }
}

/** Pull one entry from the upstream into the local depot; an entry that is here already is returned as it is. */
export async function pullEntry(depot: Depot, up: Upstream, kind: DepotKind, name: string, options: PullOptions = {}): Promise<DepotEntry> {
  const existing = await depot.get(kind, name);
  if (existing) return existing;
  const doFetch = options.fetch ?? fetch;
  const attempts = options.attempts ?? 5;
  const res = await get(doFetch, fileUrl(up, kind, name, MANIFEST_FILE), up);
  const parsed = depotManifest.safeParse(await res.json().catch(() => null));
  if (!parsed.success || parsed.data.kind !== kind || parsed.data.name !== name) throw new DepotError(`the depot upstream ${up.url} sent no valid manifest for ${entryId(kind, name)}`);
  const manifest = parsed.data;
  // Refused before the first byte: a disk filled by a half-pulled entry stops every other writer too.
  await checkSpace(depot.dir, totalBytes(manifest), `${entryId(kind, name)} from ${up.url}`);
  return depot.create(kind, name, { ...manifest.meta, pulledFrom: up.url, upstreamCreated: manifest.created }, async (dir) => {
    for (const file of manifest.files) {
      const target = join(dir, file.path);
      await fetchFile(doFetch, up, fileUrl(up, kind, name, file.path), file, target, attempts);
      const sha = await sha256File(target);
      if (sha !== file.sha256) throw new DepotError(`depot entry ${entryId(kind, name)} from ${up.url}: ${file.path} has sha256 ${sha}, its manifest says ${file.sha256}; nothing kept`);
    }
    // Checked above: the depot need not read them again.
    return manifest.files;
  });
}

/** Pulls of this server, one at a time per entry: a second request for an entry being pulled waits for the same pull. */
export class DepotPuller {
  readonly upstream: Upstream;
  readonly #depot: Depot;
  readonly #options: PullOptions;
  readonly #running = new Map<string, Promise<DepotEntry>>();

  constructor(depot: Depot, upstream: Upstream, options: PullOptions = {}) {
    this.#depot = depot;
    this.upstream = upstream;
    this.#options = options;
  }

  /**
   * Make sure the main server has the entry (its manifest answers), then pull it in the
   * background; resolves at once when the entry is here already. For checks at action-set time:
   * an entry the main server lacks is refused now, not when a PC is already booting.
   */
  async startPull(kind: DepotKind, name: string, onError: (error: unknown) => void): Promise<void> {
    if (this.#running.has(entryId(kind, name)) || (await this.#depot.get(kind, name))) return;
    const res = await get(this.#options.fetch ?? fetch, fileUrl(this.upstream, kind, name, MANIFEST_FILE), this.upstream);
    await res.body?.cancel();
    this.pull(kind, name).catch(onError);
  }

  pull(kind: DepotKind, name: string): Promise<DepotEntry> {
    const id = entryId(kind, name);
    let running = this.#running.get(id);
    if (!running) {
      running = pullEntry(this.#depot, this.upstream, kind, name, this.#options).finally(() => this.#running.delete(id));
      this.#running.set(id, running);
    }
    return running;
  }
}
