// The depot over HTTP.
//   GET|HEAD /depot/v1/<kind>/<name>/<file>       a file of an entry (Range, ETag, sha256 headers)
//   GET|HEAD /depot/v1/<kind>/<name>/manifest.json
// Read-only, and never world-readable: the depot may hold Windows media or golden images with
// secrets in them. A caller sends "Authorization: Bearer <token>" with either the admin token
// (everything) or the one-time token of an active job, which reads only the entries its job was
// granted (`DepotGrants`, e.g. the root filesystem of the install it runs).
// Admin routes under /api/v1/depot: list, show, verify, remove.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Job, Store } from '../store/types.ts';
import { sha256Hex } from '../service/tokens.ts';
import { adminAuth, bearerToken } from '../http/auth.ts';
import { parseRange } from '../http/boot-files.ts';
import { ForbiddenError, UnauthorizedError } from '../http/errors.ts';
import { DepotNotFoundError, type Depot, type DepotEntry, type LastVerify } from './depot.ts';
import type { DepotPuller } from './pull.ts';
import { depotEntryUsers, refuseRemovalInUse, refuseRemovalUnderJob, type EntryReaders } from './in-use.ts';
import { goldenImageFacts } from './golden-upload.ts';
import { BadRequestError } from '../http/errors.ts';
import { MANIFEST_FILE, depotEntryName, depotFilePath, depotKind, entryId, reprDigest, totalBytes } from './manifest.ts';

export const DEPOT_HTTP_PREFIX = '/depot/v1';

/** Which depot entries an active job may read (entry ids like "rootfs/debian-12-…"). */
export type DepotGrants = (job: Job) => Promise<string[]>;

export interface DepotHttpDeps {
  depot: Depot;
  store: Store;
  /** Maps a job token to its job; throws when the token is unknown (the service's jobForToken). */
  jobForToken: (token: string) => Promise<Job>;
  grants: DepotGrants;
  /** Which installs read a captured WIM or a root filesystem (os-images/): removing one a pending install or a schedule needs is refused. */
  readers: EntryReaders;
  /** A site server's pulls from its main server (config depot.upstream); null: POST …/pull is refused. */
  puller?: DepotPuller | null;
}

const entryParams = z.object({ kind: depotKind, name: depotEntryName }).strict();

const DEPOT_REALM = 'netimage depot';

/** Throws UnauthorizedError (401) or ForbiddenError (403) unless the caller may read entry `id`: before any depot read. */
async function requireReader(deps: DepotHttpDeps, request: FastifyRequest, id: string): Promise<void> {
  const token = bearerToken(request);
  if (!token) throw new UnauthorizedError('the depot needs "Authorization: Bearer <admin token or job token>"', DEPOT_REALM);
  if (await deps.store.hasAdminTokenHash(sha256Hex(token))) return;
  let job: Job;
  try {
    job = await deps.jobForToken(token);
  } catch {
    throw new UnauthorizedError('invalid token for the depot', DEPOT_REALM);
  }
  if (job.state !== 'booting' && job.state !== 'running') throw new ForbiddenError(`job ${job.id} is ${job.state}: its token no longer reads the depot`);
  if (!(await deps.grants(job)).includes(id)) throw new ForbiddenError(`job ${job.id} (${job.productId}) may not read ${id}`);
}

function sendBytes(request: FastifyRequest, reply: FastifyReply, body: { path: string; size: number; sha256: string } | { data: Buffer; sha256: string }) {
  const size = 'data' in body ? body.data.length : body.size;
  const etag = `"${body.sha256}"`;
  void reply.headers({
    'accept-ranges': 'bytes',
    'content-type': 'data' in body ? 'application/json' : 'application/octet-stream',
    etag,
    'repr-digest': reprDigest(body.sha256),
    'x-netimage-sha256': body.sha256,
    'cache-control': 'private, no-transform',
  });
  if (request.headers['if-none-match'] === etag) return reply.status(304).send();
  const ifRange = request.headers['if-range'];
  const rangeHeader = ifRange === undefined || ifRange === etag ? request.headers['range'] : undefined;
  const range = parseRange(rangeHeader, size);
  if (range === null) return reply.status(416).header('content-range', `bytes */${size}`).header('content-length', '0').send();
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  const length = size === 0 ? 0 : end - start + 1;
  void reply.status(range ? 206 : 200).header('content-length', String(length));
  if (range) void reply.header('content-range', `bytes ${start}-${end}/${size}`);
  if (request.method === 'HEAD') {
    // fastify would answer an empty HEAD with Content-Length: 0; the length of the GET is the point.
    reply.hijack();
    reply.raw.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
    reply.raw.end();
    return reply;
  }
  if (length === 0) return reply.send();
  if ('data' in body) return reply.send(body.data.subarray(start, end + 1));
  return reply.send(createReadStream(body.path, { start, end, highWaterMark: 1024 * 1024 }));
}

