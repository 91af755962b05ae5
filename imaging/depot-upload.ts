// Upload a file into the server's depot, resumably (lib/upload-protocol.ts): announce size and
// sha256, send the bytes in chunks, and after a dropped connection or a server error ask the
// server how far it got and go on from there; then commit, which the server accepts only if the
// bytes hash to the announced sha256. Generic: the job's token decides where the file goes (a
// WIM capture: wim/<target_product>/install.wim; golden images later).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { AgentServerApi } from '../lib/netboot-product.ts';
import { sha256File } from '../lib/files.ts';
import { UPLOADS_PATH, uploadCommitted, uploadView, type UploadCommitted, type UploadView } from '../lib/upload-protocol.ts';
import { ImagingError } from './errors.ts';

export interface UploadOptions {
  server: Pick<AgentServerApi, 'agentRequest'>;
  file: string;
  /** The file of the granted entry it becomes (entries of several files, e.g. golden images). */
  path?: string;
  log: (line: string) => void;
  onProgress?: (sent: number, size: number) => void;
  signal?: AbortSignal;
  /** Bytes per PUT (default 64 MiB): a dropped connection costs at most the part not yet written. */
  chunkBytes?: number;
  /** Attempts in a row without progress before giving up (default 8), waits doubling from `retryMs` (default 1 s) to 30 s. */
  attempts?: number;
  retryMs?: number;
}

export type UploadOutcome = { uploaded: true; committed: UploadCommitted; resumes: number } | { uploaded: false; reason: string };

/** An HTTP answer that retrying will not change (4xx other than 408/409/429). */
class Refused extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function json(res: Response): Promise<unknown> {
  const text = await res.text();
  if (res.ok) return JSON.parse(text);
  const message = (() => {
    try {
      return (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      return text;
    }
  })();
  if (res.status >= 400 && res.status < 500 && ![408, 409, 429].includes(res.status)) throw new Refused(res.status, `HTTP ${res.status}: ${message}`);
  throw new Error(`HTTP ${res.status}: ${message}`);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });

export async function uploadToDepot(o: UploadOptions): Promise<UploadOutcome> {
  const { server, file, log, signal } = o;
  const chunk = o.chunkBytes ?? 64 * 1024 * 1024;
  const size = (await stat(file)).size;
  log(`hashing ${file} (${size} bytes) for the upload`);
  const sha256 = await sha256File(file, signal);
  const jsonBody = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal ? { signal } : {}) });

  // Retry what the network or the server may heal; a refusal (4xx) ends the upload at once.
  let failures = 0;
  let resumes = 0;
  const again = async (what: string, error: unknown): Promise<void> => {
    if (error instanceof Refused || signal?.aborted) throw error;
    failures++;
    if (failures >= (o.attempts ?? 8)) throw new ImagingError(`upload of ${file} failed: ${what}: ${(error as Error).message} (${failures} attempts in a row)`, { cause: error });
    const wait = Math.min(30_000, (o.retryMs ?? 1000) * 2 ** (failures - 1));
    log(`upload: ${what} failed (${(error as Error).message}${(error as { cause?: Error }).cause ? `: ${(error as { cause: Error }).cause.message}` : ''}); again in ${(wait / 1000).toFixed(1)} s`);
    await sleep(wait, signal);
  };

  let view: UploadView;
  for (;;) {
    try {
      const res = await server.agentRequest('POST', UPLOADS_PATH, jsonBody({ size, sha256, ...(o.path ? { path: o.path } : {}) }));
      // No upload route (an older server) or no grant for this job: the file stays where it is.
      if (res.status === 404 || res.status === 403) return { uploaded: false, reason: `the server takes no upload from this job (HTTP ${res.status}: ${(await res.text()).slice(0, 200)})` };
      view = uploadView.parse(await json(res));
      break;
    } catch (error) {
      await again('start', error);
    }
  }
  log(`upload ${view.id} into ${view.target}: ${size} bytes, sha256 ${sha256}${view.offset ? `, resuming at ${view.offset}` : ''}`);

  let offset = view.offset;
  while (offset < size) {
    const end = Math.min(size, offset + chunk) - 1;
    try {
      const body = Readable.toWeb(createReadStream(file, { start: offset, end })) as ReadableStream<Uint8Array>;
      const res = await server.agentRequest('PUT', `${UPLOADS_PATH}/${view.id}`, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - offset + 1), 'content-range': `bytes ${offset}-${end}/${size}` },
        body,
        ...(signal ? { signal } : {}),
      });
      offset = uploadView.parse(await json(res)).offset;
      failures = 0;
      o.onProgress?.(offset, size);
    } catch (error) {
      await again(`bytes from ${offset}`, error);
      // Where the server stands now (what arrived of the cut chunk counts).
      try {
        const res = await server.agentRequest('GET', `${UPLOADS_PATH}/${view.id}`, signal ? { signal } : {});
        const at = uploadView.parse(await json(res)).offset;
        log(`upload: resuming at ${at} of ${size} bytes`);
        resumes++;
        offset = at;
      } catch (e) {
        await again('asking for the offset', e);
      }
    }
  }
  for (;;) {
    try {
      const res = await server.agentRequest('POST', `${UPLOADS_PATH}/${view.id}/commit`, signal ? { signal } : {});
      const committed = uploadCommitted.parse(await json(res));
      const waiting = committed.pending?.length ? ` (the entry appears once ${committed.pending.join(', ')} follow)` : '';
      log(`uploaded ${size} bytes (sha256 ${sha256}) into ${committed.entry}${resumes ? ` after ${resumes} resume(s)` : ''}${waiting}`);
      return { uploaded: true, committed, resumes };
    } catch (error) {
      if (error instanceof Refused) throw new ImagingError(`the server refused the upload of ${file}: ${error.message}`, { cause: error });
      await again('commit', error);
    }
  }
}
