// The agent's upload routes (lib/upload-protocol.ts) over the depot's Uploads. The job's one-time
// token authenticates; its product decides the one target it may write (`UploadGrant`); nothing
// else is writable with a job token. Errors are NetimageErrors (answered by http/errors.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NetimageError } from '../../lib/errors.ts';
import { AGENT_API_PREFIX } from '../../lib/agent-protocol.ts';
import { UPLOADS_PATH, parseContentRange, uploadStart } from '../../lib/upload-protocol.ts';
import type { Job } from '../store/types.ts';
import { bearerToken } from '../http/auth.ts';
import type { PartFile, UploadTarget, Uploads } from './upload.ts';
import { entryId } from './manifest.ts';

/** The one depot entry a job may upload into (and the entry meta to record with it), or null. */
export interface UploadGrant {
  /** The entry, and its file when the entry is one file. */
  target: UploadTarget;
  /** An entry of several files: all of them, each uploaded with its `path`; it appears once all are in. */
  parts?: readonly string[];
  /** Files the entry may have besides `parts`: taken along when uploaded before the last required part. */
  optionalParts?: readonly string[];
  /** Meta of the new entry version, from the job and the complete file(s) (e.g. a WIM's editions). */
  meta: (file: string, parts: Record<string, PartFile>) => Promise<Record<string, unknown>>;
}

export interface UploadHttpDeps {
  uploads: Uploads;
  /** Maps a job token to its job; throws when the token is unknown. */
  jobForToken: (token: string) => Promise<Job>;
  grant: (job: Job) => Promise<UploadGrant | null>;
}

class UploadAuthError extends NetimageError {
  constructor(kind: 'unauthorized' | 'forbidden', message: string) {
    super(kind, message);
    this.name = 'UploadAuthError';
  }
}

const idParams = z.object({ id: z.string().regex(/^[0-9a-f]{32}$/) }).strict();

export async function registerUploadHttp(app: FastifyInstance, deps: UploadHttpDeps): Promise<void> {
  /** The job of the request's token, if it is active and its product grants an upload. */
  async function grantOf(request: FastifyRequest): Promise<{ job: Job; grant: UploadGrant }> {
    const token = bearerToken(request);
    if (!token) throw new UploadAuthError('unauthorized', 'uploads need "Authorization: Bearer <job token>"');
    let job: Job;
    try {
      job = await deps.jobForToken(token);
    } catch {
      throw new UploadAuthError('unauthorized', 'unknown or expired job token');
    }
    if (job.state !== 'running' && job.state !== 'booting') throw new UploadAuthError('forbidden', `job ${job.id} is ${job.state}: its token no longer uploads`);
    const grant = await deps.grant(job);
    if (!grant) throw new UploadAuthError('forbidden', `job ${job.id} (${job.productId}) may not upload into the depot`);
    return { job, grant };
  }

  await app.register(
    async (api) => {
      const r = api.withTypeProvider<ZodTypeProvider>();
      // The chunk's body is streamed to disk as it arrives (never buffered: chunks may be GBs).
      api.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
      const tags = ['agent'];
      r.post(UPLOADS_PATH, { schema: { tags, summary: 'Start (or resume) the upload this job may make', body: uploadStart } }, async (req, reply) => {
        const { job, grant } = await grantOf(req);
        const path = req.body.path ?? grant.target.path;
        const allowed = [...(grant.parts ?? [grant.target.path]), ...(grant.optionalParts ?? [])];
        if (!allowed.includes(path)) throw new NetimageError('invalid', `job ${job.id} uploads ${allowed.join(', ')} of ${entryId(grant.target.kind, grant.target.name)}, not ${path}`);
        const view = await deps.uploads.start(job.id, { ...grant.target, path }, req.body);
        return reply.status(view.offset === 0 ? 201 : 200).send(view);
      });
      r.get(`${UPLOADS_PATH}/:id`, { schema: { tags, summary: 'An upload and its offset (where to resume)', params: idParams } }, async (req, reply) => {
        const { job } = await grantOf(req);
        const view = await deps.uploads.status(job.id, req.params.id);
        return reply.header('upload-offset', String(view.offset)).send(view);
      });
      r.put(`${UPLOADS_PATH}/:id`, { schema: { tags, summary: 'Bytes of an upload (Content-Range, application/octet-stream)', params: idParams } }, async (req, reply) => {
        const { job } = await grantOf(req);
        const range = parseContentRange(req.headers['content-range']);
        if (!range) throw new NetimageError('invalid', 'a chunk needs "Content-Range: bytes <first>-<last>/<size>"');
        if (req.headers['content-type'] !== 'application/octet-stream') throw new NetimageError('invalid', 'a chunk is sent as application/octet-stream');
        const view = await deps.uploads.write(job.id, req.params.id, range, req.body as NodeJS.ReadableStream as import('node:stream').Readable);
        return reply.header('upload-offset', String(view.offset)).send(view);
      });
      r.post(`${UPLOADS_PATH}/:id/commit`, { schema: { tags, summary: 'Check size and sha256 and put the upload into the depot', params: idParams } }, async (req) => {
        const { job, grant } = await grantOf(req);
        const { entry, upload, pending } = await deps.uploads.commit(job.id, req.params.id, grant.meta, grant.parts);
        const id = entryId(grant.target.kind, grant.target.name);
        if (!entry) return { entry: id, upload, meta: {}, pending };
        req.log.info({ job: job.id, entry: entry.id, bytes: upload.size, sha256: upload.sha256 }, 'upload committed into the depot');
        return { entry: id, upload, meta: entry.manifest.meta, pending };
      });
    },
    { prefix: AGENT_API_PREFIX },
  );
}