function entryView(entry: DepotEntry) {
  const { kind, name, created, files, meta } = entry.manifest;
  return { id: entry.id, kind, name, created, bytes: totalBytes(entry.manifest), files, meta };
}

/** An entry as GET /api/v1/depot lists it (the web UI's type too). */
export type DepotListEntry = ReturnType<typeof entryView> & { verified: LastVerify | null };

export async function registerDepotHttp(app: FastifyInstance, deps: DepotHttpDeps): Promise<void> {
  const { depot } = deps;

  // Files: fastify answers HEAD through this GET route (exposeHeadRoutes).
  app.get(`${DEPOT_HTTP_PREFIX}/:kind/:name/*`, { schema: { hide: true } }, async (request, reply) => {
    const params = request.params as { kind: string; name: string; '*': string };
    const kind = depotKind.safeParse(params.kind);
    const name = depotEntryName.safeParse(params.name);
    const path = params['*'];
    if (!kind.success || !name.success || (path !== MANIFEST_FILE && !depotFilePath.safeParse(path).success)) throw new DepotNotFoundError('no such depot file');
    const id = entryId(kind.data, name.data);
    await requireReader(deps, request, id);
    // A missing entry or file is a DepotNotFoundError: the error handler answers 404.
    if (path === MANIFEST_FILE) {
      const entry = await depot.require(kind.data, name.data);
      const data = Buffer.from(JSON.stringify(entry.manifest, null, 2) + '\n');
      return sendBytes(request, reply, { data, sha256: sha256Hex(data.toString()) });
    }
    const { entry, file, fullPath } = await depot.file(kind.data, name.data, path);
    const info = await stat(fullPath).catch(() => null);
    // Never hand out bytes that cannot match the hash we announce.
    if (!info || info.size !== file.size) {
      request.log.error({ entry: entry.id, file: path }, 'depot file missing or of the wrong size');
      return reply.status(500).send({ statusCode: 500, error: 'Internal Server Error', message: `depot entry ${entry.id} is damaged (${path}): run netimage depot verify` });
    }
    return sendBytes(request, reply, { path: fullPath, size: file.size, sha256: file.sha256 });
  });

  await app.register(
    async (api) => {
      const r = api.withTypeProvider<ZodTypeProvider>();
      api.addHook('onRequest', adminAuth(deps.store));
      const tags = ['depot'];
      // With each entry's last verify, so a list (the web UI's golden image choice) says which are checked without a request per entry.
      r.get('/depot', { schema: { tags, summary: 'Depot entries (root filesystems, Windows media, WIMs, golden images), each with its last verify' } }, async (): Promise<DepotListEntry[]> =>
        Promise.all((await depot.list()).map(async (e) => ({ ...entryView(e), verified: await depot.lastVerify(e.manifest.kind, e.manifest.name).catch(() => null) }))),
      );
      r.get(
        '/depot/:kind/:name',
        { schema: { tags, summary: 'One depot entry with its manifest, who needs it (pending actions, schedules), its last verify and, for a golden image, the image (size, sha256, chunks)', params: entryParams } },
        async (req) => {
          const { kind, name } = req.params;
          const entry = await depot.require(kind, name);
          const { clients, schedules } = await depotEntryUsers(deps.store, kind, name, deps.readers);
          return {
            ...entryView(entry),
            usedBy: { clients, schedules },
            verified: await depot.lastVerify(kind, name),
            ...(kind === 'golden' ? { image: await goldenImageFacts(entry.dir) } : {}),
          };
        },
      );
      r.post('/depot/:kind/:name/pull', { schema: { tags, summary: "Pull an entry from the main server's depot (config depot.upstream) unless it is here; answers when it is complete and checked", params: entryParams } }, async (req) => {
        if (!deps.puller) throw new BadRequestError('this server has no depot upstream (config depot.upstream.url and .token): there is nothing to pull from');
        return entryView(await deps.puller.pull(req.params.kind, req.params.name));
      });
      r.post('/depot/:kind/:name/verify', { schema: { tags, summary: 'Re-hash every file of an entry against its manifest', params: entryParams } }, async (req) => depot.verify(req.params.kind, req.params.name));
      r.delete('/depot/:kind/:name', { schema: { tags, summary: 'Remove a depot entry', params: entryParams } }, async (req, reply) => {
        await depot.require(req.params.kind, req.params.name);
        await refuseRemovalUnderJob(deps.store, deps.grants, entryId(req.params.kind, req.params.name));
        await refuseRemovalInUse(deps.store, req.params.kind, req.params.name, deps.readers);
        await depot.remove(req.params.kind, req.params.name);
        return reply.status(204).send();
      });
    },
    { prefix: '/api/v1' },
  );
}
