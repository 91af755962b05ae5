// Boot files over HTTP under /boot/: loaders, the boot image, and the generated Grub configs.
// Range requests are honoured (firmware and grub resume or probe with them). Connections stay
// open until the client closes: grub reuses its TCP source ports on every boot, and a server-side
// close leaves sockets in TIME-WAIT that stall the next boot's fetch (see shared notes).
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { normaliseBootFileName, type BootFileName } from '../boot-files/names.ts';
import { bootFileSource, type BootFile } from '../boot-files/source.ts';
import type { BootConfigResponder } from '../boot/config-responder.ts';

export interface ByteRange {
  start: number;
  end: number; // inclusive
}

/** Parse a single "bytes=a-b" range against a size; null = not satisfiable, undefined = no/ignored range. Pure. */
export function parseRange(header: string | undefined, size: number): ByteRange | null | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // multi-range or garbage: send the whole file
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return null;
    // An empty file has no byte to name (a 206 would say "bytes 0--1/0"): the whole, empty, file.
    if (size === 0) return undefined;
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || start > end) return null;
  return { start, end };
}

/**
 * The client-given name in a URL path below /boot/ (or /grub/): percent-decoded once, as HTTP
 * requires; everything else (traversal, "\\", control chars, ...) is the boot-file source's rules.
 */
export function bootFileNameOf(urlPath: string): BootFileName {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { ok: false, reason: 'invalid percent-encoding' };
  }
  return normaliseBootFileName(decoded);
}

/**
 * Write the response ourselves, with canonical header case: grub's HTTP client matches
 * "Content-Length: " case-sensitively (fastify would send "content-length"), and without it
 * grub treats the size as unknown and refuses to verify or load the file.
 */
function writeRaw(reply: FastifyReply, status: number, headers: Record<string, string>, body: Buffer | string | Readable | null, head: boolean): void {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(status, headers);
  if (head || body === null) {
    raw.end();
  } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    raw.end(body);
  } else {
    // pipeline destroys the file stream (closing the file) when the client goes away mid-transfer.
    pipeline(body, raw, () => undefined);
  }
}

function sendFile(reply: FastifyReply, file: BootFile, rangeHeader: string | undefined, head: boolean): FastifyReply {
  const range = parseRange(rangeHeader, file.size);
  const headers: Record<string, string> = {
    'Accept-Ranges': 'bytes',
    'Content-Type': 'application/octet-stream',
    'Last-Modified': file.mtime.toUTCString(),
  };
  if (range === null) {
    void file.close();
    writeRaw(reply, 416, { ...headers, 'Content-Range': `bytes */${file.size}`, 'Content-Length': '0' }, null, head);
    return reply;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? file.size - 1;
  headers['Content-Length'] = String(file.size === 0 ? 0 : end - start + 1);
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${file.size}`;
  let body: Readable | null = null;
  if (file.size === 0 || head) void file.close();
  else body = file.readStream(start, end);
  writeRaw(reply, range ? 206 : 200, headers, body, head);
  return reply;
}

const notFound = (reply: FastifyReply) => reply.status(404).send({ statusCode: 404, error: 'Not Found', message: 'no such boot file' });

export function registerBootFiles(app: FastifyInstance, options: { bootRoot: string; responder: BootConfigResponder }): void {
  const files = bootFileSource(options.bootRoot);
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const urlPath = request.url.split('?')[0]!.replace(/^\/boot\/?/, '');
    const name = bootFileNameOf(urlPath);
    if (!name.ok) {
      request.log.info({ url: request.url, reason: name.reason }, 'boot file refused');
      return notFound(reply);
    }
    const head = request.method === 'HEAD';
    const generated = await options.responder.respond(name.path, { address: request.ip });
    if (generated !== null) {
      const body = Buffer.from(generated, 'utf8');
      writeRaw(reply, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length), 'Cache-Control': 'no-store' }, body, head);
      return reply;
    }
    const opened = await files.open(name.path);
    if (opened.status !== 'open') {
      if (opened.status === 'refused') request.log.info({ url: request.url, reason: opened.reason }, 'boot file refused');
      return notFound(reply);
    }
    const range = request.headers['range'];
    return sendFile(reply, opened.file, Array.isArray(range) ? range[0] : range, head);
  };
  // fastify answers HEAD through this GET route (exposeHeadRoutes), with request.method HEAD.
  app.get('/boot/*', handler);
}
