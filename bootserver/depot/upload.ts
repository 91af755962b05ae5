// Resumable, checksummed, atomic uploads into the depot (a captured WIM now, golden images later).
//   <depot>/.uploads/<id>/state.json   who uploads what: job, target file, size, sha256
//   <depot>/.uploads/<id>/data         the bytes so far (its length is the offset to resume at)
// The uploader announces size and sha256 first (space is checked then), sends the bytes in order
// in any number of requests (a dropped connection keeps what arrived; the next request starts at
// the offset the server reports), and commits: the server hashes the file, and only if size and
// sha256 match does the file become a new version of its depot entry (Depot.commitVersion).
// An entry of several files (a golden image) is one upload per file (`parts` of the commit): a
// checked file stays here marked done until every part is, then all become one new version at once.
// Uploads not touched for `expiryMs` are removed.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { uploadStart, type UploadStart, type UploadView } from '../../lib/upload-protocol.ts';
import { fsyncPath, sha256File } from '../../lib/files.ts';
import { NetimageError } from '../../lib/errors.ts';
import { DepotError, DepotNotFoundError, UPLOADS, checkSpace, type Depot, type DepotEntry, type EntryMeta } from './depot.ts';
import { depotEntryName, depotFilePath, depotKind, entryId } from './manifest.ts';

/** One file of one depot entry: what an upload becomes. */
export const uploadTarget = z.object({ kind: depotKind, name: depotEntryName, path: depotFilePath }).strict();
export type UploadTarget = z.infer<typeof uploadTarget>;

const uploadState = z
  .object({
    id: z.string().regex(/^[0-9a-f]{32}$/),
    owner: z.string().min(1),
    target: uploadTarget,
    size: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    created: z.iso.datetime(),
    /** Checked and waiting for the other parts of its entry (multi-file entries only). */
    done: z.boolean().optional(),
  })
  .strict();
export type UploadState = z.infer<typeof uploadState>;

export const DEFAULT_UPLOAD_EXPIRY_MS = 24 * 3600_000;

/** A checked part of a multi-file entry, as the grant's meta sees it. */
export interface PartFile {
  file: string;
  size: number;
  sha256: string;
}

/** A commit's answer: the entry version written, or null with the parts still `pending`. */
export interface CommitResult {
  entry: DepotEntry | null;
  upload: UploadView;
  pending: string[];
}

const sameEntry = (a: UploadTarget, b: UploadTarget) => a.kind === b.kind && a.name === b.name;

const STATE = 'state.json';
const DATA = 'data';

export class Uploads {
  readonly #depot: Depot;
  readonly #expiryMs: number;
  readonly #now: () => Date;
  /** Uploads with a chunk being written or being committed: one writer per upload. */
  readonly #busy = new Set<string>();
  /**
   * The answers of recent commits by upload id: an uploader whose commit answer was lost (the
   * hash of a big WIM outlasts its request) asks again and must hear "committed", not "no such
   * upload" (which would fail a capture that is stored). In memory: a restart forgets them.
   */
  readonly #committed = new Map<string, { owner: string; result: CommitResult }>();

  constructor(depot: Depot, options: { expiryMs?: number; now?: () => Date } = {}) {
    this.#depot = depot;
    this.#expiryMs = options.expiryMs ?? DEFAULT_UPLOAD_EXPIRY_MS;
    this.#now = options.now ?? (() => new Date());
  }

  #dir(id: string): string {
    return join(this.#depot.dir, UPLOADS, id);
  }

