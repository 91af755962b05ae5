// Boot files over HTTP under /boot/: loaders, the boot image, and the generated Grub configs.
// Range requests are honoured (firmware and grub resume or probe with them). Connections stay
// open until the client closes: grub reuses its TCP source ports on every boot, and a server-side
// close leaves sockets in TIME-WAIT that stall the next boot's fetch (see shared notes).
import { createReadStream } from 'node:fs';
import { stat, realpath } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
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
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || start > end) return null;
  return { start, end };
}

/** Map a URL path below /boot/ to a file inside root, refusing anything that escapes it. */
export async function resolveBootFile(root: string, urlPath: string): Promise<string | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  if (decoded.split('/').some((seg) => seg === '..')) return null;
  const rootReal = await realpath(root).catch(() => resolve(root));
  const candidate = resolve(rootReal, '.' + '/' + decoded.replace(/^\/+/, ''));
  if (candidate !== rootReal && !candidate.startsWith(rootReal + sep)) return null;
  const real = await realpath(candidate).catch(() => null);
  if (!real || (real !== rootReal && !real.startsWith(rootReal + sep))) return null;
  return real;
}

/**
 * Write the response ourselves, with canonical header case: grub's HTTP client matches
 * "Content-Length: " case-sensitively (fastify would send "content-length"), and without it
 * grub treats the size as unknown and refuses to verify or load the file.
 */
function writeRaw(reply: FastifyReply, status: number, headers: Record<string, string>, body: Buffer | string | NodeJS.ReadableStream | null, head: boolean): void {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(status, headers);
  if (head || body === null) {
    raw.end();
  } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    raw.end(body);
  } else {
    body.on('error', () => raw.destroy());
    body.pipe(raw);
  }
}

async function sendFile(reply: FastifyReply, path: string, rangeHeader: string | undefined, head: boolean) {
  const info = await stat(path).catch(() => null);
  if (!info || !info.isFile()) return reply.status(404).send({ statusCode: 404, error: 'Not Found', message: 'no such boot file' });
  const range = parseRange(rangeHeader, info.size);
  const headers: Record<string, string> = {
    'Accept-Ranges': 'bytes',
    'Content-Type': 'application/octet-stream',
    'Last-Modified': info.mtime.toUTCString(),
  };
  if (range === null) {
    writeRaw(reply, 416, { ...headers, 'Content-Range': `bytes */${info.size}`, 'Content-Length': '0' }, null, head);
    return reply;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? info.size - 1;
  headers['Content-Length'] = String(info.size === 0 ? 0 : end - start + 1);
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${info.size}`;
  const body = info.size === 0 ? null : createReadStream(path, { start, end, highWaterMark: 1024 * 1024 });
  writeRaw(reply, range ? 206 : 200, headers, body, head);
  return reply;
}

export function registerBootFiles(app: FastifyInstance, options: { bootRoot: string; responder: BootConfigResponder }): void {
  const handler = async (request: { url: string; method: string; headers: Record<string, string | string[] | undefined>; ip: string }, reply: FastifyReply) => {
    // /boot/<path> for everything; /grub/<path> too, because grubnetx64 loaded over HTTP (UEFI
    // HTTP boot) looks for its modules and grub.cfg under its embedded prefix /grub on the same server.
    const urlPath = request.url.split('?')[0]!.replace(/^\/boot\/?/, '').replace(/^\/+/, '');
    const generated = await options.responder.respond(decodeURIComponent(urlPath), { address: request.ip });
    const head = request.method === 'HEAD';
    if (generated !== null) {
      const body = Buffer.from(generated, 'utf8');
      writeRaw(reply, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length), 'Cache-Control': 'no-store' }, body, head);
      return reply;
    }
    const file = await resolveBootFile(options.bootRoot, urlPath);
    if (!file) return reply.status(404).send({ statusCode: 404, error: 'Not Found', message: 'no such boot file' });
    const range = request.headers['range'];
    return sendFile(reply, file, Array.isArray(range) ? range[0] : range, head);
  };
  // fastify answers HEAD through this GET route (exposeHeadRoutes), with request.method HEAD.
  app.get('/boot/*', handler);
  app.get('/grub/*', handler);
}
