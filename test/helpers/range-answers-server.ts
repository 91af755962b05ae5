// A loopback HTTP server that answers Range requests the way a misbehaving server or proxy does
// (resumed downloads: lib/http-resume.ts). The first GET of each file is cut after `cutAt` bytes
// (a dropped connection), so the client resumes with Range; that Range request is answered as
// `onRange` says: 'right' (206 from the offset asked for), 'wrong-start' (206 whose Content-Range
// and bytes start 1000 bytes earlier), 'whole' (200 with the whole file). Later requests: right.
import type { ExecutionContext } from 'ava';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type RangeAnswer = 'right' | 'wrong-start' | 'whole';

export interface RangeAnswersServer {
  url: string;
  /** Every request to a file: its Range header (or null) and the status answered. */
  requests: { path: string; range: string | null; status: number }[];
}

export async function startRangeAnswersServer(t: ExecutionContext, files: Record<string, Buffer>, cutAt: number, onRange: RangeAnswer): Promise<RangeAnswersServer> {
  const requests: RangeAnswersServer['requests'] = [];
  const seen = new Map<string, number>();
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const body = files[path];
    if (!body) return void res.writeHead(404).end();
    const n = (seen.get(path) ?? 0) + 1;
    seen.set(path, n);
    const range = req.headers.range ?? null;
    const asked = range ? Number(/^bytes=(\d+)-$/.exec(range)?.[1] ?? Number.NaN) : 0;
    const answer = (status: number, from: number) => {
      requests.push({ path, range, status });
      const headers: Record<string, string> = { 'content-length': String(body.length - from), etag: '"e"' };
      if (status === 206) headers['content-range'] = `bytes ${from}-${body.length - 1}/${body.length}`;
      res.writeHead(status, headers);
      return body.subarray(from);
    };
    if (!range && n === 1 && cutAt < body.length) {
      // Cut: part of the body, then the connection drops.
      open.add(res);
      res.write(answer(200, 0).subarray(0, cutAt), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    if (!range) return void res.end(answer(200, 0));
    if (onRange === 'whole' && n === 2) return void res.end(answer(200, 0));
    if (onRange === 'wrong-start' && n === 2) return void res.end(answer(206, Math.max(0, asked - 1000)));
    res.end(answer(206, asked));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const r of open) r.destroy();
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}