  async #state(id: string): Promise<UploadState | null> {
    if (!/^[0-9a-f]{32}$/.test(id)) return null;
    const text = await readFile(join(this.#dir(id), STATE), 'utf8').catch(() => null);
    // A state file a crash cut short is no upload (expire removes it), not an error for every other one.
    const json = (() => {
      try {
        return text === null ? null : (JSON.parse(text) as unknown);
      } catch {
        return null;
      }
    })();
    const parsed = json === null ? null : uploadState.safeParse(json);
    return parsed?.success ? parsed.data : null;
  }

  async #offset(id: string): Promise<number> {
    return (await stat(join(this.#dir(id), DATA)).catch(() => null))?.size ?? 0;
  }

  #view(s: UploadState, offset: number): UploadView {
    return { id: s.id, target: `${entryId(s.target.kind, s.target.name)}/${s.target.path}`, size: s.size, sha256: s.sha256, offset };
  }

  /** The upload `id` of `owner`; another owner's upload is "not found" too (ids are not secrets to guard). */
  async #require(owner: string, id: string): Promise<UploadState> {
    const s = await this.#state(id);
    if (!s || s.owner !== owner) throw new DepotNotFoundError(`no upload ${id} for this job (expired, committed, or never started)`);
    return s;
  }

  /** Every upload (expired ones first removed). */
  async list(): Promise<UploadView[]> {
    await this.expire();
    const out: UploadView[] = [];
    for (const id of await readdir(join(this.#depot.dir, UPLOADS))) {
      const s = await this.#state(id);
      if (s) out.push(this.#view(s, await this.#offset(id)));
    }
    return out;
  }

  /**
   * Start an upload of `owner` (a job) into `target`, or resume: the same owner, target, size and
   * sha256 give back the upload already under way with its offset. An owner has one upload per
   * file of one entry: a start with other bytes for the same file, or for another entry, replaces
   * its earlier uploads. Refused when the depot has no room.
   */
  async start(owner: string, target: UploadTarget, announced: UploadStart): Promise<UploadView> {
    await this.expire();
    const t = uploadTarget.parse(target);
    const { size, sha256 } = uploadStart.parse(announced);
    let pending = 0;
    for (const id of await readdir(join(this.#depot.dir, UPLOADS))) {
      const s = await this.#state(id);
      if (!s) continue;
      if (s.owner === owner && s.size === size && s.sha256 === sha256 && JSON.stringify(s.target) === JSON.stringify(t)) return this.#view(s, await this.#offset(id));
      if (s.owner === owner && !(sameEntry(s.target, t) && s.target.path !== t.path)) await this.#drop(id);
      else pending += s.size - (await this.#offset(id));
    }
    // Room for this upload and for what the others still have to send.
    await checkSpace(this.#depot.dir, size + pending, `an upload into ${entryId(t.kind, t.name)}`);
    const id = randomBytes(16).toString('hex');
    const state: UploadState = { id, owner, target: t, size, sha256, created: this.#now().toISOString() };
    await mkdir(this.#dir(id), { mode: 0o700 });
    await writeFile(join(this.#dir(id), DATA), '', { mode: 0o600 });
    await writeFile(join(this.#dir(id), STATE), JSON.stringify(state) + '\n', { mode: 0o600 });
    return this.#view(state, 0);
  }

  async status(owner: string, id: string): Promise<UploadView> {
    const s = await this.#require(owner, id);
    // A cut connection's bytes may still be landing: an offset read now would be stale by the next chunk.
    if (this.#busy.has(id)) throw new DepotError(`upload ${id}: a chunk is still being written; ask again for the offset`, undefined, 'conflict');
    return this.#view(s, await this.#offset(id));
  }

  /**
   * Append the bytes `start`..`end` (inclusive) of the upload. `start` must be the current offset
   * (409 with the offset otherwise). If the connection drops, what arrived stays and counts.
   */
  async write(owner: string, id: string, range: { start: number; end: number; total: number }, body: Readable): Promise<UploadView> {
    const s = await this.#require(owner, id);
    if (range.total !== s.size) throw new DepotError(`upload ${id}: Content-Range says ${range.total} bytes in all, the upload was started with ${s.size}`, undefined, 'invalid');
    if (this.#busy.has(id)) throw new DepotError(`upload ${id}: another request is writing to it`, undefined, 'conflict');
    this.#busy.add(id);
    try {
      const offset = await this.#offset(id);
      if (range.start !== offset) throw new UploadOffsetError(id, offset, range.start);
      const want = range.end - range.start + 1;
      // The disk may have filled since the start (other writers): refuse rather than half-write.
      await checkSpace(this.#depot.dir, want, `upload ${id}`);
      let got = 0;
      const out = createWriteStream(join(this.#dir(id), DATA), { flags: 'a' });
      const sent = pipeline(
        body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            // Never past the announced range: extra bytes are cut off and refused below.
            const room = want - got;
            if (room <= 0) break;
            const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
            got += piece.length;
            yield piece;
          }
        },
        out,
      );
      // A dropped connection: what arrived is on disk and counts; the uploader asks the offset.
      await sent.catch((error: unknown) => {
        throw new DepotError(`upload ${id}: the connection ended after ${got} of ${want} bytes (resume at the offset)`, { cause: error }, 'invalid');
      });
      if (got !== want) throw new DepotError(`upload ${id}: Content-Range announced ${want} bytes, ${got} arrived`, undefined, 'invalid');
      return this.#view(s, await this.#offset(id));
    } finally {
      this.#busy.delete(id);
    }
  }

  /**
   * Hash the complete upload; if size and sha256 match, it becomes `target.path` of a new version
   * of the target entry (`meta` may read the file first), and the upload is gone. A mismatch
   * removes the upload (its bytes are wrong somewhere; start again) and changes nothing in the depot.
   * With `parts` (the files of a multi-file entry) a checked file waits, marked done, and the
   * answer lists the parts still `pending`; the commit of the last one writes them all as one
   * version, so no reader ever sees a half entry.
   */
  async commit(
    owner: string,
    id: string,
    meta: (file: string, parts: Record<string, PartFile>) => Promise<Record<string, unknown>>,
    parts?: readonly string[],
  ): Promise<CommitResult> {
    const done = this.#committed.get(id);
    if (done?.owner === owner) return done.result;
    const s = await this.#require(owner, id);
    if (this.#busy.has(id)) throw new DepotError(`upload ${id}: a chunk is still being written or the upload is being committed; ask again`, undefined, 'conflict');
    this.#busy.add(id);
    try {
      return await this.#commit(s, meta, parts);
    } finally {
      this.#busy.delete(id);
    }
  }

  async #commit(s: UploadState, meta: (file: string, parts: Record<string, PartFile>) => Promise<Record<string, unknown>>, parts?: readonly string[]): Promise<CommitResult> {
    const { id, owner } = s;
    const file = join(this.#dir(id), DATA);
    if (!s.done) {
      const offset = await this.#offset(id);
      if (offset !== s.size) throw new DepotError(`upload ${id} is incomplete: ${offset} of ${s.size} bytes; send the rest from offset ${offset}`, undefined, 'conflict');
      const actual = await sha256File(file);
      // The depot takes the file with the hash computed here, unread again: make it durable first.
      await fsyncPath(file);
      if (actual !== s.sha256) {
        await this.#drop(id);
        throw new DepotError(`upload ${id} refused: its sha256 is ${actual}, the uploader announced ${s.sha256}; nothing was stored, start the upload again`, undefined, 'invalid');
      }
    }
    // The group that becomes the new version: this file alone, or every checked part of the entry.
    const group: UploadState[] = [s];
    if (parts) {
      await writeFile(join(this.#dir(id), STATE), JSON.stringify({ ...s, done: true }) + '\n', { mode: 0o600 });
      for (const other of await readdir(join(this.#depot.dir, UPLOADS))) {
        const o = other === id ? null : await this.#state(other);
        if (o?.done && o.owner === owner && sameEntry(o.target, s.target)) group.push(o);
      }
      const pending = parts.filter((p) => !group.some((g) => g.target.path === p));
      if (pending.length) return { entry: null, upload: this.#view(s, s.size), pending };
    }
    const files: Record<string, PartFile> = Object.fromEntries(group.map((g) => [g.target.path, { file: join(this.#dir(g.id), DATA), size: g.size, sha256: g.sha256 }]));
    // The grant's reading of the files (a WIM's editions, a golden image's metadata) may refuse
    // them: then they go as well.
    const m = await meta(file, files).catch(async (error: unknown) => {
      for (const g of group) await this.#drop(g.id);
      throw error;
    });
    const current = await this.#depot.get(s.target.kind, s.target.name);
    // A multi-file entry is complete in itself: nothing of the version before carries over.
    const entryMeta: EntryMeta = parts ? m : { ...(current?.manifest.meta ?? {}), ...m };
    const entry = await this.#depot.commitVersion(s.target.kind, s.target.name, entryMeta, async (dir) => {
      for (const g of group) {
        const dest = join(dir, ...g.target.path.split('/'));
        await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
        await rename(join(this.#dir(g.id), DATA), dest);
      }
      return group.map((g) => ({ path: g.target.path, size: g.size, sha256: g.sha256 }));
    });
    for (const g of group) {
      await this.#drop(g.id);
      // Every part's commit answered the same way if it is asked again.
      this.#committed.set(g.id, { owner, result: { entry, upload: this.#view(g, g.size), pending: [] } });
      if (this.#committed.size > 100) this.#committed.delete(this.#committed.keys().next().value!);
    }
    return { entry, upload: this.#view(s, s.size), pending: [] };
  }

  async #drop(id: string): Promise<void> {
    await rm(this.#dir(id), { recursive: true, force: true });
  }

  /** Remove uploads idle (no byte written, not started) for longer than the expiry. */
  async expire(): Promise<string[]> {
    const removed: string[] = [];
    const now = this.#now().getTime();
    for (const id of await readdir(join(this.#depot.dir, UPLOADS))) {
      if (this.#busy.has(id)) continue;
      const touched = Math.max(...(await Promise.all([STATE, DATA].map(async (f) => (await stat(join(this.#dir(id), f)).catch(() => null))?.mtimeMs ?? 0))));
      if (now - touched > this.#expiryMs) {
        await this.#drop(id);
        removed.push(id);
      }
    }
    return removed;
  }
}

/** A chunk that does not start where the upload stands (HTTP 409; the answer carries the offset). */
export class UploadOffsetError extends NetimageError {
  readonly offset: number;
  constructor(id: string, offset: number, start: number) {
    super('conflict', `upload ${id} stands at offset ${offset}, the chunk starts at ${start}: resume from ${offset}`);
    this.name = 'UploadOffsetError';
    this.offset = offset;
  }
}
